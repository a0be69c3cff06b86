"""SQL that checks projection rows against the ledger entries that made them (for verify).

The ledger is the record; tables such as `metrics`, `params`, `run_tags`, `decisions` and
`deployments` are projections of it, kept for queries. Verify checks here, in its own
snapshot, that each of them and the entries that made it say exactly the same thing, row for
row. `metrics` has no foreign keys (they cost two index probes per row on every write), so
this check is all that ties its rows to the ledger.

Each query reports its first disagreement as (seq, row, problem), where problem is
'missing' (the entry made the row, the table does not hold it), 'unbacked' (a row no entry
of the table's kinds made) or the name of the first column, in the order compared, that
differs from the entry.
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
# with the row stored for it; the first mismatch by (seq, position) is returned.
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
SELECT seq, position, problem FROM (
    SELECT coalesce(x.seq, m.seq) AS seq, coalesce(x.position, m.position) AS position,
           CASE WHEN m.seq IS NULL THEN 'missing' WHEN x.seq IS NULL THEN 'unbacked'
           WHEN m.run_id IS DISTINCT FROM x.run_id THEN 'run_id'
           WHEN m.key IS DISTINCT FROM x.elem ->> 'key' THEN 'key'
           WHEN m.value IS DISTINCT FROM x.elem ->> 'value' THEN 'value'
           WHEN m.step::text IS DISTINCT FROM x.elem ->> 'step' THEN 'step'
           WHEN m.timestamp::text IS DISTINCT FROM x.elem ->> 'timestamp' THEN 'timestamp'
           WHEN m.n::text IS DISTINCT FROM x.elem ->> 'n' THEN 'n'
           WHEN m.group_values IS DISTINCT FROM x.elem -> 'group' THEN 'group_values'
           WHEN m.group_key IS DISTINCT FROM coalesce(
                (SELECT '{' || string_agg(to_json(g.k)::text || ':' || to_json(g.v)::text, ','
                                          ORDER BY g.k COLLATE "C") || '}'
                 FROM jsonb_each_text(CASE WHEN jsonb_typeof(x.elem -> 'group') = 'object'
                                           THEN x.elem -> 'group' END) AS g(k, v)), '')
                THEN 'group_key'
           WHEN m.value_number IS DISTINCT FROM (CASE
                WHEN m.value IN ('NaN', 'Infinity', '-Infinity') THEN m.value::float8
                WHEN m.value !~ '^-?[0-9]+(\.[0-9]+)?(E[-+]?[0-9]+)?$' THEN NULL
                WHEN m.value ~ 'E\+?[0-9]{4,}$' THEN
                    (CASE WHEN m.value LIKE '-%' THEN '-Infinity' ELSE 'Infinity' END)::float8
                WHEN m.value ~ 'E-[0-9]{4,}$' THEN 0
                WHEN abs(m.value::numeric) >= 1.797693134862315807937289714053e308 THEN
                    (CASE WHEN m.value LIKE '-%' THEN '-Infinity' ELSE 'Infinity' END)::float8
                WHEN abs(m.value::numeric) <= 2.4703282292062327208828439643e-324 THEN 0
                ELSE m.value::float8 END) THEN 'value_number'
           END AS problem
    FROM expected x FULL JOIN metrics m ON m.seq = x.seq AND m.position = x.position
) found
WHERE problem IS NOT NULL
ORDER BY seq, position
LIMIT 1
"""

