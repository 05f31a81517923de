"""GCS misbehaving between the function and the emulator: retried when transient, a 503 JSON
answer (never a 500 or HTML) while it lasts, and never a half-read or corrupted model loaded."""

import pickle
import time

import pytest

from fault_proxy import FaultProxy
from support import CreatesFileWhenUnpickled, error_of, records

TIMEOUT = 3  # GCS_TIMEOUT_SECONDS for these servers


@pytest.fixture
def proxy(gcs):
    with FaultProxy(gcs.url, stall_seconds=TIMEOUT * 3) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def model_uri(gcs, artifacts):
    return gcs.upload(artifacts["skops file"], "faults", "wine/model.skops")


def serve(start_server, proxy, uri):
    return start_server(
        {"MODEL_URI": uri, "STORAGE_EMULATOR_HOST": proxy.url, "GCS_TIMEOUT_SECONDS": str(TIMEOUT)}
    )


def assert_unavailable(response):
    assert response.status_code == 503, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert error_of(response.json())["code"] == "model_unavailable"
    assert int(response.headers["Retry-After"]) > 0


@pytest.mark.parametrize(
    "kind, times, media_only",
    [("503", 2, True), ("503", 2, False), ("reset", 1, True), ("reset", 1, False)],
)
def test_transient_faults_are_retried_by_the_storage_client(
    start_server, proxy, model_uri, trained, kind, times, media_only
):
    proxy.inject(kind, times, media_only)
    server = serve(start_server, proxy, model_uri)
    test_x = trained.test_x.head(5)
    response = server.post(json=records(test_x))
    assert response.status_code == 200, response.text
    assert response.json() == trained.model.predict(test_x).tolist()
    if media_only:
        assert proxy.media_downloads("wine/model.skops") == times + 1


@pytest.mark.parametrize("kind", ["stall", "truncate", "corrupt", "503"])
def test_lasting_faults_answer_503_and_the_next_request_recovers(
    start_server, proxy, model_uri, trained, kind
):
    proxy.inject(kind, times=None)
    server = serve(start_server, proxy, model_uri)
    started = time.monotonic()
    assert_unavailable(server.post(json=[]))
    assert time.monotonic() - started < TIMEOUT * 4  # every call is bounded
    assert server.get("/health").status_code == 200
    proxy.clear()
    test_x = trained.test_x.head(5)
    assert server.post(json=records(test_x)).json() == trained.model.predict(test_x).tolist()


@pytest.mark.parametrize("kind", ["truncate", "corrupt"])
def test_a_damaged_download_is_never_deserialized(start_server, proxy, gcs, tmp_path, kind):
    marker = tmp_path / "unpickled"
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(CreatesFileWhenUnpickled(str(marker))) + b"\0" * 64)
    uri = gcs.upload(path, "faults", f"{kind}/model.pkl")
    proxy.inject(kind, times=None)
    server = serve(start_server, proxy, uri)
    assert_unavailable(server.post(json=[]))
    assert not marker.exists()
