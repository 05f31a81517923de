"""UNKNOWN_FEATURES=ignore: fields and columns the model does not take are dropped (as MLflow's
scoring server does), named in a response header, and their "did you mean" hints logged."""

from __future__ import annotations

import logging
from typing import Any

from .schema import MAX_NAME_SHOWN, MAX_UNKNOWN_LISTED, Features, unknown_message

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
