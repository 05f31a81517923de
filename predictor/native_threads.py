"""The threads a model's native libraries (OpenMP, BLAS) use: one by default, set before they
load, and `PREDICT_THREADS` for the duration of a large request. Left at their defaults (one per
CPU), a small request pays for waking a team of threads each time: a 1-row request to a
scaler + logistic regression pipeline took 2.7 ms served against 1.9 ms with one thread, and
on two CPUs histogram boosting gained nothing from two at 10,000 rows (bench/kinds.py). The
answers do not depend on it: each row is computed alone."""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

PARALLEL_FROM_ROWS = 1000  # below this, a team of threads costs more than it saves
VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def available_cpus() -> int:
    """The CPUs this process may run on (what `PREDICT_THREADS` defaults to)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def one_by_default(environ: MutableMapping[str, str] = os.environ) -> None:
    """One native thread unless the deployer set these variables: to be called before numpy or
    scikit-learn load (the libraries read them once, as they start)."""
    for variable in VARIABLES:
        environ.setdefault(variable, "1")


_shared: tuple[int, Any] | None = None  # (len(sys.modules) when made, threadpoolctl's controller)


def _controller() -> Any:
    """threadpoolctl's controller of the native libraries loaded now, made again only when a
    module has been imported since: making one reads /proc/self/maps and opens each library
    (~5 ms, a tenth of a small forest's load; with MODELS, paid at every load)."""
    global _shared
    if _shared is None or _shared[0] != len(sys.modules):
        from threadpoolctl import ThreadpoolController

        controller = ThreadpoolController()
        _shared = (len(sys.modules), controller)  # counted after its own first import
    return _shared[1]


class NativeThreads:
    """Made once the model is loaded: threadpoolctl finds the libraries loaded by then."""

    def __init__(self, threads: int):
        self._controller = _controller()
        self.threads = threads

    def limit(self, rows: int) -> AbstractContextManager:
        """Within it, native code runs on as many threads as `rows` rows are worth."""
        if rows < PARALLEL_FROM_ROWS or self.threads == 1:
            return nullcontext()
        return self._controller.limit(limits=self.threads)
