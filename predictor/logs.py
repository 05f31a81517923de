"""Log records as one JSON line each on stdout, in the shape Cloud Logging parses."""

from __future__ import annotations

import logging
import sys

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
