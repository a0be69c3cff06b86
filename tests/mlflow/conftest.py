"""Fixtures for driving the unmodified mlflow client against a live mlaudit server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import mlflow
import pytest

TokenMaker = Callable[[str, str], str]


@pytest.fixture
def make_token(run_cli: Any, admin_token: str) -> TokenMaker:
    """Create a token with `mlaudit token create` and return its secret."""

    def make(name: str, role: str) -> str:
        done = run_cli("token", "create", "--name", name, "--role", role)
        assert done.returncode == 0, done.stderr
        return str(done.stdout.split()[-1])

    return make


@pytest.fixture
def writer(make_token: TokenMaker) -> str:
    return make_token("ml-writer", "writer")


@pytest.fixture
def point_mlflow(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, str], None]]:
    """Point the client's environment at a server with a token: no retries, no telemetry."""

    def point(server: str, secret: str) -> None:
        for name, value in {"MLFLOW_TRACKING_URI": server, "MLFLOW_TRACKING_TOKEN": secret,
                            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
                            "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
                            "MLFLOW_DISABLE_TELEMETRY": "true",
                            "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}.items():
            monkeypatch.setenv(name, value)
        for name in ("MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID", "MLFLOW_RUN_ID",
                     "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            monkeypatch.delenv(name, raising=False)
        mlflow.set_tracking_uri(server)
        mlflow.set_registry_uri(server)
        monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)

    yield point
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


@pytest.fixture
def tracking(server: str, writer: str, point_mlflow: Callable[[str, str], None]) -> str:
    """The fluent API and MlflowClient() talk to the live server as `writer`."""
    point_mlflow(server, writer)
    return server
