"""What the function says about itself: health, readiness, the model, the OpenAPI document and
its Swagger UI page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Request, Response

from .. import docs as swagger_ui
from ..responses import json_response

if TYPE_CHECKING:
    from ...loading.repository import ModelRepository
    from ...model import ServedModel

# the last model's OpenAPI document (with UNKNOWN_FEATURES=ignore or not): built once, not per request
_spec: tuple[ServedModel, bool, dict[str, Any]] | None = None


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
    """The document for the model (with MODELS, DEFAULT_MODEL's)."""
    global _spec
    from ..openapi import build_spec

    model = models.lifecycle().model()
    ignore = models.checked_settings().unknown_features == "ignore"
    cached = _spec
    if cached is None or cached[0] is not model or cached[1] != ignore:
        cached = _spec = (model, ignore, build_spec(model, ignore))
    return json_response(cached[2])


def docs(models: ModelRepository, request: Request) -> Response:
    return Response(swagger_ui.page(request.path), mimetype="text/html")


def docs_asset(models: ModelRepository, request: Request, asset: str) -> Response:
    content, mimetype = swagger_ui.asset(asset)
    return Response(content, mimetype=mimetype, headers={"Cache-Control": "public, max-age=86400"})
