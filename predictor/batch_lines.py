"""The JSON lines of a batch's outputs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from .errors import InvalidInput


def predictions(numbers: Sequence[int], outputs: list[Any], keys: list[Any] | None) -> bytes:
    """One line per prediction: `row`, `prediction` and, when keys are carried, `key`."""
    if keys is None:
        return b"".join(line({"row": n, "prediction": p}) for n, p in zip(numbers, outputs, strict=True))
    return b"".join(
        line({"row": n, "prediction": p, "key": k}) for n, p, k in zip(numbers, outputs, keys, strict=True)
    )


def error(number: int | None, message: str, details: Any = None) -> bytes:
    """An errors-file line: the row, and the error body HTTP would answer."""
    return line({"row": number, "error": InvalidInput(message, details).body()["error"]})


def line(value: dict[str, Any]) -> bytes:
    # not orjson's OPT_APPEND_NEWLINE: its bytes keep a large buffer each (1M lines took 7x longer)
    return orjson.dumps(value) + b"\n"
