"""A batch file's transfers beside its scoring: the input read ahead and each output written
behind, in a thread of their own, through short queues (memory stays flat); a transfer's error
is raised in the scoring thread. The storage client is documented as safe to share across
threads."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import IO, Any, Self

POLL_SECONDS = 0.1
FINISH, CANCEL = object(), object()  # what a writer's thread does once the writes are done


def read_ahead(read: Callable[[], bytes], depth: int = 4) -> Iterator[bytes]:
    """`read()`'s pieces until it returns b"", fetched by a thread up to `depth` pieces ahead."""
    pieces: queue.Queue[Any] = queue.Queue(depth)
    stop = threading.Event()

    def fetch() -> None:
        while not stop.is_set():
            try:
                piece = read()
            except BaseException as exc:  # noqa: BLE001 - handed to the scoring thread
                piece = exc
            while not stop.is_set():
                try:
                    pieces.put(piece, timeout=POLL_SECONDS)
                    break
                except queue.Full:
                    continue
            if not isinstance(piece, bytes) or not piece:
                return

    thread = threading.Thread(target=fetch, name="batch-read", daemon=True)
    thread.start()
    try:
        while (piece := pieces.get()) != b"":
            if isinstance(piece, BaseException):
                raise piece
            yield piece
    finally:  # also when the reader stops early: the fetching thread ends too
        stop.set()
        thread.join()


class WriteBehind:
    """An upload (`Blob.open("wb")`) written by a thread of its own, up to `depth` writes behind
    the caller, and finalized (`finish`) or cancelled there too."""

    def __init__(self, target: IO[bytes], depth: int = 4):
        self.target = target
        self.pending: queue.Queue[Any] = queue.Queue(depth)
        self.error: BaseException | None = None
        self.finishing = False
        self.thread = threading.Thread(target=self._drain, name="batch-write", daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        while (data := self.pending.get()) not in (FINISH, CANCEL):
            if self.error is None:  # after a failure, the rest is taken and dropped
                try:
                    self.target.write(data)
                except BaseException as exc:  # noqa: BLE001 - raised by the caller's next write
                    self.error = exc
        try:
            if data is FINISH and self.error is None:
                self.target.close()  # the upload's last chunk: the object exists from here
            elif data is CANCEL or self.error is not None:
                self.target.terminate()  # no partial object is left behind
        except BaseException as exc:  # noqa: BLE001
            self.error = self.error or exc

    def write(self, data: bytes) -> None:
        if self.error is not None:
            raise self.error
        self.pending.put(data)

    def finish(self) -> None:
        """Start finalizing the upload (several outputs then finalize at once)."""
        if not self.finishing:
            self.finishing = True
            self.pending.put(FINISH)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.finish()
        elif not self.finishing:
            self.pending.put(CANCEL)  # the scoring failed: its error is the one raised
        self.thread.join()
        if kind is None and self.error is not None:
            raise self.error
