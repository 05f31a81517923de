"""Helpers the tests and the bench import: paths, the training recipe, ports, waits, rows."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import functions_framework
import pytest
import requests
from flask.testing import FlaskClient

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = str(ROOT / "examples" / "wine-quality")  # the committed example model
ALPHA, L1_RATIO = 0.42, 0.1
# save_model/log_model with the requirements given: MLflow need not infer them (seconds each)
QUICK = {"pip_requirements": ["scikit-learn"]}
# settings a test server must not inherit from the caller's environment
SERVICE_VARIABLE_PREFIXES = (
    "MODEL_",
    "GCP_MLFLOW",
    "USE_LOCAL",
    "SKOPS_",
    "MAX_",
    "API_KEYS",
    "MLFLOW_TRACKING_",
    "MLFLOW_HTTP_",
    "TRACKING_AUTH",
    "UNKNOWN_FEATURES",
    "PREDICTION_LOG_",
)


def _import_train():
    spec = importlib.util.spec_from_file_location("wine_train", ROOT / "mlflow-compose" / "wine" / "train.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


train_recipe = _import_train()


def app_client(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> FlaskClient:
    """The real functions-framework app for `predict`, in this process, configured by `env`
    alone: main.py runs anew for each app, so each has its own settings and model."""
    for name in [n for n in os.environ if n.startswith(SERVICE_VARIABLE_PREFIXES)]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return functions_framework.create_app("predict", str(ROOT / "main.py")).test_client()


@dataclass
class Answer:
    """A test client's response, with the surface of `requests`' that the tests use."""

    status_code: int
    headers: Any
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    @property
    def ok(self) -> bool:
        return self.status_code < 400

    def json(self) -> Any:
        return json.loads(self.content)


@dataclass
class InProcess:
    """The real functions-framework app in this process, called as a started server is."""

    client: FlaskClient

    def request(self, method: str, path: str, **kwargs: Any) -> Answer:
        response = self.client.open(path, method=method, **kwargs)
        return Answer(response.status_code, response.headers, response.get_data())

    def post(self, path: str = "/predict", **kwargs: Any) -> Answer:
        return self.request("POST", path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Answer:
        return self.request("GET", path, **kwargs)


def in_process(env: dict[str, str]) -> InProcess:
    """The app configured by `env` alone (read while main.py runs; restored right after)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        return InProcess(app_client(env, monkeypatch))


def run_python(script: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    """`script` (with `args`) in a fresh interpreter that imports this project; it must exit 0."""
    result = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
    )
    assert result.returncode == 0, result.stderr
    return result


def unmeasured(**env: str) -> dict[str, str]:
    """This process's environment and `env`, without coverage's subprocess settings: for
    processes that never run predictor/ (MLflow's server and CLI, the training project), which
    coverage would trace for nothing, each a third slower."""
    coverage = ("COVERAGE_PROCESS_CONFIG", "COVERAGE_PROCESS_START")
    return {**{k: v for k, v in os.environ.items() if k not in coverage}, **env}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(
    url: str, process: subprocess.Popen, log_path: Path, seconds: float, any_answer: bool = False
) -> None:
    """Poll `url` until it answers 2xx (`any_answer`: anything at all); fail with the process's
    output if it exits or never does."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if requests.get(url, timeout=1).ok or any_answer:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    process.kill()
    pytest.fail(f"{process.args[:4]} did not answer {url}:\n{log_path.read_text()}")


class CreatesFileWhenUnpickled:
    """Pickled, it is a harmless-looking file that creates `marker` when unpickled: proof that
    a pickle was, or was not, executed."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def records(frame) -> list[dict]:
    """DataFrame rows as the JSON records callers send."""
    return frame.to_dict(orient="records")


def worker_pid(server) -> int:
    """gunicorn's one worker: the child of the functions-framework process."""
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def loader_processes(worker: int) -> list[int]:
    """The worker's spawned multiprocessing children: its loader process (LOADER_PROCESS)."""
    tasks = Path(f"/proc/{worker}/task").iterdir()
    children = [child for task in tasks for child in (task / "children").read_text().split()]
    return [int(child) for child in children if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()]


def status_mib(pid: int, field: str) -> int:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return int(next(line for line in status if line.startswith(field + ":")).split()[1]) // 1024


def peak_growth(server, send) -> int:
    """How far `send()` raised the worker's resident memory above where it stood (MiB): its
    peak (VmHWM) is reset to the current size first (clear_refs), so each request is measured
    on its own."""
    pid = worker_pid(server)
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    before = status_mib(pid, "VmRSS")
    send()
    assert worker_pid(server) == pid  # the same worker answered: it did not die
    return status_mib(pid, "VmHWM") - before


def error_of(body: dict) -> dict:
    """An error answer's code, message and details, in either shape: ours (`{"error": {...}}`) or
    the Open Inference Protocol's (`{"error": "<message>", "code": ..., "details": ...}`)."""
    error = body["error"]
    if isinstance(error, dict):
        return error
    return {"code": body["code"], "message": error, "details": body["details"]}


def mlflow_invocations(folder: str | Path, text: str, content_type: str) -> tuple[int, dict]:
    """What MLflow's scoring server answers for these bytes: its own `invocations` code, in
    process, as (status, JSON body); what it raises, the server answers as a 400 with the message."""
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc import scoring_server

    model = mlflow.pyfunc.load_model(str(folder))
    try:
        answer = scoring_server.invocations(text, content_type, model, model.metadata.get_input_schema())
    except MlflowException as error:
        return 400, {"message": error.message}
    return answer.status, json.loads(answer.response)


def mlflow_models_serve(folder: str | Path, log_dir: Path):
    """A real `mlflow models serve` for the model folder, as a generator a fixture yields from:
    its URL, then stopped."""
    port, log = free_port(), log_dir / "log"
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(folder), "--env-manager", "local"]
    process = subprocess.Popen(
        [*command, "-h", "127.0.0.1", "-p", str(port)],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env=unmeasured(MLFLOW_TRACKING_URI="file:" + str(log_dir)),
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_up(url + "/ping", process, log, 120)
    yield url
    process.terminate()
    process.wait(timeout=30)


def kernels_one_bit_off(kernel: type, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the `kernel` class answer one bit above the exact answers: the proof at load must
    then refuse it."""
    import numpy as np

    exact = kernel.__call__
    monkeypatch.setattr(kernel, "__call__", lambda self, X: np.nextafter(exact(self, X), np.inf))
