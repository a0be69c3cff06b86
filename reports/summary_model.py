"""The model summary's registry rows: what is live where, each version's status, failing gates
and the exceptions granted, computed from ModelReportEvidence alone."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from reports.controls import seq_ranges
from reports.evidence_registry import (
    DecisionEvidence,
    DeploymentEvidence,
    GateEvidence,
    LiveEvidence,
    ModelReportEvidence,
    PromotionEvidence,
    VersionEvidence,
)
from reports.gate_text import gate_finding
from reports.outline import PROMOTIONS
from reports.people import person
from reports.policy_text import gate_sentence
from reports.summary_data import instant, when

__all__ = [
    "exception_rows",
    "failing_gate_rows",
    "latest_gates",
    "live_at",
    "live_rows",
    "signer",
    "version_rows",
]


def signer(d: DecisionEvidence) -> str:
    """Who decided: the printed name with the acting token in brackets (the token alone in
    bundles made before printed names)."""
    return person(d.printed_name, d.approver)


def _order(d: DeploymentEvidence) -> tuple[datetime | str, int]:
    return (instant(d.deployed_at) or d.deployed_at, d.seq)


def live_at(model: ModelReportEvidence, at: str | None) -> dict[str, DeploymentEvidence]:
    """Per environment, the last deployment or rollback recorded at or before ``at`` (every
    one when ``at`` is None): the version live there then."""
    limit = None if at is None else instant(at)
    live: dict[str, DeploymentEvidence] = {}
    for d in sorted(model.deployments, key=_order):
        moment = instant(d.deployed_at)
        if limit is not None and moment is not None and moment > limit:
            continue
        live[d.environment] = d
    return live


def _live_cell(d: DeploymentEvidence | None) -> str:
    if d is None:
        return "nothing deployed"
    how = "deployment" if d.event == "deployed" else "rollback"
    return (f"version {d.version} since {when(d.deployed_at)} ({how} by "
            f"{person(d.deployed_by_name, d.deployed_by)}, seq {d.seq})")


def _protection(model: ModelReportEvidence, env: str) -> str:
    found = next((e for e in model.environments if e.name == env), None)
    if found is None:
        return "not declared"
    return "protected" if found.protected else "unprotected"


def _recorded_rows(model: ModelReportEvidence) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """From the body's deployments alone (bundles made before `live` was recorded): the
    as-of state, and the latest recorded one when the deployments run past it."""
    then, latest = live_at(model, model.meta.as_of), live_at(model, None)
    envs = sorted(set(latest))
    differs = any(then.get(e) != latest[e] for e in envs)
    header: tuple[str, ...] = ("Environment", "Protection", f"Live at {when(model.meta.as_of)}")
    rows: list[tuple[str, ...]] = [(e, _protection(model, e), _live_cell(then.get(e)))
                                   for e in envs]
    if not differs:
        return header, rows
    return (*header, "Latest recorded"), [(*r, _live_cell(latest[e]))
                                          for r, e in zip(rows, envs, strict=True)]


def _guarded(live: LiveEvidence) -> str:
    if live.protected is None:
        return "not declared"
    return "protected" if live.protected else "unprotected"


def live_rows(model: ModelReportEvidence) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """(header, rows): per environment, the version live at the report's as-of time and the
    one live now (when the report was made, any version); one column when they agree
    everywhere, two when the ledger moved on after the as-of time."""
    if not model.live:
        return _recorded_rows(model)
    at = when(model.meta.as_of)
    if all(e.at_as_of == e.now for e in model.live):
        return (("Environment", "Protection", f"Live at {at} and now"),
                [(e.environment, _guarded(e), _live_cell(e.now)) for e in model.live])
    return (("Environment", "Protection", f"Live at {at}", "Live now"),
            [(e.environment, _guarded(e), _live_cell(e.at_as_of), _live_cell(e.now))
             for e in model.live])


def _now(v: VersionEvidence) -> str:
    # MLflow's stage "None" is no stage.
    staged = v.stage and v.stage != "None"
    held = ([f"stage {v.stage}"] if staged else []) + [f"@{a}" for a in v.aliases]
    return ", ".join(held) or "—"


def _status(p: PromotionEvidence) -> tuple[str, str, str, int]:
    """(status, by, when, seq) of a promotion, from its closing decisions."""
    approvals = [d for d in p.decisions if d.outcome == "approved"]
    rejections = [d for d in p.decisions if d.outcome == "rejected"]
    if p.status == "approved" and approvals:
        words = "approved" + (" with a policy exception" if any(
            d.exception is not None or _failed(d.gates) for d in approvals) else "")
        return (words, ", ".join(signer(d) for d in approvals), when(approvals[-1].decided_at),
                approvals[-1].seq)
    if p.status == "rejected" and rejections:
        d = rejections[-1]
        return "rejected", signer(d), when(d.decided_at), d.seq
    reason = f": {p.status_reason}" if p.status_reason else ""
    if p.status != "pending" and p.closed_by:
        return (f"{p.status}{reason}", f"{p.status} by {person(p.closed_by_name, p.closed_by)}",
                when(p.closed_at), p.closed_seq if p.closed_seq is not None else p.seq)
    return (f"{p.status}{reason}", f"requested by {person(p.requested_by_name, p.requested_by)}",
            when(p.requested_at), p.seq)


def _refusal(v: VersionEvidence, p: PromotionEvidence, d: DecisionEvidence) -> tuple[str, ...]:
    reason = d.reason or "no reason given"
    return (str(v.version), "", p.target, f"attempt refused by the service: {reason}", signer(d),
            when(d.decided_at), str(d.seq))


MAX_VERSION_ROWS = 8
"""Rows of the summary's versions table; beyond it, versions that are neither live, nor
among the newest NEWEST_VERSIONS, nor refused, rejected or excepted share one row."""
NEWEST_VERSIONS = 3
_ROUTINE = ("approved", "registered; no promotion requested")


def _version_groups(model: ModelReportEvidence) -> list[tuple[int, list[tuple[str, ...]],
                                                              list[int]]]:
    """Per version: (version, its rows, the indices among them of refused attempts)."""
    groups = []
    for v in model.versions:
        rows: list[tuple[str, ...]] = []
        refused: list[int] = []
        if not v.promotions:
            rows.append((str(v.version), _now(v), "—", "registered; no promotion requested",
                         person(v.registered_by_name, v.registered_by), when(v.registered_at),
                         str(v.seq)))
        for i, p in enumerate(v.promotions):
            status, by, at, seq = _status(p)
            rows.append((str(v.version), _now(v) if i == 0 else "", p.target, status, by, at,
                         str(seq)))
            for d in p.decisions:
                if d.outcome == "refused":
                    refused.append(len(rows))
                    rows.append(_refusal(v, p, d))
        groups.append((v.version, rows, refused))
    return groups


def _kept(model: ModelReportEvidence, groups: Sequence[tuple[int, list[tuple[str, ...]],
                                                             list[int]]]) -> set[int]:
    """The versions that keep their rows in a long table: live at as-of or now, the newest,
    and (oldest folded first) as many others as fit, the unusual ones before the routine."""
    live = {d.version for e in model.live for d in (e.at_as_of, e.now) if d is not None}
    live |= {d.version for d in live_at(model, None).values()}
    newest = {n for n, _, _ in sorted(groups)[-NEWEST_VERSIONS:]}
    kept = live | newest
    room = MAX_VERSION_ROWS - 1 - sum(len(rows) for n, rows, _ in groups if n in kept)

    def routine(rows: Sequence[tuple[str, ...]], refused: Sequence[int]) -> bool:
        return not refused and all(r[3] in _ROUTINE for r in rows)

    others = sorted((g for g in groups if g[0] not in kept),
                    key=lambda g: (routine(g[1], g[2]), -g[0]))
    for n, rows, _ in others:
        if len(rows) <= room:
            kept.add(n)
            room -= len(rows)
    return kept


def _folded_row(groups: Sequence[tuple[int, list[tuple[str, ...]], list[int]]]) -> tuple[str, ...]:
    counts: dict[str, int] = {}
    for _, rows, _ in groups:
        for r in rows:
            word = r[3].split(":")[0]
            counts[word] = counts.get(word, 0) + 1
    said = ", ".join(f"{k} {c}" for k, c in sorted(counts.items()))
    numbers = seq_ranges([n for n, _, _ in groups])
    return (numbers, "", "", f"{len(groups)} more versions ({said}): each in full under "
            f"{PROMOTIONS}", "", "", "")


def version_rows(model: ModelReportEvidence) -> tuple[tuple[str, ...], list[tuple[str, ...]],
                                                       list[int]]:
    """(header, rows, refused row indices): each version's promotions with status, who and
    when; a refused attempt is its own row and reads as a refusal, never as a decision. Past
    MAX_VERSION_ROWS rows, the versions not live, not newest and (first) routine share one
    row, so the summary stays one page."""
    header = ("Version", "Holds now", "Target", "Status", "By", "When", "Seq")
    groups = _version_groups(model)
    total = sum(len(rows) for _, rows, _ in groups)
    kept = _kept(model, groups) if total > MAX_VERSION_ROWS else {n for n, _, _ in groups}
    rows: list[tuple[str, ...]] = []
    refused: list[int] = []
    folded = [g for g in groups if g[0] not in kept]
    for n, own, own_refused in groups:
        if n in kept:
            refused += [len(rows) + i for i in own_refused]
            rows += own
    if folded:
        rows.insert(0, _folded_row(folded))
        refused = [i + 1 for i in refused]
    return header, rows, refused


def _failed(gates: Sequence[GateEvidence]) -> list[GateEvidence]:
    return [g for g in gates if not g.passed]


def latest_gates(p: PromotionEvidence) -> tuple[GateEvidence, ...]:
    """The promotion's latest gate evaluation: at its last decision, else at its request."""
    evaluated = [d.gates for d in p.decisions if d.gates]
    return evaluated[-1] if evaluated else p.request_gates


def failing_gate_rows(model: ModelReportEvidence) -> list[tuple[str, ...]]:
    """(version, target, gate, finding, seq) for each gate failing at a promotion's latest
    evaluation."""
    return [(str(v.version), p.target, gate_sentence(g), gate_finding(g), str(g.seq))
            for v in model.versions for p in v.promotions for g in _failed(latest_gates(p))]


def exception_rows(model: ModelReportEvidence) -> tuple[list[tuple[str, ...]], list[int]]:
    """(rows, indices without justification): every approval granted while a gate failed or
    with an exception, with who granted it. Only outcome "approved" counts: a refused attempt
    is never a grant, whatever its body says."""
    rows: list[tuple[str, ...]] = []
    bare: list[int] = []
    for v in model.versions:
        for p in v.promotions:
            for d in p.decisions:
                failing = _failed(d.gates)
                if d.outcome != "approved" or (d.exception is None and not failing):
                    continue
                if d.exception is None:
                    bare.append(len(rows))
                gates = "; ".join(gate_sentence(g) for g in failing) or "none at decision time"
                rows.append((str(v.version), p.target, signer(d), when(d.decided_at), gates,
                             d.exception or "no exception justification recorded", str(d.seq)))
    return rows, bare
