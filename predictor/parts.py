"""What a served model is made of: the `Artifact` a model file held, and the MLflow `Origin` it
came from. Plain values, imported without the model's stack (the HTTP layer's imports reach them)."""

from __future__ import annotations

import functools
import importlib.metadata
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Artifact:
    """What a model file held, and what MLmodel says of it."""

    estimator: Any
    format: str  # cloudpickle | pickle | joblib | skops
    model_file: str  # name of the serialized model file
    sha256: str  # of the serialized model file
    flavor: str | None = None  # "sklearn" for an MLflow model folder
    sklearn_version: str | None = None  # the version that wrote it, when recorded
    signature: dict[str, Any] | None = None  # {"inputs": [...], "outputs": [...]}
    input_example: Any = None
    # the method MLflow answers with (MLmodel's python_function predict_fn, `pyfunc_predict_fn`
    # at log time): predict, predict_proba, predict_log_proba or predict_joint_log_proba
    predict_fn: str = "predict"


@dataclass(frozen=True)
class Origin:
    """Where a served model came from in MLflow: registry names and the artifact location."""

    artifact_uri: str
    name: str | None = None
    version: str | None = None
    alias: str | None = None
    run_id: str | None = None
    model_id: str | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "registered_model": self.name,
            "version": self.version,
            "alias": self.alias,
            "run_id": self.run_id,
            "model_id": self.model_id,
            "artifact_uri": self.artifact_uri,
        }


@functools.cache
def installed_sklearn_version() -> str:
    """scikit-learn's version, without importing it (a model read by `skops_linear` never does)."""
    return importlib.metadata.version("scikit-learn")
