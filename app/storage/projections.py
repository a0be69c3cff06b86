"""All SQL verify needs to hold the projections to the ledger (app/kinds/check.py compares).

Every insert-only table is streamed in (seq, within) order, every current table in key order,
text compared byte for byte (COLLATE "C", which is Python's code point order for UTF-8), each
through its own server-side cursor in the caller's snapshot. The key/value current tables are
checked here, in SQL, against the events they are kept from; and the artifact envelopes
against the digests that name them.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import psycopg
from psycopg import IsolationLevel, sql
from psycopg.conninfo import make_conninfo
from psycopg.types.json import set_json_loads

from app.kinds import BY_NAME, Row
from app.kinds.core import TEXT, Memo, Table

FETCH = 2000  # rows a server-side cursor fetches at a time
WIDE = {"run_environments": 50}  # tables whose rows run to kilobytes (memory stays bounded)
_names = itertools.count()


def _ordered(table: Table, columns: tuple[str, ...]) -> sql.Composable:
    return sql.SQL(", ").join(
        sql.SQL("{} COLLATE \"C\"").format(sql.Identifier(c)) if table.type_of(c) == TEXT
        else sql.Identifier(c) for c in columns)


@cache
def _select(name: str, order: tuple[str, ...]) -> sql.Composed:
    table = BY_NAME[name]
    return sql.SQL("SELECT {} FROM {} ORDER BY {}").format(
        sql.SQL(", ").join(map(sql.Identifier, table.names)), sql.Identifier(name),
        _ordered(table, order))


_JSON: Memo[str | bytes, Any] = Memo(10_000)


def _json(data: str | bytes) -> Any:
    """json.loads, remembering small documents (metric groups, tags): they repeat by the
    thousand, and the rows they are read into are only compared, never changed."""
    found = _JSON.get(data)
    if found is None:
        found = json.loads(data)
        if len(data) <= 256:
            _JSON.keep(data, found)
    return found


def _stream(conn: psycopg.Connection, statement: sql.Composed | str,
            params: tuple[Any, ...] = (), size: int = FETCH) -> Iterator[Any]:
    with conn.cursor(name=f"mlaudit_check_{next(_names)}", binary=True) as cur:
        set_json_loads(_json, cur)
        cur.execute(statement, params)
        while rows := cur.fetchmany(size):
            yield from rows


def table_rows(conn: psycopg.Connection, name: str, since: int = 0) -> Iterator[Row]:
    """An insert-only table's rows by seq (from since on), then by the columns that tell one
    entry's apart."""
    table, size = BY_NAME[name], WIDE.get(name, FETCH)
    if not since:
        return _stream(conn, _select(name, (table.seq, *table.within)), size=size)
    return _stream(conn, _since(name), (since,), size)


@cache
def _since(name: str) -> sql.Composed:
    table = BY_NAME[name]
    return sql.SQL("SELECT {} FROM {} WHERE {} >= %s ORDER BY {}").format(
        sql.SQL(", ").join(map(sql.Identifier, table.names)), sql.Identifier(name),
        sql.Identifier(table.seq), _ordered(table, (table.seq, *table.within)))


_ENTRY_COLUMNS = ("SELECT seq, canonical, kind, actor, to_char(recorded_at AT TIME ZONE 'UTC', "
                  "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM ledger_entries WHERE seq >= %s")


def entry_rows(conn: psycopg.Connection, since: int = 0, kinds: frozenset[str] | None = None,
               rest: bool = False) -> Iterator[tuple[int, bytes, str, str, Any]]:
    """(seq, canonical, kind, actor, recorded_at) of every entry from since on, by seq;
    recorded_at as the entry's own text (RFC 3339, six digits, Z), so it compares as text.
    kinds: only entries whose kind column is one of them (rest: none of them)."""
    if kinds is None:
        return _stream(conn, _ENTRY_COLUMNS + " ORDER BY seq", (since,))
    test = "kind <> ALL(%s)" if rest else "kind = ANY(%s)"
    return _stream(conn, f"{_ENTRY_COLUMNS} AND {test} ORDER BY seq", (since, sorted(kinds)))


