"""JSON answers, and the one place an error becomes an HTTP answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from flask import Response

from ..errors import PredictorError

BIGQUERY_MESSAGE_LIMIT = 1000  # BigQuery shows errorMessage; keep the body under 1 KB


def json_response(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status, headers, mimetype="application/json")


def error_response(error: PredictorError, bigquery: bool = False, oip: bool = False) -> Response:
    """An error's status, headers and JSON body (the classes in errors.py carry the mapping).

    BigQuery remote functions read `{"errorMessage": ...}` instead of our error object; Open
    Inference Protocol clients (tritonclient, KServe's) read `{"error": "<message>"}`, a string,
    so there the code and details sit beside it.
    """
    if oip:
        body = {"error": error.message, "code": error.code, "details": error.details}
        if error.model is not None:
            body["model"] = error.model
        return json_response(body, error.status, error.headers)
    if bigquery:
        message = (
            f"{error.code}: {error.message}"
            if error.model is None
            else f"{error.code} ({error.model}): {error.message}"
        )
        if len(message) > BIGQUERY_MESSAGE_LIMIT:
            message = message[: BIGQUERY_MESSAGE_LIMIT - 1] + "…"
        return json_response({"errorMessage": message}, error.status, error.headers)
    return json_response(error.body(), error.status, error.headers)
