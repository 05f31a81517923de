"""deploy.sh: the exact gcloud commands it runs, checked by the real gcloud where installed."""

import os
import shlex
import shutil
import subprocess

import pytest

from support import ROOT

SCRIPT = str(ROOT / "deploy.sh")
BASE = {"GCP_PROJECT_ID": "my-project", "GCP_REGION": "europe-west1", "MODEL_URI": "gs://models/wine/model"}
WHERE = ["--gen2", "--region=europe-west1", "--project=my-project"]
ENV_BASE = "--set-env-vars=^@^MODEL_URI=gs://models/wine/model@GOOGLE_CLOUD_PROJECT=my-project"
ENV_VARS = f"{ENV_BASE}@THREADS=1@PREDICT_THREADS=1"  # by default: one vCPU


def run(args, env, config_dir=None):
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in BASE
        and k
        not in (
            "FUNCTION_NAME",
            "THREADS",
            "WORKERS",
            "PREDICT_THREADS",
            "CPU",
            "MAX_ROWS",
            "SKOPS_TRUSTED_TYPES",
            "MODELS",
            "MODEL_NAMES",
            "DEFAULT_MODEL",
            "MODEL_MEMORY_MB",
        )
    }
    if config_dir:
        clean["CLOUDSDK_CONFIG"] = str(config_dir)
    return subprocess.run(
        ["bash", SCRIPT, *args], env={**clean, **env}, capture_output=True, text=True, timeout=120
    )


def dry_run(args, env):
    result = run([*args, "--dry-run"], env)
    assert result.returncode == 0, result.stderr
    return [shlex.split(line) for line in result.stdout.splitlines()]


def assert_parsed_then_stopped_at_the_account(result):
    """The real gcloud parsed every flag and stopped only because no account is configured."""
    assert result.returncode != 0
    assert "You do not currently have an active account selected" in result.stderr, result.stderr
    assert "unrecognized arguments" not in result.stderr


def deploy_flags(env, *args):
    (command,) = dry_run(args, env)
    assert command[:4] == ["gcloud", "functions", "deploy", env.get("FUNCTION_NAME", "model-predict")]
    return command[4:]


def test_default_deploy_is_private_gen2_python312():
    flags = deploy_flags(BASE)
    for flag in [
        *WHERE,
        "--runtime=python312",
        "--trigger-http",
        "--entry-point=predict",
        "--source=.",
        "--memory=1Gi",
        "--cpu=1",
        "--concurrency=8",
        "--no-allow-unauthenticated",
    ]:
        assert flag in flags
    assert "--allow-unauthenticated" not in flags
    assert ENV_VARS in flags


def test_public_only_when_asked():
    flags = deploy_flags(BASE, "--allow-unauthenticated")
    assert "--allow-unauthenticated" in flags and "--no-allow-unauthenticated" not in flags


