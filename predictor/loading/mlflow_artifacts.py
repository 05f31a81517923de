"""Download `mlflow-artifacts:/` artifacts through the tracking server's artifact proxy, with
the guarantees GCS downloads have: sizes checked, files whole or absent, bounded retries, and
bounds on what a server may list or send."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from .. import uris
from ..errors import ArtifactNotFound, ModelUnavailable
from .storage import Fetched, inside
from .tracking import TrackingServer

ATTEMPTS = 3  # per file: a connection cut mid-body is retried from the start
MAX_ENTRIES = 1000  # files and folders listed under a model, all levels together
CHUNK_BYTES = 1024 * 1024
# a file whose size neither the listing nor Content-Length gives is cut off past this (/tmp, where
# it lands, is memory on Cloud Functions)
MAX_UNSIZED_BYTES = 512 * 1024 * 1024
# a download's deadline: MLFLOW_HTTP_REQUEST_TIMEOUT, and one second for every this many bytes
MIN_BYTES_PER_SECOND = 1024 * 1024

Entry = tuple[str, bool, int | None]  # a listed name, whether it is a folder, its size


def fetch(
    server: TrackingServer, uri: str, workdir: Path, listed: Callable[[list[str]], object] | None = None
) -> Fetched:
    """The model file or folder at `uri`, downloaded under `workdir`; `listed` is told the files'
    names before they are downloaded."""
    root = uris.parse(uri).path  # mlflow-artifacts:/0/models/m-1/artifacts -> 0/models/...
    files = _list_files(server, root)
    name = PurePosixPath(root).name
    if not files or (len(files) == 1 and files[0][0] == name):
        size = _file_size(server, root)  # lists the parent: a file lists as nothing, or as itself
        if listed:
            listed([name])
        target = workdir / name
        _download(server, root, size, target)
        return Fetched(target)
    if listed:
        listed([relative for relative, _ in files])
    target = workdir / "model"
    for relative, size in files:
        _download(server, f"{root}/{relative}", size, inside(target, relative, uri))
    return Fetched(target)


def _file_size(server: TrackingServer, path: str) -> int | None:
    """The listed size of the file at `path`; 404 if there is none."""
    parent, name = str(PurePosixPath(path).parent), PurePosixPath(path).name
    for listed, is_dir, size in _listing(server, parent):
        if listed == name and not is_dir:
            return size
    raise ArtifactNotFound(f"no artifacts at mlflow-artifacts:/{path} on the MLflow tracking server")


def _list_files(server: TrackingServer, root: str) -> list[tuple[str, int | None]]:
    """(path relative to `root`, size) of every file under `root`, depth first; at most
    MAX_ENTRIES files and folders in all (each folder is one more listing call)."""
    files: list[tuple[str, int | None]] = []
    folders, seen = [""], 0
    while folders:
        prefix = folders.pop()
        entries = _listing(server, f"{root}/{prefix}".rstrip("/"))
        seen += len(entries)
        if seen > MAX_ENTRIES:
            raise ModelUnavailable(
                f"more than {MAX_ENTRIES} files and folders under {root}: is that a model folder?"
            )
        files.extend((f"{prefix}{name}", size) for name, is_dir, size in entries if not is_dir)
        folders.extend(f"{prefix}{name}/" for name, is_dir, _ in reversed(entries) if is_dir)
    return files


def _listing(server: TrackingServer, path: str) -> list[Entry]:
    """One folder's entries, as the server lists them (the answer itself is not kept)."""
    what = f"the artifacts at {path}"
    answer = server.get_json("mlflow-artifacts/artifacts", {"path": path}, what=what)
    entries = answer.get("files", [])
    if not isinstance(entries, list) or len(entries) > MAX_ENTRIES:
        raise _bad_listing(what, f"a 'files' list of {MAX_ENTRIES} entries at most")
    return [_entry(entry, what) for entry in entries]


def _entry(entry: Any, what: str) -> Entry:
    name = entry.get("path") if isinstance(entry, dict) else None
    if not isinstance(name, str) or not name or "/" in name:
        raise _bad_listing(what, "each file's 'path', a name")
    is_dir, size = entry.get("is_dir", False), entry.get("file_size")
    if not isinstance(is_dir, bool):
        raise _bad_listing(what, "'is_dir', true or false")
    if isinstance(size, str) and size.isascii() and size.isdigit():
        size = int(size)  # MLflow writes it as a JSON string or number
    if size is not None and not (type(size) is int and size >= 0):
        raise _bad_listing(what, "'file_size', a number of bytes")
    return name, is_dir, size


def _bad_listing(what: str, wanted: str) -> ModelUnavailable:
    return ModelUnavailable(f"the MLflow tracking server listed {what} without {wanted}")


def _download(server: TrackingServer, path: str, size: int | None, target: Path) -> None:
    """One file, renamed into place only when its size is the listed one (and Content-Length);
    its attempts share one deadline."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    seconds = server.timeout + (size if size is not None else MAX_UNSIZED_BYTES) / MIN_BYTES_PER_SECOND
    try:
        with server.call(f"artifact {path}", seconds):
            for attempt in range(1, ATTEMPTS + 1):
                try:
                    _stream_to(server, path, partial, size)
                    break
                except ArtifactNotFound:
                    raise
                except Exception as exc:  # a requests error, or a short or long body
                    if attempt == ATTEMPTS or not _retried(exc):
                        raise
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _retried(exc: Exception) -> bool:
    import requests

    return isinstance(exc, (requests.RequestException, ModelUnavailable))


def _stream_to(server: TrackingServer, path: str, partial: Path, size: int | None) -> None:
    """`path` into `partial`, which must end up as long as the listing and Content-Length say;
    reading stops past the smaller of the two (or MAX_UNSIZED_BYTES when neither is given)."""
    response = server.stream(f"mlflow-artifacts/artifacts/{quote(path)}", what=f"artifact {path}")
    with response, partial.open("wb") as out:
        sent = response.headers.get("Content-Length")
        sent = int(sent) if sent and sent.isascii() and sent.isdigit() else None
        expected = [n for n in (sent, size) if n is not None]
        most = min(expected, default=MAX_UNSIZED_BYTES)
        for chunk in response.iter_content(CHUNK_BYTES):
            out.write(chunk)
            if out.tell() > most:
                raise ModelUnavailable(
                    f"the MLflow tracking server sent more than the {most} bytes of {path} "
                    + ("it listed" if expected else "a file of unknown size may have here")
                )
        for length in expected:
            if out.tell() != length:
                raise ModelUnavailable(f"downloaded {out.tell()} of the {length} bytes of {path}")
