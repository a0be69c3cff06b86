"""Every table and every column is held to the ledger: whatever is changed, verify names it.

The schema is introspected: a table schema.sql has that the registry (app/kinds/tables.py)
does not declare fails here, and so does a column. Then, on a database that went through the
whole write surface, every column of every table is changed in turn (one row, triggers off,
as a superuser would), and so is every query copy of ledger_entries; each change must be
reported as projection_mismatch naming that table, that column (or the row, when the column
is part of what identifies it) and the seq of the entry the row stands on. Each change is
rolled back before the next.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from ledger_surface import surface_database
from psycopg import sql

from app.kinds import TABLES, table
from app.kinds.check import Mismatch
from app.kinds.core import BOOLEAN, BYTEA, FLOAT8, JSONB, MATERIALIZED, STORE, TIMESTAMPTZ
from app.kinds.tables import CACHE_TABLES, LEDGER_TABLES
from app.services.verification import check_projections, describe

# Values a CHECK constraint allows, tried when an edit of a text column must stay valid.
ALLOWED = ("RUNNING", "FINISHED", "FAILED", "KILLED", "active", "archived", "deleted",
           "admin", "writer", "approver", "auditor", "approve", "reject", "refused", "pending",
           "approved", "rejected", "withdrawn", "invalidated", "None", "Staging", "Production",
           "Archived", "LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY",
           "LOGGED_MODEL_UPLOAD_FAILED", "person", "service")
HEX_SHIFT = "translate({c}, '0123456789abcdef', '123456789abcdef0')"


@pytest.fixture(scope="module")
def surface(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with surface_database(pg_server, tmp_path_factory.mktemp("home")) as (url, _):
        yield url


@pytest.fixture
def tamper(surface: str) -> Iterator[psycopg.Connection]:
    """A superuser connection in a transaction that is rolled back afterwards."""
    with psycopg.connect(surface) as conn:
        yield conn
        conn.rollback()


def test_every_table_and_column_is_in_the_registry(surface: str) -> None:
    with psycopg.connect(surface) as conn:
        found = dict(conn.execute(
            "SELECT table_name, array_agg(column_name::text ORDER BY ordinal_position) "
            "FROM information_schema.columns WHERE table_schema = 'public' "
            "GROUP BY table_name").fetchall())
    declared = {t.name: list(t.names) for t in TABLES}
    unknown = set(found) - set(declared) - set(LEDGER_TABLES) - set(CACHE_TABLES)
    assert not unknown, f"tables no verify covers (declare them in app/kinds/tables.py): {unknown}"
    for name, columns in declared.items():
        assert found.get(name) == columns, name


def test_the_surface_verifies_clean(tamper: psycopg.Connection) -> None:
    assert check_projections(tamper) is None


def _edits(kind: str) -> list[str]:
    """SQL expressions for a changed value of a column of this type, first choice first."""
    by_type = {JSONB: ["coalesce({c}, '{{}}'::jsonb) || '{{\"tampered\": true}}'::jsonb"],
               TIMESTAMPTZ: ["coalesce({c} + interval '1 microsecond', now())"],
               BYTEA: ["CASE WHEN {c} IS NULL THEN '\\x00'::bytea ELSE "
                       "set_byte({c}, 0, get_byte({c}, 0) # 1) END"],
               BOOLEAN: ["NOT {c}"], FLOAT8: ["coalesce(nullif({c}, 'NaN'), 0) + 1"]}
    if kind in by_type:
        return by_type[kind]
    if kind in ("bigint", "integer"):
        return ["CASE WHEN {c} > 1 THEN {c} - 1 ELSE coalesce({c}, 0) + 1 END",
                "coalesce({c}, 0) + 1000000"]
    return [HEX_SHIFT, "{c} || 'x'", "coalesce({c}, '') || 'x'"]


def _other_values(conn: psycopg.Connection, name: str, column: str, current: Any) -> list[Any]:
    """Other values the column holds somewhere (a valid foreign key, an allowed state)."""
    found = conn.execute(sql.SQL("SELECT DISTINCT {c} FROM {t} WHERE {c} IS DISTINCT FROM %s "
                                 "LIMIT 5").format(c=sql.Identifier(column),
                                                   t=sql.Identifier(name)),
                         (current,)).fetchall()
    return [r[0] for r in found] + [v for v in ALLOWED if v != current]


def _change(conn: psycopg.Connection, name: str, column: str) -> int:
    """Change one row's column (one holding a value, if any does), as a superuser can: its
    triggers and foreign keys off; returns the row's seq."""
    spec = table(name)
    conn.execute(sql.SQL("ALTER TABLE {} DISABLE TRIGGER USER").format(sql.Identifier(name)))
    conn.execute("SET LOCAL session_replication_role = replica")  # no foreign key checks
    seq_column = spec.seq if spec.role != STORE else spec.key[0]
    ctid, seq, current = conn.execute(sql.SQL(
        "SELECT ctid, {s}, {c} FROM {t} ORDER BY ({c} IS NULL), {s} LIMIT 1").format(
        s=sql.Identifier(seq_column), c=sql.Identifier(column), t=sql.Identifier(name))
    ).fetchone() or (None, None, None)
    assert ctid is not None, f"{name} is empty: the surface must fill every table"
    target = sql.SQL("UPDATE {t} SET {c} = {v} WHERE ctid = %s RETURNING {c}")
    tries = [sql.SQL(e.format(c=f'"{column}"')) for e in _edits(spec.type_of(column))]
    if spec.type_of(column) != JSONB:
        tries += [sql.Literal(v) for v in _other_values(conn, name, column, current)]
    for value in tries:
        try:
            with conn.transaction():
                done = conn.execute(target.format(t=sql.Identifier(name),
                                                  c=sql.Identifier(column), v=value), (ctid,))
                now = done.fetchone()
                assert now is not None
                if now[0] == current:
                    raise psycopg.errors.IntegrityError("unchanged")  # undo, try the next
                return int(seq) if spec.role != STORE else -1
        except (psycopg.errors.IntegrityError, psycopg.errors.DataError):
            continue  # a constraint or the column's type refuses it: the next one
    raise AssertionError(f"no valid changed value for {name}.{column}")


