"""Know what it answered: every response carries a request id that is on every log line of the
request, and PREDICTION_LOG_SAMPLE captures a share of prediction requests — inputs and
outputs as one structured log entry — read back from the real process's stdout."""

import json

import pytest
import requests

from support import EXAMPLE, error_of, in_process, records

CAPTURE = "predictor.capture"


def log_entries(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def captured(text: str) -> list[dict]:
    return [e for e in log_entries(text) if e.get("logger") == CAPTURE and e["message"] == "prediction"]


@pytest.fixture(scope="module")
def capturing(start_server):
    return start_server({"MODEL_URI": EXAMPLE, "PREDICTION_LOG_SAMPLE": "1"})


@pytest.fixture(scope="module")
def rows(trained):
    return trained.test_x.head(3)


def bodies(rows):
    """Every protocol, the same rows; how to read the predictions out of each answer."""
    values = rows.to_numpy().tolist()
    names = list(rows.columns)
    tensor = {"name": "x", "shape": [len(values), len(names)], "datatype": "FP64", "data": values}
    return {
        "records": ("/predict", {"json": records(rows)}, lambda a: a),
        "dataframe_split": (
            "/invocations",
            {"json": {"dataframe_split": {"columns": names, "data": values}}},
            lambda a: a["predictions"],
        ),
        "dataframe_records": (
            "/invocations",
            {"json": {"dataframe_records": records(rows)}},
            lambda a: a["predictions"],
        ),
        "instances": ("/predict", {"json": {"instances": records(rows)}}, lambda a: a["predictions"]),
        "inputs": ("/predict", {"json": {"inputs": records(rows)}}, lambda a: a["predictions"]),
        "bigquery": ("/predict", {"json": {"calls": values}}, lambda a: a["replies"]),
        "csv": (
            "/predict",
            {"data": rows.to_csv(index=False), "headers": {"Content-Type": "text/csv"}},
            lambda a: a["predictions"],
        ),
        "oip": ("/v2/models/model/infer", {"json": {"inputs": [tensor]}}, lambda a: a["outputs"][0]["data"]),
    }


PROTOCOLS = [
    "records",
    "dataframe_split",
    "dataframe_records",
    "instances",
    "inputs",
    "bigquery",
    "csv",
    "oip",
]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_protocol_is_captured_with_the_inputs_and_outputs_it_answered(capturing, rows, protocol):
    path, kwargs, predictions_of = bodies(rows)[protocol]
    headers = {"X-Request-Id": f"capture-{protocol}", **kwargs.pop("headers", {})}
    answer = requests.post(capturing.url + path, headers=headers, timeout=30, **kwargs)
    assert answer.status_code == 200, answer.text
    request_id = answer.headers["X-Request-Id"]
    assert request_id == f"capture-{protocol}"
    (entry,) = [e for e in captured(capturing.log()) if e["request_id"] == request_id]
    assert entry["protocol"] == protocol and entry["status"] == 200
    assert entry["inputs"] == records(rows)  # feature name -> value, the validated rows
    assert entry["outputs"] == predictions_of(answer.json())
    assert (entry["rows_total"], entry["rows_captured"]) == (3, 3)
    assert entry["model"]["uri"] == EXAMPLE and len(entry["model"]["sha256"]) == 64
    assert entry["latency_seconds"] > 0 and entry["requested_at"]
    request_line = [
        e
        for e in log_entries(capturing.log())
        if e.get("logger") == "predictor.requests" and e.get("request_id") == request_id
    ]
    assert len(request_line) == 1  # the same id on the request's own log line


def test_a_failed_request_is_captured_with_its_error_and_row_count_not_its_body(capturing, rows):
    body = records(rows)
    body[1]["alcohol"] = "a-marker-only-in-the-body"
    answer = requests.post(capturing.url + "/predict", json=body, timeout=30)
    assert answer.status_code == 400
    (entry,) = [e for e in captured(capturing.log()) if e["request_id"] == answer.headers["X-Request-Id"]]
    summary = (entry["status"], entry["error_code"], entry["rows_total"], entry["rows_captured"])
    assert summary == (400, "invalid_input", 3, 0)
    assert "inputs" not in entry and "a-marker-only-in-the-body" not in capturing.log()


def test_nothing_of_a_request_is_logged_at_rate_0(start_server, rows):
    server = start_server({"MODEL_URI": EXAMPLE, "API_KEYS": "a-secret-key"})
    marked = records(rows)
    marked[0]["alcohol"] = 12.3456789012
    answer = server.post(json=marked, headers={"X-API-Key": "a-secret-key"})
    assert answer.status_code == 200
    text = server.log()
    assert "12.3456789012" not in text and '"inputs"' not in text and not captured(text)
    assert "a-secret-key" not in text


def test_half_of_a_thousand_requests_are_captured_within_binomial_bounds(start_server, rows):
    server = start_server({"MODEL_URI": EXAMPLE, "PREDICTION_LOG_SAMPLE": "0.5"})
    ids = set()
    with requests.Session() as session:
        for _ in range(1000):
            answer = session.post(server.url + "/predict", json=records(rows.head(1)), timeout=30)
            assert answer.status_code == 200
            ids.add(answer.headers["X-Request-Id"])
    entries = captured(server.log())
    assert len(ids) == 1000  # a fresh id for each request
    assert {e["request_id"] for e in entries} <= ids
    assert 421 <= len(entries) <= 579, len(entries)  # 500 ± 5 standard deviations (15.8)


def test_an_entry_past_the_size_cap_keeps_its_first_rows_and_says_how_many(trained, capsys):
    env = {"MODEL_URI": EXAMPLE, "PREDICTION_LOG_SAMPLE": "1", "PREDICTION_LOG_MAX_BYTES": "20000"}
    app = in_process(env)
    rows = trained.test_x.head(1000)
    capsys.readouterr()
    answer = app.post("/predict", json=records(rows))
    assert answer.status_code == 200
    line = next(line for line in capsys.readouterr().out.splitlines() if f'"logger":"{CAPTURE}"' in line)
    entry = json.loads(line)
    assert len(line.encode()) <= 20000
    assert entry["rows_total"] == 1000 and 0 < entry["rows_captured"] < 1000
    assert entry["rows_captured"] > 20000 // 600  # a row is ~400 bytes with its output: not cut too far
    assert entry["inputs"] == records(rows.head(entry["rows_captured"]))
    assert entry["outputs"] == answer.json()[: entry["rows_captured"]]


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({"X-Request-Id": "order-42/line:7"}, "order-42/line:7"),
        (
            {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
            "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        ),
        (
            {"X-Cloud-Trace-Context": "105445AA7843BC8BF206B12000100000/7;o=1"},
            "105445aa7843bc8bf206b12000100000-7",
        ),
        ({"X-Request-Id": "has spaces and\ttabs"}, None),  # replaced, not echoed
        ({"X-Request-Id": "x" * 200}, None),
        ({}, None),
    ],
)
def test_request_ids_on_every_answer_errors_included(headers, expected):
    app = in_process({"MODEL_URI": EXAMPLE})
    for method, path, status in [
        ("post", "/predict", 400),
        ("get", "/nowhere", 404),
        ("get", "/health", 200),
    ]:
        answer = getattr(app, method)(path, headers=headers, **({"json": [{}]} if method == "post" else {}))
        assert answer.status_code == status
        given = answer.headers["X-Request-Id"]
        if expected is None:
            assert len(given) == 32 and int(given, 16) >= 0
        else:
            assert given == expected


@pytest.mark.parametrize(
    "variable, value, words",
    [
        ("PREDICTION_LOG_SAMPLE", "2", "fraction from 0 to 1"),
        ("PREDICTION_LOG_SAMPLE", "half", "fraction from 0 to 1"),
        ("PREDICTION_LOG_MAX_BYTES", "300000", "from 4096 to 250000"),
        ("PREDICTION_LOG_MAX_BYTES", "lots", "from 4096 to 250000"),
    ],
)
def test_a_bad_capture_setting_is_a_503_naming_it(variable, value, words):
    answer = in_process({"MODEL_URI": EXAMPLE, variable: value}).post("/predict", json=[{}])
    assert answer.status_code == 503 and error_of(answer.json())["details"] == {"variable": variable}
    assert words in error_of(answer.json())["message"]


def test_a_request_without_a_model_is_captured_with_the_load_error(tmp_path, capsys):
    app = in_process({"MODEL_URI": str(tmp_path / "missing.skops"), "PREDICTION_LOG_SAMPLE": "1"})
    capsys.readouterr()
    answer = app.post("/predict", json=[{"alcohol": 1}])
    assert answer.status_code == 503
    (entry,) = captured(capsys.readouterr().out)
    assert (entry["model"], entry["error_code"], entry["rows_total"]) == (None, "model_not_found", None)
