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

    @property
    def loading(self) -> bool:
        """A load is under way."""
        return self._pending is not None

    def clear(self) -> T | None:
        """Drop the value (the next `get()` loads again); returns what was dropped."""
        with self._lock:
            value, self._value = self._value, None
        return value

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

    At most every `interval` seconds a call to `poke()` starts one background check:
    `changed(value)` is None while the source is what the value was loaded from, else words
    saying what it is now (the same words for the same source). `load()` then builds the new
    value and the slot swaps it in. Requests keep being served by the old value meanwhile. A
    load that fails leaves the old value and is remembered: the same source is tried again only
    after 2, 4, 8 … intervals (at most MAX_BACKOFF of them), each failure logged once, so a
    rejected artifact is not downloaded every interval; a source that changes again is tried at
    its next check.
    """

    MAX_BACKOFF = 64  # intervals between two tries of the same rejected source, at most

    def __init__(
        self,
        slot: LazySlot[T],
        changed: Callable[[T], str | None],
        load: Callable[[], T],
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._slot, self._changed, self._load = slot, changed, load
        self._interval, self._clock = interval, clock
        self._lock = threading.Lock()
        self._running = False
        self._next_check = clock() + interval
        self._rejected: str | None = None  # the source whose load failed last
        self._failures = 0  # in a row, for that source
        self._retry_at = 0.0  # not tried again before then

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
            source = None if current is None else self._changed(current)
            if source is not None and not (source == self._rejected and self._clock() < self._retry_at):
                self._try(source)
        except Exception as exc:  # noqa: BLE001 - the check failed: the old value keeps serving
            log.warning("model reload failed; the current model keeps serving: %s", exc)
        finally:
            with self._lock:
                self._running = False
                self._next_check = self._clock() + self._interval

    def _try(self, source: str) -> None:
        log.info("%s; loading it", source)
        try:
            value = self._load()
        except Exception as exc:  # noqa: BLE001 - the old value keeps serving
            self._failures = self._failures + 1 if source == self._rejected else 1
            self._rejected = source
            intervals = min(2**self._failures, self.MAX_BACKOFF)
            self._retry_at = self._clock() + intervals * self._interval
            log.warning(
                "model reload failed; the current model keeps serving, and this artifact is tried "
                "again in %d s unless it changes first: %s",
                round(intervals * self._interval),
                exc,
                extra={"json_fields": {"reload": {"failures": self._failures, "change": source}}},
            )
            return
        self._rejected, self._failures = None, 0
        self._slot.replace(value)
