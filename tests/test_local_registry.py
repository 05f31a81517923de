"""`make registry`: the registry loop on one machine without Docker — a tracking server of its
own, the wine model trained, registered and made `@champion` — then the function serving
`models:/wine@champion` from it, and following the alias when `make registry-train` promotes a
new version."""

import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import requests

from support import ROOT, free_port, train_recipe, unmeasured

READY_LINE = "The tracking server runs until Ctrl-C."


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    port = free_port()
    state = tmp_path_factory.mktemp("registry")
    command = ["make", "-C", str(ROOT), "registry", f"REGISTRY_PORT={port}", f"REGISTRY_STATE={state}"]
    process = subprocess.Popen(
        [*command, f"PYTHON={sys.executable}"],
        env=unmeasured(),  # the tracking server, training and promote.py: none of them runs predictor/
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    printed = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        printed.append(line)
        if READY_LINE in line:
            break
    text = "".join(printed)
    assert READY_LINE in text, text
    yield port, text
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=60)
    # the tracking server went with it (it runs in a session of its own)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _listening(port):
        time.sleep(0.2)
    assert not _listening(port), "make registry left its tracking server running"


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def predictions(server, rows):
    return server.post("/predict", json=rows.to_dict(orient="records")).json()


def test_the_function_serves_champion_and_follows_a_new_one(registry, start_server, wine_data):
    port, printed = registry
    url = f"http://127.0.0.1:{port}"
    assert f"make serve MODEL_URI=models:/wine@champion MLFLOW_TRACKING_URI={url}" in printed
    server = start_server(
        {"MODEL_URI": "models:/wine@champion", "MLFLOW_TRACKING_URI": url, "MODEL_RELOAD_SECONDS": "1"}
    )
    first = train_recipe.train(wine_data, 0.5, 0.1)
    rows = first.test_x.head(5)
    assert np.allclose(predictions(server, rows), first.model.predict(rows), rtol=1e-12, atol=0)

    command = ["make", "-C", str(ROOT), "registry-train", f"REGISTRY_PORT={port}", "ALPHA=0.3"]
    done = subprocess.run(
        [*command, f"PYTHON={sys.executable}"], env=unmeasured(), capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0 and "wine version 2 is @champion" in done.stdout, done.stdout + done.stderr
    second = train_recipe.train(wine_data, 0.3, 0.1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        served = requests.get(server.url + "/ready", timeout=10).json()["model"]["mlflow"]["version"]
        if served == "2":
            break
        predictions(server, rows)  # a request starts the background check
        time.sleep(0.5)
    assert served == "2"
    assert np.allclose(predictions(server, rows), second.model.predict(rows), rtol=1e-12, atol=0)


# a stand-in for the script: the same handler, then a cleanup that takes a moment, as stopping the
# tracking server does
SIGNALLED = """
import signal, sys, time
from local.registry import _exit_once
signal.signal(signal.SIGTERM, _exit_once)
try:
    print("ready", flush=True)
    time.sleep(60)
finally:
    time.sleep(0.05)
    print("cleaned up", flush=True)
"""


def test_a_second_sigterm_does_not_cut_the_cleanup_short():
    """`make registry` killed as a group: the script gets the group's SIGTERM and make's at once;
    the second must not end the cleanup that stops the tracking server."""
    for _ in range(20):
        script = subprocess.Popen(
            [sys.executable, "-c", SIGNALLED], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        assert script.stdout.readline() == "ready\n"
        script.send_signal(signal.SIGTERM)
        script.send_signal(signal.SIGTERM)
        printed, _ = script.communicate(timeout=30)
        assert printed == "cleaned up\n" and script.returncode == 0
