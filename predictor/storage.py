"""Fetch the artifact: a GCS object or folder into a private directory, or a local path in place."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .config import split_gcs_uri
from .errors import ArtifactNotFound, ModelUnavailable

TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class Fetched:
    path: Path  # a model file, or a folder holding MLmodel
    generations: dict[str, int] = field(default_factory=dict)  # GCS object name -> generation


def fetch(uri: str, workdir: Path) -> Fetched:
    """Make the artifact at `uri` readable on local disk; GCS downloads land under `workdir`."""
    if not uri.startswith("gs://"):
        path = Path(uri)
        if not path.exists():
            raise ArtifactNotFound(f"no model file or folder at {path.resolve()}")
        return Fetched(path)
    from google.api_core import exceptions as gexc
    from google.auth.exceptions import DefaultCredentialsError

    try:
        return _fetch_gcs(uri, workdir)
    except gexc.Forbidden as exc:
        raise ModelUnavailable(
            f"permission denied reading {uri}: grant the function's service account "
            f"roles/storage.objectViewer on the bucket ({exc.message})"
        ) from exc
    except gexc.NotFound as exc:
        raise ArtifactNotFound(f"{uri} does not exist ({exc.message})") from exc
    except DefaultCredentialsError as exc:
        raise ModelUnavailable(
            f"no Google credentials to read {uri}: run `gcloud auth application-default login` "
            "locally; deployed functions use their service account"
        ) from exc
    except gexc.GoogleAPICallError as exc:
        raise ModelUnavailable(f"GCS error reading {uri}: {exc}") from exc


def _fetch_gcs(uri: str, workdir: Path) -> Fetched:
    bucket_name, name = split_gcs_uri(uri)
    client = _client()
    if not name.endswith("/"):
        blob = client.bucket(bucket_name).get_blob(name, timeout=TIMEOUT_SECONDS)
        if blob is not None:
            target = workdir / PurePosixPath(name).name
            _download(blob, target)
            return Fetched(target, {blob.name: blob.generation})
    prefix = name.rstrip("/") + "/"
    blobs = [
        b
        for b in client.list_blobs(bucket_name, prefix=prefix, timeout=TIMEOUT_SECONDS)
        if not b.name.endswith("/")
    ]
    if not blobs:
        raise ArtifactNotFound(f"no object or folder at {uri}")
    root = workdir / "model"
    for blob in blobs:
        _download(blob, _inside(root, blob.name[len(prefix) :], uri))
    return Fetched(root, {b.name: b.generation for b in blobs})


def _inside(root: Path, relative: str, uri: str) -> Path:
    """`root/relative`, refusing object names that would climb out of `root`."""
    parts = PurePosixPath(relative).parts
    if not parts or ".." in parts or PurePosixPath(relative).is_absolute():
        raise ArtifactNotFound(f"refusing object name '{relative}' under {uri}")
    return root.joinpath(*parts)


def _download(blob, target: Path) -> None:
    """Download exactly the listed generation; the file appears whole (renamed) or not at all."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    try:
        blob.download_to_filename(
            str(partial),
            if_generation_match=blob.generation,
            timeout=TIMEOUT_SECONDS,
            checksum="auto",
        )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


@functools.cache
def _client():
    """One client per process (it pools connections); created on first use, not at import."""
    from google.cloud import storage

    return storage.Client()
