"""Request bodies in each client's shape, reduced to the rows the schema checks.

- the original payload: a JSON list of records (the reply is a bare list);
- MLflow's scoring protocol: one of `dataframe_split`, `dataframe_records`, `instances`,
  `inputs`, with optional `params` (the reply is `{"predictions": [...]}`);
- Vertex AI: `instances` with optional `parameters`;
- BigQuery remote functions: `calls`, one per table row (the reply is `{"replies": [...]}`);
- CSV with a header row.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from ..errors import InvalidInput
from . import nan_token
from .schema import (
    MAX_NAME_SHOWN,
    MAX_UNKNOWN_LISTED,
    Features,
    check_unique,
    json_type,
    shown,
    unknown_message,
)

if TYPE_CHECKING:
    import numpy as np

ENVELOPES = ("dataframe_split", "dataframe_records", "instances", "inputs")
# JSON's number grammar: no "nan", "inf", "6_2", "+1" or "007" (Python's float() takes them all)
# a CSV cell's characters at most, for request bodies and batch files alike (the csv module's own
# limit, 131,072, would refuse a long text cell or key that a batch line may hold)
MAX_CELL_CHARS = 1024 * 1024
csv.field_size_limit(MAX_CELL_CHARS)
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_JSON_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")
OPTION_KEYS = ("params", "parameters")


@dataclass(frozen=True)
class ScoringRequest:
    # records (or arrays, for models without feature names) for the schema, or a matrix the
    # protocol's fast path already proved valid
    rows: list[Any] | np.ndarray
    params: dict[str, Any] = field(default_factory=dict)
    reply_key: str | None = "predictions"  # the reply is {reply_key: [...]}, or a bare list
    row_noun: str = "row"  # what error messages call a row
    protocol: str = "records"  # the body's shape, as captured: records, an envelope, bigquery, csv

    def reply(self, predictions: list[Any]) -> Any:
        return {self.reply_key: predictions} if self.reply_key else predictions


def is_bigquery(body: Any) -> bool:
    return isinstance(body, dict) and "calls" in body


def from_json(body: Any, features: Features) -> ScoringRequest:
    if isinstance(body, list):
        return ScoringRequest(_positional_to_records(body, features), reply_key=None, protocol="records")
    if is_bigquery(body):
        return _from_bigquery(body, features)
    if not isinstance(body, dict):
        raise InvalidInput(
            f"expected a JSON list of records or an object with one of {', '.join(ENVELOPES)}, "
            f"got {json_type(body)}"
        )
    present = [key for key in ENVELOPES if key in body]
    if len(present) != 1:
        found = f"got {', '.join(present)}" if present else f"got keys: {shown(body, quote=False) or 'none'}"
        raise InvalidInput(
            f"expected exactly one of {', '.join(ENVELOPES)}; {found}", {"envelopes": list(ENVELOPES)}
        )
    key = present[0]
    unknown = [k for k in body if k not in (key, *OPTION_KEYS)]
    if unknown:
        raise InvalidInput(
            f"unknown top-level key(s) {shown(unknown)} beside '{key}'; allowed: {', '.join(OPTION_KEYS)}"
        )
    if key == "dataframe_split":
        columns, data = _dataframe_split(body[key], key, features)
        if columns is None:  # values in the model's order, as a frame with no column names
            rows = _positional_to_records(data, features)
        else:
            fast = features.fast_path.matrix_from_arrays(data, columns) if features.fast_path else None
            rows = fast if fast is not None else [dict(zip(columns, row)) for row in data]
    else:
        rows = _positional_to_records(_SHAPES[key](body[key], key), features)
    return ScoringRequest(rows, _params(body), protocol=key)


def _from_bigquery(body: dict[str, Any], features: Features) -> ScoringRequest:
    """Each call holds the features positionally (in the model's column order) or one JSON object."""
    calls, context = body["calls"], body.get("userDefinedContext") or {}
    if not isinstance(calls, list):
        raise InvalidInput(f"'calls' must be a list of argument lists, got {json_type(calls)}")
    if not isinstance(context, dict):
        raise InvalidInput(f"'userDefinedContext' must be an object, got {json_type(context)}")
    count = len(features.columns)
    rows = []
    for index, call in enumerate(calls):
        if not isinstance(call, list):
            raise InvalidInput(f"call {index} must be a list of arguments, got {json_type(call)}")
        json_argument = len(call) == 1 and (count != 1 or isinstance(call[0], (dict, str)))
        if json_argument:
            rows.append(_json_argument(call[0], index))
        elif len(call) == count:
            rows.append(dict(zip(features.names, call)) if features.named else call)
        else:
            raise InvalidInput(
                f"call {index} has {len(call)} arguments; expected {count} (the features in order: "
                f"{', '.join(features.names)}) or 1 JSON object"
            )
    return ScoringRequest(rows, context, reply_key="replies", row_noun="call", protocol="bigquery")


def _json_argument(value: Any, index: int) -> Any:
    """A JSON-typed argument: an object, or a string holding one."""
    if isinstance(value, str):
        try:
            value = nan_token.loads(value)  # orjson's: bounded nesting depth, unlike json.loads
        except orjson.JSONDecodeError:
            raise InvalidInput(f"call {index}: the argument is a string but not a JSON object") from None
    if not isinstance(value, dict):
        raise InvalidInput(f"call {index}: expected a JSON object of features, got {json_type(value)}")
    return value


def from_csv(text: str, features: Features, ignore_unknown: bool = False) -> ScoringRequest:
    """A CSV table with a header row; cells become the JSON types the signature expects.
    `ignore_unknown`: columns the model does not take pass (the caller drops them)."""
    try:
        table = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:  # NUL bytes, a field over the csv module's size limit
        raise InvalidInput(f"the CSV body cannot be read: {exc}") from None
    if not table or not table[0]:
        raise InvalidInput("the CSV body is empty; send a header row with the feature names, then the rows")
    header, types = table[0], {c.name: c.type for c in features.columns}
    check_csv_header(header, features, ignore_unknown)
    rows = []
    for number, cells in enumerate(table[1:], start=2):
        if not cells:
            continue
        if len(cells) != len(header):
            raise InvalidInput(f"CSV line {number} has {len(cells)} cells but the header has {len(header)}")
        rows.append({name: csv_cell(cell, types.get(name)) for name, cell in zip(header, cells)})
    return ScoringRequest(rows, protocol="csv")


def check_csv_header(header: list[str], features: Features, ignore_unknown: bool) -> None:
    """Each column once, and (for a model with named features) each one of them: checked even
    when no row follows."""
    check_unique("CSV column", header)
    if not features.named:
        numbered = {str(i) for i in range(len(features.columns))}
        if not set(header) <= numbered:
            raise InvalidInput(
                "this model knows no feature names: the CSV header must number its columns, "
                f"'0' to '{len(features.columns) - 1}' (as pandas writes a frame of an array)",
                {"header": [name[:MAX_NAME_SHOWN] for name in header[:MAX_UNKNOWN_LISTED]]},
            )
        return
    if ignore_unknown:
        return
    known = set(features.names)
    unknown = [name for name in header if name not in known]
    if unknown:
        listed = {
            name[:MAX_NAME_SHOWN]: unknown_message(name, known) for name in unknown[:MAX_UNKNOWN_LISTED]
        }
        first, reason = next(iter(listed.items()))
        if len(header) == 1 and ";" in header[0]:
            hint = "; the header is one column: separate the columns with commas, not ';'"
        else:
            hint = " (UNKNOWN_FEATURES=ignore drops the columns the model does not take, a label say)"
        raise InvalidInput(
            f"the CSV header has {len(unknown)} unknown column(s); '{first}': {reason}{hint}",
            {"unknown_columns": listed, "unknown_column_count": len(unknown)},
        )


def csv_cell(cell: str, column_type: str | None) -> Any:
    """A CSV cell as the type its column takes, if it is written as JSON writes that type
    (surrounding spaces aside); else left as text, which the schema then refuses by name."""
    if cell == "":
        return None
    text = cell.strip()
    if column_type in ("double", "float") and _JSON_NUMBER.fullmatch(text):
        return float(text)
    if column_type in ("long", "integer") and _JSON_INTEGER.fullmatch(text):
        return int(text)
    if column_type in ("long", "integer") and _JSON_NUMBER.fullmatch(text):
        return float(text)  # `44.0`: the schema takes a whole one as that integer, refuses `40.5`
    if column_type == "boolean" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return cell


def _dataframe_split(value: Any, key: str, features: Features) -> tuple[list[str] | None, list[list[Any]]]:
    """The columns (None when left out: values in the model's order) and the rows. A model that
    knows no feature names takes its positions as columns, numbers or strings, as pandas gives
    them for a frame of an array."""
    if not isinstance(value, dict):
        raise InvalidInput(f"'{key}' must be an object with 'columns' and 'data', got {json_type(value)}")
    columns, data = value.get("columns"), value.get("data")
    if not features.named and isinstance(columns, list):
        columns = [str(c) if type(c) is int else c for c in columns]
    if features.named:  # an unknown name is the schema's to name
        allowed, names = (lambda name: isinstance(name, str)), "a list of feature names"
    else:
        count = len(features.columns)
        allowed = {str(i) for i in range(count)}.__contains__
        names = f"positions, 0 to {count - 1}: this model knows no feature names"
    if columns is not None and (not isinstance(columns, list) or not all(map(allowed, columns))):
        raise InvalidInput(f"'{key}.columns' must be left out or be {names}")
    if columns is not None:
        check_unique(f"'{key}.columns' column", columns)
    if not isinstance(data, list):
        raise InvalidInput(f"'{key}.data' must be a list of rows, got {json_type(data)}")
    extra = [k for k in value if k not in ("columns", "data", "index")]
    if extra:
        raise InvalidInput(f"unknown key(s) in '{key}': {shown(extra)}")
    if "index" in value and (not isinstance(value["index"], list) or len(value["index"]) != len(data)):
        raise InvalidInput(f"'{key}.index' must be a list as long as '{key}.data' ({len(data)} rows)")
    if columns is None:
        return None, data  # each row's length is the schema's to check, as for any array
    for i, row in enumerate(data):
        if not isinstance(row, list) or len(row) != len(columns):
            got = f"{len(row)} values" if isinstance(row, list) else json_type(row)
            raise InvalidInput(
                f"'{key}.data' row {i} has {got}, but there are {len(columns)} columns",
                {"row": i, "columns": len(columns)},
            )
    return columns, data


def _row_list(value: Any, key: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidInput(f"'{key}' must be a list of rows, got {json_type(value)}")
    return value


def _instances(value: Any, key: str) -> list[Any]:
    """A list of rows, or columns as an object of equal-length lists."""
    if not isinstance(value, dict):
        return _row_list(value, key)
    lengths = {name: len(column) for name, column in value.items() if isinstance(column, list)}
    if len(lengths) != len(value) or len(set(lengths.values())) > 1:
        raise InvalidInput(
            f"'{key}' as an object must map each feature to a list of values, all of one length"
        )
    names = list(value)
    return [dict(zip(names, cells)) for cells in zip(*value.values())]


_SHAPES = {
    "dataframe_records": _row_list,
    "instances": _instances,
    "inputs": _instances,
}


def _params(body: dict[str, Any]) -> dict[str, Any]:
    present = [key for key in OPTION_KEYS if key in body]
    if len(present) > 1:
        raise InvalidInput("send options in 'params' or 'parameters', not both")
    params = body[present[0]] if present else {}
    if not isinstance(params, dict):
        raise InvalidInput(f"'{present[0]}' must be an object, got {json_type(params)}")
    return params


def _positional_to_records(rows: list[Any], features: Features) -> list[Any]:
    """Arrays of a named model's values, in its column order, become records; the rest stay."""
    if not features.named:
        return rows
    names, count = features.names, len(features.names)
    return [dict(zip(names, row)) if isinstance(row, list) and len(row) == count else row for row in rows]