@pytest.mark.parametrize(
    "setting, value, flag",
    [
        ("FUNCTION_NAME", "wine", None),
        (
            "SERVICE_ACCOUNT",
            "fn@my-project.iam.gserviceaccount.com",
            "--service-account=fn@my-project.iam.gserviceaccount.com",
        ),
        ("MEMORY", "2Gi", "--memory=2Gi"),
        ("CPU", "2", "--cpu=2"),
        ("CONCURRENCY", "80", "--concurrency=80"),
        ("MIN_INSTANCES", "1", "--min-instances=1"),
        ("MAX_INSTANCES", "5", "--max-instances=5"),
        ("TIMEOUT", "60s", "--timeout=60s"),
        ("API_KEYS_SECRET", "model-api-keys", "--set-secrets=API_KEYS=model-api-keys:latest"),
        (
            "MLFLOW_TRACKING_PASSWORD_SECRET",
            "mlflow-password",
            "--set-secrets=MLFLOW_TRACKING_PASSWORD=mlflow-password:latest",
        ),
        (
            "MLFLOW_TRACKING_TOKEN_SECRET",
            "mlflow-token",
            "--set-secrets=MLFLOW_TRACKING_TOKEN=mlflow-token:latest",
        ),
        (
            "MLFLOW_TRACKING_URI",
            "https://mlflow.example.com",
            f"{ENV_VARS}@MLFLOW_TRACKING_URI=https://mlflow.example.com",
        ),
        ("MLFLOW_TRACKING_USERNAME", "svc", f"{ENV_VARS}@MLFLOW_TRACKING_USERNAME=svc"),
        ("TRACKING_AUTH", "google-id-token", f"{ENV_VARS}@TRACKING_AUTH=google-id-token"),
        ("MLFLOW_HTTP_REQUEST_TIMEOUT", "5", f"{ENV_VARS}@MLFLOW_HTTP_REQUEST_TIMEOUT=5"),
        ("UNKNOWN_FEATURES", "ignore", f"{ENV_VARS}@UNKNOWN_FEATURES=ignore"),
        ("LOADER_PROCESS", "1", f"{ENV_VARS}@LOADER_PROCESS=1"),
        ("THREADS", "8", f"{ENV_BASE}@THREADS=8@PREDICT_THREADS=1"),
        ("CPU", "2", f"{ENV_BASE}@THREADS=1@WORKERS=2@PREDICT_THREADS=2"),
        ("WORKERS", "3", f"{ENV_BASE}@THREADS=1@WORKERS=3@PREDICT_THREADS=1"),
        ("CPU", "0.5", ENV_VARS),
        ("PREDICT_THREADS", "3", f"{ENV_BASE}@THREADS=1@PREDICT_THREADS=3"),
        ("MODEL_SHA256", "ab" * 32, f"{ENV_VARS}@MODEL_SHA256={'ab' * 32}"),
        ("MODEL_RELOAD_SECONDS", "0", f"{ENV_VARS}@MODEL_RELOAD_SECONDS=0"),
        ("MAX_ROWS", "5000", f"{ENV_VARS}@MAX_ROWS=5000"),
        ("GCS_TIMEOUT_SECONDS", "10", f"{ENV_VARS}@GCS_TIMEOUT_SECONDS=10"),
        ("BODY_TIMEOUT_SECONDS", "5", f"{ENV_VARS}@BODY_TIMEOUT_SECONDS=5"),
        (
            "SKOPS_TRUSTED_TYPES",
            "numpy.round,numpy.clip",
            f"{ENV_VARS}@SKOPS_TRUSTED_TYPES=numpy.round,numpy.clip",
        ),
    ],
)
def test_optional_settings_become_flags(setting, value, flag):
    flags = deploy_flags({**BASE, setting: value})
    if flag:
        assert flag in flags
    else:
        assert dry_run([], {**BASE, setting: value})[0][3] == value


def test_every_secret_in_one_set_secrets_flag():
    flags = deploy_flags({**BASE, "API_KEYS_SECRET": "keys", "MLFLOW_TRACKING_PASSWORD_SECRET": "pw"})
    assert "--set-secrets=API_KEYS=keys:latest,MLFLOW_TRACKING_PASSWORD=pw:latest" in flags


def test_env_deploy_file_fills_in_what_the_environment_lacks(tmp_path):
    copy = tmp_path / "deploy.sh"
    shutil.copy(SCRIPT, copy)
    (tmp_path / ".env.deploy").write_text(
        "GCP_PROJECT_ID=from-file\nGCP_REGION=us-central1\nMODEL_URI=gs://b/m\n"
    )
    result = subprocess.run(
        ["bash", str(copy), "--dry-run"],
        env={"PATH": os.environ["PATH"], "GCP_REGION": "asia-east1"},
        capture_output=True,
        text=True,
    )
    flags = shlex.split(result.stdout)
    assert "--project=from-file" in flags and "--region=asia-east1" in flags


@pytest.mark.parametrize(
    "command, expected",
    [
        ("delete", ["gcloud", "functions", "delete", "model-predict", *WHERE, "--quiet"]),
        ("describe", ["gcloud", "functions", "describe", "model-predict", *WHERE]),
        (
            "url",
            ["gcloud", "functions", "describe", "model-predict", *WHERE, "--format=value(serviceConfig.uri)"],
        ),
    ],
)
def test_other_commands(command, expected):
    assert dry_run([command], BASE) == [expected]


def test_call_uses_an_identity_token_and_the_example_payload():
    lines = dry_run(["call"], BASE)
    assert lines[1] == ["gcloud", "auth", "print-identity-token"]
    assert "Authorization: Bearer $TOKEN" in lines[2] and lines[2][-1].endswith("examples/payload.json")


@pytest.mark.parametrize("missing", ["GCP_PROJECT_ID", "GCP_REGION", "MODEL_URI"])
def test_missing_settings_are_named(missing):
    result = run(["--dry-run"], {k: v for k, v in BASE.items() if k != missing})
    assert result.returncode == 2
    assert f"{missing} is not set" in result.stderr and not result.stdout


