"""The served model: the estimator plus everything derived from it once, at load time."""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .artifact import Artifact, load_artifact
from .errors import ModelUnavailable, PredictorError
from .storage import DEFAULT_TIMEOUT_SECONDS, fetch

if TYPE_CHECKING:
    from .schema import Features

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServedModel:
    uri: str
    artifact: Artifact
    features: Features
    generations: dict[str, int]
    loaded_at: str  # ISO 8601, UTC
    load_seconds: float
    matrix_estimator: Any = None  # takes the fast path's matrix directly (scoring.matrix_estimator)

    @property
    def estimator(self) -> Any:
        return self.artifact.estimator

    def summary(self) -> dict[str, Any]:
        """What `/ready` reports: enough to tell which model answers."""
        return {
            "uri": self.uri,
            "type": type(self.estimator).__name__,
            "format": self.artifact.format,
            "flavor": self.artifact.flavor,
            "sha256": self.artifact.sha256,
            "generations": self.generations,
            "features": self.features.names if self.features.named else len(self.features.columns),
            "loaded_at": self.loaded_at,
            "load_seconds": round(self.load_seconds, 3),
        }

    def metadata(self) -> dict[str, Any]:
        """What `/metadata` reports: where the model came from and what it takes and gives."""
        import sklearn

        estimator = self.estimator
        classes = getattr(estimator, "classes_", None)
        return {
            **self.summary(),
            "model_file": self.artifact.model_file,
            "sklearn_version": {"artifact": self.artifact.sklearn_version, "runtime": sklearn.__version__},
            "signature": self.artifact.signature,
            "inputs": [
                {"name": c.name, "type": c.type, "required": c.required} for c in self.features.columns
            ],
            "inputs_from": self.features.source,
            "classes": None if classes is None else list(map(str, classes)),
            "input_example": self.artifact.input_example,
        }


def load_served_model(
    uri: str,
    expected_sha256: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    trusted_types: tuple[str, ...] = (),
) -> ServedModel:
    """Fetch, check, deserialize and describe the model at `uri`; every failure is a 503 error.

    The download runs beside the import of the model's libraries (numpy, pandas, scikit-learn,
    marshmallow: seconds of CPU), so a cold start waits for the longer of the two, not both.
    """
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="model-"))  # private: mode 0700
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-fetch") as pool:
            fetching = pool.submit(fetch, uri, workdir, timeout)
            from .schema import features_for
            from .scoring import matrix_estimator

            fetched = fetching.result()
        artifact = load_artifact(fetched.path, expected_sha256, trusted_types)
        features = features_for(artifact.estimator, artifact.signature)
        lean = matrix_estimator(artifact.estimator, features)
    except PredictorError as exc:
        log.error("model load failed: %s", exc.message)
        raise
    except Exception as exc:
        log.exception("model load failed")
        raise ModelUnavailable(f"could not load the model from {uri}: {type(exc).__name__}: {exc}") from exc
    finally:
        # the model lives in memory now; /tmp counts against the instance's memory
        shutil.rmtree(workdir, ignore_errors=True)
    seconds = time.perf_counter() - started
    model = ServedModel(
        uri, artifact, features, fetched.generations, datetime.now(UTC).isoformat(), seconds, lean
    )
    log.info(
        "model loaded",
        extra={"json_fields": {"model": model.summary(), "load_seconds": round(seconds, 3)}},
    )
    return model
