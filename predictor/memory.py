"""Give freed heap memory back to the OS after a large request.

Parsing a large batch makes many small objects; once they are freed, glibc keeps the pages
for reuse, so each large request leaves the instance holding tens of MiB more. `malloc_trim`
returns them. Only glibc has it: elsewhere this does nothing.
"""

from __future__ import annotations

import ctypes
import sys

LARGE_BODY_BYTES = 1 << 20


def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None).malloc_trim  # the process's own C library
    except (OSError, AttributeError):  # not glibc (musl, say)
        return None


_trim = _malloc_trim()


def release_after(body_bytes: int) -> bool:
    """After a request with a body of `body_bytes`: trim the heap if it was large. True if done."""
    if _trim is None or body_bytes < LARGE_BODY_BYTES:
        return False
    _trim(0)
    return True
