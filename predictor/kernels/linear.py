"""A linear model's prediction, alone or after standard scaling in a pipeline, without
scikit-learn's per-call checks: each scaler's `(X - mean_) / scale_` on a copy, then the final
model's `X @ coef_.T + intercept_`, and for a classifier its label as `LinearClassifierMixin`
picks it, all on the same arrays in the same order, so the answer is scikit-learn's to the bit
(proven at load time, step by step). The checks (input validation, array-namespace and dataframe
detection, twice for a pipeline) cost more than the arithmetic: for a scaler + logistic
regression, one row 250 -> 10 µs."""

from __future__ import annotations

from typing import Any

import numpy as np

from .proof import holds, identical

PROBE_ROWS = (1, 2, 3, 16, 100, 1000)


class LinearExpression:
    """scikit-learn's prediction of a dense matrix by a fitted linear model
    (`LinearModel._decision_function`: `X @ coef_ + intercept_`, `coef_.T` for several targets),
    kept in this one place for the kernels here and the skops reader's regressor. A plain
    object, so a proven kernel crosses to another process as it is (loading/loader_process.py)."""

    def __init__(self, coef: np.ndarray, intercept: Any):
        self.weights = coef if coef.ndim == 1 else coef.T
        self.intercept = intercept

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return X @ self.weights + self.intercept


class StandardScaling:
    """`StandardScaler.transform` of a dense float64 matrix: a copy in the input's layout (as its
    input validation copies), the mean subtracted, then divided by the scale."""

    def __init__(self, mean: np.ndarray | None, scale: np.ndarray | None):
        self.mean, self.scale = mean, scale

    def __call__(self, X: np.ndarray) -> np.ndarray:
        X = np.array(X, dtype=np.float64, order="K", copy=True)
        if self.mean is not None:
            X -= self.mean
        if self.scale is not None:
            X /= self.scale
        return X


class LinearLabels:
    """`LinearClassifierMixin.predict` of a dense matrix: the decision function
    (`X @ coef_.T + intercept_`, one column flattened), then the class of the positive score
    (two classes) or of the highest (more)."""

    def __init__(self, coef: np.ndarray, intercept: Any, classes: np.ndarray):
        self.scores = LinearExpression(coef, intercept)
        self.classes = classes

    def __call__(self, X: np.ndarray) -> np.ndarray:
        scores = self.scores(X)
        if scores.ndim > 1 and scores.shape[1] == 1:
            scores = scores.reshape(-1)
        indices = (scores > 0).astype(np.intp) if scores.ndim == 1 else np.argmax(scores, axis=1)
        return self.classes.take(indices, axis=0)


class PipelineKernel:
    """The scaling steps in order, then the final model."""

    def __init__(self, steps: list[StandardScaling], final: LinearExpression | LinearLabels):
        self.steps, self.final = steps, final

    def transform(self, X: np.ndarray) -> np.ndarray:
        for step in self.steps:
            X = step(X)
        return X

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return self.final(self.transform(X))


def linear_kernel(estimator: Any, width: int) -> LinearExpression | LinearLabels | PipelineKernel | None:
    """`estimator.predict` for the fast path's float64 matrix, if the estimator is a linear
    regressor or classifier of scikit-learn's own arithmetic, alone or after `StandardScaler`s in
    a `Pipeline`, and the kernel gave scikit-learn's bits on probe matrices of several sizes (the
    scaled matrix, the final model's scores and the answer); else None."""
    from sklearn.pipeline import Pipeline

    if type(estimator) is Pipeline:
        if getattr(estimator, "memory", None) is not None:
            return None
        steps = [step for _, step in estimator.steps if step is not None and step != "passthrough"]
        if not steps:
            return None
        *transforms, final = steps
    else:
        transforms, final = [], estimator
    scalings = [_scaling(step) for step in transforms]
    last = _final(final)
    if last is None or any(step is None for step in scalings):
        return None
    kernel = PipelineKernel(scalings, last)
    rng = np.random.default_rng(0)
    # probe by probe, not stacked: a matrix product's bits for a row depend on the rows beside it
    # (BLAS picks its kernel by the shape)
    probes = [np.asfortranarray(rng.normal(0, 10, (rows, width))) for rows in PROBE_ROWS]
    if not holds(lambda: all(_proven(kernel, estimator, final, probe) for probe in probes)):
        return None
    return kernel if scalings else last  # alone: the final model itself, one call less


def _proven(kernel: PipelineKernel, estimator: Any, final: Any, probe: np.ndarray) -> bool:
    """Whether the kernel gave scikit-learn's bits on `probe`: the scaled matrix, the final
    model's scores, the answer."""
    transformed = kernel.transform(probe)
    if kernel.steps and not _same(transformed, estimator[:-1].transform(probe)):
        return False
    scores = kernel.final.scores if isinstance(kernel.final, LinearLabels) else None
    if scores is not None and not _same(scores(transformed), final.decision_function(transformed)):
        return False
    return _same(kernel(probe), estimator.predict(probe))


def _same(mine: np.ndarray, theirs: Any) -> bool:
    if mine.ndim == 2 and mine.shape[1] == 1 and np.ndim(theirs) == 1:
        mine = mine.reshape(-1)  # a decision function flattens its one column
    return identical(mine, theirs)


def _scaling(step: Any) -> StandardScaling | None:
    from sklearn.preprocessing import StandardScaler

    if type(step) is not StandardScaler:
        return None
    mean, scale = getattr(step, "mean_", None), getattr(step, "scale_", None)
    if step.with_mean and not isinstance(mean, np.ndarray):
        return None
    if step.with_std and not isinstance(scale, np.ndarray):
        return None
    return StandardScaling(mean if step.with_mean else None, scale if step.with_std else None)


def _final(step: Any) -> LinearExpression | LinearLabels | None:
    from sklearn.base import is_regressor
    from sklearn.linear_model._base import LinearClassifierMixin, LinearModel

    coef, intercept = getattr(step, "coef_", None), getattr(step, "intercept_", None)
    if not isinstance(coef, np.ndarray):
        return None
    if isinstance(step, LinearClassifierMixin):
        classes = getattr(step, "classes_", None)
        kind = type(step)
        if (
            kind.predict is not LinearClassifierMixin.predict
            or kind.decision_function is not LinearClassifierMixin.decision_function
            or not isinstance(classes, np.ndarray)
        ):
            return None
        return LinearLabels(coef, intercept, classes)
    if isinstance(step, LinearModel) and is_regressor(step):
        return LinearExpression(coef, intercept)
    return None
