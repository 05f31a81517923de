"""LOADER_PROCESS: a model deserialized, checked and proven in a spawned process answers as the
same model loaded here, for every kind; its errors arrive as they were raised; a load that
kills that process fails alone; and in a real function the loader follows the worker."""

from __future__ import annotations

import os
import pickle
import signal
import sys
import time
from pathlib import Path

import mlflow.sklearn
import numpy as np
import pytest
import skops.io
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from predictor.errors import IntegrityMismatch, ModelUnavailable, UntrustedArtifact
from predictor.loading.deserialize import deserialize
from predictor.loading.load import load_served_model
from predictor.loading.loader_process import LoaderProcess
from support import QUICK, error_of, loader_processes, records, status_mib, worker_pid


class ExitsWhenUnpickled:
    """A pickle whose loading ends the process that loads it, as the kernel's out-of-memory
    killer would."""

    def __reduce__(self):
        return (signal.raise_signal, (signal.SIGKILL,))


@pytest.fixture(scope="module")
def loader():
    process = LoaderProcess()
    process.start()  # in the background, as the repository starts it after a first load
    process.start()  # once
    yield process
    process.close()


@pytest.fixture(scope="module")
def kinds(wine_data):
    """Five kinds of model, each with the rows it answers: trained once for the module."""
    X, y = wine_data.drop(columns=["quality"]).head(800), wine_data["quality"].head(800)
    gaps = X.mask(np.random.default_rng(0).random(X.shape) < 0.1)
    good = (y > 6).astype(int)
    return {
        "forest regressor": (
            RandomForestRegressor(n_estimators=10, max_depth=6, random_state=0).fit(X, y),
            X,
        ),
        "forest classifier": (RandomForestClassifier(n_estimators=10, random_state=0).fit(X, good), X),
        "histogram boosting with gaps": (HistGradientBoostingRegressor(max_iter=20).fit(gaps, y), gaps),
        "pipeline with gaps": (
            make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(max_iter=300)).fit(
                gaps, good
            ),
            gaps,
        ),
        "fitted on arrays": (LinearRegression().fit(X.to_numpy(), y), X),
    }


@pytest.mark.parametrize("fmt", ["skops file", "MLflow folder"])
@pytest.mark.parametrize(
    "kind",
    [
        "forest regressor",
        "forest classifier",
        "histogram boosting with gaps",
        "pipeline with gaps",
        "fitted on arrays",
    ],
)
def test_a_model_read_there_answers_as_read_here(loader, kinds, tmp_path, kind, fmt):
    model, X = kinds[kind]
    if fmt == "skops file":
        path = tmp_path / "model.skops"
        skops.io.dump(model, path)
        trusted = skops.io.get_untrusted_types(file=path)
    else:
        path = tmp_path / "model"
        trusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
        example = X.head(2) if kind != "fitted on arrays" else X.head(2).to_numpy()
        mlflow.sklearn.save_model(model, path, skops_trusted_types=trusted, input_example=example, **QUICK)
    there = loader.deserialize(path, None, trusted, 2)
    here = deserialize(path, None, trusted, 2)
    assert there is not None
    assert type(there.kernel) is type(here.kernel)
    assert there.features.columns == here.features.columns
    assert (there.lean is None) == (here.lean is None)
    rows = X.head(40)
    matrix = rows.to_numpy(dtype=np.float64)
    assert np.array_equal(there.artifact.estimator.predict(rows), model.predict(rows))
    if here.kernel is not None:
        complete = matrix[~np.isnan(matrix).any(axis=1)]
        assert np.array_equal(there.kernel(complete), here.kernel(complete))
        assert np.array_equal(there.kernel(complete), model.predict(complete))


def test_errors_arrive_with_their_code_and_details(loader, kinds, tmp_path):
    model, _ = kinds["forest regressor"]
    path = tmp_path / "model.skops"
    skops.io.dump(model, path)
    with pytest.raises(IntegrityMismatch) as pinned:
        loader.deserialize(path, "0" * 64, (), 1)
    assert pinned.value.details["expected_sha256"] == "0" * 64
    assert pinned.value.body()["error"]["code"] == "model_integrity"
    untrusted = tmp_path / "untrusted.skops"
    skops.io.dump(make_pipeline(FunctionTransformer(np.round, kw_args={"decimals": 1}), model), untrusted)
    with pytest.raises(UntrustedArtifact) as refused:
        loader.deserialize(untrusted, None, (), 1)
    assert refused.value.details == {"untrusted_types": ["numpy.round"]}
    assert "SKOPS_TRUSTED_TYPES" in refused.value.message


def test_the_wine_model_read_without_scikit_learn_travels_back_as_it_is(loader, trained, tmp_path):
    path = tmp_path / "wine.skops"
    skops.io.dump(trained.model, path)
    there = loader.deserialize(path, None, (), 1)
    assert type(there.artifact.estimator) is type(deserialize(path, None, (), 1).artifact.estimator)
    assert type(there.artifact.estimator).__name__ == "ElasticNet"
    X = trained.test_x.to_numpy()
    assert np.array_equal(there.kernel(X), trained.model.predict(X))


