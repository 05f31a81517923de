"""Logs an operator can use: one JSON line per request in Cloud Logging's shape, with the trace."""

import json
import logging

import pytest
from flask import Request
from werkzeug.test import EnvironBuilder

from predictor import logs
from support import EXAMPLE, records

TRACE = "105445aa7843bc8bf206b12000100000"


@pytest.fixture
def project(monkeypatch):
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "demo-project")
    logs._project.cache_clear()
    yield
    logs._project.cache_clear()


@pytest.mark.parametrize(
    "headers, trace",
    [
        ({"X-Cloud-Trace-Context": f"{TRACE}/1;o=1"}, TRACE),
        ({"X-Cloud-Trace-Context": TRACE.upper()}, TRACE),
        ({"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"}, TRACE),
        ({"traceparent": f"00-{'0' * 32}-00f067aa0ba902b7-01"}, None),
        ({"X-Cloud-Trace-Context": "not-a-trace"}, None),
        ({}, None),
    ],
)
def test_trace_from_either_header(project, headers, trace):
    expected = {"logging.googleapis.com/trace": f"projects/demo-project/traces/{trace}"} if trace else {}
    assert logs.trace_fields(headers) == expected


@pytest.mark.parametrize(
    "environ, url",
    [
        (
            {"RAW_URI": "/predict%20me?x=1", "HTTP_HOST": "fn.example:8080"},
            "http://fn.example:8080/predict%20me?x=1",
        ),
        ({"RAW_URI": "/predict"}, "http://localhost/predict"),  # no Host header: the server's name
        ({"RAW_URI": "http://proxy.example/predict%20me"}, "http://localhost/predict%20me"),  # werkzeug's
        ({}, "http://localhost/predict%20me"),
    ],
)
def test_the_logged_url_is_the_target_as_the_client_sent_it(environ, url):
    base = EnvironBuilder(path="/predict me", base_url="http://localhost").get_environ()
    base = {k: v for k, v in base.items() if k not in ("RAW_URI", "REQUEST_URI", "HTTP_HOST")}
    assert logs.request_url(Request({**base, **environ})) == url


def test_a_line_past_the_limit_keeps_its_start_and_its_small_fields():
    record = logging.LogRecord("predictor", logging.WARNING, __file__, 1, "x" * 100_000, None, None)
    record.json_fields = {"status": 400, "rows": list(range(50_000))}
    line = logs.JSONLineFormatter().format(record)
    entry = json.loads(line)
    assert len(line) <= logs.MAX_LINE_BYTES
    assert entry["message"].startswith("x" * logs.MAX_PART_BYTES) and "more characters" in entry["message"]
    assert entry["status"] == 400 and entry["rows"].endswith("bytes, left out>")
    assert entry["line_cut_from_bytes"] > logs.MAX_LINE_BYTES


def test_no_trace_without_a_project(monkeypatch):
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    monkeypatch.delenv("GCP_PROJECT", raising=False)
    logs._project.cache_clear()
    assert logs.trace_fields({"X-Cloud-Trace-Context": TRACE}) == {}


def test_one_json_line_per_request_without_bodies_or_keys(start_server, trained):
    server = start_server(
        {
            "MODEL_URI": EXAMPLE,
            "GOOGLE_CLOUD_PROJECT": "demo-project",
            "API_KEYS": "very-secret-key",
        }
    )
    rows = records(trained.test_x.head(2))
    rows[0]["a-marker-only-in-the-body"] = 1
    key = {
        "X-API-Key": "very-secret-key",
        "X-Cloud-Trace-Context": f"{TRACE}/7;o=1",
        "User-Agent": "log-test",
    }
    server.post(json=rows, headers=key)  # 400: the unknown field
    server.post(json=rows[1:], headers=key)  # 200
    server.get("/ready", headers={"X-API-Key": "wrong"})  # 401
    lines = [json.loads(line) for line in server.log().splitlines() if line.strip()]  # every line is JSON
    requests_logged = [line for line in lines if line.get("logger") == "predictor.requests"]
    assert [(r["message"], r["severity"]) for r in requests_logged[-3:]] == [
        ("POST /predict 400", "WARNING"),
        ("POST /predict 200", "INFO"),
        ("GET /ready 401", "WARNING"),
    ]
    entry = requests_logged[-2]
    http = entry["httpRequest"]
    assert (http["requestMethod"], http["status"], http["userAgent"]) == ("POST", 200, "log-test")
    assert http["requestUrl"].endswith("/predict") and http["latency"].endswith("s")
    assert int(http["requestSize"]) > 0 and int(http["responseSize"]) > 0
    assert entry["logging.googleapis.com/trace"] == f"projects/demo-project/traces/{TRACE}"
    assert entry["model_sha256"] and "model_generations" in entry
    loaded = [line for line in lines if line["message"] == "model loaded"]
    assert len(loaded) == 1 and loaded[0]["load_seconds"] > 0
    text = server.log()
    assert "very-secret-key" not in text and "a-marker-only-in-the-body" not in text
