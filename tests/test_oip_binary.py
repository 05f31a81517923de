"""Triton's binary tensor data extension, spoken by the real `tritonclient.http` client to the
real process: raw tensors in after the JSON header, outputs back raw when asked; the same
answers as JSON gives. A body whose header, sizes or datatypes do not add up is a 400 naming
the input."""

import json
import struct

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from support import error_of, in_process

HEADER = "Inference-Header-Content-Length"


@pytest.fixture(scope="module")
def server(start_server, artifacts):
    return start_server({"MODEL_URI": str(artifacts["mlflow skops"]), "MODEL_NAME": "wine"})


@pytest.fixture(scope="module")
def client(server):
    return triton.InferenceServerClient(url=server.url.removeprefix("http://"))


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
    ],
)
def test_a_body_that_does_not_add_up_is_a_400_naming_the_input(artifacts, header, tensors, declared, words):
    app = in_process({"MODEL_URI": str(artifacts["mlflow skops"]), "MODEL_NAME": "wine"})
    body, headers = raw_request(header, *tensors, declared=declared)
    answer = app.post("/v2/models/wine/infer", data=body, headers=headers)
    assert answer.status_code == 400, answer.text
    assert words in error_of(answer.json())["message"]


def test_octet_stream_without_the_header_is_415(artifacts):
    app = in_process({"MODEL_URI": str(artifacts["mlflow skops"]), "MODEL_NAME": "wine"})
    answer = app.post(
        "/v2/models/wine/infer", data=ONE_ROW, headers={"Content-Type": "application/octet-stream"}
    )
    assert answer.status_code == 415
