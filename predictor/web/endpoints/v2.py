"""The Open Inference Protocol v2 (KServe, MLServer and Triton clients) under `/v2`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Request, Response

from ...errors import NotFound, UnsupportedMediaType
from .. import capture
from ..body import check_row_count, parse_body, read_body
from ..responses import json_response

if TYPE_CHECKING:
    from ...loading.lifecycle import ModelLifecycle
    from ...model import ServedModel


def live(lifecycle: ModelLifecycle, request: Request) -> Response:
    return json_response({"live": True})


def ready(lifecycle: ModelLifecycle, request: Request) -> Response:
    lifecycle.model()
    return json_response({"ready": True})


def model_metadata(lifecycle: ModelLifecycle, request: Request, name: str) -> Response:
    from .. import oip_replies

    return json_response(oip_replies.model_metadata(_named_model(lifecycle, name), name))


def model_ready(lifecycle: ModelLifecycle, request: Request, name: str) -> Response:
    _named_model(lifecycle, name)
    return json_response({"name": name, "ready": True})


def infer(lifecycle: ModelLifecycle, request: Request, name: str, version: str | None = None) -> Response:
    settings = lifecycle.checked_settings()
    from ...inputs import extra_features, oip, oip_binary
    from .. import oip_replies

    header_length = request.headers.get(oip_binary.HEADER)
    limits = (settings.max_request_bytes, settings.body_timeout_seconds)
    kind, data = read_body(request, *limits, binary=header_length is not None)
    if kind != "json":
        raise UnsupportedMediaType("an inference request is JSON", {"expected": "application/json"})
    model = _named_model(lifecycle, name, version)
    binary = None
    if header_length is not None:  # a JSON header, then raw tensors
        data, binary = oip_binary.split(data, header_length)
    body = parse_body(kind, data, settings.max_rows, len(model.features.columns))
    if binary is not None:
        oip_binary.attach(body, binary)
    dropped: list[str] = []
    if settings.unknown_features == "ignore" and model.features.named:
        body, dropped = extra_features.drop_unknown_inputs(body, model.features)
    # what the text proves the data cannot hold, so that numpy may read it whole
    rows, parameters = oip.rows_from_infer(body, model.features, oip.data_proof(data, body))
    check_row_count(len(rows), settings.max_rows)
    capture.note("oip", len(rows))
    checked = model.features.check(rows)
    requested = parameters.get("output")
    predictions = model.predict(checked, requested)
    capture.record(model.features, checked, predictions)
    classes = getattr(model.estimator, "classes_", None)
    served_version = model.origin.version if model.origin else None
    method = "predict" if requested else model.artifact.predict_fn
    reply = oip_replies.infer_reply(name, served_version, body.get("id"), predictions, classes, method)
    if oip_replies.wants_binary(body):
        return extra_features.report(oip_replies.binary_response(reply), dropped, model.features)
    return extra_features.report(json_response(reply), dropped, model.features)


def _named_model(lifecycle: ModelLifecycle, name: str, version: str | None = None) -> ServedModel:
    """The model, if `name` (and `version`, when the registry names one) is the one served."""
    model = lifecycle.model()
    from .. import oip_replies

    served = lifecycle.checked_settings().model_name or oip_replies.default_name(model)
    if name != served:
        raise NotFound(f"no model named '{name}'; this function serves '{served}'", {"model": served})
    served_version = model.origin.version if model.origin else None
    if version is not None and served_version is not None and version != served_version:
        raise NotFound(
            f"'{name}' is served at version {served_version}, not {version}",
            {"model": served, "version": served_version},
        )
    return model
