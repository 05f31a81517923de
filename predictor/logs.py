"""Log records as one JSON line each on stdout, in the shape Cloud Logging parses."""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

from . import request_ids

if TYPE_CHECKING:
    from flask import Request

# Cloud Logging takes entries of up to 256 KB: every line stays well under it
MAX_LINE_BYTES = 64 * 1024
MAX_PART_BYTES = 8 * 1024  # what a cut line keeps of its message and of each field
MAX_URL_CHARS = 2048
MAX_USER_AGENT_CHARS = 512
# query parameters whose values are never logged
_CREDENTIAL_PARAMETER = re.compile(r"key|token|secret|passw|pwd|auth|sig|credential|session", re.IGNORECASE)


class JSONLineFormatter(logging.Formatter):
    """`severity` and `message`, the request's id when logged while one is answered, plus
    whatever a record carries in `extra={"json_fields": ...}`; a line over MAX_LINE_BYTES (or the
    record's own `max_line_bytes`) keeps the start of its message and its small fields."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message = f"{message}\n{self.formatException(record.exc_info)}"
        entry = {"severity": record.levelname, "message": message, "logger": record.name}
        request_id = request_ids.current.get()
        if request_id is not None:
            entry["request_id"] = request_id
        entry.update(getattr(record, "json_fields", {}))
        line = orjson.dumps(entry, default=str)
        if len(line) > getattr(record, "max_line_bytes", MAX_LINE_BYTES):
            line = orjson.dumps(_cut_entry(entry, len(line)), default=str)
        return line.decode()


def _cut_entry(entry: dict[str, Any], size: int) -> dict[str, Any]:
    cut: dict[str, Any] = {}
    for name, value in entry.items():
        shown = orjson.dumps(value, default=str)
        if len(shown) <= MAX_PART_BYTES:
            cut[name] = value
        elif isinstance(value, str):
            cut[name] = _cut(value, MAX_PART_BYTES)
        else:
            cut[name] = f"<{len(shown)} bytes, left out>"
    cut["line_cut_from_bytes"] = size
    return cut


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}…[{len(text) - limit} more characters]"


def request_url(request: Request) -> str:
    """The URL as the client sent it, when the server keeps the raw request target (gunicorn's
    `RAW_URI`); werkzeug's `request.url` rebuilds and decodes it into an IRI, which cost a tenth
    of our share of a 1-row request."""
    raw = request.environ.get("RAW_URI", "")
    if not raw.startswith("/"):
        return request.url  # another server, or an absolute target from a proxy
    host = request.environ.get("HTTP_HOST") or request.host
    return f"{request.scheme}://{host}{raw}"


def logged_url(url: str) -> str:
    """The request URL for a log: at most MAX_URL_CHARS, credential-looking query values redacted."""
    if "?" not in url and len(url) <= MAX_URL_CHARS:
        return url  # nothing to cut or redact: as sent
    parts = urlsplit(_cut(url, MAX_URL_CHARS))
    if not parts.query:
        return parts.geturl()
    query = [
        (name, "REDACTED" if _CREDENTIAL_PARAMETER.search(name) else value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(query, safe="[]…")))


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
    if not project:
        return {}
    match = _CLOUD_TRACE.match(headers.get("X-Cloud-Trace-Context", "").strip()) or _TRACEPARENT.match(
        headers.get("traceparent", "").strip()
    )
    if not match or set(match.group(1)) == {"0"}:
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
        "requestUrl": logged_url(url),
        "status": status,
        "latency": f"{seconds:.6f}s",
        "requestSize": str(request_size or 0),
        "responseSize": str(response_size or 0),
        "userAgent": _cut(headers.get("User-Agent", ""), MAX_USER_AGENT_CHARS),
    }
    return {"httpRequest": http_request, **trace_fields(headers)}
