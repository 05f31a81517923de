"""A bound on how long a request body may take to arrive.

functions-framework runs gunicorn with no worker timeout, and with THREADS=1 one worker thread
serves the instance: a client that declares a body and then stalls would hold it, `/health`
included, for as long as it liked. While a body is read, its socket is watched; one thread per
process looks every TICK_SECONDS and shuts the reading side of a socket whose deadline has
passed, so the read ends at once and the request is answered 408.
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
    expired: bool = False


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
        watch = Watch(sock, time.monotonic() + seconds)
        if sock is None:
            yield watch
            return
        self._start_once()
        with self._lock:
            self._watched[id(watch)] = watch
        try:
            yield watch
        finally:
            with self._lock:
                self._watched.pop(id(watch), None)

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
                try:
                    watch.sock.shutdown(socket.SHUT_RD)  # a pending recv returns at once
                except OSError:
                    pass  # the client has gone already


deadlines = ReadDeadlines()
