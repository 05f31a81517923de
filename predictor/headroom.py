"""How much more memory the instance can give this process, so that what is optional (scikit-learn's
compiled trees for large batches, ~130 MiB with its import) is built only where it fits.

A Cloud Functions instance is killed when it passes its memory; a function serving a forest
without scikit-learn can run in a fraction of the memory it would need with it. What is left
is the smaller of what the memory cgroups over this process allow above what they use (its own,
named in /proc/self/cgroup, and each above it, v2 or v1; inactive file cache counted as free,
as the kernel reclaims it first) and the kernel's own `MemAvailable`; None where neither can be
read.
"""

from __future__ import annotations

from pathlib import Path

MIB = 1024 * 1024
RESERVE_BYTES = 64 * MIB  # kept free beside what is built: the requests in flight
UNLIMITED = 1 << 60  # cgroup v1 writes "no limit" as a number near 2^63
CGROUP = Path("/sys/fs/cgroup")
SELF_CGROUP = Path("/proc/self/cgroup")
MEMINFO = Path("/proc/meminfo")
# (the hierarchy's mount under CGROUP, its limit, its usage, the inactive file cache in memory.stat)
V2 = (".", "memory.max", "memory.current", "inactive_file")
V1 = ("memory", "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")


def available_bytes(
    cgroup: Path = CGROUP, self_cgroup: Path = SELF_CGROUP, meminfo: Path = MEMINFO
) -> int | None:
    """What the instance can still give this process (None: unknown)."""
    known = [
        left for left in (*_cgroups_left(cgroup, self_cgroup), _mem_available(meminfo)) if left is not None
    ]
    return min(known) if known else None


def fits(needed: int) -> bool:
    """Whether `needed` more bytes fit with RESERVE_BYTES to spare (True when nothing is known)."""
    left = available_bytes()
    return left is None or needed + RESERVE_BYTES <= left


def _cgroups_left(root: Path, self_cgroup: Path) -> list[int]:
    """What each limited memory cgroup from this process's own up to its hierarchy's top leaves."""
    lefts = []
    for (mount, limit_name, usage_name, inactive), own in _own_paths(self_cgroup):
        top = (root / mount).resolve()
        directory = (top / own).resolve()
        if top not in directory.parents:
            directory = top  # its own, or (named otherwise) the top alone
        while True:
            limit, usage = _number(directory / limit_name), _number(directory / usage_name)
            if limit is not None and usage is not None and limit < UNLIMITED:
                used = max(usage - _stat(directory / "memory.stat", inactive), 0)
                lefts.append(max(limit - used, 0))
            if directory == top:
                break
            directory = directory.parent
    return lefts


def _own_paths(self_cgroup: Path) -> list[tuple[tuple[str, str, str, str], str]]:
    """This process's memory cgroup in each hierarchy ("/" inside a container's own namespace)."""
    found = {}
    try:
        lines = self_cgroup.read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if controllers == "":
            found[V2] = path.strip("/")
        elif "memory" in controllers.split(","):
            found[V1] = path.strip("/")
    return [(hierarchy, found.get(hierarchy, "")) for hierarchy in (V2, V1)]


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
