"""UNKNOWN_FEATURES=ignore: fields, columns and Open Inference Protocol input tensors the model
does not take are dropped (as MLflow's scoring server drops fields), named in a response
header, and their "did you mean" hints logged."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .schema import MAX_NAME_SHOWN, MAX_UNKNOWN_LISTED, Features, unknown_message

if TYPE_CHECKING:
    from flask import Response

HEADER = "X-Ignored-Features"
log = logging.getLogger(__name__)


def drop_unknown(rows: list[Any], features: Features) -> tuple[list[Any], list[str]]:
    """`rows` with the keys the model does not take removed, and those keys (first seen first).

    Rows that are not JSON objects are left for the schema to refuse."""
    known = set(features.names)
    count = len(known)
    dropped: dict[str, None] = {}
    kept = []
    for row in rows:
        if type(row) is dict and (len(row) != count or not known.issuperset(row)):
            for key in row:
                if key not in known:
                    dropped[key] = None
            row = {key: value for key, value in row.items() if key in known}
        kept.append(row)
    return kept, list(dropped)


def drop_unknown_inputs(body: Any, features: Features) -> tuple[Any, list[str]]:
    """An OIP request sent as one tensor per feature, without the tensors the model does not
    take, and their names (first seen first). A request with no tensor named after a feature
    (one [N, features] tensor, whatever its name) is left as it is, and so is anything
    malformed: the protocol refuses it with its own words."""
    tensors = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(tensors, list):
        return body, []
    known = set(features.names)
    names = [tensor.get("name") if isinstance(tensor, dict) else None for tensor in tensors]
    if not any(isinstance(name, str) and name in known for name in names):
        return body, []
    unknown = [isinstance(name, str) and name not in known for name in names]
    if not any(unknown):
        return body, []
    kept = [tensor for tensor, dropped in zip(tensors, unknown) if not dropped]
    dropped = list(dict.fromkeys(name for name, gone in zip(names, unknown) if gone))
    return {**body, "inputs": kept}, dropped


def report(response: Response, dropped: list[str], features: Features) -> Response:
    """`response`, naming what was dropped in HEADER (with the hints logged), if anything was."""
    if dropped:
        log_hints(dropped, features)
        response.headers[HEADER] = header_value(dropped)
    return response


def header_value(dropped: list[str]) -> str:
    """The header naming what was ignored: at most MAX_UNKNOWN_LISTED names, each cut short."""
    shown = [name[:MAX_NAME_SHOWN].replace(",", " ") for name in dropped[:MAX_UNKNOWN_LISTED]]
    more = len(dropped) - len(shown)
    value = ", ".join(shown) + (f" (+{more} more)" if more > 0 else "")
    value = value.encode("ascii", "backslashreplace").decode()  # a header holds Latin-1 at most
    return "".join(c if " " <= c < "\x7f" else "?" for c in value)  # and no control characters


def log_hints(dropped: list[str], features: Features) -> None:
    known = set(features.names)
    hints = {name[:MAX_NAME_SHOWN]: unknown_message(name, known) for name in dropped[:MAX_UNKNOWN_LISTED]}
    log.warning(
        "ignored %d unknown feature(s) (UNKNOWN_FEATURES=ignore)",
        len(dropped),
        extra={"json_fields": {"ignored_features": hints}},
    )
