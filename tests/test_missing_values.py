"""Missing values as MLflow passes them: `null`, MLflow's `NaN` token, an empty CSV cell and a SQL
NULL reach the model as NaN in number and string columns, required or not, in every body shape;
a model that takes them (trees, histogram boosting, imputing pipelines) answers as it does in
process, and one that does not gets a 400 naming the rows and features that are missing. Batch
files follow the same rules, row by row."""

import json
import math

import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.compose import make_column_transformer
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from predictor.inputs import nan_token
from support import QUICK, error_of, in_process
from test_batch import BUCKET, drop, event, outputs, start_scorer

COLOURS = np.array(["red", "white", "rose"])


def with_gaps(frame: pd.DataFrame, share: float, seed: int) -> pd.DataFrame:
    return frame.mask(np.random.default_rng(seed).random(frame.shape) < share)


@pytest.fixture(scope="module")
def gappy(trained):
    """The wine features with a tenth of the cells missing, and a string column with gaps."""
    train = with_gaps(trained.train_x, 0.1, 1)
    colour = pd.Series(COLOURS[np.arange(len(train)) % 3], index=train.index, dtype=object)
    return train.assign(colour=colour.mask(np.arange(len(train)) % 7 == 0))


def fit_kinds(gappy, target):
    numeric = [c for c in gappy.columns if c != "colour"]
    strings = make_pipeline(
        SimpleImputer(strategy="constant", fill_value="unknown"), OneHotEncoder(handle_unknown="ignore")
    )
    return {
        "histogram boosting": (
            HistGradientBoostingRegressor(max_iter=30).fit(gappy[numeric], target),
            "skops",
        ),
        "random forest": (
            RandomForestRegressor(10, max_depth=6, random_state=0).fit(gappy[numeric], target),
            "skops",
        ),
        "imputing pipeline": (
            make_pipeline(SimpleImputer(), Ridge()).fit(gappy[numeric], target),
            "cloudpickle",
        ),
        "pipeline with a string column": (
            make_pipeline(
                make_column_transformer((SimpleImputer(), numeric), (strings, ["colour"])), Ridge()
            ).fit(gappy, target),
            "cloudpickle",
        ),
    }


@pytest.fixture(scope="module")
def served(gappy, trained, wine_data, tmp_path_factory):
    """Each kind saved by MLflow in the format named (skops: what MLflow 3 asks you to trust)."""
    import skops.io

    kinds = {}
    for name, (model, fmt) in fit_kinds(gappy, wine_data.loc[gappy.index, "quality"]).items():
        folder = tmp_path_factory.mktemp(name.replace(" ", "-")) / "model"
        trusted = skops.io.get_untrusted_types(data=skops.io.dumps(model)) if fmt == "skops" else None
        columns = list(model.feature_names_in_)
        mlflow.sklearn.save_model(
            model,
            folder,
            serialization_format=fmt,
            skops_trusted_types=trusted,
            input_example=gappy[columns].head(3),
            **QUICK,
        )
        kinds[name] = (model, in_process({"MODEL_URI": str(folder), "MODEL_NAME": "m"}), columns)
    return kinds


@pytest.fixture(scope="module")
def sample(trained):
    rows = with_gaps(trained.test_x.head(12), 0.25, 2)
    colour = pd.Series(COLOURS[np.arange(12) % 3], index=rows.index, dtype=object)
    rows = rows.assign(colour=colour.mask(np.arange(12) % 4 == 1))
    assert rows.isna().any(axis=1).sum() >= 6  # most rows miss something
    return rows


