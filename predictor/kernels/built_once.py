"""What a kernel builds once, in a background thread, the first time it is asked for: a faster
way for large batches that needs an import too slow for a cold start (scikit-learn's compiled
trees, built from nodes read without it), built only where the instance's memory has room for
it (`headroom`)."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Generic, TypeVar

from .. import headroom
from .pool import shared_pool

log = logging.getLogger(__name__)

T = TypeVar("T")
# what importing scikit-learn's tree modules adds to a process that has numpy (measured: +130 MiB)
SCIKIT_LEARN_BYTES = 130 * headroom.MIB


def scikit_learn_import_bytes() -> int:
    """What the build's import of scikit-learn will add: nothing once it is imported."""
    return 0 if "sklearn" in sys.modules else SCIKIT_LEARN_BYTES


class BuiltOnce(Generic[T]):
    """`build()`'s result once built, or None: not yet, or not at all (it failed, or the `needs()`
    bytes it adds do not fit the instance's memory: logged once, as `what`)."""

    def __init__(self, build: Callable[[], T], what: str, needs: Callable[[], int]):
        self._build, self._what, self._needs = build, what, needs
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
        needed = self._needs()
        if not headroom.fits(needed):
            left = headroom.available_bytes() or 0
            log.warning(
                "not building %s: it needs about %d MiB and the instance has %d MiB left; larger "
                "batches stay on the walk",
                self._what,
                needed // headroom.MIB,
                left // headroom.MIB,
            )
            return None
        try:
            return self._build()
        except Exception:  # the caller goes on without it, as before
            log.warning("could not build %s; going on without", self._what, exc_info=True)
            return None
