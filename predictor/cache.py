"""A process-wide, lazily filled slot: one load at a time, failures not kept."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Generic, TypeVar

T = TypeVar("T")


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
