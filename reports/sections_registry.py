"""Registry sections: model and policy, versions, promotions and decisions, deployments."""

from __future__ import annotations

from collections.abc import Sequence

from reports.doc import (
    Cell,
    Node,
    data_table,
    empty,
    flag,
    heading,
    kv_table,
    mono,
    para,
)
from reports.evidence import (
    DecisionEvidence,
    DeploymentEvidence,
    GateEvidence,
    ModelReportEvidence,
    PromotionEvidence,
    VersionEvidence,
)
from reports.gate_text import gate_figures_text, gate_finding
from reports.people import person
from reports.policy_text import gate_sentence
from reports.sections_protection import demotions, environment_title
from reports.sod import separation_of_duties

__all__ = ["deployments", "model_overview", "promotions"]


def _policy(model: ModelReportEvidence) -> list[Node]:
    p = model.policy
    if p is None:
        return [empty("No policy set: no gates are judged; per-group tables apply the built-in "
                      "band where one is shown.")]
    out: list[Node] = [para(f"Set by {person(p.set_by_name, p.set_by)} at "
                            f"{utc_second(p.set_at)} (seq {p.seq}).")]
    if not p.clauses:
        return out + [empty("The policy has no clauses.")]
    return out + [para(f"- {clause}") for clause in p.clauses]


UNPINNED = "unpinned: files not held or digested"


def _versions(model: ModelReportEvidence) -> list[Node]:
    versions, unpinned = model.versions, model.unpinned
    if not versions and not unpinned:
        return [empty("No versions were registered.")]
    rows: list[tuple[int, list[Cell]]] = [
        (v.version, [str(v.version), mono(v.version_digest),
                     f"{person(v.registered_by_name, v.registered_by)}, "
                     f"{utc_second(v.registered_at)}", mono(v.run.run_id), v.stage or "none",
                     ", ".join(v.aliases) or "none", str(v.seq)]) for v in versions]
    rows += [(u.version, [str(u.version), mono(u.version_digest),
                          f"{person(u.registered_by_name, u.registered_by)}, "
                          f"{utc_second(u.registered_at)}", UNPINNED, u.stage or "none",
                          ", ".join(u.aliases) or "none", str(u.seq)]) for u in unpinned]
    header = ["Version", "Version digest", "Registered", "Run", "Stage", "Aliases", "Seq"]
    out: list[Node] = [data_table(header, [r for _, r in sorted(rows, key=lambda r: r[0])],
                                  [0.75, 2.4, 1.6, 1.8, 0.9, 0.9, 0.5])]
    out += [flag(f"Version {u.version} is {UNPINNED}: it was registered from {u.source}"
                 + (f" (run {u.given_run}, not a run of this ledger)" if u.given_run else "")
                 + ". No run, files or figures of this ledger stand behind it, and it cannot "
                 "reach a protected stage or alias until it is pinned to files registered "
                 "with their digests.") for u in unpinned]
    out += [para(f"Version {v.version} was registered unpinned from {v.source} and pinned to "
                 "the files listed under Artifacts by "
                 f"{person(v.pinned_by_name, v.pinned_by)} (seq {v.pinned_seq}).")
            for v in versions if v.pinned_seq is not None]
    return out


def model_overview(model: ModelReportEvidence) -> list[Node]:
    """The registered model, its policy and the versions covered."""
    facts: list[tuple[str, Cell]] = [
        ("Model", model.name),
        ("Owner", model.owner),
        ("Description", model.description or "(none)"),
        ("Sensitive attributes", ", ".join(model.sensitive_attributes) or "none declared"),
        ("Protected targets", ", ".join(model.protected_targets) or "none"),
        ("Approvals required", str(model.quorum)),
        ("Seq", str(model.created_seq)),
    ]
    return [heading("Model"), kv_table(facts), heading("Gate policy", 2), *_policy(model),
            heading("Versions", 2), *_versions(model)]


def utc_second(instant: str) -> str:
    """An RFC 3339 UTC instant as a reader signs it: date and time to the second, in UTC."""
    if len(instant) < 19 or instant[10] != "T" or not instant.endswith("Z"):
        return instant
    return f"{instant[:10]} {instant[11:19]} UTC"


