"""`make serve`: the local loop listens on this machine only unless told otherwise, and says where
and what it serves before the first request."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from support import EXAMPLE, ROOT, free_port


def listening_addresses(port: int) -> set[str]:
    """The local addresses of the IPv4 sockets listening on `port` (from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
            found.add(".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0)))
    return found


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads /proc/net/tcp")
def test_make_serve_binds_loopback_and_says_where(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [
            "make",
            "-C",
            str(ROOT),
            "serve",
            f"PORT={port}",
            f"MODEL_URI={EXAMPLE}",
            f"PYTHON={sys.executable}",
        ],
        stdout=(tmp_path / "out").open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not listening_addresses(port):
            time.sleep(0.2)
        assert listening_addresses(port) == {"127.0.0.1"}
        assert requests.get(f"http://127.0.0.1:{port}/health", timeout=10).status_code == 200
        printed = (tmp_path / "out").read_text()
        assert f"serving {EXAMPLE} at http://127.0.0.1:{port}/ (it loads on the first request" in printed
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@pytest.mark.parametrize(
    "model_uri, logged",
    [
        (EXAMPLE, "PRELOAD: the model is loaded"),
        ("gs://no-such-bucket-here/model", "PRELOAD: the model did not load"),
    ],
)
def test_preload_loads_at_start_and_a_bad_uri_shows_at_once(tmp_path, model_uri, logged):
    """With PRELOAD=1 the model loads as the server starts: a bad MODEL_URI is in the log before
    any request, and a good one answers /ready without loading on the request."""
    port = free_port()
    out = tmp_path / "out"
    env = {**os.environ, "STORAGE_EMULATOR_HOST": "http://127.0.0.1:9", "GCS_TIMEOUT_SECONDS": "2"}
    process = subprocess.Popen(
        ["make", "-C", str(ROOT), "serve", f"PORT={port}", f"MODEL_URI={model_uri}", "PRELOAD=1"]
        + [f"PYTHON={sys.executable}"],
        stdout=out.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and logged not in out.read_text():
            time.sleep(0.2)
        printed = out.read_text()
        assert logged in printed, printed[-2000:]
        assert "(loading it now;" in printed
        assert '"POST' not in printed and '"GET' not in printed  # no request was needed
        if model_uri == EXAMPLE:
            ready = requests.get(f"http://127.0.0.1:{port}/ready", timeout=10).json()
            assert ready["status"] == "ready"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def test_make_serve_with_models_serves_each_by_name(tmp_path):
    """The README's many-models command, with two local models."""
    port = free_port()
    models = f"wine={EXAMPLE},again={EXAMPLE}"
    process = subprocess.Popen(
        ["make", "-C", str(ROOT), "serve", f"PORT={port}", f"MODELS={models}", f"PYTHON={sys.executable}"],
        stdout=(tmp_path / "out").open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not listening_addresses(port):
            time.sleep(0.2)
        payload = (ROOT / "examples" / "payload.json").read_bytes()
        headers = {"Content-Type": "application/json"}
        answers = [
            requests.post(
                f"http://127.0.0.1:{port}/predict/{name}", data=payload, headers=headers, timeout=30
            )
            for name in ("wine", "again")
        ]
        assert [a.status_code for a in answers] == [200, 200] and answers[0].json() == answers[1].json()
        printed = (tmp_path / "out").read_text()
        assert f"serving {models} at http://127.0.0.1:{port}/ (each loads on its first request" in printed
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
