"""The service's log lines: text or JSON (``SDD_LOG_FORMAT``), each carrying the ids of what it is about.

A line says which request (``request_id``, echoed to the client in ``X-Request-ID``), which job
(``job_id``) and which tenant (``tenant_id``) it belongs to, so that one job's or one request's
story can be pulled out of a fleet's logs. The ids live in a context variable: the API's request-id
middleware opens a context per request (``bound``), authentication adds the tenant to it
(``add_to_context``), a worker opens one per job. Tokens and secrets are never fields.

* ``text`` (the default): ``2026-12-07 20:15:06,123 INFO worker.runner: job started [job_id=job_… tenant_id=tnt_…]``;
* ``json``: one object per line, ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, the
  ids, ``process`` and, for an exception, ``exception`` (its traceback as text).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]
CONTEXT_FIELDS = ("request_id", "job_id", "tenant_id", "dataset_id", "rank")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# A mutable dict per context: authentication (run in a worker thread with a copy of the request's
# context) adds the tenant to the same dict the request's later lines read.
_context: ContextVar[dict[str, str] | None] = ContextVar("sdd_log_context", default=None)


@contextmanager
def bound(**fields: Any) -> Iterator[dict[str, str]]:
    """Lines logged inside carry ``fields`` (and the enclosing context's)."""
    fields = {**(_context.get() or {}), **{key: str(value) for key, value in fields.items() if value is not None}}
    token = _context.set(fields)
    try:
        yield fields
    finally:
        _context.reset(token)


def add_to_context(**fields: Any) -> None:
    """Add ids to the innermost ``bound`` context (nothing outside one)."""
    current = _context.get()
    if current is not None:
        current.update({key: str(value) for key, value in fields.items() if value is not None})


def context_fields() -> dict[str, str]:
    return dict(_context.get() or {})


class ContextFilter(logging.Filter):
    """Copies the context's ids onto each record (``record.sdd_context``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "sdd_context"):
            record.sdd_context = context_fields()
        return True


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "sdd_context", None) or {}
        if not fields:
            return line
        first, newline, rest = line.partition("\n")  # the ids stay on the first line, before a traceback
        ids = " ".join(f"{key}={value}" for key, value in fields.items())
        return f"{first} [{ids}]{newline}{rest}"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        entry.update(getattr(record, "sdd_context", None) or {})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


def formatter_for(log_format: LogFormat) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


def configure_logging(log_format: LogFormat, level: str | int = "INFO") -> None:
    """One stderr handler on the root logger in ``log_format``; every other logger propagates to it.

    Handlers that libraries (uvicorn, Celery) put on their own loggers are removed so that each
    line is written once, in one format.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter_for(log_format))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "celery", "celery.task", "celery.redirected"):
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.propagate = True
    # A line per Alembic plugin when Alembic is imported (the readiness probe reads the revisions): nothing to act on.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
