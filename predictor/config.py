"""Settings, read from the environment once and validated; a bad one names its variable."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from . import catalog, uris
from .catalog import Catalog
from .errors import ConfigurationError
from .uris import split_gcs_uri

DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024  # the Cloud Functions request limit
DEFAULT_MAX_ROWS = 100_000
DEFAULT_GCS_TIMEOUT_SECONDS = 30.0
DEFAULT_MODEL_RELOAD_SECONDS = 60.0
DEFAULT_BODY_TIMEOUT_SECONDS = 10.0
DEFAULT_MLFLOW_TIMEOUT_SECONDS = 10.0  # MLflow's own default is 120 s: too long for a cold start
UNKNOWN_FEATURES = ("reject", "ignore")
# Cloud Logging takes entries of up to 256 KB, metadata included
DEFAULT_PREDICTION_LOG_MAX_BYTES = 200_000
PREDICTION_LOG_BYTES_RANGE = (4096, 250_000)
LEGACY_LOCAL_MODEL = "model.pkl"
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):/")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_DOTTED_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}
URI_FORMS = (
    "gs://BUCKET/PATH, a local path, or an MLflow URI (models:/NAME@ALIAS, models:/NAME/VERSION, "
    "runs:/RUN_ID/PATH, mlflow-artifacts:/PATH)"
)


GOOGLE_ID_TOKEN = "google-id-token"  # TRACKING_AUTH for a tracking server behind Cloud Run IAM


@dataclass(frozen=True)
class TrackingAuth:
    """How to authenticate, from MLflow's own variables (or a Google ID token for Cloud Run)."""

    token: str | None = field(default=None, repr=False)  # MLFLOW_TRACKING_TOKEN: bearer
    username: str | None = None  # MLFLOW_TRACKING_USERNAME, with MLFLOW_TRACKING_PASSWORD: basic
    password: str | None = field(default=None, repr=False)
    google_id_token: bool = False  # TRACKING_AUTH=google-id-token: for the tracking URL's audience


@dataclass(frozen=True)
class Settings:
    model_uri: str  # MODEL_URI; "" when MODELS names the models
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_rows: int = DEFAULT_MAX_ROWS
    gcs_timeout_seconds: float = DEFAULT_GCS_TIMEOUT_SECONDS  # per GCS call, and for its retries
    model_reload_seconds: float = DEFAULT_MODEL_RELOAD_SECONDS  # 0: never look for a new artifact
    body_timeout_seconds: float = DEFAULT_BODY_TIMEOUT_SECONDS  # a request body must arrive within this
    model_sha256: str | None = None  # pin: the model file must hash to this before it is loaded
    skops_trusted_types: tuple[str, ...] = ()  # reviewed types a skops file may hold beyond skops' defaults
    api_keys: tuple[str, ...] = ()  # when set, callers must send one of them in X-API-Key
    model_name: str | None = None  # MODEL_NAME: the name Open Inference Protocol clients use
    vertex_predict_route: str | None = None  # AIP_PREDICT_ROUTE, served as a predict route
    vertex_health_route: str | None = None  # AIP_HEALTH_ROUTE, answered like /ready
    # MLflow URIs (models:/, runs:/, mlflow-artifacts:/) resolve through this tracking server
    mlflow_tracking_uri: str | None = None
    # MLflow's auth variables (token, or username and password), or a Google ID token
    tracking_auth: TrackingAuth = field(default_factory=TrackingAuth)
    mlflow_timeout_seconds: float = DEFAULT_MLFLOW_TIMEOUT_SECONDS  # per tracking-server call
    # fields and CSV columns the model does not take: a 400 ("reject"), or dropped ("ignore", as
    # MLflow's scoring server does) and named in the X-Ignored-Features response header
    unknown_features: str = "reject"
    prediction_log_sample: float = 0.0  # the share of prediction requests captured (web/capture.py)
    prediction_log_max_bytes: int = DEFAULT_PREDICTION_LOG_MAX_BYTES  # one capture entry, rows cut
    # score_file (batch/score.py): which objects it scores, where the outputs go, how rows are read
    batch_input_prefix: str = "incoming/"
    batch_output_prefix: str = "predictions/"
    batch_output_bucket: str | None = None  # None: the input's bucket
    batch_key_field: str | None = None  # a column carried through to each prediction, not a feature
    # classifiers: label or proba; None: what the model answers by default (MLmodel's predict_fn)
    batch_output: str | None = None
    batch_chunk_rows: int = 10_000  # rows read, checked and scored at a time: memory stays flat
    # PRELOAD: load the model as the instance's worker starts (in the background), not on the
    # first request: a bad MODEL_URI is logged at once, and the first caller waits less (with
    # Cloud Run's startup CPU boost, the load runs on the boosted CPU)
    preload: bool = False
    # PREDICT_THREADS: threads one large request may use where the model's own arithmetic
    # releases the GIL (a forest's trees, predictor/kernels/forest.py); None: the CPUs this
    # process may use. deploy.sh sets it from CPU
    predict_threads: int | None = None
    # MODELS: many models by name, each loaded on its first request (predictor/catalog.py);
    # None: the one model MODEL_URI names
    models: Catalog | None = None
    default_model: str | None = None  # DEFAULT_MODEL: what the unnamed routes serve with MODELS
    # MODEL_MEMORY_MB: with MODELS, loading a model that would take the loaded ones past this
    # evicts the least recently used idle ones first; None: no budget
    model_memory_mb: int | None = None
    # LOADER_PROCESS: a load beside a loaded model (MODELS' next model, MODEL_URI's reload) is
    # deserialized in a second process, so it does not hold this one's Python lock meanwhile
    # (predictor/loading/loader_process.py): a loaded model's p99 stays lower, for the memory of
    # a second Python with scikit-learn imported
    loader_process: bool = False
    # API_KEYS entries `key:model1|model2`: the models that key may use (others: any model)
    api_key_scopes: tuple[tuple[str, tuple[str, ...]], ...] = ()


def load_settings(environ: Mapping[str, str] = os.environ) -> Settings:
    """Build `Settings` from `environ`; raise `ConfigurationError` naming the bad variable."""
    models = _models(environ)
    model_uri = "" if models else _model_uri(environ)
    keys, scopes = _api_keys(environ, "API_KEYS", scoped=models is not None)
    return Settings(
        model_uri=model_uri,
        models=models,
        default_model=_default_model(environ, models),
        model_memory_mb=_bounded_int(environ, "MODEL_MEMORY_MB", 0, 1, 1_000_000) or None,
        api_key_scopes=scopes,
        max_request_bytes=_positive_int(environ, "MAX_REQUEST_BYTES", DEFAULT_MAX_REQUEST_BYTES),
        max_rows=_positive_int(environ, "MAX_ROWS", DEFAULT_MAX_ROWS),
        gcs_timeout_seconds=_seconds(
            environ, "GCS_TIMEOUT_SECONDS", DEFAULT_GCS_TIMEOUT_SECONDS, zero_ok=False
        ),
        model_reload_seconds=_seconds(
            environ, "MODEL_RELOAD_SECONDS", DEFAULT_MODEL_RELOAD_SECONDS, zero_ok=True
        ),
        body_timeout_seconds=_seconds(
            environ, "BODY_TIMEOUT_SECONDS", DEFAULT_BODY_TIMEOUT_SECONDS, zero_ok=False
        ),
        model_sha256=_sha256(environ, "MODEL_SHA256"),
        skops_trusted_types=_dotted_names(environ, "SKOPS_TRUSTED_TYPES"),
        api_keys=keys,
        model_name=environ.get("MODEL_NAME", "").strip() or None,
        vertex_predict_route=_route(environ, "AIP_PREDICT_ROUTE"),
        vertex_health_route=_route(environ, "AIP_HEALTH_ROUTE"),
        mlflow_tracking_uri=_tracking_uri(environ, model_uri, models),
        tracking_auth=_tracking_auth(environ),
        mlflow_timeout_seconds=_seconds(
            environ, "MLFLOW_HTTP_REQUEST_TIMEOUT", DEFAULT_MLFLOW_TIMEOUT_SECONDS, zero_ok=False
        ),
        unknown_features=_choice(environ, "UNKNOWN_FEATURES", UNKNOWN_FEATURES),
        prediction_log_sample=_fraction(environ, "PREDICTION_LOG_SAMPLE"),
        batch_input_prefix=_prefix(environ, "BATCH_INPUT_PREFIX", "incoming/"),
        batch_output_prefix=_prefix(environ, "BATCH_OUTPUT_PREFIX", "predictions/"),
        batch_output_bucket=_bucket(environ, "BATCH_OUTPUT_BUCKET"),
        batch_key_field=environ.get("BATCH_KEY_FIELD", "").strip() or None,
        batch_output=_choice(environ, "BATCH_OUTPUT", ("label", "proba"))
        if environ.get("BATCH_OUTPUT", "").strip()
        else None,
        batch_chunk_rows=_bounded_int(environ, "BATCH_CHUNK_ROWS", 10_000, 1, 1_000_000),
        prediction_log_max_bytes=_bounded_int(
            environ, "PREDICTION_LOG_MAX_BYTES", DEFAULT_PREDICTION_LOG_MAX_BYTES, *PREDICTION_LOG_BYTES_RANGE
        ),
        preload=_flag(environ, "PRELOAD"),
        loader_process=_flag(environ, "LOADER_PROCESS"),
        predict_threads=_bounded_int(environ, "PREDICT_THREADS", 0, 1, 64) or None,
    )


