"""`make serve`: the local loop listens on this machine only unless told otherwise, and says where
and what it serves before the first request."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from support import EXAMPLE, ROOT, free_port, records


def listening_addresses(port: int) -> set[str]:
    """The local addresses of the IPv4 sockets listening on `port` (from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
            found.add(".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0)))
    return found


@contextmanager
def make_serve(
    tmp_path: Path, *settings: str, env: dict[str, str] | None = None
) -> Iterator[tuple[int, Path]]:
    """`make serve` with `settings` on a free port, in a session of its own (stopped whole at
    the end): the port, and the file its output goes to."""
    port, out = free_port(), tmp_path / "out"
    process = subprocess.Popen(
        ["make", "-C", str(ROOT), "serve", f"PORT={port}", *settings, f"PYTHON={sys.executable}"],
        stdout=out.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=env,
    )
    try:
        yield port, out
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def wait_listening(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not listening_addresses(port):
        time.sleep(0.2)


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads /proc/net/tcp")
def test_make_serve_binds_loopback_and_says_where(tmp_path):
    with make_serve(tmp_path, f"MODEL_URI={EXAMPLE}") as (port, out):
        wait_listening(port)
        assert listening_addresses(port) == {"127.0.0.1"}
        assert requests.get(f"http://127.0.0.1:{port}/health", timeout=10).status_code == 200
        printed = out.read_text()
        assert f"serving {EXAMPLE} at http://127.0.0.1:{port}/ (it loads on the first request" in printed


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
    env = {**os.environ, "STORAGE_EMULATOR_HOST": "http://127.0.0.1:9", "GCS_TIMEOUT_SECONDS": "2"}
    with make_serve(tmp_path, f"MODEL_URI={model_uri}", "PRELOAD=1", env=env) as (port, out):
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


def test_make_serve_with_models_serves_each_by_name(tmp_path, trained):
    """The README's many-models command, with two local models that answer differently."""
    import skops.io
    from sklearn.tree import DecisionTreeRegressor

    target = trained.model.predict(trained.train_x).round()  # any target: the tree just differs
    tree = DecisionTreeRegressor(max_depth=3, random_state=0).fit(trained.train_x, target)
    skops.io.dump(tree, tmp_path / "tree.skops")
    models = f"wine={EXAMPLE},tree={tmp_path / 'tree.skops'}"
    rows = trained.test_x.head(3)
    with make_serve(tmp_path, f"MODELS={models}") as (port, out):
        wait_listening(port)
        for name, model in (("wine", trained.model), ("tree", tree)):
            answer = requests.post(f"http://127.0.0.1:{port}/predict/{name}", json=records(rows), timeout=30)
            assert answer.status_code == 200, name
            assert answer.json() == pytest.approx(model.predict(rows).tolist(), rel=1e-12), name
        printed = out.read_text()
        assert f"serving {models} at http://127.0.0.1:{port}/ (each loads on its first request" in printed
