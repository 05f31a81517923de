"""What the instance's memory leaves (predictor/headroom.py), read from files laid out as the
kernel lays them out: cgroup v2 and v1 hierarchies, /proc/self/cgroup, /proc/meminfo."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import skops.io
from sklearn.ensemble import RandomForestRegressor

from predictor import headroom
from predictor.loading.forest_models import COMPILED_FROM
from support import records

MIB = 1024 * 1024
PLENTY = f"MemTotal: 24683792 kB\nMemFree: 1000 kB\nMemAvailable: {8 * 1024 * 1024} kB\n"
V1_UNLIMITED = "9223372036854771712\n"
IN_A_CONTAINER = "0::/\n"  # its own cgroup namespace: its cgroup is the hierarchy's top
V1_IN_A_CONTAINER = "4:memory:/\n2:cpu,cpuacct:/\n"


def lay_out(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def left(tmp_path: Path, files: dict[str, str], own: str, meminfo: str = PLENTY) -> int | None:
    cgroup = lay_out(tmp_path / "cgroup", files)
    paths = lay_out(tmp_path / "proc", {"cgroup": own, "meminfo": meminfo})
    return headroom.available_bytes(cgroup, paths / "cgroup", paths / "meminfo")


@pytest.mark.parametrize(
    "files, own, expected_mib",
    [
        pytest.param(
            {
                "memory.max": f"{512 * MIB}\n",
                "memory.current": f"{300 * MIB}\n",
                "memory.stat": f"anon {200 * MIB}\nfile {100 * MIB}\ninactive_file {50 * MIB}\n",
            },
            IN_A_CONTAINER,
            262,
            id="v2: the limit less what is used, inactive file cache counted free",
        ),
        pytest.param(
            {"memory.max": "max\n", "memory.current": f"{300 * MIB}\n"},
            IN_A_CONTAINER,
            8192,
            id="v2 unlimited",
        ),
        pytest.param(
            {
                "memory/memory.limit_in_bytes": f"{256 * MIB}\n",
                "memory/memory.usage_in_bytes": f"{200 * MIB}\n",
                "memory/memory.stat": f"cache {40 * MIB}\ntotal_inactive_file {30 * MIB}\n",
            },
            V1_IN_A_CONTAINER,
            86,
            id="v1",
        ),
        pytest.param(
            {"memory/memory.limit_in_bytes": V1_UNLIMITED, "memory/memory.usage_in_bytes": f"{200 * MIB}\n"},
            V1_IN_A_CONTAINER,
            8192,
            id="v1 unlimited",
        ),
        pytest.param(
            {"memory.max": f"{128 * MIB}\n", "memory.current": f"{130 * MIB}\n"},
            IN_A_CONTAINER,
            0,
            id="over the limit: nothing left",
        ),
        pytest.param(
            {
                "memory.max": "max\n",
                "memory.current": f"{900 * MIB}\n",
                "run/memory.max": f"{1024 * MIB}\n",
                "run/memory.current": f"{700 * MIB}\n",
                "run/function/memory.max": "max\n",
                "run/function/memory.current": f"{100 * MIB}\n",
            },
            "0::/run/function\n",
            324,
            id="v2: its own cgroup unlimited, the one above it limited",
        ),
        pytest.param(
            {
                "memory/memory.limit_in_bytes": V1_UNLIMITED,
                "memory/memory.usage_in_bytes": f"{900 * MIB}\n",
                "memory/job/memory.limit_in_bytes": f"{300 * MIB}\n",
                "memory/job/memory.usage_in_bytes": f"{250 * MIB}\n",
            },
            "4:memory:/job\n0::/\n",
            50,
            id="v1: its own cgroup limited, the top not",
        ),
        pytest.param(
            {"memory.max": f"{512 * MIB}\n", "memory.current": f"{112 * MIB}\n"},
            "0::/docker/abc\n",
            400,
            id="its own cgroup named as the host sees it, not there: the top's",
        ),
    ],
)
def test_what_is_left_is_the_least_any_limit_over_it_leaves(tmp_path, files, own, expected_mib):
    assert left(tmp_path, files, own) == expected_mib * MIB


def test_the_kernels_figure_when_it_is_the_smaller(tmp_path):
    files = {"memory.max": f"{4096 * MIB}", "memory.current": f"{100 * MIB}"}
    assert left(tmp_path, files, IN_A_CONTAINER, "MemTotal: 1 kB\nMemAvailable: 2048 kB\n") == 2 * MIB


def test_nothing_readable_is_unknown(tmp_path):
    assert headroom.available_bytes(tmp_path / "no-cgroup", tmp_path / "none", tmp_path / "none") is None


def test_this_machine_says_something():
    found = headroom.available_bytes()
    assert found is None or found > 0


# a real function process in a memory cgroup of its own, where the kernel lets one be made


@pytest.fixture
def memory_cgroup():
    """A fresh cgroup v1 memory cgroup under this process's own (skipped where none can be
    made: no v1 memory hierarchy, or not allowed); removed after the test, its processes moved
    back to the one above."""
    own = [
        line.split(":", 2)[2]
        for line in Path("/proc/self/cgroup").read_text().splitlines()
        if ":memory:" in line
    ]
    if not own:
        pytest.skip("no cgroup v1 memory hierarchy")
    made = Path("/sys/fs/cgroup/memory", own[0].lstrip("/"), f"predictor-test-{os.getpid()}")
    try:
        made.mkdir()
    except OSError as error:
        pytest.skip(f"no memory cgroup can be made here: {error}")
    yield made
    for pid in (made / "cgroup.procs").read_text().split():  # back where they came from
        (made.parent / "cgroup.procs").write_text(pid)
    made.rmdir()


@pytest.mark.parametrize("room_mib, built", [(120, False), (450, True)], ids=["no room", "room"])
def test_a_small_instance_keeps_large_batches_walked(
    memory_cgroup, start_server, wine_data, tmp_path, room_mib, built
):
    """The function's processes moved into a memory cgroup whose limit leaves `room_mib` above
    what they use: a large batch builds scikit-learn's compiled trees (its import, ~130 MiB, and
    the copy, with 64 MiB to spare) only where they fit; else it is logged and the walk answers."""
    features, quality = wine_data.drop(columns=["quality"]), wine_data["quality"]
    forest = RandomForestRegressor(n_estimators=20, max_depth=8, random_state=0).fit(features, quality)
    skops.io.dump(forest, tmp_path / "forest.skops")
    server = start_server({"MODEL_URI": str(tmp_path / "forest.skops"), "THREADS": "1"}, measured=False)
    assert server.post(json=records(features.head(1))).status_code == 200
    master = server.process.pid
    worker = int(Path(f"/proc/{master}/task/{master}/children").read_text().split()[0])
    for pid in (master, worker):
        (memory_cgroup / "cgroup.procs").write_text(str(pid))
    used = int((memory_cgroup / "memory.usage_in_bytes").read_text())
    (memory_cgroup / "memory.limit_in_bytes").write_text(str(used + room_mib * MIB))

    large = features.sample(COMPILED_FROM // 20 + 1, replace=True, random_state=0)
    answer = server.post(json=records(large))
    assert answer.status_code == 200
    assert answer.json() == pytest.approx(forest.predict(large).tolist(), rel=1e-12)

    def compiled() -> bool:
        return "sklearn/tree/_tree" in Path(f"/proc/{worker}/maps").read_text()

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (compiled() or "not building" in server.log()):
        time.sleep(0.1)
    assert compiled() == built
    assert ("not building the forest's compiled trees" in server.log()) == (not built)
    assert server.post(json=records(large)).status_code == 200  # walked or compiled: answered
