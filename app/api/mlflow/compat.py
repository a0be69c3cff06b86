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

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, request
from werkzeug.exceptions import HTTPException

from app.api.http import auth, scope, units
from app.api.http.auth import current_principal
from app.api.mlflow.errors import MlflowError, invalid, not_found, register_error_handlers
from app.api.mlflow.errors import install as install_errors
from app.services import tracking
from app.services.ledger import LedgerWriter
from app.storage.tracking import RunRow

log = logging.getLogger(__name__)
__all__ = [  # what the MLflow routes use, as mf.<name>
    "DEFAULT_ID", "DEFAULT_NAME", "WRITERS", "MlflowError", "actor", "args",
    "authorize_experiment", "authorize_run", "authorized_run", "body", "commit", "integer",
    "invalid", "key_values", "not_found", "read", "register", "register_error_handlers",
    "require", "run_id_in", "text"]
WRITERS = ("admin", "writer")
DEFAULT_ID, DEFAULT_NAME = tracking.DEFAULT_EXPERIMENT_ID, tracking.DEFAULT_EXPERIMENT_NAME
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


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
    install_errors(app)  # MLflow's error body where the app answers for these routes


# Authentication: Bearer <token secret>, or Basic <token name>:<token secret>.

CREDENTIALS = auth.Scheme(
    auth.bearer_or_basic, "a bearer token (MLFLOW_TRACKING_TOKEN) or basic credentials "
    "(token name and secret) are required", "the credentials are not valid")


def require(*roles: str, run_in_body: bool = False) -> Callable[[F], F]:
    """app.api.http.auth.require with MLflow's credentials (its refusals answer in MLflow's
    format, through the blueprints' error handlers).

    run_in_body, on the hot write routes: once the token is accepted, the run named by the
    JSON body's run_id is read on the same connection (g.runs, for authorized_run), so the
    request makes one pooled checkout and reads the run outside the ledger's head lock.
    """
    return auth.require(*roles, scheme=CREDENTIALS,
                        run_of=(lambda _: _body_run_id()) if run_in_body else None)


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
            minimum: int = -(2**63), maximum: int = 2**63 - 1) -> int | None:
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
    return units.read(fn)


def commit(unit: Callable[[LedgerWriter], T], conflict: str = "INVALID_PARAMETER_VALUE",
           check: Callable[[], object] | None = None) -> T:
    """Run one write through the group committer (same path as /api/v1), MLflow errors."""
    try:
        return units.commit(unit, check=check)
    except tracking.Conflict as exc:
        raise MlflowError(400, conflict, str(exc)) from exc


def authorize_experiment(experiment_id: str) -> None:
    scope.authorize_experiment(experiment_id)


def authorize_run(run_id: str) -> None:
    scope.authorize_run(run_id)


def authorized_run(run_id: str) -> RunRow | None:
    """The run (prefetched by require(run_in_body=True) when it could be), authorized."""
    return scope.authorized_run(run_id)


def actor() -> str:
    return str(current_principal().actor)
