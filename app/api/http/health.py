"""Liveness and readiness probes (no auth)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify
from marshmallow import fields, validate

from app.api.http.context import services
from app.api.http.docs import (
    PROBLEM,
    Out,
    ProblemSchema,
    described,
    integer,
    ok,
    operation,
    text,
    timestamp,
)
from app.api.http.errors import problem
from app.db import SCHEMA_VERSION, schema_version
from app.services.selfcheck import SelfCheckResult

bp = Blueprint("health", __name__)


class HealthSchema(Out):
    status = text(validate=validate.OneOf(["ok"]))


class DamageSchema(Out):
    kind = text("as `mlaudit verify` names it: modified, missing, inserted, reordered, "
                "truncated, bad_signature, bad_checkpoint, head_mismatch, projection_mismatch")
    seq = integer("the damaged entry", allow_none=True)
    checkpoint = integer("the damaged checkpoint's tree size", allow_none=True)
    detail = text()


class VerificationSchema(Out):
    ok = fields.Boolean(required=True)
    entries = integer("entries verified")
    checkpoints = integer("checkpoints verified")
    finished_at = timestamp()
    damage = fields.Nested(DamageSchema, required=True, allow_none=True)


_VERIFICATION = ("the last self-verification of this process (MLAUDIT_SELF_VERIFY_INTERVAL); "
                 "absent until one has run")


class ReadySchema(Out):
    status = text(validate=validate.OneOf(["ready"]))
    schema_version = integer()
    verification = fields.Nested(VerificationSchema, metadata=described(_VERIFICATION))


class ReadyProblemSchema(ProblemSchema):
    verification = fields.Nested(VerificationSchema, metadata=described(
        "present when the last self-verification found damage"))


# Responses are serialised by the schemas their operations document.
HEALTH, READY, VERIFICATION = HealthSchema(), ReadySchema(), VerificationSchema()


@bp.get("/healthz")
@operation("Liveness probe", {200: ok(HealthSchema)})
def healthz() -> Response:
    return jsonify(HEALTH.dump({"status": "ok"}))


@bp.get("/readyz")
@operation(
    "Readiness probe: database reachable, schema current, ledger not found damaged",
    {200: ok(ReadySchema),
     503: ok(ReadyProblemSchema, "Service Unavailable: the database is unreachable, its "
             "schema is not current, or the last self-verification found damage",
             media=PROBLEM)})
def readyz() -> Response:
    """Ready when the database answers with the current schema and the last
    self-verification (if one has run in this process) found the ledger intact."""
    try:
        with services().pool.connection(timeout=5) as conn:
            version = schema_version(conn)
    except Exception:  # any failure to reach the database means not ready
        return problem(503, "Service Unavailable", "the database is not reachable")
    if version != SCHEMA_VERSION:
        return problem(503, "Service Unavailable",
                       f"schema version is {version}, this build needs {SCHEMA_VERSION}")
    refused = services().checkpointer.refused
    if refused is not None:
        return problem(503, "Service Unavailable", "the ledger did not verify before signing "
                       f"a checkpoint, so none was signed: {refused}")
    check = services().selfcheck
    last = check.last if check is not None else None
    if last is None:
        return jsonify(READY.dump({"status": "ready", "schema_version": version}))
    if last.damage is not None:
        where = (f"seq {last.damage.seq}" if last.damage.seq is not None
                 else f"checkpoint {last.damage.checkpoint}")
        return problem(503, "Service Unavailable",
                       f"self-verification found the ledger damaged at {where}: "
                       f"{last.damage.kind}", verification=verification_json(last))
    return jsonify(READY.dump({"status": "ready", "schema_version": version,
                               "verification": last}))


def verification_json(result: SelfCheckResult) -> dict[str, Any]:
    found: dict[str, Any] = VERIFICATION.dump(result)
    return found
