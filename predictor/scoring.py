"""Score checked rows: build the input the model was fitted on, predict, return JSON values."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .errors import InvalidInput
from .model import ServedModel
from .schema import DTYPE_FOR_TYPE, Features


def model_input(features: Features, rows: list[dict[str, Any]], as_frame: bool) -> Any:
    """Columns in model order with their signature dtypes; a DataFrame when the model has names."""
    columns = {}
    for i, column in enumerate(features.columns):
        values = [row.get(f"f{i}") for row in rows]
        dtype = DTYPE_FOR_TYPE[column.type]
        if not column.required and dtype != "object" and any(v is None for v in values):
            dtype = "float64"  # an absent optional number is NaN
        columns[column.name] = np.array(values, dtype=dtype)
    frame = pd.DataFrame(columns, columns=features.names)
    return frame if as_frame else frame.to_numpy()


def predict(model: ServedModel, rows: list[dict[str, Any]]) -> list[Any]:
    """Predictions for `rows` (already validated), in the same order."""
    if not rows:
        return []
    estimator = model.estimator
    X = model_input(model.features, rows, hasattr(estimator, "feature_names_in_"))
    try:
        predictions = estimator.predict(X)
    except (ValueError, TypeError) as exc:
        # the rows passed the schema but the model refused them (an unseen category, say)
        raise InvalidInput(f"the model could not score these rows: {exc}") from exc
    return np.asarray(predictions).tolist()
