"""All SQL for what only MLflow clients ask for: one group's metric history, a folder's
immediate children among a run's artifacts, and the MLflow form of dataset inputs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import psycopg
from psycopg.rows import class_row

from app.storage.logged_models import send_outputs_for
from app.storage.pipelined import Take, sent, together
from app.storage.tracking import (
    MetricRow,
    RunRow,
    send_get_run,
    send_latest_metrics_for,
    send_params_for,
    send_tags_for,
)


def metric_history(conn: psycopg.Connection, run_id: str, key: str, group_key: str,
                   after: tuple[int, int], limit: int, with_n: bool = False) -> list[MetricRow]:
    """Every value of one (key, group) in logging order, keyset-paged by (seq, position);
    group_key is '' for the overall metric; with_n keeps only values whose n is known."""
    return _send_history(conn, run_id, key, group_key, after, limit, with_n)()


def run_and_metric_history(conn: psycopg.Connection, run_id: str, key: str, group_key: str,
                           after: tuple[int, int], limit: int, with_n: bool = False
                           ) -> tuple[RunRow | None, list[MetricRow]]:
    """get_run and metric_history in one pipelined round trip."""
    run, rows = together(conn, partial(send_get_run, run_id=run_id), partial(
        _send_history, run_id=run_id, key=key, group_key=group_key, after=after, limit=limit,
        with_n=with_n))
    return run, rows


def _send_history(conn: psycopg.Connection, run_id: str, key: str, group_key: str,
                  after: tuple[int, int], limit: int, with_n: bool) -> Take[list[MetricRow]]:
    return sent(conn, "SELECT key, group_values, n, value, step, timestamp, seq, position"
                " FROM metrics WHERE run_id = %s AND key = %s AND group_key = %s"
                " AND (seq, position) > (%s, %s) AND (n IS NOT NULL OR NOT %s)"
                " ORDER BY seq, position LIMIT %s",
                (run_id, key, group_key, *after, with_n, limit), list, class_row(MetricRow))


@dataclass
class Child:
    """An immediate child of a folder: a file (size known) or a folder (size None)."""

    name: str
    is_dir: bool
    size: int | None


def artifact_children(conn: psycopg.Connection, run_id: str, prefix: str) -> list[Child]:
    """The files and folders directly under prefix ('' or ending in '/'), by name."""
    with conn.cursor(row_factory=class_row(Child)) as cur:
        return cur.execute(
            "SELECT split_part(rest, '/', 1) AS name, bool_or(strpos(rest, '/') > 0) AS is_dir,"
            " max(size) FILTER (WHERE strpos(rest, '/') = 0) AS size"
            " FROM (SELECT substr(path, length(%s) + 1) AS rest, size FROM artifacts"
            "       WHERE run_id = %s AND starts_with(path, %s)) AS below"
            " WHERE rest <> '' GROUP BY 1 ORDER BY 1", (prefix, run_id, prefix)).fetchall()


@dataclass
class InputView:
    """A run input with, when an MLflow client logged it, what that client sent."""

    run_id: str
    name: str
    digest: str
    context: str
    source_uri: str | None
    schema: Any
    row_count: int | None
    mlflow: dict[str, Any] | None


def inputs_for(conn: psycopg.Connection, run_ids: Sequence[str]) -> dict[str, list[InputView]]:
    return send_inputs_for(conn, run_ids)()


def send_inputs_for(conn: psycopg.Connection, run_ids: Sequence[str]
                    ) -> Take[dict[str, list[InputView]]]:
    return sent(conn, "SELECT i.run_id, i.name, i.digest, i.context, i.source_uri, i.schema,"
                " i.row_count, m.mlflow FROM run_inputs i LEFT JOIN run_input_mlflow m USING"
                " (run_id, name, digest, context) WHERE i.run_id = ANY(%s)"
                " ORDER BY i.seq, i.name", (list(run_ids),), partial(_inputs, run_ids),
                class_row(InputView))


def _inputs(run_ids: Sequence[str], rows: list[InputView]) -> dict[str, list[InputView]]:
    found: dict[str, list[InputView]] = {run_id: [] for run_id in run_ids}
    for row in rows:
        found[row.run_id].append(row)
    return found


class RunDetails(NamedTuple):
    """What an MLflow Run shows besides its info, for each of some runs."""

    params: dict[str, dict[str, str]]
    tags: dict[str, dict[str, str]]
    metrics: dict[str, list[MetricRow]]
    inputs: dict[str, list[InputView]]
    outputs: dict[str, list[tuple[str, int]]]


def run_details(conn: psycopg.Connection, run_ids: Sequence[str]) -> RunDetails:
    """The runs' params, tags, latest metrics, inputs and outputs, in one pipelined round
    trip (none for no runs)."""
    if not run_ids:
        return RunDetails({}, {}, {}, {}, {})
    return RunDetails(*together(conn, *(partial(send, run_ids=run_ids) for send in (
        send_params_for, send_tags_for, send_latest_metrics_for, send_inputs_for,
        send_outputs_for))))
