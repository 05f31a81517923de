"""`/predict`, `/invocations` and Vertex AI's predict route: the original list of records,
MLflow's scoring protocol, Vertex AI, BigQuery remote functions and CSV."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Request, Response

from ..body import check_row_count, parse_body, probe_json, read_body
from ..errors import PredictorError
from ..responses import error_response, json_response

if TYPE_CHECKING:
    from ..lifecycle import ModelLifecycle
    from ..model import ServedModel


def predict(lifecycle: ModelLifecycle, request: Request) -> Response:
    settings = lifecycle.checked_settings()
    kind, data = read_body(request, settings.max_request_bytes, settings.body_timeout_seconds)
    body = None
    try:
        model = lifecycle.model()  # first: a cold start imports the libraries while it downloads
        body = parse_body(kind, data, settings.max_rows, len(model.features.columns))
        return json_response(_score(request, model, kind, body, settings.max_rows))
    except PredictorError as error:
        from .. import protocols

        if body is None and kind == "json":  # the model (so the body's bound) is unknown
            body = probe_json(data, settings.max_rows)
        if protocols.is_bigquery(body):
            return error_response(error, bigquery=True)
        raise


def _score(request: Request, model: ServedModel, kind: str, body: Any, max_rows: int) -> Any:
    from .. import protocols

    if kind == "csv":
        scoring_request = protocols.from_csv(body, model.features)
    else:
        scoring_request = protocols.from_json(body, model.features)
    check_row_count(len(scoring_request.rows), max_rows)
    rows = model.features.check(scoring_request.rows, scoring_request.row_noun)
    output = request.args.get("output") or scoring_request.params.get("output")
    return scoring_request.reply(model.predict(rows, output))
