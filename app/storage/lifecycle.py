"""All SQL for lifecycle changes and renames of runs and experiments, and experiment search."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import psycopg
from psycopg import sql
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from app.storage.tracking import _EXPERIMENT, ExperimentRow
from app.tracking.experiment_search import Clause, Order


def set_run_lifecycle(conn: psycopg.Connection, run_id: str, lifecycle: str, seq: int) -> None:
    conn.execute("UPDATE runs SET lifecycle = %s, lifecycle_seq = %s WHERE id = %s",
                 (lifecycle, seq, run_id))


def runs_in_lifecycle(conn: psycopg.Connection, experiment_id: str, lifecycle: str, *,
                      after_seq: int | None = None) -> list[str]:
    """Ids of the experiment's runs in a lifecycle (changed after a seq, if given), oldest
    first."""
    rows = conn.execute(
        "SELECT id FROM runs WHERE experiment_id = %s AND lifecycle = %s "
        "AND (%s::bigint IS NULL OR lifecycle_seq > %s::bigint) ORDER BY created_seq",
        (experiment_id, lifecycle, after_seq, after_seq)).fetchall()
    return [row[0] for row in rows]


def rename_run(conn: psycopg.Connection, run_id: str, name: str, seq: int) -> None:
    conn.execute("UPDATE runs SET name = %s, renamed_seq = %s WHERE id = %s",
                 (name, seq, run_id))


def mark_updated(conn: psycopg.Connection, experiment_id: str, seq: int, at: datetime) -> None:
    conn.execute("UPDATE experiments SET updated_seq = %s, updated_at = %s WHERE id = %s",
                 (seq, at, experiment_id))


def reopen_run(conn: psycopg.Connection, run_id: str, seq: int) -> None:
    """An ended run is RUNNING again: its end (time, entry, manifest digest) is cleared here
    and kept in the ledger (`run.ended`, `run.reopened`)."""
    conn.execute("UPDATE runs SET status = 'RUNNING', end_time = NULL, ended_seq = NULL, "
                 "manifest_sha256 = NULL, reopened_seq = %s WHERE id = %s", (seq, run_id))


def restore_experiment(conn: psycopg.Connection, experiment_id: str, seq: int,
                       at: datetime) -> None:
    conn.execute("UPDATE experiments SET lifecycle = 'active', archived_seq = NULL, "
                 "updated_seq = %s, updated_at = %s WHERE id = %s", (seq, at, experiment_id))


def rename_experiment(conn: psycopg.Connection, experiment_id: str, name: str, seq: int,
                      at: datetime) -> None:
    conn.execute("UPDATE experiments SET name = %s, updated_seq = %s, updated_at = %s "
                 "WHERE id = %s", (name, seq, at, experiment_id))


def set_experiment_tags(conn: psycopg.Connection, experiment_id: str, tags: dict[str, str],
                        seq: int, at: datetime) -> None:
    conn.execute("UPDATE experiments SET tags = tags || %s, updated_seq = %s, updated_at = %s "
                 "WHERE id = %s", (Jsonb(tags), seq, at, experiment_id))


def delete_experiment_tag(conn: psycopg.Connection, experiment_id: str, key: str, seq: int,
                          at: datetime) -> None:
    conn.execute("UPDATE experiments SET tags = tags - %s, updated_seq = %s, updated_at = %s "
                 "WHERE id = %s", (key, seq, at, experiment_id))


_CREATED = sql.SQL("(floor(extract(epoch FROM e.created_at) * 1000))::bigint")
_UPDATED = sql.SQL("(floor(extract(epoch FROM coalesce(e.updated_at, e.created_at)) * 1000))"
                   "::bigint")
_COLUMNS = {"name": sql.SQL("e.name"), "experiment_id": sql.SQL("e.id"),
            "creation_time": _CREATED, "last_update_time": _UPDATED}
# Experiment ids are decimal strings: order them as numbers ("2" before "10").
_ORDER_COLUMNS = {**_COLUMNS, "experiment_id": sql.SQL("lpad(e.id, 20, '0')")}
_OPS = {"=": "=", "!=": "<>", ">": ">", ">=": ">=", "<": "<", "<=": "<=", "LIKE": "LIKE",
        "ILIKE": "ILIKE"}


def _condition(clause: Clause, params: list[object]) -> sql.Composable:
    if clause.kind == "tag":
        params.append(clause.key)
        if clause.op == "IS NULL":
            return sql.SQL("NOT (e.tags ? %s)")
        if clause.op == "IS NOT NULL":
            return sql.SQL("(e.tags ? %s)")
        params.append(clause.value)
        return sql.SQL("(e.tags ->> %s) {} %s").format(sql.SQL(_OPS[clause.op]))
    column = _COLUMNS[clause.key]
    params.append(list(clause.value) if isinstance(clause.value, tuple) else clause.value)
    if clause.op == "IN":
        return sql.SQL("{} = ANY(%s)").format(column)
    if clause.op == "NOT IN":
        return sql.SQL("{} <> ALL(%s)").format(column)
    return sql.SQL("{} {} %s").format(column, sql.SQL(_OPS[clause.op]))


def search_experiments(conn: psycopg.Connection, clauses: Sequence[Clause],
                       order: Sequence[Order], lifecycles: Sequence[str],
                       visible: Sequence[str] | None, offset: int,
                       limit: int) -> list[ExperimentRow]:
    """One page of experiments matching every clause, in the requested order."""
    params: list[object] = []
    where = [_condition(c, params) for c in clauses]
    where.append(sql.SQL("e.lifecycle = ANY(%s)"))
    params.append(list(lifecycles))
    if visible is not None:
        where.append(sql.SQL("e.id = ANY(%s)"))
        params.append(list(visible))
    keys: list[sql.Composable] = [
        sql.SQL("{} {}").format(_ORDER_COLUMNS[o.key], sql.SQL("ASC" if o.ascending else "DESC"))
        for o in order]
    if not any(o.key == "experiment_id" for o in order):
        keys.append(sql.SQL("lpad(e.id, 20, '0') ASC"))
    statement = sql.SQL("{} e WHERE {} ORDER BY {} OFFSET %s LIMIT %s").format(
        sql.SQL(_EXPERIMENT), sql.SQL(" AND ").join(where), sql.SQL(", ").join(keys))
    params += [offset, limit]
    with conn.cursor(row_factory=class_row(ExperimentRow)) as cur:
        return cur.execute(statement, params).fetchall()
