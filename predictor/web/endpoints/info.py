"""What the function says about itself: health, readiness, the model, the OpenAPI document and
its Swagger UI page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Request, Response

from .. import docs as swagger_ui
from ..responses import json_response

if TYPE_CHECKING:
    from ...loading.lifecycle import ModelLifecycle
    from ...model import ServedModel

# the last model's OpenAPI document (with UNKNOWN_FEATURES=ignore or not): built once, not per request
_spec: tuple[ServedModel, bool, dict[str, Any]] | None = None


def health(lifecycle: ModelLifecycle, request: Request) -> Response:
    return json_response({"status": "ok"})


def ready(lifecycle: ModelLifecycle, request: Request) -> Response:
    return json_response({"status": "ready", "model": lifecycle.model().summary()})


def metadata(lifecycle: ModelLifecycle, request: Request) -> Response:
    return json_response(lifecycle.model().description())


def openapi(lifecycle: ModelLifecycle, request: Request) -> Response:
    global _spec
    from ..openapi import build_spec

    model = lifecycle.model()
    ignore = lifecycle.checked_settings().unknown_features == "ignore"
    cached = _spec
    if cached is None or cached[0] is not model or cached[1] != ignore:
        cached = _spec = (model, ignore, build_spec(model, ignore))
    return json_response(cached[2])


def docs(lifecycle: ModelLifecycle, request: Request) -> Response:
    return Response(swagger_ui.page(request.path), mimetype="text/html")


def docs_asset(lifecycle: ModelLifecycle, request: Request, asset: str) -> Response:
    content, mimetype = swagger_ui.asset(asset)
    return Response(content, mimetype=mimetype, headers={"Cache-Control": "public, max-age=86400"})
