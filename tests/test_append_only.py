"""The database itself refuses to rewrite the ledger, checkpoint and key tables."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

ROW_TABLES = ("ledger_entries", "checkpoints", "signing_keys")


@pytest.fixture
def filled(services: Any, append: Any) -> Any:
    append(3)
    services.checkpointer.sign_now()
    return services


@pytest.mark.parametrize("table", ROW_TABLES)
@pytest.mark.parametrize("statement", [
    "UPDATE {t} SET signed_at = signed_at",
    "DELETE FROM {t}",
    "TRUNCATE {t} CASCADE",
])
def test_mutation_refused(filled: Any, conn: psycopg.Connection, table: str,
                          statement: str) -> None:
    if "signed_at" in statement:
        column = {"ledger_entries": "kind", "checkpoints": "note", "signing_keys": "name"}[table]
        statement = f"UPDATE {{t}} SET {column} = {column} || 'x'"
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        conn.execute(statement.format(t=table))


@pytest.mark.parametrize("table", ROW_TABLES)
def test_replica_role_does_not_skip_the_triggers(filled: Any, conn: psycopg.Connection,
                                                 table: str) -> None:
    conn.execute("SET session_replication_role = replica")
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        conn.execute(f"DELETE FROM {table}")
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        conn.execute(f"TRUNCATE {table} CASCADE")


def test_head_row_cannot_be_deleted(filled: Any, conn: psycopg.Connection) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("DELETE FROM ledger_head")


def test_triggers_are_enable_always(filled: Any, conn: psycopg.Connection) -> None:
    rows = conn.execute(
        "SELECT tgrelid::regclass::text, tgname, tgenabled FROM pg_trigger "
        "WHERE NOT tgisinternal AND tgname LIKE '%%_no_%%'").fetchall()
    assert len(rows) == 9  # ledger, checkpoints, keys: 2 each; head: 2; token revocations
    assert {enabled for _, _, enabled in rows} == {"A"}
