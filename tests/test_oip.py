"""Open Inference Protocol v2, spoken by a real client (tritonclient) and checked by table."""

import json
import struct
from types import SimpleNamespace

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from predictor.errors import InvalidInput
from predictor.inputs.oip import rows_from_infer
from predictor.inputs.schema import features_for
from predictor.parts import Origin
from predictor.web.oip_replies import default_name
from support import error_of, in_process

NAMES = ["a", "b b"]
FEATURES = features_for(
    object(), {"inputs": [{"type": "double", "name": "a"}, {"type": "long", "name": "b b"}]}
)


def tensor(name, shape, data, datatype="FP64"):
    """A JSON tensor as OIP clients send it."""
    return {"name": name, "shape": shape, "datatype": datatype, "data": data}


@pytest.mark.parametrize(
    "inputs, rows",
    [
        ([tensor("x", [2, 2], [1, 2, 3, 4], "INT64")], [{"a": 1, "b b": 2}, {"a": 3, "b b": 4}]),
        ([tensor("x", [2, 2], [[1, 2], [3, 4]], "INT32")], [{"a": 1, "b b": 2}, {"a": 3, "b b": 4}]),
        (
            [tensor("b b", [2], [2, 4], "INT64"), tensor("a", [2, 1], [[1.0], [3.0]])],
            [{"b b": 2, "a": 1.0}, {"b b": 4, "a": 3.0}],
        ),
        ([tensor("x", [0, 2], [], "INT64")], []),
    ],
)
def test_both_tensor_layouts_become_rows(inputs, rows):
    assert rows_from_infer({"inputs": inputs}, FEATURES) == (rows, {})


@pytest.mark.parametrize(
    "body, words",
    [
        ([], "expected an inference request object"),
        ({"inputs": []}, "'inputs' must be a non-empty list"),
        ({"inputs": [[1.0, 2.0]]}, "inputs[0] must be a tensor object, got array"),
        (
            {"inputs": [tensor("x", [2, 2], [1, 2, 3])]},
            "input 'x': shape [2, 2] holds 4 values but 'data' has 3",
        ),
        ({"inputs": [tensor("x", [2, 2], [[1, 2, 3], [4]])]}, "nested 'data' does not match shape [2, 2]"),
        ({"inputs": [tensor("x", [2], [[1], [2]])]}, "nests deeper than shape [2]"),
        (
            {"inputs": [tensor("x", [1, 3], [1, 2, 3])]},
            "input 'x' has shape [1, 3]; the model takes 2 features per row",
        ),
        (
            {"inputs": [tensor("x", [2, 2], [1, 2, 3, 4], "FP16")]},
            "datatype 'FP16'; supported: BOOL, BYTES, FP32, FP64, INT32, INT64",
        ),
        (
            {"inputs": [tensor("x", [2, 2], [1, 2, 3, 4], "BYTES")]},
            "input 'x' has datatype BYTES; the model takes FP64 there",
        ),
        (
            {"inputs": [tensor("x", [1, 2], [1.0, 2.0])]},
            "input 'x' has datatype FP64; the model takes INT64 there",
        ),
        (
            {"inputs": [tensor("a", [1], [1.0]), tensor("b b", [1], [1.5], "FP64")]},
            "input 'b b' has datatype FP64; the model takes INT64",
        ),
        (
            {"inputs": [tensor("a", [2], [1.0, 2]), tensor("b b", [1], [1], "INT64")]},
            "different numbers of rows: [1, 2]",
        ),
        (
            {"inputs": [tensor("c", [1], [1.0])]},
            "unknown input(s) 'c'; the model takes a, b b (one tensor each) or one [N, 2] tensor",
        ),
        (
            {"inputs": [tensor("a", [1, 2], [1.0, 2]), tensor("b b", [1], [1], "INT64")]},
            "input 'a' has shape [1, 2]; a feature column is [N] or [N, 1]",
        ),
        ({"inputs": [{"shape": [1], "datatype": "FP64", "data": [1]}]}, "inputs[0] needs a string 'name'"),
        ({"inputs": [tensor("a", [-1], [1.0])]}, "needs 'shape', a list of non-negative integers"),
        ({"inputs": [tensor("a", [1], 5)]}, "input 'a' needs 'data', a list"),
        ({"inputs": [tensor("a", [1], [1.0])], "parameters": [1]}, "'parameters' must be an object"),
    ],
)
def test_malformed_infer_requests(body, words):
    with pytest.raises(InvalidInput) as caught:
        rows_from_infer(body, FEATURES)
    assert words in caught.value.message


