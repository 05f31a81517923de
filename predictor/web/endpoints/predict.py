"""`/predict`, `/invocations` and Vertex AI's predict route: the original list of records,
MLflow's scoring protocol, Vertex AI, BigQuery remote functions and CSV."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Request, Response

from ...errors import PredictorError
from .. import capture
from ..body import check_row_count, check_values, parse_body, probe_json, read_body
from ..responses import error_response, json_response

if TYPE_CHECKING:
    from ...config import Settings
    from ...loading.repository import ModelRepository
    from ...model import ServedModel


def predict(models: ModelRepository, request: Request, model: str | None = None) -> Response:
    """`model`: the name in the path (/predict/<model>), with MODELS; else DEFAULT_MODEL, or the
    one a BigQuery remote function's `user_defined_context` names."""
    settings = models.checked_settings()
    kind, data = read_body(request, settings.max_request_bytes, settings.body_timeout_seconds)
    body = None
    try:
        if model is None and models.named and kind == "json":
            body = probe_json(data, settings.max_rows)  # parsed once: its context may name the model
            model = _context_model(body)
        served = models.lifecycle(model).model()  # first: a cold start imports while it downloads
        width = len(served.features.columns)
        if body is None:
            body = parse_body(kind, data, settings.max_rows, width)
        else:
            check_values(kind, data, settings.max_rows, width)
        return _score(request, served, kind, body, settings)
    except PredictorError as error:
        from ...inputs import protocols

        if body is None and kind == "json":  # the model (so the body's bound) is unknown
            body = probe_json(data, settings.max_rows)
        if protocols.is_bigquery(body):
            return error_response(error, bigquery=True)
        raise


def _context_model(body: Any) -> str | None:
    """The model a BigQuery remote function's `user_defined_context` names ({"model": "<name>"})."""
    context = body.get("userDefinedContext") if isinstance(body, dict) and "calls" in body else None
    name = context.get("model") if isinstance(context, dict) else None
    return name if isinstance(name, str) else None


def _score(request: Request, model: ServedModel, kind: str, body: Any, settings: Settings) -> Response:
    from ...inputs import extra_features, protocols

    features, ignore = model.features, settings.unknown_features == "ignore" and model.features.named
    if kind == "csv":
        scoring_request = protocols.from_csv(body, features, ignore_unknown=ignore)
    else:
        scoring_request = protocols.from_json(body, features)
    check_row_count(len(scoring_request.rows), settings.max_rows)
    capture.note(scoring_request.protocol, len(scoring_request.rows))
    rows, dropped = scoring_request.rows, []
    if ignore and isinstance(rows, list):
        rows, dropped = extra_features.drop_unknown(rows, features)
    rows = features.check(rows, scoring_request.row_noun)
    output = request.args.get("output") or scoring_request.params.get("output")
    predictions = model.predict(rows, output, scoring_request.row_noun)
    capture.record(features, rows, predictions)
    return extra_features.report(json_response(scoring_request.reply(predictions)), dropped, features)