def bodies(rows: pd.DataFrame, all_numbers: bool):
    """The same rows in each shape clients send, missing values as each client writes them."""
    split = rows.to_dict(orient="split")
    split.pop("index")
    shapes = {
        # pandas: null
        "records, null": ("/predict", "json", rows.to_json(orient="records")),
        # MLflow's own client: json.dumps, so NaN
        "dataframe_split, NaN": ("/invocations", "json", json.dumps({"dataframe_split": split})),
        "dataframe_records, NaN": (
            "/invocations",
            "json",
            json.dumps({"dataframe_records": rows.to_dict(orient="records")}),
        ),
        "inputs as columns, null": (
            "/invocations",
            "json",
            json.dumps({"inputs": {c: json.loads(rows[c].to_json(orient="values")) for c in rows}}),
        ),
        "csv, empty cells": ("/invocations", "csv", rows.to_csv(index=False)),
        "bigquery, SQL NULL": (
            "/",
            "json",
            json.dumps({"calls": json.loads(rows.to_json(orient="values"))}),
        ),
    }
    if all_numbers:
        tensor = {"name": "x", "shape": list(rows.shape), "datatype": "FP64"}
        flat = json.loads(rows.to_json(orient="values"))
        shapes["OIP tensor, nested, null"] = (
            "/v2/models/m/infer",
            "json",
            json.dumps({"inputs": [{**tensor, "data": flat}]}),
        )
        shapes["OIP tensor, flat, NaN"] = (
            "/v2/models/m/infer",
            "json",
            json.dumps({"inputs": [{**tensor, "data": rows.to_numpy().ravel().tolist()}]}),
        )
    return shapes


def answer(app, path, kind, text):
    content_type = "text/csv" if kind == "csv" else "application/json"
    reply = app.post(path, data=text.encode(), headers={"Content-Type": content_type})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    if path == "/v2/models/m/infer":
        return body["outputs"][0]["data"]
    return body.get("predictions", body.get("replies", body)) if isinstance(body, dict) else body


MODELS = ["histogram boosting", "random forest", "imputing pipeline", "pipeline with a string column"]


@pytest.mark.parametrize("kind", MODELS)
def test_a_model_that_takes_missing_values_answers_as_in_process(served, sample, kind):
    model, app, columns = served[kind]
    rows = sample[columns]
    want = model.predict(rows).tolist()
    for shape, (path, body_kind, text) in bodies(rows, "colour" not in columns).items():
        got = answer(app, path, body_kind, text)
        # trees answer to the bit; a linear step sums a matrix in its own order (last-bit drift)
        assert np.allclose(got, want, rtol=1e-12, atol=0), shape
        if "pipeline" not in kind:
            assert got == want, shape


@pytest.mark.parametrize("kind", ["histogram boosting", "pipeline with a string column"])
def test_a_row_with_missing_values_answers_alone_as_in_its_batch(served, sample, kind):
    """Alone, a row's gaps are NaN as in any batch (a string one too): the imputer fills them
    alike. Bit for bit behind a tree; a linear step's matrix product may round its last bit
    differently for one row than for twelve, in process as here."""
    _, app, columns = served[kind]
    together = answer(app, "/predict", "json", sample[columns].to_json(orient="records"))
    alone = [
        answer(app, "/predict", "json", sample[columns].iloc[[i]].to_json(orient="records"))[0]
        for i in range(12)
    ]
    assert np.allclose(alone, together, rtol=1e-12, atol=0)
    if kind == "histogram boosting":
        assert alone == together


@pytest.fixture(scope="module")
def wine_app(artifacts):
    """The wine ElasticNet: no imputer, so it takes no missing value."""
    return in_process({"MODEL_URI": str(artifacts["mlflow skops"]), "MODEL_NAME": "m"})


def test_a_model_that_takes_none_is_a_400_naming_rows_and_features(wine_app, sample, trained):
    rows = sample[list(trained.train_x.columns)]
    gaps = rows.isna().to_numpy()
    for shape, (path, body_kind, text) in bodies(rows, True).items():
        content_type = "text/csv" if body_kind == "csv" else "application/json"
        reply = wine_app.post(path, data=text.encode(), headers={"Content-Type": content_type})
        assert reply.status_code == 400, shape
        if "errorMessage" in reply.json():  # BigQuery's answer is its one errorMessage
            error = {"code": "missing_values", "message": reply.json()["errorMessage"]}
        else:
            error = error_of(reply.json())
        assert error["code"] == "missing_values" or error["message"].startswith("missing_values"), shape
        assert "cannot take missing values" in error["message"], shape
        if "details" in error:
            listed = error["details"]["rows"]
            assert error["details"]["rows_with_missing"] == int(gaps.any(axis=1).sum())
            for index, names in listed.items():
                assert names == [c for c, gap in zip(rows.columns, gaps[int(index)]) if gap]


