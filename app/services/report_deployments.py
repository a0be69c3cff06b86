"""A model report's deployments, declared environments, what is live where, and demotions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from app.ledger.entry import format_timestamp
from reports.evidence_protection import DeclaredEnvironmentEvidence, DemotionEvidence
from reports.evidence_registry import DeploymentEvidence, LiveEvidence

if TYPE_CHECKING:
    from app.services.report_evidence import Ledger

Visible = Callable[[int | None], bool]
LEAVING_KINDS = ("model_version.demoted", "model_alias.removed")


def _deployment(ledger: Ledger, d: Mapping[str, Any]) -> DeploymentEvidence:
    target = d["target"] or {}
    return DeploymentEvidence(
        deployment_id=d["id"], event="rolled back" if d["rollback_of"] else "deployed",
        version=d["version"], environment=d["environment"],
        endpoint=str(target.get("endpoint") or ""), image_digest=target.get("image_digest"),
        deployed_by=d["deployer"], deployed_at=format_timestamp(d["deployed_at"]),
        promotion_id=d["promotion_id"], reason=d["reason"], rollback_of=d["rollback_of"],
        seq=d["seq"], deployed_by_name=ledger.printed_name(d["deployer"]))


def _all(ledger: Ledger, name: str) -> list[dict[str, Any]]:
    return sorted((d for d in ledger.rows("deployments") if d["model_name"] == name),
                  key=lambda d: d["seq"])


def deployments(ledger: Ledger, name: str, covered: set[int],
                visible: Visible) -> tuple[DeploymentEvidence, ...]:
    """Deployments and rollbacks of the covered versions up to the as-of time, in seq order."""
    return tuple(_deployment(ledger, d) for d in _all(ledger, name)
                 if d["version"] in covered and visible(d["seq"]))


def _revisions(ledger: Ledger, visible: Visible) -> dict[str, dict[str, Any]]:
    """Each declared environment's latest visible revision, by name."""
    latest: dict[str, dict[str, Any]] = {}
    for row in ledger.rows("environment_revisions"):
        if visible(row["seq"]) and (row["name"] not in latest
                                    or row["seq"] > latest[row["name"]]["seq"]):
            latest[row["name"]] = row
    return latest


def environments(ledger: Ledger, names: set[str],
                 visible: Visible) -> tuple[DeclaredEnvironmentEvidence, ...]:
    """The environments the deployments name, as their latest visible revision says."""
    latest = _revisions(ledger, visible)
    return tuple(DeclaredEnvironmentEvidence(r["name"], r["protected"], r["adopted"],
                                             r["declared_by"], r["seq"])
                 for n, r in sorted(latest.items()) if n in names)


def live(ledger: Ledger, name: str, visible: Visible) -> tuple[LiveEvidence, ...]:
    """Per environment (every declared one, and every one the model was deployed to), the
    last deployment or rollback of any version at the as-of time and among all the entries:
    the version live there then, and when the report was made."""
    then: dict[str, dict[str, Any]] = {}
    now: dict[str, dict[str, Any]] = {}
    for d in _all(ledger, name):
        now[d["environment"]] = d
        if visible(d["seq"]):
            then[d["environment"]] = d
    declared = _revisions(ledger, lambda seq: seq is not None)
    out = []
    for env in sorted(set(declared) | set(now)):
        revision = declared.get(env)
        out.append(LiveEvidence(
            env, None if revision is None else bool(revision["protected"]),
            _deployment(ledger, then[env]) if env in then else None,
            _deployment(ledger, now[env]) if env in now else None,
            None if revision is None else int(revision["seq"])))
    return tuple(out)


def demotions(ledger: Ledger, name: str, covered: set[int],
              visible: Visible) -> tuple[DemotionEvidence, ...]:
    """Covered versions moved out of a protected stage or alias, in seq order."""
    out = []
    for seq, entry in sorted(ledger.entries.items()):
        if entry.kind not in LEAVING_KINDS or entry.subject.get("model") != name:
            continue
        version = int(entry.subject["version"])
        if version not in covered or not visible(seq):
            continue
        body = entry.body
        stage = entry.kind == "model_version.demoted"
        out.append(DemotionEvidence(
            version=version,
            left=f"stage:{body['previous']}" if stage else f"alias:{body['alias']}",
            moved_to=body["stage"] if stage else None, reason=body["reason"],
            demoted_by=entry.actor, demoted_at=entry.recorded_at,
            promotion_id=body["promotion"], deployment_id=body["deployment"], seq=seq,
            demoted_by_name=ledger.printed_name(entry.actor)))
    return tuple(out)
