"""The HTTP sessions that talk to the tracking server: each socket a request is sent on is handed
to the deadline of the call this thread is making (`read_deadline`), so a call ends when its
deadline passes however the server dribbles its answer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from ..read_deadline import Watch, deadlines

_current = threading.local()  # .watch: the deadline of the call this thread is making, if any


def current_deadline() -> Watch:
    """The deadline of the call this thread is making."""
    watch = getattr(_current, "watch", None)
    if watch is None:
        raise RuntimeError("a tracking-server request is made within a call (TrackingServer.call)")
    return watch


@contextmanager
def deadline(seconds: float) -> Iterator[Watch]:
    """Within the block, this thread's requests end (their sockets cut) `seconds` from now; an
    enclosing block's deadline is kept (a call of calls is bounded as a whole)."""
    outer = getattr(_current, "watch", None)
    if outer is not None:
        yield outer
        return
    with deadlines.deadline(seconds) as watch:
        _current.watch = watch
        try:
            yield watch
        finally:
            _current.watch = None


def _watched(connection: type[HTTPConnection]) -> type[HTTPConnection]:
    class Watched(connection):
        def request(self, *args, **kwargs) -> None:
            super().request(*args, **kwargs)  # connects first when the socket is new
            watch = getattr(_current, "watch", None)
            if watch is not None and self.sock is not None:
                deadlines.attach(watch, self.sock)

    Watched.__name__ = f"Watched{connection.__name__}"
    return Watched


class _Pool(HTTPConnectionPool):
    ConnectionCls = _watched(HTTPConnection)


class _TLSPool(HTTPSConnectionPool):
    ConnectionCls = _watched(HTTPSConnection)


class _Adapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _Pool, "https": _TLSPool}


def new_session(basic_auth: tuple[str, str] | None) -> requests.Session:
    """A session whose requests honour this thread's `deadline`; no retries of its own (the
    caller retries within the deadline)."""
    session = requests.Session()
    adapter = _Adapter(max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.auth = basic_auth
    return session
