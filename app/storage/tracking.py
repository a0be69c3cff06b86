"""All SQL for experiments, runs, params, metrics and tags (the tracking projections)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from app.kinds import Rows
from app.storage import projection
from app.storage.pipelined import Take, sent


@dataclass
class ExperimentRow:
    id: str
    name: str
    description: str
    tags: dict[str, str]
    lifecycle: str
    created_by: str
    created_at: datetime
    created_seq: int
    archived_seq: int | None
    updated_at: datetime | None = None


@dataclass
class RunRow:
    id: str
    experiment_id: str
    name: str
    status: str
    source: dict[str, Any]
    parent_run_id: str | None
    start_time: int
    end_time: int | None
    created_by: str
    created_seq: int
    ended_seq: int | None
    manifest_sha256: str | None = None
    lifecycle: str = "active"
    user_id: str | None = None  # what MLflow's client claimed (its OS user), not the actor


@dataclass
class MetricRow:
    key: str
    group_values: dict[str, str] | None
    n: int | None
    value: str
    step: int
    timestamp: int
    seq: int
    position: int


_EXPERIMENT = ("SELECT id, name, description, tags, lifecycle, created_by, created_at, "
               "created_seq, archived_seq, updated_at FROM experiments")
_RUN = ("SELECT id, experiment_id, name, status, source, parent_run_id, start_time, end_time, "
        "created_by, created_seq, ended_seq, manifest_sha256, lifecycle, user_id FROM runs")
RUN_QUERY = _RUN  # for the modules that read a run together with something else
_METRIC = "SELECT key, group_values, n, value, step, timestamp, seq, position FROM metrics"


def next_experiment_id(conn: psycopg.Connection) -> str:
    row = conn.execute("SELECT nextval('experiment_ids')").fetchone()
    assert row is not None
    return str(row[0])


def advance_experiment_ids(conn: psycopg.Connection) -> None:
    """Move the experiment id sequence past every numeric id in use (after a replay)."""
    conn.execute("SELECT setval('experiment_ids', greatest(1, coalesce((SELECT max(id::bigint) "
                 "FROM experiments WHERE id ~ '^[0-9]{1,18}$'), 0) + 1), false)")


def experiment_name_taken(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM experiments WHERE name = %s", (name,)).fetchone() is not None


def get_experiment(conn: psycopg.Connection, experiment_id: str) -> ExperimentRow | None:
    with conn.cursor(row_factory=class_row(ExperimentRow)) as cur:
        return cur.execute(f"{_EXPERIMENT} WHERE id = %s",
                           (experiment_id,)).fetchone()


def get_experiment_by_name(conn: psycopg.Connection, name: str) -> ExperimentRow | None:
    with conn.cursor(row_factory=class_row(ExperimentRow)) as cur:
        return cur.execute(f"{_EXPERIMENT} WHERE name = %s", (name,)).fetchone()


def list_experiments(conn: psycopg.Connection, after_seq: int, limit: int,
                     include_archived: bool) -> list[ExperimentRow]:
    """Keyset page in creation order."""
    with conn.cursor(row_factory=class_row(ExperimentRow)) as cur:
        return cur.execute(
            f"{_EXPERIMENT} WHERE created_seq > %s AND (%s OR lifecycle = 'active') "
            "ORDER BY created_seq LIMIT %s", (after_seq, include_archived, limit)).fetchall()


def get_run(conn: psycopg.Connection, run_id: str) -> RunRow | None:
    return send_get_run(conn, run_id)()


def send_get_run(conn: psycopg.Connection, run_id: str) -> Take[RunRow | None]:
    return sent(conn, f"{_RUN} WHERE id = %s", (run_id,), _first, class_row(RunRow))


def _first(rows: list[Any]) -> Any:
    return rows[0] if rows else None


def get_params(conn: psycopg.Connection, run_id: str, keys: Sequence[str] | None = None
               ) -> dict[str, str]:
    if keys is None:
        rows = conn.execute("SELECT key, value FROM params WHERE run_id = %s", (run_id,))
    else:
        rows = conn.execute("SELECT key, value FROM params WHERE run_id = %s AND key = ANY(%s)",
                            (run_id, list(keys)))
    return dict(rows.fetchall())


def get_run_and_params(conn: psycopg.Connection, run_id: str, keys: Sequence[str]
                       ) -> tuple[RunRow | None, dict[str, str]]:
    """get_run and get_params(keys) in one pipelined round trip."""
    with conn.cursor(row_factory=class_row(RunRow)) as run, conn.cursor() as params:
        with conn.pipeline():
            run.execute(f"{_RUN} WHERE id = %s", (run_id,))
            params.execute("SELECT key, value FROM params WHERE run_id = %s AND key = ANY(%s)",
                           (run_id, list(keys)))
        return run.fetchone(), dict(params.fetchall())


def insert_rows_and_get_run(conn: psycopg.Connection, made: Rows, run_id: str
                            ) -> RunRow | None:
    """projection.apply(made), then get_run(run_id), in one pipelined round trip."""
    with conn.cursor(row_factory=class_row(RunRow)) as run:
        with conn.pipeline():
            projection.apply(conn, made)
            run.execute(f"{_RUN} WHERE id = %s", (run_id,))
        return run.fetchone()


MetricValues = tuple[str, str, str, Any, int | None, str, float, int, int, int, int]


_METRIC_COLUMNS = ("run_id, key, group_key, group_values, n, value, value_number, step, "
                   "timestamp, seq, position")
COPY_METRICS = 64  # from this many rows on, COPY; fewer share one pipelined round trip


def insert_metrics(conn: psycopg.Connection, rows: Sequence[MetricValues], *,
                   reread_run: bool = False) -> RunRow | None:
    """rows: (run_id, key, group_key, group_values, n, value, value_number, step, timestamp,
    seq, position), all of one run.

    reread_run: also read that run (as get_run does) and return it, in the same round trip as
    a small insert, so a caller can check it again at little cost.

    A large insert is one COPY of text formatted here (_copy_text) and sent in one write:
    0.8 ms for 1000 rows against 1.15 ms through Copy.write_row, mostly because a plain
    decimal value is also written as value_number's text rather than formatted from the
    float."""
    if not rows:
        return None
    run_id = rows[0][0]
    if len(rows) >= COPY_METRICS:
        text = _copy_text(rows)
        with conn.cursor() as cur, cur.copy(
                f"COPY metrics ({_METRIC_COLUMNS}) FROM STDIN") as copy:
            copy.write(text)
        return get_run(conn, run_id) if reread_run else None
    with conn.cursor(row_factory=class_row(RunRow)) as check:
        with conn.pipeline(), conn.cursor() as cur:
            if reread_run:
                check.execute(f"{_RUN} WHERE id = %s", (run_id,))
            cur.executemany(
                f"INSERT INTO metrics ({_METRIC_COLUMNS}) VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [(r[0], r[1], r[2], None if r[3] is None else Jsonb(r[3]), *r[4:])
                 for r in rows])
        return check.fetchone() if reread_run else None


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_COPY_SPECIAL = re.compile(r"[\\\t\n\r]").search
# A decimal text PostgreSQL's float8 input reads as the same double as Python's float():
# both round correctly, and with no exponent and at most 280 digits each side of the point it
# can neither overflow nor underflow. (NaN and the infinities are spelt alike in both.)
_PLAIN_DECIMAL = re.compile(r"-?[0-9]{1,280}(?:\.[0-9]{1,280})?|NaN|-?Infinity").fullmatch
_NULL = "\\N"


def _copy_field(text: str) -> str:
    """text as a field of COPY's text format."""
    return text.translate(_COPY_ESCAPES) if _COPY_SPECIAL(text) else text


