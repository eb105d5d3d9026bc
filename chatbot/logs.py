"""Logging set-up: human-readable lines by default, JSON lines with `--log-format json`.

Every line names the request it belongs to: the request-id middleware sets `current_request_id`
for the request's task (and the tasks it starts), so log calls need no `extra=`.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TextIO

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

current_request_id: ContextVar[str] = ContextVar("current_request_id", default="-")


class _Context(logging.Filter):
    """Adds the request id (and, in workers mode, the worker's pid) to every record."""

    def __init__(self, worker: int | None) -> None:
        super().__init__()
        self._worker = worker

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id.get()
        if self._worker is not None and not hasattr(record, "worker"):
            record.worker = self._worker
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line with time, level, logger, message, request id and extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def log_handler(
    fmt: str = "text", stream: TextIO | None = None, *, worker: int | None = None
) -> logging.Handler:
    """A handler writing `fmt` lines ("text" or "json") with request ids to `stream` (stderr)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(_Context(worker))
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        where = f"worker {worker} " if worker is not None else ""
        handler.setFormatter(
            logging.Formatter(
                f"%(asctime)s %(levelname)-7s {where}%(name)s [%(request_id)s] %(message)s"
            )
        )
    return handler


def setup_logging(level: str = "info", fmt: str = "text", *, worker: int | None = None) -> None:
    """Log to stderr in `fmt` ("text" or "json"); `worker` is the pid shown in workers mode."""
    root = logging.getLogger()
    root.handlers[:] = [log_handler(fmt, worker=worker)]
    root.setLevel(level.upper())
    # The access log is ours (with request ids); aiohttp's own would repeat every line.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
