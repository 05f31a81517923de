"""What the fuzz tests share: the strategies that generate requests, the documented-answer check,
and the real functions-framework process they run against (one per test file)."""

import json
import os

import orjson
import requests
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from support import EXAMPLE

FEATURES = [
    "fixed acidity",
    "volatile acidity",
    "citric acid",
    "residual sugar",
    "chlorides",
    "free sulfur dioxide",
    "total sulfur dioxide",
    "density",
    "pH",
    "sulphates",
    "alcohol",
]
PATHS = [
    "/",
    "/predict",
    "/predict/",
    "/invocations",
    "/health",
    "/ready",
    "/metadata",
    "/openapi.json",
    "/docs",
    "/docs/swagger-ui.css",
    "/v2/health/live",
    "/v2/health/ready",
    "/v2/models/model",
    "/v2/models/model/ready",
    "/v2/models/model/infer",
    "/v2/models/other/infer",
]
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]
FUZZ = settings(deadline=None, database=None, suppress_health_check=list(HealthCheck), print_blob=True)
# 3,000 generated requests in all in `make test`; FUZZ_EXAMPLES scales it (`make fuzz`: 30,000)
TOTAL = int(os.environ.get("FUZZ_EXAMPLES", "3000"))


def start_fuzz_server(start_server):
    """The example model behind small limits, loaded before the first generated request.

    Not traced by coverage: fuzzing looks for crashes, and every path it reaches has its own test."""
    server = start_server(
        {"MODEL_URI": EXAMPLE, "MAX_REQUEST_BYTES": str(256 * 1024), "MAX_ROWS": "500"}, measured=False
    )
    assert server.get("/ready").status_code == 200
    return server


def keep_alive_session() -> requests.Session:
    """Keep-alive, like a real client. gunicorn closes a connection idle for 2 s, and a request
    sent just as it does finds it closed (a race in every keep-alive client): such a request is
    sent once more. A worker that died instead would show in `assert_loaded_once`."""
    session = requests.Session()
    retry_once = Retry(total=1, read=1, status=0, allowed_methods=None)
    session.mount("http://", HTTPAdapter(max_retries=retry_once))
    return session


def assert_loaded_once(server) -> None:
    """After a file's fuzzing, the model was loaded once: no input killed the worker."""
    loads = [line for line in server.log().splitlines() if '"message":"model loaded"' in line]
    assert len(loads) == 1, server.log()[-2000:]


def encode(value) -> bytes:
    return json.dumps(value).encode()  # stdlib: integers of any size, as clients may send


def is_bigquery(data: bytes) -> bool:
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return isinstance(body, dict) and "calls" in body


def assert_documented(response, body_was_bigquery=False):
    """Never a 5xx; JSON everywhere but /docs; errors in the one documented shape (BigQuery's
    errorMessage for BigQuery-shaped bodies)."""
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if response.request.method == "HEAD":
        return
    mimetype = response.headers.get("Content-Type", "")
    if response.ok and response.request.path_url.startswith("/docs"):
        return
    assert mimetype == "application/json", (response.status_code, mimetype, response.text[:200])
    body = response.json()
    if response.status_code >= 400:
        if body_was_bigquery and set(body) == {"errorMessage"}:
            assert isinstance(body["errorMessage"], str) and len(response.content) < 1024
        else:
            if isinstance(body.get("error"), str):  # the Open Inference Protocol's shape, on /v2
                assert set(body) == {"error", "code", "details"} and body["error"]
                assert isinstance(body["code"], str)
            else:
                assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
                assert isinstance(body["error"]["code"], str) and body["error"]["message"]


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=8,
)
feature_values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False), st.integers(-(10**6), 10**6), json_values
)
records = st.dictionaries(
    st.sampled_from(FEATURES + ["ph", "colour", ""]), feature_values, min_size=0, max_size=13
)
full_records = st.fixed_dictionaries({name: feature_values for name in FEATURES})
rows = st.lists(
    st.one_of(full_records, records, st.lists(feature_values, max_size=12), json_values), max_size=6
)


def envelopes(rows_strategy):
    def split(rs):
        return {"columns": FEATURES, "data": [list(r.values()) if isinstance(r, dict) else r for r in rs]}

    return st.one_of(
        rows_strategy,
        rows_strategy.map(lambda rs: {"dataframe_split": split(rs)}),
        rows_strategy.map(lambda rs: {"dataframe_records": rs}),
        rows_strategy.map(lambda rs: {"instances": rs, "parameters": {"output": "label"}}),
        rows_strategy.map(lambda rs: {"inputs": rs, "params": {}}),
        rows_strategy.map(
            lambda rs: {
                "requestId": "r",
                "calls": [list(r.values()) if isinstance(r, dict) else [r] for r in rs],
            }
        ),
        st.fixed_dictionaries(
            {
                "inputs": st.lists(
                    st.fixed_dictionaries(
                        {
                            "name": st.sampled_from(["input-0", "pH", "x"]),
                            "shape": st.lists(st.integers(-1, 12), max_size=3),
                            "datatype": st.sampled_from(["FP64", "INT64", "BYTES", "BOOL", "FP16"]),
                            "data": st.lists(feature_values, max_size=24),
                        }
                    ),
                    max_size=3,
                )
            }
        ),
        json_values,
    )