def gates_table(gates: Sequence[GateEvidence], when: str,
                policy_seq: int | None = None) -> list[Node]:
    """Gate results, with failures marked as flags for review."""
    if not gates:  # nothing was judged, which is never a pass
        why = ("no policy set" if policy_seq is None
               else f"the policy in force (seq {policy_seq}) has no gates")
        return [empty(f"No gates were evaluated {when}: {why}. Nothing was judged, which is "
                      "not a pass.")]
    rows: list[list[Cell]] = [
        [gate_sentence(g), "passed" if g.passed else "not passed: flag for review",
         "—" if g.passed else gate_finding(g), gate_figures_text(g), str(g.seq)]
        for g in gates
    ]
    failed = [i for i, g in enumerate(gates) if not g.passed]
    return [para(f"Policy gates {when}:", "label"),
            data_table(["Gate", "Result", "Finding", "Figures", "Seq"], rows,
                       [2.4, 1.0, 1.3, 2.6, 0.45], highlight=failed)]


def _same(a: Sequence[GateEvidence], b: Sequence[GateEvidence]) -> bool:
    """The same gates with the same results and figures (the seqs differ)."""
    def key(gates: Sequence[GateEvidence]) -> list[tuple[object, ...]]:
        return [(g.gate, g.passed, g.detail, g.figures) for g in gates]
    return key(a) == key(b)


def decision_gates(d: DecisionEvidence, p: PromotionEvidence, when: str) -> list[Node]:
    """A decision's gate table, or one line when it is the request's table again."""
    if d.gates and _same(d.gates, p.request_gates):
        seqs = ", ".join(str(g.seq) for g in d.gates[:1])
        return [para(f"Gates {when}: as at request (same results and figures; evaluation "
                     f"recorded at seq {seqs}).", "label")]
    return gates_table(d.gates, when, d.policy_seq)


def signer(d: DecisionEvidence) -> str:
    """Printed name, then the token and role that signed (the token alone in old bundles)."""
    name = d.printed_name or d.approver
    return f"{name} ({d.approver}, {d.role})" if name != d.approver else f"{name} ({d.role})"



def _refused(d: DecisionEvidence, n: int, about: str) -> list[Node]:
    """A refused attempt: what was tried, by whom, and why the service refused it."""
    facts: list[tuple[str, Cell]] = [
        ("Outcome", "REFUSED by the service and recorded as a refusal: nothing was approved "
                    "or granted"),
        ("Refused because", d.reason or "no reason recorded"),
        ("Attempted by", signer(d)),
        ("Attempted at", utc_second(d.decided_at)),
        ("Meaning", d.meaning),
        ("Comment", d.comment or "(none)"),
    ]
    if d.requested_exception:
        facts.append(("Exception", f"asked for, not granted: {d.requested_exception}"))
    facts += [("Version digest", mono(d.version_digest)), ("Seq", str(d.seq))]
    return [heading(f"Attempt {n} on {about}: REFUSED", 3), kv_table(facts),
            flag(f"refused attempt by {_short(d)} at {utc_second(d.decided_at)} to "
                 f"{_attempted(d)}: {d.reason or 'no reason recorded'}")]


def _short(d: DecisionEvidence) -> str:
    name = d.printed_name or d.approver
    return f"{name} ({d.approver})" if name != d.approver else name


def _attempted(d: DecisionEvidence) -> str:
    return "approve" + (" with a policy exception" if d.requested_exception else "")


