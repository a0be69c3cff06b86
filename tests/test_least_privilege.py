"""The service runs as a role that holds no UPDATE, DELETE or TRUNCATE on the ledger."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from app import create_app
from app.config import load_config
from app.ledger.entry import Draft
from app.services.verification import verify_database

ROLE_SQL = Path(__file__).resolve().parent.parent / "docs" / "app-role.sql"


@pytest.fixture
def app_role_url(database_url: str, conn: psycopg.Connection) -> Any:
    role = f"mlaudit_app_{uuid.uuid4().hex[:8]}"
    dbname = conninfo_to_dict(database_url)["dbname"]
    script = ROLE_SQL.read_text().replace("mlaudit_app", role).replace(
        "DATABASE mlaudit", f'DATABASE "{dbname}"')
    conn.execute(script)  # type: ignore[arg-type]
    params = conninfo_to_dict(database_url)
    params.update(user=role, password="change-me")
    yield make_conninfo(**params)
    conn.execute(f'DROP OWNED BY "{role}"')  # type: ignore[arg-type]
    conn.execute(f'DROP ROLE "{role}"')  # type: ignore[arg-type]


def test_service_runs_without_mutation_privileges(app_role_url: str, tmp_path: Path,
                                                  conn: psycopg.Connection) -> None:
    config = load_config(environ={}, overrides={
        "database_url": app_role_url, "home": tmp_path, "checkpoint_interval": 3600.0})
    app = create_app(config)
    services = app.extensions["mlaudit"]
    try:
        services.committer.run(lambda w: w.append([Draft("test.appended", "t")] * 3))
        services.checkpointer.sign_now()
        token = config.admin_token_path.read_text().strip()
        response = app.test_client().get("/api/v1/ledger/entries/2",
                                         headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
    finally:
        services.close()
    with psycopg.connect(app_role_url, autocommit=True) as restricted:
        for statement in ("UPDATE ledger_entries SET kind = kind", "DELETE FROM ledger_entries",
                          "TRUNCATE ledger_entries", "DELETE FROM checkpoints",
                          "UPDATE signing_keys SET name = name", "DROP TABLE tokens"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                restricted.execute(statement)  # type: ignore[arg-type]
        assert verify_database(restricted).damage is None
