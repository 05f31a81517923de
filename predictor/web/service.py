"""The HTTP surface: the route table, API keys, the request log line, and every failure as JSON.

functions-framework imports main.py in gunicorn's master process, which then forks the worker:
whatever the master imports ends up twice in memory, as the worker touches it page by page. So
this module and the endpoints import only the HTTP layer; the model's stack (numpy, pandas,
scikit-learn, marshmallow: `model`, `protocols`, `oip`, `scoring`, `openapi`) is imported inside
the endpoints, by the worker, with the first model load.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Callable, Mapping

from flask import Request, Response
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import MethodNotAllowed as RouteMethodNotAllowed
from werkzeug.exceptions import NotFound as RouteNotFound
from werkzeug.routing import Map, Rule

from .. import logs, memory, request_ids
from ..config import Settings, load_settings
from ..errors import (
    ConfigurationError,
    InternalError,
    MethodNotAllowed,
    NotFound,
    PredictorError,
    Unauthorized,
)
from ..loading.repository import ModelRepository
from . import capture, docs
from .endpoints import info, predict, v2
from .responses import error_response

log = logging.getLogger(__name__)
request_log = logging.getLogger("predictor.requests")

Endpoint = Callable[..., Response]  # endpoint(models, request, **path arguments)

ROUTES: list[tuple[str, Endpoint, str]] = [
    ("/", predict.predict, "POST"),
    ("/predict", predict.predict, "POST"),
    ("/predict/", predict.predict, "POST"),
    ("/invocations", predict.predict, "POST"),  # MLflow's scoring protocol
    # with MODELS, one model by name (the unnamed routes serve DEFAULT_MODEL)
    ("/predict/<model>", predict.predict, "POST"),
    ("/invocations/<model>", predict.predict, "POST"),
    ("/health", info.health, "GET"),
    ("/ready", info.ready, "GET"),
    ("/metadata", info.metadata, "GET"),
    ("/openapi.json", info.openapi, "GET"),
    ("/docs", info.docs, "GET"),
    ("/docs/<asset>", info.docs_asset, "GET"),
    # Open Inference Protocol v2
    ("/v2/health/live", v2.live, "GET"),
    ("/v2/health/ready", v2.ready, "GET"),
    ("/v2/models/<name>", v2.model_metadata, "GET"),
    ("/v2/models/<name>/ready", v2.model_ready, "GET"),
    ("/v2/models/<name>/infer", v2.infer, "POST"),
    ("/v2/models/<name>/versions/<version>/infer", v2.infer, "POST"),
    ("/v2/repository/index", v2.repository_index, "POST"),  # the repository extension
]
OIP_PREFIX = "/v2/"  # Open Inference Protocol routes: errors as its clients read them
PREDICTIONS = {predict.predict, v2.infer}  # what PREDICTION_LOG_SAMPLE samples
ROUTE_LIST = (
    "POST /predict[/<model>], POST /invocations[/<model>], GET /health, GET /ready, GET /metadata, "
    "GET /openapi.json, GET /docs, and the Open Inference Protocol under /v2"
)


def route_map(settings: Settings | None) -> tuple[Map, set[str]]:
    """The routes, Vertex AI's first when set; and the paths answered without an API key."""
    routes = list(ROUTES)
    open_paths = {"/health", "/v2/health/live", "/docs", *(f"/docs/{name}" for name in docs.ASSETS)}
    if settings and settings.vertex_health_route:
        routes.insert(0, (settings.vertex_health_route, info.ready, "GET"))
        open_paths.add(settings.vertex_health_route)
    if settings and settings.vertex_predict_route:
        routes.insert(0, (settings.vertex_predict_route, predict.predict, "POST"))
    rules = [Rule(path, endpoint=endpoint, methods=[method]) for path, endpoint, method in routes]
    return Map(rules, strict_slashes=False), open_paths


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
    """One process's function: its routes, and the models they answer from."""

    def __init__(self, models: ModelRepository):
        self.models = models
        routes, self._open_paths = route_map(models.settings)
        self._routes = routes.bind("localhost")  # routes match paths alone: bound once, not per request

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Service:
        """Read settings once; a bad setting is logged here and reported on each prediction."""
        try:
            models = ModelRepository(load_settings(os.environ if environ is None else environ))
        except ConfigurationError as error:
            log.error("configuration error: %s", error.message, extra={"json_fields": error.details})
            return cls(ModelRepository(None, error))
        if models.settings.preload:
            # in the worker gunicorn forks, not here: functions-framework imports main.py in
            # gunicorn's master, and a load under way at the fork would leave the worker's copy
            # of the model's lock held for good
            os.register_at_fork(after_in_child=models.preload)
        return cls(models)

    def handle(self, request: Request) -> Response:
        """Answer one request and log it; nothing escapes as an exception (the framework would
        send an HTML page)."""
        started = time.perf_counter()
        request_id = request_ids.request_id(request.headers)
        token = request_ids.current.set(request_id)
        try:
            with self.models.request(self._scope(request)):
                response, error, sampled = self._answer(request)
                response.headers[request_ids.HEADER] = request_id
                seconds = time.perf_counter() - started
                used = self.models.used() or self.models.single  # one model: on every line
                self._log_request(request, response, seconds, used)
                if sampled:
                    capture.finish(
                        used.peek() if used else None,
                        response.status_code,
                        seconds,
                        error.code if error else None,
                        self.models.settings.prediction_log_max_bytes,
                        used.name if used else None,
                    )
        finally:
            request_ids.current.reset(token)
        memory.release_after(request.content_length or 0)
        return response

    def _answer(self, request: Request) -> tuple[Response, PredictorError | None, bool]:
        """The response, the error it reports (if any), and whether the request is captured."""
        settings, sampled = self.models.settings, False
        try:
            self._authorize(request)
            endpoint, args = self._routes.match(request.path, request.method)
            if endpoint in PREDICTIONS and settings is not None:
                sampled = capture.begin(settings.prediction_log_sample)
            return endpoint(self.models, request, **args), None, sampled
        except Exception as exc:  # noqa: BLE001 - every failure becomes a JSON error
            error = as_predictor_error(exc)
            used = self.models.used()
            if used is not None and used.name is not None:
                error.model = used.name
            return error_response(error, oip=request.path.startswith(OIP_PREFIX)), error, sampled

    def framework_error(self, exc: BaseException) -> Response:
        """For errors raised by functions-framework itself (its /robots.txt 404, say)."""
        from flask import request

        response = error_response(as_predictor_error(exc))
        response.headers[request_ids.HEADER] = request_ids.request_id(request.headers)
        return response

    def _log_request(self, request: Request, response: Response, seconds: float, used) -> None:
        status = response.status_code
        level = logging.ERROR if status >= 500 else logging.WARNING if status >= 400 else logging.INFO
        fields = logs.request_fields(
            request.method,
            logs.request_url(request),
            status,
            seconds,
            request.content_length,
            response.content_length,
            request.headers,
        )
        if used is not None and used.name is not None:
            fields["model"] = used.name
        model = used.peek() if used is not None else None
        if model is not None:
            fields["model_generations"] = model.generations
            fields["model_sha256"] = model.artifact.sha256
            if model.origin is not None:
                origin = model.origin
                fields["mlflow"] = {
                    "registered_model": origin.name,
                    "version": origin.version,
                    "alias": origin.alias,
                    "run_id": origin.run_id,
                }
        request_log.log(
            level, "%s %s %s", request.method, request.path, status, extra={"json_fields": fields}
        )

    def _authorize(self, request: Request) -> None:
        """With API_KEYS set, every path but the open ones needs one of them in X-API-Key."""
        settings = self.models.settings
        keys = settings.api_keys if settings else ()
        if not keys or (request.path.rstrip("/") or "/") in self._open_paths:
            return  # routes match with or without a trailing slash, and so do the open paths
        given = request.headers.get("X-API-Key", "").encode()
        matched = False
        for key in keys:  # compare with every key, in constant time
            matched |= hmac.compare_digest(given, key.encode())
        if not matched:
            raise Unauthorized("missing or wrong API key: send one in the X-API-Key header")

    def _scope(self, request: Request) -> tuple[str, ...] | None:
        """The models the request's API key may use (API_KEYS `key:model1|model2`); None: any."""
        settings = self.models.settings
        if not settings or not settings.api_key_scopes:
            return None
        given = request.headers.get("X-API-Key", "").encode()
        scope = None
        for key, models in settings.api_key_scopes:
            if hmac.compare_digest(given, key.encode()):
                scope = models
        return scope
