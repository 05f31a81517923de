"""/openapi.json describes the live model and every route; /docs renders it in a real browser."""

import re
import shutil
import subprocess
from urllib.parse import urljoin

import pytest
from openapi_spec_validator import validate

from predictor.web.service import ROUTES
from support import EXAMPLE, ROOT, error_of, in_process


@pytest.fixture(scope="module")
def server(start_server):
    """A real process, for the browser."""
    return start_server({"MODEL_URI": EXAMPLE})


@pytest.fixture(scope="module")
def spec():
    response = in_process({"MODEL_URI": EXAMPLE}).get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_the_document_is_valid_openapi_3(spec):
    validate(spec)
    assert spec["openapi"].startswith("3.")


def test_the_feature_schema_is_the_live_models(spec, trained):
    features = spec["components"]["schemas"]["Features"]
    assert list(features["properties"]) == list(trained.train_x.columns)
    assert sorted(features["required"]) == sorted(trained.train_x.columns)
    assert features["properties"]["pH"] == {"type": "number", "format": "double", "nullable": True}
    assert features["additionalProperties"] is False


def test_every_route_and_its_error_bodies_are_described(spec):
    documented = {path: set(ops) for path, ops in spec["paths"].items()}
    for path, _, method in ROUTES:
        if path.startswith("/docs") or path == "/predict/" or "version" in path:
            continue
        openapi_path = re.sub(r"<(\w+)>", r"{\1}", path)
        assert method.lower() in documented.get(openapi_path, set()), path
    error_body = {"$ref": "#/components/schemas/ErrorBody"}
    oip_error = {"$ref": "#/components/schemas/OIPError"}  # the shape OIP clients read
    bigquery = {"oneOf": [error_body, {"$ref": "#/components/schemas/BigQueryError"}]}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status in ("400", "401", "404", "405", "413", "415", "500", "503"):
                schema = operation["responses"][status]["content"]["application/json"]["schema"]
                takes_bigquery = (
                    method == "post"
                    and path in ("/", "/predict", "/invocations", "/predict/{model}", "/invocations/{model}")
                    and status in ("400", "503")
                )
                expected = oip_error if path.startswith("/v2/") else error_body
                assert schema == (bigquery if takes_bigquery else expected), (path, status)


def test_every_answer_documents_its_request_id_and_predictions_what_was_ignored(spec):
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                headers = response["headers"]
                assert headers["X-Request-Id"]["schema"] == {"type": "string"}, (path, status)
                predicts = method == "post" and status == "200" and path != "/v2/repository/index"
                assert ("X-Ignored-Features" in headers) == predicts, (path, status)


def test_with_unknown_features_ignored_a_record_may_hold_other_fields():
    ignoring = in_process({"MODEL_URI": EXAMPLE, "UNKNOWN_FEATURES": "ignore"}).get("/openapi.json").json()
    validate(ignoring)
    assert ignoring["components"]["schemas"]["Features"]["additionalProperties"] is True


def test_the_document_follows_the_model_it_serves(artifacts):
    """A model without feature names is described as positional arrays."""
    import cloudpickle
    import numpy as np
    from sklearn.linear_model import LinearRegression

    path = artifacts["skops file"].parent / "positional.pkl"
    path.write_bytes(cloudpickle.dumps(LinearRegression().fit(np.eye(3), [1.0, 2.0, 3.0])))
    features = (
        in_process({"MODEL_URI": str(path)}).get("/openapi.json").json()["components"]["schemas"]["Features"]
    )
    assert features == {"type": "array", "items": {"type": "number"}, "minItems": 3, "maxItems": 3}


@pytest.mark.parametrize("path", ["/docs", "/docs/"])
def test_docs_assets_are_served_locally(server, path):
    page = server.get(path)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    links = re.findall(r'(?:src=|href=|url: )"([^"]+)"', page.text)
    assert len(links) == 5
    for src in links:
        assert not src.startswith(("http:", "https:", "//")), src
        assert server.get(urljoin(path, src)).status_code == 200, src
    missing = server.get("/docs/secrets.txt")
    assert missing.status_code == 404 and error_of(missing.json())["code"] == "not_found"


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian package chromium)")
@pytest.mark.parametrize("path", ["/docs", "/docs/"])
def test_docs_render_the_predict_operation_in_headless_chromium(server, tmp_path, path):
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        # nothing but this machine answers: the page must not need a CDN
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--virtual-time-budget=20000",
        "--window-size=1280,1600",
    ]
    dom = subprocess.run(
        [CHROMIUM, *flags, "--dump-dom", server.url + path], capture_output=True, text=True, timeout=120
    ).stdout
    assert "MLflow model function" in dom
    assert (
        re.search(r'class="opblock-summary-path"[^>]*>.*?/predict<', dom, re.DOTALL)
        or 'data-path="/predict"' in dom
    )
    assert "/v2/models/{name}/infer" in dom
    artefacts = ROOT / "test-artifacts"
    artefacts.mkdir(exist_ok=True)
    subprocess.run(
        [CHROMIUM, *flags, f"--screenshot={artefacts / 'docs.png'}", server.url + path],
        capture_output=True,
        timeout=120,
    )
    assert (artefacts / "docs.png").stat().st_size > 10_000
