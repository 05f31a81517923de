"""MODELS: many models in one function, by name, each loaded on its first request: the routes,
BigQuery's context, batch folders, per-model API keys and hostile names, in process; loads,
evictions and a model that cannot load, in a real server under concurrent requests."""

from __future__ import annotations

import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import joblib
import numpy as np
import pytest
import requests
import skops.io
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import ElasticNet, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeRegressor

from support import error_of, in_process, records

KINDS = {
    "linear": lambda i: ElasticNet(alpha=0.1 + i / 100),
    "tree": lambda i: DecisionTreeRegressor(max_depth=3 + i % 5, random_state=i),
    "classifier": lambda i: make_pipeline(StandardScaler(), LogisticRegression(C=1 + i, max_iter=500)),
}
COUNT = 20


@pytest.fixture(scope="module")
def zoo(wine_data, tmp_path_factory):
    """Twenty small models of three kinds, each a skops file, with the rows they answer."""
    root = tmp_path_factory.mktemp("zoo")
    features = wine_data.drop(columns=["quality"]).head(600)
    quality = wine_data["quality"].head(600)
    models, paths = {}, {}
    for i in range(COUNT):
        kind = list(KINDS)[i % len(KINDS)]
        target = (quality > 6).astype(int) if kind == "classifier" else quality
        model = KINDS[kind](i).fit(features, target)
        name = f"{kind}-{i}"
        paths[name] = root / f"{name}.skops"
        skops.io.dump(model, paths[name])
        models[name] = model
    return models, paths, features.tail(7)


def models_setting(paths: dict[str, Path], **extra: str) -> str:
    """MODELS as name=URI pairs."""
    return ",".join(f"{name}={uri}" for name, uri in {**paths, **extra}.items())


@pytest.fixture(scope="module")
def function(zoo, tmp_path_factory):
    _, paths, _ = zoo
    missing = tmp_path_factory.mktemp("gone") / "nothing-here.skops"
    env = {
        "MODELS": models_setting(paths, broken=str(missing)),
        "DEFAULT_MODEL": "linear-0",
        "API_KEYS": "everything,wine-only:linear-0|linear-3",
    }
    return in_process(env)


KEY = {"X-API-Key": "everything"}


def expected(model, rows):
    return model.predict(rows).tolist()


def predictions(body):
    """The predictions of any reply: the original list, MLflow's envelope, the OIP output."""
    if isinstance(body, list):
        return body
    return body["outputs"][0]["data"] if "outputs" in body else body["predictions"]


@pytest.mark.parametrize("name", ["linear-0", "tree-1", "classifier-2", "tree-19", "linear-18"])
@pytest.mark.parametrize("route", ["/predict/{}", "/invocations/{}", "/v2/models/{}/infer"])
def test_each_named_route_answers_with_its_model(function, zoo, name, route):
    models, _, rows = zoo
    if route.startswith("/v2"):
        body = {
            "inputs": [
                {"name": c, "shape": [len(rows)], "datatype": "FP64", "data": rows[c].tolist()} for c in rows
            ]
        }
    elif route.startswith("/invocations"):
        body = {"dataframe_split": rows.to_dict(orient="split", index=False)}
    else:
        body = records(rows)
    answer = function.post(route.format(name), json=body, headers=KEY)
    assert answer.status_code == 200, answer.text
    assert predictions(answer.json()) == pytest.approx(expected(models[name], rows), rel=1e-12)


def test_the_unnamed_routes_serve_the_default_model(function, zoo):
    models, _, rows = zoo
    for path in ("/", "/predict", "/invocations"):
        body = records(rows) if path != "/invocations" else {"dataframe_records": records(rows)}
        answer = function.post(path, json=body, headers=KEY)
        assert predictions(answer.json()) == pytest.approx(expected(models["linear-0"], rows), rel=1e-12)


def test_bigquery_context_selects_the_model(function, zoo):
    models, _, rows = zoo
    calls = rows.values.tolist()
    for name in ("tree-4", "classifier-5"):
        body = {"requestId": "r", "calls": calls, "userDefinedContext": {"model": name}}
        answer = function.post("/", json=body, headers=KEY)
        assert answer.status_code == 200, answer.text
        assert answer.json()["replies"] == pytest.approx(expected(models[name], rows), rel=1e-12)
    body = {"requestId": "r", "calls": calls, "userDefinedContext": {"model": "nope"}}
    answer = function.post("/", json=body, headers=KEY)
    assert answer.status_code == 404 and "nope" in answer.json()["errorMessage"]


