"""A forest's trees walked all at once in numpy, a level at a time, over one set of arrays made
from their nodes: one compiled call per tree (~3 µs each, 100 trees) costs more than this for
small batches, and a model read without scikit-learn (loading/forest_models.py,
loading/boosting_models.py) walks its batches so. The answer is the compiled walk's to the bit:
each row's value is compared with each split's threshold as the compiled walk compares them
(a forest's trees in float32, as `Tree.apply`; histogram boosting's in float64; a missing value
goes the side the node records), and the leaves' values are added in the trees' order from zero
(or from a baseline, added to zero first).

The nodes are renumbered level by level so that a split's children sit side by side: the next
node is the first child's number plus 1 if the row goes right. A leaf's children are itself and
its threshold +inf, so a walk of the deepest tree's depth ends on every leaf. Thresholds are kept
as float32 rounded down: for a float32 x, x <= t exactly when x <= the largest float32 <= t."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .pool import shared_pool

MAX_WALK_DEPTH = 200  # levels past which a forest's kernel keeps no walk (a tree that deep is rare)
# (row, tree) pairs up to which the walk is taken over one compiled call per tree: measured in
# process, 100 trees of depth 12 and of 31 (no bound), the walk is faster up to ~1,000 rows (0.1
# ms against 0.4-0.7 at 1 row, 0.6-1.2 against 1.1-1.8 at 100, 5-11 against 7-12 at 1,000)
WALK_PAIRS = 50_000
CHUNK_PAIRS = 25_600  # (row, tree) pairs walked together: 256 rows of 100 trees stay in cache
SHARED_FROM = 100_000  # (row, tree) pairs from which chunks are walked by several threads
SETTLED_FROM, SETTLED_EVERY = 8, 4  # levels: pairs on a leaf set aside at 8, 12, 16, ...
PREDICTOR_AS_TREE = np.dtype(  # the fields of a `Tree`'s nodes the walk reads
    [
        ("left_child", "<i8"),
        ("right_child", "<i8"),
        ("feature", "<i8"),
        ("threshold", "<f8"),
        ("missing_go_to_left", "u1"),
    ]
)


@dataclass(frozen=True)
class TreeNodes:
    """One tree as scikit-learn keeps it (`Tree.__getstate__()`): its node records, each node's
    values (nodes × outputs × classes) and the depth it records."""

    nodes: np.ndarray
    values: np.ndarray
    depth: int

    @classmethod
    def of(cls, tree: Any) -> TreeNodes:
        """A scikit-learn `Tree`'s."""
        state = tree.__getstate__()
        return cls(state["nodes"], state["values"], state["max_depth"])

    @classmethod
    def of_predictor(cls, records: np.ndarray) -> TreeNodes:
        """Histogram boosting's tree predictor's node records in a `Tree`'s layout (what the walk
        reads of it): a leaf's children -1. It records no depth."""
        leaf = records["is_leaf"] != 0
        nodes = np.zeros(len(records), dtype=PREDICTOR_AS_TREE)
        nodes["left_child"] = np.where(leaf, -1, records["left"].astype(np.int64))
        nodes["right_child"] = np.where(leaf, -1, records["right"].astype(np.int64))
        nodes["feature"] = np.where(leaf, 0, records["feature_idx"])
        nodes["threshold"] = records["num_threshold"]
        nodes["missing_go_to_left"] = records["missing_go_to_left"]
        return cls(nodes, records["value"].reshape(-1, 1, 1), 0)


