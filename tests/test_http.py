"""The HTTP contract, against the real functions-framework app in this process serving the
model the tests trained (an MLflow skops folder), or examples/wine-quality where no numbers are
compared; a real gunicorn process where its body reader is what is tested."""

import gzip

import cloudpickle
import pytest
import requests

from support import EXAMPLE, ROOT, in_process, records

LIMIT = 64 * 1024
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def trained_uri(artifacts):
    """The model trained in this run: its answers are compared with scikit-learn's in-process.
    (examples/wine-quality was trained on another machine, where the last bit may differ.)"""
    return str(artifacts["mlflow skops"])


@pytest.fixture(scope="module")
def server(trained_uri):
    return in_process({"MODEL_URI": trained_uri, "MAX_REQUEST_BYTES": str(LIMIT)})


@pytest.fixture(scope="module")
def real_server(start_server, trained_uri):
    return start_server({"MODEL_URI": trained_uri, "MAX_REQUEST_BYTES": str(LIMIT)})


@pytest.fixture(scope="module")
def rows(trained):
    return records(trained.test_x.head(20))


def assert_error(response, status, code):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert "Traceback" not in response.text and "<html" not in response.text.lower()
    return body["error"]


@pytest.mark.parametrize("path", ["/predict", "/predict/", "/"])
def test_predict_answers_the_trained_models_numbers_in_order(server, trained, rows, path):
    response = server.post(path, json=rows)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == trained.model.predict(trained.test_x.head(20)).tolist()


def test_the_original_payload(server, trained):
    import pandas as pd

    payload = [
        {
            "alcohol": 12.8,
            "chlorides": 0.029,
            "citric acid": 0.48,
            "density": 0.98,
            "fixed acidity": 6.2,
            "free sulfur dioxide": 29,
            "pH": 3.33,
            "residual sugar": 1.2,
            "sulphates": 0.39,
            "total sulfur dioxide": 75,
            "volatile acidity": 0.66,
        }
    ]
    response = server.post(json=payload)
    expected = trained.model.predict(pd.DataFrame(payload)[list(trained.train_x.columns)].astype(float))
    assert response.status_code == 200 and response.json() == expected.tolist()


def test_an_empty_list_gets_an_empty_list(server):
    response = server.post(json=[])
    assert (response.status_code, response.json()) == (200, [])


def test_health_and_ready(server):
    assert server.get("/health").json() == {"status": "ok"}
    ready = server.get("/ready")
    assert ready.status_code == 200
    model = ready.json()["model"]
    assert (model["type"], model["format"], model["flavor"]) == ("ElasticNet", "skops", "sklearn")
    assert model["features"][8] == "pH"


