"""MLmodel's `predict_fn` (`pyfunc_predict_fn` at log time) is what the model answers with, as
`mlflow models serve` answers: probabilities as one list per row in `classes_` order, in every
protocol and in batch; `output=` still overrides it; `/metadata` names it. It used to be
ignored: labels, with a 200."""

import json

import mlflow.sklearn
import numpy as np
import pytest
import yaml
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from support import QUICK, error_of, in_process, records
from test_batch import BUCKET, drop, event, outputs, start_scorer


@pytest.fixture(scope="module")
def classifier(trained, wine_data):
    labels = np.where(wine_data.loc[trained.train_x.index, "quality"] >= 7, "good", "ordinary")
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(trained.train_x, labels)


@pytest.fixture(scope="module", params=["predict_proba", "predict_log_proba"])
def saved(request, classifier, trained, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param) / "model"
    mlflow.sklearn.save_model(
        classifier,
        folder,
        input_example=trained.test_x.head(2),
        pyfunc_predict_fn=request.param,
        **QUICK,
    )
    return request.param, str(folder)


def expected(classifier, method, rows):
    return getattr(classifier, method)(rows).tolist()


def close(got, want) -> bool:
    """Lists of lists equal to within float rounding (the fast path's copy sums in its own order)."""
    return np.allclose(np.asarray(got, dtype=float), np.asarray(want), rtol=1e-12, atol=0)


def test_every_protocol_answers_with_the_models_predict_fn(saved, classifier, trained):
    method, folder = saved
    app = in_process({"MODEL_URI": folder, "MODEL_NAME": "wine"})
    rows = trained.test_x.head(5)
    want = expected(classifier, method, rows)
    split = {"dataframe_split": json.loads(rows.to_json(orient="split", index=False))}
    assert close(app.post("/invocations", json=split).json()["predictions"], want)
    assert close(app.post("/predict", json=records(rows)).json(), want)
    csv = app.post("/invocations", data=rows.to_csv(index=False), headers={"Content-Type": "text/csv"})
    assert close(csv.json()["predictions"], want)
    tensor = {
        "inputs": [
            {"name": "x", "shape": list(rows.shape), "datatype": "FP64", "data": rows.to_numpy().tolist()}
        ]
    }
    (out,) = app.post("/v2/models/wine/infer", json=tensor).json()["outputs"]
    assert out["name"] == method and out["shape"] == [5, 2]
    assert close(out["data"], [v for row in want for v in row])
    assert app.get("/metadata").json()["predict_fn"] == method


def test_output_still_overrides_it(saved, classifier, trained):
    _, folder = saved
    app = in_process({"MODEL_URI": folder})
    rows = records(trained.test_x.head(3))
    assert (
        app.post("/predict?output=label", json=rows).json()
        == classifier.predict(trained.test_x.head(3)).tolist()
    )
    proba = app.post("/predict?output=proba", json=rows).json()
    assert sorted(proba[0]) == ["good", "ordinary"]


def test_batch_answers_with_it_too(saved, classifier, trained, start_server, gcs):
    method, folder = saved
    server = start_scorer(start_server, gcs, MODEL_URI=folder)
    rows = trained.test_x.head(6)
    name = f"incoming/{method}.csv"
    generation = drop(gcs, name, rows.to_csv(index=False).encode())
    assert event(server.url, BUCKET, name, generation).status_code == 200
    predicted, failed, _ = outputs(gcs, name.replace("incoming/", "predictions/"))
    assert failed == [] and close([p["prediction"] for p in predicted], expected(classifier, method, rows))


@pytest.mark.parametrize(
    "named, words", [("score", "predict_fn is 'score'"), ("transform", "predict_fn is 'transform'")]
)
def test_a_predict_fn_this_function_cannot_serve_is_a_503_naming_it(classifier, tmp_path, named, words):
    folder = tmp_path / "model"
    mlflow.sklearn.save_model(classifier, folder, **QUICK)
    mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
    mlmodel["flavors"]["python_function"]["predict_fn"] = named
    (folder / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    answer = in_process({"MODEL_URI": str(folder)}).post("/predict", json=[{}])
    assert answer.status_code == 503 and error_of(answer.json())["code"] == "model_unsupported"
    assert words in error_of(answer.json())["message"]
