"""Open Inference Protocol v2 answers: the model's metadata as tensors, and an inference reply
(JSON, or a JSON header and binary outputs)."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import numpy as np
import orjson
from flask import Response

from ..inputs.oip import DATATYPE_FOR_TYPE
from ..model import ServedModel


def default_name(model: ServedModel) -> str:
    """The registered model's name; else a bare file's stem (`wine.skops` -> `wine`); else `model`."""
    if model.origin is not None and model.origin.name:
        return model.origin.name
    path = PurePosixPath(model.uri.rstrip("/"))
    return path.stem if path.suffix else "model"


def model_metadata(model: ServedModel, name: str) -> dict[str, Any]:
    """The OIP model metadata: the model's inputs and output as tensors."""
    features = model.features
    if features.named:
        inputs = [
            {"name": c.name, "datatype": DATATYPE_FOR_TYPE[c.type], "shape": [-1]} for c in features.columns
        ]
    else:
        inputs = [{"name": "input-0", "datatype": "FP64", "shape": [-1, len(features.columns)]}]
    classes = getattr(model.estimator, "classes_", None)
    output_type = "FP64" if classes is None else _datatype(np.asarray(classes))
    return {
        "name": name,
        "versions": [model.origin.version] if model.origin and model.origin.version else [],
        "platform": "sklearn",
        "inputs": inputs,
        "outputs": [{"name": "predict", "datatype": output_type, "shape": [-1]}],
    }


def infer_reply(
    name: str,
    version: str | None,
    request_id: Any,
    predictions: list[Any],
    classes: Any,
    method: str = "predict",
) -> dict[str, Any]:
    """The reply: one output, named after the method that answered (`predict`, or the model's
    `predict_fn` such as `predict_proba` when the request asked for no other)."""
    if predictions and isinstance(predictions[0], dict):  # probabilities: [N, classes] in class order
        labels = [str(c) for c in classes]
        array, output = np.asarray([[row[c] for c in labels] for row in predictions]), "predict_proba"
    else:
        array, output = np.asarray(predictions), method
    reply: dict[str, Any] = {
        "model_name": name,
        "outputs": [
            {
                "name": output,
                "shape": list(array.shape),
                "datatype": _datatype(array),
                "data": array.ravel().tolist(),
            }
        ],
    }
    if version is not None:
        reply["model_version"] = version
    if request_id is not None:
        reply["id"] = request_id
    return reply


def _datatype(array: np.ndarray) -> str:
    return {"f": "FP64", "i": "INT64", "u": "INT64", "b": "BOOL"}.get(array.dtype.kind, "BYTES")


def wants_binary(body: dict[str, Any]) -> bool:
    """Whether the request asks for its outputs as binary data (Triton's extension): for all of
    them (`parameters.binary_data_output`, what tritonclient sends when it names no output), or
    for a named one (`outputs[i].parameters.binary_data`)."""
    parameters = body.get("parameters")
    if isinstance(parameters, dict) and parameters.get("binary_data_output") is True:
        return True
    outputs = body.get("outputs")
    return isinstance(outputs, list) and any(
        isinstance(o, dict)
        and isinstance(o.get("parameters"), dict)
        and o["parameters"].get("binary_data") is True
        for o in outputs
    )


def binary_response(reply: dict[str, Any]) -> Response:
    """The reply as a JSON header followed by each output's raw values."""
    from ..inputs.oip_binary import HEADER, encode

    raw = []
    for output in reply["outputs"]:
        values = encode(np.asarray(output.pop("data")), output["datatype"])
        output["parameters"] = {"binary_data_size": len(values)}
        raw.append(values)
    header = orjson.dumps(reply)
    return Response(
        header + b"".join(raw), mimetype="application/octet-stream", headers={HEADER: str(len(header))}
    )


INDEX_STATES = {"loaded": "READY", "loading": "LOADING"}  # anything else: UNAVAILABLE, and why


def index_entry(row: dict[str, Any]) -> dict[str, Any]:
    """One model in the repository extension's index."""
    state = INDEX_STATES.get(row["state"], "UNAVAILABLE")
    entry = {"name": row["name"], "state": state}
    if row.get("version"):
        entry["version"] = row["version"]
    if state == "UNAVAILABLE":
        entry["reason"] = row.get("error") or row["state"]
    return entry
