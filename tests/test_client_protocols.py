"""Existing clients, unchanged: MLflow scoring protocol, CSV, Vertex AI, classifiers, /metadata."""

import mlflow.pyfunc
import numpy as np
import pytest
import requests

from support import QUICK, error_of, in_process, mlflow_models_serve, records

CSV = {"Content-Type": "text/csv"}


@pytest.fixture(scope="module")
def mlflow_dir(artifacts):
    return artifacts["mlflow skops"]


@pytest.fixture(scope="module")
def server(mlflow_dir):
    """The real functions-framework app, in-process: the protocols are what is tested here."""
    return in_process({"MODEL_URI": str(mlflow_dir)})


@pytest.fixture(scope="module")
def sample(trained):
    """40 held-out wine rows."""
    return trained.test_x.head(40)


@pytest.fixture(scope="module")
def mlflow_predictions(mlflow_dir, sample):
    """What MLflow's own loader predicts for the same model and rows."""
    return mlflow.pyfunc.load_model(str(mlflow_dir)).predict(sample).tolist()


def bodies(sample):
    split = sample.to_dict(orient="split")
    return {
        "dataframe_split": {"dataframe_split": {"columns": split["columns"], "data": split["data"]}},
        "dataframe_split with index": {"dataframe_split": split},
        "dataframe_records": {"dataframe_records": records(sample)},
        "instances (records)": {"instances": records(sample)},
        "instances (arrays)": {"instances": sample.to_numpy().tolist()},
        "inputs (columns)": {"inputs": sample.to_dict(orient="list")},
        "inputs with params": {"inputs": records(sample), "params": {}},
        "vertex": {"instances": sample.to_numpy().tolist(), "parameters": {}},
    }


ENVELOPES = list(bodies(__import__("pandas").DataFrame()).keys())


@pytest.mark.parametrize("envelope", ENVELOPES)
@pytest.mark.parametrize("path", ["/invocations", "/predict"])
def test_envelopes_answer_what_mlflow_predicts(server, sample, mlflow_predictions, envelope, path):
    response = server.post(path, json=bodies(sample)[envelope])
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": mlflow_predictions}


def test_csv_answers_what_mlflow_predicts(server, sample, mlflow_predictions):
    response = server.post("/invocations", data=sample.to_csv(index=False), headers=CSV)
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": mlflow_predictions}


def test_bad_csv_cells_name_row_and_column(server, sample):
    bad = sample.head(2).to_csv(index=False).splitlines()
    bad[2] = ",".join(["oops"] + bad[2].split(",")[1:])
    response = server.post("/invocations", data="\n".join(bad), headers=CSV)
    assert response.status_code == 400
    assert error_of(response.json())["details"]["rows"] == {
        "1": {"fixed acidity": ["expected a number, got string"]}
    }


@pytest.mark.parametrize(
    "body, words",
    [
        (
            {"dataframe_split": {"columns": ["pH"], "data": [[1, 2]]}},
            "row 0 has 2 values, but there are 1 columns",
        ),
        ({"instances": [], "inputs": []}, "expected exactly one of"),
        ({"dataframe_records": "rows"}, "'dataframe_records' must be a list of rows, got string"),
    ],
)
def test_malformed_envelopes_are_json_400(server, body, words):
    response = server.post("/invocations", json=body)
    assert response.status_code == 400
    assert (
        error_of(response.json())["code"] == "invalid_input" and words in error_of(response.json())["message"]
    )


@pytest.fixture(scope="module")
def mlflow_serve(mlflow_dir, tmp_path_factory):
    """MLflow's own scoring server (`mlflow models serve`) for the same model."""
    yield from mlflow_models_serve(mlflow_dir, tmp_path_factory.mktemp("mlflow-serve"))


@pytest.mark.parametrize(
    "envelope", ["dataframe_split", "dataframe_records", "instances (records)", "inputs (columns)"]
)
def test_same_body_same_reply_as_mlflow_models_serve(server, mlflow_serve, sample, envelope):
    body = bodies(sample)[envelope]
    theirs = requests.post(mlflow_serve + "/invocations", json=body, timeout=60)
    ours = server.post("/invocations", json=body)
    assert theirs.status_code == ours.status_code == 200, theirs.text
    assert ours.json() == theirs.json()


