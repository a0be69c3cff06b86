"""RFC 9457 problem+json for /api/v1: one translator from errors to responses."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from flask import Flask, Response, g, json, request
from werkzeug.exceptions import HTTPException

from app.db import DatabaseError
from app.ledger.errors import LedgerError
from app.services.ledger import CommitterClosed

log = logging.getLogger(__name__)
PROBLEM_TYPE = "application/problem+json"
_PATH_SAFE = "/:@!$&'()*+,;=-._~"  # RFC 3986 pchar, unreserved and sub-delims, plus '/'


class ApiError(Exception):
    """An error with an HTTP status, raised by routes and services' adapters."""

    def __init__(self, status: int, title: str, detail: str = "", **extra: Any) -> None:
        super().__init__(detail or title)
        self.status, self.title, self.detail, self.extra = status, title, detail, extra


def problem(status: int, title: str, detail: str = "", **extra: Any) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    # A URI reference (RFC 9457): the path as sent on the wire, percent-encoded, so that a
    # control character in a hostile path is never echoed raw.
    body["instance"] = quote(request.path, safe=_PATH_SAFE)
    request_id = g.get("request_id")
    if request_id:
        body["request_id"] = request_id  # also in the X-Request-ID header and the log line
    body.update(extra)
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_TYPE)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="mlaudit"'
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return problem(exc.status, exc.title, exc.detail, **exc.extra)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        return problem(exc.code or 500, exc.name, exc.description or "")

    @app.errorhandler(CommitterClosed)
    def _stopping(exc: CommitterClosed) -> Response:
        response = problem(503, "Service Unavailable", str(exc))
        response.headers["Retry-After"] = "1"
        return response

    @app.errorhandler(DatabaseError)
    def _database_error(exc: DatabaseError) -> Response:
        log.error("database error: %s", exc)
        return problem(503, "Service Unavailable", "the database is not reachable")

    @app.errorhandler(LedgerError)
    def _ledger_error(exc: LedgerError) -> Response:
        return problem(422, "Unprocessable Content", str(exc))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem(500, "Internal Server Error", "an unexpected error was logged")
