"""Histogram gradient boosting regressors read without scikit-learn (loading/skops_boosting.py
reads them from skops files): each predicts a dense matrix as `HistGradientBoostingRegressor`
does, its trees walked together in numpy (predictor/kernels/forest_walk.py, in float64), the
leaves' values added to the baseline in the iterations' order, then the loss's inverse link."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..kernels.built_once import BuiltOnce
from ..kernels.forest_walk import ForestWalk
from .read_model import ReadModel

# (row, tree) pairs from which a batch takes the compiled trees once built, on one thread (on n
# threads, from a n-th of them): measured in process, 100 trees fitted on the wine data, the
# walk is faster up to ~500 rows on one thread (256: 1.2 ms against 1.5), ~150 on two (100:
# 0.53 against 0.55; 256: 1.2 against 0.8)
COMPILED_FROM = 50_000
LINKS = {"identity": None, "log": np.exp}  # the inverse of each link the reader takes


class BoostingSum:
    """The baseline plus the trees' leaf values through the inverse link, for a float64 matrix
    (missing values go the way each split learned).

    Walked in numpy up to `COMPILED_FROM` (row, tree) pairs on one thread, a n-th of them on n
    threads. The first larger batch starts building scikit-learn's compiled tree predictors
    from the same nodes in the background (importing scikit-learn: a second, once, beside the
    requests) and is walked meanwhile; once built, the larger batches take them (faster
    compiled, on the model's threads)."""

    takes_missing = True

    def __init__(
        self, walk: ForestWalk, baseline: float, link: str, predictors: list[tuple[np.ndarray, ...]]
    ):
        self.walk, self.baseline, self.inverse, self.threads = walk, baseline, LINKS[link], 1
        self._predictors = predictors  # each tree's nodes and bitsets, as scikit-learn keeps them
        self.compiled = BuiltOnce(self._compiled_predictors, "the boosting model's compiled trees")

    def __call__(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if len(X) * self.walk.trees * self.threads >= COMPILED_FROM:
            compiled = self.compiled.get()
            if compiled is not None:
                return self._linked(compiled(X))
        return self._linked(self.walk.summed(X, self.threads, self.baseline))

    def _linked(self, raw: np.ndarray) -> np.ndarray:
        return raw if self.inverse is None else self.inverse(raw)

    def _compiled_predictors(self) -> Callable[[np.ndarray], np.ndarray]:
        from sklearn.ensemble._hist_gradient_boosting.common import X_BITSET_INNER_DTYPE
        from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

        predictors = [TreePredictor(*arrays) for arrays in self._predictors]
        no_categories = np.zeros((0, 8), dtype=X_BITSET_INNER_DTYPE)
        no_features = np.zeros(0, dtype=np.uint32)

        def raw(X: np.ndarray) -> np.ndarray:
            """`_raw_predict`: zeros plus the baseline, each tree's values added in turn."""
            total = np.zeros(len(X), dtype=np.float64)
            total += self.baseline
            for predictor in predictors:  # on the OpenMP threads the model may use
                total += predictor.predict(X, no_categories, no_features, self.threads)
            return total

        return raw


class ReadBoosting(ReadModel):
    """A fitted `HistGradientBoostingRegressor` of numeric splits."""

    def __init__(
        self,
        predictors: list[tuple[np.ndarray, ...]],
        walk: ForestWalk,
        baseline: float,
        link: str,
        width: int,
        names: np.ndarray | None,
        saved_with: str | None,
    ):
        super().__init__(predictors, walk, baseline, link, width, names, saved_with)
        self._takes(width, names, saved_with)
        self.kernel = BoostingSum(walk, baseline, link, predictors)

    def use_threads(self, threads: int) -> None:
        self.kernel.threads = threads

    def _checked(self, X: Any) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)  # as its validate_data converts it; NaN and inf taken
        if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"expected a 2-D input of {self.n_features_in_} features, got shape {X.shape}")
        return X
