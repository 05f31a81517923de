"""A `HistGradientBoostingRegressor` or `HistGradientBoostingClassifier` read from a skops file's
schema without scikit-learn: each iteration's tree predictors (their node records and bitsets)
taken straight from their .npy files, the baselines from their own, the loss's link named by its
class, so serving it imports neither scikit-learn, scipy, pandas nor skops.

Only what skops writes for these estimators qualifies: one tree per iteration (a regressor, or a
classifier of two classes) or one per class (of more), no categorical feature (`_preprocessor`
null, no categorical split), a loss of `LOSSES` whose link holds no state (a regressor's, or a
classifier's of its number of classes), each tree predictor holding only arrays of the layout
scikit-learn writes (`NODE_FIELDS`), and every other field data (skops_nodes.py) but those the
prediction does not read (`UNREAD`: the binning, the random state, the label encoder; of the
loss, its link's class alone). Every tree must hold together as tree_checks.py requires of these
predictors (children after their parent and inside the tree, one parent each, split features
inside the model's width). Anything else gives None, and skops loads the file as before.
tests/test_skops_boosting.py proves the predictions bit for bit equal to the same file loaded by skops."""

from __future__ import annotations

import zipfile
from typing import Any

import numpy as np

from ..kernels.forest_walk import ForestWalk, TreeNodes
from . import skops_nodes as nodes
from .boosting_models import LINKS, Predictor, ReadBoosting, ReadBoostingClassifier
from .read_model import named
from .tree_checks import Unsound, check_links

MODULE = "sklearn.ensemble._hist_gradient_boosting.gradient_boosting"
REGRESSOR, CLASSIFIER = (MODULE, "HistGradientBoostingRegressor"), (MODULE, "HistGradientBoostingClassifier")
BOOSTING = frozenset({REGRESSOR, CLASSIFIER})
PREDICTOR = ("sklearn.ensemble._hist_gradient_boosting.predictor", "TreePredictor")
LOSS, LINK = "sklearn._loss.loss", "sklearn._loss.link"
LOSSES = {  # the loss's class: its link's class, and that link's name (boosting_models' links)
    (LOSS, "HalfSquaredError"): ((LINK, "IdentityLink"), "identity"),
    (LOSS, "AbsoluteError"): ((LINK, "IdentityLink"), "identity"),
    (LOSS, "PinballLoss"): ((LINK, "IdentityLink"), "identity"),
    (LOSS, "HalfPoissonLoss"): ((LINK, "LogLink"), "log"),
    (LOSS, "HalfGammaLoss"): ((LINK, "LogLink"), "log"),
    (LOSS, "HalfBinomialLoss"): ((LINK, "LogitLink"), "logit"),
    (LOSS, "HalfMultinomialLoss"): ((LINK, "MultinomialLogit"), "softmax"),
}
READ_APART = frozenset({"_loss", "_predictors"})  # checked and read on their own
UNREAD = frozenset({"_bin_mapper", "_random_seed", "_feature_subsample_rng", "_label_encoder"})
REQUIRED = READ_APART | {"_bin_mapper"}  # scikit-learn's predict asks its binning for categories
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


def read(schema: dict, archive: zipfile.ZipFile) -> ReadBoosting | None:
    """The model a skops file's schema describes, or None when it is not one this reads."""
    top, fields = nodes.object_class(schema), nodes.state_of(schema)
    if top not in BOOSTING or fields is None or not REQUIRED <= set(fields):
        return None
    if not all(nodes.data_only(node) for name, node in fields.items() if name not in UNREAD | READ_APART):
        return None
    if nodes.json_value(fields["_preprocessor"]) is not None:
        return None  # categorical features, encoded first
    width = nodes.json_value(fields["n_features_in_"])
    names = nodes.strings(fields["feature_names_in_"]) if "feature_names_in_" in fields else None
    if type(width) is not int or width < 1 or (names is not None and len(names) != width):
        return None
    columns, link = nodes.json_value(fields["n_trees_per_iteration_"]), _link(fields["_loss"])
    classes = nodes.classes(fields, archive) if top == CLASSIFIER else None
    if top == CLASSIFIER:
        if classes is None or len(classes) < 2:
            return None
        if (link, columns) != (("logit", 1) if len(classes) == 2 else ("softmax", len(classes))):
            return None  # the loss of its number of classes, one tree per class past two
    elif link not in LINKS or columns != 1:
        return None
    baselines = nodes.array(fields["_baseline_prediction"], archive)
    iterations = fields["_predictors"]
    if baselines.dtype != np.float64 or baselines.shape != (1, columns):
        return None
    if nodes.kind(iterations) != nodes.LIST or not iterations.get("content"):
        return None
    try:
        predictors = [_iteration(iteration, columns, width, archive) for iteration in iterations["content"]]
    except Unsound:
        return None
    walks = [
        ForestWalk([TreeNodes.of_predictor(trees[column][0]) for trees in predictors], None, np.float64)
        for column in range(columns)
    ]
    saved_with = nodes.json_value(fields["_sklearn_version"]) if "_sklearn_version" in fields else None
    saved_with = saved_with if isinstance(saved_with, str) else None
    model = named(top[1], ReadBoosting if classes is None else ReadBoostingClassifier)
    return model(predictors, walks, baselines, link, classes, width, names, saved_with)


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


def _iteration(iteration: Any, columns: int, width: int, archive: zipfile.ZipFile) -> list[Predictor]:
    """An iteration's tree predictors, one per column of the raw predictions."""
    if nodes.kind(iteration) != nodes.LIST or len(iteration.get("content", ())) != columns:
        raise Unsound("not one tree per column in an iteration")
    return [_predictor(predictor, width, archive) for predictor in iteration["content"]]


def _predictor(predictor: Any, width: int, archive: zipfile.ZipFile) -> Predictor:
    """A tree predictor's arrays, proven to hold together (Unsound otherwise)."""
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
