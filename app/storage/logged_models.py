"""All SQL for MLflow 3 logged models: the models, their params and tags, and run outputs.

A logged model's files are ordinary artifacts of its source run, recorded at the run path
`models/<model_id>/<relative path>` (a model created without one gets a holder run as its
source run; only models recorded before that have none, and hold no files).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from app.storage.pipelined import Take, sent
from app.tracking.registry_search import Condition

STATUSES = ("LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED")


@dataclass
class LoggedModelRow:
    model_id: str
    experiment_id: str
    name: str
    source_run_id: str | None
    model_type: str | None
    status: str
    lifecycle: str
    created_by: str
    creation_timestamp: int
    last_updated_timestamp: int
    created_seq: int
    updated_seq: int


FIELDS = frozenset({"name", "model_id", "model_type", "status", "source_run_id",
                    "creation_timestamp", "last_updated_timestamp"})
ORDER_FIELDS = FIELDS
_OPS = frozenset({"=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE"})
_MODEL = ("SELECT model_id, experiment_id, name, source_run_id, model_type, status, lifecycle, "
          "created_by, creation_timestamp, last_updated_timestamp, created_seq, updated_seq "
          "FROM logged_models")


def get_logged_model(conn: psycopg.Connection, model_id: str) -> LoggedModelRow | None:
    """The logged model, deleted ones included (check `lifecycle`), or None."""
    with conn.cursor(row_factory=class_row(LoggedModelRow)) as cur:
        return cur.execute(f"{_MODEL} WHERE model_id = %s",
                           (model_id,)).fetchone()


def params_for(conn: psycopg.Connection, model_ids: Sequence[str]) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {m: {} for m in model_ids}
    for model_id, key, value in conn.execute(
            "SELECT model_id, key, value FROM logged_model_params WHERE model_id = ANY(%s)",
            (list(model_ids),)):
        found[model_id][key] = value
    return found


def tags_for(conn: psycopg.Connection, model_ids: Sequence[str]) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {m: {} for m in model_ids}
    for model_id, key, value in conn.execute(
            "SELECT model_id, key, value FROM logged_model_tags WHERE model_id = ANY(%s)",
            (list(model_ids),)):
        found[model_id][key] = value
    return found


def outputs_for(conn: psycopg.Connection,
                run_ids: Sequence[str]) -> dict[str, list[tuple[str, int]]]:
    """(model_id, step) of every model each run output, oldest first; one query for all."""
    return send_outputs_for(conn, run_ids)()


def send_outputs_for(conn: psycopg.Connection, run_ids: Sequence[str]
                     ) -> Take[dict[str, list[tuple[str, int]]]]:
    return sent(conn, "SELECT run_id, model_id, step FROM run_outputs WHERE run_id = ANY(%s) "
                "ORDER BY seq, model_id, step", (list(run_ids),), partial(_outputs, run_ids))


def _outputs(run_ids: Sequence[str], rows: list[Any]) -> dict[str, list[tuple[str, int]]]:
    found: dict[str, list[tuple[str, int]]] = {r: [] for r in run_ids}
    for run_id, model_id, step in rows:
        found[run_id].append((model_id, int(step)))
    return found


def _condition(cond: Condition) -> tuple[sql.Composable, list[Any]]:
    if cond.field in ("tag", "param"):
        table = "logged_model_tags" if cond.field == "tag" else "logged_model_params"
        op = cond.op if cond.op in _OPS else "="
        return sql.SQL("EXISTS (SELECT 1 FROM {} x WHERE x.model_id = m.model_id "
                       "AND x.key = %s AND x.value {} %s)").format(
            sql.Identifier(table), sql.SQL(op)), [cond.key, cond.value]
    if cond.field not in FIELDS:
        raise ValueError(f"unknown field {cond.field!r}")
    column = sql.Identifier("m", cond.field)
    if cond.op in ("IN", "NOT IN"):  # NOT IN is negated by the caller
        return sql.SQL("{} = ANY(%s)").format(column), [cond.items]
    if cond.op not in _OPS:
        raise ValueError(f"unknown operator {cond.op!r}")
    if cond.op == "!=":
        return sql.SQL("{} IS DISTINCT FROM %s").format(column), [cond.value]
    return sql.SQL("{} {} %s").format(column, sql.SQL(cond.op)), [cond.value]


def search(conn: psycopg.Connection, experiment_ids: Sequence[str],
           conditions: Sequence[Condition], order: Sequence[tuple[str, bool]],
           offset: int, limit: int) -> list[LoggedModelRow]:
    """Active logged models in the experiments matching every condition, paged by offset."""
    where: list[sql.Composable] = [sql.SQL("m.experiment_id = ANY(%s)"),
                                   sql.SQL("m.lifecycle = 'active'")]
    params: list[Any] = [list(experiment_ids)]
    for cond in conditions:
        clause, values = _condition(cond)
        if cond.op == "NOT IN":
            clause = sql.SQL("NOT ({})").format(clause)
        where.append(clause)
        params += values
    keys: list[sql.Composable] = [
        sql.SQL("{} {}").format(sql.Identifier("m", field), sql.SQL("ASC" if asc else "DESC"))
        for field, asc in order if field in ORDER_FIELDS]
    keys += [sql.SQL("m.creation_timestamp DESC"), sql.SQL("m.model_id")]
    query = sql.SQL("SELECT m.model_id, m.experiment_id, m.name, m.source_run_id, m.model_type, "
                    "m.status, m.lifecycle, m.created_by, m.creation_timestamp, "
                    "m.last_updated_timestamp, m.created_seq, m.updated_seq "
                    "FROM logged_models m WHERE {} ORDER BY {} OFFSET %s LIMIT %s").format(
        sql.SQL(" AND ").join(where), sql.SQL(", ").join(keys))
    with conn.cursor(row_factory=class_row(LoggedModelRow)) as cur:
        return cur.execute(query, [*params, offset, limit]).fetchall()
