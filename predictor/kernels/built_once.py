"""What a kernel builds once, in a background thread, the first time it is asked for: a faster
way for large batches that needs an import too slow for a cold start (scikit-learn's compiled
trees, built from nodes read without it)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Generic, TypeVar

from .pool import shared_pool

log = logging.getLogger(__name__)

T = TypeVar("T")


class BuiltOnce(Generic[T]):
    """`build()`'s result once built, or None: not yet, or it failed (logged once, as `what`)."""

    def __init__(self, build: Callable[[], T], what: str):
        self._build, self._what = build, what
        self._future: Future[T | None] | None = None
        self._lock = threading.Lock()

    def get(self, wait: bool = False) -> T | None:
        """The result if built (the build started here if it was not); `wait` for it."""
        with self._lock:
            if self._future is None:
                self._future = shared_pool(1).submit(self._built)
        return self._future.result() if wait or self._future.done() else None

    def built(self) -> bool:
        """Whether it has been built (without starting the build)."""
        future = self._future
        return future is not None and future.done() and future.result() is not None

    def _built(self) -> T | None:
        try:
            return self._build()
        except Exception:  # the caller goes on without it, as before
            log.warning("could not build %s; going on without", self._what, exc_info=True)
            return None
