"""Request bodies: the shapes callers send, reduced to a list of rows."""

from __future__ import annotations

from typing import Any

from .errors import InvalidInput
from .schema import json_type


def rows_from_body(body: Any) -> list[Any]:
    """The original payload: a JSON list of records (or of arrays, for unnamed features)."""
    if isinstance(body, list):
        return body
    raise InvalidInput(
        f"expected a JSON list of records, one object of feature values per row, got {json_type(body)}",
        {"expected": "array"},
    )