def test_same_csv_reply_as_mlflow_models_serve(server, mlflow_serve, sample):
    text = sample.to_csv(index=False)
    theirs = requests.post(mlflow_serve + "/invocations", data=text, headers=CSV, timeout=60)
    assert server.post("/invocations", data=text, headers=CSV).json() == theirs.json()


# classifiers


@pytest.fixture(scope="module")
def classifier(trained, wine_data):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    labels = np.where(wine_data.loc[trained.train_x.index, "quality"] >= 7, "good", "ordinary")
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(trained.train_x, labels)


@pytest.fixture(scope="module")
def classifier_server(classifier, trained, tmp_path_factory):
    import mlflow.sklearn
    from mlflow.models import infer_signature

    folder = tmp_path_factory.mktemp("classifier") / "model"
    signature = infer_signature(trained.train_x, classifier.predict(trained.train_x))
    mlflow.sklearn.save_model(classifier, folder, signature=signature, **QUICK)
    return in_process({"MODEL_URI": str(folder)})


def expected_proba(classifier, X):
    return [dict(zip(map(str, classifier.classes_), row)) for row in classifier.predict_proba(X).tolist()]


def test_classifier_answers_labels_by_default(classifier_server, classifier, sample):
    assert classifier_server.post(json=records(sample)).json() == classifier.predict(sample).tolist()
    assert set(classifier.predict(sample)) == {"good", "ordinary"}  # both classes really occur


@pytest.mark.parametrize(
    "path, body_of",
    [
        ("/predict?output=proba", lambda X: records(X)),
        ("/invocations", lambda X: {"dataframe_records": records(X), "params": {"output": "proba"}}),
        ("/predict", lambda X: {"instances": X.to_numpy().tolist(), "parameters": {"output": "proba"}}),
    ],
)
def test_classifier_probabilities_on_request(classifier_server, classifier, sample, path, body_of):
    response = classifier_server.post(path, json=body_of(sample))
    assert response.status_code == 200, response.text
    answer = response.json()
    predictions = answer["predictions"] if isinstance(answer, dict) else answer
    assert predictions == expected_proba(classifier, sample)


def test_probabilities_from_a_regressor_are_a_400(server, sample):
    response = server.post("/predict?output=proba", json=records(sample))
    assert response.status_code == 400
    assert "has no predict_proba" in error_of(response.json())["message"]


def test_unknown_output_is_a_400(classifier_server, sample):
    response = classifier_server.post("/predict?output=scores", json=records(sample))
    assert response.status_code == 400 and error_of(response.json())["details"] == {
        "allowed": ["label", "proba"]
    }


# metadata


def test_metadata(server, mlflow_dir, trained):
    import hashlib

    import sklearn

    meta = server.get("/metadata").json()
    assert meta["uri"] == str(mlflow_dir)
    assert meta["sha256"] == hashlib.sha256((mlflow_dir / "model.skops").read_bytes()).hexdigest()
    assert (meta["format"], meta["flavor"], meta["type"], meta["model_file"]) == (
        "skops",
        "sklearn",
        "ElasticNet",
        "model.skops",
    )
    assert meta["sklearn_version"] == {"artifact": sklearn.__version__, "runtime": sklearn.__version__}
    assert [i["name"] for i in meta["inputs"]] == list(trained.train_x.columns)
    assert meta["signature"]["outputs"][0]["type"] == "tensor"
    assert meta["classes"] is None and meta["load_seconds"] > 0 and meta["loaded_at"]


def test_classifier_metadata_lists_classes(classifier_server):
    assert classifier_server.get("/metadata").json()["classes"] == ["good", "ordinary"]


# Vertex AI


