"""What a red-team sweep found, kept fixed: the in-process contract for bad input that costs
(time, memory, log size) or slipped through. A real process is in test_abuse.py."""

import json

import orjson
import pytest

from support import EXAMPLE, app_client, records
from support import error_of as error_body

FEATURES = [
    "fixed acidity", "volatile acidity", "citric acid", "residual sugar", "chlorides", "free sulfur dioxide",
    "total sulfur dioxide", "density", "pH", "sulphates", "alcohol",
]  # fmt: skip
JSON = {"Content-Type": "application/json"}
CSV = {"Content-Type": "text/csv"}


@pytest.fixture(scope="module")
def client():
    """The real functions-framework app, in-process, serving the example with an API key."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield app_client({"MODEL_URI": EXAMPLE, "API_KEYS": "the-key"}, monkeypatch)


def error_of(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/json"
    error = error_body(response.get_json())
    assert error["code"] == code
    return error


KEY = {"X-API-Key": "the-key"}


def test_many_invalid_rows_stop_being_checked_once_enough_are_listed(client):
    error = error_of(client.post("/predict", json=[{}] * 100_000, headers=KEY), 400, "invalid_input")
    details = error["details"]
    assert details["row_count"] == 100_000 and details["invalid_row_count"] == 256
    assert 0 < details["rows_listed"] <= 100  # as many as fit in the size bound
    assert details["rows_checked"] == 256  # one chunk: found more invalid rows than are listed
    assert error["message"].startswith(
        "256 of the first 256 of 100000 rows are invalid (checking stopped there)"
    )


@pytest.mark.parametrize("count", [1, 100, 200_000])
def test_unknown_fields_are_listed_up_to_a_bound(client, trained, count):
    row = records(trained.test_x.head(1))[0] | {f"extra field number {i}" * 5: 1 for i in range(count)}
    response = client.post("/predict", data=orjson.dumps([row]), headers={**JSON, **KEY})
    error = error_of(response, 400, "invalid_input")
    listed = error["details"]["rows"]["0"]
    assert len(listed) == min(count, 10) + (count > 10)  # the unknown ones, and a count when cut
    assert all(len(name) <= 64 for name in listed)
    if count > 10:
        assert listed["_row"] == [f"{count} unknown features; the first 10 are listed"]
    assert len(response.get_data()) < 32 * 1024


def test_the_error_body_stays_small_however_many_rows_are_wrong(client):
    row = {f"{'x' * 500}{i}": 1 for i in range(20)}
    response = client.post("/predict", data=orjson.dumps([row] * 300), headers={**JSON, **KEY})
    error = error_of(response, 400, "invalid_input")
    assert error["details"]["rows_listed"] < error["details"]["invalid_row_count"] == 256
    assert len(response.get_data()) < 48 * 1024


def nested_tensor(depth):
    data = 1.0
    for _ in range(depth):
        data = [data]
    return {"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [1] * depth, "data": data}]}


@pytest.mark.parametrize(
    "path, body, headers, words",
    [
        # a tensor nested a thousand deep: a 400, not the recursion limit's 500
        ("/v2/models/model/infer", nested_tensor(900), JSON, "a tensor here is [N], [N, 1] or [N, features]"),
        # a feature named twice is refused, not decided by the last value
        ("/invocations", "pH,alcohol,pH\n3.1,12,3.3\n", CSV, "CSV column 'pH' is given twice"),
        (
            "/invocations",
            {"dataframe_split": {"columns": [*FEATURES, "pH"], "data": [[1.0] * 12]}},
            JSON,
            "'dataframe_split.columns' column 'pH' is given twice",
        ),
        (
            "/v2/models/model/infer",
            {"inputs": [{"name": "pH", "datatype": "FP64", "shape": [1], "data": [3.0]}] * 2},
            JSON,
            "input 'pH' is given twice",
        ),
        # CSV numbers follow JSON's grammar, not Python's float()
        (
            "/invocations",
            ",".join(FEATURES) + "\n" + ",".join([" 6_2 "] * 11) + "\n",
            CSV,
            "expected a number",
        ),
        ("/invocations", ",".join(FEATURES) + "\n" + ",".join(["nan"] * 11) + "\n", CSV, "expected a number"),
        # a JSON body sent as CSV: its header names no feature, with no rows after it
        ("/invocations", json.dumps([{"pH": 3.3}]), CSV, "the CSV header has 1 unknown column(s)"),
    ],
    ids=["deep tensor", "csv twice", "split twice", "tensor twice", "csv 6_2", "csv nan", "json as csv"],
)
def test_bad_input_is_a_400_that_names_it(client, path, body, headers, words):
    data = body.encode() if isinstance(body, str) else json.dumps(body).encode()  # orjson nests 255 at most
    error = error_of(client.post(path, data=data, headers={**headers, **KEY}), 400, "invalid_input")
    assert words in error["message"]


def test_spaces_around_a_csv_number_are_fine(client, trained):
    rows = trained.test_x.head(3)
    text = (
        ",".join(FEATURES)
        + "\n"
        + "\n".join(",".join(f" {float(v)!r} " for v in row) for row in rows.to_numpy())
    )
    response = client.post("/invocations", data=text + "\n", headers={**CSV, **KEY})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert len(response.get_json()["predictions"]) == 3


@pytest.mark.parametrize("path", ["/health", "/health/", "/docs", "/docs/", "/v2/health/live/"])
def test_open_paths_are_open_with_or_without_a_trailing_slash(client, path):
    assert client.get(path).status_code == 200


def test_a_closed_path_stays_closed_with_a_trailing_slash(client):
    error_of(client.get("/ready/"), 401, "unauthorized")


def test_log_lines_are_bounded_and_credentials_redacted(client, capsys):
    capsys.readouterr()
    query = "api_key=hunter2&access_token=tok3n&x=" + "y" * 1_000_000 + "&later_key=never-logged"
    client.get(f"/health?{query}", headers={"User-Agent": "agent " * 100_000})
    lines = [line for line in capsys.readouterr().out.splitlines() if '"GET /health' in line]
    assert len(lines) == 1 and len(lines[0].encode()) < 64 * 1024
    entry = json.loads(lines[0])["httpRequest"]
    assert "api_key=REDACTED" in entry["requestUrl"] and "access_token=REDACTED" in entry["requestUrl"]
    assert "hunter2" not in lines[0] and "tok3n" not in lines[0] and "never-logged" not in lines[0]
    assert len(entry["requestUrl"]) < 4096 and len(entry["userAgent"]) < 1024


def test_model_errors_tell_callers_no_local_paths(make_client, tmp_path):
    missing = tmp_path / "secret-place" / "model.pkl"
    response = make_client({"MODEL_URI": str(missing)}).post("/predict", json=[])
    error = error_of(response, 503, "model_not_found")
    assert "secret-place" not in response.get_data(as_text=True) and "MODEL_URI" in error["message"]


@pytest.mark.parametrize("content", ["- just\n- a list\n", "flavors: [sklearn]\n", "just text\n"])
def test_an_mlmodel_that_is_not_a_mapping_is_refused_with_a_reason(make_client, tmp_path, content):
    (tmp_path / "MLmodel").write_text(content)
    response = make_client({"MODEL_URI": str(tmp_path)}).post("/predict", json=[])
    error = error_of(response, 503, "model_unsupported")
    assert "must be a" in error["message"] and "AttributeError" not in error["message"]


DEEP = "<an array nested 400 deep>"  # deeper than orjson writes (254), within what it reads


def body_bytes(body) -> bytes:
    return orjson.dumps(body).replace(orjson.dumps(DEEP), b"[" * 400 + b"]" * 400)


TENSOR = {"name": "input-0", "shape": [1, 11], "datatype": "FP64", "data": [[7.0] * 11]}


@pytest.mark.parametrize(
    "body, words",
    [
        ({"inputs": [{**TENSOR, "datatype": ["FP64"]}]}, "has datatype an array; supported: BOOL"),
        ({"inputs": [{**TENSOR, "datatype": {"FP64": 1}}]}, "has datatype an object; supported"),
        ({"inputs": [{**TENSOR, "datatype": "x" * 1_000_000}]}, "has datatype 'xxxxxxxx"),
        ({"inputs": [{**TENSOR, "name": "n" * 1_000_000, "datatype": "FP16"}]}, "input 'nnnnnn"),
        ({"inputs": [{**TENSOR, "name": DEEP}]}, "inputs[0] needs a string 'name', got array"),
        ({"inputs": [{**TENSOR, "shape": [1] * 100_000}]}, "has 100000 dimensions"),
        ({"id": DEEP, "inputs": [TENSOR]}, "'id' must be a string, got array"),
        ({"id": 7, "inputs": [TENSOR]}, "'id' must be a string, got number"),
        (
            {"inputs": [TENSOR], "parameters": {"output": DEEP}},
            "output must be one of label, proba, not an array",
        ),
        ({"inputs": [TENSOR], "parameters": {"output": "p" * 1_000_000}}, "not 'pppppp"),
    ],
)
def test_oip_fields_of_the_wrong_type_or_size_are_a_bounded_400(client, body, words):
    """A set membership test, an echo of a nested id, a repr in a message: each was a 500, or
    echoed a megabyte."""
    response = client.post("/v2/models/model/infer", data=body_bytes(body), headers={**JSON, **KEY})
    error = error_of(response, 400, "invalid_input")
    assert words in error["message"]
    assert len(response.get_data()) < 4 * 1024


@pytest.mark.parametrize("output", ["o" * 1_000_000, "[" * 500])
def test_an_output_option_is_not_echoed_whole(client, trained, output):
    body = orjson.dumps(records(trained.test_x.head(1)))
    response = client.post("/predict", query_string={"output": output}, data=body, headers={**JSON, **KEY})
    error = error_of(response, 400, "invalid_input")
    assert "output must be one of label, proba" in error["message"]
    assert len(response.get_data()) < 4 * 1024
