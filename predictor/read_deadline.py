"""A bound on how long a socket may be read: a request body, or a call to the tracking server.

functions-framework runs gunicorn with no worker timeout, and with THREADS=1 one worker thread
serves the instance: a client that declares a body and then stalls would hold it, `/health`
included, for as long as it liked; so would a tracking server that answers a byte at a time (a
socket timeout bounds each read, not their sum). While a body or an answer is read, its socket
is watched; one thread per process looks every TICK_SECONDS and shuts the reading side of a
socket whose deadline has passed, so the read ends at once (a body is answered 408; a call
says it timed out).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

TICK_SECONDS = 0.25


@dataclass
class Watch:
    sock: socket.socket | None
    deadline: float
    seconds: float = 0.0  # the bound it was given
    expired: bool = False

    def passed(self) -> bool:
        """The deadline has passed (whether or not the watching thread has cut the socket yet)."""
        return self.expired or time.monotonic() >= self.deadline


class ReadDeadlines:
    """The sockets whose bodies are being read, each with its deadline."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watched: dict[int, Watch] = {}
        self._thread_pid: int | None = None

    @contextmanager
    def bounded(self, sock: socket.socket | None, seconds: float) -> Iterator[Watch]:
        """Within the block, `sock` stops delivering data `seconds` from now; the yielded
        watch says whether it did. No socket (not gunicorn): nothing is watched."""
        if sock is None:
            yield Watch(None, time.monotonic() + seconds, seconds)
            return
        with self.deadline(seconds) as watch:
            watch.sock = sock
            yield watch

    @contextmanager
    def deadline(self, seconds: float) -> Iterator[Watch]:
        """A deadline for a call whose sockets are not open yet: each is `attach`ed as it is."""
        watch = Watch(None, time.monotonic() + seconds, seconds)
        self._start_once()
        with self._lock:
            self._watched[id(watch)] = watch
        try:
            yield watch
        finally:
            with self._lock:
                self._watched.pop(id(watch), None)

    def attach(self, watch: Watch, sock: socket.socket) -> None:
        """From now on `sock` is the one `watch` cuts at its deadline (at once, if it has passed)."""
        watch.sock = sock
        if time.monotonic() >= watch.deadline:
            watch.expired = True
            _shut(sock)

    def _start_once(self) -> None:
        pid = os.getpid()  # gunicorn forks its worker: the thread must be the worker's own
        if self._thread_pid != pid:
            with self._lock:
                if self._thread_pid != pid:
                    threading.Thread(target=self._run, name="read-deadlines", daemon=True).start()
                    self._thread_pid = pid

    def _run(self) -> None:
        while True:
            time.sleep(TICK_SECONDS)
            now = time.monotonic()
            with self._lock:
                overdue = [watch for watch in self._watched.values() if watch.deadline <= now]
                for watch in overdue:
                    self._watched.pop(id(watch), None)
            for watch in overdue:
                watch.expired = True
                if watch.sock is not None:
                    _shut(watch.sock)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RD)  # a pending recv returns at once
    except OSError:
        pass  # the peer has gone already


deadlines = ReadDeadlines()
