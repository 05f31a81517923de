"""A `datetime` column takes the strings MLflow's server takes, parsed as it parses them (pandas,
timezone-naive), and the model answers as MLflow's own scoring code does for the same bytes; a
bad date is a 400 naming row and field; OpenAPI says `format: date-time`."""

import json

import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
from mlflow.models import infer_signature
from sklearn.compose import make_column_transformer
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from support import QUICK, error_of, in_process, mlflow_invocations


def calendar(frame):
    """Hour, weekday and day of year of a datetime column: what a model of demand looks at."""
    when = pd.to_datetime(frame.iloc[:, 0])
    return np.c_[when.dt.hour, when.dt.weekday, when.dt.dayofyear]


RNG = np.random.default_rng(4)
TRAIN = pd.DataFrame(
    {
        "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(RNG.integers(0, 365 * 24 * 60, 300), unit="min"),
        "load": RNG.normal(10, 2, 300),
    }
)
TARGET = TRAIN["when"].dt.hour * 0.5 + TRAIN["load"] + RNG.normal(0, 0.1, 300)
SENT = ["2024-03-05T10:20:30", "2024-07-14T00:00:00", "2024-11-30T23:59:00", "2024-02-29T08:15:00"]
MIXED = ["2024-03-05T10:20:30", "2024-07-14", "2024-11-30 23:59", "2024-02-29T00:00:00.250"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    model = make_pipeline(
        make_column_transformer((FunctionTransformer(calendar), ["when"]), ("passthrough", ["load"])), Ridge()
    ).fit(TRAIN, TARGET)
    folder = tmp_path_factory.mktemp("datetime") / "model"
    signature = infer_signature(TRAIN)
    assert "datetime" in json.dumps(signature.to_dict())
    mlflow.sklearn.save_model(
        model,
        folder,
        serialization_format="cloudpickle",
        signature=signature,
        **QUICK,
    )
    return model, str(folder), in_process({"MODEL_URI": str(folder)})


def mlflow_answer(folder, text, content_type):
    status, body = mlflow_invocations(folder, text, content_type)
    assert status == 200, body
    return body["predictions"]


def sent_frame(when=SENT):
    return pd.DataFrame({"when": when, "load": [9.5, 10.0, 11.25, 8.0]})


@pytest.mark.parametrize("shape", ["dataframe_split", "dataframe_records", "csv"])
def test_date_strings_answer_as_mlflow_and_as_in_process(served, shape):
    model, folder, app = served
    frame = sent_frame()
    if shape == "csv":
        text, content_type = frame.to_csv(index=False), "text/csv"
    else:
        orient = shape.removeprefix("dataframe_")
        body = frame.to_dict(orient=orient)
        if orient == "split":
            body.pop("index")
        text, content_type = json.dumps({shape: body}), "application/json"
    ours = app.post("/invocations", data=text.encode(), headers={"Content-Type": content_type})
    assert ours.status_code == 200, ours.text
    in_process_answer = model.predict(frame.astype({"when": "datetime64[ns]"})).tolist()
    if shape == "csv":  # MLflow's CSV reader refuses a datetime column (pandas wants parse_dates)
        status, body = mlflow_invocations(folder, text, content_type)
        assert status == 400 and "parse_dates" in body["message"]
    else:
        theirs = mlflow_answer(folder, text, content_type)
        assert np.allclose(ours.json()["predictions"], theirs, rtol=1e-13, atol=0)
    assert np.allclose(ours.json()["predictions"], in_process_answer, rtol=1e-13, atol=0)


@pytest.mark.parametrize(
    "when, words",
    [
        ("2024-13-05", "expected a date-time string (as 2024-01-05T10:20:30), got '2024-13-05'"),
        ("yesterday", "got 'yesterday'"),
        ("2024-01-05T10:20:30Z", "without a timezone"),
        (1704450030, "expected a date-time string (as 2024-01-05T10:20:30), got number"),
    ],
)
def test_a_bad_date_is_a_400_naming_row_and_field(served, when, words):
    _, _, app = served
    answer = app.post("/predict", json=[{"when": "2024-01-05", "load": 1.0}, {"when": when, "load": 1.0}])
    assert answer.status_code == 400
    assert words in error_of(answer.json())["details"]["rows"]["1"]["when"][0]


def test_each_value_is_read_on_its_own(served):
    """MLflow infers one format from a column's first value and refuses the request when another
    value is written otherwise; here each is read alone, so a row answers as in any batch."""
    model, _, app = served
    frame = sent_frame(MIXED)
    ours = app.post("/predict", json=frame.to_dict(orient="records"))
    assert ours.status_code == 200, ours.text
    expected = model.predict(frame.assign(when=[pd.Timestamp(w) for w in MIXED])).tolist()
    assert np.allclose(ours.json(), expected, rtol=1e-13, atol=0)
    alone = [app.post("/predict", json=[row]).json()[0] for row in frame.to_dict(orient="records")]
    assert np.allclose(alone, ours.json(), rtol=1e-13, atol=0)


def test_a_missing_date_is_nat(served):
    _, _, app = served
    answer = app.post("/predict", json=[{"when": None, "load": 1.0}])
    # the model's calendar step turns NaT into NaN, which Ridge refuses: named, as for any gap
    assert answer.status_code == 400 and error_of(answer.json())["code"] == "missing_values"
    assert error_of(answer.json())["details"]["rows"] == {"0": ["when"]}


def test_openapi_says_date_time(served):
    _, _, app = served
    features = app.get("/openapi.json").json()["components"]["schemas"]["Features"]
    assert features["properties"]["when"]["format"] == "date-time"
    assert features["properties"]["when"]["type"] == "string"


def test_a_captured_request_logs_its_dates_as_iso_8601(served, capfd):
    _, folder, _ = served
    app = in_process({"MODEL_URI": folder, "PREDICTION_LOG_SAMPLE": "1"})
    answer = app.post(
        "/predict", json=[{"when": "2024-03-05T10:20:30", "load": 1.0}, {"when": None, "load": 2.0}]
    )
    assert answer.status_code == 400  # NaT: missing, which this model cannot take; not captured as rows
    assert app.post("/predict", json=[{"when": "2024-03-05T10:20:30", "load": 1.0}]).status_code == 200
    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith("{")]
    (entry,) = [e for e in lines if e.get("message") == "prediction" and e.get("status") == 200]
    assert entry["inputs"][0]["when"].startswith("2024-03-05T10:20:30")


def test_a_capture_writes_a_date_as_iso_8601_and_nat_as_null():
    from predictor.web.capture import Capture

    rows = [{"f0": np.datetime64("NaT", "ns")}, {"f0": np.datetime64("2024-01-05T10:20:30", "ns")}]
    capture = Capture(names=["when"], rows=rows)
    assert capture.inputs(2) == [{"when": None}, {"when": "2024-01-05T10:20:30.000000000"}]
