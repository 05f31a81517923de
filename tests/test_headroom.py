"""What the instance's memory leaves (predictor/headroom.py), read from files laid out as the
kernel lays them out: cgroup v2, cgroup v1, /proc/meminfo."""

from __future__ import annotations

from pathlib import Path

import pytest

from predictor import headroom

MIB = 1024 * 1024
PLENTY = f"MemTotal: 24683792 kB\nMemFree: 1000 kB\nMemAvailable: {8 * 1024 * 1024} kB\n"
V1_UNLIMITED = "9223372036854771712"


def lay_out(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize(
    "files, expected_mib",
    [
        pytest.param(
            {
                "memory.max": f"{512 * MIB}\n",
                "memory.current": f"{300 * MIB}\n",
                "memory.stat": f"anon {200 * MIB}\nfile {100 * MIB}\ninactive_file {50 * MIB}\n",
            },
            262,
            id="v2: the limit less what is used, inactive file cache counted free",
        ),
        pytest.param({"memory.max": "max\n", "memory.current": f"{300 * MIB}\n"}, 8192, id="v2 unlimited"),
        pytest.param(
            {
                "memory/memory.limit_in_bytes": f"{256 * MIB}\n",
                "memory/memory.usage_in_bytes": f"{200 * MIB}\n",
                "memory/memory.stat": f"cache {40 * MIB}\ntotal_inactive_file {30 * MIB}\n",
            },
            86,
            id="v1",
        ),
        pytest.param(
            {
                "memory/memory.limit_in_bytes": V1_UNLIMITED,
                "memory/memory.usage_in_bytes": f"{200 * MIB}\n",
            },
            8192,
            id="v1 unlimited",
        ),
        pytest.param(
            {"memory.max": f"{128 * MIB}\n", "memory.current": f"{130 * MIB}\n"},
            0,
            id="over the limit: nothing left",
        ),
    ],
)
def test_what_is_left_is_the_smaller_of_the_cgroups_and_the_kernels(tmp_path, files, expected_mib):
    cgroup = lay_out(tmp_path / "cgroup", files)
    meminfo = lay_out(tmp_path, {"meminfo": PLENTY}) / "meminfo"
    assert headroom.available_bytes(cgroup, meminfo) == expected_mib * MIB


def test_the_kernels_figure_when_it_is_the_smaller(tmp_path):
    cgroup = lay_out(tmp_path / "cgroup", {"memory.max": f"{4096 * MIB}", "memory.current": f"{100 * MIB}"})
    meminfo = lay_out(tmp_path, {"meminfo": "MemTotal: 1 kB\nMemAvailable: 2048 kB\n"}) / "meminfo"
    assert headroom.available_bytes(cgroup, meminfo) == 2 * MIB


def test_nothing_readable_is_unknown(tmp_path):
    assert headroom.available_bytes(tmp_path / "no-cgroup", tmp_path / "no-meminfo") is None


def test_this_machine_says_something():
    left = headroom.available_bytes()
    assert left is None or left > 0
