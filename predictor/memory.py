"""Give freed heap memory back to the OS after large requests.

Parsing a large batch makes many small objects; once they are freed, glibc keeps the pages
for reuse, so large requests leave the instance holding tens of MiB more. `malloc_trim`
returns them. It takes a few milliseconds, so it runs off the request path, once, a moment
after the last of a run of large requests. Only glibc has it: elsewhere this does nothing.
"""

from __future__ import annotations

import ctypes
import sys
import threading

LARGE_BODY_BYTES = 1 << 20
DELAY_SECONDS = 1.0


def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None).malloc_trim  # the process's own C library
    except (OSError, AttributeError):  # not glibc (musl, say)
        return None


_trim = _malloc_trim()
_lock = threading.Lock()
_pending: threading.Timer | None = None


def release_after(body_bytes: int) -> threading.Timer | None:
    """After a request with a body of `body_bytes`: if it was large, (re)schedule a heap trim
    DELAY_SECONDS from now. Returns the scheduled timer."""
    global _pending
    if _trim is None or body_bytes < LARGE_BODY_BYTES:
        return None
    with _lock:
        if _pending is not None:
            _pending.cancel()
        _pending = threading.Timer(DELAY_SECONDS, _trim, (0,))
        _pending.daemon = True
        _pending.start()
        return _pending
