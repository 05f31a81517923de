"""Serving from the MLflow Model Registry: a real `mlflow server` with basic auth and proxied
artifacts, two registered versions that answer differently, and the alias followed live.
(The `gs://` artifact root is covered by test_train_to_serve.py's whole loop.)"""

import base64
import hashlib
import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
import requests

from fault_proxy import MLFLOW_DOWNLOADS, FaultProxy
from support import QUICK, error_of, free_port, in_process, records, train_recipe, unmeasured, wait_until_up

USER, PASSWORD = "admin", "a-long-test-password"
NAME = "wine"
MISSING, REFUSED = "model_not_found", "model_unavailable"


@dataclass
class Registry:
    url: str
    process: subprocess.Popen
    versions: dict  # version -> (ModelInfo, the fitted model)

    def auth(self, password: str = PASSWORD) -> dict[str, str]:
        return {
            "MLFLOW_TRACKING_URI": self.url,
            "MLFLOW_TRACKING_USERNAME": USER,
            "MLFLOW_TRACKING_PASSWORD": password,
        }

    def set_alias(self, alias: str, version: str) -> None:
        response = requests.post(
            f"{self.url}/api/2.0/mlflow/registered-models/alias",
            json={"name": NAME, "alias": alias, "version": version},
            auth=(USER, PASSWORD),
            timeout=30,
        )
        assert response.ok, response.text


@pytest.fixture(scope="module")
def registry(trained, wine_data, tmp_path_factory):
    """`mlflow server --app-name basic-auth` with proxied artifacts on disk, and two versions of
    `wine` (different alphas, so different answers); alias `champion` on version 1."""
    port, workdir = free_port(), tmp_path_factory.mktemp("registry")
    log_path = workdir / "server.log"
    # MLflow's own basic_auth.ini, with its credential cache on: without it every request hashes
    # the password again (scrypt, ~0.1 s), a tenth of this file's time
    config = workdir / "basic_auth.ini"
    config.write_text(
        "[mlflow]\ndefault_permission = READ\ndatabase_uri = sqlite:///basic_auth.db\n"
        "admin_username = admin\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        "auth_cache_ttl_seconds = 600\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--app-name", "basic-auth", "--host", "127.0.0.1"]
        + ["--port", str(port), "--workers", "1", "--backend-store-uri", f"sqlite:///{workdir / 'mlflow.db'}"]
        + ["--artifacts-destination", str(workdir / "artifacts")],
        cwd=workdir,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        env=unmeasured(
            MLFLOW_AUTH_ADMIN_PASSWORD=PASSWORD,
            MLFLOW_AUTH_CONFIG_PATH=str(config),
            MLFLOW_FLASK_SERVER_SECRET_KEY="test-only",
            MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",  # no job runner: a process these tests never use
        ),
    )
    try:  # a failure while setting up must not leave the server running
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url + "/health", process, log_path, 120)
        versions = {}
        with pytest.MonkeyPatch.context() as env:
            import mlflow

            for name, value in Registry(url, process, {}).auth().items():
                env.setenv(name, value)
            mlflow.set_tracking_uri(url)
            for version, alpha in (("1", 0.05), ("2", 0.9)):
                model = train_recipe.train(wine_data, alpha, 0.3).model
                with mlflow.start_run():
                    info = mlflow.sklearn.log_model(
                        model,
                        name="model",
                        registered_model_name=NAME,
                        input_example=trained.train_x.head(3),
                        **QUICK,
                    )
                versions[version] = (info, model)
            mlflow.set_tracking_uri(None)
        registry = Registry(url, process, versions)
        registry.set_alias("champion", "1")
        yield registry
    finally:
        process.terminate()
        process.wait(timeout=30)


def predictions(registry, version, rows):
    return registry.versions[version][1].predict(rows).tolist()


@pytest.mark.parametrize(
    "uri, version",
    [
        ("models:/wine@champion", "1"),
        ("models:/wine/2", "2"),
        ("models:/{model_id_2}", "2"),
        ("runs:/{run_id_1}/model", "1"),
        ("mlflow-artifacts:/{artifacts_2}", "2"),
    ],
)
def test_each_mlflow_uri_serves_its_versions_exact_predictions(registry, trained, uri, version):
    info = registry.versions[version][0]
    uri = uri.format(
        model_id_2=registry.versions["2"][0].model_id,
        run_id_1=registry.versions["1"][0].run_id,
        artifacts_2=f"0/models/{registry.versions['2'][0].model_id}/artifacts",
    )
    app = in_process({"MODEL_URI": uri, **registry.auth()})
    test_x = trained.test_x.head(50)
    answer = app.post("/predict", json=records(test_x))
    assert answer.status_code == 200, answer.text
    assert answer.json() == predictions(registry, version, test_x)
    assert predictions(registry, "1", test_x) != predictions(registry, "2", test_x)
    mlflow = app.get("/ready").json()["model"]["mlflow"]
    assert mlflow["run_id"] == (None if uri.startswith("mlflow-artifacts:") else info.run_id)
    if uri.startswith("models:/wine"):
        assert (mlflow["registered_model"], mlflow["version"]) == (NAME, version)


