"""All SQL for placing objects in experiments, which is what a scoped token's grants name.

A run, logged model or dataset is in its experiment; a model version in the experiment of the
run it was built from; a registered model spans the experiments of all its versions (none for
a model without versions); promotions and deployments belong to their model, an issued report
to its subject. Each function answers for many ids in one query; an id it does not return is
unknown (and the caller fails closed)."""

from __future__ import annotations

from collections.abc import Collection

import psycopg


def run_experiments(conn: psycopg.Connection, run_ids: Collection[str]) -> dict[str, str]:
    if not run_ids:
        return {}
    return dict(conn.execute("SELECT id, experiment_id FROM runs WHERE id = ANY(%s)",
                             (list(run_ids),)).fetchall())


def logged_model_experiments(conn: psycopg.Connection,
                             model_ids: Collection[str]) -> dict[str, str]:
    if not model_ids:
        return {}
    return dict(conn.execute(
        "SELECT model_id, experiment_id FROM logged_models WHERE model_id = ANY(%s)",
        (list(model_ids),)).fetchall())


def model_spans(conn: psycopg.Connection, names: Collection[str]) -> dict[str, frozenset[str]]:
    """The experiments of each registered model's versions (empty for a model without one)."""
    if not names:
        return {}
    rows = conn.execute(
        "SELECT m.name, coalesce(array_agg(DISTINCT coalesce(r.experiment_id, '')) "
        "FILTER (WHERE v.version IS NOT NULL), '{}') FROM registered_models m "
        "LEFT JOIN model_versions v ON v.model_name = m.name LEFT JOIN runs r ON r.id = v.run_id "
        "WHERE m.name = ANY(%s) GROUP BY m.name", (list(names),)).fetchall()
    return {name: frozenset(experiments) for name, experiments in rows}


def versions(conn: psycopg.Connection,
             keys: Collection[tuple[str, int]]) -> dict[tuple[str, int], str]:
    """The experiment of each (model, version) that exists."""
    if not keys:
        return {}
    names, numbers = [k[0] for k in keys], [k[1] for k in keys]
    rows = conn.execute(
        "SELECT v.model_name, v.version, r.experiment_id FROM model_versions v "
        "JOIN runs r ON r.id = v.run_id JOIN unnest(%s::text[], %s::int[]) k (name, version) "
        "ON k.name = v.model_name AND k.version = v.version", (names, numbers)).fetchall()
    return {(name, int(version)): experiment for name, version, experiment in rows}


def promotion_models(conn: psycopg.Connection, ids: Collection[str]) -> dict[str, str]:
    if not ids:
        return {}
    return dict(conn.execute("SELECT id, model_name FROM promotions WHERE id = ANY(%s)",
                             (list(ids),)).fetchall())


def deployment_models(conn: psycopg.Connection, ids: Collection[str]) -> dict[str, str]:
    if not ids:
        return {}
    return dict(conn.execute("SELECT id, model_name FROM deployments WHERE id = ANY(%s)",
                             (list(ids),)).fetchall())


def report_subjects(conn: psycopg.Connection, ids: Collection[str]) -> dict[str, tuple[str, str]]:
    """(kind, subject) of each issued report: `run`, `experiment` or `model`, and its id."""
    if not ids:
        return {}
    rows = conn.execute("SELECT report_id, kind, subject FROM reports_issued "
                        "WHERE report_id = ANY(%s)", (list(ids),)).fetchall()
    return {report_id: (kind, subject) for report_id, kind, subject in rows}