@cache
def _current_check(name: str) -> sql.Composed:
    """A current table against the revisions or events it is kept from: each key's latest,
    unless it is an event that removes the key, must be its row exactly."""
    target = BY_NAME[name]
    source = BY_NAME[target.source or ""]
    key = sql.SQL(", ").join(map(sql.Identifier, target.key))
    columns = sql.SQL(", ").join(sql.SQL("e.{}").format(sql.Identifier(c)) for c in target.names)
    present = sql.Identifier(source.present or "")
    kept = (sql.SQL("TRUE") if source.present is None
            else sql.SQL("e.{} IS NOT FALSE").format(present)
            if source.type_of(source.present) == "boolean"
            else sql.SQL("e.{} IS NOT NULL").format(present))
    join = sql.SQL(" AND ").join(sql.SQL("x.{0} = t.{0}").format(sql.Identifier(c))
                                 for c in target.key)
    return sql.SQL(
        "WITH x AS (SELECT {columns} FROM (SELECT DISTINCT ON ({key}) * FROM {source} "
        "ORDER BY {key}, seq DESC) e WHERE {kept}) "
        "SELECT coalesce(x.seq, t.seq), CASE WHEN t.seq IS NULL THEN 'missing' "
        "WHEN x.seq IS NULL THEN 'unbacked' ELSE 'differs' END, {first}, {keys} "
        "FROM x FULL JOIN {target} t ON {join} "
        "WHERE row(x.*) IS DISTINCT FROM row(t.*) ORDER BY 1, {order} LIMIT 1").format(
        order=sql.SQL(", ").join(
            sql.SQL("coalesce(x.{0}, t.{0})").format(sql.Identifier(c)) +
            (sql.SQL(' COLLATE "C"') if target.type_of(c) == TEXT else sql.SQL(""))
            for c in target.key),
        columns=columns, key=key, source=sql.Identifier(source.name), kept=kept,
        keys=sql.SQL(", ").join(sql.SQL("coalesce(x.{0}, t.{0})").format(sql.Identifier(c))
                                for c in target.key),
        first=sql.SQL("CASE {} END").format(sql.SQL(" ").join(
            sql.SQL("WHEN x.{0} IS DISTINCT FROM t.{0} THEN {1}").format(
                sql.Identifier(c), sql.Literal(c)) for c in target.names)),
        target=sql.Identifier(name), join=join)


def current_mismatch(conn: psycopg.Connection,
                     name: str) -> tuple[int, str, str | None, tuple[Any, ...]] | None:
    """(seq, missing | unbacked | differs, the first column that differs, key) of the first
    row of a current table that is not what its revisions or events leave, or None. Sound
    once the revisions and events are held to their entries (they are checked first)."""
    row = conn.execute(_current_check(name)).fetchone()
    if row is None:
        return None
    return int(row[0]), str(row[1]), row[2] if row[1] == "differs" else None, tuple(row[3:])


def artifact_without_envelope(conn: psycopg.Connection) -> tuple[int, str, str] | None:
    """(seq, run_id, path) of the first artifact revision whose envelope the store does not
    hold."""
    row = conn.execute(
        "SELECT a.seq, a.run_id, a.path FROM artifact_revisions a LEFT JOIN artifact_envelopes e "
        "ON e.sha256 = a.envelope_sha256 WHERE e.sha256 IS NULL ORDER BY a.seq LIMIT 1"
    ).fetchone()
    return None if row is None else (int(row[0]), str(row[1]), str(row[2]))


def envelopes(conn: psycopg.Connection) -> Iterator[Row]:
    """(sha256, envelope) of every stored envelope."""
    return _stream(conn, "SELECT sha256, envelope FROM artifact_envelopes ORDER BY sha256")


_SNAPSHOT_ID = re.compile(r"[0-9A-F]+-[0-9A-F]+-[0-9]+")


def export_snapshot(conn: psycopg.Connection) -> str:
    """The id of conn's transaction snapshot, which another session can then share while
    that transaction stays open (pg_export_snapshot)."""
    row = conn.execute("SELECT pg_export_snapshot()").fetchone()
    assert row is not None
    return str(row[0])


def conninfo_of(conn: psycopg.Connection) -> str:
    """What another session (or process) needs to connect as conn did, password included."""
    return make_conninfo(conn.info.dsn, password=conn.info.password or None)


@contextmanager
def sibling_in_snapshot(conn: psycopg.Connection, snapshot: str) -> Iterator[psycopg.Connection]:
    """A second connection to conn's database, inside a read-only transaction that sees
    exactly the exported snapshot."""
    with in_snapshot(conninfo_of(conn), snapshot) as other:
        yield other


@contextmanager
def in_snapshot(conninfo: str, snapshot: str) -> Iterator[psycopg.Connection]:
    """A connection inside a read-only transaction that sees exactly an exported snapshot."""
    if not _SNAPSHOT_ID.fullmatch(snapshot):  # the server's own id; never caller input
        raise ValueError(f"not a snapshot id: {snapshot!r}")
    with psycopg.connect(conninfo) as other:
        other.isolation_level, other.read_only = IsolationLevel.REPEATABLE_READ, True
        with other.transaction():
            # SET TRANSACTION takes no bound parameters; the id was checked above.
            other.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
            other.execute("SET LOCAL work_mem = '64MB'")  # the streams' sorts stay in memory
            yield other
