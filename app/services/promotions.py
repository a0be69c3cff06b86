"""Promotions and decisions with separation of duties; deployments, rollbacks, as-of."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app import kinds
from app.ledger.entry import Draft, Receipt
from app.services import demotions, environments
from app.services.ledger import LedgerWriter
from app.services.registry import (
    APPROVAL_TARGETS,
    Forbidden,
    Invalid,
    _apply_target,
    _model,
    _version,
    evaluate_gates,
    parse_target,
    protected_as,
    refuse_unpinned,
)
from app.services.tokens import Principal
from app.services.tracking import Conflict, NotFound
from app.storage import artifacts as artifact_store
from app.storage import ledger as ledger_store
from app.storage import logged_models as logged_store
from app.storage import registry as store
from app.storage import tokens as token_store
from app.storage import tracking as runs
from app.tracking.targets import shown


@dataclass
class Decided:
    """The outcome of a decision request; `refused` ones are committed, then answered 403."""

    status: str
    receipts: list[Receipt] = field(default_factory=list)
    reason: str | None = None
    gates: dict[str, Any] | None = None


def request_promotion(writer: LedgerWriter, principal: Principal, name: str, version: int,
                      target_text: str, justification: str,
                      classification: str | None) -> tuple[store.PromotionRow, Receipt]:
    model = _model(writer, name, lock=True)
    row = _version(writer.conn, name, version)
    # The protected name as the model spells it ('@Champion' asks for @champion).
    target = protected_as(model, parse_target(target_text))
    if target is None:
        raise Invalid(f"{target_text} is not protected for {name!r}: move it directly")
    refuse_unpinned(row, shown(target))
    evaluation = evaluate_gates(writer.conn, model, row)
    promotion_id = uuid.uuid4().hex
    [receipt] = writer.append([Draft(
        "promotion.requested", principal.actor,
        {"promotion": promotion_id, "model": name, "version": str(version)},
        {"target": target, "justification": justification, "classification": classification,
         "version_digest": row.version_digest, "gates": evaluation})])
    promotion = store.get_promotion(writer.conn, promotion_id)
    assert promotion is not None  # the entry's reducer made it
    return promotion, receipt


def _pending(writer: LedgerWriter, promotion_id: str) -> store.PromotionRow:
    writer.lock()
    promotion = store.get_promotion(writer.conn, promotion_id)
    if promotion is None:
        raise NotFound(f"promotion {promotion_id!r} does not exist")
    if promotion.status != "pending":
        raise Conflict(f"promotion {promotion_id!r} is already {promotion.status}")
    return promotion


def _builders(conn: Any, version: store.VersionRow) -> list[tuple[str | None, str]]:
    """Who built the version, and how: it registered it, created its run, recorded a file it
    pins (an admin may write into anyone's run), or logged the MLflow model it came from."""
    run_id = version.run_id or ""  # '' (no run): an unpinned version, which pins nothing
    run = runs.get_run(conn, run_id)
    found = [(version.created_by, "registered this model version"),
             (run.created_by if run else None, "created the version's source run")]
    for item in version.evidence.get("artifacts", []):
        artifact = artifact_store.get_artifact(conn, run_id, item["path"])
        entry = ledger_store.get_entry(conn, artifact.seq) if artifact else None
        # The actor as the entry's hashed bytes say, never the query copy beside them.
        actor = kinds.entry_from_canonical(bytes(entry.canonical)).actor if entry else None
        found.append((actor, f"recorded {item['path']}, a file this version pins"))
    pinned_seq = store.pinned_by(conn, version.model_name, version.version)
    if pinned_seq is not None:  # registered unpinned, then pinned to these files
        entry = ledger_store.get_entry(conn, pinned_seq)
        actor = kinds.entry_from_canonical(bytes(entry.canonical)).actor if entry else None
        found.append((actor, "pinned this version to the files it pins"))
    mlflow = store.mlflow_version(conn, version.model_name, version.version)
    logged = (logged_store.get_logged_model(conn, mlflow.logged_model_id)
              if mlflow and mlflow.logged_model_id else None)
    if logged is not None:
        found.append((logged.created_by, "created the logged model this version was "
                      "registered from"))
    return found


def _person(conn: Any, actor: str | None) -> str | None:
    """Whom separation of duties compares for an actor: its token's principal, else itself."""
    if actor is None:
        return None
    return token_store.principal_of_actor(conn, actor) or actor


def _conflict_of_interest(conn: Any, principal: Principal, promotion: store.PromotionRow,
                          version: store.VersionRow) -> str | None:
    """Why this person may not decide, comparing people, never tokens: they requested or
    built the version (with any of their tokens), already approved it, or are a service
    account."""
    me = principal.person
    if principal.principal_kind != "person":
        return (f"{principal.actor} belongs to a service account; only a person may decide a "
                "promotion")
    for who, what in ((promotion.requested_by, "requested this promotion"),
                      *_builders(conn, version)):
        if _person(conn, who) == me:
            return f"{_who(principal, who)} {what}; an independent approver must decide"
    for d in store.decisions(conn, promotion.id):
        if d.outcome == "approve" and (d.principal_id or _person(conn, d.approver)) == me:
            return (f"{_who(principal, d.approver)} already approved this promotion; the "
                    "quorum needs other people")
    return None


def _who(principal: Principal, actor: str | None) -> str:
    """The caller, and the person behind both tokens when an earlier act used another."""
    if actor == principal.actor:
        return principal.actor
    return (f"{principal.actor} belongs to {principal.printed_name}, who as {actor}")


def decide(writer: LedgerWriter, principal: Principal, promotion_id: str, decision: str,
           comment: str, exception: Mapping[str, str] | None) -> Decided:
    """Approve or reject (21 CFR 11.50: who, role, when, meaning, and the digest covered)."""
    promotion = _pending(writer, promotion_id)
    model = _model(writer, promotion.model_name)
    version = _version(writer.conn, promotion.model_name, promotion.version)
    subject = {"promotion": promotion_id, "model": model.name, "version": str(version.version)}
    reason = _conflict_of_interest(writer.conn, principal, promotion, version)
    evaluation = evaluate_gates(writer.conn, model, version)
    # passed is None when no policy applies: nothing failed, so no exception is needed.
    if reason is None and decision == "approve" and evaluation["passed"] is False \
            and not exception:
        reason = ("policy gates fail; approve only with an explicit exception and its "
                  "justification")
    outcome = "refused" if reason else decision
    body = {"decision": decision, "outcome": outcome, "comment": comment, "role": principal.role,
            "approver": principal.actor, "version_digest": version.version_digest,
            "exception": dict(exception) if exception else None, "gates": evaluation,
            "reason": reason}
    if principal.principal_id is not None:  # the person signing, by id and printed name
        body |= {"principal": principal.principal_id, "printed_name": principal.printed_name}
    kind = "decision.refused" if reason else {"approve": "decision.approved",
                                               "reject": "decision.rejected"}[decision]
    [receipt] = writer.append([Draft(kind, principal.actor, subject, body)])
    if reason:
        return Decided("refused", [receipt], reason, evaluation)
    return Decided(*_close(writer, principal, promotion, model, version, decision, receipt),
                   gates=evaluation)


def _close(writer: LedgerWriter, principal: Principal, promotion: store.PromotionRow,
           model: store.ModelRow, version: store.VersionRow, decision: str,
           receipt: Receipt) -> tuple[str, list[Receipt]]:
    if decision == "reject":
        return "rejected", [receipt]
    closed = store.get_promotion(writer.conn, promotion.id)
    if closed is None or closed.status != "approved":  # the quorum is not met yet
        return "pending", [receipt]
    moved = _apply_target(writer, principal.actor, model, version, promotion.target, promotion.id)
    return "approved", [receipt, moved]


def withdraw(writer: LedgerWriter, principal: Principal, promotion_id: str) -> Receipt:
    promotion = _pending(writer, promotion_id)
    if (principal.person != _person(writer.conn, promotion.requested_by)
            and principal.role != "admin"):
        raise Forbidden("only the requester or an admin may withdraw a promotion")
    [receipt] = writer.append([Draft("promotion.withdrawn", principal.actor,
                                     {"promotion": promotion_id, "model": promotion.model_name},
                                     {})])
    return receipt


def _approval(conn: Any, name: str, version: int,
              promotion_id: str | None) -> store.PromotionRow | None:
    """An approved promotion of this version to Production or champion (the named one if any)."""
    for promotion in store.promotions(conn, name, "approved"):
        if promotion.version == version and promotion.target in APPROVAL_TARGETS and (
                promotion_id is None or promotion.id == promotion_id):
            return promotion
    return None


def deploy(writer: LedgerWriter, principal: Principal, name: str, version: int,
           environment: str, promotion_id: str | None, target: Mapping[str, str],
           reason: str | None = None,
           rollback_of: str | None = None) -> tuple[store.DeploymentRow, Receipt]:
    _model(writer, name, lock=True)
    _version(writer.conn, name, version)
    declared = environments.deployable(writer.conn, environment)
    approval = _approval(writer.conn, name, version, promotion_id)
    if promotion_id is not None and approval is None:
        raise Conflict(f"promotion {promotion_id!r} is not an approved promotion of version "
                       f"{version} to Production or @champion")
    if declared.protected and approval is None:
        raise Conflict(f"{environment} is protected: version {version} needs an approved "
                       "promotion to Production or @champion before it is deployed there")
    deployment_id = uuid.uuid4().hex
    body = {"version": str(version), "environment": environment, "target": dict(target),
            "promotion": approval.id if approval else None, "reason": reason,
            "rollback_of": rollback_of}
    kind = "deployment.rolled_back" if rollback_of else "deployment.recorded"
    [receipt] = writer.append([Draft(kind, principal.actor,
                                     {"deployment": deployment_id, "model": name}, body)])
    # The instant a deployment took effect is its entry's recorded_at (the reducer's): the
    # as-of query then answers exactly what the ledger says.
    row = store.get_deployment(writer.conn, deployment_id)
    assert row is not None  # the entry's reducer made it
    return row, receipt


def rollback(writer: LedgerWriter, principal: Principal, name: str, environment: str,
             version: int, reason: str) -> tuple[store.DeploymentRow, list[Receipt]]:
    """Redeploy an earlier, approved version; linked to the deployment it replaces. In a
    protected environment the registry follows: the version rolled back from leaves
    Production and @champion, the restored one regains those its approvals name
    (app/services/demotions.py); receipts: the deployment's first."""
    writer.lock()
    current = store.latest_deployment(writer.conn, name, environment)
    if current is None:
        raise Conflict(f"nothing is deployed to {environment}; there is nothing to roll back")
    if current.version == version:
        raise Conflict(f"version {version} is already live in {environment}")
    earlier = {d.version for d in store.deployments(writer.conn, name, environment)}
    if version not in earlier:
        raise Conflict(f"version {version} was never deployed to {environment}")
    if _approval(writer.conn, name, version, None) is None:
        raise Conflict(f"version {version} holds no approved promotion; it cannot be restored")
    row, receipt = deploy(writer, principal, name, version, environment, None, {},
                          reason=reason, rollback_of=current.id)
    receipts = [receipt]
    if environments.deployable(writer.conn, environment).protected:
        receipts += demotions.follow_rollback(writer, principal.actor, name, current.version,
                                              version, environment, reason, row.id)
    return row, receipts