@pytest.mark.parametrize(
    "path, status",
    [
        ("/predict/unknown", 404),
        ("/v2/models/unknown/infer", 404),
        ("/predict/" + "a" * 200, 400),
        ("/predict/.hidden", 400),
        ("/predict/mod%C3%A8le", 400),  # unicode
        ("/predict/..%2Fetc%2Fpasswd", 404),  # an encoded slash: no route takes it
        ("/predict/a%00b", 400),
        ("/v2/models/%20/infer", 400),
    ],
)
def test_hostile_and_unknown_names_are_refused(function, zoo, path, status):
    _, _, rows = zoo
    answer = function.post(path, json=records(rows), headers=KEY)
    assert answer.status_code == status, answer.text
    error = error_of(answer.json())
    if status == 404 and "predict/unknown" in path:
        assert "linear-0" in error["message"] and "tree-1" in error["message"]  # the names served
        assert len(error["details"]["models"]) <= 20


def test_a_model_that_cannot_load_fails_alone(function, zoo):
    models, _, rows = zoo
    answer = function.post("/predict/broken", json=records(rows), headers=KEY)
    assert answer.status_code == 503 and answer.json()["error"]["model"] == "broken"
    again = function.post("/predict/tree-7", json=records(rows), headers=KEY)
    assert predictions(again.json()) == pytest.approx(expected(models["tree-7"], rows), rel=1e-12)


def test_scoped_keys_reach_their_models_alone(function, zoo):
    _, _, rows = zoo
    scoped = {"X-API-Key": "wine-only"}
    assert function.post("/predict/linear-3", json=records(rows), headers=scoped).status_code == 200
    refused = function.post("/predict/tree-1", json=records(rows), headers=scoped)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert refused.json()["error"]["details"] == {"models": ["linear-0", "linear-3"]}
    probing = function.post("/predict/no-such-model", json=records(rows), headers=scoped)
    assert probing.status_code == 403 and "tree-1" not in probing.text  # the names stay unsaid
    assert function.post("/predict/tree-1", json=records(rows)).status_code == 401
    assert function.post("/predict/tree-1", json=records(rows), headers=KEY).status_code == 200


def test_the_index_and_metadata_show_every_model(function, zoo):
    _, _, rows = zoo
    function.post("/predict/tree-10", json=records(rows), headers=KEY)
    function.post("/predict/broken", json=records(rows), headers=KEY)
    index = function.post("/v2/repository/index", headers=KEY).json()
    states = {entry["name"]: entry for entry in index}
    assert len(states) == COUNT + 1
    assert states["tree-10"]["state"] == "READY"
    assert states["broken"]["state"] == "UNAVAILABLE" and "no model file" in states["broken"]["reason"]
    assert states["tree-13"] == {"name": "tree-13", "state": "UNAVAILABLE", "reason": "not loaded"}
    ready_only = function.post("/v2/repository/index", json={"ready": True}, headers=KEY).json()
    assert {e["state"] for e in ready_only} == {"READY"} and "tree-10" in {e["name"] for e in ready_only}
    metadata = {row["name"]: row for row in function.get("/metadata", headers=KEY).json()["models"]}
    assert metadata["tree-10"]["state"] == "loaded" and metadata["tree-10"]["loads"] == 1
    assert metadata["tree-10"]["last_used"] is not None and metadata["tree-10"]["size_mb"] is not None
    assert metadata["broken"]["state"] == "failed" and metadata["tree-13"]["state"] == "not loaded"


def test_metadata_of_one_named_model_over_oip(function, zoo):
    answer = function.get("/v2/models/classifier-8", headers=KEY)
    assert answer.status_code == 200 and answer.json()["name"] == "classifier-8"
    assert function.get("/v2/models/classifier-8/ready", headers=KEY).json()["ready"] is True


def test_errors_and_logs_name_the_model(function, zoo, caplog):
    _, _, rows = zoo
    bad = [{**records(rows)[0], "pH": "acid"}]
    answer = function.post("/predict/tree-16", json=bad, headers=KEY)
    assert answer.status_code == 400 and answer.json()["error"]["model"] == "tree-16"
    request_lines = [r.json_fields for r in caplog.records if r.name == "predictor.requests"]
    assert request_lines and request_lines[-1]["model"] == "tree-16"


