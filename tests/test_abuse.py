"""What a red-team sweep found, kept fixed: against a real functions-framework process with the
deployed limits (32 MiB bodies, 100,000 rows), one request must not take the instance's memory."""

import socket
import time
from pathlib import Path

import orjson
import pytest
import requests

from predictor.read_deadline import TICK_SECONDS, deadlines
from support import EXAMPLE, error_of, peak_growth

MAX_BODY = 32 * 1024 * 1024
# what a request may add to the worker's peak memory (the deployed instance has 1 GiB; the
# largest valid request, 100,000 rows of 11 features, adds about 170 MiB)
PEAK_GROWTH_LIMIT_MIB = 256


@pytest.fixture(scope="module")
def server(start_server, trained):
    server = start_server({"MODEL_URI": EXAMPLE})
    warm = orjson.dumps(trained.test_x.head(1000).to_dict(orient="records"))
    assert server.post(data=warm, headers={"Content-Type": "application/json"}).status_code == 200
    return server


def fill(unit: bytes, head: bytes = b"[", tail: bytes = b"]") -> bytes:
    """`head` + `unit` repeated to just under the 32 MiB body limit + `tail`."""
    return head + unit * ((MAX_BODY - len(head) - len(tail)) // len(unit)) + tail


def csv_rows() -> bytes:
    header = b'"fixed acidity","volatile acidity","citric acid"\n'
    return fill(b"1,2,3\n", head=header, tail=b"")


@pytest.mark.parametrize(
    "path, body, content_type",
    [
        ("/predict", fill(b"{},")[:-2] + b"]", "application/json"),  # ten million empty objects
        ("/predict", fill(b"[],")[:-2] + b"]", "application/json"),
        ("/predict", fill(b"0,")[:-2] + b"]", "application/json"),
        (
            "/invocations",
            fill(b"[[[[[[[[[[]]]]]]]]]],")[:-2] + b"]",
            "application/json",
        ),  # nested, few commas
        ("/invocations", csv_rows(), "text/csv"),  # 5.6 million CSV lines
        (
            "/invocations",
            fill(b"0.5,", head=b'{"instances": {"alcohol": [', tail=b"1]}}"),
            "application/json",
        ),
        (
            "/v2/models/model/infer",
            fill(
                b"0.5,",
                head=b'{"inputs": [{"name": "x", "datatype": "FP64", "shape": [1], "data": [',
                tail=b"1]}]}",
            ),
            "application/json",
        ),
    ],
    ids=["empty objects", "empty arrays", "zeros", "nested arrays", "csv lines", "a column", "a tensor"],
)
def test_a_body_of_many_small_values_is_refused_before_it_is_built(server, path, body, content_type):
    assert len(body) <= MAX_BODY
    responses = []
    growth = peak_growth(
        server, lambda: responses.append(server.post(path, data=body, headers={"Content-Type": content_type}))
    )
    assert responses[0].status_code == 413, responses[0].text[:500]
    error = error_of(responses[0].json())
    assert error["code"] == "payload_too_large" and "MAX_ROWS" in error["message"]
    assert error["details"]["limit_rows"] == 100_000
    assert growth < PEAK_GROWTH_LIMIT_MIB


def test_the_largest_valid_request_still_fits(server, trained):
    """100,000 rows, the MAX_ROWS limit, as records: answered, within the same memory bound."""
    pool = trained.test_x.to_dict(orient="records")
    rows = [pool[i % len(pool)] for i in range(100_000)]
    body = orjson.dumps(rows)
    assert len(body) <= MAX_BODY
    responses = []
    growth = peak_growth(
        server, lambda: responses.append(server.post(data=body, headers={"Content-Type": "application/json"}))
    )
    assert responses[0].status_code == 200, responses[0].text[:500]
    assert len(responses[0].json()) == 100_000
    assert growth < PEAK_GROWTH_LIMIT_MIB


def test_a_stalled_upload_is_cut_and_the_instance_keeps_answering(start_server):
    """A client that declares a body and stops sending holds the one worker thread (THREADS=1)
    until BODY_TIMEOUT_SECONDS: then it gets a 408 and the queued /health is answered."""
    server = start_server({"MODEL_URI": EXAMPLE, "BODY_TIMEOUT_SECONDS": "1"})
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as stalled:
        stalled.sendall(
            b"POST /predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000\r\n\r\n["
        )
        time.sleep(0.2)  # the worker is reading the stalled body now
        started = time.monotonic()
        assert requests.get(server.url + "/health", timeout=15).status_code == 200
        assert time.monotonic() - started < 5
        stalled.settimeout(10)
        answer = b"".join(iter(lambda: stalled.recv(65536), b""))
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer[:300]
    error = error_of(orjson.loads(body))
    assert error["code"] == "request_timeout"
    assert "did not arrive within 1 second (BODY_TIMEOUT_SECONDS)" in error["message"]


def test_a_body_sent_a_byte_at_a_time_is_cut_at_its_deadline_too():
    """The deadline is for the whole body, not for each read: dripping bytes does not extend it."""
    reader, writer = socket.socketpair()
    with reader, writer, deadlines.bounded(reader, 0.5) as watch:
        started = time.monotonic()
        while True:
            try:
                writer.send(b"x")
            except BrokenPipeError:  # a Unix socket pair tells the writer at once
                break
            if not reader.recv(1):
                break
            time.sleep(0.02)
        took = time.monotonic() - started
    assert watch.expired and 0.5 <= took < 0.5 + 2 * TICK_SECONDS + 0.5


def zip_bomb(path: Path, inflated_bytes: int) -> Path:
    """A skops file whose schema.json (valid JSON, then spaces) deflates to a few hundred KB."""
    import zipfile

    source = zipfile.ZipFile(Path(EXAMPLE) / "model.skops")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target:
        for item in source.namelist():
            content = source.read(item)
            if item == "schema.json":
                content += b" " * (inflated_bytes - len(content))
            target.writestr(item, content)
    return path


def test_a_skops_file_that_inflates_past_its_bound_is_refused_before_it_is_unzipped(start_server, tmp_path):
    """A 200 MB schema.json in a small file added 417 MB at load."""
    bomb = zip_bomb(tmp_path / "model.skops", 200 * 1024 * 1024)
    assert bomb.stat().st_size < 1024 * 1024
    server = start_server({"MODEL_URI": str(bomb)})
    answers = []
    growth = peak_growth(server, lambda: answers.append(server.post(json=[{}])))
    assert answers[0].status_code == 503
    error = error_of(answers[0].json())
    assert error["code"] == "model_unsupported" and "would unzip to" in error["message"]
    assert growth < 64, f"+{growth} MiB"
