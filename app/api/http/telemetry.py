"""Per request: an X-Request-ID, its Prometheus counts, and one access log line.

The log line names the method, route, path, status, duration, request id, the token's name,
role and principal when one was accepted, and the peer address. It never carries headers,
query strings or bodies, so no token secret or submitted value reaches the log.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, g, has_request_context, request

from app.api.http.metrics import UNMATCHED, HttpMetrics
from app.observability import emit

HEADER = "X-Request-ID"
# An incoming id is kept when short and plain (UUIDs, hex, ULIDs, dotted trace ids);
# anything else is replaced, never echoed, so it cannot forge log lines or headers.
VALID_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
MAX_LOGGED_PATH = 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # a decoded path may hold %0A: keep lines whole
access = logging.getLogger("mlaudit.access")


def request_id() -> str | None:
    """The current request's id (None outside a request)."""
    if not has_request_context():
        return None
    found: str | None = g.get("request_id")
    return found


def log_context() -> Mapping[str, Any]:
    """Fields every log record made while serving a request carries."""
    found = request_id()
    return {"request_id": found} if found else {}


def install(app: Flask, metrics: HttpMetrics) -> None:
    """Register the hooks; they run before any other before_request function."""

    def begin() -> None:
        g.started = time.perf_counter()
        incoming = request.headers.get(HEADER, "")
        g.request_id = incoming if VALID_ID.fullmatch(incoming) else uuid.uuid4().hex

    def finish(response: Response) -> Response:
        rid = g.get("request_id") or uuid.uuid4().hex
        response.headers[HEADER] = rid
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        rule = request.url_rule
        route = rule.rule if rule is not None else UNMATCHED
        metrics.observe(request.method, route, response.status_code, elapsed)
        if access.isEnabledFor(logging.INFO):  # skips building the fields when off
            _log(route, response.status_code, elapsed, rid)
        return response

    app.before_request_funcs.setdefault(None, []).insert(0, begin)
    app.after_request(finish)


def _log(route: str, status: int, elapsed: float, rid: str) -> None:
    path = _printable(request.path[:MAX_LOGGED_PATH])
    fields: dict[str, Any] = {
        "method": request.method, "route": route, "path": path, "status": status,
        "duration_ms": round(elapsed * 1000, 3), "request_id": rid}
    principal = g.get("principal")
    if principal is not None:
        fields["token"], fields["role"] = principal.name, principal.role
        fields["principal"] = principal.principal_name or principal.name
    fields["remote_addr"] = request.remote_addr
    emit(access, logging.INFO, f"{request.method} {path} {status}", fields)


def _printable(path: str) -> str:
    return _CONTROL.sub(lambda found: f"\\x{ord(found[0]):02x}", path)
