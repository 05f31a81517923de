import pytest

from predictor.config import DEFAULT_MAX_REQUEST_BYTES, load_settings
from predictor.errors import ConfigurationError

TRACKING = {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"}


@pytest.mark.parametrize(
    "env, model_uri",
    [
        ({"MODEL_URI": "gs://models/wine/1/artifacts/model"}, "gs://models/wine/1/artifacts/model"),
        ({"MODEL_URI": "examples/wine-quality"}, "examples/wine-quality"),
        ({"MODEL_URI": "file:///srv/model.skops"}, "/srv/model.skops"),
        ({"MODEL_URI": "  gs://b-1/m.pkl  "}, "gs://b-1/m.pkl"),
        ({"GCP_MLFLOW_MODEL_ARTIFACT_BUCKET_NAME": "wine-models"}, "gs://wine-models/model.pkl"),
        (
            {"GCP_MLFLOW_MODEL_ARTIFACT_BUCKET_NAME": "wine-models", "MODEL_BLOB_NAME": "v2/model.skops"},
            "gs://wine-models/v2/model.skops",
        ),
        ({"USE_LOCAL_FILE_PATH_MODEL": "true", "GCP_MLFLOW_MODEL_ARTIFACT_BUCKET_NAME": "b12"}, "model.pkl"),
        (
            {"USE_LOCAL_FILE_PATH_MODEL": "False", "GCP_MLFLOW_MODEL_ARTIFACT_BUCKET_NAME": "b12"},
            "gs://b12/model.pkl",
        ),
        (
            {
                "MODEL_URI": "gs://new/model",
                "USE_LOCAL_FILE_PATH_MODEL": "1",
                "GCP_MLFLOW_MODEL_ARTIFACT_BUCKET_NAME": "old",
            },
            "gs://new/model",
        ),
    ],
)
def test_model_location(env, model_uri):
    assert load_settings(env).model_uri == model_uri


@pytest.mark.parametrize(
    "env, variable, words",
    [
        ({}, "MODEL_URI", "is not set"),
        ({"MODEL_URI": "   "}, "MODEL_URI", "is not set"),
        ({"MODEL_URI": "s3://bucket/model"}, "MODEL_URI", "unsupported scheme 's3:'"),
        ({"MODEL_URI": "runs:/abc/model"}, "MLFLOW_TRACKING_URI", "and MODEL_URI 'runs:/abc/model'"),
        ({"MODEL_URI": "models:/wine/3"}, "MLFLOW_TRACKING_URI", "resolved through the MLflow"),
        ({"MODEL_URI": "models:/wine", **TRACKING}, "MODEL_URI", "names neither a version nor an alias"),
        ({"MODEL_URI": "models:/wine@", **TRACKING}, "MODEL_URI", "must be models:/<name>@<alias>"),
        ({"MODEL_URI": "models:/wine/Production", **TRACKING}, "MODEL_URI", "stages are deprecated"),
        ({"MODEL_URI": "runs:/abc", **TRACKING}, "MODEL_URI", "must be runs:/<run id>/<artifact path>"),
        ({"MODEL_URI": "mlflow-artifacts:/", **TRACKING}, "MODEL_URI", "names no artifact path"),
        ({"MODEL_URI": "m.pkl", "MLFLOW_TRACKING_URI": "databricks"}, "MLFLOW_TRACKING_URI", "http://"),
        (
            {"MODEL_URI": "m.pkl", "MLFLOW_TRACKING_USERNAME": "admin"},
            "MLFLOW_TRACKING_PASSWORD",
            "basic auth needs both",
        ),
        ({"MODEL_URI": "m.pkl", "TRACKING_AUTH": "oauth"}, "TRACKING_AUTH", "mlflow, google-id-token"),
        ({"MODEL_URI": "m.pkl", "MLFLOW_HTTP_REQUEST_TIMEOUT": "0"}, "MLFLOW_HTTP_REQUEST_TIMEOUT", "positi"),
        ({"MODEL_URI": "m.pkl", "UNKNOWN_FEATURES": "drop"}, "UNKNOWN_FEATURES", "reject, ignore"),
        ({"MODEL_URI": "m.pkl", "BATCH_OUTPUT": "scores"}, "BATCH_OUTPUT", "one of label, proba"),
        ({"MODEL_URI": "m.pkl", "BATCH_CHUNK_ROWS": "0"}, "BATCH_CHUNK_ROWS", "from 1 to 1000000"),
        ({"MODEL_URI": "m.pkl", "PREDICT_THREADS": "0"}, "PREDICT_THREADS", "from 1 to 64"),
        ({"MODEL_URI": "m.pkl", "LOADER_PROCESS": "maybe"}, "LOADER_PROCESS", "must be true or false"),
        (
            {"MODEL_URI": "m.pkl", "BATCH_OUTPUT_BUCKET": "Bad_Bucket"},
            "BATCH_OUTPUT_BUCKET",
            "not a valid bucket",
        ),
        ({"MODEL_URI": "gs://Bad_Bucket/model"}, "MODEL_URI", "not a valid bucket name"),
        ({"MODEL_URI": "gs://bucket"}, "MODEL_URI", "no object or folder"),
        ({"MODEL_URI": "gs://bucket/"}, "MODEL_URI", "no object or folder"),
        (
            {"GCP_MLFLOW_MODEL_ARTIFACT_BUCKET_NAME": "x"},
            "GCP_MLFLOW_MODEL_ARTIFACT_BUCKET_NAME",
            "not a valid bucket name",
        ),
        ({"USE_LOCAL_FILE_PATH_MODEL": "maybe"}, "USE_LOCAL_FILE_PATH_MODEL", "must be true or false"),
        ({"MODEL_URI": "m.pkl", "MAX_REQUEST_BYTES": "lots"}, "MAX_REQUEST_BYTES", "positive whole number"),
        ({"MODEL_URI": "m.pkl", "MAX_REQUEST_BYTES": "0"}, "MAX_REQUEST_BYTES", "positive whole number"),
        ({"MODEL_URI": "m.pkl", "MODEL_SHA256": "abc"}, "MODEL_SHA256", "64 hex digits"),
        ({"MODEL_URI": "m.pkl", "MODEL_SHA256": "g" * 64}, "MODEL_SHA256", "64 hex digits"),
        ({"MODEL_URI": "m.pkl", "API_KEYS": " , "}, "API_KEYS", "holds no key"),
        (
            {"MODEL_URI": "m.pkl", "SKOPS_TRUSTED_TYPES": "numpy.round,round"},
            "SKOPS_TRUSTED_TYPES",
            "'round'",
        ),
        (
            {"MODEL_URI": "m.pkl", "SKOPS_TRUSTED_TYPES": "numpy.round()"},
            "SKOPS_TRUSTED_TYPES",
            "dotted type names",
        ),
    ],
)
def test_bad_settings_name_their_variable(env, variable, words):
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env)
    assert caught.value.variable == variable
    assert caught.value.message.startswith(variable)
    assert words in caught.value.message
    assert caught.value.status == 503