def test_health_and_readiness_load_nothing(function):
    assert function.get("/v2/health/ready", headers=KEY).json() == {"ready": True}
    ready = function.get("/ready", headers=KEY).json()
    assert ready["status"] == "ready" and {row["name"] for row in ready["models"]} >= {"tree-13", "broken"}


def test_a_long_list_of_names_is_cut(zoo):
    _, paths, rows = zoo
    many = {f"m{i}": paths["linear-0"] for i in range(30)}
    answer = in_process({"MODELS": models_setting(many)}).post("/predict/nope", json=records(rows))
    assert answer.status_code == 404 and "and 10 more" in answer.json()["error"]["message"]


def test_no_default_model_lists_the_names(zoo):
    _, paths, rows = zoo
    function = in_process({"MODELS": models_setting(dict(list(paths.items())[:3]))})
    answer = function.post("/predict", json=records(rows))
    assert answer.status_code == 404 and "/predict/<name>" in answer.json()["error"]["message"]
    assert function.post("/predict/tree-1", json=records(rows)).status_code == 200


@pytest.mark.parametrize(
    "env, variable",
    [
        ({"MODELS": "a=x.skops", "MODEL_URI": "y.skops"}, "MODEL_URI"),
        ({"MODELS": "a=x.skops", "DEFAULT_MODEL": "b"}, "DEFAULT_MODEL"),
        ({"MODELS": "a"}, "MODELS"),
        ({"MODELS": "a=x.skops,a=y.skops"}, "MODELS"),
        ({"MODELS": "../a=x.skops"}, "MODELS"),
        ({"MODELS": "a=gs://b"}, "MODELS"),
        ({"MODELS": "models:/*@champion"}, "MODEL_NAMES"),
        ({"MODELS": "a=models:/wine@champion"}, "MLFLOW_TRACKING_URI"),
        ({"MODELS": "missing.yaml"}, "MODELS"),
        ({"MODEL_URI": "x.skops", "DEFAULT_MODEL": "a"}, "DEFAULT_MODEL"),
        ({"MODEL_URI": "x.skops", "MODEL_NAMES": "a*"}, "MODEL_NAMES"),
        ({"MODELS": "a=x.skops", "MODEL_MEMORY_MB": "lots"}, "MODEL_MEMORY_MB"),
        ({"MODELS": "a=x.skops", "API_KEYS": "k:"}, "API_KEYS"),
        ({"MODELS": "models:/*", "MODEL_NAMES": "a*"}, "MODELS"),
        ({"MODELS": "a=x.skops", "MODEL_NAMES": "a*"}, "MODEL_NAMES"),
        ({"MODELS": "a=x.skops", "MODEL_SHA256": "0" * 64}, "MODEL_SHA256"),
        ({"MODELS": " , "}, "MODELS"),
        ({"MODELS": "{tmp}/bad.json"}, "MODELS"),
        ({"MODELS": "{tmp}/bad.yaml"}, "MODELS"),
        ({"MODELS": "{tmp}/list.yaml"}, "MODELS"),
        ({"MODELS": "{tmp}/bad-name.json"}, "MODELS"),
    ],
)
def test_bad_settings_name_their_variable(env, variable, tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "bad.yaml").write_text("a: [unclosed")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    (tmp_path / "bad-name.json").write_text('{"a/b": "x.skops"}')
    env = {key: value.replace("{tmp}", str(tmp_path)) for key, value in env.items()}
    answer = in_process(env).post("/predict", json=[{}])
    assert answer.status_code == 503
    assert answer.json()["error"]["details"]["variable"] == variable, answer.text


def test_models_from_a_yaml_or_json_file(zoo, tmp_path):
    models, paths, rows = zoo
    chosen = dict(list(paths.items())[:2])
    for name, text in [
        ("models.json", json.dumps({n: str(p) for n, p in chosen.items()})),
        ("models.yaml", "".join(f"{n}: {p}\n" for n, p in chosen.items())),
    ]:
        (tmp_path / name).write_text(text)
        function = in_process({"MODELS": str(tmp_path / name)})
        for model_name in chosen:
            answer = function.post(f"/predict/{model_name}", json=records(rows))
            assert predictions(answer.json()) == pytest.approx(expected(models[model_name], rows), rel=1e-12)


