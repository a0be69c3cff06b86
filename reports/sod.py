"""The separation-of-duties statement, computed from who requested, registered and approved."""

from __future__ import annotations

from reports.evidence import (
    DecisionEvidence,
    ModelReportEvidence,
    PromotionEvidence,
    VersionEvidence,
)

__all__ = ["separation_of_duties"]


def _conflicts(v: VersionEvidence, p: PromotionEvidence, d: DecisionEvidence) -> list[str]:
    """The duties the approver also held, comparing people (principals), never tokens; a
    bundle from before principals compares actors."""
    duties = [
        (p.requested_by_person or p.requested_by, "requested the promotion"),
        (v.registered_by_person or v.registered_by, "registered the version"),
        (v.run.created_by_person or v.run.created_by, "authored the run"),
    ]
    return [duty for person, duty in duties if person == (d.person or d.approver)]


def _quorum(model: ModelReportEvidence, p: PromotionEvidence) -> str | None:
    approvers = {d.person or d.approver for d in p.decisions if d.outcome == "approved"}
    if p.status == "approved" and len(approvers) < model.quorum:
        return (f"promotion {p.promotion_id} was approved by {len(approvers)} distinct "
                f"approver(s); the model requires {model.quorum}")
    return None


def _refusals(model: ModelReportEvidence) -> str:
    refused = [d for v in model.versions for p in v.promotions for d in p.decisions
               if d.outcome == "refused"]
    if not refused:
        return "The service refused no decisions."
    reasons = "; ".join(f"seq {d.seq}: {_signer(d)}: {d.reason or 'no reason given'}"
                        for d in refused)
    return (f"The service refused {len(refused)} attempted decision(s) and recorded each as "
            f"a refusal, not a signature (nothing was approved or granted): {reasons}.")


def _signer(d: DecisionEvidence) -> str:
    if d.printed_name and d.printed_name != d.approver:
        return f"{d.printed_name} ({d.approver})"
    return d.approver


def separation_of_duties(model: ModelReportEvidence) -> tuple[str, list[str]]:
    """A statement about every approval, and problems to flag for review."""
    problems: list[str] = []
    approvals = 0
    for v in model.versions:
        for p in v.promotions:
            for d in p.decisions:
                if d.outcome != "approved":
                    continue
                approvals += 1
                for duty in _conflicts(v, p, d):
                    problems.append(f"approval at seq {d.seq} by {_signer(d)}, who also {duty}")
            quorum = _quorum(model, p)
            if quorum:
                problems.append(quorum)
    if approvals == 0:
        checked = "No approvals were recorded, so no approver could be checked."
    elif problems:
        checked = f"Checked {approvals} approval(s); the problems below need review."
    else:
        checked = (f"Checked {approvals} approval(s), comparing people rather than tokens: "
                   "each approver is a person other than the promotion's requester, the "
                   "version's registrant and the run's author (with any of their tokens), and "
                   "every approved promotion has the required number of distinct people.")
    quorum = f"The model requires {model.quorum} approval(s) per promotion."
    return f"{checked} {quorum} {_refusals(model)}", problems