def test_missing_feature_tensor_is_caught_by_the_schema():
    rows, _ = rows_from_infer({"inputs": [tensor("a", [1], [1.0])]}, FEATURES)
    with pytest.raises(InvalidInput, match="'b b': missing required feature"):
        FEATURES.validate(rows)


@pytest.mark.parametrize(
    "uri, origin, name",
    [
        ("gs://b/wine.skops", None, "wine"),
        ("gs://b/exp/model", None, "model"),
        ("m.pkl", None, "m"),
        ("models:/wine@champion", Origin("mlflow-artifacts:/0/m", name="wine", version="2"), "wine"),
        ("models:/m-" + "0" * 32, Origin("gs://b/0/models/m"), "model"),
    ],
)
def test_default_model_name(uri, origin, name):
    assert default_name(SimpleNamespace(uri=uri, origin=origin)) == name


# over HTTP, with tritonclient


@pytest.fixture(scope="module")
def server(start_server, artifacts):
    return start_server({"MODEL_URI": str(artifacts["mlflow skops"]), "MODEL_NAME": "wine"})


@pytest.fixture(scope="module")
def client(server):
    import tritonclient.http as triton

    return triton.InferenceServerClient(url=server.url.removeprefix("http://"))


def test_health_and_metadata_through_tritonclient(client, trained):
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("wine")
    meta = client.get_model_metadata("wine")
    assert [i["name"] for i in meta["inputs"]] == list(trained.train_x.columns)
    assert {i["datatype"] for i in meta["inputs"]} == {"FP64"}
    assert meta["outputs"] == [{"name": "predict", "datatype": "FP64", "shape": [-1]}]


def test_infer_one_matrix_through_tritonclient(client, trained):
    import tritonclient.http as triton

    X = trained.test_x.head(25)
    matrix = triton.InferInput("input-0", list(X.shape), "FP64")
    matrix.set_data_from_numpy(X.to_numpy(dtype=np.float64), binary_data=False)
    result = client.infer(
        "wine",
        [matrix],
        request_id="req-7",
        outputs=[triton.InferRequestedOutput("predict", binary_data=False)],
    )
    assert result.get_response()["id"] == "req-7"
    assert result.as_numpy("predict").tolist() == trained.model.predict(X).tolist()


def test_infer_one_tensor_per_column_through_tritonclient(client, trained):
    import tritonclient.http as triton

    X = trained.test_x.head(10)
    inputs = []
    for name in reversed(X.columns):  # any order: matched by name
        column = triton.InferInput(name, [len(X)], "FP64")
        column.set_data_from_numpy(X[name].to_numpy(dtype=np.float64), binary_data=False)
        inputs.append(column)
    result = client.infer("wine", inputs, outputs=[triton.InferRequestedOutput("predict", binary_data=False)])
    assert result.as_numpy("predict").tolist() == trained.model.predict(X).tolist()


def test_another_model_name_is_404(server):
    response = server.post("/v2/models/other/infer", json={"inputs": [tensor("x", [1, 11], [1.0] * 11)]})
    assert response.status_code == 404
    assert error_of(response.json())["details"] == {"model": "wine"}
    assert server.get("/v2/models/other").status_code == 404


def test_shape_data_mismatch_is_400(server):
    response = server.post("/v2/models/wine/infer", json={"inputs": [tensor("x", [2, 11], [1.0] * 11)]})
    assert response.status_code == 400
    assert "shape [2, 11] holds 22 values but 'data' has 11" in error_of(response.json())["message"]


