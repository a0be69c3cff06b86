"""MLflow-compatible REST API (/api/2.0/mlflow/...): shared plumbing (errors, auth, requests).

The stock `mlflow` client (MLFLOW_TRACKING_URI=http://host:port) talks to these routes. Every
write goes through the same service functions as /api/v1, so it makes the same ledger entries.
Errors use MLflow's body `{"error_code", "message"}` and MLflow's status codes, never a 5xx for
bad input (the client retries 5xx).

Experiment "0" ("Default"): MLflow clients assume it exists. Our experiment ids come from a
sequence starting at 1, so "0" never collides: on first use it is created with the explicit id
"0" through the ordinary storage insert, with an `experiment.created` ledger entry like any
other experiment. If another experiment already holds the name "Default", id "0" answers 404.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from app.api.http.auth import current_principal, reading
from app.api.http.context import services
from app.api.http.errors import ApiError, OutOfScope
from app.api.v1 import tracking as api
from app.db import DatabaseError
from app.ledger.errors import LedgerError
from app.services import tokens, tracking
from app.services.ledger import LedgerWriter
from app.storage import tracking as runs_store
from app.storage.tracking import RunRow
from app.tracking.limits import MAX_INT64

log = logging.getLogger(__name__)
WRITERS = ("admin", "writer")
ALL_ROLES = frozenset(tokens.ROLES)
DEFAULT_ID, DEFAULT_NAME = tracking.DEFAULT_EXPERIMENT_ID, tracking.DEFAULT_EXPERIMENT_NAME
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

_STATUS_CODES = {400: "INVALID_PARAMETER_VALUE", 401: "UNAUTHENTICATED",
                 403: "PERMISSION_DENIED", 404: "RESOURCE_DOES_NOT_EXIST",
                 409: "INVALID_PARAMETER_VALUE", 413: "INVALID_PARAMETER_VALUE",
                 415: "INVALID_PARAMETER_VALUE", 422: "INVALID_PARAMETER_VALUE"}


class MlflowError(Exception):
    """An MLflow error: HTTP status plus MLflow error_code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def invalid(message: str) -> MlflowError:
    return MlflowError(400, "INVALID_PARAMETER_VALUE", message)


def not_found(message: str) -> MlflowError:
    return MlflowError(404, "RESOURCE_DOES_NOT_EXIST", message)


def error_response(status: int, code: str, message: str) -> Response:
    response = jsonify(error_code=code, message=message)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="mlaudit", Basic realm="mlaudit"'
    return response


def register_error_handlers(blueprint: Blueprint) -> None:
    """MLflow's error format for everything raised inside the blueprint's views."""

    @blueprint.errorhandler(MlflowError)
    def _mlflow(exc: MlflowError) -> Response:
        return error_response(exc.status, exc.code, exc.message)

    @blueprint.errorhandler(ApiError)
    def _api(exc: ApiError) -> Response:
        if isinstance(exc, OutOfScope):  # the MLflow text a missing object gets
            return error_response(404, "RESOURCE_DOES_NOT_EXIST", exc.mlflow)
        status = exc.status if exc.status in (401, 403, 404) else 400
        return error_response(status, _STATUS_CODES.get(exc.status, "INVALID_PARAMETER_VALUE"),
                              exc.detail or exc.title)

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

    @blueprint.errorhandler(LedgerError)
    def _ledger(exc: LedgerError) -> Response:
        return error_response(400, "INVALID_PARAMETER_VALUE", str(exc))


def register(app: Flask) -> None:
    """Register every MLflow blueprint (tracking, artifacts, registry, logged models)."""
    from app.api.mlflow import experiments as mlflow_experiments
    from app.api.mlflow import models as mlflow_models
    from app.api.mlflow import registry as mlflow_registry
    from app.api.mlflow import runs as mlflow_runs

    app.register_blueprint(mlflow_experiments.bp)
    app.register_blueprint(mlflow_runs.bp)
    from app.api.mlflow import artifacts as mlflow_artifacts
    from app.api.mlflow import lifecycle as mlflow_lifecycle

    app.register_blueprint(mlflow_lifecycle.bp)
    app.register_blueprint(mlflow_artifacts.bp)
    app.register_blueprint(mlflow_artifacts.probes)
    app.register_blueprint(mlflow_registry.bp)
    app.register_blueprint(mlflow_models.bp)


# Authentication: Bearer <token secret>, or Basic <token name>:<token secret>.

def _credentials() -> tuple[str | None, str] | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if not value:
        return None
    if scheme.lower() == "bearer":
        return None, value
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        name, sep, secret = decoded.partition(":")
        return (name, secret) if sep else None
    return None


