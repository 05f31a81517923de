"""What proves a kernel: the same bits as scikit-learn's answer, on probe matrices at load time."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np


def identical(a: Any, b: Any) -> bool:
    """The same dtype, shape and bits (numbers), or the same values (labels of any other kind)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return a.tobytes() == b.tobytes() if a.dtype.kind in "biufc" else bool(np.array_equal(a, b))


def agrees_on_probes(
    kernel: Callable[[np.ndarray], Any], predict: Callable[[np.ndarray], Any], stacked: np.ndarray, sizes: Any
) -> bool:
    """Whether `kernel` gives `predict`'s bits on each probe: `stacked`'s consecutive slices of
    `sizes` rows. `predict` is asked once for all of them, so a load pays its per-call checks
    once: sound for a model whose every row's answer is its own."""
    expected = predict(stacked)
    start = 0
    for rows in sizes:
        probe = np.asfortranarray(stacked[start : start + rows])
        if not identical(kernel(probe), expected[start : start + rows]):
            return False
        start += rows
    return True


def holds(check: Callable[[], bool]) -> bool:
    """Whether `check()` is true, any warning raised by it counting as an error and any error as
    a no: a proof that cannot be run is no proof (scikit-learn's own path then answers)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return bool(check())
    except Exception:  # noqa: BLE001 - anything unexpected keeps scikit-learn's own path
        return False