CASES = [(t.name, c) for t in TABLES for c in t.names]


@pytest.mark.parametrize(("name", "column"), CASES, ids=[f"{t}.{c}" for t, c in CASES])
def test_every_column_is_checked(tamper: psycopg.Connection, name: str, column: str) -> None:
    spec = table(name)
    seq = _change(tamper, name, column)
    found = check_projections(tamper)
    assert found is not None, f"{name}.{column} changed and verify found nothing"
    assert found.table == name, describe(found)
    identifying = column in (*spec.key, *spec.within, spec.seq) or spec.role == STORE
    if identifying:
        assert found.problem in ("missing", "unbacked", "differs"), describe(found)
    else:
        assert (found.problem, found.column) == ("differs", column), describe(found)
        if spec.role != MATERIALIZED or spec.source and table(spec.source).role != "event":
            assert found.seq == seq, describe(found)


@pytest.mark.parametrize("name", [t.name for t in TABLES])
def test_a_deleted_row_is_missing(tamper: psycopg.Connection, name: str) -> None:
    spec = table(name)
    tamper.execute(sql.SQL("ALTER TABLE {} DISABLE TRIGGER USER").format(sql.Identifier(name)))
    order = sql.Identifier(spec.seq if spec.role != STORE else spec.key[0])
    tamper.execute("SET LOCAL session_replication_role = replica")  # no foreign key checks
    removed = tamper.execute(sql.SQL(
        "DELETE FROM {t} WHERE ctid = (SELECT ctid FROM {t} ORDER BY {o} DESC LIMIT 1)").format(
        t=sql.Identifier(name), o=order)).rowcount
    assert removed == 1
    found = check_projections(tamper)
    assert found is not None and found.table == name and found.problem == "missing", found


@pytest.mark.parametrize("column", ["kind", "actor", "recorded_at"])
def test_the_entry_query_copies_are_checked(tamper: psycopg.Connection, column: str) -> None:
    tamper.execute("ALTER TABLE ledger_entries DISABLE TRIGGER USER")
    value = {"kind": "kind || 'x'", "actor": "'token:someone-else'",
             "recorded_at": "recorded_at + interval '1 second'"}[column]
    tamper.execute(f"UPDATE ledger_entries SET {column} = {value} WHERE seq = 5")  # type: ignore[arg-type]
    found = check_projections(tamper)
    assert found == Mismatch("ledger_entries", 5, "differs", column), found


def test_every_kind_made_rows_on_the_surface(surface: str) -> None:
    from app.kinds import KINDS

    with psycopg.connect(surface) as conn:
        written = {r[0] for r in conn.execute("SELECT DISTINCT kind FROM ledger_entries")}
    assert set(KINDS) <= written, set(KINDS) - written


def test_the_detail_names_table_row_column_and_entry(tamper: psycopg.Connection) -> None:
    _change(tamper, "params", "value")
    found = check_projections(tamper)
    assert found is not None
    assert describe(found) == (f"the params row {found.row[0]!r} differs from what entry "  # type: ignore[index]
                               f"{found.seq} makes: value")



def test_every_entry_makes_rows_only_of_the_tables_its_kind_declares(surface: str) -> None:
    """What lets the check run in shares (app/kinds/check.py): a table one share checks is
    made by that share's kinds alone, as the kinds declare."""
    from app.kinds import KINDS, MemoryState, entry_from_canonical, reduce

    state = MemoryState()
    with psycopg.connect(surface) as conn:
        for (canonical,) in conn.execute("SELECT canonical FROM ledger_entries ORDER BY seq"):
            entry = entry_from_canonical(bytes(canonical))
            state.advance(entry.seq)
            made = state.apply(reduce(entry, state))
            if entry.kind in KINDS:
                assert {name for name, _ in made} <= set(KINDS[entry.kind].tables), entry.kind


@pytest.mark.parametrize(("kind", "to"), [("metrics.logged", "params.logged"),
                                          ("params.logged", "metrics.logged"),
                                          ("metrics.logged", "example.unknown")])
def test_an_entry_moved_between_shares_by_its_kind_column_is_found(
        tamper: psycopg.Connection, kind: str, to: str) -> None:
    tamper.execute("ALTER TABLE ledger_entries DISABLE TRIGGER USER")
    seq = tamper.execute("UPDATE ledger_entries SET kind = %s WHERE seq = (SELECT max(seq) FROM "
                         "ledger_entries WHERE kind = %s) RETURNING seq", (to, kind)).fetchone()
    assert seq is not None
    assert check_projections(tamper) == Mismatch("ledger_entries", seq[0], "differs", "kind")
