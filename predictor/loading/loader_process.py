"""LOADER_PROCESS: with MODELS, a model is deserialized, checked and its kernel proven in a
process of its own, and comes back pickled, so its load does not hold this process's Python lock
while the loaded models answer (a load's skops parsing and proofs are tens of milliseconds of
it), and a load that crashes or runs out of memory ends that process, not this one.

The process is spawned (not forked: OpenMP's threads do not survive a fork), imports
scikit-learn once, serves one load at a time, and exits when this process does.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import sys
import threading
from collections.abc import Collection
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING

from .. import memory
from ..errors import ModelUnavailable

if TYPE_CHECKING:
    from .deserialize import Deserialized

log = logging.getLogger(__name__)


class LoaderProcess:
    """The one process this process's loads run in; started on first use (or `start`), made
    again after one ended."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._pid: int | None = None  # the running process's, once it has answered

    def start(self) -> None:
        """Start the process if it is not running, in the background, importing scikit-learn if
        this process has (a second or so); a model read without it does not need it there."""
        with self._lock:
            if self._pool is not None:
                return
        self._running().submit(_warm, "sklearn" in sys.modules)

    def deserialize(
        self, path: Path, expected_sha256: str | None, trusted_types: Collection[str], threads: int
    ) -> Deserialized | None:
        """`deserialize` of the file at `path`, run in the process; None if what it read cannot
        be pickled back (it holds a lock, say): then it is to be read here. An error of the read
        is raised here as it was there."""
        arguments = (path, expected_sha256, tuple(trusted_types), threads)
        pool = self._running()
        try:
            call = pool.submit(_deserialized, *arguments)
        except BrokenProcessPool:  # it ended while idle (killed from outside): not this load's doing
            self._discard(pool)
            pool = self._running()
            call = pool.submit(_deserialized, *arguments)
        try:
            pickled = call.result()
        except BrokenProcessPool:
            self._discard(pool)
            raise ModelUnavailable(
                "loading the model ended the process that loads it (a crash, or out of memory); "
                "the models already loaded keep answering, and its next request tries again"
            ) from None
        if pickled is None:
            return None
        from .deserialize import Deserialized

        artifact, lean, kernel = pickle.loads(pickled)
        return Deserialized.of(artifact, lean, kernel)

    def pid(self) -> int:
        """The process's id (it is started if it was not)."""
        return self._running().submit(os.getpid).result()

    def resident_bytes(self) -> int | None:
        """The process's resident memory now (outside MODEL_MEMORY_MB); None before it runs."""
        with self._lock:
            pid = self._pid if self._pool is not None else None
        return None if pid is None else memory.resident_bytes(pid)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _running(self) -> ProcessPoolExecutor:
        with self._lock:
            pool, fresh = self._pool, self._pool is None
            if pool is None:
                pool = self._pool = ProcessPoolExecutor(
                    max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_follow_parent
                )
                self._pid = None
        if fresh:  # outside the lock: a done future runs its callback at once, here
            pool.submit(os.getpid).add_done_callback(self._started)
        return pool

    def _started(self, call: Future[int]) -> None:
        if not call.cancelled() and call.exception() is None:
            with self._lock:
                self._pid = call.result()

    def _discard(self, pool: ProcessPoolExecutor) -> None:
        log.error("the loader process ended; the next load starts another")
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False)


def _follow_parent() -> None:
    """In the loader process: exit when the process that started it is gone (killed, say)."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_after, args=(parent,), name="parent-watch", daemon=True).start()


def _exit_after(parent: multiprocessing.process.BaseProcess) -> None:
    parent.join()
    os._exit(0)


def _warm(with_scikit_learn: bool) -> None:
    from .deserialize import import_scikit_learn

    if with_scikit_learn:
        import_scikit_learn()


def _deserialized(
    path: Path, expected_sha256: str | None, trusted_types: tuple[str, ...], threads: int
) -> bytes | None:
    """In the loader process: the model at `path` deserialized, checked and proven, pickled."""
    import cloudpickle  # a class the file defined by value goes back the same way

    from .deserialize import deserialize
    from .read_model import ReadModel

    read = deserialize(path, expected_sha256, trusted_types, threads)
    kernel = None if isinstance(read.lean, ReadModel) else read.kernel  # it makes its own again
    try:
        return cloudpickle.dumps((read.artifact, read.lean, kernel), protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, AttributeError, TypeError):  # a lock, an open file: not data
        return None
