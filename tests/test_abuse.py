"""What a red-team sweep found, kept fixed: against a real functions-framework process with the
deployed limits (32 MiB bodies, 100,000 rows), one request must not take the instance's memory."""

from pathlib import Path

import orjson
import pytest

from support import EXAMPLE

MAX_BODY = 32 * 1024 * 1024
# what a request may add to the worker's peak memory (the deployed instance has 1 GiB; the
# largest valid request, 100,000 rows of 11 features, adds about 170 MiB)
PEAK_GROWTH_LIMIT_MIB = 256


def worker_pid(server) -> int:
    """gunicorn's one worker: the child of the functions-framework process."""
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def status_mib(pid: int, field: str) -> int:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return int(next(line for line in status if line.startswith(field + ":")).split()[1]) // 1024


def peak_growth(server, send) -> int:
    """How far `send()` raised the worker's resident memory above where it stood (MiB): its
    peak (VmHWM) is reset to the current size first (clear_refs), so each request is measured
    on its own."""
    pid = worker_pid(server)
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    before = status_mib(pid, "VmRSS")
    send()
    assert worker_pid(server) == pid  # the same worker answered: it did not die
    return status_mib(pid, "VmHWM") - before


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
    error = responses[0].json()["error"]
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
