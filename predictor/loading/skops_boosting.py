"""A `HistGradientBoostingRegressor` read from a skops file's schema without scikit-learn: each
iteration's tree predictor (its node records and bitsets) taken straight from its .npy files,
the baseline from its own, the loss's link named by its class, so serving it imports neither
scikit-learn, scipy, pandas nor skops.

Only what skops writes for this estimator qualifies: one tree per iteration (a regressor), no
categorical feature (`_preprocessor` null, no categorical split), a loss of `LOSSES` whose link
holds no state, each tree predictor holding only arrays of the layout scikit-learn writes
(`NODE_FIELDS`), and every other field data (skops_nodes.py) but those the prediction does not
read (`UNREAD`: the binning, the random state, the loss's own internals). Every tree must hold
together as tree_checks.py requires of these predictors (children after their parent and inside
the tree, one parent each, split features inside the model's width). Anything else gives None,
and skops loads the file as before. tests/test_skops_boosting.py proves the predictions bit for
bit equal to the same file loaded by skops."""

from __future__ import annotations

import zipfile
from typing import Any

import numpy as np

from ..kernels.forest_walk import ForestWalk, TreeNodes
from . import skops_nodes as nodes
from .boosting_models import ReadBoosting
from .read_model import named
from .tree_checks import Unsound, check_links

BOOSTING = ("sklearn.ensemble._hist_gradient_boosting.gradient_boosting", "HistGradientBoostingRegressor")
PREDICTOR = ("sklearn.ensemble._hist_gradient_boosting.predictor", "TreePredictor")
LOSS, LINK = "sklearn._loss.loss", "sklearn._loss.link"
LOSSES = {  # the loss's class: its link's class, and that link's name (boosting_models.LINKS)
    (LOSS, "HalfSquaredError"): ((LINK, "IdentityLink"), "identity"),
    (LOSS, "AbsoluteError"): ((LINK, "IdentityLink"), "identity"),
    (LOSS, "PinballLoss"): ((LINK, "IdentityLink"), "identity"),
    (LOSS, "HalfPoissonLoss"): ((LINK, "LogLink"), "log"),
    (LOSS, "HalfGammaLoss"): ((LINK, "LogLink"), "log"),
}
UNREAD = frozenset({"_loss", "_bin_mapper", "_random_seed", "_feature_subsample_rng", "_predictors"})
NODE_FIELDS = {  # scikit-learn's PREDICTOR_RECORD_DTYPE, field: kind and size
    "value": ("f", 8),
    "count": ("u", 4),
    "feature_idx": ("i", 8),
    "num_threshold": ("f", 8),
    "missing_go_to_left": ("u", 1),
    "left": ("u", 4),
    "right": ("u", 4),
    "gain": ("f", 8),
    "depth": ("u", 4),
    "is_leaf": ("u", 1),
    "bin_threshold": ("u", 1),
    "is_categorical": ("u", 1),
    "bitset_idx": ("u", 4),
}
WALKED = np.dtype(  # what the walk reads of a tree, in scikit-learn's Tree layout
    [
        ("left_child", "<i8"),
        ("right_child", "<i8"),
        ("feature", "<i8"),
        ("threshold", "<f8"),
        ("missing_go_to_left", "u1"),
    ]
)


