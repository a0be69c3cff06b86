"""All SQL for the model registry: models, versions, aliases, policies, promotions, deployments."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from app.tracking.registry_search import Condition


@dataclass
class ModelRow:
    name: str
    description: str
    owner: str
    tags: dict[str, str]
    sensitive_attributes: list[str]
    protected_targets: list[str]
    quorum: int
    created_by: str
    created_seq: int


@dataclass
class VersionRow:
    model_name: str
    version: int
    run_id: str | None  # None while unpinned (registered from a source we do not hold)
    artifact_path: str
    evidence: dict[str, Any]
    version_digest: str
    stage: str
    created_by: str
    created_seq: int
    stage_seq: int | None


@dataclass
class PromotionRow:
    id: str
    model_name: str
    version: int
    target: str
    justification: str
    classification: str | None
    requested_by: str
    status: str
    gates: dict[str, Any]
    policy_seq: int | None
    created_seq: int
    closed_seq: int | None


@dataclass
class DecisionRow:
    promotion_id: str
    seq: int
    approver: str
    role: str
    outcome: str
    comment: str
    exception: dict[str, Any] | None
    version_digest: str
    gates: dict[str, Any]
    principal_id: str | None = None


@dataclass
class DeploymentRow:
    id: str
    model_name: str
    version: int
    environment: str
    deployer: str
    target: dict[str, Any]
    promotion_id: str | None
    rollback_of: str | None
    reason: str | None
    deployed_at: datetime
    seq: int


_MODEL = ("SELECT name, description, owner, tags, sensitive_attributes, protected_targets, "
          "quorum, created_by, created_seq FROM registered_models")
_VERSION = ("SELECT model_name, version, run_id, artifact_path, evidence, version_digest, stage, "
            "created_by, created_seq, stage_seq FROM model_versions")
_PROMOTION = ("SELECT id, model_name, version, target, justification, classification, "
              "requested_by, status, gates, policy_seq, created_seq, closed_seq FROM promotions")
_DECISION = ("SELECT promotion_id, seq, approver, role, outcome, comment, exception, "
             "version_digest, gates, principal_id FROM decisions")
_DEPLOYMENT = ("SELECT id, model_name, version, environment, deployer, target, promotion_id, "
               "rollback_of, reason, deployed_at, seq FROM deployments")


def get_model(conn: psycopg.Connection, name: str) -> ModelRow | None:
    with conn.cursor(row_factory=class_row(ModelRow)) as cur:
        return cur.execute(f"{_MODEL} WHERE name = %s",
                           (name,)).fetchone()


def list_models(conn: psycopg.Connection) -> list[ModelRow]:
    with conn.cursor(row_factory=class_row(ModelRow)) as cur:
        return cur.execute(f"{_MODEL} ORDER BY name").fetchall()


def models_experiments(conn: psycopg.Connection) -> dict[str, set[str]]:
    """The experiments of the runs each model's versions come from (what scopes a model),
    for every model that has versions."""
    found: dict[str, set[str]] = {}
    for name, experiment_id in conn.execute(
            "SELECT DISTINCT v.model_name, coalesce(r.experiment_id, '') FROM model_versions v "
            "LEFT JOIN runs r ON r.id = v.run_id"):  # '' (no experiment): an unpinned version
        found.setdefault(name, set()).add(experiment_id)
    return found


def versions_experiments(conn: psycopg.Connection,
                         names: Collection[str]) -> dict[tuple[str, int], str]:
    """The experiment of the run each version of these models comes from (what scopes a
    version)."""
    return {(name, int(version)): experiment_id for name, version, experiment_id in conn.execute(
        "SELECT v.model_name, v.version, r.experiment_id FROM model_versions v "
        "JOIN runs r ON r.id = v.run_id WHERE v.model_name = ANY(%s)", (list(names),))}


def next_version(conn: psycopg.Connection, model_name: str) -> int:
    row = conn.execute("SELECT coalesce(max(version), 0) + 1 FROM model_versions "
                       "WHERE model_name = %s", (model_name,)).fetchone()
    assert row is not None
    return int(row[0])


def get_version(conn: psycopg.Connection, model_name: str, version: int) -> VersionRow | None:
    with conn.cursor(row_factory=class_row(VersionRow)) as cur:
        return cur.execute(
            f"{_VERSION} WHERE model_name = %s AND version = %s",
            (model_name, version)).fetchone()


def version_by_digest(conn: psycopg.Connection, model_name: str, digest: str) -> VersionRow | None:
    with conn.cursor(row_factory=class_row(VersionRow)) as cur:
        return cur.execute(f"{_VERSION} WHERE model_name = %s AND version_digest = %s",
                           (model_name, digest)).fetchone()


def list_versions(conn: psycopg.Connection, model_name: str) -> list[VersionRow]:
    with conn.cursor(row_factory=class_row(VersionRow)) as cur:
        return cur.execute(f"{_VERSION} WHERE model_name = %s ORDER BY version",
                           (model_name,)).fetchall()


def versions_in_stage(conn: psycopg.Connection, model_name: str, stage: str) -> list[int]:
    rows = conn.execute("SELECT version FROM model_versions WHERE model_name = %s AND stage = %s",
                        (model_name, stage))
    return [int(r[0]) for r in rows.fetchall()]


def aliases(conn: psycopg.Connection, model_name: str) -> dict[str, int]:
    rows = conn.execute("SELECT alias, version FROM model_aliases WHERE model_name = %s",
                        (model_name,))
    return {a: int(v) for a, v in rows.fetchall()}


def left_target_after(conn: psycopg.Connection, model_name: str, version: int, target: str,
                      after: int) -> int | None:
    """The seq of the first entry after `after` that took this version out of a stage or an
    alias (`stage:X` / `alias:X`), or None: an approval it left is spent."""
    kind, _, value = target.partition(":")
    if kind == "stage":
        row = conn.execute(
            "SELECT min(seq) FROM model_version_revisions WHERE model_name = %s AND version = %s "
            "AND stage_seq = seq AND stage IS DISTINCT FROM %s AND seq > %s",
            (model_name, version, value, after)).fetchone()
    else:
        row = conn.execute(
            "SELECT min(e.seq) FROM alias_events e WHERE e.model_name = %s AND e.alias = %s "
            "AND e.seq > %s AND e.version IS DISTINCT FROM %s AND EXISTS (SELECT 1 FROM "
            "alias_events b WHERE b.model_name = e.model_name AND b.alias = e.alias "
            "AND b.version = %s AND b.seq > %s AND b.seq < e.seq)",
            (model_name, value, after, version, version, after)).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def current_policy(conn: psycopg.Connection,
                   model_name: str) -> tuple[dict[str, Any], str, int] | None:
    """(policy, who set it, seq) of the latest policy, or None."""
    row = conn.execute("SELECT policy, set_by, seq FROM model_policies WHERE model_name = %s "
                       "ORDER BY seq DESC LIMIT 1", (model_name,)).fetchone()
    return None if row is None else (row[0], row[1], int(row[2]))


def get_promotion(conn: psycopg.Connection, promotion_id: str) -> PromotionRow | None:
    with conn.cursor(row_factory=class_row(PromotionRow)) as cur:
        return cur.execute(f"{_PROMOTION} WHERE id = %s",
                           (promotion_id,)).fetchone()


def promotions(conn: psycopg.Connection, model_name: str | None = None,
               status: str | None = None) -> list[PromotionRow]:
    with conn.cursor(row_factory=class_row(PromotionRow)) as cur:
        return cur.execute(
            f"{_PROMOTION} WHERE (%s::text IS NULL OR model_name = %s) "
            "AND (%s::text IS NULL OR status = %s) ORDER BY created_seq",
            (model_name, model_name, status, status)).fetchall()


def decisions(conn: psycopg.Connection, promotion_id: str) -> list[DecisionRow]:
    with conn.cursor(row_factory=class_row(DecisionRow)) as cur:
        return cur.execute(f"{_DECISION} WHERE promotion_id = %s ORDER BY seq",
                           (promotion_id,)).fetchall()


def get_deployment(conn: psycopg.Connection, deployment_id: str) -> DeploymentRow | None:
    with conn.cursor(row_factory=class_row(DeploymentRow)) as cur:
        return cur.execute(f"{_DEPLOYMENT} WHERE id = %s", (deployment_id,)).fetchone()


def deployments(conn: psycopg.Connection, model_name: str,
                environment: str | None) -> list[DeploymentRow]:
    with conn.cursor(row_factory=class_row(DeploymentRow)) as cur:
        return cur.execute(
            f"{_DEPLOYMENT} WHERE model_name = %s AND (%s::text IS NULL OR environment = %s) "
            "ORDER BY seq", (model_name, environment, environment)).fetchall()


def deployed_at(conn: psycopg.Connection, model_name: str, environment: str,
                at: datetime) -> DeploymentRow | None:
    """The deployment live in an environment at an instant: the latest one made by then."""
    with conn.cursor(row_factory=class_row(DeploymentRow)) as cur:
        return cur.execute(
            f"{_DEPLOYMENT} WHERE model_name = %s AND environment = %s AND deployed_at <= %s "
            "ORDER BY seq DESC LIMIT 1", (model_name, environment, at)).fetchone()


def latest_deployment(conn: psycopg.Connection, model_name: str,
                      environment: str) -> DeploymentRow | None:
    with conn.cursor(row_factory=class_row(DeploymentRow)) as cur:
        return cur.execute(
            f"{_DEPLOYMENT} WHERE model_name = %s AND environment = %s "
            "ORDER BY seq DESC LIMIT 1", (model_name, environment)).fetchone()


# MLflow views: descriptions, tags, sources and timestamps (the recorded_at of entries, in ms).

@dataclass
class MlflowModelRow:
    name: str
    description: str
    tags: dict[str, str]
    creation_timestamp: int
    last_updated_timestamp: int


@dataclass
class MlflowVersionRow:
    name: str
    version: int
    run_id: str | None  # None while unpinned
    experiment_id: str | None
    artifact_path: str
    stage: str
    description: str
    source: str | None
    logged_model_id: str | None
    created_by: str
    creation_timestamp: int
    last_updated_timestamp: int
    given_run: str | None = None  # an unpinned version's run id, as the client gave it


def _ms(column: str) -> str:
    return f"floor(extract(epoch FROM {column}) * 1000)::bigint"


_MLFLOW_MODEL = (
    f"SELECT m.name, m.description, m.tags, {_ms('c.recorded_at')} AS creation_timestamp, "
    f"{_ms('u.recorded_at')} AS last_updated_timestamp FROM registered_models m "
    "JOIN ledger_entries c ON c.seq = m.created_seq "
    "JOIN ledger_entries u ON u.seq = greatest(m.created_seq, m.updated_seq)")
_MLFLOW_VERSION = (
    "SELECT v.model_name AS name, v.version, v.run_id, r.experiment_id, v.artifact_path, "
    "v.stage, v.description, v.source, v.logged_model_id, v.created_by, "
    f"{_ms('c.recorded_at')} AS creation_timestamp, "
    f"{_ms('u.recorded_at')} AS last_updated_timestamp, v.evidence ->> 'run' AS given_run "
    "FROM model_versions v LEFT JOIN runs r ON r.id = v.run_id "
    "JOIN ledger_entries c ON c.seq = v.created_seq "
    "JOIN ledger_entries u ON u.seq = greatest(v.created_seq, v.stage_seq, v.updated_seq)")
MODEL_ORDER = {"name": "name", "last_updated_timestamp": "last_updated_timestamp",
               "timestamp": "last_updated_timestamp", "creation_timestamp": "creation_timestamp"}
VERSION_ORDER = {"name": "name", "version_number": "version",
                 "creation_timestamp": "creation_timestamp",
                 "last_updated_timestamp": "last_updated_timestamp"}
_VERSION_COLUMNS = {"name": "name", "version_number": "version", "run_id": "run_id",
                    "source_path": "source"}


def mlflow_model(conn: psycopg.Connection, name: str) -> MlflowModelRow | None:
    with conn.cursor(row_factory=class_row(MlflowModelRow)) as cur:
        return cur.execute(f"{_MLFLOW_MODEL} WHERE m.name = %s", (name,)).fetchone()


def mlflow_version(conn: psycopg.Connection, name: str, version: int) -> MlflowVersionRow | None:
    with conn.cursor(row_factory=class_row(MlflowVersionRow)) as cur:
        return cur.execute(f"{_MLFLOW_VERSION} WHERE v.model_name = %s AND v.version = %s",
                           (name, version)).fetchone()


def latest_per_stage(conn: psycopg.Connection, names: Sequence[str],
                     stages: Sequence[str] | None = None) -> list[MlflowVersionRow]:
    """For each model, its highest version in each stage (only the given stages, if any)."""
    with conn.cursor(row_factory=class_row(MlflowVersionRow)) as cur:
        return cur.execute(
            f"SELECT * FROM (SELECT DISTINCT ON (v.model_name, v.stage) "
            f"{_MLFLOW_VERSION.removeprefix('SELECT ')} WHERE v.model_name = ANY(%s) "
            "AND (%s::text[] IS NULL OR v.stage = ANY(%s)) "
            "ORDER BY v.model_name, v.stage, v.version DESC) x ORDER BY name, version",
            (list(names), None if stages is None else list(stages),
             None if stages is None else list(stages))).fetchall()


def _tag_exists(table: str, join: str, cond: Condition) -> tuple[sql.Composable, list[Any]]:
    op = "=" if cond.op in ("=", "!=") else cond.op
    clause = sql.SQL("EXISTS (SELECT 1 FROM {} t WHERE {} AND t.key = %s AND t.value {} %s)"
                     ).format(sql.Identifier(table), sql.SQL(join), sql.SQL(op))
    if cond.op == "!=":  # a missing tag is "not equal" too, as MLflow's prompt filter needs
        clause = sql.SQL("NOT {}").format(clause)
    return clause, [cond.key, cond.value]


def _compare(column: sql.Composable, cond: Condition) -> tuple[sql.Composable, list[Any]]:
    if cond.op in ("IN", "NOT IN"):
        clause = sql.SQL("{} = ANY(%s)").format(column)
        return (clause if cond.op == "IN" else sql.SQL("NOT ({})").format(clause),
                [cond.items])
    if cond.op == "!=":
        return sql.SQL("{} IS DISTINCT FROM %s").format(column), [cond.value]
    if cond.op not in ("=", "<", "<=", ">", ">=", "LIKE", "ILIKE"):
        raise ValueError(f"unknown operator {cond.op!r}")
    return sql.SQL("{} {} %s").format(column, sql.SQL(cond.op)), [cond.value]


def _order(order: Sequence[tuple[str, bool]], names: dict[str, str],
           tail: Sequence[str]) -> sql.Composable:
    keys: list[sql.Composable] = [
        sql.SQL("{} {}").format(sql.Identifier(names[f]), sql.SQL("ASC" if asc else "DESC"))
        for f, asc in order]
    seen = {names[f] for f, _ in order}
    keys += [sql.SQL(t) for t in tail if t.split()[0] not in seen]
    return sql.SQL(", ").join(keys)


def search_models(conn: psycopg.Connection, conditions: Sequence[Condition],
                  order: Sequence[tuple[str, bool]], offset: int,
                  limit: int, experiments: Collection[str] | None = None
                  ) -> list[MlflowModelRow]:
    """experiments: a scoped token's experiments; only models all of whose versions come from
    runs in them are found (None: every model)."""
    where: list[sql.Composable] = [sql.SQL("TRUE")]
    params: list[Any] = []
    if experiments is not None:
        where.append(sql.SQL(
            "NOT EXISTS (SELECT 1 FROM model_versions v LEFT JOIN runs r ON r.id = v.run_id "
            "WHERE v.model_name = x.name AND NOT coalesce(r.experiment_id = ANY(%s), false))"))
        params.append(list(experiments))
    for cond in conditions:
        if cond.field == "tag":  # registered-model tags live in the jsonb column
            clause, values = _compare(sql.SQL("(x.tags ->> %s)"), cond)
            values = [cond.key, *values]
        else:
            clause, values = _compare(sql.Identifier("x", "name"), cond)
        where.append(clause)
        params += values
    query = sql.SQL("SELECT * FROM ({}) x WHERE {} ORDER BY {} OFFSET %s LIMIT %s").format(
        sql.SQL(_MLFLOW_MODEL), sql.SQL(" AND ").join(where),
        _order(order, MODEL_ORDER, ["name ASC"]))
    with conn.cursor(row_factory=class_row(MlflowModelRow)) as cur:
        return cur.execute(query, [*params, offset, limit]).fetchall()


def search_versions(conn: psycopg.Connection, conditions: Sequence[Condition],
                    order: Sequence[tuple[str, bool]], offset: int,
                    limit: int, experiments: Collection[str] | None = None
                    ) -> list[MlflowVersionRow]:
    """experiments: a scoped token's experiments; only versions from runs in them are found."""
    where: list[sql.Composable] = [sql.SQL("TRUE")]
    params: list[Any] = []
    if experiments is not None:
        where.append(sql.SQL("x.experiment_id = ANY(%s)"))
        params.append(list(experiments))
    for cond in conditions:
        if cond.field == "tag":
            clause, values = _tag_exists("model_version_tags",
                                         "t.model_name = x.name AND t.version = x.version", cond)
        else:
            clause, values = _compare(sql.Identifier("x", _VERSION_COLUMNS[cond.field]), cond)
        where.append(clause)
        params += values
    query = sql.SQL("SELECT * FROM ({}) x WHERE {} ORDER BY {} OFFSET %s LIMIT %s").format(
        sql.SQL(_MLFLOW_VERSION), sql.SQL(" AND ").join(where),
        _order(order, VERSION_ORDER, ["last_updated_timestamp DESC", "name ASC",
                                      "version DESC"] if not order else
               ["name ASC", "version DESC"]))
    with conn.cursor(row_factory=class_row(MlflowVersionRow)) as cur:
        return cur.execute(query, [*params, offset, limit]).fetchall()


