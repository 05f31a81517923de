"""Log records as one JSON line each on stdout, in the shape Cloud Logging parses."""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
from collections.abc import Mapping
from typing import Any

import orjson


class JSONLineFormatter(logging.Formatter):
    """`severity` and `message`, plus whatever a record carries in `extra={"json_fields": ...}`."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message = f"{message}\n{self.formatException(record.exc_info)}"
        entry = {"severity": record.levelname, "message": message, "logger": record.name}
        entry.update(getattr(record, "json_fields", {}))
        return orjson.dumps(entry, default=str).decode()


class StdoutHandler(logging.Handler):
    """Writes to whatever `sys.stdout` is at the time (so redirections and captures see it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record) + "\n")
            sys.stdout.flush()
        except Exception:  # noqa: BLE001 - logging must never break a request
            self.handleError(record)


def configure(name: str = "predictor") -> logging.Logger:
    """Give the package's logger one JSON-lines handler on stdout (idempotent)."""
    logger = logging.getLogger(name)
    if not any(isinstance(h, StdoutHandler) for h in logger.handlers):
        handler = StdoutHandler()
        handler.setFormatter(JSONLineFormatter())
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


_CLOUD_TRACE = re.compile(r"^([0-9a-fA-F]{32})(?:/|$)")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")


@functools.cache
def _project() -> str | None:
    return os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("GCP_PROJECT") or None


def trace_fields(headers: Mapping[str, str]) -> dict[str, str]:
    """`logging.googleapis.com/trace` from X-Cloud-Trace-Context or traceparent, when the
    project is known (GOOGLE_CLOUD_PROJECT), so Cloud Logging groups a request's lines."""
    project = _project()
    match = _CLOUD_TRACE.match(headers.get("X-Cloud-Trace-Context", "").strip()) or _TRACEPARENT.match(
        headers.get("traceparent", "").strip()
    )
    if not project or not match or set(match.group(1)) == {"0"}:
        return {}
    return {"logging.googleapis.com/trace": f"projects/{project}/traces/{match.group(1).lower()}"}


def request_fields(
    method: str,
    url: str,
    status: int,
    seconds: float,
    request_size: int | None,
    response_size: int | None,
    headers: Mapping[str, str],
) -> dict[str, Any]:
    """Cloud Logging's `httpRequest` for one request, plus its trace. No bodies, no secrets."""
    http_request = {
        "requestMethod": method,
        "requestUrl": url,
        "status": status,
        "latency": f"{seconds:.6f}s",
        "requestSize": str(request_size or 0),
        "responseSize": str(response_size or 0),
        "userAgent": headers.get("User-Agent", ""),
    }
    return {"httpRequest": http_request, **trace_fields(headers)}
