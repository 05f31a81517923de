"""What a tracking server may cost the function, kept bounded: each call ends at its deadline
however the server dribbles (MLFLOW_HTTP_REQUEST_TIMEOUT is for the whole call, retries included),
and nothing it sends — answers, listings, files, error text — grows the worker past a bound.
A real server misbehaving on purpose (`hostile_tracking`); memory is the worker's peak."""

import time

import pytest

from hostile_tracking import FILE, LISTING, HostileTracking
from support import error_of, in_process, peak_growth

URI = {"MODEL_URI": "models:/wine@champion"}
PEAK_GROWTH_LIMIT_MIB = 64


def answer(hostile, timeout="2"):
    app = in_process({**URI, "MLFLOW_TRACKING_URI": hostile.url, "MLFLOW_HTTP_REQUEST_TIMEOUT": timeout})
    started = time.monotonic()
    response = app.post("/predict", json=[{}])
    return response, time.monotonic() - started


def test_a_server_that_answers_a_byte_at_a_time_is_cut_at_the_deadline():
    """One byte every 0.5 s with a 2 s timeout held a cold load 47 s: each read was quick."""
    with HostileTracking("drip") as hostile:
        response, seconds = answer(hostile)
    assert response.status_code == 503
    message = error_of(response.json())["message"]
    assert "timed out" in message and "within 2 s (MLFLOW_HTTP_REQUEST_TIMEOUT)" in message
    assert "ConnectionError" not in message
    assert seconds < 2 + 1  # the deadline, and the watching thread's tick


def test_a_long_error_message_reaches_the_caller_cut_short_and_without_the_servers_address():
    with HostileTracking("long error") as hostile:
        response, _ = answer(hostile)
    assert response.status_code == 503
    message = error_of(response.json())["message"]
    assert (
        "the registry is down for maintenance" in message
        and "(cut short; the function's log has more)" in message
    )
    assert len(response.text) < 4096 and hostile.url not in response.text


def test_endless_folders_are_counted_and_refused():
    """MAX_FILES counted files only: a tree of empty folders was listed forever."""
    with HostileTracking("endless folders") as hostile:
        response, _ = answer(hostile, timeout="5")
    assert response.status_code == 503
    assert "more than 1000 files and folders" in error_of(response.json())["message"]
    assert hostile.calls.count(LISTING) <= 1001


@pytest.mark.parametrize(
    "behaviour, words",
    [
        ("huge alias", "answered alias 'champion' of registered model 'wine' with more than 4 MiB"),
        ("longer than listed", "sent more than the 1000 bytes of 0/m/model.skops it listed"),
    ],
)
def test_what_the_server_sends_past_its_bound_is_not_read(start_server, behaviour, words):
    """A 16 MB alias answer added 418 MB; a file listed as 1,000 bytes and streamed chunked was
    read whole (48 MiB), three times."""
    with HostileTracking(behaviour) as hostile:
        server = start_server({**URI, "MLFLOW_TRACKING_URI": hostile.url, "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"})
        responses = []
        growth = peak_growth(server, lambda: responses.append(server.post(json=[{}])))
    assert responses[0].status_code == 503
    assert words in error_of(responses[0].json())["message"]
    assert growth < PEAK_GROWTH_LIMIT_MIB, f"+{growth} MiB"


def test_a_file_of_unknown_size_is_cut_off_at_the_bound(monkeypatch):
    """With no size listed and no Content-Length, nothing was checked: /tmp is memory."""
    from predictor.loading import mlflow_artifacts

    monkeypatch.setattr(mlflow_artifacts, "MAX_UNSIZED_BYTES", 4 * 1024 * 1024)
    with HostileTracking("unsized", file_bytes=16 * 1024 * 1024) as hostile:
        response, _ = answer(hostile, timeout="5")
    assert response.status_code == 503
    assert (
        "sent more than the 4194304 bytes of 0/m/model.skops a file of unknown size may have"
        in (error_of(response.json())["message"])
    )
    assert hostile.calls.count(FILE) == 3  # each attempt cut off