def _decision(d: DecisionEvidence, p: PromotionEvidence, n: int, about: str) -> list[Node]:
    if d.outcome == "refused":
        return _refused(d, n, about) + decision_gates(d, p, "at the attempt")
    facts: list[tuple[str, Cell]] = [
        ("Outcome", d.outcome),
        ("Signed by", signer(d)),
        ("Signed at", utc_second(d.decided_at)),
        ("Meaning of signature", d.meaning),
        ("Comment", d.comment or "(none)"),
        ("Policy exception", f"granted: {d.exception}" if d.exception else "none"),
        ("Version digest covered", mono(d.version_digest)),
        ("Seq", str(d.seq)),
    ]
    if d.requested_exception:
        facts.insert(6, ("Exception asked for", f"not granted ({d.outcome}): "
                                               f"{d.requested_exception}"))
    out: list[Node] = [heading(f"Decision {n} on {about}: {d.outcome}", 3), kv_table(facts)]
    if d.exception:
        out.append(flag(f"policy exception granted by {_short(d)} at "
                        f"{utc_second(d.decided_at)}: {d.exception}"))
    return out + decision_gates(d, p, "at decision time")


def _promotion(v: VersionEvidence, p: PromotionEvidence) -> list[Node]:
    facts: list[tuple[str, Cell]] = [
        ("Promotion id", mono(p.promotion_id)),
        ("Target", p.target),
        ("Requested by", f"{person(p.requested_by_name, p.requested_by)} at "
                         f"{utc_second(p.requested_at)}"),
        ("Justification", p.justification or "(none)"),
        ("Classification", p.classification or "not classified"),
        ("Status", p.status + (f" ({p.status_reason})" if p.status_reason else "")),
        *([("Closed by", f"{person(p.closed_by_name, p.closed_by)} at "
                         f"{utc_second(p.closed_at or '')} (seq {p.closed_seq})")]
          if p.closed_by else []),
        ("Seq", str(p.seq)),
    ]
    about = f"version {v.version} to {p.target}"
    out: list[Node] = [heading(about[0].upper() + about[1:], 2), kv_table(facts)]
    out += gates_table(p.request_gates, "at request time", p.request_policy_seq)
    if not p.decisions:
        return out + [empty("No decisions were made on this promotion.")]
    counts = {"refused": 0, "signed": 0}  # attempts and signatures are numbered apart
    for d in p.decisions:
        counted = "refused" if d.outcome == "refused" else "signed"
        counts[counted] += 1
        out += _decision(d, p, counts[counted], about)
    return out


def promotions(model: ModelReportEvidence) -> list[Node]:
    """Every promotion with its gates and decisions, then the separation-of-duties statement."""
    out: list[Node] = [heading("Promotions and decisions")]
    pairs = [(v, p) for v in model.versions for p in v.promotions]
    if not pairs:
        out.append(empty("No promotions were requested."))
    for v, p in pairs:
        out += _promotion(v, p)
    out.append(heading("Separation of duties", 2))
    statement, problems = separation_of_duties(model)
    out.append(para(statement))
    return out + [flag(problem) for problem in problems]


def _timeline(events: Sequence[DeploymentEvidence]) -> Node:
    rows: list[list[Cell]] = [
        [utc_second(e.deployed_at), e.event, str(e.version),
         person(e.deployed_by_name, e.deployed_by),
         mono(e.promotion_id or "none"), mono(e.endpoint or "none"),
         mono(e.image_digest or "none"), e.reason or "", str(e.seq)]
        for e in events
    ]
    header = ["When", "Event", "Ver.", "By", "Promotion", "Endpoint", "Image", "Reason", "Seq"]
    rollbacks = [i for i, e in enumerate(events) if e.event != "deployed"]
    return data_table(header, rows, [1.45, 0.8, 0.45, 1.35, 1.2, 1.3, 1.3, 1.5, 0.45],
                      highlight=rollbacks)


def deployments(model: ModelReportEvidence) -> list[Node]:
    """A timeline per environment, rollbacks included with their reasons."""
    out: list[Node] = [heading("Deployments")]
    if not model.deployments:
        return out + [empty("No deployments were recorded."), *demotions(model)]
    environments = sorted({e.environment for e in model.deployments})
    for env in environments:
        events = sorted((e for e in model.deployments if e.environment == env),
                        key=lambda e: (e.deployed_at, e.seq))
        out += [heading(environment_title(model, env), 2), _timeline(events)]
        for e in events:
            if e.event != "deployed" and not e.reason:
                out.append(flag(f"rollback at seq {e.seq} gives no reason"))
    return out + demotions(model)
