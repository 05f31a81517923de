"""The request body: its media type, encoding and size checked, then parsed within a bound;
and the row limit.

Parsing makes Python objects from the body, and a small JSON text makes many: 32 MB of
`[{},{},...]` is ten million dicts, over a gigabyte. So before it is parsed, the body's
separators and brackets are counted. Every JSON value or key after the first in its container
follows a comma, and every container opens with a bracket, so commas + brackets bound how many
objects parsing can make; for CSV, commas + line ends bound the cells. A body holding more than
MAX_ROWS rows of the model's width could is refused (413) before anything is built from it.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Request
from gunicorn.http.body import Body as GunicornBody
from gunicorn.http.body import LengthReader as GunicornLengthReader

from ..errors import InvalidInput, InvalidJSON, PayloadTooLarge, RequestTimeout, UnsupportedMediaType
from ..inputs import nan_token
from ..read_deadline import deadlines

JSON_TYPES = ("application/json",)
CSV_TYPES = ("text/csv", "application/csv")
BINARY_TYPE = "application/octet-stream"
# room for the envelope, options and separators inside strings, beyond the rows themselves
SLACK_VALUES = 4096
PROBE_WIDTH = 32  # features assumed when the body's shape is needed but the model is not loaded
_KEEP = {"json": b",[{", "csv": b",\n"}
_DROP = {kind: bytes(set(range(256)) - set(keep)) for kind, keep in _KEEP.items()}


def read_body(request: Request, limit: int, timeout: float, binary: bool = False) -> tuple[str, bytes]:
    """("json" or "csv", the body's bytes): at most `limit` bytes, of a type we take, arrived
    within `timeout` seconds. With `binary` (a JSON header and raw tensors after it), also
    `application/octet-stream`."""
    mimetype = request.mimetype
    is_csv = mimetype in CSV_TYPES
    json_like = mimetype in JSON_TYPES or mimetype.endswith("+json") or (binary and mimetype == BINARY_TYPE)
    if mimetype and not is_csv and not json_like:
        raise UnsupportedMediaType(
            f"expected Content-Type: application/json or text/csv, got {mimetype}",
            {"expected": [*JSON_TYPES, *CSV_TYPES]},
        )
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise UnsupportedMediaType(
            f"Content-Encoding {encoding} is not supported; send the body uncompressed",
            {"expected": "identity"},
        )
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(f"the body must be UTF-8, got charset={charset}", {"expected": "utf-8"})
    too_large = PayloadTooLarge(
        f"the body is larger than the {limit}-byte limit (MAX_REQUEST_BYTES)", {"limit_bytes": limit}
    )
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    with deadlines.bounded(request.environ.get("gunicorn.socket"), timeout) as watch:
        try:
            data = body_bytes(request, limit)
        except Exception:
            if not watch.expired:
                raise
            data = b""
    if watch.expired:
        raise RequestTimeout(
            f"the body did not arrive within {timeout:g} second{'' if timeout == 1 else 's'} "
            "(BODY_TIMEOUT_SECONDS); send it at once",
            {"limit_seconds": timeout},
        )
    if len(data) > limit:
        raise too_large
    return ("csv" if is_csv else "json"), data


def parse_body(kind: str, data: bytes, max_rows: int, width: int) -> Any:
    """The parsed JSON body, or the CSV body's text; refused first if it holds more values
    than `max_rows` rows of `width` features can."""
    check_values(kind, data, max_rows, width)
    if kind == "csv":
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"the CSV body is not UTF-8: {exc}") from None
    if not data.strip():
        raise InvalidJSON("the body is empty; send a JSON list of records")
    try:
        return nan_token.loads(data)  # MLflow's clients write a missing value as NaN
    except orjson.JSONDecodeError as error:
        hint = "; Infinity is not a value a model takes" if b"Infinity" in data else ""
        raise InvalidJSON(f"the body is not valid JSON: {error}{hint}") from None


def probe_json(data: bytes, max_rows: int) -> Any:
    """The JSON body, parsed only to tell its shape when the model, and so its width, is not
    known (it failed to load): within the bound of a PROBE_WIDTH-feature model, else None."""
    try:
        return parse_body("json", data, max_rows, PROBE_WIDTH)
    except (InvalidJSON, PayloadTooLarge):
        return None


def check_values(kind: str, data: bytes, max_rows: int, width: int) -> None:
    """413 when the body's separators and brackets outnumber what `max_rows` rows allow."""
    limit = (max_rows + 1) * (width + 2) + SLACK_VALUES  # a row: its values, its brackets
    if len(data) <= limit:
        return  # each counted mark is one byte: this body cannot hold more
    counted = len(data.translate(None, _DROP[kind]))  # one pass over the bytes
    if counted > limit:
        raise PayloadTooLarge(
            f"the body holds more values than {max_rows} rows (MAX_ROWS) of this model's {width} "
            "features can; send smaller batches",
            {"limit_rows": max_rows},
        )


def check_row_count(count: int, max_rows: int) -> None:
    """413 when a request holds more rows than MAX_ROWS (checked before any row is validated)."""
    if count > max_rows:
        raise PayloadTooLarge(
            f"{count} rows is more than the {max_rows}-row limit (MAX_ROWS); send smaller batches",
            {"limit_rows": max_rows, "rows": count},
        )


def body_bytes(request: Request, limit: int) -> bytes:
    """At most `limit + 1` bytes of the body.

    gunicorn's `wsgi.input` reads 1 KiB per call, with buffer copies each time (13 ms for a
    2.4 MB body on our bench machine); the length-bounded reader beneath it, when nothing has
    been read yet, hands over the declared length at once (2 ms). Any other server or body
    (chunked, already started) is read the standard way.
    """
    body, length = request.environ.get("wsgi.input"), request.content_length
    if (
        type(body) is GunicornBody
        and type(body.reader) is GunicornLengthReader
        and body.buf.tell() == 0
        and length is not None
        and length <= limit
    ):
        return body.reader.read(length)
    return request.stream.read(limit + 1)
