"""Many models in one function (MODELS): fifty small forests, a memory budget that holds a few of
them, and what a cold model costs the others.

    make bench   (or: .venv/py3.11/bin/python bench/many.py --runtime .venv/runtime-py3.11
                  [--models 50 --budget-models 8 --seconds 10])

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
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Self

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import BIN, ROOT, Client, Server, Spec, p, python_version, train_recipe

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
    args = parser.parse_args()
    runtime_bin = args.runtime / "bin" if args.runtime else BIN
    row = train_recipe.load_data().drop(columns=["quality"]).head(1).to_dict(orient="records")
    data = json.dumps(row).encode()
    with tempfile.TemporaryDirectory() as folder:
        paths = train(args.models, Path(folder))
        models = ",".join(f"{name}={path}" for name, path in paths.items())
        command = [str(runtime_bin / "functions-framework"), "--host=127.0.0.1", "--port={port}"]
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
        server = Server(spec, row)  # its first answer loads the warm model
        pid = worker(server)
        baseline_kib = status_kib(pid, "VmRSS")
        warm = Client(server)
        alone = timed_requests(warm, data, threading.Event(), args.seconds)

        first_answers: list[float] = []
        with RssSampler(pid) as sampled:
            meanwhile = walk_beside(warm, data, server, list(paths)[1:], first_answers)
        peak_kib = sampled.most_kib
        metadata = json.loads(get(server, "/metadata"))
        other = Server(spec, row)  # the floor: the same walk, loaded by another process
        with RssSampler(worker(other)):  # sampled as the first walk was: the same work beside it
            elsewhere = walk_beside(warm, data, other, list(paths)[1:], [])
        other.stop()
        warm.connection.close()  # gunicorn's graceful stop waits for open keep-alive connections
        server.stop()

    evictions = sum(r["evictions"] for r in metadata["models"])
    ratio = p(meanwhile, 0.99) / p(alone, 0.99)
    floor = p(elsewhere, 0.99) / p(alone, 0.99)
    peak_over = (peak_kib - baseline_kib) / 1024
    print(f"Python: ours {python_version(runtime_bin / 'python')}")
    print(
        f"{args.models} forests (20 trees, depth 10; {forest_mb:.1f} MiB each as measured), "
        f"MODEL_MEMORY_MB={budget} (about {args.budget_models} of them), THREADS=4\n"
    )
    print(f"{'figure':<58} | {'value':>15} | goal       | met")
    print("-" * 92)
    rows = [
        (
            "warm model, 1 row, alone: p50 / p99 ms",
            f"{p(alone, 0.5) * 1e3:.2f} / {p(alone, 0.99) * 1e3:.2f}",
            "",
            None,
        ),
        (
            f"warm model meanwhile ({len(meanwhile)} requests): p50 / p99 ms",
            f"{p(meanwhile, 0.5) * 1e3:.2f} / {p(meanwhile, 0.99) * 1e3:.2f}",
            "",
            None,
        ),
        (
            "warm model's p99: meanwhile / alone",
            f"{ratio:.2f}x",
            "<= 1.2x",
            ratio <= 1.2 or f"NO (the floor: {floor:.2f}x)",
        ),
        (
            f"the floor, loads in another process ({len(elsewhere)}): p99 / alone",
            f"{floor:.2f}x",
            "",
            None,
        ),
        (
            f"a cold model's first answer ({len(first_answers)} models): p50 / max ms",
            f"{statistics.median(first_answers) * 1e3:.0f} / {max(first_answers) * 1e3:.0f}",
            "",
            None,
        ),
        ("evictions during the walk", f"{evictions}", "> 0", evictions > 0),
        (
            "peak RSS over the baseline (one model loaded), MiB",
            f"{peak_over:.1f}",
            f"<= {budget}",
            peak_over <= budget,
        ),
    ]
    for figure, value, goal, met in rows:
        shown = "" if met is None else met if isinstance(met, str) else "yes" if met else "NO"
        print(f"{figure:<58} | {value:>15} | {goal:<10} | {shown}")


class RssSampler:
    """The largest VmRSS of process `pid` seen while the block runs, read every 5 ms."""

    def __init__(self, pid: int):
        self.pid, self.most_kib = pid, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.most_kib = max(self.most_kib, status_kib(self.pid, "VmRSS"))

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
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