def test_unknown_arguments_are_refused():
    result = run(["--dry_run"], BASE)
    assert result.returncode == 2 and "unknown argument '--dry_run'" in result.stderr


@pytest.mark.skipif(shutil.which("gcloud") is None, reason="needs the Google Cloud SDK")
def test_real_gcloud_accepts_every_flag_and_stops_at_the_missing_account(tmp_path):
    env = {
        **BASE,
        "SERVICE_ACCOUNT": "fn@my-project.iam.gserviceaccount.com",
        "CPU": "1",
        "CONCURRENCY": "8",
        "MIN_INSTANCES": "0",
        "MAX_INSTANCES": "3",
        "TIMEOUT": "60s",
        "THREADS": "8",
        "MODEL_SHA256": "ab" * 32,
        "API_KEYS_SECRET": "keys",
        "MLFLOW_TRACKING_URI": "https://mlflow.example.com",
        "MLFLOW_TRACKING_USERNAME": "svc",
        "MLFLOW_TRACKING_PASSWORD_SECRET": "mlflow-password",
    }
    result = run([], env, config_dir=tmp_path)
    assert_parsed_then_stopped_at_the_account(result)


# every MODEL_URI form the docs show, with the settings that hold @ in real deploys
URI_FORMS = [
    "gs://models/wine/model",
    "gs://mlflow-artifacts/1/models/m-0123abcd/artifacts",
    "models:/wine@champion",
    "models:/wine/3",
    "models:/m-0123abcd",
    "runs:/0123abcd/model",
    "mlflow-artifacts:/1/models/m-0123abcd/artifacts",
    "examples/wine-quality",
    "file:///srv/models/wine",
]
AT_SETTINGS = {
    "MLFLOW_TRACKING_URI": "https://svc@mlflow.example.com",
    "MLFLOW_TRACKING_USERNAME": "ml.engineer@example.com",
    "SKOPS_TRUSTED_TYPES": "numpy.round,numpy.clip",
}


def parse_set_env_vars(flag):
    """What gcloud makes of --set-env-vars=^D^K=V<D>K=V... (`gcloud topic escaping`)."""
    value = flag.removeprefix("--set-env-vars=")
    assert value.startswith("^"), flag
    delimiter, joined = value[1:].split("^", 1)
    return dict(pair.split("=", 1) for pair in joined.split(delimiter))


@pytest.mark.parametrize("uri", URI_FORMS)
@pytest.mark.parametrize("command", ["deploy", "deploy-batch"])
def test_every_value_reaches_the_function_whole(uri, command):
    env = {**BASE, "MODEL_URI": uri, "BATCH_BUCKET": "wine-inputs", **AT_SETTINGS}
    ((flag,),) = [[f for f in line if f.startswith("--set-env-vars=")] for line in dry_run([command], env)]
    assert parse_set_env_vars(flag) == {
        "MODEL_URI": uri,
        "GOOGLE_CLOUD_PROJECT": "my-project",
        "THREADS": "1",
        "PREDICT_THREADS": "1",
        **AT_SETTINGS,
    }


MANY = {
    "MODELS": "wine=models:/wine@champion,forest=gs://models/forest/model",
    "DEFAULT_MODEL": "wine",
    "MODEL_MEMORY_MB": "600",
}


@pytest.mark.parametrize("command", ["deploy", "deploy-batch"])
def test_many_models_deploy_without_model_uri(command):
    env = {k: v for k, v in BASE.items() if k != "MODEL_URI"} | MANY | {"BATCH_BUCKET": "wine-inputs"}
    ((flag,),) = [[f for f in line if f.startswith("--set-env-vars=")] for line in dry_run([command], env)]
    assert parse_set_env_vars(flag) == {
        "GOOGLE_CLOUD_PROJECT": "my-project",
        **MANY,
        "THREADS": "4",  # a model's first request loads it while the others are answered
        "PREDICT_THREADS": "1",
    }


def test_neither_model_uri_nor_models_is_named():
    result = run(["--dry-run"], {k: v for k, v in BASE.items() if k != "MODEL_URI"})
    assert result.returncode == 2 and "MODEL_URI is not set" in result.stderr and "MODELS" in result.stderr


@pytest.mark.skipif(shutil.which("gcloud") is None, reason="needs the Google Cloud SDK")
def test_real_gcloud_takes_many_models(tmp_path):
    env = {k: v for k, v in BASE.items() if k != "MODEL_URI"} | MANY
    result = run([], env, config_dir=tmp_path)
    assert_parsed_then_stopped_at_the_account(result)


