"""Many models in one function (MODELS): fifty small forests, a memory budget that holds a few of
them, and what a cold model costs the others.

    make bench   (or: .venv/py3.11/bin/python bench/many.py --runtime .venv/runtime-py3.11
                  [--models 50 --budget-models 8 --seconds 10 --function-cpus 1])

Fifty random forests (20 trees, depth 10), trained here on the wine data and saved as skops
files, served by one function with `MODELS` and `MODEL_MEMORY_MB` sized for `--budget-models` of
them (from one forest's measured load), THREADS=4 as deploy.sh sets it with MODELS. Measured:
1. a warm model's 1-row p50/p99 with nothing else happening (one keep-alive client);
2. the same while a second client walks the other models one by one, each not loaded yet (so each
   request loads one, and past the budget evicts): the warm model's p99 then (goal: within 1.2x
   of alone), and the walk's time to first answer per model;
3. the worker's peak resident memory during the walk (VmRSS sampled every 5 ms: the
   function resets VmHWM at each load to measure that load's own peak) against its baseline
   (one model loaded) plus MODEL_MEMORY_MB (goal: within it);
4. the floor of 2: the same walk sent to a second function process instead, the warm model's p99
   meanwhile. The loads then share nothing with it but the machine's cores: what loading in a
   process of its own could at best leave.
Each figure twice: loads deserialized in the worker (a thread beside the requests), and in its
loader process (LOADER_PROCESS=1; whose memory is shown apart).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Self

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import BIN, ROOT, Client, Server, Spec, p, python_version, train_recipe

from support import loader_processes

WARM = "forest-0"


def train(count: int, folder: Path) -> dict[str, Path]:
    """`count` small forests, each with its own seed, as skops files."""
    import skops.io
    from sklearn.ensemble import RandomForestRegressor

    wine = train_recipe.load_data()
    features, quality = wine.drop(columns=["quality"]), wine["quality"]
    paths = {}
    for i in range(count):
        model = RandomForestRegressor(n_estimators=20, max_depth=10, random_state=i, n_jobs=2)
        model.fit(features, quality).set_params(n_jobs=None)
        paths[f"forest-{i}"] = folder / f"forest-{i}.skops"
        skops.io.dump(model, paths[f"forest-{i}"])
    return paths


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def worker(server: Server) -> int:
    """gunicorn's one worker: the functions-framework process's child."""
    pid = server.process.pid
    return int(Path(f"/proc/{pid}/task/{pid}/children").read_text().split()[0])


def timed_requests(client: Client, data: bytes, stop: threading.Event, seconds: float) -> list[float]:
    times, deadline = [], time.perf_counter() + seconds
    while time.perf_counter() < deadline and not stop.is_set():
        started = time.perf_counter()
        client.post(data)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", type=Path, help="a virtualenv with requirements.txt alone")
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--budget-models", type=int, default=8, help="how many forests the budget holds")
    parser.add_argument("--seconds", type=float, default=10.0, help="the warm model's measurement, alone")
    parser.add_argument(
        "--function-cpus",
        type=int,
        help="run the functions on this many CPUs (taskset), and the clients on the others: an "
        "instance of fewer CPUs than this machine's",
    )
    args = parser.parse_args()
    runtime_bin = args.runtime / "bin" if args.runtime else BIN
    row = train_recipe.load_data().drop(columns=["quality"]).head(1).to_dict(orient="records")
    data = json.dumps(row).encode()
    with tempfile.TemporaryDirectory() as folder:
        paths = train(args.models, Path(folder))
        models = ",".join(f"{name}={path}" for name, path in paths.items())
        command = [*pinned(args.function_cpus), str(runtime_bin / "functions-framework")]
        command += ["--host=127.0.0.1", "--port={port}"]
        command += ["--target=predict", f"--source={ROOT / 'main.py'}"]
        env = {"MODELS": models, "THREADS": "4"}
        # one forest's size, as the function measures it (the second load: the first carries imports)
        probe = Server(Spec("ours", command, {**env, "MODEL_MEMORY_MB": "100000"}, f"/predict/{WARM}"), row)
        second = Client(probe, "/predict/forest-1")
        second.post(data)
        second.connection.close()
        sizes = {r["name"]: r["size_mb"] for r in json.loads(get(probe, "/metadata"))["models"]}
        probe.stop()
        forest_mb = sizes["forest-1"]
        budget = max(1, round(forest_mb * args.budget_models))
        spec = Spec("ours", command, {**env, "MODEL_MEMORY_MB": str(budget)}, f"/predict/{WARM}")
        names = list(paths)[1:]
        here = measure(spec, {}, row, data, names, args.seconds)
        apart = measure(spec, {"LOADER_PROCESS": "1"}, row, data, names, args.seconds)
        # the floor: the warm model alone in its process, the same walk loaded by another function
        server, other = Server(spec, row), Server(spec, row)
        warm = Client(server)
        alone = timed_requests(warm, data, threading.Event(), args.seconds)
        with RssSampler(worker(other)):  # sampled as the walks were: the same work beside it
            elsewhere = walk_beside(warm, data, other, names, [])
        other.stop()
        warm.connection.close()  # gunicorn's graceful stop waits for open keep-alive connections
        server.stop()

    floor = p(elsewhere, 0.99) / p(alone, 0.99)
    print(f"Python: ours {python_version(runtime_bin / 'python')}")
    print(
        f"{args.models} forests (20 trees, depth 10; {forest_mb:.1f} MiB each as measured), "
        f"MODEL_MEMORY_MB={budget} (about {args.budget_models} of them), THREADS=4; each load "
        "deserialized in the worker (its thread), or in the loader process (LOADER_PROCESS=1)\n"
    )
    print(f"{'figure':<62} | {'worker':>13} | {'LOADER_PROCESS':>14} | goal      | met")
    print("-" * 112)

    def both(figure, value, goal="", met=None):
        verdict = "" if met is None else " / ".join(_verdict(met(r)) for r in (here, apart))
        print(f"{figure:<62} | {value(here):>13} | {value(apart):>14} | {goal:<9} | {verdict}")

    def ms(times, q):
        return f"{p(times, q) * 1e3:.2f}"

    both("warm model, 1 row, alone: p50 / p99 ms", lambda r: f"{ms(r.alone, 0.5)} / {ms(r.alone, 0.99)}")
    both(
        "warm model while the others load: p50 / p99 ms",
        lambda r: f"{ms(r.meanwhile, 0.5)} / {ms(r.meanwhile, 0.99)}",
    )
    both(
        f"warm model's p99: meanwhile / alone (the floor: {floor:.2f}x)",
        lambda r: f"{r.ratio:.2f}x",
        "<= 1.2x",
        lambda r: r.ratio <= 1.2,
    )
    both(
        f"a cold model's first answer ({len(names)} models): p50 / max ms",
        lambda r: f"{statistics.median(r.first_answers) * 1e3:.0f} / {max(r.first_answers) * 1e3:.0f}",
    )
    both("evictions during the walk", lambda r: f"{r.evictions}", "> 0", lambda r: r.evictions > 0)
    both(
        "worker's peak RSS over its baseline (one model loaded), MiB",
        lambda r: f"{r.peak_over_mib:.1f}",
        f"<= {budget}",
        lambda r: r.peak_over_mib <= budget,
    )
    both(
        "loader process: RSS before the walk / at its peak, MiB",
        lambda r: (
            "-" if r.loader_kib is None else f"{r.loader_kib[0] / 1024:.0f} / {r.loader_kib[1] / 1024:.0f}"
        ),
    )
    print(
        f"\nthe floor: the warm model's p99 while the same walk loads in another function process "
        f"({len(elsewhere)} requests): {floor:.2f}x alone"
    )


def pinned(cpus: int | None) -> list[str]:
    """The prefix that runs a function on the first `cpus` CPUs this process may use; this
    process (the clients) moves to the others."""
    if cpus is None:
        return []
    available = sorted(os.sched_getaffinity(0))
    if cpus >= len(available):
        raise SystemExit(f"--function-cpus {cpus}: leaves none of the {len(available)} CPUs to the clients")
    os.sched_setaffinity(0, available[cpus:])
    return ["taskset", "-c", ",".join(map(str, available[:cpus]))]


def _verdict(met: bool) -> str:
    return "yes" if met else "NO"


@dataclass
class Walk:
    """One function's figures: the warm model alone, then while a client walks the others."""

    alone: list[float]
    meanwhile: list[float]
    first_answers: list[float]
    evictions: int
    peak_over_mib: float
    loader_kib: tuple[int, int] | None  # the loader process's VmRSS before the walk, and its peak

    @property
    def ratio(self) -> float:
        return p(self.meanwhile, 0.99) / p(self.alone, 0.99)


