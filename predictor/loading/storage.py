"""Fetch the artifact: a GCS object or folder into a private directory, or a local path in place."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..errors import ArtifactNotFound, ModelUnavailable
from ..uris import split_gcs_uri


@dataclass(frozen=True)
class Fetched:
    path: Path  # a model file, or a folder holding MLmodel
    generations: dict[str, int] = field(default_factory=dict)  # GCS object name -> generation


def fetch(
    uri: str, workdir: Path, timeout: float, listed: Callable[[list[str]], object] | None = None
) -> Fetched:
    """Make the artifact at `uri` readable on local disk; GCS downloads land under `workdir`.
    `listed` is told the objects' names before they are downloaded."""
    if not uri.startswith("gs://"):
        path = Path(uri)
        if not path.exists():  # the path is the operator's: it goes to the log, not to callers
            raise ArtifactNotFound("no model file or folder at the local path MODEL_URI (or MODELS) names")
        return Fetched(path)
    with _gcs_errors(uri):
        blobs, prefix = _locate(uri, timeout)
        if listed:
            listed([b.name for b in blobs])
        if prefix is None:
            target = workdir / PurePosixPath(blobs[0].name).name
        else:
            target = workdir / "model"
        for blob in blobs:
            _download(
                blob, target if prefix is None else inside(target, blob.name[len(prefix) :], uri), timeout
            )
        return Fetched(target, {b.name: b.generation for b in blobs})


def generations(uri: str, timeout: float) -> dict[str, int]:
    """The current generation of each object at `uri` (metadata only, no download); {} if local."""
    if not uri.startswith("gs://"):
        return {}
    with _gcs_errors(uri):
        blobs, _ = _locate(uri, timeout)
        return {b.name: b.generation for b in blobs}


def _locate(uri: str, timeout: float) -> tuple[list, str | None]:
    """([the object], None) when `uri` names one object, else (the objects under it, their prefix)."""
    bucket_name, name = split_gcs_uri(uri)
    client = _client()
    retry = retry_within(timeout)
    if not name.endswith("/"):
        blob = client.bucket(bucket_name).get_blob(name, timeout=timeout, retry=retry)
        if blob is not None:
            return [blob], None
    prefix = name.rstrip("/") + "/"
    listed = client.list_blobs(bucket_name, prefix=prefix, timeout=timeout, retry=retry)
    blobs = [b for b in listed if not b.name.endswith("/")]
    if not blobs:
        raise ArtifactNotFound(f"no object or folder at {uri}")
    return blobs, prefix


@contextmanager
def _gcs_errors(uri: str) -> Iterator[None]:
    """GCS failures as 503 errors that say what to do."""
    from google.api_core import exceptions as gexc
    from google.auth.exceptions import DefaultCredentialsError

    try:
        yield
    except gexc.Forbidden as exc:
        raise ModelUnavailable(
            f"permission denied reading {uri}: grant the function's service account "
            f"roles/storage.objectViewer on the bucket ({_reason(exc)})"
        ) from exc
    except gexc.NotFound as exc:
        raise ArtifactNotFound(f"{uri} does not exist ({_reason(exc)})") from exc
    except DefaultCredentialsError as exc:
        raise ModelUnavailable(
            f"no Google credentials to read {uri}: run `gcloud auth application-default login` "
            "locally; deployed functions use their service account"
        ) from exc
    except gexc.GoogleAPICallError as exc:
        raise ModelUnavailable(f"GCS error reading {uri}: {exc}") from exc
    except (gexc.RetryError, OSError, ValueError) as exc:
        # timeouts, resets and checksum mismatches (after the client's own retries)
        # an OSError's text may hold a path on this machine; its reason alone is for callers
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ModelUnavailable(f"could not read {uri}: {type(exc).__name__}: {reason}") from exc


def _reason(exc) -> str:
    """What the storage API said, without the request line (`GET https://...?query: `) that the
    client puts before it."""
    return re.sub(r"^[A-Z]+ \S+: ", "", exc.message)


def inside(root: Path, relative: str, uri: str) -> Path:
    """`root/relative`, refusing object names that would climb out of `root`."""
    parts = PurePosixPath(relative).parts
    if not parts or ".." in parts or PurePosixPath(relative).is_absolute():
        raise ArtifactNotFound(f"refusing object name '{relative}' under {uri}")
    return root.joinpath(*parts)


def _download(blob, target: Path, timeout: float) -> None:
    """Download exactly the listed generation, checked against its size and crc32c/md5.

    The file appears whole (renamed into place) or not at all.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    try:
        blob.download_to_filename(
            str(partial),
            if_generation_match=blob.generation,
            timeout=timeout,
            retry=retry_within(timeout),
            checksum="auto",
        )
        size = partial.stat().st_size
        if blob.size is not None and size != blob.size:
            raise ModelUnavailable(f"downloaded {size} of the {blob.size} bytes of {blob.name}")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def retry_within(timeout: float):
    """google-cloud-storage's own retry policy (5xx, 429, resets), bounded to `timeout` in all."""
    from google.cloud.storage.retry import DEFAULT_RETRY

    return DEFAULT_RETRY.with_timeout(timeout)


@functools.cache
def _client():
    """One client per process (it pools connections); created on first use, not at import."""
    from google.cloud import storage

    return storage.Client()
