"""The served model: the estimator plus everything derived from it once, at load time; it
predicts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import scoring
from .errors import InvalidInput, MissingValues
from .inputs.schema import MAX_ROWS_LISTED, Features, brief, shown
from .native_threads import NativeThreads
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
    # the model's prediction proven bit for bit without scikit-learn's per-call checks: a linear
    # model's arithmetic (after standard scaling), a forest's trees without the forest's
    # dispatch, histogram boosting's trees walked together (predictor/kernels/)
    kernel: Callable[[np.ndarray], np.ndarray] | None = None
    native_threads: NativeThreads | None = None  # OpenMP and BLAS threads per request, for scikit-learn

    @property
    def estimator(self) -> Any:
        return self.artifact.estimator

    def built_bytes(self) -> int:
        """What its kernel built after the load for large batches (a read forest's compiled trees)."""
        built = getattr(self.kernel, "built_bytes", None)
        return built() if built is not None else 0

    def identity(self, name: str | None = None) -> dict[str, Any]:
        """Which model answered, for captured predictions and batch summaries (`name`: its name
        with MODELS)."""
        fields = {"name": name} if name else {}
        fields.update(uri=self.uri, sha256=self.artifact.sha256)
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

    def predict(
        self, rows: list[dict[str, Any]] | np.ndarray, output: str | None = None, noun: str = "row"
    ) -> list[Any]:
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
            if self.native_threads is None:
                return self._answer(rows, output)
            with self.native_threads.limit(len(rows)):
                return self._answer(rows, output)
        except (ValueError, TypeError) as exc:
            missing = scoring.missing_cells(self.features, rows)
            if missing:  # what scikit-learn says of them ("Input X contains NaN") names no row
                raise _missing_values(missing, len(rows), noun) from exc
            # the rows passed the schema but the model refused them (an unseen category, say)
            raise InvalidInput(f"the model could not score these rows: {exc}") from exc

    def _answer(self, rows: list[dict[str, Any]] | np.ndarray, output: str) -> list[Any]:
        estimator = self.estimator
        if isinstance(rows, np.ndarray):
            complete = not np.isnan(rows).any()  # the fast path let missing values through as NaN
            takes_missing = getattr(self.kernel, "takes_missing", False)
            if self.kernel is not None and output == "label" and (complete or takes_missing):
                return self.kernel(rows).tolist()  # proven at load time: predict's own bits
            if getattr(self.matrix_estimator, "without_scikit_learn", False):  # loading/read_model.py
                return scoring.predictions(self.matrix_estimator, rows, output)
            if self.matrix_estimator is not None:
                import sklearn  # imported by the model's loading already

                # the fast path proved every value finite or missing: with none missing,
                # scikit-learn need not look again; with some, it checks as the model allows
                with sklearn.config_context(assume_finite=complete):
                    return scoring.predictions(self.matrix_estimator, rows, output)
        as_frame = hasattr(estimator, "feature_names_in_")
        return scoring.predictions(estimator, scoring.model_input(self.features, rows, as_frame), output)


def _missing_values(missing: dict[int, list[str]], total: int, noun: str) -> MissingValues:
    """400 naming the rows with missing values and which, for a model that takes none."""
    listed = {str(index): names for index, names in list(missing.items())[:MAX_ROWS_LISTED]}
    first, names = next(iter(listed.items()))
    return MissingValues(
        f"this model cannot take missing values (null, NaN or an empty cell), and {len(missing)} of "
        f"{total} {noun}s have some; {noun} {first}: {shown(names)}. Send every value, or serve a model "
        "that imputes them (a SimpleImputer step) or takes them (trees, histogram gradient boosting)",
        {"rows": listed, "rows_with_missing": len(missing), "row_count": total},
    )
