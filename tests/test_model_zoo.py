"""The models MLflow users log, each saved by MLflow 3 (its default format, skops, and
cloudpickle), answer every body shape as MLflow's scoring server answers it — compared with
MLflow's own `invocations` code in process for every kind, and with a real `mlflow models serve`
for one — missing values included where the kind takes them. Where MLflow refuses what we
answer, the difference is listed below and in docs/models.md, each with why."""

import json
from pathlib import Path

import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
import requests
import skops.io
from sklearn.cluster import KMeans
from sklearn.compose import make_column_transformer
from sklearn.ensemble import (
    AdaBoostClassifier,
    ExtraTreesClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    IsolationForest,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import ElasticNet, LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.multioutput import MultiOutputRegressor
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVR
from sklearn.tree import DecisionTreeRegressor

from support import QUICK, error_of, in_process, mlflow_invocations, mlflow_models_serve

RNG = np.random.default_rng(21)
NUMERIC = ["length", "width", "depth", "weight"]
X = pd.DataFrame(RNG.normal(5, 2, (240, 4)), columns=NUMERIC)
Y = X.to_numpy() @ [1.5, -0.5, 2.0, 0.25] + RNG.normal(0, 0.3, 240)
LABELS = np.where(Y > np.median(Y), "large", "small")
GAPS = X.mask(RNG.random(X.shape) < 0.1)
COLOURED = GAPS.assign(colour=pd.Series(np.array(["red", "green", "blue"])[np.arange(240) % 3], dtype=object))
COLOURED.loc[COLOURED.index % 5 == 0, "colour"] = None


def coloured_pipeline():
    strings = make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore"))
    columns = make_column_transformer((SimpleImputer(), NUMERIC), (strings, ["colour"]))
    return make_pipeline(columns, LogisticRegression(max_iter=500)).fit(COLOURED, LABELS)


# name: (fitted model, the frame it takes, whether rows with gaps are sent, save_model options)
KINDS = {
    "decision tree": lambda: (DecisionTreeRegressor(max_depth=5).fit(GAPS, Y), GAPS, True, {}),
    "random forest": lambda: (
        RandomForestRegressor(10, max_depth=5, random_state=0).fit(GAPS, Y),
        GAPS,
        True,
        {},
    ),
    "extra trees classifier": lambda: (ExtraTreesClassifier(10, random_state=0).fit(X, LABELS), X, False, {}),
    "gradient boosting": lambda: (GradientBoostingRegressor(n_estimators=20).fit(X, Y), X, False, {}),
    "histogram boosting": lambda: (HistGradientBoostingRegressor(max_iter=20).fit(GAPS, Y), GAPS, True, {}),
    "histogram boosting, proba": lambda: (
        HistGradientBoostingClassifier(max_iter=20).fit(GAPS, LABELS),
        GAPS,
        True,
        {"pyfunc_predict_fn": "predict_proba"},
    ),
    "imputing pipeline": lambda: (
        make_pipeline(SimpleImputer(), StandardScaler(), Ridge()).fit(GAPS, Y),
        GAPS,
        True,
        {},
    ),
    "one-hot pipeline with gaps": lambda: (coloured_pipeline(), COLOURED, True, {}),
    "grid search": lambda: (GridSearchCV(Ridge(), {"alpha": [0.1, 1.0]}, cv=3).fit(X, Y), X, False, {}),
    "k-means": lambda: (KMeans(3, n_init=2, random_state=0).fit(X), X, False, {}),
    "isolation forest": lambda: (IsolationForest(n_estimators=20, random_state=0).fit(X), X, False, {}),
    "multi-output": lambda: (MultiOutputRegressor(Ridge()).fit(X, np.c_[Y, -Y]), X, False, {}),
    "nearest neighbours (brute)": lambda: (
        KNeighborsClassifier(5, algorithm="brute").fit(X, LABELS),
        X,
        False,
        {},
    ),
    "AdaBoost": lambda: (AdaBoostClassifier(n_estimators=10, random_state=0).fit(X, LABELS), X, False, {}),
    "SVR": lambda: (SVR().fit(X, Y), X, False, {}),
    "ElasticNet (read without scikit-learn)": lambda: (ElasticNet(alpha=0.1).fit(X, Y), X, False, {}),
    "logistic regression, proba": lambda: (
        LogisticRegression().fit(X, LABELS),
        X,
        False,
        {"pyfunc_predict_fn": "predict_proba"},
    ),
    "fitted on an array": lambda: (LinearRegression().fit(X.to_numpy(), Y), X, False, {}),
}
FORMATS = ["skops", "cloudpickle"]


def save(model, frame, options, fmt, folder: Path) -> Path:
    """As a user would: MLflow infers the signature from the input example; skops asks for
    the types it does not trust by default (MLflow records them, we do not take them on its word)."""
    example = frame.head(3) if hasattr(model, "feature_names_in_") else frame.head(3).to_numpy()
    trusted = skops.io.get_untrusted_types(data=skops.io.dumps(model)) if fmt == "skops" else None
    mlflow.sklearn.save_model(
        model,
        folder,
        serialization_format=fmt,
        skops_trusted_types=trusted,
        input_example=example,
        **options,
        **QUICK,
    )
    return folder


def build(kind: str, fmt: str, root: Path):
    model, frame, gaps, options = KINDS[kind]()
    return model, frame, gaps, save(model, frame, options, fmt, root / "model")


def sent_rows(frame: pd.DataFrame, gaps: bool) -> pd.DataFrame:
    rows = frame.iloc[200:208]
    return rows if gaps else rows.fillna(1.0)


def bodies(rows: pd.DataFrame, folder: Path, named: bool) -> dict[str, tuple[str, str]]:
    """Each body shape MLflow's server takes, written as MLflow's clients write them (NaN)."""
    frame = rows if named else pd.DataFrame(rows.to_numpy())
    split = frame.to_dict(orient="split")
    split.pop("index")
    records = frame.to_dict(orient="records")
    shapes = {
        "dataframe_split": json.dumps({"dataframe_split": split}),
        "dataframe_records": json.dumps({"dataframe_records": records}),
        "instances": json.dumps({"instances": records if named else frame.to_numpy().tolist()}),
        "inputs": json.dumps(
            {"inputs": {str(c): frame[c].tolist() for c in frame} if named else frame.to_numpy().tolist()}
        ),
        "csv": frame.to_csv(index=False),
    }
    example = folder / "serving_input_example.json"
    if example.exists():
        shapes["MLflow's serving_input_example.json"] = example.read_text()
    return {
        name: (text, "text/csv" if name == "csv" else "application/json") for name, text in shapes.items()
    }


def mlflow_answer(folder: Path, text: str, content_type: str):
    """MLflow's scoring server's own answer: (status, predictions, or the message of a refusal)."""
    status, body = mlflow_invocations(folder, text, content_type)
    return status, body.get("predictions", body.get("message", body))


# (kind, shape) where MLflow refuses what we answer, and why (also in docs/models.md)
MLFLOW_REFUSES = {
    # MLflow 3.17's CSV reader cannot take a tensor signature ("TensorSpec only supports numpy types")
    ("fitted on an array", "csv"): "TensorSpec",
}


def same(ours, theirs) -> bool:
    """Equal labels; numbers equal to the last bits a matrix product may round differently."""
    a, b = np.asarray(ours, dtype=object), np.asarray(theirs, dtype=object)
    if a.shape != b.shape:
        return False
    try:
        return bool(np.allclose(a.astype(float), b.astype(float), rtol=1e-12, atol=1e-15, equal_nan=True))
    except (TypeError, ValueError):
        return a.tolist() == b.tolist()


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_answers_every_body_shape_as_mlflow(tmp_path, kind, fmt):
    model, frame, gaps, folder = build(kind, fmt, tmp_path)
    named = hasattr(model, "feature_names_in_")
    app = in_process({"MODEL_URI": str(folder)})
    rows = sent_rows(frame, gaps)
    for shape, (text, content_type) in bodies(rows, folder, named).items():
        ours = app.post("/invocations", data=text.encode(), headers={"Content-Type": content_type})
        status, theirs = mlflow_answer(folder, text, content_type)
        if (kind, shape) in MLFLOW_REFUSES:
            assert status == 400 and MLFLOW_REFUSES[kind, shape] in theirs, (shape, theirs)
            assert ours.status_code == 200, (shape, ours.text)
            continue
        assert status == 200, (shape, theirs)
        assert ours.status_code == 200, (shape, ours.text)
        assert same(ours.json()["predictions"], theirs), (shape, ours.json()["predictions"], theirs)


def test_a_kind_that_takes_no_gaps_names_them_where_mlflow_says_unexpected_error(tmp_path):
    _, frame, _, folder = build("grid search", "skops", tmp_path)
    rows = frame.iloc[200:204].copy()
    rows.iloc[1, 2] = np.nan
    text = json.dumps({"dataframe_split": {"columns": list(rows.columns), "data": rows.to_numpy().tolist()}})
    status, theirs = mlflow_answer(folder, text, "application/json")
    ours = in_process({"MODEL_URI": str(folder)}).post(
        "/invocations", data=text.encode(), headers={"Content-Type": "application/json"}
    )
    assert status >= 400 and "unexpected error" in theirs
    assert ours.status_code == 400 and error_of(ours.json())["details"]["rows"] == {"1": ["depth"]}


@pytest.fixture(scope="module")
def served_pipeline(tmp_path_factory):
    return build("one-hot pipeline with gaps", "skops", tmp_path_factory.mktemp("zoo-serve"))


@pytest.fixture(scope="module")
def mlflow_serve(served_pipeline, tmp_path_factory):
    """A real `mlflow models serve` for the pipeline with a string column and gaps."""
    yield from mlflow_models_serve(served_pipeline[3], tmp_path_factory.mktemp("zoo-serve"))


def test_a_real_mlflow_models_serve_answers_the_same(served_pipeline, mlflow_serve):
    _, frame, gaps, folder = served_pipeline
    app = in_process({"MODEL_URI": str(folder)})
    for shape, (text, content_type) in bodies(sent_rows(frame, gaps), folder, True).items():
        theirs = requests.post(
            mlflow_serve + "/invocations",
            data=text.encode(),
            headers={"Content-Type": content_type},
            timeout=60,
        )
        ours = app.post("/invocations", data=text.encode(), headers={"Content-Type": content_type})
        assert theirs.status_code == ours.status_code == 200, (shape, theirs.text, ours.text)
        assert ours.json() == theirs.json(), shape
