"""The served model: the estimator plus everything derived from it once, at load time; it
predicts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import scoring
from .errors import InvalidInput
from .inputs.schema import Features, brief
from .parts import Artifact, Origin, installed_sklearn_version

OUTPUTS = ("label", "proba")


@dataclass(frozen=True)
class ServedModel:
    uri: str
    artifact: Artifact
    features: Features
    generations: dict[str, int]
    loaded_at: str  # ISO 8601, UTC
    load_seconds: float
    matrix_estimator: Any = None  # takes the fast path's matrix directly (scoring.matrix_estimator)
    origin: Origin | None = None  # the registry's names for it, when MODEL_URI is an MLflow URI
    kernel: Callable[[np.ndarray], np.ndarray] | None = None  # a linear regressor's arithmetic alone

    @property
    def estimator(self) -> Any:
        return self.artifact.estimator

    def identity(self) -> dict[str, Any]:
        """Which model answered, for captured predictions and batch summaries."""
        fields = {"uri": self.uri, "sha256": self.artifact.sha256}
        if self.origin is not None:
            fields.update(registered_model=self.origin.name, version=self.origin.version)
        return fields

    def summary(self) -> dict[str, Any]:
        """What `/ready` reports: enough to tell which model answers."""
        return {
            "uri": self.uri,
            "type": type(self.estimator).__name__,
            "format": self.artifact.format,
            "flavor": self.artifact.flavor,
            "sha256": self.artifact.sha256,
            "generations": self.generations,
            "mlflow": self.origin.summary() if self.origin else None,
            "features": self.features.names if self.features.named else len(self.features.columns),
            "loaded_at": self.loaded_at,
            "load_seconds": round(self.load_seconds, 3),
        }

    def description(self) -> dict[str, Any]:
        """What `/metadata` reports: where the model came from and what it takes and gives."""
        estimator = self.estimator
        classes = getattr(estimator, "classes_", None)
        return {
            **self.summary(),
            "model_file": self.artifact.model_file,
            "sklearn_version": {
                "artifact": self.artifact.sklearn_version,
                "runtime": installed_sklearn_version(),
            },
            "signature": self.artifact.signature,
            "inputs": [
                {"name": c.name, "type": c.type, "required": c.required} for c in self.features.columns
            ],
            "inputs_from": self.features.source,
            "classes": None if classes is None else list(map(str, classes)),
            "input_example": self.artifact.input_example,
            "predict_fn": self.artifact.predict_fn,
        }

    def predict(self, rows: list[dict[str, Any]] | np.ndarray, output: str | None = None) -> list[Any]:
        """Predictions for `rows` (as `Features.check` gives them), in the same order.

        `output="proba"` asks a classifier for one {class label: probability} object per row,
        `"label"` for its labels; without `output`, the model answers with the method MLmodel
        names (`predict_fn`), as MLflow does: `predict_proba` gives a list of probabilities per
        row, in the order of `classes_`.
        """
        if output is None or output == "":
            output = "label" if self.artifact.predict_fn == "predict" else self.artifact.predict_fn
        elif output not in OUTPUTS:
            raise InvalidInput(
                f"output must be one of {', '.join(OUTPUTS)}, not {brief(output)}", {"allowed": list(OUTPUTS)}
            )
        estimator = self.estimator
        if output == "proba" and not callable(getattr(estimator, "predict_proba", None)):
            raise InvalidInput(
                f"this model ({type(estimator).__name__}) has no predict_proba, so it cannot give "
                "probabilities; leave out output=proba"
            )
        if len(rows) == 0:
            return []
        try:
            if isinstance(rows, np.ndarray) and self.kernel is not None and output == "label":
                return self.kernel(rows).tolist()  # proven at load time: predict's own bits
            if isinstance(rows, np.ndarray) and self.matrix_estimator is not None:
                import sklearn  # imported by the model's loading already (not by skops_linear's)

                # the fast path proved every value finite: scikit-learn need not look again
                with sklearn.config_context(assume_finite=True):
                    return scoring.predictions(self.matrix_estimator, rows, output)
            as_frame = hasattr(estimator, "feature_names_in_")
            return scoring.predictions(estimator, scoring.model_input(self.features, rows, as_frame), output)
        except (ValueError, TypeError) as exc:
            # the rows passed the schema but the model refused them (an unseen category, say)
            raise InvalidInput(f"the model could not score these rows: {exc}") from exc
