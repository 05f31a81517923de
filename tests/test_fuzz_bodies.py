"""Generated JSON bodies in every envelope, and known hard inputs, against a real
functions-framework process: never a 5xx, always JSON in the documented shape."""

import gzip

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from fuzzing import (
    FUZZ,
    TOTAL,
    assert_documented,
    assert_loaded_once,
    encode,
    envelopes,
    is_bigquery,
    rows,
)


@settings(FUZZ, max_examples=TOTAL * 4 // 10)
@given(
    body=envelopes(rows), path=st.sampled_from(["/predict", "/", "/invocations", "/v2/models/model/infer"])
)
def test_generated_json_bodies(fuzz_server, fuzz_session, body, path):
    response = fuzz_session.post(
        fuzz_server.url + path, data=encode(body), headers={"Content-Type": "application/json"}
    )
    assert_documented(response, is_bigquery(encode(body)))


@pytest.mark.parametrize(
    "body, content_type, encoding, status",
    [
        (bytes(range(256)) * 4, "application/json", None, 400),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", None, 413),  # more brackets than 500 rows need
        (b'[{"alcohol": 1e309}]', "application/json", None, 400),
        (
            b'{"instances": [], "instances": []}',
            "application/json",
            None,
            200,
        ),  # duplicate keys: the last wins
        (b"[]", "application/json", None, 200),
        ("[]".encode("utf-16"), "application/json; charset=utf-16", None, 415),
        (gzip.compress(b"[]", mtime=0), "application/json", "gzip", 415),
        (b"\x00" * 100, "text/csv", None, 400),  # a header of one unknown name, even with no rows
        (b"a" * 200_000, "text/csv", None, 400),
        (b'{"calls": [["' + b"[" * 5000 + b'"]]}', "application/json", None, 400),
    ],
)
def test_known_hard_inputs(fuzz_server, body, content_type, encoding, status):
    headers = {"Content-Type": content_type, **({"Content-Encoding": encoding} if encoding else {})}
    response = requests.post(fuzz_server.url + "/predict", data=body, headers=headers, timeout=30)
    assert response.status_code == status, response.text[:300]
    assert_documented(response, is_bigquery(body))
    if body == b"[]":
        assert response.json() == []


def test_the_worker_never_restarted(fuzz_server):
    assert_loaded_once(fuzz_server)
