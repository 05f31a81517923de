"""Marshmallow schemas derived from the model: the single source of the request rules."""

from __future__ import annotations

import difflib
import functools
import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validates_schema

from ..errors import InvalidInput, UnsupportedArtifact
from .fastpath import NumericRows

log = logging.getLogger(__name__)

# An error's cost and size are bounded, whatever the request: checking stops once this many
# rows are found invalid, a row lists this many unknown keys (each cut to this length), and rows
# are listed while the details stay under this size.
MAX_ROWS_LISTED = 100
MAX_UNKNOWN_LISTED = 10
MAX_NAME_SHOWN = 64
MAX_DETAILS_BYTES = 32 * 1024
CHUNK_ROWS = 256  # rows checked per marshmallow call, so checking can stop early
ROW_KEY = "_row"  # where errors about a whole row (not one field) are reported


@dataclass(frozen=True)
class Column:
    name: str  # the key callers send ("citric acid"); for positional models, the index
    type: str = "double"  # an MLflow column type
    required: bool = True


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__


def brief(value: Any) -> str:
    """A value a caller sent, for a message or a log line: a string (cut to MAX_NAME_SHOWN
    characters) or a number quoted as Python writes it, anything else by its JSON type (an
    array or object may be nested too deep, or be too large, to write)."""
    if isinstance(value, str):
        return repr(value[:MAX_NAME_SHOWN]) + ("…" if len(value) > MAX_NAME_SHOWN else "")
    if value is None or isinstance(value, bool):
        return json_type(value) if value is None else str(value).lower()
    if isinstance(value, (int, float)):
        text = repr(value)
        return text if len(text) <= MAX_NAME_SHOWN else f"a number of {len(text)} digits"
    return f"an {json_type(value)}" if json_type(value) in ("array", "object") else json_type(value)


def shown(names: Any, quote: bool = True) -> str:
    """Names for a message: the first MAX_UNKNOWN_LISTED, each cut to MAX_NAME_SHOWN characters,
    and how many more there are."""
    names = list(names)
    cut = [str(name)[:MAX_NAME_SHOWN] for name in names[:MAX_UNKNOWN_LISTED]]
    text = ", ".join(map(repr, cut) if quote else cut)
    return text + (f" and {len(names) - len(cut)} more" if len(names) > len(cut) else "")


def check_unique(what: str, names: list[Any]) -> None:
    """400 naming the first name given twice: a column, field or tensor must not repeat (else the
    last would silently win)."""
    seen = set()
    for name in names:
        if name in seen:
            raise InvalidInput(f"{what} {shown([name])} is given twice; name each once", {"duplicate": name})
        seen.add(name)


