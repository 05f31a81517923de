"""The HTTP surface: routes, request checks, and the one place errors become responses.

functions-framework imports main.py in gunicorn's master process, which then forks the worker:
whatever the master imports ends up twice in memory, as the worker touches it page by page. So
this module imports only the HTTP layer; the model's stack (numpy, pandas, scikit-learn,
marshmallow: `model`, `protocols`, `oip`, `scoring`, `openapi`) is imported inside the methods
that need it, by the worker, with the first model load.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson
from flask import Request, Response
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import MethodNotAllowed as RouteMethodNotAllowed
from werkzeug.exceptions import NotFound as RouteNotFound
from werkzeug.routing import Map, Rule

from . import docs, logs, memory, storage
from .body import parse_body, probe_json, read_body
from .cache import LazySlot, Refresher
from .config import Settings, load_settings
from .errors import (
    ConfigurationError,
    InternalError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    PredictorError,
    Unauthorized,
    UnsupportedMediaType,
)

if TYPE_CHECKING:
    from .model import ServedModel

log = logging.getLogger(__name__)
request_log = logging.getLogger("predictor.requests")

ROUTES = [
    ("/", "predict", "POST"),
    ("/predict", "predict", "POST"),
    ("/predict/", "predict", "POST"),
    ("/invocations", "predict", "POST"),  # MLflow's scoring protocol
    ("/health", "health", "GET"),
    ("/ready", "ready", "GET"),
    ("/metadata", "metadata", "GET"),
    ("/openapi.json", "openapi", "GET"),
    ("/docs", "docs", "GET"),
    ("/docs/<asset>", "docs_asset", "GET"),
    # Open Inference Protocol v2
    ("/v2/health/live", "v2_live", "GET"),
    ("/v2/health/ready", "v2_ready", "GET"),
    ("/v2/models/<name>", "v2_model", "GET"),
    ("/v2/models/<name>/ready", "v2_model_ready", "GET"),
    ("/v2/models/<name>/infer", "v2_infer", "POST"),
    ("/v2/models/<name>/versions/<version>/infer", "v2_infer", "POST"),
]
ROUTE_LIST = (
    "POST /predict, POST /invocations, GET /health, GET /ready, GET /metadata, "
    "GET /openapi.json, GET /docs, and the Open Inference Protocol under /v2"
)


def route_map(settings: Settings | None) -> tuple[Map, set[str]]:
    """The routes, Vertex AI's first when set; and the paths answered without an API key."""
    routes = list(ROUTES)
    open_paths = {"/health", "/v2/health/live", "/docs", *(f"/docs/{name}" for name in docs.ASSETS)}
    if settings and settings.vertex_health_route:
        routes.insert(0, (settings.vertex_health_route, "ready", "GET"))
        open_paths.add(settings.vertex_health_route)
    if settings and settings.vertex_predict_route:
        routes.insert(0, (settings.vertex_predict_route, "predict", "POST"))
    rules = [Rule(path, endpoint=endpoint, methods=[method]) for path, endpoint, method in routes]
    return Map(rules, strict_slashes=False), open_paths


def json_response(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status, headers, mimetype="application/json")


BIGQUERY_MESSAGE_LIMIT = 1000  # BigQuery shows errorMessage; keep the body under 1 KB


def error_response(error: PredictorError, bigquery: bool = False) -> Response:
    """The only place an error becomes an HTTP answer: its status, headers and JSON body.

    BigQuery remote functions read `{"errorMessage": ...}` instead of our error object.
    """
    if bigquery:
        message = f"{error.code}: {error.message}"
        if len(message) > BIGQUERY_MESSAGE_LIMIT:
            message = message[: BIGQUERY_MESSAGE_LIMIT - 1] + "…"
        return json_response({"errorMessage": message}, error.status, error.headers)
    return json_response(error.body(), error.status, error.headers)


