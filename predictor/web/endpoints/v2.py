"""The Open Inference Protocol v2 (KServe, MLServer and Triton clients) under `/v2`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Request, Response

from ...errors import NotFound, UnsupportedMediaType
from .. import capture
from ..body import check_row_count, parse_body, read_body
from ..responses import json_response

if TYPE_CHECKING:
    from ...loading.repository import ModelRepository
    from ...model import ServedModel


def live(models: ModelRepository, request: Request) -> Response:
    return json_response({"live": True})


def ready(models: ModelRepository, request: Request) -> Response:
    """Ready when the model is loaded; with MODELS, at once (each model loads on its first request)."""
    if models.named:
        models.checked_settings()
    else:
        models.lifecycle().model()
    return json_response({"ready": True})


def model_metadata(models: ModelRepository, request: Request, name: str) -> Response:
    from .. import oip_replies

    return json_response(oip_replies.model_metadata(_named_model(models, name), name))


def model_ready(models: ModelRepository, request: Request, name: str) -> Response:
    _named_model(models, name)
    return json_response({"name": name, "ready": True})


def repository_index(models: ModelRepository, request: Request) -> Response:
    """The repository extension's index: every model with its state (READY, LOADING or
    UNAVAILABLE and why); `{"ready": true}` lists the loaded ones alone."""
    from .. import oip_replies

    settings = models.checked_settings()
    asked = request.get_json(silent=True) if request.content_length else None
    only_ready = isinstance(asked, dict) and asked.get("ready") is True
    if models.named:
        index = [oip_replies.index_entry(row) for row in models.index()]
    else:
        model = models.lifecycle().peek()
        name = settings.model_name or (oip_replies.default_name(model) if model else "model")
        index = [oip_replies.index_entry({"name": name, "state": "loaded" if model else "not loaded"})]
    return json_response([row for row in index if row["state"] == "READY" or not only_ready])


def infer(models: ModelRepository, request: Request, name: str, version: str | None = None) -> Response:
    settings = models.checked_settings()
    from ...inputs import extra_features, oip, oip_binary
    from .. import oip_replies

    header_length = request.headers.get(oip_binary.HEADER)
    limits = (settings.max_request_bytes, settings.body_timeout_seconds)
    kind, data = read_body(request, *limits, binary=header_length is not None)
    if kind != "json":
        raise UnsupportedMediaType("an inference request is JSON", {"expected": "application/json"})
    model = _named_model(models, name, version)
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


def _named_model(models: ModelRepository, name: str, version: str | None = None) -> ServedModel:
    """The model `name` names (with MODELS), or the one served if `name` is its name; and
    `version`, when the registry names one, the version served."""
    if models.named:
        served, model = name, models.lifecycle(name).model()
    else:
        from .. import oip_replies

        model = models.lifecycle().model()
        served = models.checked_settings().model_name or oip_replies.default_name(model)
        if name != served:
            raise NotFound(f"no model named '{name}'; this function serves '{served}'", {"model": served})
    served_version = model.origin.version if model.origin else None
    if version is not None and served_version is not None and version != served_version:
        raise NotFound(
            f"'{name}' is served at version {served_version}, not {version}",
            {"model": served, "version": served_version},
        )
    return model
