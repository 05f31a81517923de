"""`/predict`, `/invocations` and Vertex AI's predict route: the original list of records,
MLflow's scoring protocol, Vertex AI, BigQuery remote functions and CSV."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Request, Response

from ...errors import PredictorError
from .. import capture
from ..body import check_row_count, parse_body, probe_json, read_body
from ..responses import error_response, json_response

if TYPE_CHECKING:
    from ...config import Settings
    from ...loading.lifecycle import ModelLifecycle
    from ...model import ServedModel


def predict(lifecycle: ModelLifecycle, request: Request) -> Response:
    settings = lifecycle.checked_settings()
    kind, data = read_body(request, settings.max_request_bytes, settings.body_timeout_seconds)
    body = None
    try:
        model = lifecycle.model()  # first: a cold start imports the libraries while it downloads
        body = parse_body(kind, data, settings.max_rows, len(model.features.columns))
        return _score(request, model, kind, body, settings)
    except PredictorError as error:
        from ...inputs import protocols

        if body is None and kind == "json":  # the model (so the body's bound) is unknown
            body = probe_json(data, settings.max_rows)
        if protocols.is_bigquery(body):
            return error_response(error, bigquery=True)
        raise


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