def measure(
    spec: Spec, env: dict[str, str], row: list[dict], data: bytes, names: list[str], seconds: float
) -> Walk:
    """Start the function (its first answer loads the warm model), time the warm model alone,
    then while a second client walks `names`; sample the worker's (and loader's) memory."""
    server = Server(spec, row, env)
    pid = worker(server)
    loader = wait_for_loader(pid) if env.get("LOADER_PROCESS") else None
    warm = Client(server)
    alone = timed_requests(warm, data, threading.Event(), seconds)
    baseline_kib = status_kib(pid, "VmRSS")
    loader_before = status_kib(loader, "VmRSS") if loader else 0
    first_answers: list[float] = []
    with RssSampler(pid) as sampled, RssSampler(loader) as loader_sampled:
        meanwhile = walk_beside(warm, data, server, names, first_answers)
    metadata = json.loads(get(server, "/metadata"))
    warm.connection.close()
    server.stop()
    return Walk(
        alone,
        meanwhile,
        first_answers,
        sum(r["evictions"] for r in metadata["models"]),
        (sampled.most_kib - baseline_kib) / 1024,
        (loader_before, loader_sampled.most_kib) if loader else None,
    )


def wait_for_loader(worker_pid: int) -> int:
    """The worker's loader process (LOADER_PROCESS: a spawned multiprocessing child, started as
    the first model loaded), once it has imported what it imports as it starts (its CPU time
    still for half a second): that is not the loads' cost."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = loader_processes(worker_pid)
        if found:
            used = cpu_ticks(found[0])
            time.sleep(0.5)
            if cpu_ticks(found[0]) == used:
                return found[0]
        time.sleep(0.1)
    raise RuntimeError("the worker started no loader process, or it never settled")


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


class RssSampler:
    """The largest VmRSS of process `pid` seen while the block runs, read every 5 ms (none
    without a pid)."""

    def __init__(self, pid: int | None):
        self.pid, self.most_kib = pid, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.most_kib = max(self.most_kib, status_kib(self.pid, "VmRSS"))

    def __enter__(self) -> Self:
        if self.pid is not None:
            self._thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def walk_beside(warm: Client, data: bytes, walked: Server, names: list[str], first_answers: list[float]):
    """The warm model's request times while a second client asks `walked` for each of `names`
    in turn (each not loaded there yet), recording each one's time to its first answer."""
    stop, failed = threading.Event(), []

    def walk():
        try:
            for name in names:
                client = Client(walked, f"/predict/{name}")
                started = time.perf_counter()
                client.post(data)
                first_answers.append(time.perf_counter() - started)
                client.connection.close()
        except Exception as error:  # noqa: BLE001 - raised again in the measuring thread
            failed.append(error)
        finally:
            stop.set()

    walker = threading.Thread(target=walk)
    walker.start()
    times = timed_requests(warm, data, stop, 600)
    walker.join()
    if failed:
        raise RuntimeError(f"the walk failed at model {len(first_answers) + 1}: {failed[0]}")
    return times


def get(server: Server, path: str) -> bytes:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    connection.request("GET", path)
    try:
        return connection.getresponse().read()
    finally:
        connection.close()


if __name__ == "__main__":
    main()
