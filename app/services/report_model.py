"""A model report's evidence from replayed entries: policy, versions, promotions, decisions,
deployments and what is live where (the `as_of` rules are app/services/report_evidence.py's)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from app.services import report_deployments as placed
from app.services.report_evidence import Band, Bands, Ledger, NotFound, run_evidence
from app.tracking import groups
from app.tracking.targets import fold, shown
from reports import (
    DecisionEvidence,
    GateEvidence,
    PolicyEvidence,
    PromotionEvidence,
    UnpinnedVersionEvidence,
    VersionEvidence,
)
from reports.policy_text import EMPTY_POLICY, policy_sentences


def _clauses(policy: Mapping[str, Any]) -> tuple[str, ...]:
    """The policy's clauses as sentences (none for a policy with no gates)."""
    return tuple(c for c in policy_sentences(policy) if c != EMPTY_POLICY)


def _bands(policy: Mapping[str, Any], set_by: str, set_at: str, seq: int) -> dict[Any, Band]:
    out: dict[tuple[str, str], Band] = {}
    for clause in policy.get("fairness") or []:
        if not isinstance(clause, dict) or "band" not in clause:
            continue
        try:
            low, high = (Decimal(str(b)) for b in clause["band"])
        except (ValueError, TypeError, ArithmeticError):
            continue
        out[(clause.get("metric", ""), clause.get("attribute", ""))] = Band(
            (low, high), int(clause.get("min_n", groups.DEFAULT_MIN_N)),
            clause.get("reference"), set_by, set_at, seq)
    return out


def _gates(evaluation: Mapping[str, Any] | None, seq: int) -> tuple[GateEvidence, ...]:
    out = []
    for r in (evaluation or {}).get("results", []):
        figures = tuple((str(k), None if v is None else str(v))
                        for k, v in (r.get("figures") or {}).items())
        out.append(GateEvidence(str(r.get("gate", "")), bool(r.get("passed")),
                                str(r.get("detail", "")), figures, seq))
    return tuple(out)


def _meaning(outcome: str, target: str) -> str:
    """What a decision's signature means (21 CFR 11.50(a)(3)); a refusal is no signature."""
    if outcome == "approved":
        return f"approval of this version for {target}"
    if outcome == "rejected":
        return f"rejection of this version for {target}"
    return "none: a refused attempt is not a signature; nothing was approved or granted"


# decisions.outcome (the decision asked for) -> the report's outcome words
_OUTCOME = {"approve": "approved", "reject": "rejected", "refused": "refused"}


def _policy_seq(evaluation: Mapping[str, Any] | None) -> int | None:
    found = (evaluation or {}).get("policy_seq")
    return None if found is None else int(found)


def _decision(ledger: Ledger, d: Mapping[str, Any], target: str) -> DecisionEvidence:
    entry = ledger.entries[d["seq"]]
    outcome = _OUTCOME[d["outcome"]]
    asked = (d["exception"] or {}).get("justification") if d["exception"] else None
    return DecisionEvidence(
        outcome=outcome, approver=d["approver"], person=ledger.person(d["approver"]),
        printed_name=entry.body.get("printed_name") or ledger.printed_name(d["approver"]),
        role=d["role"], decided_at=entry.recorded_at, meaning=_meaning(outcome, target),
        comment=d["comment"] or "", version_digest=d["version_digest"],
        # Only an approval the service recorded grants an exception; a refused attempt (or a
        # rejection) that carried one asked for it, and that is what it says.
        exception=asked if outcome == "approved" else None,
        requested_exception=None if outcome == "approved" else asked,
        reason=entry.body.get("reason"), gates=_gates(d["gates"], d["seq"]), seq=d["seq"],
        policy_seq=_policy_seq(d["gates"]))


def _decisions(ledger: Ledger, promotion: Mapping[str, Any],
               visible: Any) -> tuple[DecisionEvidence, ...]:
    found = sorted((d for d in ledger.rows("decisions") if d["promotion_id"] == promotion["id"]),
                   key=lambda d: d["seq"])
    return tuple(_decision(ledger, d, promotion["target"]) for d in found if visible(d["seq"]))


def _promotions(ledger: Ledger, name: str, version: int,
                visible: Any) -> tuple[PromotionEvidence, ...]:
    out = []
    found = sorted((p for _, p in ledger.state.items("promotions")
                    if p["model_name"] == name and p["version"] == version),
                   key=lambda p: p["created_seq"])
    for p in found:
        if not visible(p["created_seq"]):
            continue
        closed = p["closed_seq"] if visible(p["closed_seq"]) else None
        status = p["status"] if closed is not None or p["status"] == "pending" else "pending"
        reason = ledger.entries[closed].body.get("reason") if closed is not None else None
        closing = ledger.entries[closed] if closed is not None else None
        closer = closing.actor if closing is not None else None
        out.append(PromotionEvidence(
            promotion_id=p["id"], target=p["target"], requested_by=p["requested_by"],
            requested_by_person=ledger.person(p["requested_by"]),
            requested_at=ledger.entries[p["created_seq"]].recorded_at,
            justification=p["justification"], classification=p["classification"],
            status=status,
            status_reason=reason if status in ("withdrawn", "invalidated") else None,
            request_gates=_gates(p["gates"], p["created_seq"]),
            decisions=_decisions(ledger, p, visible), seq=p["created_seq"],
            request_policy_seq=_policy_seq(p["gates"]),
            requested_by_name=ledger.printed_name(p["requested_by"]), closed_by=closer,
            closed_by_name=ledger.printed_name(closer) if closer else "",
            closed_at=closing.recorded_at if closing is not None else None, closed_seq=closed))
    return tuple(out)


