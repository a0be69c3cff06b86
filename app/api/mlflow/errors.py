"""MLflow's error body {error_code, message}: the MLflow adapter's one error translator.

Statuses and codes are MLflow's (a domain error's status comes from the kernel's table,
app.api.http.errors.DOMAIN_ERRORS); bad input is never a 5xx, which the client would retry.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from app.api.http import errors as kernel
from app.api.http.errors import ApiError, OutOfScope
from app.db import DatabaseError

log = logging.getLogger(__name__)
PATHS = ("/api/2.0/mlflow", "/api/3.0/mlflow")  # /api/2.0/mlflow-artifacts too

_STATUS_CODES = {400: "INVALID_PARAMETER_VALUE", 401: "UNAUTHENTICATED",
                 403: "PERMISSION_DENIED", 404: "RESOURCE_DOES_NOT_EXIST",
                 409: "INVALID_PARAMETER_VALUE", 413: "INVALID_PARAMETER_VALUE",
                 415: "INVALID_PARAMETER_VALUE", 422: "INVALID_PARAMETER_VALUE"}
_APP_CODES = {404: "ENDPOINT_NOT_FOUND", 405: "ENDPOINT_NOT_FOUND",
              429: "REQUEST_LIMIT_EXCEEDED", 503: "TEMPORARILY_UNAVAILABLE"}


class MlflowError(Exception):
    """An MLflow error: HTTP status plus MLflow error_code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def invalid(message: str) -> MlflowError:
    return MlflowError(400, "INVALID_PARAMETER_VALUE", message)


def invalid_value(path: str, value: Any, reason: str | None = None) -> MlflowError:
    """MLflow's words for a bad value (mlflow/utils/validation.py's invalid_value)."""
    shown = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    tail = f": {reason}" if reason else "."
    return invalid(f"Invalid value {shown} for parameter '{path}' supplied{tail}")


def missing_value(path: str) -> MlflowError:
    """MLflow's server's words for a required field that is absent or empty."""
    return invalid(f"Missing value for required parameter '{path}'. See the API docs for more "
                   "information about request parameters.")


def not_found(message: str) -> MlflowError:
    return MlflowError(404, "RESOURCE_DOES_NOT_EXIST", message)


def error_response(status: int, code: str, message: str) -> Response:
    response = jsonify(error_code=code, message=message)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="mlaudit", Basic realm="mlaudit"'
    return response


def translated(status: int, message: str) -> Response:
    """A kernel status (an ApiError's, or a domain error's from the table) as MLflow answers
    it: 401, 403 and 404 kept, any other refusal a 400, each with MLflow's code."""
    return error_response(status if status in (401, 403, 404) else 400,
                          _STATUS_CODES.get(status, "INVALID_PARAMETER_VALUE"), message)


def owns_request() -> bool:
    """Whether the request belongs to the MLflow-compatible API: an MLflow blueprint's route,
    or a path under its prefixes that matched no route (e.g. an artifact path with a
    newline, which no converter accepts)."""
    blueprint = request.blueprint
    if blueprint is not None:
        return blueprint.startswith("mlflow")
    return request.path.startswith(PATHS)


def app_error(status: int, title: str, detail: str) -> Response:
    """Errors the app answers outside the blueprints' handlers (unrouted paths, the rate
    limit, shutdown, unexpected exceptions), registered with kernel.add_error_format."""
    code = _APP_CODES.get(status, "INTERNAL_ERROR" if status >= 500
                          else "INVALID_PARAMETER_VALUE")
    return error_response(status, code, detail or title)


def install(app: Flask) -> None:
    kernel.add_error_format(app, owns_request, app_error)


def register_error_handlers(blueprint: Blueprint) -> None:
    """MLflow's error format for everything raised inside the blueprint's views."""

    @blueprint.errorhandler(MlflowError)
    def _mlflow(exc: MlflowError) -> Response:
        return error_response(exc.status, exc.code, exc.message)

    @blueprint.errorhandler(ApiError)
    def _api(exc: ApiError) -> Response:
        if isinstance(exc, OutOfScope):  # the MLflow text a missing object gets
            return error_response(404, "RESOURCE_DOES_NOT_EXIST", exc.mlflow)
        return translated(exc.status, exc.detail or exc.title)

    @blueprint.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        status = exc.code or 400
        if status >= 500:
            return error_response(status, "INTERNAL_ERROR", exc.description or exc.name)
        return error_response(status, _STATUS_CODES.get(status, "BAD_REQUEST"),
                              exc.description or exc.name)

    @blueprint.errorhandler(DatabaseError)
    def _database(exc: DatabaseError) -> Response:
        log.error("database error: %s", exc)
        return error_response(503, "TEMPORARILY_UNAVAILABLE", "the database is not reachable")

    def _domain(exc: Exception) -> Response:  # in MLflow's words where the error carries them
        return translated(kernel.domain_status(exc)[0], getattr(exc, "mlflow", None) or str(exc))

    for kind, _status, _title in kernel.DOMAIN_ERRORS:
        blueprint.register_error_handler(kind, _domain)
