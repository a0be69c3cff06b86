"""RFC 9457 problem+json for /api/v1: one translator from errors to responses."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import psycopg
from flask import Flask, Response, g, json, request
from psycopg_pool import PoolTimeout
from werkzeug.exceptions import HTTPException

from app.db import DatabaseError
from app.ledger.errors import LedgerError
from app.services.incremental import Unverified
from app.services.ledger import CommitterClosed

log = logging.getLogger(__name__)
PROBLEM_TYPE = "application/problem+json"
_PATH_SAFE = "/:@!$&'()*+,;=-._~"  # RFC 3986 pchar, unreserved and sub-delims, plus '/'
MLFLOW_PATHS = ("/api/2.0/mlflow", "/api/3.0/mlflow")  # /api/2.0/mlflow-artifacts too


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


def mlflow_request() -> bool:
    """Whether the request belongs to the MLflow-compatible API, whose errors are MLflow's
    {error_code, message}: an MLflow blueprint's route, or a path under its prefixes that
    matched no route (e.g. an artifact path with a newline, which no converter accepts)."""
    blueprint = request.blueprint
    if blueprint is not None:
        return blueprint.startswith("mlflow")
    return request.path.startswith(MLFLOW_PATHS)


def _error(status: int, title: str, detail: str, mlflow_code: str) -> Response:
    """A problem, or MLflow's error body on the MLflow routes (errors their blueprints'
    handlers leave to the app: unrouted paths, shutdown, unexpected exceptions)."""
    if not mlflow_request():
        return problem(status, title, detail)
    # Imported here: app.api.mlflow.compat imports this module.
    from app.api.mlflow.compat import error_response

    return error_response(status, mlflow_code, detail or title)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return problem(exc.status, exc.title, exc.detail, **exc.extra)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        code = "ENDPOINT_NOT_FOUND" if status in (404, 405) else (
            "INTERNAL_ERROR" if status >= 500 else "INVALID_PARAMETER_VALUE")
        response = _error(status, exc.name, exc.description or "", code)
        for name, value in exc.get_headers():  # e.g. a 405's Allow (RFC 9110 requires it)
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(CommitterClosed)
    def _stopping(exc: CommitterClosed) -> Response:
        response = _error(503, "Service Unavailable", str(exc), "TEMPORARILY_UNAVAILABLE")
        response.headers["Retry-After"] = "1"
        return response

    @app.errorhandler(DatabaseError)
    def _database_error(exc: DatabaseError) -> Response:
        log.error("database error: %s", exc)
        return _error(503, "Service Unavailable", "the database is not reachable",
                      "TEMPORARILY_UNAVAILABLE")

    @app.errorhandler(psycopg.OperationalError)
    @app.errorhandler(PoolTimeout)
    def _database_gone(exc: Exception) -> Response:
        """The connection was lost mid-request (the server restarting or shutting down) or
        none could be had: the request's transaction did not commit, so it can be retried."""
        log.warning("database unavailable on %s %s: %s", request.method, request.path,
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        response = _error(503, "Service Unavailable", "the database is not available; retry",
                          "TEMPORARILY_UNAVAILABLE")
        response.headers["Retry-After"] = "1"
        return response

    @app.errorhandler(Unverified)
    def _unverified(exc: Unverified) -> Response:
        return _error(503, "Service Unavailable", "the ledger did not verify, so no checkpoint "
                      f"was signed: {exc}", "TEMPORARILY_UNAVAILABLE")

    @app.errorhandler(LedgerError)
    def _ledger_error(exc: LedgerError) -> Response:
        return problem(422, "Unprocessable Content", str(exc))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _error(500, "Internal Server Error", "an unexpected error was logged",
                      "INTERNAL_ERROR")
