"""Errors of the HTTP kernel: the domain-error table, RFC 9457 problem+json, adapters' formats.

DOMAIN_ERRORS is the one table from domain errors to HTTP statuses; each adapter translates a
domain error once, from it (problem+json here, for /api/v1 and the kernel's own routes;
MLflow's {error_code, message} on the MLflow routes, app/api/mlflow/errors.py). An adapter with
its own error body registers it (add_error_format) for the errors the app answers outside its
blueprints' handlers (unrouted paths, the rate limit, shutdown, unexpected exceptions).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import psycopg
from flask import Flask, Response, current_app, g, json, request
from psycopg_pool import PoolTimeout
from werkzeug.exceptions import HTTPException

from app.db import DatabaseError
from app.ledger.errors import LedgerError
from app.services import access, registry, tracking
from app.services.incremental import Unverified
from app.services.ledger import CommitterClosed

log = logging.getLogger(__name__)
PROBLEM_TYPE = "application/problem+json"
_PATH_SAFE = "/:@!$&'()*+,;=-._~"  # RFC 3986 pchar, unreserved and sub-delims, plus '/'
_FORMATS = "mlaudit.error_formats"

DOMAIN_ERRORS: tuple[tuple[type[Exception], int, str], ...] = (
    (tracking.NotFound, 404, "Not Found"),
    (tracking.Conflict, 409, "Conflict"),
    (access.SignatureRejected, 401, "Unauthorized"),
    (registry.Forbidden, 403, "Forbidden"),
    (registry.Invalid, 400, "Bad Request"),
    (LedgerError, 422, "Unprocessable Content"),  # last: every other domain error
)
"""Domain error -> (status, title), the first match in order (a subclass before its base)."""

ErrorFormat = Callable[[int, str, str], Response]
"""An adapter's error body: (status, title, detail) -> response."""


class ApiError(Exception):
    """An error with an HTTP status, raised by routes and services' adapters."""

    def __init__(self, status: int, title: str, detail: str = "", **extra: Any) -> None:
        super().__init__(detail or title)
        self.status, self.title, self.detail, self.extra = status, title, detail, extra


class OutOfScope(ApiError):
    """An object the caller's scope does not reach. It answers exactly as a missing one does
    (404 and the same message, in each adapter's format), so that a scoped token learns
    nothing of what exists outside its scope: `detail` is /api/v1's message, `mlflow` the
    MLflow routes' one."""

    def __init__(self, detail: str, mlflow: str) -> None:
        super().__init__(404, "Not Found", detail)
        self.mlflow = mlflow


def domain_status(exc: Exception) -> tuple[int, str]:
    """The (status, title) DOMAIN_ERRORS gives a domain error."""
    for kind, status, title in DOMAIN_ERRORS:
        if isinstance(exc, kind):
            return status, title
    raise TypeError(f"{type(exc).__name__} is not a domain error") from exc


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


def add_error_format(app: Flask, owns: Callable[[], bool], render: ErrorFormat) -> None:
    """Answer the app's errors with render for the requests owns() claims (an adapter's
    routes, and paths under its prefixes that match no route); problem+json otherwise."""
    app.extensions.setdefault(_FORMATS, []).append((owns, render))


def error_response(status: int, title: str, detail: str = "") -> Response:
    """The error in the format of the adapter the request belongs to (problem+json if none
    claims it): for errors answered outside an adapter's own handlers."""
    for owns, render in current_app.extensions.get(_FORMATS, ()):
        if owns():
            response: Response = render(status, title, detail)
            return response
    return problem(status, title, detail)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return problem(exc.status, exc.title, exc.detail, **exc.extra)

    def _domain_error(exc: Exception) -> Response:
        return problem(*domain_status(exc), str(exc))

    for kind, _status, _title in DOMAIN_ERRORS:
        app.register_error_handler(kind, _domain_error)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        response = error_response(exc.code or 500, exc.name, exc.description or "")
        for name, value in exc.get_headers():  # e.g. a 405's Allow (RFC 9110 requires it)
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(CommitterClosed)
    def _stopping(exc: CommitterClosed) -> Response:
        response = error_response(503, "Service Unavailable", str(exc))
        response.headers["Retry-After"] = "1"
        return response

    @app.errorhandler(DatabaseError)
    def _database_error(exc: DatabaseError) -> Response:
        log.error("database error: %s", exc)
        return error_response(503, "Service Unavailable", "the database is not reachable")

    @app.errorhandler(psycopg.OperationalError)
    @app.errorhandler(PoolTimeout)
    def _database_gone(exc: Exception) -> Response:
        """The connection was lost mid-request (the server restarting or shutting down) or
        none could be had: the request's transaction did not commit, so it can be retried."""
        log.warning("database unavailable on %s %s: %s", request.method, request.path,
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        response = error_response(503, "Service Unavailable",
                                  "the database is not available; retry")
        response.headers["Retry-After"] = "1"
        return response

    @app.errorhandler(Unverified)
    def _unverified(exc: Unverified) -> Response:
        return error_response(503, "Service Unavailable", "the ledger did not verify, so no "
                              f"checkpoint was signed: {exc}")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "Internal Server Error", "an unexpected error was logged")