def test_vertex_routes_and_storage_uri(gcs, artifacts, trained):
    uri = gcs.upload(artifacts["mlflow skops"], "vertex-models", "wine/model")
    predict_route, health_route = "/v1/endpoints/123/deployedModels/456:predict", "/v1/endpoints/123/health"
    server = in_process(
        {
            "AIP_STORAGE_URI": uri,
            "AIP_PREDICT_ROUTE": predict_route,
            "AIP_HEALTH_ROUTE": health_route,
            "API_KEYS": "k",
        }
    )
    assert server.get(health_route).status_code == 200  # Vertex's health check sends no key
    sample = trained.test_x.head(5)
    response = server.post(
        predict_route,
        json={"instances": sample.to_numpy().tolist(), "parameters": {}},
        headers={"X-API-Key": "k"},
    )
    assert response.json() == {"predictions": trained.model.predict(sample).tolist()}


# BigQuery remote functions


def bigquery(calls, **extra):
    return {
        "requestId": "124ab1c",
        "caller": "//bigquery.googleapis.com/projects/p/jobs/j",
        "sessionUser": "analyst@example.com",
        "calls": calls,
        **extra,
    }


def test_bigquery_positional_and_json_calls(server, trained, sample):
    positional = server.post("/", json=bigquery(sample.to_numpy().tolist()))
    assert positional.status_code == 200
    assert positional.json() == {"replies": trained.model.predict(sample).tolist()}
    as_json = server.post("/", json=bigquery([[row] for row in records(sample)], userDefinedContext={}))
    assert as_json.json() == positional.json()


def test_bigquery_probabilities_from_user_defined_context(classifier_server, classifier, sample):
    body = bigquery(sample.to_numpy().tolist(), userDefinedContext={"output": "proba"})
    assert classifier_server.post("/", json=body).json() == {"replies": expected_proba(classifier, sample)}


@pytest.mark.parametrize(
    "calls, words",
    [
        ([[1.0, 2.0]], "call 0 has 2 arguments; expected 11"),
        (
            [[6.2] * 11, [6.2] * 10 + ["x"]],
            "1 of 2 calls are invalid; call 1, 'alcohol': expected a number, got string",
        ),
        # SQL NULL: a missing value, which the wine model cannot take
        ([[6.2] * 10 + [None]], "1 of 1 calls have some; call 0: 'alcohol'"),
    ],
)
def test_bigquery_bad_call_is_400_error_message_naming_call_and_field(server, calls, words):
    response = server.post("/", json=bigquery(calls))
    assert response.status_code == 400
    assert list(response.json()) == ["errorMessage"] and words in response.json()["errorMessage"]
    assert len(response.content) < 1024


def test_bigquery_error_message_stays_under_1kb(server):
    response = server.post("/", json=bigquery([[{"x" * 50 + str(i): 1 for i in range(200)}]]))
    assert response.status_code == 400 and len(response.content) < 1024


def test_bigquery_model_unavailable_is_503_it_retries(tmp_path):
    response = in_process({"MODEL_URI": str(tmp_path / "missing")}).post("/", json=bigquery([[1.0] * 11]))
    assert response.status_code == 503 and "errorMessage" in response.json()
    assert response.headers["Retry-After"]


def test_classifier_over_open_inference_protocol(classifier_server, classifier, sample):
    matrix = {
        "name": "input-0",
        "shape": list(sample.shape),
        "datatype": "FP64",
        "data": sample.to_numpy().tolist(),
    }
    labels = classifier_server.post("/v2/models/model/infer", json={"inputs": [matrix]}).json()["outputs"][0]
    assert (labels["name"], labels["datatype"], labels["shape"]) == ("predict", "BYTES", [len(sample)])
    assert labels["data"] == classifier.predict(sample).tolist()
    body = {"inputs": [matrix], "parameters": {"output": "proba"}}
    proba = classifier_server.post("/v2/models/model/infer", json=body).json()["outputs"][0]
    assert (proba["name"], proba["datatype"], proba["shape"]) == ("predict_proba", "FP64", [len(sample), 2])
    assert proba["data"] == classifier.predict_proba(sample).ravel().tolist()