def as_predictor_error(exc: BaseException) -> PredictorError:
    """Any exception as one of ours; anything unexpected is logged with its traceback."""
    if isinstance(exc, PredictorError):
        return exc
    if isinstance(exc, RouteMethodNotAllowed):
        return MethodNotAllowed("method not allowed here", sorted(exc.valid_methods or []))
    if isinstance(exc, RouteNotFound):
        return NotFound(f"no such path; the routes are {ROUTE_LIST}")
    if isinstance(exc, HTTPException):
        error = PredictorError(exc.description or exc.name)
        error.status, error.code = exc.code or 500, exc.name.lower().replace(" ", "_")
        return error
    log.error("unhandled error", exc_info=exc)
    return InternalError("internal error; it has been logged")


class Service:
    """Everything one process serves: its settings (or why they are bad) and its model slot."""

    def __init__(self, settings: Settings | None, config_error: ConfigurationError | None = None):
        self.settings = settings
        self.config_error = config_error
        self.model_slot: LazySlot[ServedModel] = LazySlot(self._load)
        self._refresher = Refresher(
            self.model_slot,
            self._artifact_changed,
            self._load,
            settings.model_reload_seconds if settings else 0,
        )
        self._routes, self._open_paths = route_map(settings)
        self._spec: tuple[ServedModel, dict[str, Any]] | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Service:
        """Read settings once; a bad setting is logged here and reported on each prediction."""
        try:
            return cls(load_settings(os.environ if environ is None else environ))
        except ConfigurationError as error:
            log.error("configuration error: %s", error.message, extra={"json_fields": error.details})
            return cls(None, error)

    def handle(self, request: Request) -> Response:
        """Answer one request and log it; nothing escapes as an exception (the framework would
        send an HTML page)."""
        started = time.perf_counter()
        try:
            self._authorize(request)
            endpoint, args = self._routes.bind_to_environ(request.environ).match()
            response = getattr(self, endpoint)(request, **args)  # endpoints are method names
        except Exception as exc:  # noqa: BLE001 - every failure becomes a JSON error
            response = error_response(as_predictor_error(exc))
        self._log_request(request, response, time.perf_counter() - started)
        memory.release_after(request.content_length or 0)
        return response

    def _log_request(self, request: Request, response: Response, seconds: float) -> None:
        status = response.status_code
        level = logging.ERROR if status >= 500 else logging.WARNING if status >= 400 else logging.INFO
        fields = logs.request_fields(
            request.method,
            request.url,
            status,
            seconds,
            request.content_length,
            response.content_length,
            request.headers,
        )
        model = self.model_slot.peek()
        if model is not None:
            fields["model_generations"] = model.generations
            fields["model_sha256"] = model.artifact.sha256
        request_log.log(
            level, "%s %s %s", request.method, request.path, status, extra={"json_fields": fields}
        )

    def framework_error(self, exc: BaseException) -> Response:
        """For errors raised by functions-framework itself (its /robots.txt 404, say)."""
        return error_response(as_predictor_error(exc))

    def health(self, request: Request) -> Response:
        return json_response({"status": "ok"})

    def v2_live(self, request: Request) -> Response:
        return json_response({"live": True})

    def ready(self, request: Request) -> Response:
        return json_response({"status": "ready", "model": self.model().summary()})

    def metadata(self, request: Request) -> Response:
        return json_response(self.model().metadata())

    def openapi(self, request: Request) -> Response:
        from .openapi import build_spec

        model = self.model()
        cached = self._spec
        if cached is None or cached[0] is not model:
            cached = self._spec = (model, build_spec(model))
        return json_response(cached[1])

    def docs(self, request: Request) -> Response:
        return Response(docs.PAGE, mimetype="text/html")

    def docs_asset(self, request: Request, asset: str) -> Response:
        content, mimetype = docs.asset(asset)
        return Response(content, mimetype=mimetype, headers={"Cache-Control": "public, max-age=86400"})

    def v2_ready(self, request: Request) -> Response:
        self.model()
        return json_response({"ready": True})

    def v2_model(self, request: Request, name: str) -> Response:
        from . import oip

        model = self._named_model(name)
        return json_response(oip.metadata(model, name))

    def v2_model_ready(self, request: Request, name: str) -> Response:
        self._named_model(name)
        return json_response({"name": name, "ready": True})

    def v2_infer(self, request: Request, name: str, version: str | None = None) -> Response:
        settings = self._settings()
        kind, data = read_body(request, settings.max_request_bytes)
        if kind != "json":
            raise UnsupportedMediaType("an inference request is JSON", {"expected": "application/json"})
        model = self._named_model(name)
        body = parse_body(kind, data, settings.max_rows, len(model.features.columns))
        from . import oip, scoring

        rows, parameters = oip.rows_from_infer(body, model.features)
        self._check_row_count(len(rows))
        checked = model.features.check(rows)
        predictions = scoring.predict(model, checked, parameters.get("output"))
        classes = getattr(model.estimator, "classes_", None)
        return json_response(oip.infer_reply(name, body.get("id"), predictions, classes))

    def _check_row_count(self, count: int) -> None:
        limit = self._settings().max_rows
        if count > limit:
            raise PayloadTooLarge(
                f"{count} rows is more than the {limit}-row limit (MAX_ROWS); send smaller batches",
                {"limit_rows": limit, "rows": count},
            )

    def _named_model(self, name: str) -> ServedModel:
        model = self.model()
        from . import oip

        served = self._settings().model_name or oip.default_name(model.uri)
        if name != served:
            raise NotFound(f"no model named '{name}'; this function serves '{served}'", {"model": served})
        return model

    def predict(self, request: Request) -> Response:
        settings = self._settings()
        kind, data = read_body(request, settings.max_request_bytes)
        body = None
        try:
            model = self.model()  # first: a cold start imports the libraries while it downloads
            body = parse_body(kind, data, settings.max_rows, len(model.features.columns))
            return json_response(self._score(request, model, kind, body))
        except PredictorError as error:
            from . import protocols

            if body is None and kind == "json":  # the model (so the body's bound) is unknown
                body = probe_json(data, settings.max_rows)
            if protocols.is_bigquery(body):
                return error_response(error, bigquery=True)
            raise

    def _score(self, request: Request, model: ServedModel, kind: str, body: Any) -> Any:
        from . import protocols, scoring

        if kind == "csv":
            scoring_request = protocols.from_csv(body, model.features)
        else:
            scoring_request = protocols.from_json(body, model.features)
        self._check_row_count(len(scoring_request.rows))
        rows = model.features.check(scoring_request.rows, scoring_request.row_noun)
        output = request.args.get("output") or scoring_request.params.get("output")
        return scoring_request.reply(scoring.predict(model, rows, output))

    def model(self) -> ServedModel:
        self._settings()
        model = self.model_slot.get()
        self._refresher.poke()
        return model

    def _authorize(self, request: Request) -> None:
        """With API_KEYS set, every path but /health needs one of them in X-API-Key."""
        keys = self.settings.api_keys if self.settings else ()
        if not keys or request.path in self._open_paths:
            return
        given = request.headers.get("X-API-Key", "").encode()
        matched = False
        for key in keys:  # compare with every key, in constant time
            matched |= hmac.compare_digest(given, key.encode())
        if not matched:
            raise Unauthorized("missing or wrong API key: send one in the X-API-Key header")

    def _settings(self) -> Settings:
        if self.settings is None:
            raise self.config_error
        return self.settings

    def _artifact_changed(self, model: ServedModel) -> bool:
        """One metadata call: do the artifact's GCS generations differ from the served ones?"""
        current = storage.generations(model.uri, self._settings().gcs_timeout_seconds)
        if current != model.generations:
            log.info(
                "the model artifact changed; loading it", extra={"json_fields": {"generations": current}}
            )
            return True
        return False

    def _load(self) -> ServedModel:
        from .model import load_served_model

        settings = self._settings()
        with memory.loading():
            return load_served_model(
                settings.model_uri,
                settings.model_sha256,
                settings.gcs_timeout_seconds,
                settings.skops_trusted_types,
            )
