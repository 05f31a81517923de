"""Generated methods, paths, headers and bodies, and generated CSV tables, against a real
functions-framework process: never a 5xx, always JSON in the documented shape."""

import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from fuzzing import (
    FEATURES,
    FUZZ,
    METHODS,
    PATHS,
    TOTAL,
    assert_documented,
    assert_loaded_once,
    encode,
    envelopes,
    is_bigquery,
    rows,
)


@settings(FUZZ, max_examples=TOTAL * 3 // 10)
@given(
    method=st.sampled_from(METHODS),
    path=st.one_of(
        st.sampled_from(PATHS),
        st.from_regex(r"/[!-~]{0,30}", fullmatch=True).filter(lambda p: "?" not in p and "#" not in p),
    ),
    # header values as HTTP allows them: malformed ones never reach the function (gunicorn and
    # Google's front end answer those themselves)
    content_type=st.one_of(
        st.none(),
        st.sampled_from(
            [
                "application/json",
                "text/csv",
                "text/plain",
                "application/json; charset=latin-1",
                "application/problem+json",
                "multipart/form-data",
            ]
        ),
        st.from_regex(r"[!-~]([ !-~]{0,28}[!-~])?", fullmatch=True),
    ),
    encoding=st.sampled_from([None, None, None, "gzip", "br", "identity"]),
    body=st.one_of(
        st.binary(max_size=300), envelopes(rows).map(encode), st.text(max_size=200).map(str.encode)
    ),
)
def test_generated_requests(fuzz_server, fuzz_session, method, path, content_type, encoding, body):
    headers = {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if encoding:
        headers["Content-Encoding"] = encoding
    try:
        response = fuzz_session.request(
            method, fuzz_server.url + path, data=body, headers=headers, timeout=30
        )
    except requests.exceptions.InvalidHeader:
        return  # a header the client itself refuses to send
    assert_documented(response, is_bigquery(body))


@settings(FUZZ, max_examples=TOTAL * 3 // 10)
@given(
    table=st.lists(
        st.lists(
            st.one_of(st.floats(), st.text(max_size=8), st.none()).map(lambda v: "" if v is None else str(v)),
            min_size=0,
            max_size=13,
        ),
        max_size=6,
    ),
    header=st.lists(st.sampled_from(FEATURES + ["ph", "x"]), max_size=13),
)
def test_generated_csv(fuzz_server, fuzz_session, table, header):
    text = "\n".join(",".join(line) for line in [header, *table])
    response = fuzz_session.post(
        fuzz_server.url + "/invocations", data=text.encode(), headers={"Content-Type": "text/csv"}
    )
    assert_documented(response)


def test_the_worker_never_restarted(fuzz_server):
    assert_loaded_once(fuzz_server)