def test_invalid_values_are_400_naming_row_and_feature(server):
    data = [6.2] * 10 + ["x"]
    response = server.post("/v2/models/wine/infer", json={"inputs": [tensor("x", [1, 11], data)]})
    assert (
        response.status_code == 400
        and "'alcohol': expected a number, got string" in error_of(response.json())["message"]
    )


# Triton's binary tensor data extension: raw tensors in after the JSON header, outputs back raw
# when asked; the same answers as JSON gives; a body whose header, sizes or datatypes do not add
# up is a 400 naming the input

HEADER = "Inference-Header-Content-Length"


def matrix_input(X, binary: bool):
    given = triton.InferInput("input-0", list(X.shape), "FP64")
    given.set_data_from_numpy(X.to_numpy(dtype=np.float64), binary_data=binary)
    return given


def json_answer(server, X) -> list[float]:
    """What the same rows answer as a JSON tensor: the reference the binary forms must give."""
    tensor = {"name": "x", "shape": list(X.shape), "datatype": "FP64", "data": X.to_numpy().tolist()}
    return server.post("/v2/models/wine/infer", json={"inputs": [tensor]}).json()["outputs"][0]["data"]


@pytest.mark.parametrize("rows", [1, 100, 1000])
def test_binary_in_binary_out(client, server, trained, rows):
    """tritonclient names no output: it asks for all of them in binary (binary_data_output)."""
    X = trained.test_x.head(rows)
    result = client.infer("wine", [matrix_input(X, binary=True)])
    output = result.get_output("predict")
    assert "data" not in output and output["parameters"]["binary_data_size"] == 8 * rows
    predicted = result.as_numpy("predict")
    assert predicted.dtype == np.float64 and predicted.tolist() == json_answer(server, X)
    assert np.allclose(predicted, trained.model.predict(X), rtol=1e-12, atol=0)


def test_binary_in_json_out_and_json_in_binary_out(client, server, trained):
    X = trained.test_x.head(30)
    as_json = triton.InferRequestedOutput("predict", binary_data=False)
    as_binary = triton.InferRequestedOutput("predict", binary_data=True)
    first = client.infer("wine", [matrix_input(X, binary=True)], outputs=[as_json])
    second = client.infer("wine", [matrix_input(X, binary=False)], outputs=[as_binary])
    assert "data" in first.get_output("predict") and "data" not in second.get_output("predict")
    assert first.as_numpy("predict").tolist() == second.as_numpy("predict").tolist() == json_answer(server, X)


def test_one_binary_tensor_per_column(client, server, trained):
    X = trained.test_x.head(12)
    inputs = []
    for name in X.columns:
        column = triton.InferInput(name, [len(X)], "FP64")
        column.set_data_from_numpy(X[name].to_numpy(dtype=np.float64), binary_data=True)
        inputs.append(column)
    result = client.infer("wine", inputs)
    assert result.as_numpy("predict").tolist() == json_answer(server, X)


def test_a_nan_in_binary_data_is_a_missing_value(client, trained):
    X = trained.test_x.head(3).copy()
    X.iloc[1, 4] = np.nan
    with pytest.raises(InferenceServerException, match="cannot take missing values") as caught:
        client.infer("wine", [matrix_input(X, binary=True)])
    assert X.columns[4] in str(caught.value)


def raw_request(header: dict, *tensors: bytes, declared: int | None = None):
    text = json.dumps(header).encode()
    length = len(text) if declared is None else declared
    return text + b"".join(tensors), {HEADER: str(length), "Content-Type": "application/octet-stream"}


def fp64(rows: int, width: int = 11, binary_size: int | None = None, **extra) -> dict:
    size = rows * width * 8 if binary_size is None else binary_size
    return {
        "name": "x",
        "shape": [rows, width],
        "datatype": "FP64",
        "parameters": {"binary_data_size": size},
        **extra,
    }


ONE_ROW = np.arange(11, dtype="<f8").tobytes()


