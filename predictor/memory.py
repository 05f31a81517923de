"""The process's memory around large requests.

- Parsing a large batch makes many small objects; once they are freed, glibc keeps the pages
  for reuse, so large requests leave the instance holding tens of MiB more. `malloc_trim`
  returns them. It takes a few milliseconds, so it runs off the request path, once, a moment
  after the last of a run of large requests. Only glibc has it: elsewhere this does nothing.
- The same objects set off the garbage collector, whose full passes walk every object alive,
  and the libraries and the model are millions of them: a pass took 100+ ms in the middle of a
  request. While the model loads the collector is off (imports and deserialization make
  millions of objects that all live on: its passes over them were wasted work), and once it
  has loaded, what is alive is frozen out of those passes.
"""

from __future__ import annotations

import ctypes
import gc
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

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
_frozen = False  # whether freeze_loaded has frozen anything yet


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


@contextmanager
def loading(one_of_many: bool = False) -> Iterator[None]:
    """Around a model load: the collector off, then what is alive frozen (`freeze_loaded`). With
    many models (`one_of_many`) only a load that imported libraries freezes, without a full
    pass: a model's own objects stay where the collector reaches them, so the cycles it leaves
    once evicted go at once (`release_unloaded`) instead of staying frozen in memory."""
    enabled, modules = gc.isenabled(), len(sys.modules)
    gc.disable()
    try:
        yield
        if not one_of_many:
            freeze_loaded()
        elif len(sys.modules) > modules:
            freeze_loaded(collect=False)
    finally:
        if enabled:
            gc.enable()


def freeze_loaded(collect: bool = True) -> None:
    """Freeze what is alive now (libraries, the model) out of the collector's full passes. On a
    reload, what was frozen before is collected first (`collect`), so an old model's cycles are
    freed: a full pass, ~100 ms with scikit-learn loaded, that holds every thread. (The freeze
    count cannot tell a reload: Python 3.12 starts with objects frozen.)"""
    global _frozen
    if _frozen and collect:
        gc.unfreeze()
        gc.collect()
    gc.freeze()
    _frozen = True


def release_unloaded() -> None:
    """After a model is dropped (MODEL_MEMORY_MB): the cycles it left collected (its schema
    class and the like, ~100 KB a model; its arrays went with the last reference) by a pass over
    what is not frozen (the loaded models' objects: 0.07 ms with eight forests loaded; a model
    alive when a load imported libraries was frozen with them, and its cycles stay), and the
    freed heap handed back."""
    gc.collect()
    if _trim is not None:
        _trim(0)


def reset_peak() -> bool:
    """Start the process's peak resident memory (VmHWM) over from its size now; False where the
    kernel does not let it (not Linux, or a sandbox without clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def peak_resident_bytes() -> int:
    """The process's peak resident memory since `reset_peak` (0 where /proc cannot tell)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def resident_bytes(pid: int | str = "self") -> int:
    """A process's resident memory now, this one's by default (0 where /proc cannot tell)."""
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