def _copy_number(number: float) -> str:
    if number != number:
        return "NaN"
    if number in (math.inf, -math.inf):
        return "Infinity" if number > 0 else "-Infinity"
    return repr(float(number))


def _copy_text(rows: Sequence[MetricValues]) -> str:
    """Metric rows in COPY's text format: tab-separated fields, a line each.

    The fields before value repeat across a batch, so they are formatted once per distinct
    (run, key, group key, n). The text fields are escaped; the others are numbers, which
    PostgreSQL parses (and refuses if they are not). Counting tabs and line ends afterwards
    proves that no field added a field or a line."""
    field, plain, number_text = _copy_field, _PLAIN_DECIMAL, _copy_number
    heads: dict[tuple[str, str, str, int | None], str] = {}
    lines = []
    for run_id, key, group_key, group_values, n, value, number, step, timestamp, seq, pos in rows:
        head = heads.get((run_id, key, group_key, n))
        if head is None:
            values = _NULL if group_values is None else field(json.dumps(group_values))
            head = heads[(run_id, key, group_key, n)] = (
                f"{field(run_id)}\t{field(key)}\t{field(group_key)}\t{values}\t"
                f"{_NULL if n is None else format(n, 'd')}\t")
        if plain(value):  # its text is also value_number's
            lines.append(f"{head}{value}\t{value}\t{step}\t{timestamp}\t{seq}\t{pos}\n")
        else:
            lines.append(f"{head}{field(value)}\t{number_text(number)}\t{step}\t"
                         f"{timestamp}\t{seq}\t{pos}\n")
    text = "".join(lines)
    if (text.count("\n") != len(rows) or text.count("\t") != 10 * len(rows)
            or "\r" in text):
        raise ValueError("a metric row has a field that is not text or a number")
    return text


