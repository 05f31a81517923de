"""Hot reload: a new artifact in the bucket is served within MODEL_RELOAD_SECONDS, with no failed
request while it is swapped in; a bad new artifact leaves the old model serving."""

import threading
import time

import pytest
import requests
import skops.io

from support import loader_processes, records, train_recipe, worker_pid


@pytest.fixture(scope="module")
def retrained(wine_data):
    """The same recipe with another alpha: a model whose answers differ."""
    return train_recipe.train(wine_data, 0.05, 0.5).model


def upload_model(gcs, model, tmp_path, name):
    path = tmp_path / f"{name}.skops"
    skops.io.dump(model, path)
    return gcs.upload(path, "reload", "serving/model.skops")


class Clients:
    """Threads sending the same rows until stopped; every answer kept."""

    def __init__(self, url, rows, threads=4):
        self.answers, self._stop = [], threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(url, rows)) for _ in range(threads)]

    def _run(self, url, rows):
        session = requests.Session()
        while not self._stop.is_set():
            response = session.post(url + "/predict", json=rows, timeout=30)
            self.answers.append((response.status_code, response.json()))

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join()


def wait_for(predicate, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("loader_process", ["", "1"])
def test_a_new_generation_is_swapped_in_without_a_failed_request(
    gcs, start_server, trained, retrained, tmp_path, loader_process
):
    """With LOADER_PROCESS the reload (a load beside the loaded model) is read in that process."""
    uri = upload_model(gcs, trained.model, tmp_path, "first")
    server = start_server({"MODEL_URI": uri, "MODEL_RELOAD_SECONDS": "1", "LOADER_PROCESS": loader_process})
    test_x = trained.test_x.head(20)
    old, new = trained.model.predict(test_x).tolist(), retrained.predict(test_x).tolist()
    assert old != new
    with Clients(server.url, records(test_x)) as clients:
        assert wait_for(lambda: len(clients.answers) > 20, 30)
        upload_model(gcs, retrained, tmp_path, "second")
        generation = gcs.client.bucket("reload").get_blob("serving/model.skops").generation
        switched = wait_for(lambda: clients.answers[-1][1] == new, 30)
        time.sleep(0.5)
    assert switched, f"the new model was not served within the interval:\n{server.log()}"
    assert {status for status, _ in clients.answers} == {200}
    assert all(answer in (old, new) for _, answer in clients.answers)
    assert server.get("/ready").json()["model"]["generations"] == {"serving/model.skops": generation}
    assert "the model artifact changed" in server.log()
    assert bool(loader_processes(worker_pid(server))) == bool(loader_process)


def test_a_bad_new_artifact_keeps_the_old_model_serving(gcs, start_server, trained, tmp_path):
    uri = upload_model(gcs, trained.model, tmp_path, "good")
    server = start_server({"MODEL_URI": uri, "MODEL_RELOAD_SECONDS": "1"})
    test_x = trained.test_x.head(5)
    expected = trained.model.predict(test_x).tolist()
    assert server.post(json=records(test_x)).json() == expected
    (tmp_path / "broken.skops").write_bytes(b"not a zip file")
    gcs.upload(tmp_path / "broken.skops", "reload", "serving/model.skops")

    def reload_failed():
        server.post(json=[])  # requests are what start the periodic check
        return "model reload failed" in server.log()

    # the check is due within a second; the window is wide for a loaded machine
    assert wait_for(reload_failed, 30), server.log()
    for _ in range(5):
        assert server.post(json=records(test_x)).json() == expected
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # five more intervals of requests
        server.post(json=[])
        time.sleep(0.1)
    # the same bad generation is tried again after 2 intervals, then 4: not five times more
    assert server.log().count("model reload failed") <= 3


def test_reload_off(gcs, start_server, trained, retrained, tmp_path):
    uri = upload_model(gcs, trained.model, tmp_path, "kept")
    server = start_server({"MODEL_URI": uri, "MODEL_RELOAD_SECONDS": "0"})
    test_x = trained.test_x.head(5)
    assert server.post(json=records(test_x)).json() == trained.model.predict(test_x).tolist()
    upload_model(gcs, retrained, tmp_path, "ignored")
    time.sleep(2)
    for _ in range(3):
        assert server.post(json=records(test_x)).json() == trained.model.predict(test_x).tolist()
