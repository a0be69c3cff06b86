"""The database itself refuses to rewrite the ledger, its checkpoints and every projection."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import sql

from app.kinds import TABLES
from app.kinds.core import MATERIALIZED

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


def refusals() -> set[tuple[str, str]]:
    """The refusing triggers: the ledger's own tables (written by hand in schema.sql), and
    per registry table (generated): an insert-only one refuses UPDATE and DELETE, a current
    one any direct change (`_kept`); every one refuses TRUNCATE."""
    found = {(t, f"{t}_{what}") for t in ("ledger_entries", "checkpoints")
             for what in ("no_update_delete", "no_truncate")}
    found |= {("ledger_head", "ledger_head_no_delete"), ("ledger_head", "ledger_head_no_truncate")}
    for table in TABLES:
        row = "kept" if table.role == MATERIALIZED else "no_update_delete"
        found |= {(table.name, f"{table.name}_{row}"), (table.name, f"{table.name}_no_truncate")}
    return found


def test_triggers_are_enable_always(filled: Any, conn: psycopg.Connection) -> None:
    rows = conn.execute(
        "SELECT tgrelid::regclass::text, tgname, tgenabled FROM pg_trigger "
        "WHERE NOT tgisinternal").fetchall()
    named = {(table, name) for table, name, _ in rows
             if "_no_" in name or name.endswith("_kept")}
    assert named == refusals()
    # All of them, and the keeping and guard triggers too, fire in replica mode as well.
    assert {enabled for _, _, enabled in rows} == {"A"}


def test_every_projection_refuses_truncate(conn: psycopg.Connection) -> None:
    for table in TABLES:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(sql.SQL("TRUNCATE {} CASCADE").format(sql.Identifier(table.name)))


@pytest.mark.parametrize("statement", [
    "UPDATE experiments SET name = 'renamed' WHERE id = '0'",
    "DELETE FROM experiments WHERE id = '0'",
    "INSERT INTO experiments (id, name, description, tags, lifecycle, created_by, created_at,"
    " created_seq, seq) SELECT '9', 'forged', '', '{}', 'active', 'x', now(), 1, 1",
])
def test_current_tables_refuse_direct_writes(filled: Any, conn: psycopg.Connection,
                                             statement: str) -> None:
    """Kept by the database from their revisions or events, for everyone."""
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="kept from the ledger"):
        conn.execute(statement)
