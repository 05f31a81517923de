"""Download `mlflow-artifacts:/` artifacts through the tracking server's artifact proxy, with
the guarantees GCS downloads have: sizes checked, files whole or absent, bounded retries."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from . import registry
from .errors import ArtifactNotFound, ModelUnavailable
from .storage import Fetched, inside
from .tracking import TrackingServer

ATTEMPTS = 3  # per file: a connection cut mid-body is retried from the start
MAX_FILES = 1000
CHUNK_BYTES = 1024 * 1024


def fetch(
    server: TrackingServer, uri: str, workdir: Path, listed: Callable[[list[str]], object] | None = None
) -> Fetched:
    """The model file or folder at `uri`, downloaded under `workdir`; `listed` is told the files'
    names before they are downloaded."""
    root = registry.parse(uri).path  # mlflow-artifacts:/0/models/m-1/artifacts -> 0/models/...
    files = _list_files(server, root, "")
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
    listed = server.get_json(
        "mlflow-artifacts/artifacts", {"path": parent}, what=f"the artifacts at {parent}"
    )
    for entry in listed.get("files", []):
        if entry.get("path") == name and not entry.get("is_dir"):
            size = entry.get("file_size")
            return int(size) if size is not None else None
    raise ArtifactNotFound(f"no artifacts at mlflow-artifacts:/{path} on the MLflow tracking server")


def _list_files(server: TrackingServer, root: str, prefix: str) -> list[tuple[str, int | None]]:
    """(path relative to `root`, size) of every file under `root/prefix`, depth first."""
    path = f"{root}/{prefix}".rstrip("/")
    listed = server.get_json("mlflow-artifacts/artifacts", {"path": path}, what=f"the artifacts at {path}")
    files: list[tuple[str, int | None]] = []
    for entry in listed.get("files", []):
        relative = f"{prefix}{entry['path']}"
        if entry.get("is_dir"):
            files.extend(_list_files(server, root, relative + "/"))
        else:
            size = entry.get("file_size")
            files.append((relative, int(size) if size is not None else None))
        if len(files) > MAX_FILES:
            raise ModelUnavailable(f"more than {MAX_FILES} files under {root}: is that a model folder?")
    return files


def _download(server: TrackingServer, path: str, size: int | None, target: Path) -> None:
    """One file, renamed into place only when its size is the listed one (and Content-Length)."""
    import requests

    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    try:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                _stream_to(server, path, partial, size)
                break
            except ArtifactNotFound:
                raise
            except (requests.RequestException, ModelUnavailable):
                if attempt == ATTEMPTS:
                    raise
        os.replace(partial, target)
    except requests.RequestException as exc:
        raise ModelUnavailable(
            f"could not download {path} from the MLflow tracking server ({type(exc).__name__})"
        ) from exc
    finally:
        partial.unlink(missing_ok=True)


def _stream_to(server: TrackingServer, path: str, partial: Path, size: int | None) -> None:
    """`path` into `partial`, which must end up as long as the listing and Content-Length say."""
    response = server.stream(f"mlflow-artifacts/artifacts/{quote(path)}", what=f"artifact {path}")
    with response, partial.open("wb") as out:
        sent = response.headers.get("Content-Length")
        for chunk in response.iter_content(CHUNK_BYTES):
            out.write(chunk)
        for expected in (sent, size):
            if expected is not None and out.tell() != int(expected):
                raise ModelUnavailable(f"downloaded {out.tell()} of the {expected} bytes of {path}")
