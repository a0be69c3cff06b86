"""MLflow-compatible REST API (/api/2.0/mlflow/...): the routes' plumbing, as one import (mf).

Request reading is app/api/mlflow/requests.py and MLflow's error body app/api/mlflow/errors.py;
authentication, scope and the unit-of-work call are the HTTP kernel's (app/api/http), with
MLflow's credentials (Bearer, or Basic token name and secret) and its error codes.

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

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask

from app.api.http import auth, units
from app.api.http.auth import current_principal
from app.api.http.scope import authorize_experiment, authorize_run, authorized_run
from app.api.http.units import read
from app.api.mlflow.errors import (
    MlflowError,
    invalid,
    invalid_value,
    missing_value,
    not_found,
    register_error_handlers,
)
from app.api.mlflow.errors import install as install_errors
from app.api.mlflow.requests import args, body, body_run_id, integer, key_values, run_id_in, text
from app.services import tracking
from app.services.ledger import LedgerWriter

__all__ = [  # what the MLflow routes use, as mf.<name>
    "DEFAULT_ID", "DEFAULT_NAME", "WRITERS", "MlflowError", "actor", "args",
    "authorize_experiment", "authorize_run", "authorized_run", "body", "commit", "integer",
    "invalid", "invalid_value", "key_values", "missing_value", "not_found", "read", "register",
    "register_error_handlers", "require", "run_id_in", "text"]
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
                        run_of=(lambda _: body_run_id()) if run_in_body else None)


def commit(unit: Callable[[LedgerWriter], T], conflict: str = "INVALID_PARAMETER_VALUE",
           check: Callable[[], object] | None = None) -> T:
    """Run one write through the group committer (same path as /api/v1); a conflict is
    MLflow's `conflict` code, other domain errors go to the blueprints' handlers."""
    try:
        return units.commit(unit, check=check)
    except tracking.Conflict as exc:
        raise MlflowError(400, conflict, exc.mlflow or str(exc)) from exc


def actor() -> str:
    return str(current_principal().actor)