def test_complete_rows_answer_as_before(wine_app, trained):
    rows = trained.test_x.head(5)
    got = wine_app.post("/predict", json=json.loads(rows.to_json(orient="records"))).json()
    assert got == trained.model.predict(rows).tolist()


def test_infinity_is_still_refused(wine_app, trained):
    row = trained.test_x.head(1).to_dict(orient="records")[0]
    text = json.dumps([{**row, "pH": math.inf}])  # Python writes Infinity
    reply = wine_app.post("/predict", data=text.encode(), headers={"Content-Type": "application/json"})
    assert reply.status_code == 400 and error_of(reply.json())["code"] == "invalid_json"
    assert "Infinity is not a value a model takes" in error_of(reply.json())["message"]


def test_batch_rows_with_missing_values_are_error_lines_for_a_model_that_takes_none(
    start_server, gcs, artifacts, sample, trained
):
    server = start_scorer(start_server, gcs, MODEL_URI=str(artifacts["mlflow skops"]))
    rows = sample[list(trained.train_x.columns)]
    generation = drop(gcs, "incoming/gaps.csv", rows.to_csv(index=False).encode())
    assert event(server.url, BUCKET, "incoming/gaps.csv", generation).status_code == 200
    predicted, failed, summary = outputs(gcs, "predictions/gaps.csv")
    complete = [i for i in range(len(rows)) if not rows.iloc[i].isna().any()]
    assert [p["row"] for p in predicted] == complete
    assert [f["row"] for f in failed] == [i for i in range(len(rows)) if i not in complete]
    first = next(i for i in range(len(rows)) if i not in complete)
    missing = [c for c in rows.columns if pd.isna(rows.iloc[first][c])]
    assert failed[0]["error"]["details"]["missing"] == missing
    assert failed[0]["error"]["code"] == "missing_values"
    assert "cannot take missing values" in failed[0]["error"]["message"]
    assert summary["failed"] == len(rows) - len(complete)


def test_batch_rows_with_missing_values_answer_for_a_model_that_takes_them(
    served, sample, start_server, gcs, tmp_path
):
    model, _, columns = served["histogram boosting"]
    folder = tmp_path / "model"
    import skops.io

    mlflow.sklearn.save_model(
        model, folder, skops_trusted_types=skops.io.get_untrusted_types(data=skops.io.dumps(model)), **QUICK
    )
    server = start_scorer(start_server, gcs, MODEL_URI=str(folder))
    rows = sample[columns]
    generation = drop(gcs, "incoming/boosted.jsonl", rows.to_json(orient="records", lines=True).encode())
    assert event(server.url, BUCKET, "incoming/boosted.jsonl", generation).status_code == 200
    predicted, failed, _ = outputs(gcs, "predictions/boosted.jsonl")
    assert failed == [] and [p["prediction"] for p in predicted] == model.predict(rows).tolist()


# the NaN token, rewritten on the bytes: any JSON text Python writes reads as it means, NaN as null
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.floats(allow_infinity=False)
    | st.integers(-(2**63), 2**63 - 1)
    | st.text(alphabet=st.sampled_from('NaN"\\ab,[]{}:\u00e9'), max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(alphabet='NaN"\\x', max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)


def as_null(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, list):
        return [as_null(v) for v in value]
    if isinstance(value, dict):
        return {k: as_null(v) for k, v in value.items()}
    return value


@settings(max_examples=400, deadline=None, database=None)
@given(value=json_values, indent=st.sampled_from([None, 1]))
def test_the_nan_token_reads_as_null_and_nothing_else_changes(value, indent):
    text = json.dumps(value, indent=indent)
    assert nan_token.loads(text.encode()) == as_null(value)
