"""Scoring helpers: the input the model was fitted on, the name-free copy that takes the fast
path's matrix, and predictions as JSON values."""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np

from .inputs.schema import DTYPE_FOR_TYPE, Features
from .kernels.proof import holds, identical


def model_input(features: Features, rows: list[dict[str, Any]] | np.ndarray, as_frame: bool) -> Any:
    """Columns in model order with their signature dtypes; a DataFrame when the model has names.

    `rows` is what `Features.check` gives: validated records, or already a float64 matrix.
    """
    import pandas as pd  # not for a model read by skops_linear, unless a request needs the slow path

    if isinstance(rows, np.ndarray):
        return pd.DataFrame(rows, columns=features.names, copy=False) if as_frame else rows
    columns = {}
    for i, column in enumerate(features.columns):
        values = [row.get(f"f{i}") for row in rows]
        dtype = DTYPE_FOR_TYPE[column.type]
        if dtype == "datetime64[ns]":
            pass  # each value read by the schema; numpy makes an absent one NaT
        elif not column.required and dtype != "object" and any(v is None for v in values):
            dtype = "float64"  # an absent optional number is NaN
        elif dtype == "object":
            # an absent optional string is NaN, pandas' missing value (as a null one is), whatever
            # the other rows hold: an imputer then sees a row alone as it sees it in any batch
            values = [np.nan if v is None else v for v in values]
        columns[column.name] = np.array(values, dtype=dtype)
    frame = pd.DataFrame(columns, columns=features.names)
    # a model fitted on an array gets one laid out as an array is (row-major): a linear model's
    # sums then round as they do in process and in MLflow's server
    return frame if as_frame else np.ascontiguousarray(frame.to_numpy())


def missing_cells(features: Features, rows: list[dict[str, Any]] | np.ndarray) -> dict[int, list[str]]:
    """For each row (as `Features.check` gives them) holding missing values, its index and the
    names of those features: a null, NaN or absent optional value, NaN to the model."""
    names = features.names
    if isinstance(rows, np.ndarray):
        mask = np.isnan(rows) if rows.dtype.kind == "f" else np.zeros(rows.shape, bool)
        return {int(i): [names[j] for j in np.flatnonzero(mask[i])] for i in np.flatnonzero(mask.any(axis=1))}
    found = {}
    for index, row in enumerate(rows):
        cells = [names[j] for j in range(len(names)) if _missing(row.get(f"f{j}"))]
        if cells:
            found[index] = cells
    return found


def _missing(value: Any) -> bool:
    if type(value) is np.datetime64:
        return bool(np.isnat(value))
    return value is None or (type(value) is float and math.isnan(value))


def matrix_estimator(estimator: Any, features: Features) -> Any | None:
    """The estimator to give the fast path's float64 matrix as is, or None to build a DataFrame.

    A model fitted on a DataFrame compares the column names of every input with its
    `feature_names_in_`, which costs more than a linear model's prediction itself. Our schema has
    already fixed the columns and their order, so a shallow copy without the names takes the
    matrix directly, if it answers exactly as the original does on a DataFrame: checked here,
    once, at load time, on probe rows (any warning or difference keeps the DataFrame).
    """
    if features.fast_path is None:
        return None
    if not hasattr(estimator, "feature_names_in_"):
        return estimator  # fitted on arrays: it takes the matrix already
    lean = _without_names(estimator)
    if lean is None:
        return None
    probe = np.asfortranarray(np.random.default_rng(0).normal(0, 10, (16, len(features.columns))))
    frame = model_input(features, probe, as_frame=True)
    methods = [m for m in ("predict", "predict_proba") if callable(getattr(estimator, m, None))]
    # any warning or error: the model needs its DataFrame after all
    same = holds(
        lambda: all(identical(getattr(lean, m)(probe), getattr(estimator, m)(frame)) for m in methods)
    )
    return lean if same else None


def _without_names(estimator: Any) -> Any | None:
    """A shallow copy whose input step forgets its fitted column names; None if it has none of
    its own (a search, a stacked model): those check names inside and keep the DataFrame."""
    if "feature_names_in_" in vars(estimator):
        lean = copy.copy(estimator)
        del lean.feature_names_in_
        return lean
    steps = getattr(estimator, "steps", None)  # a Pipeline: its names are its first step's
    if isinstance(steps, list) and steps and hasattr(estimator, "named_steps"):
        first = _without_names(steps[0][1])
        if first is not None:
            lean = copy.copy(estimator)
            lean.steps = [(steps[0][0], first), *steps[1:]]
            return lean
    return None


def predictions(estimator: Any, X: Any, output: str) -> list[Any]:
    """`estimator`'s labels for `X`, with `output="proba"` one {label: probability} per row, or
    what its method named `output` answers (`predict_proba`: one list per row), as MLflow gives it."""
    if output == "proba":
        labels = [str(label) for label in np.asarray(estimator.classes_).tolist()]
        return [dict(zip(labels, row)) for row in np.asarray(estimator.predict_proba(X)).tolist()]
    if output == "label":
        return np.asarray(estimator.predict(X)).tolist()
    return np.asarray(getattr(estimator, output)(X)).tolist()