# Params, tags, decisions and deployments: the entries of the kinds that make them, each
# parsed once into the materialised `entry` (OFFSET 0 keeps the parse a separate plan step,
# as above, and a MATERIALIZED CTE is computed once however often it is read), so the
# ledger is scanned once for all of them (`kind` has no index: one sequential scan, about
# 0.2 s per million entries when they are all metrics). Every branch joins its table on the
# seq its rows carry (and the key, for key/value tables), reports as the metrics query does
# and ranks its table (TABLES); the first mismatch by (seq, rank, key) is returned.
_FACT_MISMATCH = r"""
WITH entry AS MATERIALIZED (
    SELECT e.seq, e.kind, p.doc -> 'subject' AS subject, p.doc -> 'body' AS body,
           p.doc ->> 'actor' AS actor, p.doc ->> 'recorded_at' AS recorded_at,
           CASE WHEN jsonb_typeof(p.doc -> 'body' -> 'params') = 'object'
                THEN p.doc -> 'body' -> 'params' END AS params,
           CASE WHEN jsonb_typeof(p.doc -> 'body' -> 'tags') = 'object'
                THEN p.doc -> 'body' -> 'tags' END AS tags
    FROM ledger_entries e
    CROSS JOIN LATERAL (SELECT convert_from(e.canonical, 'UTF8')::jsonb AS doc OFFSET 0) p
    WHERE e.kind IN ('params.logged', 'tags.set', 'tag.deleted', 'logged_model.created',
                     'logged_model.params_logged', 'logged_model.tags_set',
                     'logged_model.tag_deleted', 'decision.approved', 'decision.rejected',
                     'decision.refused', 'deployment.recorded', 'deployment.rolled_back')
),
-- Every change to a run's tags, or to a logged model's: value NULL for a deletion.
tag_change AS (
    SELECT e.seq, e.subject ->> 'run' AS owner, t.key, t.value
    FROM entry e CROSS JOIN LATERAL jsonb_each_text(e.tags) t WHERE e.kind = 'tags.set'
    UNION ALL
    SELECT seq, subject ->> 'run', body ->> 'key', NULL FROM entry WHERE kind = 'tag.deleted'
),
model_tag_change AS (
    SELECT e.seq, e.subject ->> 'logged_model' AS owner, t.key, t.value
    FROM entry e CROSS JOIN LATERAL jsonb_each_text(e.tags) t
    WHERE e.kind IN ('logged_model.created', 'logged_model.tags_set')
    UNION ALL
    SELECT seq, subject ->> 'logged_model', body ->> 'key', NULL
    FROM entry WHERE kind = 'logged_model.tag_deleted'
),
-- The current tags: the latest change of each (owner, key), unless it deleted the tag.
run_tag AS (
    SELECT * FROM (SELECT DISTINCT ON (owner, key) * FROM tag_change
                   ORDER BY owner, key, seq DESC) latest WHERE value IS NOT NULL
),
model_tag AS (
    SELECT * FROM (SELECT DISTINCT ON (owner, key) * FROM model_tag_change
                   ORDER BY owner, key, seq DESC) latest WHERE value IS NOT NULL
),
found AS (
    SELECT 1 AS rank, coalesce(x.seq, r.seq) AS seq, coalesce(x.key, r.key) AS key,
           CASE WHEN r.seq IS NULL THEN 'missing' WHEN x.seq IS NULL THEN 'unbacked'
           WHEN r.run_id IS DISTINCT FROM x.owner THEN 'run_id'
           WHEN r.value IS DISTINCT FROM x.value THEN 'value' END AS problem
    FROM (SELECT e.seq, e.subject ->> 'run' AS owner, kv.key, kv.value
          FROM entry e CROSS JOIN LATERAL jsonb_each_text(e.params) kv
          WHERE e.kind = 'params.logged') x
    FULL JOIN params r ON r.seq = x.seq AND r.key = x.key
    UNION ALL
    SELECT 2, coalesce(x.seq, r.seq), coalesce(x.key, r.key),
           CASE WHEN r.seq IS NULL THEN 'missing' WHEN x.seq IS NULL THEN 'unbacked'
           WHEN r.model_id IS DISTINCT FROM x.owner THEN 'model_id'
           WHEN r.value IS DISTINCT FROM x.value THEN 'value' END
    FROM (SELECT e.seq, e.subject ->> 'logged_model' AS owner, kv.key, kv.value
          FROM entry e CROSS JOIN LATERAL jsonb_each_text(e.params) kv
          WHERE e.kind IN ('logged_model.created', 'logged_model.params_logged')) x
    FULL JOIN logged_model_params r ON r.seq = x.seq AND r.key = x.key
    UNION ALL
    SELECT 3, coalesce(x.seq, r.seq), coalesce(x.key, r.key),
           CASE WHEN r.seq IS NULL THEN 'missing' WHEN x.seq IS NULL THEN 'unbacked'
           WHEN r.run_id IS DISTINCT FROM x.owner THEN 'run_id'
           WHEN r.value IS DISTINCT FROM x.value THEN 'value' END
    FROM tag_change x FULL JOIN tag_events r ON r.seq = x.seq AND r.key = x.key
    UNION ALL
    SELECT 4, coalesce(x.seq, r.seq), coalesce(x.key, r.key),
           CASE WHEN r.seq IS NULL THEN 'missing' WHEN x.seq IS NULL THEN 'unbacked'
           WHEN r.run_id IS DISTINCT FROM x.owner THEN 'run_id'
           WHEN r.value IS DISTINCT FROM x.value THEN 'value' END
    FROM run_tag x FULL JOIN run_tags r ON r.seq = x.seq AND r.key = x.key
    UNION ALL
    SELECT 5, coalesce(x.seq, r.seq), coalesce(x.key, r.key),
           CASE WHEN r.seq IS NULL THEN 'missing' WHEN x.seq IS NULL THEN 'unbacked'
           WHEN r.model_id IS DISTINCT FROM x.owner THEN 'model_id'
           WHEN r.value IS DISTINCT FROM x.value THEN 'value' END
    FROM model_tag x FULL JOIN logged_model_tags r ON r.seq = x.seq AND r.key = x.key
    UNION ALL
    SELECT 6, coalesce(x.seq, r.seq), NULL,
           CASE WHEN r.seq IS NULL THEN 'missing' WHEN x.seq IS NULL THEN 'unbacked'
           WHEN r.promotion_id IS DISTINCT FROM x.subject ->> 'promotion' THEN 'promotion_id'
           WHEN r.approver IS DISTINCT FROM x.body ->> 'approver' THEN 'approver'
           WHEN r.role IS DISTINCT FROM x.body ->> 'role' THEN 'role'
           WHEN r.outcome IS DISTINCT FROM x.body ->> 'outcome' THEN 'outcome'
           WHEN r.comment IS DISTINCT FROM x.body ->> 'comment' THEN 'comment'
           WHEN r.exception IS DISTINCT FROM nullif(x.body -> 'exception', 'null')
                THEN 'exception'
           WHEN r.version_digest IS DISTINCT FROM x.body ->> 'version_digest'
                THEN 'version_digest'
           WHEN r.gates IS DISTINCT FROM x.body -> 'gates' THEN 'gates' END
    FROM (SELECT * FROM entry WHERE kind IN ('decision.approved', 'decision.rejected',
                                             'decision.refused')) x
    FULL JOIN decisions r ON r.seq = x.seq
    UNION ALL
    SELECT 7, coalesce(x.seq, r.seq), NULL,
           CASE WHEN r.seq IS NULL THEN 'missing' WHEN x.seq IS NULL THEN 'unbacked'
           WHEN r.id IS DISTINCT FROM x.subject ->> 'deployment' THEN 'id'
           WHEN r.model_name IS DISTINCT FROM x.subject ->> 'model' THEN 'model_name'
           WHEN r.version::text IS DISTINCT FROM x.body ->> 'version' THEN 'version'
           WHEN r.environment IS DISTINCT FROM x.body ->> 'environment' THEN 'environment'
           WHEN r.deployer IS DISTINCT FROM x.actor THEN 'deployer'
           WHEN r.target IS DISTINCT FROM x.body -> 'target' THEN 'target'
           WHEN r.promotion_id IS DISTINCT FROM x.body ->> 'promotion' THEN 'promotion_id'
           WHEN r.rollback_of IS DISTINCT FROM x.body ->> 'rollback_of' THEN 'rollback_of'
           WHEN r.reason IS DISTINCT FROM x.body ->> 'reason' THEN 'reason'
           -- the entry's recorded_at, in its own format (no cast that could fail)
           WHEN to_char(r.deployed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
                IS DISTINCT FROM x.recorded_at THEN 'deployed_at' END
    FROM (SELECT * FROM entry WHERE kind IN ('deployment.recorded',
                                             'deployment.rolled_back')) x
    FULL JOIN deployments r ON r.seq = x.seq
)
SELECT rank, seq, key, problem FROM found
WHERE problem IS NOT NULL
ORDER BY seq, rank, key COLLATE "C"
LIMIT 1
"""

