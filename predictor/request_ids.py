"""Each request's id: the caller's X-Request-Id, else one derived from the trace header Google's
front end adds, else a new UUID. It is echoed in the response and put on every log line."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from contextvars import ContextVar

HEADER = "X-Request-Id"
_CALLERS = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")  # anything else is replaced, not echoed
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
_CLOUD_TRACE = re.compile(r"^([0-9a-fA-F]{32})(?:/([0-9]{1,20}))?")

current: ContextVar[str | None] = ContextVar("request_id", default=None)


def request_id(headers: Mapping[str, str]) -> str:
    """The id for a request with these headers (trace and span, so each hop gets its own)."""
    given = headers.get(HEADER, "").strip()
    if _CALLERS.match(given):
        return given
    match = _TRACEPARENT.match(headers.get("traceparent", "").strip())
    if match and set(match.group(1)) != {"0"}:
        return f"{match.group(1)}-{match.group(2)}"
    match = _CLOUD_TRACE.match(headers.get("X-Cloud-Trace-Context", "").strip())
    if match and set(match.group(1)) != {"0"}:
        trace = match.group(1).lower()
        return f"{trace}-{match.group(2)}" if match.group(2) else trace
    return uuid.uuid4().hex