def _model_uri(environ: Mapping[str, str]) -> str:
    uri = environ.get("MODEL_URI", "").strip()
    if uri:
        return _checked_uri("MODEL_URI", uri)
    vertex = environ.get("AIP_STORAGE_URI", "").strip()
    if vertex:  # Vertex AI copies the model's artifactUri here
        return _checked_uri("AIP_STORAGE_URI", vertex)
    if _flag(environ, "USE_LOCAL_FILE_PATH_MODEL"):
        return LEGACY_LOCAL_MODEL
    bucket = environ.get("GCP_MLFLOW_MODEL_ARTIFACT_BUCKET_NAME", "").strip()
    if bucket:
        blob = environ.get("MODEL_BLOB_NAME", "").strip() or LEGACY_LOCAL_MODEL
        _check_bucket("GCP_MLFLOW_MODEL_ARTIFACT_BUCKET_NAME", bucket)
        return f"gs://{bucket}/{blob.lstrip('/')}"
    raise ConfigurationError(
        "MODEL_URI",
        f"is not set: set it to {URI_FORMS} naming a model file or MLflow model folder "
        "(or set GCP_MLFLOW_MODEL_ARTIFACT_BUCKET_NAME for gs://BUCKET/model.pkl)",
    )


def _checked_uri(variable: str, uri: str) -> str:
    scheme = _SCHEME.match(uri)
    if scheme is None:
        return uri
    name = scheme.group(1).lower()
    if name == "file":
        return uri[len("file://") :] if uri.startswith("file://") else uri[len("file:") :]
    if uris.is_mlflow_uri(uri):
        try:
            uris.parse(uri)
        except ValueError as exc:
            raise ConfigurationError(variable, f"'{uri}' {exc}") from None
        return uri
    if name != "gs" or not uri.startswith("gs://"):
        raise ConfigurationError(variable, f"has unsupported scheme '{name}:' in '{uri}': use {URI_FORMS}")
    bucket, name = split_gcs_uri(uri)
    _check_bucket(variable, bucket)
    if not name.strip("/"):
        raise ConfigurationError(
            variable, f"'{uri}' names a bucket but no object or folder: use gs://{bucket}/PATH"
        )
    return uri


