"""Run search: the parsed MLflow filter and order_by turned into SQL with bound parameters only."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from app.ledger.entry import canonicalize
from app.storage.tracking import _RUN, RunRow
from app.tracking import group_keys
from app.tracking.search import Comparison, OrderBy

# Column for each attribute the grammar knows; artifact_uri is derived from the run id.
_ATTRIBUTES = {
    "run_id": sql.SQL("r.id"),
    "run_name": sql.SQL("r.name"),
    "status": sql.SQL("r.status"),
    "user_id": sql.SQL("coalesce(r.user_id, r.created_by)"),  # as runs/get answers it
    "artifact_uri": sql.SQL("('mlflow-artifacts:/' || r.experiment_id || '/' || r.id"
                            " || '/artifacts')"),
    "lifecycle_stage": sql.SQL("r.lifecycle"),  # set by the MLflow API's run_view_type
    "start_time": sql.SQL("r.start_time"),
    "end_time": sql.SQL("r.end_time"),
}
_DATASET_COLUMNS = {"name": sql.SQL("i.name"), "digest": sql.SQL("i.digest"),
                    "context": sql.SQL("i.context")}
_LATEST_METRIC = sql.SQL(
    "(SELECT m.value_number FROM metrics m WHERE m.run_id = r.id AND m.key = %s "
    "AND m.group_key = %s ORDER BY m.step DESC, m.timestamp DESC, m.seq DESC, "
    "m.position DESC LIMIT 1)")
_LATEST_N = sql.SQL(  # the n of the value _LATEST_METRIC reads (NULL when unknown)
    "(SELECT m.n FROM metrics m WHERE m.run_id = r.id AND m.key = %s "
    "AND m.group_key = %s ORDER BY m.step DESC, m.timestamp DESC, m.seq DESC, "
    "m.position DESC LIMIT 1)")
_PARAM = sql.SQL("(SELECT p.value FROM params p WHERE p.run_id = r.id AND p.key = %s)")
_TAG = sql.SQL("(SELECT t.value FROM run_tags t WHERE t.run_id = r.id AND t.key = %s)")
_SIMPLE_OPS = {"=": "=", "!=": "<>", ">": ">", ">=": ">=", "<": "<", "<=": "<=",
               "LIKE": "LIKE", "ILIKE": "ILIKE"}


class _Query:
    """SQL text made only of fixed fragments, with every key and value a bound %s parameter."""

    def __init__(self) -> None:
        self.params: list[object] = []

    def bind(self, value: object) -> sql.Composable:
        self.params.append(value)
        return sql.SQL("%s")

    def operand(self, kind: str, key: str) -> sql.Composable:
        if kind == "metric":  # a group's value or n by its read key (app/tracking/group_keys.py)
            named = group_keys.read_key(key)
            self.params += [named.key, "" if named.group is None
                            else canonicalize(dict(named.group)).decode()]
            return _LATEST_N if named.n_of else _LATEST_METRIC
        if kind in ("param", "tag"):
            self.params.append(key)
            return {"metric": _LATEST_METRIC, "param": _PARAM, "tag": _TAG}[kind]
        return _ATTRIBUTES[key]

    def compare(self, left: sql.Composable, op: str, value: object) -> sql.Composable:
        if op in ("IS NULL", "IS NOT NULL"):
            return sql.SQL("{} " + op).format(left)
        if op == "IN":
            return sql.SQL("{} = ANY({})").format(left, self.bind(list(value)))  # type: ignore[call-overload]
        if op == "NOT IN":
            return sql.SQL("{} <> ALL({})").format(left, self.bind(list(value)))  # type: ignore[call-overload]
        return sql.SQL("{} {} {}").format(left, sql.SQL(_SIMPLE_OPS[op]), self.bind(value))

    def condition(self, clause: Comparison) -> sql.Composable:
        if clause.kind == "dataset":
            inner = self.compare(_DATASET_COLUMNS[clause.key], clause.op, clause.value)
            return sql.SQL("EXISTS (SELECT 1 FROM run_inputs i WHERE i.run_id = r.id AND {})"
                           ).format(inner)
        left = self.operand(clause.kind, clause.key)
        return self.compare(left, clause.op, clause.value)

    def ordering(self, order_by: Sequence[OrderBy]) -> sql.Composable:
        """Requested keys first (runs missing a key last), then start_time DESC, run id."""
        parts: list[sql.Composable] = [sql.SQL("{} {} NULLS LAST").format(
            self.operand(item.kind, item.key), sql.SQL("ASC" if item.ascending else "DESC"))
            for item in order_by]
        parts += [sql.SQL("r.start_time DESC"), sql.SQL("r.id")]
        return sql.SQL(", ").join(parts)


def search_runs(conn: psycopg.Connection, experiment_ids: Sequence[str] | None,
                clauses: Sequence[Comparison], order_by: Sequence[OrderBy], offset: int,
                limit: int) -> list[RunRow]:
    """One page of runs matching every clause, in the requested order."""
    query = _Query()
    where = [query.condition(c) for c in clauses]
    if experiment_ids is not None and len(experiment_ids) == 1:
        # Equality, not ANY: PostgreSQL then walks runs_experiment in the requested order and
        # stops at the page's last match, instead of testing every run of the experiment
        # before sorting (0.2 ms against 4 ms for a filtered page of an experiment of 3,000 runs).
        where.append(sql.SQL("r.experiment_id = {}").format(query.bind(experiment_ids[0])))
    elif experiment_ids is not None:
        where.append(sql.SQL("r.experiment_id = ANY({})").format(query.bind(list(experiment_ids))))
    order = query.ordering(order_by)
    statement = sql.SQL("{} r WHERE {} ORDER BY {} OFFSET {} LIMIT {}").format(
        sql.SQL(_RUN), sql.SQL(" AND ").join(where) if where else sql.SQL("TRUE"), order,
        query.bind(offset), query.bind(limit))
    with conn.cursor(row_factory=class_row(RunRow)) as cur:
        return cur.execute(statement, query.params).fetchall()
