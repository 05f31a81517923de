"""Trees from a skops file, proven to hold together before anything predicts with them.

scikit-learn walks a tree's nodes in compiled code without bounds checks: a child index, a
feature index or a depth that a crafted file sets out of range would crash the worker or read
memory (skops warns of it, and so does not trust these types by default). So a skops file
holding `CHECKED_TYPES` loads with no SKOPS_TRUSTED_TYPES only when, once loaded, every tree
holds what scikit-learn's own fitting always gives it:
- a node is a leaf (both children -1) or has both children after it and inside the tree, and
  each node has at most one parent: every walk ends, inside the node array;
- a split's feature is inside the matrix its tree is handed: below the tree's width, and that
  width is the one its owner validates the input against (a decision tree's `n_features_in_`,
  a forest's or gradient boosting's for the trees they call unchecked, an isolation forest's
  sampled features);
- the depth a tree records is at least its deepest leaf's (scikit-learn sizes a buffer by it);
- gradient boosting holds one tree per output it writes; histogram gradient boosting splits on
  no categorical feature (those read bitsets through one more index, and need a preprocessing
  step skops does not trust anyway) and holds one predictor per output per iteration.
Anything else is refused (503 `model_untrusted`) naming what is wrong. Naming a type in
SKOPS_TRUSTED_TYPES (for a model you made) loads it unchecked, as before.
"""

from __future__ import annotations

import numbers
import sys
from collections.abc import Collection, Iterator
from typing import Any

import numpy as np

from ..errors import UntrustedArtifact

TREE = "sklearn.tree._tree.Tree"
HIST_PREDICTOR = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"
CHECKED_TYPES = frozenset({TREE, HIST_PREDICTOR})


def holds_checked_types() -> bool:
    """Whether a model loaded now may hold a checked type: skops imports a type's module to make
    one, so neither module imported means no tree (and nothing to import to walk the model)."""
    return any(name.rpartition(".")[0] in sys.modules for name in CHECKED_TYPES)


class Unsound(Exception):
    """What a tree holds that scikit-learn's fitting never gives it."""


def check_trees(model: Any, file_name: str, vouched: Collection[str] = ()) -> None:
    """Raise UntrustedArtifact unless every tree and tree predictor in `model` is sound; the
    types the user `vouched` for (SKOPS_TRUSTED_TYPES) are not checked."""
    from sklearn.ensemble import IsolationForest
    from sklearn.ensemble._forest import BaseForest
    from sklearn.ensemble._gb import BaseGradientBoosting
    from sklearn.ensemble._hist_gradient_boosting.gradient_boosting import BaseHistGradientBoosting
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    from sklearn.tree._tree import Tree

    trees = TREE not in vouched
    predictors = HIST_PREDICTOR not in vouched
    found: dict[int, str] = {}
    proven: set[int] = set()
    try:
        for where, obj in _walk(model):
            if (trees and isinstance(obj, Tree)) or (predictors and isinstance(obj, TreePredictor)):
                found[id(obj)] = where
            elif trees and isinstance(getattr(obj, "tree_", None), Tree):
                _check_tree(obj.tree_, _width(obj, where), where)
                proven.add(id(obj.tree_))
            if trees and isinstance(obj, BaseForest):
                _check_members(obj.estimators_, _width(obj, where), where)
            elif trees and isinstance(obj, IsolationForest):
                _check_isolation_forest(obj, where)
            elif trees and isinstance(obj, BaseGradientBoosting):
                _check_gradient_boosting(obj, where)
            elif predictors and isinstance(obj, BaseHistGradientBoosting):
                proven |= _check_hist_gradient_boosting(obj, where)
            # other ensembles (bagging, AdaBoost, voting, stacking) call each member's own
            # predict, which checks the input's width
        stray = [where for key, where in found.items() if key not in proven]
        if stray:
            raise Unsound(f"{stray[0]} is a tree no estimator owns")
    except Unsound as unsound:
        raise UntrustedArtifact(
            f"'{file_name}' holds a tree that scikit-learn's fitting could not have made: {unsound}; "
            "it was not loaded (predicting with it could crash the worker or read memory). If you "
            f"made this file, SKOPS_TRUSTED_TYPES={TREE},{HIST_PREDICTOR} loads it unchecked",
            {"untrusted_types": sorted(CHECKED_TYPES)},
        ) from None


def _walk(model: Any) -> Iterator[tuple[str, Any]]:
    """Every object reachable from `model` once, through estimators' attributes, lists, tuples,
    dicts and object arrays, with a path to name it by."""
    seen: set[int] = set()
    stack = [("model", model)]
    while stack:
        where, obj = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, (str, bytes, numbers.Number)):
            continue
        seen.add(id(obj))
        yield where, obj
        if isinstance(obj, dict):
            stack.extend((f"{where}[{key!r}]", value) for key, value in obj.items())
        elif isinstance(obj, (list, tuple)):
            stack.extend((f"{where}[{i}]", value) for i, value in enumerate(obj))
        elif isinstance(obj, np.ndarray):
            if obj.dtype == object:
                stack.extend((f"{where}[{i}]", value) for i, value in enumerate(obj.ravel()))
        elif hasattr(obj, "__dict__") and not isinstance(obj, type):
            stack.extend((f"{where}.{name}", value) for name, value in vars(obj).items())


def _width(owner: Any, where: str) -> int:
    width = getattr(owner, "n_features_in_", None)
    if not isinstance(width, numbers.Integral) or isinstance(width, bool) or width < 1:
        raise Unsound(f"{where} records no number of input features (n_features_in_: {width!r})")
    return int(width)


