"""The JSON lines of a batch's outputs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from ..errors import InvalidInput


def predictions(numbers: Sequence[int], outputs: list[Any], keys: list[Any] | None) -> bytes:
    """One line per prediction: `row`, `prediction` and, when keys are carried, `key` — the
    bytes `orjson.dumps` gives each line's object, built from one dump per column when no value
    holds a comma (numbers, labels, keys read in bulk), else one dump per line."""
    if len(outputs) != len(numbers) or (keys is not None and len(keys) != len(numbers)):
        raise ValueError(f"{len(numbers)} rows but {len(outputs)} predictions")
    values = _each(outputs)
    if values is not None and keys is not None:
        pieces = _each(keys)
        values = None if pieces is None else list(map(b',"key":'.join, zip(values, pieces)))
    if values is not None:
        if not values:
            return b""
        rows = _each(list(numbers))
        return b'{"row":' + b'}\n{"row":'.join(map(b',"prediction":'.join, zip(rows, values))) + b"}\n"
    if keys is None:
        return b"".join(line({"row": n, "prediction": p}) for n, p in zip(numbers, outputs, strict=True))
    return b"".join(
        line({"row": n, "prediction": p, "key": k}) for n, p, k in zip(numbers, outputs, keys, strict=True)
    )


def _each(values: list[Any]) -> list[bytes] | None:
    """Each value's JSON, split out of one dump of the list; None if a value holds a comma (the
    pieces would then outnumber the values)."""
    pieces = orjson.dumps(values)[1:-1].split(b",") if values else []
    return pieces if len(pieces) == len(values) else None


NO_KEY = object()  # the file carries no keys (no BATCH_KEY_FIELD): error lines have no "key"


def error(
    number: int | None,
    message: str,
    details: Any = None,
    key: Any = NO_KEY,
    kind: type[InvalidInput] = InvalidInput,
) -> bytes:
    """An errors-file line: the row, the error body HTTP would answer (`kind` gives its code)
    and, when keys are carried, the row's key (null when it has none or it could not be read)."""
    value = {"row": number, "error": kind(message, details).body()["error"]}
    if key is not NO_KEY:
        value["key"] = key
    return line(value)


def line(value: dict[str, Any]) -> bytes:
    # a new bytes: orjson's own (and with OPT_APPEND_NEWLINE) keep a large buffer each, and a
    # list of a million of them took 7x as long to build
    return orjson.dumps(value) + b"\n"