def _models(environ: Mapping[str, str]) -> Catalog | None:
    value = environ.get("MODELS", "").strip()
    if not value:
        if environ.get("MODEL_NAMES", "").strip():
            raise ConfigurationError("MODEL_NAMES", "only applies with MODELS=models:/*@ALIAS")
        return None
    for alone in ("MODEL_URI", "MODEL_SHA256", "MODEL_NAME"):
        if environ.get(alone, "").strip():
            raise ConfigurationError(alone, "applies to one model: with MODELS, each model is named there")
    return catalog.parse(
        value, environ.get("MODEL_NAMES", ""), lambda uri: _checked_uri("MODELS", uri), ConfigurationError
    )


def _default_model(environ: Mapping[str, str], models: Catalog | None) -> str | None:
    name = environ.get("DEFAULT_MODEL", "").strip()
    if name and models is None:
        raise ConfigurationError("DEFAULT_MODEL", "only applies with MODELS")
    if name and models.uri(name) is None:
        raise ConfigurationError("DEFAULT_MODEL", f"'{name}' is not one of MODELS: {models.described()}")
    return name or None


def _tracking_uri(environ: Mapping[str, str], model_uri: str, models: Catalog | None) -> str | None:
    uri = environ.get("MLFLOW_TRACKING_URI", "").strip().rstrip("/")
    if uri and not re.match(r"^https?://[^/\s]+", uri):
        raise ConfigurationError(
            "MLFLOW_TRACKING_URI", f"must be the tracking server's http:// or https:// address, not '{uri}'"
        )
    served = [u for _, u in models.pairs] if models else [model_uri]
    if models and models.registry_alias:
        served.append(f"models:/*@{models.registry_alias}")
    through_mlflow = [u for u in served if uris.is_mlflow_uri(u)]
    if not uri and through_mlflow:
        variable = "MODELS" if models else "MODEL_URI"
        raise ConfigurationError(
            "MLFLOW_TRACKING_URI",
            f"is not set, and {variable} '{through_mlflow[0]}' is resolved through the MLflow tracking "
            "server: set it to the server's address, e.g. https://mlflow.example.com",
        )
    return uri or None


def _tracking_auth(environ: Mapping[str, str]) -> TrackingAuth:
    token = environ.get("MLFLOW_TRACKING_TOKEN", "").strip() or None
    username = environ.get("MLFLOW_TRACKING_USERNAME", "").strip() or None
    password = environ.get("MLFLOW_TRACKING_PASSWORD", "") or None
    if bool(username) != bool(password):
        given, missing = (
            ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
            if username
            else ("MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_USERNAME")
        )
        raise ConfigurationError(missing, f"is not set but {given} is: basic auth needs both")
    mode = _choice(environ, "TRACKING_AUTH", ("mlflow", GOOGLE_ID_TOKEN))
    return TrackingAuth(token, username, password, google_id_token=mode == GOOGLE_ID_TOKEN)


def _choice(environ: Mapping[str, str], variable: str, choices: tuple[str, ...]) -> str:
    """One of `choices` (the first when unset)."""
    value = environ.get(variable, "").strip().lower()
    if not value:
        return choices[0]
    if value not in choices:
        raise ConfigurationError(variable, f"must be one of {', '.join(choices)}, not '{environ[variable]}'")
    return value


def _check_bucket(variable: str, bucket: str) -> None:
    if not bucket:
        raise ConfigurationError(variable, "names no bucket: use gs://BUCKET/PATH")
    if not _BUCKET_NAME.match(bucket) or ".." in bucket:
        raise ConfigurationError(
            variable,
            f"has '{bucket}', which is not a valid bucket name (3-222 lowercase letters, digits, "
            "'-', '_' or '.', starting and ending with a letter or digit)",
        )


def _route(environ: Mapping[str, str], variable: str) -> str | None:
    route = environ.get(variable, "").strip()
    if route and (not route.startswith("/") or "<" in route or ">" in route):
        raise ConfigurationError(variable, f"must be a path starting with '/', not '{route}'")
    return route or None