def require(*roles: str, run_in_body: bool = False) -> Callable[[F], F]:
    """Deny by default, in MLflow's error format; sets g.principal like app.api.http.auth.require.

    run_in_body, on the hot write routes: once the token is accepted, the run named by the
    JSON body's run_id is read on the same connection (g.runs, for authorized_run), so the
    request makes one pooled checkout and reads the run outside the ledger's head lock.
    """
    allowed = frozenset(roles) or ALL_ROLES

    def decorate(view: F) -> F:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            found = _credentials()
            if found is None:
                raise MlflowError(401, "UNAUTHENTICATED", "a bearer token (MLFLOW_TRACKING_TOKEN) "
                                  "or basic credentials (token name and secret) are required")
            name, secret = found
            with reading(services().pool) as conn:
                principal = tokens.authenticate(conn, secret)
                if run_in_body and principal is not None and principal.role in allowed:
                    run_id = _body_run_id()
                    if run_id is not None:
                        g.runs = {run_id: runs_store.get_run(conn, run_id)}
            if principal is None or (name is not None and name != principal.name):
                raise MlflowError(401, "UNAUTHENTICATED", "the credentials are not valid")
            if principal.role not in allowed:
                raise MlflowError(403, "PERMISSION_DENIED",
                                  f"role {principal.role!r} may not do this")
            g.principal = principal
            return view(*args, **kwargs)

        wrapper.__name__ = view.__name__
        wrapper.__doc__ = view.__doc__
        wrapper.required_roles = allowed  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def _body_run_id() -> str | None:
    """The body's run_id (or run_uuid) if the body is a JSON object naming one, else None
    (the view then reports what is wrong with the body)."""
    try:  # not silent: body() below then reads the same cached parse
        data = request.get_json(force=True, silent=False, cache=True)
    except (HTTPException, ValueError):
        return None
    return run_id_in(data) if isinstance(data, dict) else None


def run_id_in(data: dict[str, Any]) -> str | None:
    """The run a body names: run_id, or run_uuid (older clients); None if neither is usable."""
    run_id = data.get("run_id") or data.get("run_uuid")
    return run_id if isinstance(run_id, str) and run_id else None


# Request helpers.

def body() -> dict[str, Any]:
    """The JSON object of a request. POST and PUT must say application/json, as MLflow's
    server requires (mlflow/server/validation.py), even when the body is empty."""
    if request.method in ("POST", "PUT"):
        if request.content_type is None:
            raise invalid("Bad Request. Content-Type header is missing.")
        if request.mimetype != "application/json":
            raise invalid("Bad Request. Content-Type must be one of ['application/json'].")
    if not request.data:
        return {}
    try:
        data = request.get_json(force=True, silent=False)
    except HTTPException as exc:
        raise invalid("the body must be JSON") from exc
    except ValueError as exc:
        raise invalid(f"the body must be JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise invalid("the body must be a JSON object")
    return data


def args() -> dict[str, Any]:
    """GET query string (first value per key) merged under any JSON body."""
    found: dict[str, Any] = dict(request.args.items())
    if request.method != "GET":
        found.update(body())
    return found


def text(data: dict[str, Any], key: str, *, required: bool = True,
         default: str | None = None) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise invalid(f"Missing value for required parameter '{key}'.")
        return default
    if not isinstance(value, str):
        raise invalid(f"parameter '{key}' must be a string")
    return value


def integer(data: dict[str, Any], key: str, default: int | None = None, *,
            minimum: int = -MAX_INT64 - 1, maximum: int = MAX_INT64) -> int | None:
    value = data.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise invalid(f"parameter '{key}' must be an integer")
    try:
        number = int(value) if isinstance(value, (int, str)) else None
    except ValueError:
        number = None
    if number is None or not minimum <= number <= maximum:
        raise invalid(f"parameter '{key}' must be an integer in [{minimum}, {maximum}]")
    return number


def key_values(data: dict[str, Any], field: str) -> list[tuple[str, str]]:
    items = data.get(field) or []
    if not isinstance(items, list):
        raise invalid(f"'{field}' must be a list of {{key, value}} objects")
    out: list[tuple[str, str]] = []
    for item in items:
        if not isinstance(item, dict):
            raise invalid(f"'{field}' must be a list of {{key, value}} objects")
        key = text(item, "key")
        value = item.get("value", "")
        if not isinstance(value, str):
            value = str(value)
        out.append((str(key), value))
    return out


def read(fn: Callable[[Any], T]) -> T:
    return api.read(fn)


def commit(unit: Callable[[LedgerWriter], T], conflict: str = "INVALID_PARAMETER_VALUE",
           check: Callable[[], object] | None = None) -> T:
    """Run one write through the group committer (same path as /api/v1), MLflow errors."""
    try:
        return api.commit(unit, check=check)
    except ApiError as exc:
        if exc.status == 409:
            raise MlflowError(400, conflict, exc.detail) from exc
        raise


def authorize_experiment(experiment_id: str) -> None:
    api.authorize_experiment(experiment_id)


def authorize_run(run_id: str) -> None:
    api.authorize_run(run_id)


def authorized_run(run_id: str) -> RunRow | None:
    """The run (prefetched by require(run_in_body=True) when it could be), authorized."""
    return api.authorized_run(run_id)


def actor() -> str:
    return str(current_principal().actor)