def _check_tree(tree: Any, width: int, where: str) -> None:
    """A tree's nodes, against the width of the matrix its owner validates."""
    if tree.n_features != width:
        raise Unsound(f"{where}'s tree is {tree.n_features} features wide, its estimator {width}")
    # scikit-learn keeps node_count within the nodes a file holds; this keeps it so, before the
    # arrays are read by it
    if tree.node_count != tree.capacity or tree.node_count < 1:
        raise Unsound(f"{where}'s tree counts {tree.node_count} nodes but holds {tree.capacity}")
    nodes = tree.__getstate__()["nodes"]
    at = f"{where}.tree_"
    check_links(nodes["left_child"], nodes["right_child"], nodes["left_child"] == -1, at)
    inner = nodes["left_child"] != -1
    features = nodes["feature"][inner]
    if features.size and (features.min() < 0 or features.max() >= width):
        node = int(np.flatnonzero(inner)[np.argmax((features < 0) | (features >= width))])
        raise Unsound(f"{at} node {node} splits on feature {nodes['feature'][node]} of {width}")
    if not within_depth(nodes["left_child"], nodes["right_child"], inner, tree.max_depth):
        raise Unsound(f"{at} records a depth of {tree.max_depth} but has leaves deeper than that")


def check_links(left: np.ndarray, right: np.ndarray, leaf: np.ndarray, where: str) -> None:
    count = len(left)
    index = np.arange(count)
    inside = (left > index) & (left < count) & (right > index) & (right < count)
    sound = leaf | inside  # a leaf's children are never read
    if not sound.all():
        node = int(np.argmin(sound))
        raise Unsound(
            f"{where} node {node} of {count} has children {left[node]} and {right[node]}"
            " (a split's children come after it, inside the tree)"
        )
    children = np.concatenate((left[~leaf], right[~leaf]))
    if children.size and np.bincount(children, minlength=count).max() > 1:
        node = int(np.argmax(np.bincount(children, minlength=count)))
        raise Unsound(f"{where} node {node} has two parents")


def within_depth(left: np.ndarray, right: np.ndarray, inner: np.ndarray, bound: int) -> bool:
    """Whether every leaf is at most `bound` levels below the root (walked level by level)."""
    level = np.array([0])
    for _ in range(max(bound, 0) + 1):
        splits = level[inner[level]]
        if not splits.size:
            return True
        level = np.concatenate((left[splits], right[splits]))
    return False


def _check_members(members: Any, width: int, where: str) -> None:
    """Trees an ensemble calls without checking the input: as wide as the ensemble."""
    for i, member in enumerate(members):
        if _width(member, f"{where}.estimators_[{i}]") != width:
            raise Unsound(f"{where}.estimators_[{i}] is {member.n_features_in_} features wide, not {width}")


def _check_isolation_forest(forest: Any, where: str) -> None:
    """Each tree is handed the features it was sampled with (all of them when it samples all)."""
    _width(forest, where)
    sampled = getattr(forest, "_max_features", None)
    for i, (member, features) in enumerate(zip(forest.estimators_, forest.estimators_features_)):
        width = _width(member, f"{where}.estimators_[{i}]")
        if not (width == len(features) == sampled):
            raise Unsound(
                f"{where}.estimators_[{i}] is {width} features wide, sampled {len(features)},"
                f" and the forest samples {sampled!r}"
            )


def _check_gradient_boosting(model: Any, where: str) -> None:
    """Every stage's trees as wide as the model, one per output the stages are added to."""
    width = _width(model, where)
    stages = getattr(model, "estimators_", None)
    if not isinstance(stages, np.ndarray) or stages.ndim != 2 or stages.dtype != object:
        raise Unsound(f"{where}.estimators_ is not a table of trees")
    _check_members(stages.ravel(), width, where)
    try:
        outputs = model._raw_predict_init(np.zeros((1, width), dtype=np.float32)).shape[1]
    except (ValueError, TypeError, AttributeError, IndexError) as error:  # nor could predict
        raise Unsound(f"{where} cannot start a prediction ({type(error).__name__})") from None
    if stages.shape[1] != outputs:
        raise Unsound(f"{where} has {stages.shape[1]} trees per stage for {outputs} outputs")


def _check_hist_gradient_boosting(model: Any, where: str) -> set[int]:
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE

    width = _width(model, where)
    if getattr(model, "_preprocessor", None) is not None:
        raise Unsound(f"{where} has categorical features (their splits are not checked)")
    per_iteration = getattr(model, "n_trees_per_iteration_", None)
    proven = set()
    for i, iteration in enumerate(model._predictors):
        if len(iteration) != per_iteration:
            raise Unsound(f"{where} iteration {i} has {len(iteration)} trees, not {per_iteration!r}")
        for k, predictor in enumerate(iteration):
            at = f"{where}._predictors[{i}][{k}]"
            nodes = predictor.nodes
            if not isinstance(nodes, np.ndarray) or nodes.dtype != PREDICTOR_RECORD_DTYPE or nodes.ndim != 1:
                raise Unsound(f"{at} has no node array")
            if not len(nodes):
                raise Unsound(f"{at} has no nodes")
            leaf = nodes["is_leaf"] != 0
            check_links(nodes["left"].astype(np.int64), nodes["right"].astype(np.int64), leaf, at)
            if nodes["is_categorical"][~leaf].any():
                raise Unsound(f"{at} splits on a categorical feature (not checked)")
            features = nodes["feature_idx"][~leaf]
            if features.size and (features.min() < 0 or features.max() >= width):
                raise Unsound(f"{at} splits on feature {features.max()} of {width}")
            proven.add(id(predictor))
    return proven
