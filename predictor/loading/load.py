"""Load the served model: fetch the artifact, have it deserialized (here or in the loader
process), describe it."""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Collection
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .. import uris
from ..config import DEFAULT_GCS_TIMEOUT_SECONDS
from ..errors import ModelUnavailable, PredictorError
from . import mlflow_artifacts, registry, storage
from .deserialize import deserialize, import_scikit_learn
from .read_model import ReadModel
from .tracking import TrackingServer

if TYPE_CHECKING:
    from ..model import ServedModel
    from .loader_process import LoaderProcess

log = logging.getLogger(__name__)


def load_served_model(
    uri: str,
    *,
    expected_sha256: str | None = None,
    timeout: float = DEFAULT_GCS_TIMEOUT_SECONDS,
    trusted_types: Collection[str] = (),
    tracking: TrackingServer | None = None,
    predict_threads: int | None = None,
    loader: LoaderProcess | None = None,
) -> ServedModel:
    """Fetch, check, deserialize and describe the model at `uri`; every failure is a 503 error.

    An MLflow URI is resolved through `tracking` first (the version an alias names now).
    `predict_threads` (None: the CPUs this process may use) bounds the threads a kernel may use.
    With `loader`, the file is deserialized there (LOADER_PROCESS), the download here.

    The download runs beside the import of the model's libraries (numpy, marshmallow, and once
    the files are listed, scikit-learn and pandas unless a skops file may be read without them:
    seconds of CPU), so a cold start waits for the longer of the two, not both.
    """
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="model-"))  # private: mode 0700
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-fetch") as pool:
            listed: Future[list[str]] = Future()
            fetching = pool.submit(_fetch, uri, workdir, timeout, tracking, listed.set_result)
            from ..model import ServedModel
            from ..native_threads import NativeThreads, available_cpus

            wait([listed, fetching], return_when=FIRST_COMPLETED)
            if listed.done() and not any(name.endswith(".skops") for name in listed.result()):
                import_scikit_learn()  # a pickle needs it: beside the rest of the download
            fetched, origin = fetching.result()
        threads = predict_threads or available_cpus()
        read = None
        if loader is not None:
            read = loader.deserialize(fetched.path, expected_sha256, trusted_types, threads)
        if read is None:
            read = deserialize(fetched.path, expected_sha256, trusted_types, threads)
        artifact, features, lean, kernel = read.artifact, read.features, read.lean, read.kernel
        native_threads = None if isinstance(artifact.estimator, ReadModel) else NativeThreads(threads)
        if isinstance(artifact.estimator, ReadModel):
            artifact.estimator.use_threads(threads)
    except PredictorError as exc:
        log.error("model load failed: %s", exc.message, extra={"json_fields": {"uri": uri}})
        raise
    except Exception as exc:  # its text may name paths on this machine: the log has it, callers not
        log.exception("model load failed", extra={"json_fields": {"uri": uri}})
        raise ModelUnavailable(
            f"could not load the model ({type(exc).__name__}); the function's log has the details"
        ) from exc
    finally:
        # the model lives in memory now; /tmp counts against the instance's memory
        shutil.rmtree(workdir, ignore_errors=True)
    seconds = time.perf_counter() - started
    model = ServedModel(
        uri,
        artifact,
        features,
        fetched.generations,
        datetime.now(UTC).isoformat(),
        seconds,
        lean,
        origin,
        kernel,
        native_threads,
    )
    log.info(
        "model loaded",
        extra={"json_fields": {"model": model.summary(), "load_seconds": round(seconds, 3)}},
    )
    return model


def _fetch(
    uri: str,
    workdir: Path,
    timeout: float,
    tracking: TrackingServer | None,
    listed: Callable[[list[str]], object],
) -> tuple[storage.Fetched, registry.Origin | None]:
    """The artifact on local disk, and where MLflow says it came from (None for a plain location);
    `listed` is told the files' names before they are downloaded."""
    if not uris.is_mlflow_uri(uri):
        return storage.fetch(uri, workdir, timeout, listed), None
    if tracking is None:
        raise ModelUnavailable(f"{uri} needs MLFLOW_TRACKING_URI")
    origin = registry.resolve(uris.parse(uri), tracking)
    location = origin.artifact_uri
    log.info("resolved %s", uri, extra={"json_fields": {"mlflow": origin.summary()}})
    if location.startswith("mlflow-artifacts:"):
        return mlflow_artifacts.fetch(tracking, location, workdir, listed), origin
    if location.startswith("gs://"):
        return storage.fetch(location, workdir, timeout, listed), origin
    raise ModelUnavailable(
        f"{uri} is stored at {location}, which this function cannot read: give the tracking server a "
        "gs:// artifact root, or let it serve artifacts (mlflow server --serve-artifacts)"
    )
