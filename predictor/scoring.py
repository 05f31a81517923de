"""Score checked rows: build the input the model was fitted on, predict, return JSON values."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .errors import InvalidInput
from .model import ServedModel
from .schema import DTYPE_FOR_TYPE, Features


def model_input(features: Features, rows: list[dict[str, Any]] | np.ndarray, as_frame: bool) -> Any:
    """Columns in model order with their signature dtypes; a DataFrame when the model has names.

    `rows` is what `Features.check` gives: validated records, or already a float64 matrix.
    """
    if isinstance(rows, np.ndarray):
        return pd.DataFrame(rows, columns=features.names, copy=False) if as_frame else rows
    columns = {}
    for i, column in enumerate(features.columns):
        values = [row.get(f"f{i}") for row in rows]
        dtype = DTYPE_FOR_TYPE[column.type]
        if not column.required and dtype != "object" and any(v is None for v in values):
            dtype = "float64"  # an absent optional number is NaN
        columns[column.name] = np.array(values, dtype=dtype)
    frame = pd.DataFrame(columns, columns=features.names)
    return frame if as_frame else frame.to_numpy()


OUTPUTS = ("label", "proba")


def predict(model: ServedModel, rows: list[dict[str, Any]] | np.ndarray, output: str | None = None) -> list[Any]:
    """Predictions for `rows` (already validated), in the same order.

    `output="proba"` asks a classifier for one {class label: probability} object per row.
    """
    output = output or "label"
    if output not in OUTPUTS:
        raise InvalidInput(f"output must be one of {', '.join(OUTPUTS)}, not {output!r}", {"allowed": list(OUTPUTS)})
    estimator = model.estimator
    if output == "proba" and not callable(getattr(estimator, "predict_proba", None)):
        raise InvalidInput(
            f"this model ({type(estimator).__name__}) has no predict_proba, so it cannot give "
            "probabilities; leave out output=proba"
        )
    if len(rows) == 0:
        return []
    X = model_input(model.features, rows, hasattr(estimator, "feature_names_in_"))
    try:
        if output == "proba":
            labels = [str(label) for label in np.asarray(estimator.classes_).tolist()]
            return [dict(zip(labels, row)) for row in np.asarray(estimator.predict_proba(X)).tolist()]
        return np.asarray(estimator.predict(X)).tolist()
    except (ValueError, TypeError) as exc:
        # the rows passed the schema but the model refused them (an unseen category, say)
        raise InvalidInput(f"the model could not score these rows: {exc}") from exc