class ForestWalk:
    """Every tree's nodes in one set of arrays, the roots first (one per tree, in order).
    `precision`: the float type rows and thresholds are compared in."""

    def __init__(self, trees: Sequence[TreeNodes], classes: int | None, precision: type = np.float32):
        sizes = [len(tree.nodes) for tree in trees]
        offsets = np.cumsum([0, *sizes[:-1]])
        nodes = np.concatenate([tree.nodes for tree in trees])
        leaf = nodes["left_child"] < 0
        left = np.where(leaf, -1, nodes["left_child"] + np.repeat(offsets, sizes))
        right = np.where(leaf, -1, nodes["right_child"] + np.repeat(offsets, sizes))
        order, self.depth = _level_order(offsets, left, right, leaf)
        renumbered = np.empty(len(order), dtype=np.int64)
        renumbered[order] = np.arange(len(order))
        leaf = leaf[order]
        self.trees = len(trees)
        self.first_child = np.where(leaf, np.arange(len(order)), renumbered[left[order]]).astype(np.int32)
        self.feature = np.where(leaf, 0, nodes["feature"][order]).astype(np.int32)
        threshold = nodes["threshold"][order]
        threshold = _rounded_down(threshold) if precision is np.float32 else threshold
        self.threshold = np.where(leaf, np.inf, threshold).astype(precision)
        missing_left = nodes["missing_go_to_left"] if "missing_go_to_left" in nodes.dtype.names else 1
        self.missing_right = ~leaf & (np.broadcast_to(missing_left, leaf.shape)[order] == 0)
        self.split = ~leaf
        values = np.concatenate([tree.values[:, 0, :] for tree in trees])[order]
        self.values = values[:, :classes] if classes else values[:, 0].copy()

    def takes(self, rows: int) -> bool:
        """Whether `rows` rows are faster walked here than by one compiled call per tree."""
        return rows * self.trees <= WALK_PAIRS

    def summed(self, X: np.ndarray, threads: int = 1, start: float = 0.0) -> np.ndarray:
        """Each row's leaf values over the trees, added in the trees' order to zero plus `start`;
        chunks of rows walked by up to `threads` threads (each row's sum is its own). `X` is of
        the walk's precision."""
        chunk = max(1, CHUNK_PAIRS // self.trees)
        starts = range(0, len(X), chunk)
        if threads < 2 or len(X) * self.trees < SHARED_FROM:
            if len(starts) == 1:
                return self._summed(X, start)
            return np.concatenate([self._summed(X[at : at + chunk], start) for at in starts])
        parts = shared_pool(threads).map(lambda at: self._summed(X[at : at + chunk], start), starts)
        return np.concatenate(list(parts))

    def _summed(self, X: np.ndarray, start: float) -> np.ndarray:
        rows = len(X)
        leaves = self.values.take(self._leaves(X), axis=0).reshape(rows, self.trees, *self.values.shape[1:])
        # the first tree's values added to zeros plus the start, as the models add them (so a
        # first -0.0 becomes 0.0): x + y is y + x to the bit
        leaves[:, 0] += 0.0 + start
        # added one tree after another (accumulate is sequential; a sum would pair them up)
        return np.add.accumulate(leaves, axis=1)[:, -1]

    def _leaves(self, X: np.ndarray) -> np.ndarray:
        """The leaf each (row, tree) pair ends on, row after row. Past `SETTLED_FROM` levels, the
        pairs already on a leaf are set aside every `SETTLED_EVERY` levels (deep trees' leaves
        lie at many depths)."""
        rows, width = X.shape
        flat = np.ascontiguousarray(X).reshape(-1)
        missing = bool(np.isnan(flat).any())
        index = np.int32 if rows * width < 2**31 else np.int64  # each value's place in the chunk
        base = np.repeat(np.arange(rows, dtype=index) * index(width), self.trees)
        ended = node = np.tile(np.arange(self.trees, dtype=np.int32), rows)
        walking = None  # the pairs still walking, where some have ended
        for level in range(self.depth):
            if level >= SETTLED_FROM and (level - SETTLED_FROM) % SETTLED_EVERY == 0:
                on = self.split.take(node)
                if not on.all():
                    if walking is None:
                        ended, walking = node.copy(), np.flatnonzero(on)
                    else:
                        ended[walking] = node
                        walking = walking[on]
                    node, base = node[on], base[on]
                    if not node.size:
                        break
            column = self.feature.take(node).astype(index, copy=False)
            column += base
            x = flat.take(column)
            right = x > self.threshold.take(node)
            if missing:  # NaN > t is false: those go the side their node records
                right |= np.isnan(x) & self.missing_right.take(node)
            node = self.first_child.take(node)
            node += right
        if walking is None:
            return node
        ended[walking] = node
        return ended


def _level_order(
    roots: np.ndarray, left: np.ndarray, right: np.ndarray, leaf: np.ndarray
) -> tuple[np.ndarray, int]:
    """The nodes level by level from the roots, each split's children side by side, and the
    depth of the deepest leaf."""
    levels, level, reached = [roots], roots, len(roots)
    while level.size and reached <= len(leaf):  # more nodes reached than there are: a cycle
        splits = level[~leaf[level]]
        level = np.stack((left[splits], right[splits]), axis=1).reshape(-1)
        levels.append(level)
        reached += len(level)
    order = np.concatenate(levels)
    if len(order) != len(leaf) or len(np.unique(order)) != len(leaf):
        raise ValueError("a tree whose nodes are not each reached once from its root")
    return order, len(levels) - 2


def _rounded_down(threshold: np.ndarray) -> np.ndarray:
    """The largest float32 at most each float64 threshold."""
    with np.errstate(over="ignore"):
        narrow = threshold.astype(np.float32)
    above = narrow.astype(np.float64) > threshold
    narrow[above] = np.nextafter(narrow[above], np.float32(-np.inf))
    return narrow