@pytest.mark.parametrize(
    "header, tensors, declared, words",
    [
        (
            {"inputs": [fp64(1)]},
            [ONE_ROW],
            10**6,
            f"{HEADER} is '1000000'; it must be the JSON header's length",
        ),
        ({"inputs": [fp64(1)]}, [ONE_ROW], 0, "it must be the JSON header's length in bytes"),
        (
            {"inputs": [fp64(1, binary_size=80)]},
            [ONE_ROW],
            None,
            "shape [1, 11] of FP64 is 88 bytes, but binary_data_size is 80",
        ),
        (
            {"inputs": [fp64(2)]},
            [ONE_ROW],
            None,
            "binary_data_size is 176 but 88 bytes of binary data remain",
        ),
        (
            {"inputs": [fp64(1)]},
            [ONE_ROW, b"\0" * 8],
            None,
            "the body holds 8 bytes after the inputs' binary data",
        ),
        ({"inputs": [fp64(1, data=[0.0] * 11)]}, [ONE_ROW], None, "has both 'data' and binary_data_size"),
        ({"inputs": [fp64(1, binary_size=-8)]}, [ONE_ROW], None, "binary_data_size must be a byte count"),
        (
            {"inputs": [{**fp64(1), "datatype": "FP16"}]},
            [ONE_ROW],
            None,
            "has datatype 'FP16'; binary data is FP64, FP32",
        ),
        (
            {"inputs": [{**fp64(1, binary_size=11), "datatype": "INT8"}]},
            [bytes(11)],
            None,
            "has datatype 'INT8'; supported: BOOL, BYTES, FP32, FP64",
        ),
        (
            {"inputs": [{**fp64(1, binary_size=12), "datatype": "BYTES", "shape": [1, 11]}]},
            [struct.pack("<I", 8) + b"12345678"],
            None,
            "does not hold 11 length-prefixed BYTES elements exactly",
        ),
        (  # a length prefix cut short
            {"inputs": [{**fp64(1, binary_size=14), "datatype": "BYTES", "shape": [1, 11]}]},
            [struct.pack("<I", 8) + b"12345678" + b"\1\0"],
            None,
            "does not hold 11 length-prefixed BYTES elements exactly",
        ),
        (  # an element longer than what is left
            {"inputs": [{**fp64(1, binary_size=8), "datatype": "BYTES", "shape": [1, 11]}]},
            [struct.pack("<I", 9) + b"1234"],
            None,
            "does not hold 11 length-prefixed BYTES elements exactly",
        ),
        (
            {"inputs": [{**fp64(1, binary_size=6), "datatype": "BYTES", "shape": [1, 11]}]},
            [struct.pack("<I", 2) + b"\xff\xfe"],
            None,
            "input 'x': element 0 is not UTF-8 text",
        ),
        (
            {"inputs": [{**fp64(1), "shape": "1x11"}]},
            [ONE_ROW],
            None,
            "needs 'shape', a list of non-negative",
        ),
        ({"inputs": {"x": fp64(1)}}, [ONE_ROW], None, "'inputs' must be a non-empty list of tensors"),
    ],
)
def test_a_body_that_does_not_add_up_is_a_400_naming_the_input(artifacts, header, tensors, declared, words):
    app = in_process({"MODEL_URI": str(artifacts["mlflow skops"]), "MODEL_NAME": "wine"})
    body, headers = raw_request(header, *tensors, declared=declared)
    answer = app.post("/v2/models/wine/infer", data=body, headers=headers)
    assert answer.status_code == 400, answer.text
    assert words in error_of(answer.json())["message"]


