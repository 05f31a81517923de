"""A model that knows no feature names (fitted on an array: a tensor signature, or none) takes
every body shape MLflow's scoring server takes for it — `dataframe_split` with no columns or
with positions as columns (numbers or strings, as pandas gives them for a frame of an array),
records keyed by position, CSV with a numbered header, arrays — and answers what MLflow's own
scoring code answers for the same bytes; anything else says which shapes this model takes."""

import json
from pathlib import Path

import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
from mlflow.models import infer_signature
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression

from support import QUICK, error_of, in_process, mlflow_invocations

RNG = np.random.default_rng(11)
X = RNG.normal(0, 3, (60, 4))
Y = X @ [2.0, -1.0, 0.5, 4.0] + RNG.normal(0, 0.1, 60)
ROWS = X[:7]

MODELS = {
    # a tensor signature, cloudpickle
    "linear, tensor signature": lambda: (
        LinearRegression().fit(X, Y),
        {"serialization_format": "cloudpickle", "signature": infer_signature(X, Y)},
    ),
    # no signature at all: the width comes from n_features_in_ (MLflow 3's default format)
    "forest, no signature": lambda: (
        RandomForestRegressor(8, max_depth=5, random_state=0).fit(X, Y),
        {"serialization_format": "skops", "skops_trusted_types": ["sklearn.tree._tree.Tree"]},
    ),
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def served(request, tmp_path_factory):
    model, options = MODELS[request.param]()
    folder = tmp_path_factory.mktemp("positional") / "model"
    mlflow.sklearn.save_model(model, folder, **options, **QUICK)
    return model, str(folder), in_process({"MODEL_URI": str(folder)})


def frame_split(rows) -> dict:
    split = pd.DataFrame(rows).to_dict(orient="split")  # integer column names
    split.pop("index")
    return split


BODIES = {
    "split, no columns": lambda rows: {"dataframe_split": {"data": rows.tolist()}},
    "split, integer columns (pandas)": lambda rows: {"dataframe_split": frame_split(rows)},
    "split, string positions": lambda rows: {
        "dataframe_split": {"columns": [str(i) for i in range(4)], "data": rows.tolist()}
    },
    "records keyed by position (pandas)": lambda rows: {
        "dataframe_records": pd.DataFrame(rows).to_dict(orient="records")
    },
    "instances, arrays": lambda rows: {"instances": rows.tolist()},
    "inputs, arrays": lambda rows: {"inputs": rows.tolist()},
}


@pytest.mark.parametrize("shape", sorted(BODIES))
def test_every_mlflow_body_shape_answers_as_mlflow(served, shape):
    model, folder, app = served
    text = json.dumps(BODIES[shape](ROWS))
    status, theirs = mlflow_invocations(folder, text, "application/json")
    ours = app.post("/invocations", data=text.encode(), headers={"Content-Type": "application/json"})
    assert status == ours.status_code == 200, (theirs, ours.text)
    same_as_mlflow(ours.json()["predictions"], theirs["predictions"])
    assert ours.json()["predictions"] == model.predict(ROWS).tolist()  # in process, to the bit


def same_as_mlflow(ours, theirs):
    """MLflow's own answers differ in the last bit from one body shape to another for a linear
    model (a frame's columns or an array's rows, summed in another order): within rounding."""
    assert np.allclose(ours, theirs, rtol=1e-13, atol=0)


def test_columns_named_by_position_are_put_in_the_models_order(served):
    """MLflow hands such a frame to the model as it comes (its columns in the order sent); the
    positions say which value is which, so here they are put in order."""
    model, _, app = served
    body = {"dataframe_split": {"columns": [2, 0, 3, 1], "data": ROWS[:, [2, 0, 3, 1]].tolist()}}
    assert app.post("/invocations", json=body).json()["predictions"] == model.predict(ROWS).tolist()


def test_csv_with_a_numbered_header_answers_as_mlflow(served):
    model, folder, app = served
    text = pd.DataFrame(ROWS).to_csv(index=False)
    status, theirs = mlflow_invocations(folder, text, "text/csv")
    ours = app.post("/invocations", data=text.encode(), headers={"Content-Type": "text/csv"})
    assert ours.status_code == 200 and ours.json()["predictions"] == model.predict(ROWS).tolist()
    if "tensor" in Path(folder, "MLmodel").read_text():  # MLflow cannot read CSV for a tensor signature
        assert status == 400 and "TensorSpec" in theirs["message"]
    else:
        assert status == 200
        same_as_mlflow(ours.json()["predictions"], theirs["predictions"])


def test_the_original_list_takes_arrays_and_positional_records(served):
    model, _, app = served
    want = model.predict(ROWS).tolist()
    assert app.post("/predict", json=ROWS.tolist()).json() == want
    keyed = [{str(i): v for i, v in enumerate(row)} for row in ROWS.tolist()]
    assert app.post("/predict", json=keyed).json() == want


@pytest.mark.parametrize(
    "body, words",
    [
        ([{"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}], "or an object keyed by position, '0' to '3'"),
        ([{"0": 1.0, "1": 2.0, "2": 3.0, "3": 4.0, "a": 5.0}], "this model knows no feature names"),
        ([{"0": 1.0, "1": 2.0, "2": 3.0}], "missing required feature"),
        ([[1.0, 2.0]], "expected a JSON array of 4 values, or an object keyed by position, '0' to '3'"),
        (
            {"dataframe_split": {"columns": ["a", "b", "c", "d"], "data": [[1, 2, 3, 4]]}},
            "'dataframe_split.columns' must be left out or be positions, 0 to 3: this model knows no",
        ),
        ({"dataframe_split": {"columns": [0, 1, 2, 9], "data": [[1, 2, 3, 4]]}}, "positions, 0 to 3"),
        ({"dataframe_split": {"columns": [0, 1.5, 2, 3], "data": [[1, 2, 3, 4]]}}, "positions, 0 to 3"),
    ],
)
def test_anything_else_says_which_shapes_this_model_takes(served, body, words):
    _, _, app = served
    answer = app.post("/invocations" if isinstance(body, dict) else "/predict", json=body)
    assert answer.status_code == 400, answer.text
    error = error_of(answer.json())
    assert words in error["message"] + json.dumps(error["details"])


def test_a_csv_header_of_names_is_refused_naming_the_numbers(served):
    _, _, app = served
    text = pd.DataFrame(ROWS, columns=list("abcd")).to_csv(index=False)
    answer = app.post("/invocations", data=text.encode(), headers={"Content-Type": "text/csv"})
    assert answer.status_code == 400
    assert "the CSV header must number its columns, '0' to '3'" in error_of(answer.json())["message"]