def read(schema: dict, archive: zipfile.ZipFile) -> ReadBoosting | None:
    """The model a skops file's schema describes, or None when it is not one this reads."""
    fields = nodes.state_of(schema)
    if nodes.object_class(schema) != BOOSTING or fields is None or not UNREAD <= set(fields):
        return None
    if not all(nodes.data_only(node) for name, node in fields.items() if name not in UNREAD):
        return None
    if (
        nodes.json_value(fields["n_trees_per_iteration_"]) != 1
        or nodes.json_value(fields["_preprocessor"]) is not None
    ):
        return None
    width = nodes.json_value(fields["n_features_in_"])
    names = nodes.strings(fields["feature_names_in_"]) if "feature_names_in_" in fields else None
    if type(width) is not int or width < 1 or (names is not None and len(names) != width):
        return None
    link = _link(fields["_loss"])
    baseline = nodes.array(fields["_baseline_prediction"], archive)
    if link is None or baseline.dtype != np.float64 or baseline.shape != (1, 1):
        return None
    iterations = fields["_predictors"]
    if nodes.kind(iterations) != nodes.LIST or not iterations.get("content"):
        return None
    try:
        predictors = [_predictor(iteration, width, archive) for iteration in iterations["content"]]
    except Unsound:
        return None
    walk = ForestWalk([_walked(records) for records, _, _ in predictors], None, np.float64)
    saved_with = nodes.json_value(fields["_sklearn_version"]) if "_sklearn_version" in fields else None
    saved_with = saved_with if isinstance(saved_with, str) else None
    return named(BOOSTING[1], ReadBoosting)(
        predictors, walk, float(baseline[0, 0]), link, width, names, saved_with
    )


def _link(loss: Any) -> str | None:
    """The name of the link of a loss of `LOSSES` whose link holds nothing."""
    fields = nodes.state_of(loss) if nodes.object_class(loss) in LOSSES else None
    if fields is None or "link" not in fields:
        return None
    link_class, name = LOSSES[nodes.object_class(loss)]
    link = fields["link"]
    if nodes.object_class(link) != link_class or nodes.json_value(link.get("content", {})) is not None:
        return None
    return name


def _predictor(iteration: Any, width: int, archive: zipfile.ZipFile) -> tuple[np.ndarray, ...]:
    """An iteration's one tree predictor's arrays, proven to hold together (Unsound otherwise)."""
    if nodes.kind(iteration) != nodes.LIST or len(iteration.get("content", ())) != 1:
        raise Unsound("not one tree per iteration")
    predictor = iteration["content"][0]
    fields = nodes.state_of(predictor) if nodes.object_class(predictor) == PREDICTOR else None
    arrays = ("nodes", "binned_left_cat_bitsets", "raw_left_cat_bitsets")
    if fields is None or set(fields) != set(arrays) or not all(map(nodes.data_only, fields.values())):
        raise Unsound("not a tree predictor as skops writes one")
    records, binned, raw = (nodes.array(fields[name], archive) for name in arrays)
    layout = records.dtype.fields or {}
    if {name: (layout[name][0].kind, layout[name][0].itemsize) for name in layout} != NODE_FIELDS:
        raise Unsound("node records of another layout")
    if records.ndim != 1 or not len(records):
        raise Unsound("no nodes")
    leaf = records["is_leaf"] != 0
    check_links(records["left"].astype(np.int64), records["right"].astype(np.int64), leaf, "the tree")
    if records["is_categorical"][~leaf].any():
        raise Unsound("a categorical split")
    features = records["feature_idx"][~leaf]
    if features.size and (features.min() < 0 or features.max() >= width):
        raise Unsound("a split on a feature outside the model's width")
    for bitsets in (binned, raw):
        if bitsets.dtype != np.uint32 or bitsets.ndim != 2 or bitsets.shape[1] != 8:
            raise Unsound("bitsets of another shape")
    return records, binned, raw


def _walked(records: np.ndarray) -> TreeNodes:
    """A tree predictor's nodes as the walk reads them: a leaf's children -1."""
    leaf = records["is_leaf"] != 0
    walked = np.zeros(len(records), dtype=WALKED)
    walked["left_child"] = np.where(leaf, -1, records["left"].astype(np.int64))
    walked["right_child"] = np.where(leaf, -1, records["right"].astype(np.int64))
    walked["feature"] = np.where(leaf, 0, records["feature_idx"])
    walked["threshold"] = records["num_threshold"]
    walked["missing_go_to_left"] = records["missing_go_to_left"]
    return TreeNodes(walked, records["value"].reshape(-1, 1, 1), 0)
