"""Histogram gradient boosting read without scikit-learn (loading/skops_boosting.py reads it from
skops files): a regressor or a classifier predicting a dense matrix as scikit-learn's does. The
raw predictions are one column per tree of an iteration (a regressor's or two classes' one; one
per class past two): the column's baseline plus its trees' leaf values in the iterations' order,
walked together in numpy (predictor/kernels/forest_walk.py, in float64). A regressor answers
their loss's inverse link; a classifier the class the raw values pick, and its probabilities as
its loss computes them (two classes: scipy's `expit`, imported on the first such request; more:
the softmax)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..kernels.built_once import BuiltOnce, scikit_learn_import_bytes
from ..kernels.forest_walk import ForestWalk
from .read_model import ReadModel

# (row, tree) pairs from which a batch takes the compiled trees once built, on one thread (on n
# threads, from a n-th of them): measured in process, 100 trees fitted on the wine data, the
# walk is faster up to ~500 rows on one thread (256: 1.2 ms against 1.5), ~150 on two (100:
# 0.53 against 0.55; 256: 1.2 against 0.8)
COMPILED_FROM = 50_000
LINKS = {"identity": None, "log": np.exp}  # a regressor's links: the inverse of each

Predictor = tuple[np.ndarray, np.ndarray, np.ndarray]  # a tree predictor's nodes and bitsets


class BoostingRaw:
    """The raw predictions of a float64 matrix, (rows, columns): missing values go the way each
    split learned.

    Walked in numpy up to `COMPILED_FROM` (row, tree) pairs on one thread, a n-th of them on n
    threads. The first larger batch starts building scikit-learn's compiled tree predictors
    from the same nodes in the background (importing scikit-learn: a second, once, beside the
    requests) and is walked meanwhile; once built, the larger batches take them (faster
    compiled, on the model's threads)."""

    def __init__(self, walks: list[ForestWalk], baselines: np.ndarray, predictors: list[list[Predictor]]):
        """`baselines`: (1, columns), as scikit-learn keeps them."""
        self.walks, self.baselines, self.threads = walks, baselines, 1
        self._predictors = predictors  # per iteration, per column: as scikit-learn keeps them
        # the compiled predictors take the nodes as they are: what they add is the import
        self.compiled = BuiltOnce(
            self._compiled_predictors, "the boosting model's compiled trees", scikit_learn_import_bytes
        )

    def __call__(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if len(X) * len(self._predictors) * len(self.walks) * self.threads >= COMPILED_FROM:
            compiled = self.compiled.get()
            if compiled is not None:
                return compiled(X)
        raw = np.empty((len(X), len(self.walks)), dtype=np.float64, order="F")
        for column, (walk, baseline) in enumerate(zip(self.walks, self.baselines[0], strict=True)):
            raw[:, column] = walk.summed(X, self.threads, baseline)
        return raw

    def _compiled_predictors(self) -> Callable[[np.ndarray], np.ndarray]:
        from sklearn.ensemble._hist_gradient_boosting.common import X_BITSET_INNER_DTYPE
        from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

        iterations = [
            [TreePredictor(*arrays) for arrays in of_iteration] for of_iteration in self._predictors
        ]
        no_categories = np.zeros((0, 8), dtype=X_BITSET_INNER_DTYPE)
        no_features = np.zeros(0, dtype=np.uint32)

        def raw(X: np.ndarray) -> np.ndarray:
            """`_raw_predict`: zeros plus the baselines, each tree's values added in turn."""
            total = np.zeros((len(X), len(self.walks)), dtype=np.float64, order="F")
            total += self.baselines
            for of_iteration in iterations:
                for column, predictor in enumerate(of_iteration):  # on the model's OpenMP threads
                    total[:, column] += predictor.predict(X, no_categories, no_features, self.threads)
            return total

        return raw


class Regression:
    """A regressor's predictions: the raw column through the loss's inverse link."""

    takes_missing = True

    def __init__(self, raw: BoostingRaw, link: str):
        self.raw, self.inverse = raw, LINKS[link]

    def __call__(self, X: np.ndarray) -> np.ndarray:
        raw = self.raw(X)[:, 0]
        return raw if self.inverse is None else self.inverse(raw)


class Labels:
    """A classifier's labels: of two classes, the second where the raw value is above zero;
    of more, the class of the highest raw value."""

    takes_missing = True

    def __init__(self, raw: BoostingRaw, classes: np.ndarray):
        self.raw, self.classes = raw, classes

    def __call__(self, X: np.ndarray) -> np.ndarray:
        raw = self.raw(X)
        encoded = (raw.ravel() > 0).astype(int) if raw.shape[1] == 1 else np.argmax(raw, axis=1)
        return self.classes[encoded]


class ReadBoosting(ReadModel):
    """A fitted `HistGradientBoostingRegressor` of numeric splits."""

    def __init__(
        self,
        predictors: list[list[Predictor]],
        walks: list[ForestWalk],
        baselines: np.ndarray,
        link: str,
        classes: np.ndarray | None,
        width: int,
        names: np.ndarray | None,
        saved_with: str | None,
    ):
        super().__init__(predictors, walks, baselines, link, classes, width, names, saved_with)
        self._takes(width, names, saved_with)
        self.link, self.raw = link, BoostingRaw(walks, baselines, predictors)
        self.kernel = Regression(self.raw, link) if classes is None else Labels(self.raw, classes)

    def use_threads(self, threads: int) -> None:
        self.raw.threads = threads

    def _checked(self, X: Any) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)  # as its validate_data converts it; NaN and inf taken
        if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"expected a 2-D input of {self.n_features_in_} features, got shape {X.shape}")
        return X


class ReadBoostingClassifier(ReadBoosting):
    """A fitted `HistGradientBoostingClassifier` of numeric splits."""

    def __init__(self, *fields: Any):
        super().__init__(*fields)
        self.classes_ = self.kernel.classes

    def predict_proba(self, X: Any) -> np.ndarray:
        raw = self.raw(self._checked(X))
        if self.link == "logit":  # HalfBinomialLoss.predict_proba
            from scipy.special import expit  # a tenth of a second, on the first such request

            proba = np.empty((len(raw), 2), dtype=raw.dtype)
            proba[:, 1] = expit(raw.ravel())
            proba[:, 0] = 1 - proba[:, 1]
            return proba
        scores = np.array(raw, copy=True)  # scikit-learn's softmax
        scores -= np.reshape(np.max(scores, axis=1), (-1, 1))
        np.exp(scores, out=scores)
        scores /= np.reshape(np.sum(scores, axis=1), (-1, 1))
        return scores

    def decision_function(self, X: Any) -> np.ndarray:
        raw = self.raw(self._checked(X))
        return raw.ravel() if raw.shape[1] == 1 else raw