def _policy(ledger: Ledger, name: str, visible: Any) -> tuple[PolicyEvidence | None, Bands]:
    rows = [p for p in ledger.rows("model_policies")
            if p["model_name"] == name and visible(p["seq"])]
    if not rows:
        return None, {}
    latest = max(rows, key=lambda p: p["seq"])
    at = ledger.entries[latest["seq"]].recorded_at
    return (PolicyEvidence(_clauses(latest["policy"]), latest["set_by"], at, latest["seq"],
                           ledger.printed_name(latest["set_by"])),
            _bands(latest["policy"], latest["set_by"], at, latest["seq"]))


def _alias_label(ledger: Ledger, model: Mapping[str, Any], alias: str) -> str:
    """An alias as the report prints it. One that carries a protected name (in any case) but
    stands on no approved promotion, set before protection compared names ignoring case or
    before the name was protected, says so: no look-alike passes for the protected name."""

    protected = {fold(t): t for t in model["protected_targets"]}
    canonical = protected.get(fold(f"alias:{alias}"))
    if canonical is None:
        return alias
    events = [e for e in ledger.rows("alias_events")
              if e["model_name"] == model["name"] and e["alias"] == alias]
    latest = max(events, key=lambda e: e["seq"], default=None)
    if canonical == f"alias:{alias}" and latest is not None and latest["promotion_id"]:
        return alias
    return f"{alias} (no approved promotion: protected name {shown(canonical)})"


def _pin(ledger: Ledger, name: str, version: int, visible: Any) -> dict[str, Any] | None:
    """The revision that pinned the version's files (its creation, or a later
    `model_version.pinned`), if it is visible as of the report; None: unpinned then."""
    found = min((r for r in ledger.rows("model_version_revisions")
                 if r["model_name"] == name and r["version"] == version
                 and r["run_id"] is not None), key=lambda r: r["seq"], default=None)
    return found if found is not None and visible(found["seq"]) else None


def _pinned_later(ledger: Ledger, row: Mapping[str, Any], pin: Mapping[str, Any]
                  ) -> dict[str, Any]:
    """VersionEvidence's pinned_* fields: set for a version registered unpinned."""
    if pin["seq"] == row["created_seq"]:
        return {}
    actor = ledger.entries[pin["seq"]].actor
    return {"pinned_seq": pin["seq"], "pinned_by": actor,
            "pinned_by_name": ledger.printed_name(actor), "source": row["source"]}


def _unpinned(ledger: Ledger, row: Mapping[str, Any],
              aliases: tuple[str, ...]) -> UnpinnedVersionEvidence:
    created = ledger.entries[row["created_seq"]]
    return UnpinnedVersionEvidence(
        version=row["version"], version_digest=created.body["version_digest"],
        source=created.body["source"], given_run=created.body["run"],
        registered_by=created.actor, registered_by_person=ledger.person(created.actor),
        registered_by_name=ledger.printed_name(created.actor),
        registered_at=created.recorded_at, stage=row["stage"] or None, aliases=aliases,
        seq=row["created_seq"])


def model_evidence(ledger: Ledger, name: str, version: int | None,
                   as_of: datetime | None) -> dict[str, Any]:
    """The fields of ModelReportEvidence except meta."""
    model = ledger.current("registered_models", name)
    if model is None:
        raise NotFound(f"model {name!r} not found")
    rows = sorted((v for _, v in ledger.state.items("model_versions")
                   if v["model_name"] == name), key=lambda v: v["version"])
    if version is not None:
        rows = [r for r in rows if r["version"] == version]
        if not rows:
            raise NotFound(f"model {name!r} has no version {version}")

    def visible(seq: int | None) -> bool:
        return seq is not None and (as_of is None or ledger.at(seq) <= as_of)

    policy, bands = _policy(ledger, name, visible)
    aliases = {key[1]: row["version"] for key, row in ledger.state.items("model_aliases")
               if key[0] == name}
    versions, unpinned = [], []
    for row in rows:
        if not visible(row["created_seq"]):
            continue
        labels = tuple(sorted(_alias_label(ledger, model, a) for a, v in aliases.items()
                              if v == row["version"]))
        pin = _pin(ledger, name, row["version"], visible)
        if pin is None:
            unpinned.append(_unpinned(ledger, row, labels))
            continue
        run = run_evidence(ledger, pin["run_id"], bands)
        used = {s.band_seq for s in run.group_summaries if s.band_seq is not None}
        if used:
            run = dataclasses.replace(run, cited_seqs=tuple(sorted(set(run.cited_seqs) | used)))
        versions.append(VersionEvidence(
            version=row["version"], version_digest=pin["version_digest"],
            registered_by=row["created_by"],
            registered_by_person=ledger.person(row["created_by"]),
            registered_at=ledger.entries[row["created_seq"]].recorded_at,
            artifact_path=pin["artifact_path"], stage=row["stage"] or None, aliases=labels,
            run=run, promotions=_promotions(ledger, name, row["version"], visible),
            seq=row["created_seq"], registered_by_name=ledger.printed_name(row["created_by"]),
            **_pinned_later(ledger, row, pin)))
    covered = {v.version for v in versions} | {u.version for u in unpinned}
    deps = placed.deployments(ledger, name, covered, visible)
    return {"name": model["name"], "description": model["description"] or "",
            "owner": model["owner"], "sensitive_attributes": tuple(model["sensitive_attributes"]),
            "protected_targets": tuple(model["protected_targets"]), "quorum": model["quorum"],
            "policy": policy, "versions": tuple(versions), "deployments": deps,
            "all_versions": version is None, "created_seq": model["created_seq"],
            "environments": placed.environments(ledger, {d.environment for d in deps}, visible),
            "demotions": placed.demotions(ledger, name, covered, visible),
            "live": placed.live(ledger, name, visible), "unpinned": tuple(unpinned)}
