"""SQL that checks projection rows against the ledger entries that made them (for verify).

The ledger is the record; tables such as `metrics` are projections of it, kept for queries.
`metrics` has no foreign keys (they cost two index probes per row on every write); instead,
verify checks here, in its own snapshot, that the table and the `metrics.logged` entries
say exactly the same thing, row for row.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import IsolationLevel, sql
from psycopg.conninfo import make_conninfo

# Each metric of a `metrics.logged` entry (position = its index in body.metrics), joined
# with the row stored for it. A row for which no entry metric exists, an entry metric with
# no row, and any field that differs are reported; the first by (seq, position) is returned.
# The entry's canonical bytes are parsed once each, by PostgreSQL; verify has already
# re-hashed those bytes, so what they say is what was signed.
_METRIC_MISMATCH = r"""
WITH expected AS (
    SELECT e.seq, x.ord - 1 AS position, x.elem, j.run_id
    FROM ledger_entries e
    -- OFFSET 0 keeps each subquery a separate plan step, so an entry is parsed once, not
    -- once per reference (per metric, for a 1000-metric entry).
    CROSS JOIN LATERAL (
        SELECT CASE WHEN jsonb_typeof(p.doc -> 'body' -> 'metrics') = 'array'
                    THEN p.doc -> 'body' -> 'metrics' ELSE '[]'::jsonb END AS metrics,
               p.doc -> 'subject' ->> 'run' AS run_id
        FROM (SELECT convert_from(e.canonical, 'UTF8')::jsonb AS doc OFFSET 0) p
        OFFSET 0
    ) j
    CROSS JOIN LATERAL jsonb_array_elements(j.metrics) WITH ORDINALITY AS x(elem, ord)
    WHERE e.kind = 'metrics.logged'
)
SELECT coalesce(x.seq, m.seq) AS seq, coalesce(x.position, m.position) AS position,
       CASE WHEN m.seq IS NULL THEN 'missing' WHEN x.seq IS NULL THEN 'unbacked'
            ELSE 'differs' END AS problem
FROM expected x FULL JOIN metrics m ON m.seq = x.seq AND m.position = x.position
WHERE m.seq IS NULL OR x.seq IS NULL
   OR m.run_id IS DISTINCT FROM x.run_id
   OR m.key IS DISTINCT FROM x.elem ->> 'key'
   OR m.value IS DISTINCT FROM x.elem ->> 'value'
   OR m.step::text IS DISTINCT FROM x.elem ->> 'step'
   OR m.timestamp::text IS DISTINCT FROM x.elem ->> 'timestamp'
   OR m.n::text IS DISTINCT FROM x.elem ->> 'n'
   OR m.group_values IS DISTINCT FROM x.elem -> 'group'
   OR m.group_key IS DISTINCT FROM coalesce(
        (SELECT '{' || string_agg(to_json(g.k)::text || ':' || to_json(g.v)::text, ','
                                  ORDER BY g.k COLLATE "C") || '}'
         FROM jsonb_each_text(CASE WHEN jsonb_typeof(x.elem -> 'group') = 'object'
                                   THEN x.elem -> 'group' END) AS g(k, v)), '')
   OR m.value_number IS DISTINCT FROM (CASE
        WHEN m.value IN ('NaN', 'Infinity', '-Infinity') THEN m.value::float8
        WHEN m.value !~ '^-?[0-9]+(\.[0-9]+)?(E[-+]?[0-9]+)?$' THEN NULL
        WHEN m.value ~ 'E\+?[0-9]{4,}$' THEN
            (CASE WHEN m.value LIKE '-%' THEN '-Infinity' ELSE 'Infinity' END)::float8
        WHEN m.value ~ 'E-[0-9]{4,}$' THEN 0
        WHEN abs(m.value::numeric) >= 1.797693134862315807937289714053e308 THEN
            (CASE WHEN m.value LIKE '-%' THEN '-Infinity' ELSE 'Infinity' END)::float8
        WHEN abs(m.value::numeric) <= 2.4703282292062327208828439643e-324 THEN 0
        ELSE m.value::float8 END)
ORDER BY 1, 2
LIMIT 1
"""


@dataclass(frozen=True)
class Mismatch:
    """A metrics row that disagrees with the ledger.

    problem: 'missing' (the entry logged it, no row holds it), 'unbacked' (a row no entry
    logged) or 'differs' (a field differs from the entry's)."""

    seq: int
    position: int
    problem: str


def first_metric_mismatch(conn: psycopg.Connection) -> Mismatch | None:
    row = conn.execute(_METRIC_MISMATCH).fetchone()
    return None if row is None else Mismatch(int(row[0]), int(row[1]), str(row[2]))


_SNAPSHOT_ID = re.compile(r"[0-9A-F]+-[0-9A-F]+-[0-9]+")


def export_snapshot(conn: psycopg.Connection) -> str:
    """The id of conn's transaction snapshot, which another session can then share while
    that transaction stays open (pg_export_snapshot)."""
    row = conn.execute("SELECT pg_export_snapshot()").fetchone()
    assert row is not None
    return str(row[0])


@contextmanager
def sibling_in_snapshot(conn: psycopg.Connection, snapshot: str) -> Iterator[psycopg.Connection]:
    """A second connection to conn's database, inside a read-only transaction that sees
    exactly the exported snapshot."""
    if not _SNAPSHOT_ID.fullmatch(snapshot):  # the server's own id; never caller input
        raise ValueError(f"not a snapshot id: {snapshot!r}")
    info = make_conninfo(conn.info.dsn, password=conn.info.password or None)
    with psycopg.connect(info) as other:
        other.isolation_level, other.read_only = IsolationLevel.REPEATABLE_READ, True
        with other.transaction():
            # SET TRANSACTION takes no bound parameters; the id was checked above.
            other.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
            yield other
