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


def configure(name: str = "predictor", stream=None) -> logging.Logger:
    """Give the package's logger one JSON handler (idempotent)."""
    logger = logging.getLogger(name)
    if not any(isinstance(h.formatter, JSONLineFormatter) for h in logger.handlers):
        handler = logging.StreamHandler(stream or sys.stdout)
        handler.setFormatter(JSONLineFormatter())
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger
