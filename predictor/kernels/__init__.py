"""Kernels: a model's prediction of the fast path's float64 matrix without scikit-learn's per-call
checks and dispatch, each used only once it gave scikit-learn's own bits on probe matrices at
load time (`proof.py`): linear models alone or after standard scaling (`linear.py`), forests
(`forest.py`, small batches `forest_walk.py`), histogram boosting's small batches (`boosting.py`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def kernel_for(estimator: Any, width: int, threads: int) -> Callable[[Any], Any] | None:
    """The first kernel proven for `estimator` (which takes a matrix of `width` columns;
    `threads`: the most a forest's may use), or None: scikit-learn's own predict answers."""
    from .boosting import boosting_kernel
    from .forest import forest_kernel
    from .linear import linear_kernel

    return (
        linear_kernel(estimator, width)
        or forest_kernel(estimator, width, threads)
        or boosting_kernel(estimator, width)
    )
