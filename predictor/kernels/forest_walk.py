"""A forest's trees walked all at once over numpy copies of their nodes, for small batches: one
compiled call per tree (~3 µs each, 100 trees) costs more than walking every tree together a
level at a time. Each row's float32 value is compared with each split's threshold as the
compiled walk compares them, the leaves' values are taken as they are and added in the trees'
order, so the sums are the compiled walk's to the bit (forest.py proves it at load)."""

from __future__ import annotations

from typing import Any

import numpy as np

# rows × levels up to which the walk is faster than a compiled call per tree (measured in
# process, 100 trees: depth 12 up to ~20 rows, depth 31 up to ~6)
WALK_BUDGET = 200


class ForestWalk:
    """Every tree's nodes in one set of arrays, each tree's root at its offset; a leaf's
    children are itself, so a walk of the deepest tree's depth ends on every leaf."""

    def __init__(self, trees: list[Any], classes: int | None):
        sizes = [tree.node_count for tree in trees]
        offsets = np.cumsum([0, *sizes[:-1]])
        self.roots = offsets.astype(np.intp)
        self.depth = max(tree.max_depth for tree in trees)
        self.feature = np.concatenate([np.maximum(tree.feature, 0) for tree in trees]).astype(np.intp)
        self.threshold = np.concatenate([tree.threshold for tree in trees])
        children = []
        for side in ("children_left", "children_right"):
            parts = []
            for tree, offset in zip(trees, offsets, strict=True):
                own = getattr(tree, side)
                parts.append(np.where(own < 0, np.arange(tree.node_count), own) + offset)
            children.append(np.concatenate(parts).astype(np.intp))
        self.left, self.right = children
        values = [tree.value[:, 0, :] if classes else tree.value[:, 0, 0] for tree in trees]
        self.values = np.concatenate(values)[:, :classes] if classes else np.concatenate(values)

    def takes(self, rows: int) -> bool:
        """Whether `rows` rows are faster walked here than one compiled call per tree."""
        return rows * self.depth <= WALK_BUDGET

    def summed(self, X32: np.ndarray) -> np.ndarray:
        """Each row's leaf values over the trees, added in the trees' order from zero."""
        rows = np.arange(len(X32))[:, None]
        node = np.broadcast_to(self.roots, (len(X32), len(self.roots)))
        for _ in range(self.depth):
            goes_left = X32[rows, self.feature[node]] <= self.threshold[node]
            node = np.where(goes_left, self.left[node], self.right[node])
        leaves = self.values[node]  # (rows, trees) or (rows, trees, classes)
        leaves[:, 0] += 0.0  # as if added to zeros, as the forest does: a first -0.0 becomes 0.0
        # added one tree after another (accumulate is sequential; a sum would pair them up)
        return np.add.accumulate(leaves, axis=1)[:, -1]
