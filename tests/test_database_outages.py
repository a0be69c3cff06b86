"""The database going away: requests answer 503 (never 500), and the service waits for it at
start instead of failing, so a gunicorn worker booting during a restart does not stop the
whole service. tests/test_crash.py does this for real; these pin the pieces."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from app import db
from app.db import DatabaseError


def test_a_lost_connection_is_a_503_on_both_apis(client: Any, auth: dict[str, str],
                                                 conn: psycopg.Connection) -> None:
    exp = client.post("/api/v1/experiments", json={"name": "e"}, headers=auth).json["id"]
    seen = []
    for path, body in (("/api/v1/runs", {"experiment_id": exp}),
                       ("/api/2.0/mlflow/runs/create", {"experiment_id": exp})):
        # what a server restart does to every open connection of the pool
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        for _ in range(12):  # the pool replaces the dead connections one by one
            response = client.post(path, json=body, headers=auth)
            seen.append(response.status_code)
            assert response.status_code in (200, 201, 503), response.data
            if response.status_code == 503:
                assert response.headers["Retry-After"] == "1"
                if path.startswith("/api/2.0"):
                    assert response.json["error_code"] == "TEMPORARILY_UNAVAILABLE"
                else:
                    assert response.mimetype == "application/problem+json"
            else:
                break
        assert seen[-1] in (200, 201), seen
    assert 503 in seen  # a dead pooled connection was met, and answered as unavailable


def test_retrying_waits_only_for_an_unavailable_database() -> None:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise DatabaseError("cannot connect") from psycopg.OperationalError("refused")
        return "up"

    assert db.retrying(flaky, wait=60, pause=0) == "up" and len(calls) == 3
    calls.clear()
    with pytest.raises(DatabaseError):
        db.retrying(flaky, wait=0, pause=0)  # the CLI: one try
    assert len(calls) == 1

    def broken() -> None:
        calls.append(1)
        raise DatabaseError("database schema version 9 is newer than this mlaudit")

    calls.clear()
    with pytest.raises(DatabaseError, match="newer"):
        db.retrying(broken, wait=60, pause=0)  # not an outage: no waiting
    assert len(calls) == 1