# The latest value of each (run, key, group): highest step, then timestamp, then seq and
# position. A skip scan over metrics_latest, whose order within a run is (key, group_key, then
# latest first): each run's first row in that order is its first group's latest value, and
# the first row after a group, (key, group_key) > the group's, is the next group's latest; one
# index probe per group, however many values the group has. (DISTINCT ON read every row: 408
# ms against 3 ms for 20 runs of 50,000 values each, and only 7 against 13 ms for 1000 runs of
# one value per key. The skip scan probed twice per group before issue 19, the next group
# then its latest row: 69.5 ms against 53.9 now for 8 runs of 500-1,000 groups.)
_LATEST_COLUMNS = ("m.run_id, m.key, m.group_key, m.group_values, m.n, m.value, m.step, "
                   "m.timestamp, m.seq, m.position")
_LATEST_ORDER = "m.key, m.group_key, m.step DESC, m.timestamp DESC, m.seq DESC, m.position DESC"
_LATEST = f"""
WITH RECURSIVE latest AS (
    SELECT lo.* FROM (SELECT DISTINCT unnest(%s::text[]) AS run_id) r
    CROSS JOIN LATERAL (
        SELECT {_LATEST_COLUMNS} FROM metrics m WHERE m.run_id = r.run_id
        ORDER BY {_LATEST_ORDER} LIMIT 1) lo
  UNION ALL
    SELECT hi.* FROM latest g CROSS JOIN LATERAL (
        SELECT {_LATEST_COLUMNS} FROM metrics m
        WHERE m.run_id = g.run_id AND (m.key, m.group_key) > (g.key, g.group_key)
        ORDER BY {_LATEST_ORDER} LIMIT 1) hi
)
SELECT run_id, key, group_values, n, value, step, timestamp, seq, position
FROM latest ORDER BY run_id, key, group_key
"""


def latest_metrics(conn: psycopg.Connection, run_id: str) -> list[MetricRow]:
    """The latest value of each (key, group): highest step, then timestamp, then seq."""
    return latest_metrics_for(conn, [run_id])[run_id]


def metric_history(conn: psycopg.Connection, run_id: str, key: str, after: tuple[int, int],
                   limit: int) -> list[MetricRow]:
    """Every logged value of one key (all groups), in logging order, keyset-paged by (seq, pos)."""
    with conn.cursor(row_factory=class_row(MetricRow)) as cur:
        return cur.execute(
            f"{_METRIC} WHERE run_id = %s AND key = %s AND (seq, position) > (%s, %s) "
            "ORDER BY seq, position LIMIT %s", (run_id, key, *after, limit)).fetchall()


def latest_group_values(conn: psycopg.Connection, run_id: str, key: str,
                        attributes: Sequence[str]) -> list[MetricRow]:
    """Latest value per group, for groups whose attribute set is exactly `attributes` (a skip
    scan over the key's groups, as _LATEST)."""
    with conn.cursor(row_factory=class_row(MetricRow)) as cur:
        return cur.execute(
            """
WITH RECURSIVE groups AS (
    (SELECT m.group_key FROM metrics m WHERE m.run_id = %(run)s AND m.key = %(key)s
     AND m.group_key > '' ORDER BY m.group_key LIMIT 1)
  UNION ALL
    SELECT hi.group_key FROM groups g CROSS JOIN LATERAL (
        SELECT m.group_key FROM metrics m
        WHERE m.run_id = %(run)s AND m.key = %(key)s AND m.group_key > g.group_key
        ORDER BY m.group_key LIMIT 1) hi
)
SELECT l.key, l.group_values, l.n, l.value, l.step, l.timestamp, l.seq, l.position
FROM groups g CROSS JOIN LATERAL (
    SELECT m.key, m.group_values, m.n, m.value, m.step, m.timestamp, m.seq, m.position
    FROM metrics m WHERE m.run_id = %(run)s AND m.key = %(key)s AND m.group_key = g.group_key
    ORDER BY m.step DESC, m.timestamp DESC, m.seq DESC, m.position DESC LIMIT 1) l
WHERE l.group_values IS NOT NULL
  AND (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(l.group_values) k) = %(attrs)s
ORDER BY g.group_key
""", {"run": run_id, "key": key, "attrs": sorted(attributes)}).fetchall()