def test_the_registry_names_the_model_in_metadata_and_the_open_inference_protocol(registry, trained, capsys):
    app = in_process({"MODEL_URI": "models:/wine@champion", "PREDICTION_LOG_SAMPLE": "1", **registry.auth()})
    described = app.get("/metadata").json()["mlflow"]
    assert described == {
        "registered_model": NAME,
        "version": "1",
        "alias": "champion",
        "run_id": registry.versions["1"][0].run_id,
        "model_id": registry.versions["1"][0].model_id,
        "artifact_uri": f"mlflow-artifacts:/0/models/{registry.versions['1'][0].model_id}/artifacts",
    }
    oip = app.get("/v2/models/wine").json()
    assert (oip["name"], oip["versions"]) == (NAME, ["1"])
    row = trained.test_x.head(1)
    tensor = {"name": "x", "shape": [1, 11], "datatype": "FP64", "data": row.to_numpy().ravel().tolist()}
    answer = app.post("/v2/models/wine/versions/1/infer", json={"inputs": [tensor]}).json()
    assert answer["model_version"] == "1"
    assert answer["outputs"][0]["data"] == predictions(registry, "1", row)
    other = app.post("/v2/models/wine/versions/2/infer", json={"inputs": [tensor]})
    assert other.status_code == 404 and "served at version 1, not 2" in error_of(other.json())["message"]
    lines = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"predictor.capture"' in line
    ]
    assert lines[0]["model"]["registered_model"] == NAME and lines[0]["model"]["version"] == "1"


@pytest.mark.parametrize(
    "uri, password, code, words",
    [
        ("models:/wine@nobody", PASSWORD, MISSING, "alias 'nobody' of registered model 'wine'"),
        (
            "models:/wine/9",
            PASSWORD,
            "model_not_found",
            "version 9 of registered model 'wine' does not exist",
        ),
        (
            "models:/nosuch@champion",
            PASSWORD,
            "model_not_found",
            "of registered model 'nosuch' does not exist",
        ),
        ("models:/m-" + "0" * 32, PASSWORD, MISSING, "logged model 'm-0000"),
        ("runs:/0123abc/model", PASSWORD, MISSING, "run '0123abc' does not exist"),
        (
            "mlflow-artifacts:/0/nothing/here",
            PASSWORD,
            "model_not_found",
            "no artifacts at mlflow-artifacts:/0",
        ),
        ("models:/wine@champion", "wrong-password", REFUSED, "refused alias 'champion'"),
    ],
)
def test_what_cannot_be_resolved_is_a_503_naming_it(registry, uri, password, code, words):
    answer = in_process({"MODEL_URI": uri, **registry.auth(password)}).post("/predict", json=[{}])
    assert answer.status_code == 503 and answer.headers["Retry-After"]
    error = error_of(answer.json())
    assert error["code"] == code and words in error["message"], error
    assert password not in answer.text


def test_no_tracking_server_at_cold_start_is_a_503_with_retry_after():
    unreachable = f"http://someone:url-secret@127.0.0.1:{free_port()}"  # credentials in the URL
    env = {"MODEL_URI": "models:/wine@champion", "MLFLOW_TRACKING_URI": unreachable}
    answer = in_process({**env, "MLFLOW_HTTP_REQUEST_TIMEOUT": "2"}).post("/predict", json=[{}])
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
    assert error_of(answer.json())["code"] == "model_unavailable"
    assert "did not answer alias 'champion'" in error_of(answer.json())["message"]
    assert "url-secret" not in answer.text


@pytest.fixture
def proxied(registry):
    """The fault proxy in front of the tracking server: it records requests and injects faults."""
    with FaultProxy(registry.url, stall_seconds=5) as proxy:
        yield proxy


@pytest.mark.parametrize(
    "fault, times, media_only",
    [
        ("503", 2, False),  # retried by urllib3, with backoff
        ("reset", 1, True),  # a download cut before its answer: retried
        ("truncate", 2, True),  # shorter than listed: retried from the start
    ],
)
def test_transient_tracking_faults_are_retried(registry, proxied, trained, fault, times, media_only):
    proxied.inject(fault, times, media_only)
    env = {**registry.auth(), "MLFLOW_TRACKING_URI": proxied.url, "MODEL_URI": "models:/wine/2"}
    answer = in_process(env).post("/predict", json=records(trained.test_x.head(3)))
    assert answer.status_code == 200, answer.text
    assert answer.json() == predictions(registry, "2", trained.test_x.head(3))