def test_values_holding_every_separator_are_refused_by_name():
    result = run(["--dry-run"], {**BASE, "MODEL_URI": "gs://b/@|~;#!%+*,"})
    assert result.returncode == 2 and not result.stdout
    assert "--set-env-vars needs a separator that no value holds" in result.stderr
    assert "MODEL_URI" in result.stderr


@pytest.mark.skipif(shutil.which("gcloud") is None, reason="needs the Google Cloud SDK")
def test_real_gcloud_parses_every_uri_form(tmp_path):
    """Each form through its own gcloud process (2-3 s each: run side by side)."""
    from concurrent.futures import ThreadPoolExecutor

    def parse(index_uri):
        index, uri = index_uri
        return uri, run([], {**BASE, "MODEL_URI": uri, **AT_SETTINGS}, config_dir=tmp_path / str(index))

    with ThreadPoolExecutor(4) as pool:
        for uri, result in pool.map(parse, enumerate(URI_FORMS)):
            assert "You do not currently have an active account selected" in result.stderr, (
                uri,
                result.stderr,
            )
            assert result.returncode != 0 and "unrecognized arguments" not in result.stderr, uri


@pytest.mark.skipif(shutil.which("gcloud") is None, reason="needs the Google Cloud SDK")
def test_real_gcloud_refuses_the_at_delimiter_with_an_at_in_a_value(tmp_path):
    """The check above can fail: gcloud rejects what deploy.sh used to send for models:/wine@champion."""
    result = subprocess.run(
        [
            "gcloud",
            "functions",
            "deploy",
            "x",
            "--gen2",
            "--region=europe-west1",
            "--set-env-vars=^@^MODEL_URI=models:/wine@champion@THREADS=1",
        ],
        env={**os.environ, "CLOUDSDK_CONFIG": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert "Bad syntax for dict arg: [champion]" in result.stderr


@pytest.mark.skipif(shutil.which("gcloud") is None, reason="needs the Google Cloud SDK")
def test_real_gcloud_would_reject_a_bad_flag(tmp_path):
    """The check above can fail: gcloud does parse flags before it looks for an account."""
    result = subprocess.run(
        ["gcloud", "functions", "deploy", "x", "--gen2", "--no-such-flag"],
        env={**os.environ, "CLOUDSDK_CONFIG": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert "unrecognized arguments: --no-such-flag" in result.stderr


@pytest.mark.parametrize("script", ["deploy.sh", ".ci/run"])
def test_shell_scripts_are_shellcheck_clean(script):
    result = subprocess.run(
        ["shellcheck", "--severity=style", str(ROOT / script)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


def test_deploy_batch_is_a_retried_storage_trigger_on_the_bucket():
    env = {
        **BASE,
        "BATCH_BUCKET": "wine-inputs",
        "BATCH_SERVICE_ACCOUNT": "batch@my-project.iam.gserviceaccount.com",
    }
    (command,) = dry_run(["deploy-batch"], {**env, "BATCH_KEY_FIELD": "id"})
    assert command[:4] == ["gcloud", "functions", "deploy", "model-predict-batch"]
    flags = command[4:]
    for flag in [
        *WHERE,
        "--runtime=python312",
        "--entry-point=score_file",
        "--trigger-event-filters=type=google.cloud.storage.object.v1.finalized",
        "--trigger-event-filters=bucket=wine-inputs",
        "--retry",
        "--timeout=540s",
        "--service-account=batch@my-project.iam.gserviceaccount.com",
        f"{ENV_VARS}@BATCH_KEY_FIELD=id",
    ]:
        assert flag in flags, flag
    assert not any(flag.startswith("--trigger-http") for flag in flags)


def test_deploy_batch_needs_the_bucket():
    result = run(["deploy-batch", "--dry-run"], BASE)
    assert result.returncode == 2 and "BATCH_BUCKET is not set" in result.stderr


@pytest.mark.skipif(shutil.which("gcloud") is None, reason="needs the Google Cloud SDK")
def test_real_gcloud_accepts_deploy_batch_and_stops_at_the_missing_account(tmp_path):
    env = {
        **BASE,
        "BATCH_BUCKET": "wine-inputs",
        "BATCH_SERVICE_ACCOUNT": "b@my-project.iam.gserviceaccount.com",
    }
    result = run(["deploy-batch"], env, config_dir=tmp_path)
    assert_parsed_then_stopped_at_the_account(result)
