"""The whole local loop without Docker: MLflow server with a gs:// artifact root on the emulator,
the training project run against it (which registers the model), promote.py, and the function
serving the promoted model: by its registry alias, and copied to a fixed bucket path."""

import os
import re
import subprocess
import sys

import pytest

from support import ALPHA, L1_RATIO, ROOT, free_port, records, unmeasured, wait_until_up

BUCKET = "mlflow-artifacts"


@pytest.fixture(scope="module")
def tracking(gcs, tmp_path_factory):
    """`mlflow server` with a SQLite backend and its artifact root in the emulator's bucket."""
    gcs.bucket(BUCKET)
    port, workdir = free_port(), tmp_path_factory.mktemp("mlflow")
    log_path = workdir / "server.log"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{workdir / 'mlflow.db'}",
            "--default-artifact-root",
            f"gs://{BUCKET}",
            "--no-serve-artifacts",
            "--workers",
            "1",
        ],
        cwd=workdir,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        env=unmeasured(STORAGE_EMULATOR_HOST=gcs.url, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false"),
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_up(url + "/health", server, log_path, 120)
    yield url
    server.terminate()
    server.wait(timeout=30)


def run(args, env, cwd):
    """`args` (MLflow's CLI, the training project, promote.py: none of them runs predictor/)."""
    result = subprocess.run(args, env=unmeasured(**env), cwd=cwd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_train_promote_serve(tracking, gcs, trained, start_server, tmp_path):
    env = {"MLFLOW_TRACKING_URI": tracking, "STORAGE_EMULATOR_HOST": gcs.url}
    out = run(
        [
            sys.executable,
            "-m",
            "mlflow",
            "run",
            str(ROOT / "mlflow-compose" / "wine"),
            "--env-manager",
            "local",
            "--experiment-name",
            "wine-quality",
            "-P",
            f"alpha={ALPHA}",
            "-P",
            f"l1_ratio={L1_RATIO}",
        ],
        env,
        tmp_path,
    )
    logged_uri = re.search(r"^MODEL_URI=(gs://\S+)$", out, re.MULTILINE).group(1)
    assert logged_uri.startswith(f"gs://{BUCKET}/")
    registered = re.search(r"^REGISTERED=(models:/wine/\d+)$", out, re.MULTILINE).group(1)

    # the registry: the alias moved to the new version, the function resolving it (gs:// artifacts)
    aliased = run(
        [sys.executable, str(ROOT / "mlflow-compose" / "promote.py"), registered, "--alias", "champion"],
        env,
        tmp_path,
    )
    assert aliased.strip() == "MODEL_URI=models:/wine@champion"
    by_alias = start_server({"MODEL_URI": "models:/wine@champion", **env})
    assert (
        by_alias.post(json=records(trained.test_x)).json() == trained.model.predict(trained.test_x).tolist()
    )
    origin = by_alias.get("/ready").json()["model"]["mlflow"]
    assert (origin["registered_model"], origin["version"]) == ("wine", registered.rsplit("/", 1)[1])
    assert origin["artifact_uri"].startswith(f"gs://{BUCKET}/")

    promoted = run(
        [
            sys.executable,
            str(ROOT / "mlflow-compose" / "promote.py"),
            logged_uri,
            f"gs://{BUCKET}/serving/model",
        ],
        env,
        tmp_path,
    )
    settings = dict(line.split("=", 1) for line in promoted.split())
    assert settings["MODEL_URI"] == f"gs://{BUCKET}/serving/model"

    server = start_server({**settings, "STORAGE_EMULATOR_HOST": gcs.url})
    test_x = trained.test_x
    served = server.post(json=records(test_x))
    assert served.status_code == 200, served.text

    import mlflow.pyfunc

    logged_model = mlflow.pyfunc.load_model(logged_uri)  # mlflow's own loader, in this process
    assert served.json() == logged_model.predict(test_x).tolist() == trained.model.predict(test_x).tolist()
    ready = server.get("/ready").json()["model"]
    assert ready["sha256"] == settings["MODEL_SHA256"] and ready["format"] == "skops"


def test_promote_replaces_what_was_served_before(gcs, artifacts, tmp_path):
    env = {"STORAGE_EMULATOR_HOST": gcs.url}
    script = str(ROOT / "mlflow-compose" / "promote.py")
    dest = "gs://promote-test/serving/model"
    gcs.bucket("promote-test")
    run([sys.executable, script, str(artifacts["mlflow cloudpickle"]), dest], env, tmp_path)
    out = run([sys.executable, script, str(artifacts["mlflow skops"]), dest], env, tmp_path)
    names = sorted(
        b.name.rsplit("/", 1)[1] for b in gcs.client.list_blobs("promote-test", prefix="serving/model/")
    )
    assert names == sorted(p.name for p in artifacts["mlflow skops"].iterdir())  # model.pkl is gone
    import hashlib

    digest = hashlib.sha256((artifacts["mlflow skops"] / "model.skops").read_bytes()).hexdigest()
    assert f"MODEL_SHA256={digest}" in out


def test_compose_file_is_valid():
    import shutil

    import yaml

    if shutil.which("docker-compose") is None:
        pytest.skip("needs docker-compose (Debian package docker-compose) to validate the file")
    result = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "mlflow-compose" / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "MODEL_URI"},
    )
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert set(services) == {"postgres", "gcs", "create-bucket", "mlflow", "function"}
    mlflow_command = services["mlflow"]["command"]
    assert mlflow_command[mlflow_command.index("--default-artifact-root") + 1] == f"gs://{BUCKET}"
    assert mlflow_command[mlflow_command.index("--backend-store-uri") + 1].startswith("postgresql://")
    function = services["function"]["environment"]
    assert function["MODEL_URI"] == "models:/wine@champion"
    assert (
        function["MLFLOW_TRACKING_URI"]
        == f"http://mlflow:{mlflow_command[mlflow_command.index('--port') + 1]}"
    )
    for name in ("mlflow", "function"):
        assert services[name]["environment"]["STORAGE_EMULATOR_HOST"] == "http://gcs:4443"
    assert f'"name": "{BUCKET}"' in " ".join(services["create-bucket"]["command"]).replace("\\", "")