def test_one_model_mode_keeps_a_key_with_a_colon_whole_and_has_no_named_routes(trained, artifacts):
    function = in_process({"MODEL_URI": str(artifacts["skops file"]), "API_KEYS": "a:b"})
    rows = records(trained.test_x.head(2))
    assert function.post("/predict", json=rows, headers={"X-API-Key": "a:b"}).status_code == 200
    assert function.post("/predict", json=rows, headers={"X-API-Key": "a"}).status_code == 401
    named = function.post("/predict/model", json=rows, headers={"X-API-Key": "a:b"})
    assert named.status_code == 404 and "serves one model" in named.json()["error"]["message"]


# a real server: concurrent first loads, eviction under a budget while requests flow


@pytest.fixture(scope="module")
def forests(wine_data, tmp_path_factory):
    """Four forests big enough for their memory to count (a few MiB each), as joblib files: the
    first load imports scikit-learn (a skops forest is read without it)."""
    root = tmp_path_factory.mktemp("forests")
    features, quality = wine_data.drop(columns=["quality"]), wine_data["quality"]
    models, paths = {}, {}
    for i in range(4):
        model = RandomForestRegressor(n_estimators=20, random_state=i, n_jobs=2).fit(features, quality)
        model.set_params(n_jobs=None)
        paths[f"forest-{i}"] = root / f"forest-{i}.joblib"
        joblib.dump(model, paths[f"forest-{i}"])
        models[f"forest-{i}"] = model
    return models, paths, features.head(5)


def test_concurrent_first_requests_load_each_model_once(start_server, zoo):
    models, paths, rows = zoo
    five = dict(list(paths.items())[:5])
    server = start_server({"MODELS": models_setting(five), "THREADS": "16"})
    barrier = threading.Barrier(20)

    def ask(name):
        barrier.wait()
        return name, requests.post(f"{server.url}/predict/{name}", json=records(rows), timeout=60)

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(ask, [name for name in five for _ in range(4)]))
    for name, answer in answers:
        assert answer.status_code == 200, answer.text
        assert predictions(answer.json()) == pytest.approx(expected(models[name], rows), rel=1e-12)
    loaded = re.findall(r"model '([^']+)' loaded", server.log())
    assert sorted(loaded) == sorted(five), loaded


def test_preload_loads_the_default_model_alone(start_server, zoo):
    _, paths, _ = zoo
    server = start_server({"MODELS": models_setting(paths), "DEFAULT_MODEL": "tree-1", "PRELOAD": "1"})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "PRELOAD: the model is loaded" not in server.log():
        time.sleep(0.2)
    states = {row["name"]: row["state"] for row in server.get("/metadata").json()["models"]}
    assert states["tree-1"] == "loaded" and list(states.values()).count("loaded") == 1


def test_eviction_under_a_budget_fails_no_request(start_server, forests):
    models, paths, rows = forests
    # room for about two forests at a time: the loads evict as requests flow to all four
    server = start_server({"MODELS": models_setting(paths), "THREADS": "8", "MODEL_MEMORY_MB": "1"})
    sizes = []
    for name in paths:  # each loaded alone first: its size measured
        assert server.post(f"/predict/{name}", json=records(rows)).status_code == 200
        rows_shown = server.get("/metadata").json()["models"]
        sizes.append(next(row for row in rows_shown if row["name"] == name)["size_mb"])
    # the first load also carried the libraries it imported (100+ MiB): measured alone it was
    # that, and once loads without imports are known it counts as their average
    first, *others = paths
    shown = {row["name"]: row["size_mb"] for row in server.get("/metadata").json()["models"]}
    assert sizes[0] > 5 * max(sizes[1:])
    assert shown[first] <= 2 * max(shown[name] for name in others)
    budget = max(2, round(2.5 * float(np.median(sizes[1:]))))
    server.process.terminate()
    server.process.wait()
    server = start_server({"MODELS": models_setting(paths), "THREADS": "8", "MODEL_MEMORY_MB": str(budget)})
    names = [name for _ in range(6) for name in paths]

    def ask(name):
        return name, requests.post(f"{server.url}/predict/{name}", json=records(rows), timeout=60)

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(ask, names))
    failed = [(name, a.status_code) for name, a in answers if a.status_code != 200]
    assert not failed
    for name, answer in answers:
        assert predictions(answer.json()) == pytest.approx(expected(models[name], rows), rel=1e-12)
    for name in paths:  # one at a time, nothing else in flight: each load keeps the budget
        assert server.post(f"/predict/{name}", json=records(rows)).status_code == 200
    metadata = server.get("/metadata").json()
    assert sum(row["evictions"] for row in metadata["models"]) > 0
    assert 0 < metadata["memory"]["loaded_mb"] <= budget, (metadata, budget)
    assert "evicted to make room" in server.log()