def test_corrupted_bytes_are_refused_by_the_pin_and_the_next_request_recovers(registry, proxied, trained):
    model_id = registry.versions["2"][0].model_id
    original = requests.get(
        f"{registry.url}{MLFLOW_DOWNLOADS}0/models/{model_id}/artifacts/model.skops",
        auth=(USER, PASSWORD),
        timeout=30,
    )
    pinned = hashlib.sha256(original.content).hexdigest()
    proxied.inject("corrupt", 1, path_end="/model.skops")  # same length, other bytes: a checksum tells
    env = {
        **registry.auth(),
        "MLFLOW_TRACKING_URI": proxied.url,
        "MODEL_URI": "models:/wine/2",
        "MODEL_SHA256": pinned,
    }
    app = in_process(env)
    first = app.post("/predict", json=records(trained.test_x.head(3)))
    assert first.status_code == 503 and error_of(first.json())["code"] == "model_integrity"
    second = app.post("/predict", json=records(trained.test_x.head(3)))
    assert second.status_code == 200 and second.json() == predictions(registry, "2", trained.test_x.head(3))


def test_a_lasting_short_download_is_a_503_and_nothing_half_written_is_loaded(registry, proxied):
    proxied.inject("truncate", None)
    env = {**registry.auth(), "MLFLOW_TRACKING_URI": proxied.url, "MODEL_URI": "models:/wine/2"}
    answer = in_process(env).post("/predict", json=[{}])
    assert answer.status_code == 503
    assert "downloaded" in error_of(answer.json())["message"] and "bytes of 0/models/" in answer.text
    downloads = [path for method, path, _ in proxied.requests if path.startswith(MLFLOW_DOWNLOADS)]
    assert len(downloads) == len(set(downloads)) * 3  # three tries per file


def test_a_tracking_server_answering_errors_is_a_503_that_says_so(registry, proxied):
    proxied.inject("503", None, media_only=False)
    env = {**registry.auth(), "MLFLOW_TRACKING_URI": proxied.url, "MODEL_URI": "models:/wine@champion"}
    answer = in_process(env).post("/predict", json=[{}])
    assert answer.status_code == 503
    assert (
        "answered alias 'champion' of registered model 'wine' with 503" in error_of(answer.json())["message"]
    )


def test_a_single_file_artifact(registry, trained):
    model_id = registry.versions["2"][0].model_id
    uri = f"mlflow-artifacts:/0/models/{model_id}/artifacts/model.skops"
    answer = in_process({"MODEL_URI": uri, **registry.auth()}).post("/predict", json=records(trained.test_x))
    assert answer.status_code == 200 and answer.json() == predictions(registry, "2", trained.test_x)


def jwt_part(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.fixture
def token_endpoint():
    """A stand-in for Google's OAuth token endpoint (the one part that cannot exist here): it
    records each signed assertion and answers with an ID token for the audience asked for."""
    assertions = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
            claims = json.loads(base64.urlsafe_b64decode(form["assertion"][0].split(".")[1] + "=="))
            assertions.append(claims)
            token = ".".join(
                [
                    jwt_part({"alg": "RS256"}),
                    jwt_part({"aud": claims["target_audience"], "exp": time.time() + 3600}),
                    "c2ln",
                ]
            )
            body = json.dumps({"id_token": token}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/token", assertions
    server.shutdown()


def service_account_key(path, token_uri):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "demo",
                "private_key_id": "1",
                "private_key": pem,
                "client_email": "function@demo.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": token_uri,
            }
        )
    )
    return str(path)


def test_a_bearer_token_and_a_google_id_token_reach_the_tracking_server(
    registry, proxied, token_endpoint, tmp_path, monkeypatch
):
    """Both are sent as `Authorization: Bearer`; this basic-auth server does not take them: a 503.
    (MLflow answers a bearer token with 401, which our message turns into the ways to authenticate;
    with its credential cache on, as here, with 500 — it reads the password of a header that has
    none. The 401 message is the wrong-password row above.)"""
    # a 500 is retried within the request timeout: a short one keeps this test short
    base = {
        "MODEL_URI": "models:/wine@champion",
        "MLFLOW_TRACKING_URI": proxied.url,
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "1",
    }
    answer = in_process({**base, "MLFLOW_TRACKING_TOKEN": "a-token"}).post("/predict", json=[{}])
    assert answer.status_code == 503 and error_of(answer.json())["code"] == REFUSED
    assert "a-token" not in answer.text
    assert proxied.authorizations[-1] == "Bearer a-token"

    token_uri, assertions = token_endpoint
    monkeypatch.setenv(
        "GOOGLE_APPLICATION_CREDENTIALS", service_account_key(tmp_path / "key.json", token_uri)
    )
    answer = in_process({**base, "TRACKING_AUTH": "google-id-token"}).post("/predict", json=[{}])
    assert answer.status_code == 503 and error_of(answer.json())["code"] == REFUSED
    assert assertions[-1]["target_audience"] == proxied.url
    scheme, token = proxied.authorizations[-1].split(" ")
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert scheme == "Bearer" and claims["aud"] == proxied.url