class KeepsALock:
    """A model (of a class pickled by value, as a notebook's is) that makes a lock as it loads:
    it cannot be pickled back."""

    def __init__(self, coef):
        self.coef, self.n_features_in_ = coef, len(coef)

    def __setstate__(self, state):
        import threading

        self.__dict__.update(state, lock=threading.Lock())

    def predict(self, X):
        return np.asarray(X) @ self.coef


def test_a_model_that_cannot_travel_back_is_read_here(loader, trained, tmp_path):
    import cloudpickle

    module = sys.modules[__name__]
    cloudpickle.register_pickle_by_value(module)
    try:
        path = tmp_path / "model.pkl"
        path.write_bytes(cloudpickle.dumps(KeepsALock(np.arange(11.0))))
    finally:
        cloudpickle.unregister_pickle_by_value(module)
    assert loader.deserialize(path, None, (), 1) is None
    served = load_served_model(str(path), loader=loader)
    X = trained.test_x.head(5).to_numpy()
    assert served.predict(X) == (X @ np.arange(11.0)).tolist()


def test_a_load_that_ends_the_process_fails_alone_and_the_next_starts_another(loader, kinds, tmp_path):
    crash = tmp_path / "crash.pkl"
    crash.write_bytes(pickle.dumps(ExitsWhenUnpickled()))
    before = loader.pid()
    with pytest.raises(ModelUnavailable, match="ended the process that loads it"):
        load_served_model(str(crash), loader=loader)
    model, X = kinds["forest regressor"]
    path = tmp_path / "model.skops"
    skops.io.dump(model, path)
    served = load_served_model(str(path), loader=loader)
    assert served.predict(X.head(3).to_numpy()) == model.predict(X.head(3)).tolist()
    assert loader.pid() != before


def test_a_loader_process_killed_while_idle_is_replaced_before_the_next_load(loader, kinds, tmp_path):
    model, X = kinds["forest regressor"]
    path = tmp_path / "model.skops"
    skops.io.dump(model, path)
    killed = loader.pid()
    os.kill(killed, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and alive(killed):
        time.sleep(0.05)
    time.sleep(0.5)  # the pool's own thread sees it gone
    served = load_served_model(str(path), loader=loader)  # not this load's doing: no 503
    assert served.predict(X.head(3).to_numpy()) == model.predict(X.head(3)).tolist()
    assert loader.pid() != killed


def test_in_a_function_loads_beside_a_loaded_model_run_there_and_the_loader_follows_the_worker(
    start_server, kinds, tmp_path
):
    models = kinds
    paths = {}
    for name in ("forest regressor", "pipeline with gaps"):
        paths[name.split()[0]] = tmp_path / f"{name.split()[0]}.skops"
        skops.io.dump(models[name][0], paths[name.split()[0]])
    crash = tmp_path / "crash.pkl"
    crash.write_bytes(pickle.dumps(ExitsWhenUnpickled()))
    setting = ",".join(f"{name}={path}" for name, path in {**paths, "crash": crash}.items())
    trusted = sorted({t for p in paths.values() for t in skops.io.get_untrusted_types(file=p)})
    server = start_server(
        {"MODELS": setting, "LOADER_PROCESS": "1", "SKOPS_TRUSTED_TYPES": ",".join(trusted)}
    )
    rows = models["forest regressor"][1].head(4)
    first = server.post("/predict/forest", json=records(rows))  # nothing loaded yet: loaded here
    assert first.status_code == 200, first.text
    assert first.json() == models["forest regressor"][0].predict(rows).tolist()
    worker = worker_pid(server)
    loader = wait_for_loader(worker)

    crashed = server.post("/predict/crash", json=records(rows))  # would have ended the worker
    assert crashed.status_code == 503 and error_of(crashed.json())["code"] == "model_unavailable"
    gappy = models["pipeline with gaps"][1].head(6)
    with_nulls = [{k: None if np.isnan(v) else v for k, v in row.items()} for row in records(gappy)]
    answer = server.post("/predict/pipeline", json=with_nulls)
    assert answer.status_code == 200, answer.text
    assert answer.json() == models["pipeline with gaps"][0].predict(gappy).tolist()
    assert server.post("/predict/forest", json=records(rows)).json() == first.json()
    assert worker_pid(server) == worker
    assert "the loader process ended" in server.log()

    loader = wait_for_loader(worker)  # the one started after the crash, idle since it read the pipeline
    shown = server.get("/metadata").json()["memory"]["loader_process_mb"]  # outside the budget: apart
    assert shown == pytest.approx(status_mib(loader, "VmRSS"), abs=5)
    os.kill(worker, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and alive(loader):
        time.sleep(0.1)
    assert not alive(loader), "the loader process outlived the worker that started it"


def wait_for_loader(worker: int) -> int:
    """The worker's loader process: a spawned multiprocessing child."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if found := loader_processes(worker):
            return found[0]
        time.sleep(0.1)
    raise AssertionError("the worker started no loader process")


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has ended; its parent (gone) will never reap it
