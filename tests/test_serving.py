"""End to end: a model trained here, put in the GCS emulator, served by the real functions-framework
app (in-process; a real process where the working directory or concurrency is what is tested)."""

import threading

import numpy as np
import pytest
import requests
import skops.io
from sklearn.linear_model import ElasticNet
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from fault_proxy import FaultProxy
from support import error_of, in_process, records


@pytest.mark.parametrize("kind", ["cloudpickle file", "mlflow skops", "mlflow cloudpickle"])
def test_models_in_a_bucket_serve_the_numbers_scikit_learn_computes(gcs, artifacts, trained, kind):
    name = "model.pkl" if kind == "cloudpickle file" else "wine/1/artifacts/model"
    uri = gcs.upload(artifacts[kind], "serving-formats", f"{kind.replace(' ', '-')}/{name}")
    server = in_process({"MODEL_URI": uri})
    test_x = trained.test_x.head(300)
    response = server.post(json=records(test_x))
    assert response.status_code == 200, response.text
    assert response.json() == trained.model.predict(test_x).tolist()


def test_the_original_env_vars_serve_the_whole_test_set_exactly(gcs, artifacts, trained):
    gcs.upload(artifacts["cloudpickle file"], "original-layout", "model.pkl")
    server = in_process({"GCP_MLFLOW_MODEL_ARTIFACT_BUCKET_NAME": "original-layout"})
    response = server.post(json=records(trained.test_x))
    assert response.status_code == 200
    assert response.json() == trained.model.predict(trained.test_x).tolist()
    assert server.get("/ready").json()["model"]["uri"] == "gs://original-layout/model.pkl"


def test_use_local_file_path_model_reads_model_pkl_in_the_working_directory(
    artifacts, trained, start_server, tmp_path
):
    (tmp_path / "model.pkl").write_bytes(artifacts["cloudpickle file"].read_bytes())
    server = start_server({"USE_LOCAL_FILE_PATH_MODEL": "true"}, cwd=tmp_path)
    test_x = trained.test_x.head(10)
    assert server.post(json=records(test_x)).json() == trained.model.predict(test_x).tolist()


def test_key_order_does_not_matter(gcs, artifacts, trained):
    uri = gcs.upload(artifacts["mlflow skops"], "serving-order", "model")
    server = in_process({"MODEL_URI": uri})
    test_x = trained.test_x.head(50)
    alphabetical = [dict(sorted(row.items())) for row in records(test_x)]
    reversed_keys = [dict(reversed(list(row.items()))) for row in records(test_x)]
    assert list(alphabetical[0]) != list(test_x.columns)
    expected = trained.model.predict(test_x).tolist()
    assert server.post(json=alphabetical).json() == expected
    assert server.post(json=reversed_keys).json() == expected


def test_concurrent_first_requests_download_the_model_once(gcs, artifacts, trained, start_server):
    uri = gcs.upload(artifacts["mlflow skops"], "serving-once", "exp/run/artifacts/model")
    with FaultProxy(gcs.url) as proxy:
        server = start_server({"MODEL_URI": uri, "STORAGE_EMULATOR_HOST": proxy.url, "THREADS": "32"})
        assert proxy.media_downloads("exp/run/artifacts/model/model.skops") == 0
        test_x = trained.test_x.head(5)
        barrier = threading.Barrier(16)
        answers = [None] * 16

        def first_request(i):
            barrier.wait()
            answers[i] = requests.post(server.url + "/predict", json=records(test_x), timeout=60)

        threads = [threading.Thread(target=first_request, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [a.status_code for a in answers] == [200] * 16
        assert all(a.json() == trained.model.predict(test_x).tolist() for a in answers)
        assert proxy.media_downloads("exp/run/artifacts/model/model.skops") == 1
        assert proxy.media_downloads("exp/run/artifacts/model/MLmodel") == 1


def test_a_failed_load_is_retried_by_the_next_request(gcs, artifacts, trained):
    gcs.bucket("serving-retry")
    server = in_process({"MODEL_URI": "gs://serving-retry/later/model.skops"})
    test_x = trained.test_x.head(3)
    first = server.post(json=records(test_x))
    assert first.status_code == 503 and error_of(first.json())["code"] == "model_not_found"
    assert "gs://serving-retry/later/model.skops" in error_of(first.json())["message"]
    assert first.headers["Retry-After"]
    gcs.upload(artifacts["skops file"], "serving-retry", "later/model.skops")
    second = server.post(json=records(test_x))
    assert second.status_code == 200
    assert second.json() == trained.model.predict(test_x).tolist()


def test_ready_reports_the_generation_and_hash(gcs, artifacts):
    import hashlib

    uri = gcs.upload(artifacts["skops file"], "serving-ready", "m/model.skops")
    blob = gcs.client.bucket("serving-ready").get_blob("m/model.skops")
    server = in_process({"MODEL_URI": uri})
    model = server.get("/ready").json()["model"]
    assert model["generations"] == {"m/model.skops": blob.generation}
    assert model["sha256"] == hashlib.sha256(artifacts["skops file"].read_bytes()).hexdigest()


def test_a_skops_file_with_a_reviewed_function_serves_only_once_it_is_listed(trained, make_client, tmp_path):
    path = tmp_path / "rounded.skops"
    pipeline = make_pipeline(FunctionTransformer(np.round, kw_args={"decimals": 1}), ElasticNet(alpha=0.42))
    pipeline.fit(
        trained.train_x, trained.model.predict(trained.train_x)
    )  # fitted on names, as MLflow users do
    skops.io.dump(pipeline, path)
    test_x = trained.test_x.head(20)

    refused = make_client({"MODEL_URI": str(path)}).post("/predict", json=records(test_x))
    assert refused.status_code == 503
    error = error_of(refused.get_json())
    assert error["code"] == "model_untrusted"
    assert error["details"] == {"untrusted_types": ["numpy.round"]}
    assert "SKOPS_TRUSTED_TYPES" in error["message"]

    served = make_client({"MODEL_URI": str(path), "SKOPS_TRUSTED_TYPES": "numpy.round"})
    answer = served.post("/predict", json=records(test_x))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json() == pipeline.predict(test_x).tolist()
