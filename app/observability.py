"""Logging set-up: one line per record on stderr, as JSON (default) or text, stdlib only."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

HANDLER_NAME = "mlaudit"
PROJECT_LOGGERS = ("app", "mlaudit")  # module loggers (app.*) and named ones (mlaudit.*)
# A LogRecord's own attributes; anything else on a record came in through `extra=`.
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName"}

ContextProvider = Callable[[], Mapping[str, Any]]


def extras(record: logging.LogRecord) -> dict[str, Any]:
    """The fields passed with `extra=` (and added by the context filter), in order."""
    return {k: v for k, v in vars(record).items() if k not in _RESERVED and v is not None}


def _timestamp(record: logging.LogRecord) -> str:
    instant = datetime.fromtimestamp(record.created, UTC)
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, then the record's extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {"ts": _timestamp(record), "level": record.levelname,
                                "logger": record.name, "message": record.getMessage()}
        line.update(extras(record))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`ts LEVEL logger message key=value ...` for people reading a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in extras(record).items())
        text = f"{_timestamp(record)} {record.levelname} {record.name} {record.getMessage()}"
        text = f"{text} {fields}" if fields else text
        if record.exc_info:
            text = f"{text}\n{self.formatException(record.exc_info)}"
        return text


class _ContextFilter(logging.Filter):
    """Adds the fields a provider returns (e.g. the current request's id) to every record."""

    def __init__(self, provider: ContextProvider) -> None:
        super().__init__()
        self._provider = provider

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in self._provider().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class StderrHandler(logging.Handler):
    """Writes to whatever sys.stderr is at the time (test runners swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = sys.stderr
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:
            self.handleError(record)


def configure_logging(fmt: str, level: str, context: ContextProvider | None = None) -> None:
    """Install (or replace) the one mlaudit handler on the root logger and set the level
    of mlaudit's loggers. Calling it again, as each create_app does, replaces the handler."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == HANDLER_NAME:
            root.removeHandler(handler)
    handler = StderrHandler()
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    if context is not None:
        handler.addFilter(_ContextFilter(context))
    root.addHandler(handler)
    # The level applies to mlaudit's own loggers; other libraries keep the root's (WARNING
    # by default), so their INFO chatter stays out of the service's log.
    for name in PROJECT_LOGGERS:
        logging.getLogger(name).setLevel(level)
    # The development server's own access line would repeat ours (mlaudit.access), and with a
    # root handler installed werkzeug would send it there: keep only its warnings.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