def test_each_model_has_its_own_openapi_document(zoo, tmp_path):
    import pandas as pd
    from openapi_spec_validator import validate

    _, paths, _ = zoo
    pair = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "y": [1.0, 0.0, 1.0, 0.0]})
    skops.io.dump(ElasticNet(alpha=0.1).fit(pair, [0.0, 1.0, 2.0, 3.0]), tmp_path / "pair.skops")
    both = {"pair": tmp_path / "pair.skops", "wine": paths["linear-0"]}
    function = in_process({"MODELS": models_setting(both), "API_KEYS": "all,pair-only:pair"})
    key = {"X-API-Key": "all"}

    def features(query: str) -> dict:
        answer = function.get(f"/openapi.json{query}", headers=key)
        assert answer.status_code == 200, answer.text
        validate(answer.json())
        return answer.json()

    assert set(features("?model=pair")["components"]["schemas"]["Features"]["properties"]) == {"x", "y"}
    wine = features("?model=wine")
    assert list(wine["components"]["schemas"]["Features"]["properties"]) == list(zoo[2].columns)
    assert wine["info"]["title"].endswith(": wine")
    anyone = features("")  # no DEFAULT_MODEL: each model's features are its own document's
    assert anyone["components"]["schemas"]["Features"]["type"] == "object"
    assert "model" in {p["name"] for p in anyone["paths"]["/openapi.json"]["get"]["parameters"]}
    assert function.get("/openapi.json?model=nope", headers=key).status_code == 404
    assert function.get("/openapi.json?model=../pair", headers=key).status_code == 400
    scoped = function.get("/openapi.json?model=wine", headers={"X-API-Key": "pair-only"})
    assert scoped.status_code == 403
    assert 'openapi.json?model=pair"' in function.get("/docs?model=pair").text
    assert 'openapi.json?model=%3Cb%3E"' in function.get("/docs?model=<b>").text  # nothing unescaped


def test_one_model_mode_has_no_document_by_name(trained, artifacts):
    function = in_process({"MODEL_URI": str(artifacts["skops file"])})
    assert function.get("/openapi.json").json()["info"]["title"] == "MLflow model function"
    assert function.get("/openapi.json?model=wine").status_code == 404


def test_a_read_forests_compiled_trees_count_in_its_size(wine_data, tmp_path):
    """A forest read without scikit-learn builds scikit-learn's compiled trees (a copy of its
    nodes and values) for its first large batch, after its load was measured: once built, they
    count in its size, and so in MODEL_MEMORY_MB."""
    from predictor.loading.forest_models import COMPILED_FROM

    features, quality = wine_data.drop(columns=["quality"]), wine_data["quality"]
    forest = RandomForestRegressor(n_estimators=20, random_state=0, n_jobs=2).fit(features, quality)
    skops.io.dump(forest.set_params(n_jobs=None), tmp_path / "forest.skops")
    function = in_process({"MODELS": f"forest={tmp_path / 'forest.skops'}", "MODEL_MEMORY_MB": "10000"})

    def size_mb() -> float:
        return function.get("/metadata").json()["models"][0]["size_mb"]

    assert function.post("/predict/forest", json=records(features.head(3))).status_code == 200
    before = size_mb()
    large = features.sample(COMPILED_FROM // 20, replace=True, random_state=0)  # rows x 20 trees
    answer = function.post("/predict/forest", json=records(large))
    assert answer.status_code == 200  # walked, the build started beside it
    assert predictions(answer.json()) == pytest.approx(forest.predict(large).tolist(), rel=1e-12)
    copied = sum(t.tree_.__getstate__()["nodes"].nbytes + t.tree_.value.nbytes for t in forest.estimators_)
    deadline = time.monotonic() + 30
    while size_mb() == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert size_mb() == pytest.approx(before + copied / 2**20, abs=0.11)
    assert function.get("/metadata").json()["memory"]["loaded_mb"] == pytest.approx(size_mb(), abs=0.11)
