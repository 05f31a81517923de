"""Sampled prediction capture: a sampled request's validated inputs (as records) and outputs, as
one structured log entry (`message` "prediction") that a Cloud Logging sink routes to BigQuery.

Sampling is decided once, when the request is matched to a prediction endpoint; a request that
is not sampled costs one context-variable lookup per hook. API keys, headers and bodies are
never captured; a request that failed is captured with its error code and row count only.
"""

from __future__ import annotations

import logging
import random
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from ..inputs.schema import Features
    from ..model import ServedModel

MESSAGE = "prediction"  # what the sink's filter selects (with the logger's name)
LOGGER = "predictor.capture"
PROBE_ROWS = 64
log = logging.getLogger(LOGGER)


@dataclass
class Capture:
    """What one sampled request has shown so far."""

    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    protocol: str | None = None
    rows_total: int | None = None
    names: list[str] | None = None  # the model's features, in order
    rows: Any = None  # the checked rows as the model took them: a matrix, or f0..fN records
    outputs: list[Any] | None = None

    def inputs(self, count: int) -> list[dict[str, Any]]:
        """The first `count` rows as records (feature name -> value); only these are converted."""
        names, rows = self.names or [], self.rows[:count]
        if hasattr(rows, "tolist"):
            values = rows.tolist()
        else:
            keys = [f"f{i}" for i in range(len(names))]
            values = [[_plain(row.get(key)) for key in keys] for row in rows]
        return [dict(zip(names, row)) for row in values]


def _plain(value: Any) -> Any:
    """A checked value as JSON writes it: a date and time (numpy's) as ISO 8601, NaT as null."""
    if type(value).__name__ == "datetime64":
        text = str(value)
        return None if text == "NaT" else text
    return value


_current: ContextVar[Capture | None] = ContextVar("capture", default=None)


def begin(sample: float) -> bool:
    """Decide, once for this request, whether it is captured."""
    sampled = sample > 0 and (sample >= 1 or random.random() < sample)
    _current.set(Capture() if sampled else None)
    return sampled


def note(protocol: str, rows: int) -> None:
    """The request's protocol and row count, known once its body is parsed."""
    capture = _current.get()
    if capture is not None:
        capture.protocol, capture.rows_total = protocol, rows


def record(features: Features, rows: Any, outputs: list[Any]) -> None:
    """The checked rows (a matrix in model order, or marshmallow's f0..fN rows) and outputs."""
    capture = _current.get()
    if capture is None:
        return
    capture.names = [c.name for c in features.columns]
    capture.rows, capture.outputs = rows, outputs


def finish(
    model: ServedModel | None,
    status: int,
    seconds: float,
    error_code: str | None,
    max_bytes: int,
    name: str | None = None,
) -> None:
    """Log the entry of a sampled request (of at most `max_bytes`), and forget the request;
    `name`: the model's, with MODELS."""
    capture = _current.get()
    if capture is None:
        return
    _current.set(None)
    entry: dict[str, Any] = {
        "requested_at": capture.started.isoformat(),
        "model": None if model is None else model.identity(name),
        "protocol": capture.protocol,
        "status": status,
        "latency_seconds": round(seconds, 6),
        "rows_total": capture.rows_total,
        "rows_captured": 0,
    }
    if error_code is not None or capture.rows is None:
        entry["error_code"] = error_code
    else:
        _add_rows(entry, capture, max_bytes)
    log.info(MESSAGE, extra={"json_fields": entry, "max_line_bytes": max_bytes + 4096})


def _add_rows(entry: dict[str, Any], capture: Capture, max_bytes: int) -> None:
    """All rows if the entry fits in `max_bytes`, else as many leading rows as fit (the count
    first estimated from the size of the leading rows: a large request's rows beyond what fits
    are never converted)."""
    outputs = capture.outputs or []
    count = len(outputs)
    if count > PROBE_ROWS:
        probe = [capture.inputs(PROBE_ROWS), outputs[:PROBE_ROWS]]
        per_row = len(orjson.dumps(probe, default=str)) / PROBE_ROWS
        count = min(count, int(max_bytes / per_row * 1.05) + 1)
    inputs = capture.inputs(count)
    while True:
        entry.update(rows_captured=count, inputs=inputs[:count], outputs=outputs[:count])
        size = len(orjson.dumps(entry, default=str)) + 512  # severity, logger, request id, trace
        if size <= max_bytes or count == 0:
            return
        count = min(count - 1, int(count * max_bytes / size * 0.95))