def get_tags(conn: psycopg.Connection, run_id: str) -> dict[str, str]:
    rows = conn.execute("SELECT key, value FROM run_tags WHERE run_id = %s", (run_id,))
    return dict(rows.fetchall())


def tag_history(conn: psycopg.Connection, run_id: str, key: str) -> list[tuple[str | None, int]]:
    """(value, seq) of every change to one tag, oldest first; None marks a deletion."""
    rows = conn.execute("SELECT value, seq FROM tag_events WHERE run_id = %s AND key = %s "
                        "ORDER BY seq", (run_id, key))
    return [(value, int(seq)) for value, seq in rows.fetchall()]


@dataclass
class InputRow:
    name: str
    digest: str
    context: str
    source_uri: str | None
    schema: Any
    row_count: int | None
    group_counts: Any
    seq: int


def get_inputs(conn: psycopg.Connection, run_id: str) -> list[InputRow]:
    with conn.cursor(row_factory=class_row(InputRow)) as cur:
        return cur.execute(
            "SELECT name, digest, context, source_uri, schema, row_count, group_counts, seq"
            " FROM run_inputs WHERE run_id = %s ORDER BY seq, name", (run_id,)).fetchall()


def get_environment(conn: psycopg.Connection, run_id: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT environment FROM run_environments WHERE run_id = %s",
                       (run_id,)).fetchone()
    return None if row is None else row[0]


def artifact_digests(conn: psycopg.Connection,
                     run_id: str) -> list[tuple[str, str, int, str | None]]:
    """(path, sha256, size, uri) of every artifact recorded for the run, by path."""
    rows = conn.execute("SELECT path, sha256, size, uri FROM artifacts WHERE run_id = %s "
                        "ORDER BY path", (run_id,))
    return [(p, d, int(s), u) for p, d, s, u in rows.fetchall()]


def params_for(conn: psycopg.Connection, run_ids: Sequence[str]) -> dict[str, dict[str, str]]:
    return send_params_for(conn, run_ids)()


def send_params_for(conn: psycopg.Connection, run_ids: Sequence[str]
                    ) -> Take[dict[str, dict[str, str]]]:
    return sent(conn, "SELECT run_id, key, value FROM params WHERE run_id = ANY(%s)",
                (list(run_ids),), partial(_key_values, run_ids))


def _key_values(run_ids: Sequence[str], rows: list[Any]) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {run_id: {} for run_id in run_ids}
    for run_id, key, value in rows:
        found[run_id][key] = value
    return found


def tags_for(conn: psycopg.Connection, run_ids: Sequence[str]) -> dict[str, dict[str, str]]:
    return send_tags_for(conn, run_ids)()


def send_tags_for(conn: psycopg.Connection, run_ids: Sequence[str]
                  ) -> Take[dict[str, dict[str, str]]]:
    return sent(conn, "SELECT run_id, key, value FROM run_tags WHERE run_id = ANY(%s)",
                (list(run_ids),), partial(_key_values, run_ids))


def latest_metrics_for(conn: psycopg.Connection,
                       run_ids: Sequence[str]) -> dict[str, list[MetricRow]]:
    return send_latest_metrics_for(conn, run_ids)()


def send_latest_metrics_for(conn: psycopg.Connection, run_ids: Sequence[str]
                            ) -> Take[dict[str, list[MetricRow]]]:
    return sent(conn, _LATEST, (list(run_ids),), partial(_latest_rows, run_ids))


def _latest_rows(run_ids: Sequence[str], rows: list[Any]) -> dict[str, list[MetricRow]]:
    found: dict[str, list[MetricRow]] = {run_id: [] for run_id in run_ids}
    for run_id, *rest in rows:
        found[run_id].append(MetricRow(*rest))
    return found


def inputs_for(conn: psycopg.Connection, run_ids: Sequence[str]) -> dict[str, list[InputRow]]:
    found: dict[str, list[InputRow]] = {run_id: [] for run_id in run_ids}
    rows = conn.execute(
        "SELECT run_id, name, digest, context, source_uri, schema, row_count, group_counts, seq"
        " FROM run_inputs WHERE run_id = ANY(%s) ORDER BY seq, name", (list(run_ids),))
    for run_id, *rest in rows.fetchall():
        found[run_id].append(InputRow(*rest))
    return found


def environments_for(conn: psycopg.Connection, run_ids: Sequence[str]) -> dict[str, Any]:
    rows = conn.execute("SELECT run_id, environment FROM run_environments WHERE run_id = ANY(%s)",
                        (list(run_ids),))
    return dict(rows.fetchall())
