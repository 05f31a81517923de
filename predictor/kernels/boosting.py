"""Histogram gradient boosting's regression for small batches without its per-call checks and its
one compiled call per tree: every tree walked at once over numpy copies of their nodes (a
missing value goes the way each split learned), the leaves' values added to the baseline in the
iterations' order, then the loss's inverse link: scikit-learn's arithmetic to the bit (proven at
load time). Larger batches, where its compiled walk is faster, call that walk directly on one
thread (no input checks: the fast path proved the matrix), and the largest go to its own predict
and the threads a large request is given."""

from __future__ import annotations

from typing import Any

import numpy as np

from .proof import agrees_on_probes, holds

WALK_UP_TO_ROWS = 32  # above, one compiled call per tree is faster than the numpy walk (measured)
# above, its own predict: the compiled walk on the OpenMP threads a large request is given
# (predictor/native_threads.py); up to here, on one thread without predict's input checks
DIRECT_UP_TO_ROWS = 256
PROBE_ROWS = (1, 2, 3, 16, 32, 33, 100, 256, 257)


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
        sizes = [len(tree) for tree in nodes]
        self.roots = roots = np.cumsum([0, *sizes[:-1]])
        every = np.concatenate(nodes)
        index = np.arange(len(every))
        self.leaf = leaf = every["is_leaf"].astype(bool)
        shift = np.repeat(roots, sizes)
        # a leaf leads to itself, so a walk that reached one stays
        self.left = np.where(leaf, index, every["left"].astype(np.intp) + shift)
        self.right = np.where(leaf, index, every["right"].astype(np.intp) + shift)
        self.feature = np.where(leaf, 0, every["feature_idx"])
        self.threshold = every["num_threshold"]
        self.missing_left = every["missing_go_to_left"].astype(bool)
        self.value = every["value"]
        self.baseline = estimator._baseline_prediction
        self.inverse = estimator._loss.link.inverse
        self.own_predict = estimator.predict
        self.predictors, self.predict_iterations = estimator._predictors, estimator._predict_iterations

    def __call__(self, X: np.ndarray) -> np.ndarray:
        if len(X) > DIRECT_UP_TO_ROWS:
            return self.own_predict(X)
        if len(X) > WALK_UP_TO_ROWS:
            return self._compiled(X)
        leaf, feature, threshold, missing_left = self.leaf, self.feature, self.threshold, self.missing_left
        X = np.asarray(X, dtype=np.float64)
        at = np.repeat(self.roots[:, None], len(X), axis=1)  # (trees, rows): each row's node in each tree
        rows = np.arange(len(X))
        steps = 0  # each step goes one level down; a tree cannot be deeper than its nodes
        while not leaf[at].all() and steps < len(leaf):
            steps += 1
            x = X[rows, feature[at]]
            goes_left = np.where(np.isnan(x), missing_left[at], x <= threshold[at])
            at = np.where(goes_left, self.left[at], self.right[at])
        raw = np.zeros((len(X), 1), dtype=self.baseline.dtype, order="F")
        raw += self.baseline
        # row by row in the trees' order: out[i] = out[i - 1] + leaves[i], as `+=` per tree adds
        summed = np.add.accumulate(np.vstack([raw[:, 0][None], self.value[at]]), axis=0)[-1]
        return self.inverse(summed)

    def _compiled(self, X: np.ndarray) -> np.ndarray:
        """`predict` without its input checks (the fast path proved the float64 matrix), on one
        thread: the baseline added to zeros, `_predict_iterations` adding each tree's values."""
        raw = np.zeros((len(X), 1), dtype=self.baseline.dtype, order="F")
        raw += self.baseline
        self.predict_iterations(np.asarray(X, dtype=np.float64), self.predictors, raw, False, 1)
        return self.inverse(raw.ravel())
