"""Logging set-up: one line per record on stderr, as JSON (default) or text, stdlib only."""

from __future__ import annotations

import json
import logging
import sys
import time
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


def _timestamp(created: float) -> str:
    instant = datetime.fromtimestamp(created, UTC)
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class LineFormatter(logging.Formatter):
    """Formats a record, or the same fields given directly (see emit), as one line."""

    def format(self, record: logging.LogRecord) -> str:
        exc = self.formatException(record.exc_info) if record.exc_info else None
        return self.render(_timestamp(record.created), record.levelname, record.name,
                           record.getMessage(), extras(record), exc)

    def render(self, ts: str, level: str, logger: str, message: str,
               fields: Mapping[str, Any], exc: str | None = None) -> str:
        raise NotImplementedError


class JsonFormatter(LineFormatter):
    """One JSON object per line: ts, level, logger, message, then the record's extra fields."""

    def render(self, ts: str, level: str, logger: str, message: str,
               fields: Mapping[str, Any], exc: str | None = None) -> str:
        line: dict[str, Any] = {"ts": ts, "level": level, "logger": logger, "message": message}
        line.update(fields)
        if exc is not None:
            line["exc"] = exc
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(LineFormatter):
    """`ts LEVEL logger message key=value ...` for people reading a terminal."""

    def render(self, ts: str, level: str, logger: str, message: str,
               fields: Mapping[str, Any], exc: str | None = None) -> str:
        pairs = " ".join(f"{k}={v}" for k, v in fields.items())
        text = f"{ts} {level} {logger} {message}"
        text = f"{text} {pairs}" if pairs else text
        return text if exc is None else f"{text}\n{exc}"


class _ContextFilter(logging.Filter):
    """Adds the fields a provider returns (e.g. the current request's id) to every record."""

    def __init__(self, provider: ContextProvider) -> None:
        super().__init__()
        self.provider = provider

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in self.provider().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class StderrHandler(logging.Handler):
    """Writes to whatever sys.stderr is at the time (test runners swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._write(self.format(record))
        except Exception:
            self.handleError(record)

    def emit_fields(self, level: int, logger: str, message: str,
                    fields: Mapping[str, Any]) -> None:
        """What emit() writes for a record with these extra fields, made without one."""
        formatter = self.formatter
        assert isinstance(formatter, LineFormatter)  # _sole_handler checked
        for flt in self.filters:  # the context filter's fields, unless given
            if isinstance(flt, _ContextFilter):
                fields = {**fields, **{k: v for k, v in flt.provider().items()
                                       if k not in fields}}
        line = formatter.render(_timestamp(time.time()), logging.getLevelName(level), logger,
                                message, {k: v for k, v in fields.items() if v is not None})
        with self.lock:  # type: ignore[union-attr]  # createLock() made it
            self._write(line)

    @staticmethod
    def _write(line: str) -> None:
        stream = sys.stderr
        stream.write(line + "\n")
        stream.flush()


def emit(logger: logging.Logger, level: int, message: str, fields: Mapping[str, Any]) -> None:
    """Log `message` with `fields` as its extra fields, like logger.log(level, "%s", message,
    extra=fields). When mlaudit's handler is the only one the record would reach, with no
    filter on the way (the usual case), the line is written directly: no LogRecord, about a
    quarter of the cost, which matters for the one access line per request. Anything else
    (another handler, a filter, a test's log capture) gets an ordinary record."""
    if not logger.isEnabledFor(level):
        return
    handler = _sole_handler(logger, level)
    if handler is not None:
        try:
            handler.emit_fields(level, logger.name, message, fields)
            return
        except Exception:  # e.g. a closed stderr: logging's own path reports it its way
            pass
    logger.log(level, "%s", message, extra=fields)


def _sole_handler(logger: logging.Logger, level: int) -> StderrHandler | None:
    found: StderrHandler | None = None
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return None
        for handler in current.handlers:
            if level < handler.level:
                continue
            if found is not None or not isinstance(handler, StderrHandler) \
                    or not isinstance(handler.formatter, LineFormatter) \
                    or any(not isinstance(f, _ContextFilter) for f in handler.filters):
                return None
            found = handler
        if not current.propagate:
            break
        current = current.parent
    return found


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
