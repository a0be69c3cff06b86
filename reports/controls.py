"""The model report's control-mapping appendix: per control, the section and the ledger entries
that are the evidence, or "not recorded"; it makes no legal determination."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from reports.evidence_registry import ModelReportEvidence
from reports.outline import DEPLOYMENTS, INTEGRITY, MODEL, PER_GROUP, PROMOTIONS
from reports.sod import separation_of_duties

__all__ = ["NOT_RECORDED", "Status", "NO_LEGAL_DETERMINATION", "Control", "controls", "seq_ranges"]

Status = Literal["recorded", "partly recorded", "not recorded"]
NOT_RECORDED: Status = "not recorded"
NO_LEGAL_DETERMINATION = (
    "This mapping shows where the evidence for each control is in this report and in the "
    "ledger. It makes no legal determination: whether a control or a regulation is satisfied "
    "is for the reader to judge.")
_DECISION_KIND = {"approved": "decision.approved", "rejected": "decision.rejected",
                  "refused": "decision.refused"}


@dataclass(frozen=True)
class Control:
    """One row of the control mapping.

    Attributes:
        framework: e.g. "EU AI Act (Regulation (EU) 2024/1689)".
        control: the clause and its name, e.g. "Annex IV 3: degrees of accuracy for specific
            persons or groups of persons".
        status: "recorded", "partly recorded" or "not recorded".
        sections: the report sections that hold the evidence (empty when not recorded).
        kinds: the ledger entry kinds cited, sorted.
        seqs: the seqs of the entries cited, sorted and distinct.
        note: what the evidence covers and does not ("" for none).
    """

    framework: str
    control: str
    status: Status
    sections: tuple[str, ...]
    kinds: tuple[str, ...]
    seqs: tuple[int, ...]
    note: str = ""


def seq_ranges(seqs: Iterable[int]) -> str:
    """Seqs as compact ranges: "2-3, 100-112, 700"; NOT_RECORDED for none."""
    out: list[str] = []
    ordered = sorted(set(seqs))
    start = prev = None
    for s in [*ordered, None]:
        if s is not None and prev is not None and s == prev + 1:
            prev = s
            continue
        if start is not None:
            out.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = s
    return ", ".join(out) or NOT_RECORDED


def _row(framework: str, control: str, sections: tuple[str, ...], kinds: Iterable[str],
         seqs: Iterable[int], note: str = "", partial: bool = False) -> Control:
    found = tuple(sorted(set(seqs)))
    if not found:
        return Control(framework, control, NOT_RECORDED, (), (), ())
    status: Status = "partly recorded" if partial else "recorded"
    return Control(framework, control, status, sections, tuple(sorted(set(kinds))), found, note)


def _decisions(model: ModelReportEvidence, signed: bool = True) -> list[tuple[str, int, bool]]:
    """(kind, seq, has a printed name) of every decision; signed: approvals and rejections
    only (a refused attempt is recorded, but signs nothing)."""
    return [(_DECISION_KIND.get(d.outcome, "decision"), d.seq, bool(d.printed_name))
            for v in model.versions for p in v.promotions for d in p.decisions
            if not signed or d.outcome != "refused"]


def _gate_logs(model: ModelReportEvidence) -> tuple[list[str], list[int]]:
    kinds: list[str] = []
    seqs: list[int] = []
    for v in model.versions:
        for p in v.promotions:
            if p.request_gates:
                kinds.append("promotion.requested")
                seqs.append(p.seq)
            for d in p.decisions:
                if d.gates:
                    kinds.append(_DECISION_KIND.get(d.outcome, "decision"))
                    seqs.append(d.seq)
    return kinds, seqs


def _group_seqs(model: ModelReportEvidence) -> tuple[list[int], list[int]]:
    """(metrics.logged seqs of per-group values, policy.set seqs of their bands)."""
    figures = [g.seq for v in model.versions for s in v.run.group_summaries for g in s.groups]
    bands = [s.band_seq for v in model.versions for s in v.run.group_summaries
             if s.band_seq is not None]
    return figures, bands


def _lifecycle(model: ModelReportEvidence) -> tuple[list[str], list[int]]:
    kinds = ["model.created", *("model_version.created" for _ in model.versions)]
    seqs = [model.created_seq, *(v.seq for v in model.versions)]
    for d in model.deployments:
        kinds.append("deployment.recorded" if d.event == "deployed" else "deployment.rolled_back")
        seqs.append(d.seq)
    return kinds, seqs


_EU = "EU AI Act (Regulation (EU) 2024/1689)"
_SR = "SR 26-2 (supersedes SR 11-7)"
_PART11 = "21 CFR Part 11"


def _eu(model: ModelReportEvidence) -> list[Control]:
    kinds, seqs = _gate_logs(model)
    signed = _decisions(model)
    figures, bands = _group_seqs(model)
    life_kinds, life_seqs = _lifecycle(model)
    return [
        _row(_EU, "Annex IV 2(g): test logs and all test reports dated and signed by the "
             "responsible persons", (PROMOTIONS,), [*kinds, *(k for k, _, _ in signed)],
             [*seqs, *(s for _, s, _ in signed)],
             "gate evaluations at each request and decision, dated; decisions signed with the "
             "approver's name, role and meaning"),
        _row(_EU, "Annex IV 3: degrees of accuracy for specific persons or groups of persons",
             (PER_GROUP,), ["metrics.logged", *(["policy.set"] if bands else [])],
             [*figures, *bands], "per-group values with n, ratio to a named reference group "
             "and the band that applied"),
        _row(_EU, "Art. 12: Record-keeping (\"automatic recording of events (logs) over the "
             "lifetime of the system\")", (DEPLOYMENTS, INTEGRITY), life_kinds, life_seqs,
             "registry and deployment events in a hash-chained, signed ledger; events inside "
             "the serving system are not in this report", partial=True),
    ]


def _sr(model: ModelReportEvidence) -> list[Control]:
    life_kinds, life_seqs = _lifecycle(model)
    inventory = [(k, s) for k, s in zip(life_kinds, life_seqs, strict=True)
                 if not k.startswith("deployment")]
    signed = _decisions(model)
    _, problems = separation_of_duties(model)
    sod = (f"{len(problems)} separation-of-duties problem(s) are flagged for review"
           if problems else "each approver is checked against the requester, the registrant "
           "and the run's author")
    deployments = [(k, s) for k, s in zip(life_kinds, life_seqs, strict=True)
                   if k.startswith("deployment")]
    return [
        _row(_SR, "Model inventory", (MODEL,), [k for k, _ in inventory],
             [s for _, s in inventory], "name, owner, versions and their digests"),
        _row(_SR, "Independent validation (effective challenge)", (PROMOTIONS,),
             [k for k, _, _ in signed], [s for _, s, _ in signed],
             f"decisions by named approvers; {sod}; the validation work itself is not "
             "recorded in the ledger", partial=True),
        _row(_SR, "Ongoing monitoring", (DEPLOYMENTS,), [k for k, _ in deployments],
             [s for _, s in deployments], "deployments and rollbacks with their reasons; "
             "post-deployment performance is not recorded in the ledger", partial=True),
    ]


def _part11(model: ModelReportEvidence) -> list[Control]:
    signed = _decisions(model)
    unnamed = sum(1 for _, _, named in signed if not named)
    audit_note = ("computer-generated, time-stamped, append-only entries; the report cites "
                  "them with inclusion proofs against a signed checkpoint")
    if model.meta.failed:
        audit_note += f"; ledger verification FAILED: {model.meta.ledger_problem}"
    kinds, seqs = _lifecycle(model)
    gate_kinds, gate_seqs = _gate_logs(model)
    decisions = _decisions(model, signed=False)
    if model.policy is not None:
        kinds.append("policy.set")
        seqs.append(model.policy.seq)
    return [
        _row(_PART11, "§ 11.10(e) (controls for closed systems): audit trails",
             (INTEGRITY, PROMOTIONS, DEPLOYMENTS),
             [*kinds, *gate_kinds, *(k for k, _, _ in decisions)],
             [*seqs, *gate_seqs, *(s for _, s, _ in decisions)], audit_note),
        _row(_PART11, "§ 11.50: Signature manifestations (printed name, date and time, "
             "meaning)", (PROMOTIONS,), [k for k, _, _ in signed], [s for _, s, _ in signed],
             f"{unnamed} decision(s) show the token name, not a printed name" if unnamed
             else "every decision shows the printed name, the time and the meaning",
             partial=unnamed > 0),
    ]


def _others(model: ModelReportEvidence) -> list[Control]:
    figures, bands = _group_seqs(model)
    life_kinds, life_seqs = _lifecycle(model)
    metrics = sorted({s.metric for v in model.versions for s in v.run.group_summaries})
    return [
        _row("ECOA / Regulation B (12 CFR part 1002)", "Disparate-impact analysis",
             (PER_GROUP,), ["metrics.logged", *(["policy.set"] if bands else [])],
             [*figures, *bands],
             f"ratios to a reference group and min/max ratios for {', '.join(metrics)}; "
             "the report flags groups for review and makes no finding of disparate impact"
             if metrics else ""),
        _row("ISO/IEC 42001:2023", "A.6.2.8: AI system recording of event logs",
             (DEPLOYMENTS, INTEGRITY), life_kinds, life_seqs,
             "lifecycle events in the ledger; operational event logs of the AI system are not "
             "in this report", partial=True),
    ]


def controls(model: ModelReportEvidence) -> tuple[Control, ...]:
    """Every mapped control, in a fixed order, with its evidence or NOT_RECORDED."""
    return (*_eu(model), *_sr(model), *_part11(model), *_others(model))
