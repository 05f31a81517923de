"""The threads a kernel shares a batch's work among: one pool per process (a forked worker makes
its own) and size."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

_lock = threading.Lock()
_pools: dict[tuple[int, int], ThreadPoolExecutor] = {}


def shared_pool(threads: int) -> ThreadPoolExecutor:
    key = (os.getpid(), threads)
    with _lock:
        if key not in _pools:
            _pools[key] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="kernel")
        return _pools[key]