def test_no_google_credentials_is_a_503_that_says_so(registry, tmp_path, monkeypatch):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    env = {
        "MODEL_URI": "models:/wine@champion",
        "MLFLOW_TRACKING_URI": registry.url,
        "TRACKING_AUTH": "google-id-token",
    }
    answer = in_process(env).post("/predict", json=[{}])
    assert answer.status_code == 503
    assert "could not get a Google ID token" in error_of(answer.json())["message"]


def test_moving_the_alias_switches_the_function_with_no_failed_request(registry, trained, start_server):
    """Runs last: it stops the tracking server to show a loaded model keeps serving without it."""
    env = {**registry.auth(), "MODEL_RELOAD_SECONDS": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "2"}
    following = start_server({**env, "MODEL_URI": "models:/wine@champion"})
    pinned = start_server({**env, "MODEL_URI": "models:/wine/1"})
    # many models in one function: the alias followed by name, the registry form, a pinned one
    many = start_server(
        {**env, "MODELS": "champion=models:/wine@champion,first=models:/wine/1", "DEFAULT_MODEL": "first"}
    )
    any_champion = start_server({**env, "MODELS": "models:/*@champion", "MODEL_NAMES": "wi*,nosuch*"})
    rows = trained.test_x.head(20)
    body = records(rows)
    v1, v2 = predictions(registry, "1", rows), predictions(registry, "2", rows)
    assert following.post(json=body).json() == v1 == pinned.post(json=body).json()
    assert many.post("/predict/champion", json=body).json() == v1 == many.post(json=body).json()
    assert any_champion.post("/predict/wine", json=body).json() == v1
    unknown = any_champion.post("/predict/nosuch-model", json=body)  # matches, but not registered
    assert unknown.status_code == 404 and "nosuch-model" in unknown.json()["error"]["message"]
    assert any_champion.post("/predict/other", json=body).status_code == 404  # matches no pattern

    answers, stop = [], threading.Event()
    named = {
        many.url + "/predict/first": [],
        many.url + "/predict/champion": [],
        any_champion.url + "/predict/wine": [],
    }

    def keep_asking():
        with requests.Session() as session:
            while not stop.is_set():
                response = session.post(following.url + "/predict", json=body, timeout=30)
                answers.append((time.monotonic(), response.status_code, response.json()))
                for url, seen in named.items():
                    response = session.post(url, json=body, timeout=30)
                    seen.append((response.status_code, response.json()))

    asker = threading.Thread(target=keep_asking)
    asker.start()
    try:
        time.sleep(1.5)
        moved = time.monotonic()
        registry.set_alias("champion", "2")
        deadline = moved + 2 * 1 + 15  # two reload intervals plus a load, with room for a busy machine
        followers = [seen for url, seen in named.items() if not url.endswith("/first")]

        def all_moved():
            return answers and answers[-1][2] == v2 and all(seen and seen[-1][1] == v2 for seen in followers)

        while time.monotonic() < deadline and not all_moved():
            time.sleep(0.1)
        switched = next(at for at, _, answer in answers if at > moved and answer == v2)

        registry.process.terminate()  # the tracking server goes away: the loaded version keeps answering
        registry.process.wait(timeout=30)
        time.sleep(3)
    finally:
        stop.set()
        asker.join()
    assert {status for _, status, _ in answers} == {200}, "a request failed during the switch"
    assert all(answer in (v1, v2) for _, _, answer in answers)
    assert [answer for at, _, answer in answers if at > switched + 0.5] and all(
        answer == v2 for at, _, answer in answers if at > switched + 0.5
    )
    print(f"alias moved -> version 2 answered after {switched - moved:.2f} s")
    assert following.get("/ready").json()["model"]["mlflow"]["version"] == "2"
    assert pinned.post(json=body).json() == v1  # models:/wine/1 stays put
    # by name, each model followed on its own: 'champion' and the registry form moved, 'first' stayed
    for url, seen in named.items():
        assert seen and {status for status, _ in seen} == {200}, url
        assert {str(answer) for _, answer in seen} <= {str(v1), str(v2)}
        assert seen[-1][1] == (v1 if url.endswith("/first") else v2), url
    log = following.log()
    assert "alias 'champion' of 'wine' moved from version 1 to 2" in log
    assert "model reload failed; the current model keeps serving" in log
    assert '"mlflow":{"registered_model":"wine","version":"2","alias":"champion"' in log
    assert PASSWORD not in log and PASSWORD not in pinned.log()
