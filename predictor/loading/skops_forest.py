"""A random forest or extra trees (regressor or classifier, one output) read from a skops file's
schema without scikit-learn: each tree's node records and values taken straight from its .npy
files, so serving it imports neither scikit-learn, scipy, pandas nor skops.

Only what skops writes for these estimators qualifies: the forest of one of the `FORESTS`
classes, each member a tree of its kind (`MEMBERS`) holding a `Tree` of the node layout
scikit-learn writes (`NODE_FIELDS`), and beneath every other field only data (skops_nodes.py);
the forest's unfitted template (`estimator`, `estimator_`) is not read. Every tree must hold
together as scikit-learn's fitting leaves it (tree_checks.py's rules: children after their
parent and inside the tree, one parent each, split features inside the forest's width, the
recorded depth at least the deepest leaf's). Anything else gives None, and skops loads the file
as before (and names what is wrong with it). tests/test_skops_forest.py proves the predictions
bit for bit equal to the same file loaded by skops."""

from __future__ import annotations

import zipfile
from typing import Any

import numpy as np

from ..kernels.forest_walk import ForestWalk, TreeNodes
from . import skops_nodes as nodes
from .forest_models import ReadForest, ReadForestClassifier
from .read_model import named
from .tree_checks import Unsound, check_links, within_depth

FOREST, TREE = "sklearn.ensemble._forest", "sklearn.tree._classes"  # the classes' modules
REGRESSORS = {  # forest: the kind of its members
    (FOREST, "RandomForestRegressor"): (TREE, "DecisionTreeRegressor"),
    (FOREST, "ExtraTreesRegressor"): (TREE, "ExtraTreeRegressor"),
}
CLASSIFIERS = {
    (FOREST, "RandomForestClassifier"): (TREE, "DecisionTreeClassifier"),
    (FOREST, "ExtraTreesClassifier"): (TREE, "ExtraTreeClassifier"),
}
FORESTS = {**REGRESSORS, **CLASSIFIERS}
TEMPLATES = frozenset({"estimator", "estimator_"})  # the unfitted tree each member was cloned from
TREE_NODE = ("TreeNode", "sklearn.tree._tree", "Tree", None)
STATE = frozenset({"max_depth", "node_count", "nodes", "values"})  # a Tree's, as skops writes it
NODE_FIELDS = {  # scikit-learn's NODE_DTYPE, field: kind and size
    "left_child": ("i", 8),
    "right_child": ("i", 8),
    "feature": ("i", 8),
    "threshold": ("f", 8),
    "impurity": ("f", 8),
    "n_node_samples": ("i", 8),
    "weighted_n_node_samples": ("f", 8),
    "missing_go_to_left": ("u", 1),
}


def read(schema: dict, archive: zipfile.ZipFile) -> ReadForest | None:
    """The forest a skops file's schema describes, or None when it is not one this reads."""
    top = nodes.object_class(schema)
    fields = nodes.state_of(schema)
    if top not in FORESTS or fields is None or "estimators_" not in fields:
        return None
    others = [node for name, node in fields.items() if name not in {*TEMPLATES, "estimators_"}]
    if not all(nodes.data_only(node) for node in others):
        return None
    if nodes.json_value(fields.get("n_outputs_", {})) != 1:
        return None
    width = nodes.json_value(fields["n_features_in_"])
    names = nodes.strings(fields["feature_names_in_"]) if "feature_names_in_" in fields else None
    if type(width) is not int or width < 1 or (names is not None and len(names) != width):
        return None
    classes = nodes.classes(fields, archive) if top in CLASSIFIERS else None
    if top in CLASSIFIERS and classes is None:
        return None
    members = fields["estimators_"]
    if nodes.kind(members) != nodes.LIST or not members.get("content"):
        return None
    try:
        trees = [_tree(member, FORESTS[top], width, classes, archive) for member in members["content"]]
    except Unsound:
        return None
    kind = ReadForestClassifier if classes is not None else ReadForest
    walk = ForestWalk(trees, None if classes is None else len(classes))
    saved_with = nodes.json_value(fields["_sklearn_version"]) if "_sklearn_version" in fields else None
    saved_with = saved_with if isinstance(saved_with, str) else None
    return named(top[1], kind)(trees, walk, classes, width, names, saved_with)


def _tree(
    member: Any, kind: tuple[str, str], width: int, classes: np.ndarray | None, archive: zipfile.ZipFile
) -> TreeNodes:
    """A member's tree, proven to hold together (Unsound otherwise)."""
    fields = nodes.state_of(member) if nodes.object_class(member) == kind else None
    if fields is None or "tree_" not in fields:
        raise Unsound("not a tree of the forest's kind")
    if not all(nodes.data_only(node) for name, node in fields.items() if name != "tree_"):
        raise Unsound("a member holding more than data")
    if nodes.json_value(fields["n_features_in_"]) != width or nodes.json_value(fields["n_outputs_"]) != 1:
        raise Unsound("a member of another width or outputs")
    tree = fields["tree_"]
    state = nodes.state_of(tree) if nodes.kind(tree) == TREE_NODE else None
    args = (tree.get("__reduce__") or {}).get("args")
    if state is None or set(state) != STATE or nodes.kind(args) != nodes.TUPLE:
        raise Unsound("not a tree as skops writes one")
    if not all(nodes.data_only(node) for node in [*state.values(), args]):
        raise Unsound("a tree holding more than data")
    n_features, n_classes, n_outputs = args["content"]
    counts = nodes.array(n_classes, archive)
    wanted = [1] if classes is None else [len(classes)]
    if nodes.json_value(n_features) != width or nodes.json_value(n_outputs) != 1 or counts.tolist() != wanted:
        raise Unsound("a tree of another width, outputs or classes")
    records, values = nodes.array(state["nodes"], archive), nodes.array(state["values"], archive)
    depth, count = nodes.json_value(state["max_depth"]), nodes.json_value(state["node_count"])
    _check(records, values, depth, count, width, wanted[0])
    return TreeNodes(records, values, depth)


def _check(records: np.ndarray, values: np.ndarray, depth: Any, count: Any, width: int, classes: int) -> None:
    fields = records.dtype.fields or {}
    if {name: (fields[name][0].kind, fields[name][0].itemsize) for name in fields} != NODE_FIELDS:
        raise Unsound("node records of another layout")
    if type(count) is not int or type(depth) is not int or count < 1 or depth < 0:
        raise Unsound("a node count or depth that is not the tree's")
    if records.shape != (count,):
        raise Unsound("a node count or depth that is not the tree's")
    if values.dtype != np.float64 or values.shape != (count, 1, classes):
        raise Unsound("values of another shape")
    left, right = records["left_child"], records["right_child"]
    leaf = left == -1
    check_links(left, right, leaf, "the tree")
    features = records["feature"][~leaf]
    if features.size and (features.min() < 0 or features.max() >= width):
        raise Unsound("a split on a feature outside the forest's width")
    if not within_depth(left, right, ~leaf, depth):
        raise Unsound("leaves deeper than the recorded depth")