def _sha256(environ: Mapping[str, str], variable: str) -> str | None:
    value = environ.get(variable, "").strip().lower()
    if value and not _SHA256.match(value):
        raise ConfigurationError(
            variable, "must be the 64 hex digits of a sha256 (sha256sum FILE), not what is set"
        )
    return value or None


def _dotted_names(environ: Mapping[str, str], variable: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in environ.get(variable, "").split(",") if name.strip())
    bad = [name for name in names if not _DOTTED_NAME.match(name)]
    if bad:
        raise ConfigurationError(
            variable,
            f"must be comma-separated dotted type names (module.Type), not {', '.join(map(repr, bad))}",
        )
    return names


def _api_keys(
    environ: Mapping[str, str], variable: str, scoped: bool
) -> tuple[tuple[str, ...], tuple[tuple[str, tuple[str, ...]], ...]]:
    """The keys, and with MODELS (`scoped`) those that may use some models only
    (`key:model1|model2`); with one model a key is taken whole, ':' and all."""
    raw = environ.get(variable, "")
    entries = [entry.strip() for entry in raw.split(",") if entry.strip()]
    if raw.strip() and not entries:
        raise ConfigurationError(variable, "is set but holds no key (comma-separated keys expected)")
    keys, scopes = [], []
    for entry in entries:
        key, sep, models = entry.partition(":") if scoped else (entry, "", "")
        names = tuple(name.strip() for name in models.split("|") if name.strip())
        if sep and (not key.strip() or not names):
            raise ConfigurationError(variable, "has a key:model1|model2 entry with no key or no model")
        keys.append(key.strip())
        if names:
            scopes.append((key.strip(), names))
    return tuple(keys), tuple(scopes)


def _flag(environ: Mapping[str, str], variable: str) -> bool:
    value = environ.get(variable, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(variable, f"must be true or false, not '{environ[variable]}'")


def _seconds(environ: Mapping[str, str], variable: str, default: float, zero_ok: bool) -> float:
    wanted = "a number of seconds, 0 or more" if zero_ok else "a positive number of seconds"
    ok = (lambda v: v >= 0) if zero_ok else (lambda v: v > 0)
    return _number(environ, variable, default, float, lambda v: math.isfinite(v) and ok(v), wanted)


def _prefix(environ: Mapping[str, str], variable: str, default: str) -> str:
    """An object-name prefix: empty for the whole bucket, else ending in '/'."""
    value = environ.get(variable, default).strip().lstrip("/")
    return value if not value or value.endswith("/") else value + "/"


def _bucket(environ: Mapping[str, str], variable: str) -> str | None:
    value = environ.get(variable, "").strip()
    if value:
        _check_bucket(variable, value)
    return value or None


def _fraction(environ: Mapping[str, str], variable: str) -> float:
    wanted = "a fraction from 0 to 1 (0.05 captures 5 %)"
    return _number(environ, variable, 0.0, float, lambda v: 0 <= v <= 1, wanted)  # NaN fails too


def _bounded_int(environ: Mapping[str, str], variable: str, default: int, low: int, high: int) -> int:
    wanted = f"a whole number from {low} to {high}"
    return _number(environ, variable, default, int, lambda v: low <= v <= high, wanted)


def _positive_int(environ: Mapping[str, str], variable: str, default: int) -> int:
    return _number(environ, variable, default, int, lambda v: v > 0, "a positive whole number")


def _number(environ: Mapping[str, str], variable: str, default, parse, ok, wanted: str):
    """`variable` parsed (int or float) and accepted by `ok`; `default` when unset."""
    raw = environ.get(variable, "").strip()
    if not raw:
        return default
    try:
        value = parse(raw)
    except ValueError:
        value = None
    if value is None or not ok(value):
        raise ConfigurationError(variable, f"must be {wanted}, not '{raw}'")
    return value