def aliases_for(conn: psycopg.Connection, names: Sequence[str]) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {n: {} for n in names}
    for name, alias, version in conn.execute(
            "SELECT model_name, alias, version FROM model_aliases WHERE model_name = ANY(%s) "
            "ORDER BY alias", (list(names),)):
        found[name][alias] = int(version)
    return found


def version_tags_for(conn: psycopg.Connection, names: Sequence[str]
                     ) -> dict[tuple[str, int], dict[str, str]]:
    found: dict[tuple[str, int], dict[str, str]] = {}
    for name, version, key, value in conn.execute(
            "SELECT model_name, version, key, value FROM model_version_tags "
            "WHERE model_name = ANY(%s) ORDER BY key", (list(names),)):
        found.setdefault((name, int(version)), {})[key] = value
    return found


def pinned_by(conn: psycopg.Connection, name: str, version: int) -> int | None:
    """The seq of the `model_version.pinned` entry of a version registered unpinned and
    pinned since; None for a version pinned when it was created, or still unpinned."""
    row = conn.execute(
        "SELECT min(r.seq), min(r.created_seq) FROM model_version_revisions r "
        "WHERE r.model_name = %s AND r.version = %s AND r.run_id IS NOT NULL",
        (name, version)).fetchone()
    return None if row is None or row[0] is None or row[0] == row[1] else int(row[0])
