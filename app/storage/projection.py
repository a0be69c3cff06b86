"""All SQL for storing the rows reducers make, and for what reducers ask of current state.

The write path stores exactly what app.kinds.reduce makes for each entry it appends: rows of
fact, revision and event tables, each an INSERT (current tables are kept by the database's
triggers from revisions and events; the service's role cannot write them). Facts with
first-wins keys skip a row whose key is already stored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache, partial
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from app.kinds import BY_NAME, Row, Rows
from app.kinds.core import JSONB


@cache
def _insert(table: str) -> tuple[sql.Composed, tuple[int, ...]]:
    """INSERT statement of a table, and the positions of its jsonb columns."""
    spec = BY_NAME[table]
    statement = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, spec.names)),
        sql.SQL(", ").join(sql.Placeholder() * len(spec.names)))
    if spec.first_wins:
        statement = sql.Composed([statement, sql.SQL(" ON CONFLICT ({}) DO NOTHING").format(
            sql.SQL(", ").join(map(sql.Identifier, spec.first_wins)))])
    jsonb = tuple(i for i, (_, kind) in enumerate(spec.columns) if kind == JSONB)
    return statement, jsonb


def adapt(table: str, row: Row) -> Row:
    """A row with its JSON values wrapped for psycopg (dicts and lists go in as jsonb)."""
    _, jsonb = _insert(table)
    if not jsonb:
        return row
    values = list(row)
    for i in jsonb:
        if values[i] is not None:
            values[i] = Jsonb(values[i])
    return tuple(values)


def insert_rows(conn: psycopg.Connection, table: str, rows: Sequence[Row]) -> None:
    statement, _ = _insert(table)
    with conn.cursor() as cur:
        if len(rows) == 1:
            cur.execute(statement, adapt(table, rows[0]))
        else:
            cur.executemany(statement, [adapt(table, r) for r in rows])


def apply(conn: psycopg.Connection, made: Rows) -> None:
    """Store the rows one entry made, table by table in the order the reducer gave."""
    for table, rows in made:
        insert_rows(conn, table, rows)


@cache
def _select(table: str) -> sql.Composed:
    spec = BY_NAME[table]
    return sql.SQL("SELECT {} FROM {} WHERE {}").format(
        sql.SQL(", ").join(map(sql.Identifier, spec.names)), sql.Identifier(table),
        sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in spec.key))


class DbState:
    """app.kinds.State answered from the current tables, in the caller's transaction."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn

    def current(self, table: str, key: tuple[Any, ...]) -> dict[str, Any] | None:
        with self._conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(_select(table), key).fetchone()

    def approvers(self, promotion_id: str) -> set[str]:
        rows = self._conn.execute(
            "SELECT DISTINCT coalesce(principal_id, approver) FROM decisions "
            "WHERE promotion_id = %s "
            "AND outcome = 'approve'", (promotion_id,)).fetchall()
        return {r[0] for r in rows}


def copy_rows(conn: psycopg.Connection, table: str, rows: Sequence[Row]) -> None:
    """Many rows of one table through COPY (a rebuild's bulk path; rows of first-wins facts
    must already be the ones to keep: COPY has no ON CONFLICT)."""
    spec = BY_NAME[table]
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, spec.names)))
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(adapt(table, row))


class AsOfState:
    """app.kinds.State as the ledger stood just before an entry (set with advance): each
    entity's revision with the greatest seq below it, the approvals below it. It lets an
    incremental check replay recent entries against rows already stored."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn, self._before = conn, 0

    def advance(self, seq: int) -> None:
        self._before = seq

    def current(self, table: str, key: tuple[Any, ...]) -> dict[str, Any] | None:
        return as_of(self._conn, table, key, self._before)

    def approvers(self, promotion_id: str) -> set[str]:
        rows = self._conn.execute(
            "SELECT DISTINCT coalesce(principal_id, approver) FROM decisions "
            "WHERE promotion_id = %s "
            "AND outcome = 'approve' AND seq < %s", (promotion_id, self._before)).fetchall()
        return {r[0] for r in rows}

    def apply(self, made: Rows) -> Rows:
        """The rows a database stores of those made (a first-wins fact already stored at an
        earlier seq is left out)."""
        out: Rows = []
        for table, rows in made:
            spec = BY_NAME[table]
            if spec.first_wins:
                rows = [r for r in rows if not self._stored_before(table, r)]
            if rows:
                out.append((table, rows))
        return out

    def _stored_before(self, table: str, row: Row) -> bool:
        spec = BY_NAME[table]
        key = tuple(row[spec.index[c]] for c in spec.first_wins)
        return self._conn.execute(_first(table), (*key, self._before)).fetchone() is not None


def as_of(conn: psycopg.Connection, table: str, key: tuple[Any, ...],
          before: int) -> dict[str, Any] | None:
    """An entity's row of a current table as its revisions below a seq leave it."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_as_of(table), (*key, before)).fetchone()


def earlier(conn: psycopg.Connection) -> Callable[[str, tuple[Any, ...], int],
                                                  dict[str, Any] | None]:
    """A MemoryState's `earlier` (app/kinds/memory.py), read from conn's database."""
    return partial(as_of, conn)


@cache
def _as_of(table: str) -> sql.Composed:
    """The latest revision of an entity below a seq (the current table's columns)."""
    current = BY_NAME[table]
    revisions = BY_NAME[current.source or ""]
    return sql.SQL("SELECT {} FROM {} WHERE {} AND seq < %s ORDER BY seq DESC LIMIT 1").format(
        sql.SQL(", ").join(map(sql.Identifier, current.names)), sql.Identifier(revisions.name),
        sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(c))
                              for c in current.key))


@cache
def _first(table: str) -> sql.Composed:
    spec = BY_NAME[table]
    return sql.SQL("SELECT 1 FROM {} WHERE {} AND seq < %s LIMIT 1").format(
        sql.Identifier(table), sql.SQL(" AND ").join(
            sql.SQL("{} = %s").format(sql.Identifier(c)) for c in spec.first_wins))