@pytest.mark.parametrize("raw, limit", [("", DEFAULT_MAX_REQUEST_BYTES), ("1024", 1024), (" 2048 ", 2048)])
def test_max_request_bytes(raw, limit):
    assert load_settings({"MODEL_URI": "m.pkl", "MAX_REQUEST_BYTES": raw}).max_request_bytes == limit


@pytest.mark.parametrize(
    "env, sha256, keys",
    [
        ({}, None, ()),
        ({"MODEL_SHA256": " " + "AB" * 32 + "\n"}, "ab" * 32, ()),
        ({"API_KEYS": "k1"}, None, ("k1",)),
        ({"API_KEYS": " k1 , k2,, "}, None, ("k1", "k2")),
    ],
)
def test_pin_and_keys(env, sha256, keys):
    settings = load_settings({"MODEL_URI": "m.pkl", **env})
    assert (settings.model_sha256, settings.api_keys) == (sha256, keys)


@pytest.mark.parametrize(
    "env, field, value",
    [
        ({}, "max_rows", 100_000),
        ({"MAX_ROWS": "10"}, "max_rows", 10),
        ({}, "gcs_timeout_seconds", 30.0),
        ({"GCS_TIMEOUT_SECONDS": "2.5"}, "gcs_timeout_seconds", 2.5),
        ({}, "model_reload_seconds", 60.0),
        ({"MODEL_RELOAD_SECONDS": "0"}, "model_reload_seconds", 0.0),
        ({}, "skops_trusted_types", ()),
        ({}, "loader_process", False),
        ({"LOADER_PROCESS": "1"}, "loader_process", True),
        (
            {"SKOPS_TRUSTED_TYPES": " numpy.round, mypkg.mod.Scaler ,"},
            "skops_trusted_types",
            ("numpy.round", "mypkg.mod.Scaler"),
        ),
    ],
)
def test_limits_and_timings(env, field, value):
    assert getattr(load_settings({"MODEL_URI": "m.pkl", **env}), field) == value


@pytest.mark.parametrize(
    "variable, raw",
    [
        ("MAX_ROWS", "0"),
        ("GCS_TIMEOUT_SECONDS", "0"),
        ("GCS_TIMEOUT_SECONDS", "nan"),
        ("MODEL_RELOAD_SECONDS", "-1"),
        ("MODEL_RELOAD_SECONDS", "inf"),
        ("MODEL_RELOAD_SECONDS", "soon"),
    ],
)
def test_bad_limits_and_timings(variable, raw):
    with pytest.raises(ConfigurationError) as caught:
        load_settings({"MODEL_URI": "m.pkl", variable: raw})
    assert caught.value.variable == variable


def test_mlflow_uris_and_their_tracking_settings():
    settings = load_settings(
        {
            "MODEL_URI": "models:/wine@champion",
            "MLFLOW_TRACKING_URI": "https://mlflow.example.com/",
            "MLFLOW_TRACKING_USERNAME": "admin",
            "MLFLOW_TRACKING_PASSWORD": "s3cret",
        }
    )
    assert settings.model_uri == "models:/wine@champion"
    assert settings.mlflow_tracking_uri == "https://mlflow.example.com"
    assert (settings.tracking_auth.username, settings.tracking_auth.password) == ("admin", "s3cret")
    assert "s3cret" not in repr(settings)


def test_batch_prefixes_end_with_a_slash():
    settings = load_settings(
        {"MODEL_URI": "m.pkl", "BATCH_INPUT_PREFIX": "/drop", "BATCH_OUTPUT_PREFIX": "out/"}
    )
    assert (settings.batch_input_prefix, settings.batch_output_prefix) == ("drop/", "out/")


def test_predict_threads_default_to_the_cpus_available():
    assert load_settings({"MODEL_URI": "m.pkl"}).predict_threads is None  # resolved at load
    assert load_settings({"MODEL_URI": "m.pkl", "PREDICT_THREADS": "3"}).predict_threads == 3
