"""Histogram gradient boosting's regression for small batches without its per-call checks and its
one compiled call per tree: every tree walked at once over numpy copies of their nodes
(forest_walk.py, in float64: a missing value goes the way each split learned), the leaves'
values added to the baseline in the iterations' order, then the loss's inverse link:
scikit-learn's arithmetic to the bit (proven at load time). Larger batches, where its compiled
walk is faster, call that walk directly on one thread (no input checks: the fast path proved the
matrix), and the largest go to its own predict and the threads a large request is given."""

from __future__ import annotations

from typing import Any

import numpy as np

from .forest_walk import ForestWalk, TreeNodes
from .proof import agrees_on_probes, holds

# above, one compiled call per tree is about as fast as the walk: measured in process, 100 trees
# fitted on the wine data, one thread, walk / compiled: 33 rows 0.30 / 0.56 ms, 100 rows 0.69 /
# 0.79, 256 rows 1.53 / 1.65
WALK_UP_TO_ROWS = 100
# above, its own predict: the compiled walk on the OpenMP threads a large request is given
# (predictor/native_threads.py); up to here, on one thread without predict's input checks
DIRECT_UP_TO_ROWS = 256
PROBE_ROWS = (1, 2, 3, 16, 33, 100, 101, 256, 257)  # each side of each bound


def boosting_kernel(estimator: Any, width: int) -> BoostingKernel | None:
    """`estimator.predict` for the fast path's float64 matrix, missing values (NaN) included, if
    the estimator is a `HistGradientBoostingRegressor` with numeric splits only and the kernel
    answered bit for bit like its `predict` on probe matrices (with gaps); else None."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    if type(estimator) is not HistGradientBoostingRegressor or getattr(estimator, "_preprocessor", None):
        return None
    predictors = getattr(estimator, "_predictors", None)
    if not predictors or any(len(of_iteration) != 1 for of_iteration in predictors):
        return None
    nodes = [of_iteration[0].nodes for of_iteration in predictors]
    if any(tree["is_categorical"].any() for tree in nodes):  # the walk knows numeric splits only
        return None
    kernel = BoostingKernel(estimator, nodes)
    rng = np.random.default_rng(0)
    stacked = rng.normal(0, 10, (sum(PROBE_ROWS), width))
    stacked[rng.random(stacked.shape) < 0.2] = np.nan
    # each row's answer is its own: the trees' values added in order, row by row
    return kernel if holds(lambda: agrees_on_probes(kernel, estimator.predict, stacked, PROBE_ROWS)) else None


class BoostingKernel:
    """`_raw_predict` (the baseline added to zeros, each tree's leaf value added in turn, as
    `_predict_iterations` adds them) and `predict`'s inverse link: walked in numpy up to
    WALK_UP_TO_ROWS rows, its compiled walk called directly up to DIRECT_UP_TO_ROWS; more go to
    the estimator's own predict."""

    takes_missing = True  # a missing value goes the way each split learned

    def __init__(self, estimator: Any, nodes: list[np.ndarray]):
        self.walk = ForestWalk([TreeNodes.of_predictor(tree) for tree in nodes], None, np.float64)
        self.baseline = estimator._baseline_prediction
        self.inverse = estimator._loss.link.inverse
        self.own_predict = estimator.predict
        self.predictors, self.predict_iterations = estimator._predictors, estimator._predict_iterations

    def __call__(self, X: np.ndarray) -> np.ndarray:
        if len(X) > DIRECT_UP_TO_ROWS:
            return self.own_predict(X)
        if len(X) > WALK_UP_TO_ROWS:
            return self._compiled(X)
        return self.inverse(self.walk.summed(np.asarray(X, dtype=np.float64), 1, self.baseline[0, 0]))

    def _compiled(self, X: np.ndarray) -> np.ndarray:
        """`predict` without its input checks (the fast path proved the float64 matrix), on one
        thread: the baseline added to zeros, `_predict_iterations` adding each tree's values."""
        raw = np.zeros((len(X), 1), dtype=self.baseline.dtype, order="F")
        raw += self.baseline
        self.predict_iterations(np.asarray(X, dtype=np.float64), self.predictors, raw, False, 1)
        return self.inverse(raw.ravel())
