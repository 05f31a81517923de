"""A linear model read from a skops file without scikit-learn: a linear regressor or a logistic
regression, alone or after `StandardScaler`s in a `Pipeline`, its fitted arrays taken straight
from the file's schema, so serving it imports neither scikit-learn, scipy, pandas nor skops (a
second of a cold start, and most of the memory).

Only a file that holds nothing but data, written as skops writes these estimators, qualifies:
a `Pipeline` of `StandardScaler`s and one final model, or the final model alone, each of the
classes named here, and beneath each only data (skops_nodes.py), each node the same as any other
with its `__id__` (skops gives every node of an `__id__` the first one's value). Anything else
(another class or step, a random state, a function, another skops protocol, a node saying another
type) gives None, and the file is loaded by skops as before. The predictions are scikit-learn's
own arithmetic for a dense matrix (predictor/kernels/linear.py: each scaling on a copy,
`X @ coef_.T + intercept_`, the labels as `LinearClassifierMixin` picks them; the probabilities
as `LogisticRegression` computes them); tests/test_skops_linear.py proves them bit for bit equal
to the same file loaded by skops, for each class and step.
"""

from __future__ import annotations

import zipfile
from typing import Any

import numpy as np

from ..kernels.linear import StandardScaling
from . import skops_nodes as nodes
from .linear_models import LinearClassifier, LinearRegressor, ScaledClassifier, ScaledModel
from .read_model import ReadModel, named

REGRESSORS = frozenset(
    {
        ("sklearn.linear_model._base", "LinearRegression"),
        ("sklearn.linear_model._ridge", "Ridge"),
        ("sklearn.linear_model._coordinate_descent", "Lasso"),
        ("sklearn.linear_model._coordinate_descent", "ElasticNet"),
    }
)
CLASSIFIERS = frozenset({("sklearn.linear_model._logistic", "LogisticRegression")})
ALLOWED = REGRESSORS | CLASSIFIERS
SCALER = ("sklearn.preprocessing._data", "StandardScaler")
PIPELINE = ("sklearn.pipeline", "Pipeline")


def read(schema: dict, archive: zipfile.ZipFile) -> ReadModel | None:
    """The linear model a skops file's schema describes, or None when it is not one this reads."""
    if nodes.object_class(schema) == PIPELINE:
        return _pipeline(schema, archive)
    return _estimator(schema, archive)


def _fields(node: Any, allowed: Any) -> dict[str, Any] | None:
    """The fields of an object node of one of the `allowed` classes that holds data alone."""
    if nodes.object_class(node) not in allowed or not nodes.data_only(node["content"]):
        return None
    return nodes.state_of(node)


def _pipeline(schema: dict, archive: zipfile.ZipFile) -> ScaledModel | None:
    fields = nodes.state_of(schema)
    if fields is None or nodes.kind(fields.get("steps")) != nodes.LIST:
        return None
    others = {name: node for name, node in fields.items() if name != "steps"}
    if not all(nodes.data_only(node) for node in others.values()):
        return None
    if any(
        nodes.json_value(others[name]) is not None for name in ("memory", "transform_input") if name in others
    ):
        return None  # its own caching, or inputs routed through its steps: scikit-learn's work
    steps = []
    for step in fields["steps"]["content"]:
        if nodes.kind(step) != nodes.TUPLE or len(step.get("content", ())) != 2:
            return None
        name, estimator = step["content"]
        if not isinstance(nodes.json_value(name), str):
            return None
        steps.append(estimator)
    if len(steps) < 2 or nodes.object_class(steps[0]) != SCALER:
        return None  # a step alone: scikit-learn's to read
    first = nodes.state_of(steps[0])
    width = nodes.json_value(first["n_features_in_"])
    names = nodes.strings(first["feature_names_in_"]) if "feature_names_in_" in first else None
    scalings = [_scaling(step, archive, width) for step in steps[:-1]]
    final = _estimator(steps[-1], archive)
    if final is None or any(scaling is None for scaling in scalings) or final.n_features_in_ != width:
        return None
    if (names is not None and len(names) != width) or hasattr(final, "feature_names_in_"):
        return None  # names of another width, or a final step fitted on names the scalers do not give
    kind = ScaledClassifier if isinstance(final, LinearClassifier) else ScaledModel
    return named("Pipeline", kind)(scalings, final, names, _version(fields))


def _scaling(node: Any, archive: zipfile.ZipFile, width: Any) -> StandardScaling | None:
    """A `StandardScaler` of `width` features."""
    fields = _fields(node, {SCALER})
    if fields is None or nodes.json_value(fields["n_features_in_"]) != width:
        return None
    with_mean, with_std = nodes.json_value(fields["with_mean"]), nodes.json_value(fields["with_std"])
    if type(with_mean) is not bool or type(with_std) is not bool:
        return None
    mean = nodes.array(fields["mean_"], archive) if with_mean else None
    scale = nodes.array(fields["scale_"], archive) if with_std else None
    for part in (mean, scale):
        if part is not None and (part.dtype != np.float64 or part.shape != (width,)):
            return None
    return StandardScaling(mean, scale)


def _estimator(node: Any, archive: zipfile.ZipFile) -> ReadModel | None:
    top = nodes.object_class(node)
    fields = _fields(node, ALLOWED)
    if fields is None:
        return None
    coef = nodes.array(fields["coef_"], archive)
    if coef.dtype != np.float64 or coef.ndim not in (1, 2):
        return None
    names = nodes.strings(fields["feature_names_in_"]) if "feature_names_in_" in fields else None
    if nodes.json_value(fields["n_features_in_"]) != coef.shape[-1] or (
        names is not None and len(names) != coef.shape[-1]
    ):
        return None
    if top in CLASSIFIERS:
        return _classifier(top[1], fields, coef, names, archive)
    intercept = nodes.number(fields["intercept_"], archive)
    targets = coef.shape[0] if coef.ndim == 2 else 1
    if intercept is None or np.ndim(intercept) > 1 or np.size(intercept) not in (1, targets):
        return None  # (as `predict` broadcasts it)
    return named(top[1], LinearRegressor)(coef, intercept, names, _version(fields))


def _classifier(
    name: str, fields: dict[str, Any], coef: np.ndarray, names: np.ndarray | None, archive: zipfile.ZipFile
) -> LinearClassifier | None:
    intercept = nodes.array(fields["intercept_"], archive)
    labels = fields["classes_"]
    classes = nodes.labels(labels, archive)
    if classes.ndim != 1 or classes.dtype.kind not in "biuUO" or coef.ndim != 2:
        return None
    rows = 1 if len(classes) == 2 else len(classes)
    if (
        len(classes) < 2
        or coef.shape[0] != rows
        or intercept.dtype != np.float64
        or intercept.shape != (rows,)
    ):
        return None
    return named(name, LinearClassifier)(coef, intercept, classes, names, _version(fields))


def _version(fields: dict[str, Any]) -> str | None:
    saved_with = nodes.json_value(fields["_sklearn_version"]) if "_sklearn_version" in fields else None
    return saved_with if isinstance(saved_with, str) else None