def test_string_labels_come_back_as_binary_bytes_elements(wine_data, tmp_path):
    """A classifier's string labels in binary: BYTES, each a 4-byte length then its UTF-8."""
    import skops.io
    from sklearn.linear_model import LogisticRegression

    X, quality = wine_data.drop(columns=["quality"]), wine_data["quality"]
    grades = np.array(["poor", "fair", "gööd"])[np.digitize(quality, [5.5, 6.5])]
    model = LogisticRegression(max_iter=300).fit(X.to_numpy(), grades)
    skops.io.dump(model, tmp_path / "grades.skops")
    app = in_process({"MODEL_URI": str(tmp_path / "grades.skops"), "MODEL_NAME": "grades"})
    rows = X.head(7).to_numpy(dtype="<f8")
    header = {"inputs": [fp64(7)], "parameters": {"binary_data_output": True}}
    body, headers = raw_request(header, rows.tobytes())
    answer = app.post("/v2/models/grades/infer", data=body, headers=headers)
    assert answer.status_code == 200, answer.text
    raw = answer.content
    size = int(answer.headers[HEADER])
    (output,) = json.loads(raw[:size])["outputs"]
    assert output["datatype"] == "BYTES" and output["parameters"]["binary_data_size"] == len(raw) - size
    labels, offset = [], size
    while offset < len(raw):
        (length,) = struct.unpack_from("<I", raw, offset)
        labels.append(raw[offset + 4 : offset + 4 + length].decode("utf-8"))
        offset += 4 + length
    assert labels == model.predict(rows).tolist()


def test_octet_stream_without_the_header_is_415(artifacts):
    app = in_process({"MODEL_URI": str(artifacts["mlflow skops"]), "MODEL_NAME": "wine"})
    answer = app.post(
        "/v2/models/wine/infer", data=ONE_ROW, headers={"Content-Type": "application/octet-stream"}
    )
    assert answer.status_code == 415


# tritonclient writes `"binary_data": false` in every JSON request: the words outside the
# tensors' data do not send the data to the slower proof, and a boolean inside it is still found

TRITON_OUTPUTS = [{"name": "predict", "parameters": {"binary_data": False}}]


@pytest.fixture(scope="module")
def wine_app():
    from support import EXAMPLE

    return in_process({"MODEL_URI": EXAMPLE, "MODEL_NAME": "wine"})


def flat_request(X, outputs=None, data=None, name="input-0"):
    body = {"inputs": [tensor(name, list(X.shape), data if data is not None else X.ravel().tolist())]}
    return {**body, "outputs": outputs} if outputs is not None else body


@pytest.mark.parametrize(
    "outputs",
    [None, TRITON_OUTPUTS, [{"name": "predict", "parameters": {"binary_data": False, "note": "true"}}]],
    ids=["no outputs", "tritonclient's", "a string holding the word"],
)
def test_words_outside_the_data_leave_the_numbers_on_the_fast_path(wine_app, trained, monkeypatch, outputs):
    from predictor.inputs import fastpath

    X = trained.train_x.head(40).to_numpy(dtype=np.float64)
    proofs = []
    typed = fastpath.NumericRows._finite
    monkeypatch.setattr(fastpath.NumericRows, "_finite", lambda *a, **k: proofs.append(1) or typed(*a, **k))
    answer = wine_app.post("/v2/models/wine/infer", data=json.dumps(flat_request(X, outputs)))
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"][0]["data"] == trained.model.predict(trained.train_x.head(40)).tolist()
    assert proofs == []  # numpy's inference proved the numbers: no value-by-value check


@pytest.mark.parametrize(
    "text",
    [
        None,  # tritonclient's `false` outside, a `true` inside the data
        '"name": "tr\\u0075e"',  # an escape spells a word the text does not show
    ],
    ids=["a boolean in the data", "an escaped word outside it"],
)
def test_a_boolean_in_the_data_is_still_refused(wine_app, trained, text):
    X = trained.train_x.head(3).to_numpy(dtype=np.float64)
    data = X.ravel().tolist()
    data[13] = True
    body = json.dumps(flat_request(X, TRITON_OUTPUTS, data))
    if text:
        body = body.replace('"name": "input-0"', text)
    answer = wine_app.post("/v2/models/wine/infer", data=body)
    assert answer.status_code == 400, answer.text
    assert "got boolean" in error_of(answer.json())["message"]
