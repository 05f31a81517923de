import threading
import time
from itertools import pairwise

import pytest

from predictor.loading.cache import LazySlot, Refresher


class CountingLoader:
    def __init__(self, failures: int = 0, seconds: float = 0.2):
        self.calls = 0
        self.failures = failures
        self.seconds = seconds
        self._lock = threading.Lock()

    def __call__(self):
        with self._lock:
            self.calls += 1
            call = self.calls
        time.sleep(self.seconds)
        if call <= self.failures:
            raise RuntimeError(f"load {call} failed")
        return f"model from load {call}"


def hammer(slot, threads=16):
    """`threads` callers released at once; each result or exception, in order."""
    barrier = threading.Barrier(threads)
    results = [None] * threads

    def call(i):
        barrier.wait()
        try:
            results[i] = slot.get()
        except Exception as exc:  # noqa: BLE001
            results[i] = exc

    workers = [threading.Thread(target=call, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return results


def test_concurrent_first_calls_share_one_load():
    loader = CountingLoader()
    slot = LazySlot(loader)
    assert slot.peek() is None
    assert hammer(slot) == ["model from load 1"] * 16
    assert loader.calls == 1
    assert slot.get() == slot.peek() == "model from load 1" and loader.calls == 1


def test_a_failed_load_is_shared_by_its_waiters_and_not_kept():
    loader = CountingLoader(failures=1)
    slot = LazySlot(loader)
    results = hammer(slot)
    assert loader.calls == 1
    assert all(isinstance(r, RuntimeError) and str(r) == "load 1 failed" for r in results)
    assert slot.peek() is None
    assert slot.get() == "model from load 2"
    assert loader.calls == 2


def test_each_later_call_retries_until_a_load_succeeds():
    loader = CountingLoader(failures=2, seconds=0)
    slot = LazySlot(loader)
    for attempt in (1, 2):
        with pytest.raises(RuntimeError, match=f"load {attempt} failed"):
            slot.get()
    assert slot.get() == "model from load 3"


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def settle(refresher, seconds=5.0):
    """Wait for the refresher's background check to finish."""
    deadline = time.monotonic() + seconds
    while refresher._running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not refresher._running


@pytest.mark.parametrize(
    "stale, load, expected, loads",
    [
        (None, lambda: "v2", "v1", 0),  # nothing changed: nothing loaded
        ("v2 uploaded", lambda: "v2", "v2", 1),  # changed: the new value is swapped in
        ("v2 uploaded", lambda: (_ for _ in ()).throw(RuntimeError("bad artifact")), "v1", 1),  # old stays
    ],
)
def test_refresher_checks_at_most_once_per_interval(stale, load, expected, loads):
    clock, checks, calls = Clock(), [], []
    slot = LazySlot(lambda: "v1")
    slot.get()

    def loader():
        calls.append(1)
        return load()

    refresher = Refresher(slot, lambda value: checks.append(value) or stale, loader, interval=10, clock=clock)
    refresher.poke()
    settle(refresher)
    assert checks == []  # too early
    clock.now = 10
    for _ in range(5):  # many requests at once: one check
        refresher.poke()
    settle(refresher)
    assert checks == ["v1"] and len(calls) == loads and slot.get() == expected
    refresher.poke()
    settle(refresher)
    assert len(checks) == 1  # the next check waits for the next interval
    clock.now = 25
    refresher.poke()
    settle(refresher)
    assert len(checks) == 2


def test_refresher_off_when_interval_is_zero():
    slot = LazySlot(lambda: "v1")
    refresher = Refresher(slot, lambda value: pytest.fail("checked"), lambda: "v2", interval=0, clock=Clock())
    refresher.poke()
    assert not refresher._running


def test_a_rejected_source_is_tried_again_at_a_slower_pace_until_it_changes(caplog):
    """A bad artifact (a MODEL_SHA256 mismatch, say) is not downloaded again every interval."""
    clock, source, loads = Clock(), ["generation 2"], []
    slot = LazySlot(lambda: "v1")
    slot.get()

    def loader():
        loads.append(clock.now)
        if source[0] == "generation 2":
            raise RuntimeError("the artifact's SHA-256 is not MODEL_SHA256")
        return "v3"

    refresher = Refresher(
        slot, lambda value: source[0] if value == "v1" else None, loader, interval=10, clock=clock
    )
    caplog.set_level("WARNING", logger="predictor.loading.cache")
    for now in range(10, 160, 10):  # a check every interval
        clock.now = now
        refresher.poke()
        settle(refresher)
    # tried at once, then after 2, 4, 8 intervals
    assert loads == [10, 30, 70, 150]
    failures = [r.getMessage() for r in caplog.records if "model reload failed" in r.getMessage()]
    assert len(failures) == 4 and "tried again in 20 s unless it changes first" in failures[0]
    assert "in 160 s" in failures[-1] and slot.get() == "v1"
    source[0] = "generation 3"  # a fixed upload is tried at its next check, whatever the back-off
    clock.now = 160
    refresher.poke()
    settle(refresher)
    assert loads[-1] == 160 and slot.get() == "v3"


def test_the_back_off_is_capped():
    clock, loads = Clock(), []
    slot = LazySlot(lambda: "v1")
    slot.get()
    refresher = Refresher(
        slot, lambda value: "bad", lambda: loads.append(clock.now) or 1 / 0, interval=1, clock=clock
    )
    for now in range(1, 400):
        clock.now = now
        refresher.poke()
        settle(refresher)
    gaps = [later - earlier for earlier, later in pairwise(loads)]
    assert gaps[:6] == [2, 4, 8, 16, 32, 64] and set(gaps[6:]) == {Refresher.MAX_BACKOFF}
