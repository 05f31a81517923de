"""A random forest's (or extra trees') predictions without the forest's per-call checks and
joblib dispatch: each tree's own compiled walk over the float32 matrix, summed in the forest's
order and divided as it divides, so the answer is scikit-learn's to the bit (proven at load
time). One row through 100 trees: ~0.6 ms instead of ~8; small batches walk every tree at once
in numpy instead (forest_walk.py: ~0.1 ms). Large batches share the trees among threads (the
compiled walk releases the GIL); the sum keeps the trees' order."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

from .forest_walk import MAX_WALK_DEPTH, SHARED_FROM, ForestWalk, TreeNodes
from .pool import shared_pool
from .proof import agrees_on_probes, holds

BLOCK_ROWS = 8192  # rows walked at a time when shared: one value per tree per row is kept
PROBE_ROWS = (1, 2, 3, 16, 100, 1000)


def forest_kernel(estimator: Any, width: int, threads: int = 1) -> ForestKernel | None:
    """`estimator.predict` for the fast path's float64 matrix, if the estimator is a single-output
    random forest or extra-trees regressor or classifier of scikit-learn's own trees and the
    kernel answered bit for bit like its `predict` (run on one thread) on probe matrices; else
    None. `threads` > 1 shares large batches' trees among that many threads."""
    from sklearn.ensemble._forest import ForestClassifier, ForestRegressor
    from sklearn.tree import (
        DecisionTreeClassifier,
        DecisionTreeRegressor,
        ExtraTreeClassifier,
        ExtraTreeRegressor,
    )

    members = getattr(estimator, "estimators_", None)
    if isinstance(estimator, ForestRegressor) and type(estimator).predict is ForestRegressor.predict:
        kinds, classes = (DecisionTreeRegressor, ExtraTreeRegressor), None
    elif isinstance(estimator, ForestClassifier) and type(estimator).predict is ForestClassifier.predict:
        kinds, classes = (DecisionTreeClassifier, ExtraTreeClassifier), getattr(estimator, "classes_", None)
        if type(estimator).predict_proba is not ForestClassifier.predict_proba or not isinstance(
            classes, np.ndarray
        ):
            return None
    else:
        return None
    if (
        not members
        or getattr(estimator, "n_outputs_", None) != 1
        or any(type(m) not in kinds for m in members)
    ):
        return None
    try:
        kernel = ForestKernel([m.tree_ for m in members], classes, threads)
    except ValueError:  # trees scikit-learn's fitting would not make: its own walk answers
        return None
    reference = copy.copy(estimator)
    reference.n_jobs = None  # one thread: the trees summed in order (several add them as they finish)
    sizes = [*PROBE_ROWS, *([SHARED_FROM // len(members) + 1] if threads > 1 else [])]
    stacked = np.asfortranarray(np.random.default_rng(0).normal(0, 10, (sum(sizes), width)))
    # each row's answer is its own: the trees summed in order, row by row
    return kernel if holds(lambda: agrees_on_probes(kernel, reference.predict, stacked, sizes)) else None


class ForestKernel:
    """Per tree, what its `predict`/`predict_proba(X, check_input=False)` gives (`tree_.predict`:
    the leaf's values), summed from zeros in the trees' order and divided by their number, as
    `ForestRegressor.predict` and `ForestClassifier.predict_proba` do; a classifier's label is
    its class of highest mean probability, as `ForestClassifier.predict` takes it."""

    def __init__(
        self, trees: list[Any], classes: np.ndarray | None, threads: int, walk: ForestWalk | None = None
    ):
        """`walk`: the trees' walk, when made already."""
        self.trees, self.classes, self.threads = trees, classes, threads
        # node copies only where one row at least would take the walk (a tree that deep is rare)
        if walk is None and max(tree.max_depth for tree in trees) <= MAX_WALK_DEPTH:
            nodes = [TreeNodes.of(tree) for tree in trees]
            walk = ForestWalk(nodes, None if classes is None else len(classes))
        self.walk = walk

    def __call__(self, X: np.ndarray) -> np.ndarray:
        mean = self.mean(as_float32(X))
        return mean if self.classes is None else self.classes.take(np.argmax(mean, axis=1), axis=0)

    def _leaf_values(self, tree: Any, X32: np.ndarray) -> np.ndarray:
        values = tree.predict(X32)
        return values[:, 0] if self.classes is None else values[:, : len(self.classes)]

    def mean(self, X32: np.ndarray) -> np.ndarray:
        """The trees' mean leaf values for a float32 matrix."""
        trees, classes = self.trees, self.classes
        if self.walk is not None and self.walk.takes(len(X32)):
            total = self.walk.summed(X32, self.threads)
            total /= len(trees)
            return total
        shape = (len(X32),) if classes is None else (len(X32), len(classes))
        total = np.zeros(shape, dtype=np.float64)
        if self.threads > 1 and len(X32) * len(trees) >= SHARED_FROM:
            for start in range(0, len(X32), BLOCK_ROWS):
                block = X32[start : start + BLOCK_ROWS]
                for values in _shared(trees, block, self._leaf_values, self.threads):
                    total[start : start + BLOCK_ROWS] += values
        elif classes is None:  # the common case, its loop kept tight: one row, 100 trees
            for tree in trees:
                total += tree.predict(X32)[:, 0]
        else:
            for tree in trees:
                total += tree.predict(X32)[:, : len(classes)]
        total /= len(trees)
        return total


def as_float32(X: np.ndarray) -> np.ndarray:
    """`X` as a forest's `validate_data` converts it, refusing what it refuses: a value too large
    for float32 (a ValueError, which the caller answers as the model refusing the rows)."""
    with np.errstate(over="ignore"):
        X32 = np.asarray(X, dtype=np.float32)
    if np.isinf(X32).any():
        raise ValueError("Input X contains infinity or a value too large for dtype('float32').")
    return X32


def _shared(trees: list[Any], X32: np.ndarray, leaf_values: Callable, threads: int) -> list[np.ndarray]:
    """Every tree's leaf values for `X32`, in the trees' order, walked by `threads` threads."""
    values: list[Any] = [None] * len(trees)
    parts = np.array_split(np.arange(len(trees)), threads)

    def walk(indices: np.ndarray) -> None:
        for i in indices:
            values[i] = leaf_values(trees[i], X32)

    for done in [shared_pool(threads).submit(walk, part) for part in parts]:
        done.result()
    return values
