"""All SQL for lifecycle changes and renames of runs and experiments, and experiment search."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from app.storage.tracking import _EXPERIMENT, ExperimentRow
from app.tracking.experiment_search import Clause, Order


def runs_in_lifecycle(conn: psycopg.Connection, experiment_id: str, lifecycle: str, *,
                      after_seq: int | None = None) -> list[str]:
    """Ids of the experiment's runs in a lifecycle (changed after a seq, if given), oldest
    first."""
    rows = conn.execute(
        "SELECT id FROM runs WHERE experiment_id = %s AND lifecycle = %s "
        "AND (%s::bigint IS NULL OR lifecycle_seq > %s::bigint) ORDER BY created_seq",
        (experiment_id, lifecycle, after_seq, after_seq)).fetchall()
    return [row[0] for row in rows]


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
