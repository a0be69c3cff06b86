"""All SQL for the model registry: models, versions, aliases, policies, promotions, deployments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb


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
    run_id: str
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
             "version_digest, gates FROM decisions")
_DEPLOYMENT = ("SELECT id, model_name, version, environment, deployer, target, promotion_id, "
               "rollback_of, reason, deployed_at, seq FROM deployments")


def insert_model(conn: psycopg.Connection, row: ModelRow) -> None:
    conn.execute(
        "INSERT INTO registered_models (name, description, owner, tags, sensitive_attributes, "
        "protected_targets, quorum, created_by, created_seq) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (row.name, row.description, row.owner, Jsonb(row.tags), Jsonb(row.sensitive_attributes),
         Jsonb(row.protected_targets), row.quorum, row.created_by, row.created_seq))


def get_model(conn: psycopg.Connection, name: str, *, lock: bool = False) -> ModelRow | None:
    with conn.cursor(row_factory=class_row(ModelRow)) as cur:
        return cur.execute(f"{_MODEL} WHERE name = %s{' FOR UPDATE' if lock else ''}",
                           (name,)).fetchone()


def list_models(conn: psycopg.Connection) -> list[ModelRow]:
    with conn.cursor(row_factory=class_row(ModelRow)) as cur:
        return cur.execute(f"{_MODEL} ORDER BY name").fetchall()


def insert_version(conn: psycopg.Connection, row: VersionRow) -> None:
    conn.execute(
        "INSERT INTO model_versions (model_name, version, run_id, artifact_path, evidence, "
        "version_digest, stage, created_by, created_seq) "
        "VALUES (%s, %s, %s, %s, %s, %s, 'None', %s, %s)",
        (row.model_name, row.version, row.run_id, row.artifact_path, Jsonb(row.evidence),
         row.version_digest, row.created_by, row.created_seq))


def next_version(conn: psycopg.Connection, model_name: str) -> int:
    row = conn.execute("SELECT coalesce(max(version), 0) + 1 FROM model_versions "
                       "WHERE model_name = %s", (model_name,)).fetchone()
    assert row is not None
    return int(row[0])


def get_version(conn: psycopg.Connection, model_name: str, version: int, *,
                lock: bool = False) -> VersionRow | None:
    with conn.cursor(row_factory=class_row(VersionRow)) as cur:
        return cur.execute(
            f"{_VERSION} WHERE model_name = %s AND version = %s{' FOR UPDATE' if lock else ''}",
            (model_name, version)).fetchone()


def version_by_digest(conn: psycopg.Connection, model_name: str, digest: str) -> VersionRow | None:
    with conn.cursor(row_factory=class_row(VersionRow)) as cur:
        return cur.execute(f"{_VERSION} WHERE model_name = %s AND version_digest = %s",
                           (model_name, digest)).fetchone()


def list_versions(conn: psycopg.Connection, model_name: str) -> list[VersionRow]:
    with conn.cursor(row_factory=class_row(VersionRow)) as cur:
        return cur.execute(f"{_VERSION} WHERE model_name = %s ORDER BY version",
                           (model_name,)).fetchall()


def set_stage(conn: psycopg.Connection, model_name: str, version: int, stage: str,
              seq: int) -> None:
    conn.execute("UPDATE model_versions SET stage = %s, stage_seq = %s "
                 "WHERE model_name = %s AND version = %s", (stage, seq, model_name, version))


def versions_in_stage(conn: psycopg.Connection, model_name: str, stage: str) -> list[int]:
    rows = conn.execute("SELECT version FROM model_versions WHERE model_name = %s AND stage = %s",
                        (model_name, stage))
    return [int(r[0]) for r in rows.fetchall()]


def aliases(conn: psycopg.Connection, model_name: str) -> dict[str, int]:
    rows = conn.execute("SELECT alias, version FROM model_aliases WHERE model_name = %s",
                        (model_name,))
    return {a: int(v) for a, v in rows.fetchall()}


def set_alias(conn: psycopg.Connection, model_name: str, alias: str, version: int,
              seq: int) -> None:
    conn.execute(
        "INSERT INTO model_aliases (model_name, alias, version, seq) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (model_name, alias) DO UPDATE SET version = EXCLUDED.version, "
        "seq = EXCLUDED.seq", (model_name, alias, version, seq))


def insert_policy(conn: psycopg.Connection, model_name: str, policy: dict[str, Any],
                  set_by: str, seq: int) -> None:
    conn.execute("INSERT INTO model_policies (model_name, policy, set_by, seq) "
                 "VALUES (%s, %s, %s, %s)", (model_name, Jsonb(policy), set_by, seq))


def current_policy(conn: psycopg.Connection,
                   model_name: str) -> tuple[dict[str, Any], str, int] | None:
    """(policy, who set it, seq) of the latest policy, or None."""
    row = conn.execute("SELECT policy, set_by, seq FROM model_policies WHERE model_name = %s "
                       "ORDER BY seq DESC LIMIT 1", (model_name,)).fetchone()
    return None if row is None else (row[0], row[1], int(row[2]))


def insert_promotion(conn: psycopg.Connection, row: PromotionRow) -> None:
    conn.execute(
        "INSERT INTO promotions (id, model_name, version, target, justification, classification,"
        " requested_by, status, gates, policy_seq, created_seq) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, 'pending', %s, %s, %s)",
        (row.id, row.model_name, row.version, row.target, row.justification, row.classification,
         row.requested_by, Jsonb(row.gates), row.policy_seq, row.created_seq))


def get_promotion(conn: psycopg.Connection, promotion_id: str, *,
                  lock: bool = False) -> PromotionRow | None:
    with conn.cursor(row_factory=class_row(PromotionRow)) as cur:
        return cur.execute(f"{_PROMOTION} WHERE id = %s{' FOR UPDATE' if lock else ''}",
                           (promotion_id,)).fetchone()


def promotions(conn: psycopg.Connection, model_name: str | None = None,
               status: str | None = None) -> list[PromotionRow]:
    with conn.cursor(row_factory=class_row(PromotionRow)) as cur:
        return cur.execute(
            f"{_PROMOTION} WHERE (%s::text IS NULL OR model_name = %s) "
            "AND (%s::text IS NULL OR status = %s) ORDER BY created_seq",
            (model_name, model_name, status, status)).fetchall()


def close_promotion(conn: psycopg.Connection, promotion_id: str, status: str, seq: int) -> None:
    conn.execute("UPDATE promotions SET status = %s, closed_seq = %s WHERE id = %s",
                 (status, seq, promotion_id))


def insert_decision(conn: psycopg.Connection, row: DecisionRow) -> None:
    conn.execute(
        "INSERT INTO decisions (promotion_id, seq, approver, role, outcome, comment, exception, "
        "version_digest, gates) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (row.promotion_id, row.seq, row.approver, row.role, row.outcome, row.comment,
         None if row.exception is None else Jsonb(row.exception), row.version_digest,
         Jsonb(row.gates)))


def decisions(conn: psycopg.Connection, promotion_id: str) -> list[DecisionRow]:
    with conn.cursor(row_factory=class_row(DecisionRow)) as cur:
        return cur.execute(f"{_DECISION} WHERE promotion_id = %s ORDER BY seq",
                           (promotion_id,)).fetchall()


def insert_deployment(conn: psycopg.Connection, row: DeploymentRow) -> None:
    conn.execute(
        "INSERT INTO deployments (id, model_name, version, environment, deployer, target, "
        "promotion_id, rollback_of, reason, deployed_at, seq) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (row.id, row.model_name, row.version, row.environment, row.deployer, Jsonb(row.target),
         row.promotion_id, row.rollback_of, row.reason, row.deployed_at, row.seq))


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
