"""How much more memory the instance can give this process, so that what is optional (scikit-learn's
compiled trees for large batches, ~130 MiB with its import) is built only where it fits.

A Cloud Functions instance is killed when it passes its memory; a function serving a forest
without scikit-learn can run in a fraction of the memory it would need with it. What is left
is the smaller of what the container's memory cgroup allows above what it uses (v2 or v1; its
inactive file cache counted as free, as the kernel reclaims it first) and the kernel's own
`MemAvailable`; None where neither can be read.
"""

from __future__ import annotations

from pathlib import Path

MIB = 1024 * 1024
RESERVE_BYTES = 64 * MIB  # kept free beside what is built: the requests in flight
UNLIMITED = 1 << 60  # cgroup v1 writes "no limit" as a number near 2^63
CGROUP = Path("/sys/fs/cgroup")
MEMINFO = Path("/proc/meminfo")


def available_bytes(cgroup: Path = CGROUP, meminfo: Path = MEMINFO) -> int | None:
    """What the instance can still give this process (None: unknown)."""
    known = [left for left in (_cgroup_left(cgroup), _mem_available(meminfo)) if left is not None]
    return min(known) if known else None


def fits(needed: int) -> bool:
    """Whether `needed` more bytes fit with RESERVE_BYTES to spare (True when nothing is known)."""
    left = available_bytes()
    return left is None or needed + RESERVE_BYTES <= left


def _cgroup_left(root: Path) -> int | None:
    for limit_file, usage_file, stat_file, inactive in (
        (root / "memory.max", root / "memory.current", root / "memory.stat", "inactive_file"),
        (
            root / "memory" / "memory.limit_in_bytes",
            root / "memory" / "memory.usage_in_bytes",
            root / "memory" / "memory.stat",
            "total_inactive_file",
        ),
    ):
        limit, usage = _number(limit_file), _number(usage_file)
        if limit is None or usage is None or limit >= UNLIMITED:
            continue
        return max(limit - max(usage - _stat(stat_file, inactive), 0), 0)
    return None


def _number(path: Path) -> int | None:
    """The integer a cgroup file holds; None for "max", or a file that cannot be read."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _stat(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _mem_available(meminfo: Path) -> int | None:
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None
