"""What the function says about itself: health, readiness, the model, the OpenAPI document and
its Swagger UI page."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from flask import Request, Response

from .. import docs as swagger_ui
from ..responses import json_response

if TYPE_CHECKING:
    from ...loading.repository import ModelRepository

# each loaded model's OpenAPI document (with UNKNOWN_FEATURES=ignore or not) by the model's id,
# built once, not per request; an evicted or replaced model's goes with it
_specs: dict[int, tuple[bool, dict[str, Any]]] = {}
# with MODELS and no DEFAULT_MODEL: the routes and bodies, each model's features its own
_any_model: dict[bool, dict[str, Any]] = {}


def health(models: ModelRepository, request: Request) -> Response:
    return json_response({"status": "ok"})


def ready(models: ModelRepository, request: Request) -> Response:
    """The model, loaded if it was not; with MODELS, every model's state (each loads on demand)."""
    if models.named:
        models.checked_settings()
        return json_response({"status": "ready", "models": models.index()})
    return json_response({"status": "ready", "model": models.lifecycle().model().summary()})


def metadata(models: ModelRepository, request: Request) -> Response:
    """The model's description; with MODELS, every model's state, size and last use."""
    if models.named:
        settings = models.checked_settings()
        return json_response(
            {"default_model": settings.default_model, "memory": models.memory(), "models": models.index()}
        )
    return json_response(models.lifecycle().model().description())


def openapi(models: ModelRepository, request: Request) -> Response:
    """The document for the model; with MODELS, the one `?model=` names, else DEFAULT_MODEL's,
    else one that leaves each model's features to its own document."""
    from ..openapi import build_spec

    name = request.args.get("model")
    ignore = models.checked_settings().unknown_features == "ignore"
    if models.named and name is None and models.settings.default_model is None:
        if ignore not in _any_model:
            _any_model[ignore] = build_spec(None, ignore)
        return json_response(_any_model[ignore])
    lifecycle = models.lifecycle(name)
    model = lifecycle.model()
    cached = _specs.get(id(model))
    if cached is None or cached[0] != ignore:
        if cached is None:
            weakref.finalize(model, _specs.pop, id(model), None)
        cached = _specs[id(model)] = (ignore, build_spec(model, ignore, lifecycle.name))
    return json_response(cached[1])


def docs(models: ModelRepository, request: Request) -> Response:
    """Swagger UI; `?model=` shows that model's document."""
    return Response(swagger_ui.page(request.path, request.args.get("model")), mimetype="text/html")


def docs_asset(models: ModelRepository, request: Request, asset: str) -> Response:
    content, mimetype = swagger_ui.asset(asset)
    return Response(content, mimetype=mimetype, headers={"Cache-Control": "public, max-age=86400"})