@pytest.mark.parametrize(
    "method, path, kwargs, status, code",
    [
        ("POST", "/predict", {"data": b"[{", "headers": JSON}, 400, "invalid_json"),
        ("POST", "/predict", {"data": b"", "headers": JSON}, 400, "invalid_json"),
        ("POST", "/predict", {"data": b"[NaN]", "headers": JSON}, 400, "invalid_input"),  # a null row
        ("POST", "/predict", {"data": b'[{"pH": Infinity}]', "headers": JSON}, 400, "invalid_json"),
        ("POST", "/predict", {"data": b"[1e309]", "headers": JSON}, 400, "invalid_json"),
        ("POST", "/predict", {"data": b'["\xff"]', "headers": JSON}, 400, "invalid_json"),
        ("POST", "/predict", {"json": {"alcohol": 12.8}}, 400, "invalid_input"),
        ("POST", "/predict", {"json": [{"alcohol": "12.8"}]}, 400, "invalid_input"),
        ("GET", "/nope", {}, 404, "not_found"),
        ("POST", "/predictions", {"json": []}, 404, "not_found"),
        ("GET", "/robots.txt", {}, 404, "not_found"),
        ("GET", "/favicon.ico", {}, 404, "not_found"),
        ("GET", "/predict", {}, 405, "method_not_allowed"),
        ("PUT", "/", {}, 405, "method_not_allowed"),
        ("POST", "/health", {}, 405, "method_not_allowed"),
        (
            "POST",
            "/predict",
            {"data": b"[" + b"1," * LIMIT + b"1]", "headers": JSON},
            413,
            "payload_too_large",
        ),
        (
            "POST",
            "/predict",
            {"data": "a=1", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
            415,
            "unsupported_media_type",
        ),
        (
            "POST",
            "/predict",
            {"data": "[]", "headers": {"Content-Type": "text/plain"}},
            415,
            "unsupported_media_type",
        ),
        (
            "POST",
            "/predict",
            {"data": "[]", "headers": {"Content-Type": "application/json; charset=latin-1"}},
            415,
            "unsupported_media_type",
        ),
    ],
)
def test_every_failure_is_a_json_error(server, method, path, kwargs, status, code):
    assert_error(server.request(method, path, **kwargs), status, code)


@pytest.mark.parametrize(
    "method, path, allow",
    [("GET", "/predict", "POST"), ("DELETE", "/ready", "GET, HEAD"), ("POST", "/health", "GET, HEAD")],
)
def test_405_says_which_methods_are_allowed(server, method, path, allow):
    response = server.request(method, path)
    error = assert_error(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == allow
    assert error["details"]["allowed"] == allow.split(", ")


def test_invalid_rows_name_row_field_and_expectation(server, rows):
    bad = [dict(rows[0]), {**rows[1], "pH": "3.3"}, {k: v for k, v in rows[2].items() if k != "alcohol"}]
    bad[0]["ph"] = bad[0].pop("pH")
    error = assert_error(server.post(json=bad), 400, "invalid_input")
    assert error["details"]["rows"] == {
        "0": {"pH": ["missing required feature"], "ph": ["unknown feature; did you mean 'pH'?"]},
        "1": {"pH": ["expected a number, got string"]},
        "2": {"alcohol": ["missing required feature"]},
    }
    assert error["details"]["invalid_row_count"] == 3
    assert error["message"].startswith("3 of 3 rows are invalid; row 0")


def test_chunked_body_over_the_limit_is_413(real_server):
    chunks = (b"[" + b"1," * 1024 for _ in range(LIMIT // 1024 + 2))
    error = assert_error(real_server.post(data=chunks, headers=JSON), 413, "payload_too_large")
    assert error["details"] == {"limit_bytes": LIMIT}


def test_bodies_up_to_the_limit_follow_each_other_on_one_connection(real_server, trained):
    """The body is read to its last byte and no further: the next request on the same keep-alive
    connection is parsed from the right place."""
    import json

    X = trained.test_x
    session = requests.Session()
    for count in (1, 150, 20, 150):
        body = json.dumps(records(X.head(count))).encode()
        body += b" " * (LIMIT - len(body)) if count == 150 else b""  # exactly at the limit
        assert len(body) <= LIMIT
        response = session.post(real_server.url + "/predict", data=body, headers=JSON, timeout=60)
        assert response.status_code == 200, response.text
        assert response.json() == trained.model.predict(X.head(count)).tolist()


def test_413_says_the_limit(server):
    error = assert_error(server.post(data=b"[" + b" " * LIMIT + b"]", headers=JSON), 413, "payload_too_large")
    assert str(LIMIT) in error["message"] and "MAX_REQUEST_BYTES" in error["message"]


def test_compressed_bodies_are_refused_with_415(server):
    response = server.post(data=gzip.compress(b"[]"), headers={**JSON, "Content-Encoding": "gzip"})
    error = assert_error(response, 415, "unsupported_media_type")
    assert "Content-Encoding gzip" in error["message"]


def test_misconfiguration_keeps_health_up_and_names_the_variable(capsys):
    capsys.readouterr()
    server = in_process({"MAX_REQUEST_BYTES": "32MB", "MODEL_URI": EXAMPLE})
    assert server.get("/health").status_code == 200
    for response in (server.post(json=[]), server.get("/ready")):
        error = assert_error(response, 503, "configuration_error")
        assert error["details"] == {"variable": "MAX_REQUEST_BYTES"}
        assert error["message"].startswith("MAX_REQUEST_BYTES must be a positive whole number")
    logged = [line for line in capsys.readouterr().out.splitlines() if "MAX_REQUEST_BYTES" in line]
    assert len(logged) == 1 and '"severity":"ERROR"' in logged[0]


def test_missing_model_is_503_with_retry_after(tmp_path):
    server = in_process({"MODEL_URI": str(tmp_path / "nothing-here.pkl")})
    for response in (server.post(json=[]), server.get("/ready")):
        assert_error(response, 503, "model_not_found")
        assert int(response.headers["Retry-After"]) > 0
    assert server.get("/health").status_code == 200


def test_a_bug_of_ours_is_a_json_500_without_internals(tmp_path, capsys):
    import exploding_model

    cloudpickle.register_pickle_by_value(exploding_model)
    path = tmp_path / "model.pkl"
    path.write_bytes(cloudpickle.dumps(exploding_model.ExplodingModel()))
    server = in_process({"MODEL_URI": str(path)})
    response = server.post(json=[[1.0, 2.0]])
    assert_error(response, 500, "internal_error")
    assert "secret internal detail" not in response.text
    assert "secret internal detail" in capsys.readouterr().out  # the operator sees it


def test_model_sha256_pin():
    import hashlib

    digest = hashlib.sha256((ROOT / "examples" / "wine-quality" / "model.skops").read_bytes()).hexdigest()
    wrong = in_process({"MODEL_URI": EXAMPLE, "MODEL_SHA256": "0" * 64})
    error = assert_error(wrong.post(json=[]), 503, "model_integrity")
    assert error["details"] == {"expected_sha256": "0" * 64, "actual_sha256": digest}
    right = in_process({"MODEL_URI": EXAMPLE, "MODEL_SHA256": digest})
    assert right.get("/ready").json()["model"]["sha256"] == digest


def test_api_keys_guard_every_route_but_health(rows, trained, trained_uri, capsys):
    server = in_process({"MODEL_URI": trained_uri, "API_KEYS": "first-key,second-key"})
    assert server.get("/health").status_code == 200
    for headers in ({}, {"X-API-Key": "wrong"}, {"X-API-Key": "first-key,second-key"}, {"X-Api-Key": ""}):
        for response in (
            server.post(json=rows, headers=headers),
            server.get("/ready", headers=headers),
            server.get("/nope", headers=headers),
        ):
            assert_error(response, 401, "unauthorized")
            assert response.headers["WWW-Authenticate"].startswith("APIKey")
    for key in ("first-key", "second-key"):
        response = server.post(json=rows, headers={"X-API-Key": key})
        assert response.json() == trained.model.predict(trained.test_x.head(20)).tolist()
    logged = capsys.readouterr().out
    assert "POST /predict 200" in logged and "first-key" not in logged and "second-key" not in logged


def test_max_rows_is_enforced_before_validation_and_says_the_limit(rows):
    server = in_process({"MODEL_URI": EXAMPLE, "MAX_ROWS": "5"})
    assert server.post(json=rows[:5]).status_code == 200
    too_many = [{"anything": "invalid"}] * 6  # refused for its size, not for its contents
    for response in (server.post(json=too_many), server.post("/invocations", json={"instances": too_many})):
        error = assert_error(response, 413, "payload_too_large")
        assert error["details"] == {"limit_rows": 5, "rows": 6} and "MAX_ROWS" in error["message"]
