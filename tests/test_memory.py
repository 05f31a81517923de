"""A moment after a large request the heap is trimmed: freed memory goes back to the OS."""

import gc
import json

import pytest

from support import EXAMPLE, run_python

SCRIPT = """
import sys
from predictor.memory import LARGE_BODY_BYTES, release_after

def rss_mib():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmRSS")).split()[1]) // 1024

assert release_after(LARGE_BODY_BYTES - 1) is None  # small requests leave the heap alone
blocks = [bytes(2000) + bytes([i % 256]) for i in range(60_000)]  # ~120 MiB from malloc
del blocks[:-1]  # all freed but the last, which pins the top of the heap
held = rss_mib()
first = release_after(LARGE_BODY_BYTES)
timer = release_after(LARGE_BODY_BYTES)  # a run of large requests: one trim, after the last
timer.join(10)
print(held, rss_mib(), first.finished.is_set() and not first.is_alive() and not timer.is_alive())
"""


def test_a_large_request_gives_freed_memory_back():
    result = run_python(SCRIPT)
    held, after, done = result.stdout.split()
    assert done == "True"
    assert int(held) - int(after) > 60, (held, after)


FREEZE = """
import gc, weakref
from predictor.memory import freeze_loaded

gc.disable()  # as while a model loads: only the calls below collect

class Node:
    pass

cycle = Node()
cycle.itself = cycle
ref = weakref.ref(cycle)
garbage = Node()
garbage.itself = garbage
garbage_ref = weakref.ref(garbage)
del garbage
at_start = gc.get_freeze_count()  # 0 on Python 3.11; 3.12 starts with some frozen
freeze_loaded()  # a model has loaded: what is alive is out of the collector's full passes
frozen = gc.get_freeze_count() > at_start
first_load_collected = garbage_ref() is None  # a first load need not pay for a full pass
del cycle
gc.collect()
skipped = ref() is not None
freeze_loaded()  # a reload: what was frozen is collected first
print(frozen, not first_load_collected, skipped, ref() is None)
"""


def test_a_loaded_model_is_frozen_out_of_full_collections_and_a_reload_frees_the_old():
    result = run_python(FREEZE)
    assert result.stdout.split() == ["True", "True", "True", "True"]


MANY = """
import gc, json, weakref
from predictor.memory import loading, release_unloaded

gc.disable()

class Node:
    pass

def load(imports):
    with loading(one_of_many=True):
        if imports:
            import colorsys  # a library the model needs, imported as it loads
        model = Node()
        model.itself = model  # a cycle, as a schema class is
    return model, weakref.ref(model)

at_start = gc.get_freeze_count()  # 0 on Python 3.11; 3.12 starts with some frozen
first, first_ref = load(imports=True)  # the first model imports its libraries: frozen with them
after_first = gc.get_freeze_count()
second, second_ref = load(imports=False)  # the next ones are not frozen
gc.disable()
del first, second  # both evicted
release_unloaded()
print(json.dumps({
    "the importing load froze": after_first > at_start,
    "a load without imports froze nothing more": gc.get_freeze_count() == after_first,
    "its cycles went at its eviction": second_ref() is None,
    "the frozen one's wait": first_ref() is not None,
}))
"""


def test_with_many_models_only_importing_loads_freeze_and_an_eviction_frees_the_models_cycles():
    result = run_python(MANY)
    assert set(json.loads(result.stdout).values()) == {True}, result.stdout


def test_the_collector_is_off_while_loading_and_back_on_after():
    from predictor.memory import loading

    assert gc.isenabled()
    with loading():
        assert not gc.isenabled()
    assert gc.isenabled() and gc.get_freeze_count() > 0
    gc.unfreeze()
    with pytest.raises(ValueError), loading():  # a failed load: the collector is back on
        raise ValueError("the model did not load")
    assert gc.isenabled()


def test_the_service_freezes_once_its_model_is_loaded():
    script = (
        "import gc, main\nbefore = gc.get_freeze_count()\nmain.service.models.lifecycle().model()\n"
        "print(gc.get_freeze_count() > before)"
    )
    result = run_python(script, MODEL_URI=EXAMPLE)
    assert result.stdout.split()[-1] == "True"


PEAK = """
from predictor.memory import peak_resident_bytes, reset_peak, resident_bytes
MIB = 1 << 20
assert reset_peak()
before = resident_bytes()
buffer = b"x" * (64 * MIB)  # every page written
del buffer  # unmapped: gone from the resident size, not from the peak
assert resident_bytes() - before < 8 * MIB
assert peak_resident_bytes() - before >= 60 * MIB  # (the counters are kept by the page, in batches)
assert reset_peak()
assert peak_resident_bytes() - before < 8 * MIB
print("ok")
"""


def test_a_loads_peak_is_measured_though_its_buffers_are_gone():
    """MODEL_MEMORY_MB makes room for a model's peak while it loads (its file's bytes, skops'
    schema), which its size once loaded does not show."""
    assert run_python(PEAK).stdout == "ok\n"
