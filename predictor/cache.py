"""A process-wide, lazily filled slot: one load at a time, failures not kept."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Generic, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


class LazySlot(Generic[T]):
    """Loads its value on first `get()`.

    Callers that arrive while a load is running wait for that same load (single flight), so
    any number of concurrent first requests cause one load. A failed load is not kept: its
    waiters get its exception, and the next caller starts a fresh load.
    """

    def __init__(self, load: Callable[[], T]):
        self._load = load
        self._lock = threading.Lock()
        self._value: T | None = None
        self._pending: Future[T] | None = None

    def peek(self) -> T | None:
        """The value if loaded, without loading it."""
        return self._value

    def replace(self, value: T) -> None:
        """Swap in a new value at once: callers get the old one or the new one, never neither."""
        with self._lock:
            self._value = value

    def get(self) -> T:
        value = self._value
        if value is not None:
            return value
        with self._lock:
            if self._value is not None:
                return self._value
            leader = self._pending is None
            if leader:
                self._pending = Future()
            pending = self._pending
        if leader:
            self._run(pending)
        return pending.result()

    def _run(self, pending: Future[T]) -> None:
        try:
            value = self._load()
        except BaseException as exc:  # noqa: BLE001 - handed to every waiter, then re-raised
            with self._lock:
                self._pending = None
            pending.set_exception(exc)
            return
        with self._lock:
            self._value = value
            self._pending = None
        pending.set_result(value)


class Refresher(Generic[T]):
    """Keeps a slot's value fresh without ever making a caller wait for it.

    At most every `interval` seconds a call to `poke()` starts one background check; when
    `is_stale(value)` says the source changed, `load()` builds the new value and the slot swaps
    it in. Requests keep being served by the old value meanwhile, and if the check or the load
    fails, the old value stays (the failure is logged) and the next interval tries again.
    """

    def __init__(
        self,
        slot: LazySlot[T],
        is_stale: Callable[[T], bool],
        load: Callable[[], T],
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._slot, self._is_stale, self._load = slot, is_stale, load
        self._interval, self._clock = interval, clock
        self._lock = threading.Lock()
        self._running = False
        self._next_check = clock() + interval

    def poke(self) -> None:
        if self._interval <= 0:
            return
        with self._lock:
            if self._running or self._clock() < self._next_check:
                return
            self._running = True
        threading.Thread(target=self._refresh, name="model-refresh", daemon=True).start()

    def _refresh(self) -> None:
        try:
            current = self._slot.peek()
            if current is not None and self._is_stale(current):
                self._slot.replace(self._load())
        except Exception as exc:  # noqa: BLE001 - the old value keeps serving
            log.warning("model reload failed; the current model keeps serving: %s", exc)
        finally:
            with self._lock:
                self._running = False
                self._next_check = self._clock() + self._interval
