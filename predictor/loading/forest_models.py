"""Random forests and extra trees read without scikit-learn (loading/skops_forest.py reads them
from skops files): each predicts a dense matrix as the forest's `predict` does, its trees
walked together in numpy (predictor/kernels/forest_walk.py), with the forest's checks of the
input first: 2-D, as wide as fitted, every value a float32 or missing (the trees take NaN)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..kernels.built_once import BuiltOnce, scikit_learn_import_bytes
from ..kernels.forest import ForestKernel, as_float32
from ..kernels.forest_walk import ForestWalk, TreeNodes
from .read_model import ReadModel

COMPILED_FROM = 100_000  # (row, tree) pairs from which a batch takes the compiled trees, once built


class ForestMean:
    """The trees' mean leaf values for a float64 matrix (ValueError for a value float32 cannot
    hold); a classifier's label is its class of highest mean probability.

    Walked in numpy up to `COMPILED_FROM` (row, tree) pairs. The first larger batch starts
    building scikit-learn's compiled trees from the same nodes in the background (importing
    scikit-learn: a second, once, beside the requests) and is walked meanwhile; once built, the
    larger batches take them (kernels/forest.py: deep trees' leaves at many depths, and threads
    that share the trees, walk faster compiled)."""

    takes_missing = True  # a row with missing values walks as the trees' nodes record

    def __init__(self, walk: ForestWalk, classes: np.ndarray | None, trees: list[TreeNodes], width: int):
        self.walk, self.classes, self.threads = walk, classes, 1
        self._trees, self._width = trees, width
        self.compiled = BuiltOnce(self._compiled_trees, "the forest's compiled trees", self._build_bytes)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        mean = self.mean(as_float32(X))
        return mean if self.classes is None else self.classes.take(np.argmax(mean, axis=1), axis=0)

    def mean(self, X32: np.ndarray) -> np.ndarray:
        if len(X32) * self.walk.trees >= COMPILED_FROM:
            compiled = self.compiled.get()
            if compiled is not None:
                return compiled.mean(X32)
        total = self.walk.summed(X32, self.threads)
        total /= self.walk.trees
        return total

    def built_bytes(self) -> int:
        """What the compiled trees hold once built: a copy of every tree's nodes and values."""
        return self._copied_bytes() if self.compiled.built() else 0

    def _copied_bytes(self) -> int:
        return sum(t.nodes.nbytes + t.values.nbytes for t in self._trees)

    def _build_bytes(self) -> int:
        return self._copied_bytes() + scikit_learn_import_bytes()

    def _compiled_trees(self) -> ForestKernel:
        from sklearn.tree._tree import Tree

        outputs = np.array([1 if self.classes is None else len(self.classes)], dtype=np.intp)
        trees = []
        for tree_nodes in self._trees:
            tree = Tree(self._width, outputs, 1)
            state = {"max_depth": tree_nodes.depth, "node_count": len(tree_nodes.nodes)}
            tree.__setstate__({**state, "nodes": tree_nodes.nodes, "values": tree_nodes.values})
            trees.append(tree)
        return ForestKernel(trees, self.classes, self.threads, self.walk)


class ReadForest(ReadModel):
    """A fitted forest of regression trees (of classification trees with `classes`), one output."""

    def __init__(
        self,
        trees: list[TreeNodes],
        walk: ForestWalk,
        classes: np.ndarray | None,
        width: int,
        names: np.ndarray | None,
        saved_with: str | None,
    ):
        super().__init__(trees, walk, classes, width, names, saved_with)
        self._takes(width, names, saved_with)
        self.n_outputs_ = 1
        self.kernel = ForestMean(walk, classes, trees, width)

    def use_threads(self, threads: int) -> None:
        self.kernel.threads = threads

    def _checked(self, X: Any) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"expected a 2-D input of {self.n_features_in_} features, got shape {X.shape}")
        return X  # missing values walk as the trees record; a value too large, the kernel refuses


class ReadForestClassifier(ReadForest):
    """A fitted forest of classification trees, one output: its probabilities are the trees'
    mean, its label the class of the highest."""

    def __init__(self, *fields: Any):
        super().__init__(*fields)
        self.classes_ = self.kernel.classes

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.kernel.mean(as_float32(self._checked(X)))

    def predict_log_proba(self, X: Any) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))