# The checked tables, ranked: a row of an earlier one is reported first at the same seq.
TABLES = ("metrics", "params", "logged_model_params", "tag_events", "run_tags",
          "logged_model_tags", "decisions", "deployments")


@dataclass(frozen=True)
class Mismatch:
    """A projection row that disagrees with the ledger.

    problem: 'missing' (the entry made it, the table does not hold it), 'unbacked' (a row no
    entry of the table's kinds made) or 'differs' (field, a column, differs from the entry's).
    The row within its entry is position (metrics) or key (key/value tables), else None."""

    table: str
    seq: int
    problem: str
    field: str | None = None
    position: int | None = None
    key: str | None = None

    def order(self) -> tuple[int, int, int, bytes]:
        """The report order: seq, then table rank, then the row within the entry."""
        return (self.seq, TABLES.index(self.table), self.position or 0,
                (self.key or "").encode())


def _mismatch(table: str, seq: int, problem: str, *, position: int | None = None,
              key: str | None = None) -> Mismatch:
    if problem in ("missing", "unbacked"):
        return Mismatch(table, seq, problem, None, position, key)
    return Mismatch(table, seq, "differs", problem, position, key)


def first_metric_mismatch(conn: psycopg.Connection) -> Mismatch | None:
    """The first metrics row that disagrees, by (seq, position)."""
    row = conn.execute(_METRIC_MISMATCH).fetchone()
    return None if row is None else _mismatch("metrics", int(row[0]), str(row[2]),
                                              position=int(row[1]))


def first_fact_mismatch(conn: psycopg.Connection) -> Mismatch | None:
    """The first params, tags, decisions or deployments row that disagrees."""
    row = conn.execute(_FACT_MISMATCH).fetchone()
    return None if row is None else _mismatch(TABLES[int(row[0])], int(row[1]), str(row[3]),
                                              key=row[2])


def first_mismatch(conn: psycopg.Connection) -> Mismatch | None:
    """The first row of any checked projection that disagrees, in Mismatch.order."""
    found = [m for m in (first_metric_mismatch(conn), first_fact_mismatch(conn)) if m]
    return min(found, key=Mismatch.order, default=None)


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