class _JSONField(fields.Field):
    """A field that takes one JSON type only, with no coercion from strings. `missing` is what a
    missing value (null, NaN, an empty CSV cell) becomes, as MLflow passes it to the model; a
    column type that has none refuses it."""

    expected = "a value"
    missing: Any = None
    takes_missing = False

    def __init__(self, **kwargs: Any):
        messages = {
            "null": f"expected {self.expected}, got a missing value (null); this column takes none",
            "required": "missing required feature",
        }
        super().__init__(error_messages=messages, allow_none=self.takes_missing, **kwargs)

    def deserialize(self, value: Any, attr: Any = None, data: Any = None, **kwargs: Any) -> Any:
        if self.takes_missing and (value is None or (type(value) is float and math.isnan(value))):
            return self.missing
        return super().deserialize(value, attr, data, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        problem = self.check(value)
        if problem:
            raise ValidationError(problem)
        return value

    def check(self, value: Any) -> str | None:
        raise NotImplementedError


class JSONNumber(_JSONField):
    """double/float: a finite JSON number (`29` for 29.0), or a missing value, NaN."""

    expected = "a number"
    missing = math.nan
    takes_missing = True

    def check(self, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"expected a number, got {json_type(value)}"
        try:
            finite = math.isfinite(value) or math.isnan(value)
        except OverflowError:
            finite = False
        return None if finite else "expected a finite number"


class JSONInteger(_JSONField):
    """long/integer: a JSON integer within the column's bit width; a whole number written as a
    float (`44.0`, as pandas writes an integer column with gaps) is that integer, as MLflow takes
    it, up to 2**53 (past it a float is not exact); `40.5` is refused, not rounded."""

    expected = "an integer"

    def __init__(self, bits: int, **kwargs: Any):
        self.bound = 2 ** (bits - 1)
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if type(value) is float and value.is_integer() and abs(value) <= 2**53:
            value = int(value)
        return super()._deserialize(value, attr, data, **kwargs)

    def check(self, value: Any) -> str | None:
        if type(value) is float and math.isfinite(value):
            return f"expected an integer, got {value!r}"
        if isinstance(value, bool) or not isinstance(value, int):
            return f"expected an integer, got {json_type(value)}"
        if not -self.bound <= value < self.bound:
            return f"expected an integer from {-self.bound} to {self.bound - 1}, got {value}"
        return None


class JSONBoolean(_JSONField):
    expected = "true or false"

    def check(self, value: Any) -> str | None:
        return None if isinstance(value, bool) else f"expected true or false, got {json_type(value)}"


class JSONString(_JSONField):
    """A string, or a missing value: NaN, as pandas holds a missing string."""

    expected = "a string"
    missing = math.nan
    takes_missing = True

    def check(self, value: Any) -> str | None:
        return None if isinstance(value, str) else f"expected a string, got {json_type(value)}"


class JSONDateTime(_JSONField):
    """datetime: a string pandas reads as a date and time, as MLflow's server reads it
    (`2024-01-05`, `2024-01-05T10:20:30`, ...), timezone-naive as MLflow requires; each value
    read on its own (MLflow infers one format from a column's first value), so a row answers
    alone as in any batch. A missing value is NaT."""

    expected = "a date-time string"
    missing = np.datetime64("NaT", "ns")
    takes_missing = True

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        stamp, problem = self._read(value)
        if problem:
            raise ValidationError(problem)
        return stamp

    def check(self, value: Any) -> str | None:
        return self._read(value)[1]

    def _read(self, value: Any) -> tuple[Any, str | None]:
        example = "as 2024-01-05T10:20:30"
        if not isinstance(value, str):
            return None, f"expected a date-time string ({example}), got {json_type(value)}"
        import pandas as pd  # only for a model with a datetime column

        try:
            stamp = pd.Timestamp(value)
        except (ValueError, OverflowError, TypeError):
            return None, f"expected a date-time string ({example}), got {brief(value)}"
        if stamp is pd.NaT:
            return self.missing, None
        if stamp.tzinfo is not None:
            return (
                None,
                f"expected a date and time without a timezone, as MLflow takes them; got {brief(value)}",
            )
        return stamp.to_datetime64().astype("datetime64[ns]"), None


FIELD_FOR_TYPE = {
    "double": JSONNumber,
    "float": JSONNumber,
    "long": lambda **kw: JSONInteger(64, **kw),
    "integer": lambda **kw: JSONInteger(32, **kw),
    "boolean": JSONBoolean,
    "string": JSONString,
    "datetime": JSONDateTime,
}
DTYPE_FOR_TYPE = {
    "double": "float64",
    "float": "float32",
    "long": "int64",
    "integer": "int32",
    "boolean": "bool",
    "string": "object",
    "datetime": "datetime64[ns]",
}


class _RowSchema(Schema):
    """One request row. Unknown keys are reported by name, with the closest known feature."""

    class Meta:
        unknown = EXCLUDE

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _no_unknown_keys(self, data: Any, original_data: Any, **kwargs: Any) -> None:
        if not self._takes(original_data):
            return
        known = {f.data_key for f in self.fields.values()}
        unknown = [key for key in original_data if key not in known]
        if not unknown:
            return
        errors: dict[str, list[str]] = {
            str(key)[:MAX_NAME_SHOWN]: [self._unknown(key, known)] for key in unknown[:MAX_UNKNOWN_LISTED]
        }
        if len(unknown) > MAX_UNKNOWN_LISTED:
            errors["_schema"] = [
                f"{len(unknown)} unknown features; the first {MAX_UNKNOWN_LISTED} are listed"
            ]
        raise ValidationError(errors)

    def _takes(self, row: Any) -> bool:
        """Whether `row` is an object this schema reads key by key."""
        return isinstance(row, dict)

    def _unknown(self, key: Any, known: set[str]) -> str:
        return unknown_message(key, known)


class _PositionalRowSchema(_RowSchema):
    """A row of a model that knows no feature names: a JSON array, one value per feature, or an
    object keyed by position ("0" to "N-1", as pandas names a frame's unnamed columns)."""

    @pre_load
    def _index_values(self, row: Any, **kwargs: Any) -> Any:
        # anything but an array of the right length or an object keyed by position fails as the
        # type error says; in one keyed by position, a key left out or unknown is named
        if isinstance(row, list) and len(row) == len(self.fields):
            return {str(i): value for i, value in enumerate(row)}
        return row if self._takes(row) else None

    def _takes(self, row: Any) -> bool:
        return isinstance(row, dict) and any(str(i) in row for i in range(len(self.fields)))

    def _unknown(self, key: Any, known: set[str]) -> str:
        return f"unknown feature; this model knows no feature names: {positions(len(known))}"


def positions(count: int) -> str:
    """How a model that knows no feature names takes its values, for messages."""
    return f"its {count} values come in an array, or keyed by position, '0' to '{count - 1}'"


def unknown_message(key: str, known: set[str]) -> str:
    by_case = {name.lower(): name for name in known}
    close = by_case.get(str(key).lower()) or next(
        iter(difflib.get_close_matches(str(key), sorted(known), n=1)), None
    )
    return f"unknown feature; did you mean '{close}'?" if close else "unknown feature"


@dataclass(frozen=True)
class Features:
    """The model's inputs in the order it takes them, and the schema that checks a request."""

    columns: tuple[Column, ...]
    named: bool  # rows are objects keyed by name (else arrays, by position)
    source: str  # where the columns came from: signature, feature_names_in_, n_features_in_
    schema: Schema

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @functools.cached_property
    def fast_path(self) -> NumericRows | None:
        """Whole-batch checks, for models whose inputs are all required named doubles."""
        if self.named and all(c.type == "double" and c.required for c in self.columns):
            return NumericRows(self.names)
        return None

    def check(self, rows: list[Any] | np.ndarray, noun: str = "row") -> list[dict[str, Any]] | np.ndarray:
        """Valid rows as a float64 matrix in model order when the fast path can prove them valid,
        else as marshmallow leaves them (`validate`), which also reports every error.
        A matrix (a protocol's own fast path, `NumericRows.matrix_from_arrays`) is valid already."""
        if isinstance(rows, np.ndarray):
            return rows
        if self.fast_path is not None:
            matrix = self.fast_path.matrix(rows)
            if matrix is not None:
                return matrix
        return self.validate(rows, noun)

    def validate(self, rows: list[Any], noun: str = "row") -> list[dict[str, Any]]:
        """Checked rows, each keyed `f0..fN` in model order; otherwise the errors of the first
        MAX_ROWS_LISTED invalid rows at once (checking stops there)."""
        checked: list[dict[str, Any]] = []
        messages: dict[int, Any] = {}
        for start in range(0, len(rows), CHUNK_ROWS):
            chunk = rows[start : start + CHUNK_ROWS]
            try:
                checked.extend(self.schema.load(chunk))
            except ValidationError as exc:
                messages.update((start + int(index), errors) for index, errors in exc.messages.items())
                # marshmallow's frame holds the error that holds that frame: a cycle only the
                # collector frees, keeping the rows alive (8 MB for a record of 85,000 fields)
                exc.__traceback__ = None
                if len(messages) >= MAX_ROWS_LISTED:
                    raise _invalid(messages, len(rows), start + len(chunk), noun) from None
        if messages:
            raise _invalid(messages, len(rows), len(rows), noun)
        return checked


def features_for(estimator: Any, signature: dict[str, Any] | None) -> Features:
    """Derive the columns from the MLflow signature, else the estimator's fitted attributes."""
    found = _from_signature(signature) or _from_estimator(estimator)
    if found is None:
        raise UnsupportedArtifact(
            "cannot tell the model's inputs: it has no MLflow signature, feature_names_in_ or "
            "n_features_in_; log it with a signature (mlflow.sklearn.log_model(..., signature=...))"
        )
    columns, source = found
    named = all(c.name for c in columns)
    if named:
        columns = _in_fitted_order(columns, estimator)
    else:
        columns = [Column(str(i), c.type, True) for i, c in enumerate(columns)]
    row_schema = _RowSchema if named else _PositionalRowSchema
    field_map = {
        f"f{i}": FIELD_FOR_TYPE[c.type](data_key=c.name, required=c.required) for i, c in enumerate(columns)
    }
    schema_class = row_schema.from_dict(field_map, name="Features")
    schema_class.error_messages = {
        "type": f"expected a JSON object of feature values, or an array of the {len(columns)} values "
        "in the model's order"
        if named
        else f"expected a JSON array of {len(columns)} values, or an object keyed by position, "
        f"'0' to '{len(columns) - 1}'"
    }
    return Features(tuple(columns), named, source, schema_class(many=True))


def _from_signature(signature: dict[str, Any] | None) -> tuple[list[Column], str] | None:
    inputs = (signature or {}).get("inputs")
    if not isinstance(inputs, list) or not inputs:
        return None
    if any(not isinstance(spec, dict) or spec.get("type") == "tensor" for spec in inputs):
        log.info("the signature's inputs are tensors; taking the columns from the estimator")
        return None
    unsupported = [
        f"{spec.get('name')}: {spec.get('type')}" for spec in inputs if spec.get("type") not in FIELD_FOR_TYPE
    ]
    if unsupported:
        raise UnsupportedArtifact(
            f"the signature has column types this function cannot take: {', '.join(unsupported)}; "
            f"supported: {', '.join(FIELD_FOR_TYPE)}"
        )
    columns = [Column(spec.get("name") or "", spec["type"], spec.get("required", True)) for spec in inputs]
    return columns, "signature"


def _from_estimator(estimator: Any) -> tuple[list[Column], str] | None:
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        return [Column(str(n)) for n in names], "feature_names_in_"
    count = getattr(estimator, "n_features_in_", None)
    if isinstance(count, int) and count > 0:
        return [Column("") for _ in range(count)], "n_features_in_"
    return None


def _in_fitted_order(columns: list[Column], estimator: Any) -> list[Column]:
    """Order the columns as the estimator was fitted, when it recorded its feature names."""
    fitted = getattr(estimator, "feature_names_in_", None)
    if fitted is None:
        return columns
    by_name = {c.name: c for c in columns}
    fitted = [str(n) for n in fitted]
    if sorted(fitted) != sorted(by_name):
        log.warning(
            "the signature's columns differ from the estimator's feature_names_in_; using the signature"
        )
        return columns
    return [by_name[n] for n in fitted]


def _invalid(messages: dict[int, Any], row_count: int, rows_checked: int, noun: str) -> InvalidInput:
    rows = {
        str(index): {ROW_KEY if key == "_schema" else key: value for key, value in errors.items()}
        for index, errors in sorted(messages.items())
    }
    first_index, first_errors = next(iter(rows.items()))
    first_field, first_messages = next(iter(first_errors.items()))
    where = f"the {noun}" if first_field == ROW_KEY else f"'{first_field}'"
    counted = f"{len(rows)} of {row_count} {noun}s are invalid"
    if rows_checked < row_count:
        counted = (
            f"{len(rows)} of the first {rows_checked} of {row_count} {noun}s are invalid "
            "(checking stopped there)"
        )
    message = f"{counted}; {noun} {first_index}, {where}: {'; '.join(first_messages)}"
    listed, size = {}, 0
    for index, errors in list(rows.items())[:MAX_ROWS_LISTED]:
        size += len(orjson.dumps(errors))
        if listed and size > MAX_DETAILS_BYTES:
            break
        listed[index] = errors
    details = {
        "rows": listed,
        "invalid_row_count": len(rows),
        "rows_listed": len(listed),
        "row_count": row_count,
    }
    if rows_checked < row_count:
        details["rows_checked"] = rows_checked
    return InvalidInput(message, details)
