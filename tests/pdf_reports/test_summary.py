"""The one-page summary as data: live versions, statuses, gates, exceptions, flags, integrity."""

from __future__ import annotations

import dataclasses
from typing import Any

from model_factory import make_model_evidence
from report_factory import empty_run, make_experiment_evidence, make_run, make_run_evidence

from reports import DecisionEvidence, ModelReportEvidence, PromotionEvidence
from reports.evidence import LiveEvidence
from reports.summary import (
    MAX_RUNS,
    Block,
    as_text,
    experiment_summary,
    model_summary,
    run_summary,
)
from reports.summary_data import run_labels

GOLDEN_MODEL = """\
Summary: model credit-risk
Model: credit-risk
Owner: risk-analytics
As of: 2026-03-15 12:00:00 UTC
Versions: 1, 2, 3 (all versions)
Gate policy: 3 clause(s), set by maria.chen on 2026-03-01 09:00:00 UTC (seq 3)
Approvals required: 1 per promotion
The ledger verified when this report was made (4096 entries and 12 checkpoints verified). \
Every entry the report cites is proved against the signed checkpoint at tree size 4096. \
Check it yourself with `mlaudit-verify report FILE.pdf --key KEY` (see Integrity).
Live in each environment (see Deployments)
Environment | Protection | Live at 2026-03-15 12:00:00 UTC
production | not declared | version 2 since 2026-03-12 07:45:00 UTC (rollback by ops.carol, seq 803)
staging | not declared | version 2 since 2026-03-06 16:00:00 UTC (deployment by ops.carol, seq 800)
Versions and decisions (see Promotions and decisions)
Version | Holds now | Target | Status | By | When | Seq
1 | — | stage:Production | rejected | olga.risk | 2026-03-04 11:00:00 UTC | 721
2 | stage Production | stage:Production | approved with a policy exception | olga.risk \
| 2026-03-06 15:30:00 UTC | 742
2 |  | stage:Production | attempt refused by the service: the approver authored the run \
behind this version | dev.alice | 2026-03-06 10:00:00 UTC | 741
3 | stage Staging, @champion | alias:champion | approved | olga.risk | 2026-03-10 12:00:00 UTC \
| 761
Failing gates (see Promotions and decisions)
Version | Target | Gate | Finding | Seq
1 | stage:Production | fairness | selection_rate by sex: min/max ratio at least 0.8 | 721
2 | stage:Production | fairness | selection_rate by sex: min/max ratio at least 0.8 | 742
Policy exceptions granted (see Promotions and decisions)
Version | Target | Granted by | When | Failing gates | Justification | Seq
2 | stage:Production | olga.risk | 2026-03-06 15:30:00 UTC | fairness | Fairness gate below \
threshold for age 55+ (n=12, too small to assess); re-evaluate on the Q2 sample. | 742
Flags for review
Flag for review | Count | Details | Where
Groups outside the band | 2 | 55+ (age_band): versions 1-3, lowest ratio 0.6693 \
(selection_rate, version 1); nonbinary (sex): versions 1-3, lowest ratio 0.6693 \
(selection_rate, version 1) | Per-group metrics (by version)
Groups below the minimum n | 1 | 55+ (age_band): versions 1-3, n 12 < 30 | Per-group metrics \
(by version)
Figures are shown to 4 significant digits (rounded half to even; whole numbers above 9999 to \
the nearest unit); full precision is in Appendix A and in the evidence bundle.
"""


def _block(blocks: tuple[Block, ...], title: str) -> Block:
    return next(b for b in blocks if b.title == title)


def _with_promotion(model: ModelReportEvidence, version: int,
                    change: Any) -> ModelReportEvidence:
    versions = tuple(dataclasses.replace(v, promotions=tuple(change(p) for p in v.promotions))
                     if v.version == version else v for v in model.versions)
    return dataclasses.replace(model, versions=versions)


def test_golden_model_summary() -> None:
    model, _ = make_model_evidence()
    assert as_text(model_summary(model)) == GOLDEN_MODEL


def test_a_refused_attempt_is_never_an_exception_grant() -> None:
    """Even with an exception text and failing gates in its body, a refusal reads as a
    refusal with its reason, and the exceptions block names only the approver."""
    model, _ = make_model_evidence()

    def forge(p: PromotionEvidence) -> PromotionEvidence:
        gates = p.decisions[1].gates  # failing
        refused = dataclasses.replace(p.decisions[0], exception="self-granted", gates=gates)
        return dataclasses.replace(p, decisions=(refused, p.decisions[1]))

    summary = model_summary(_with_promotion(model, 2, forge))
    granted = _block(summary.blocks, "Policy exceptions granted")
    assert [row[2] for row in granted.rows] == ["olga.risk"]
    assert "self-granted" not in as_text(summary).split("Policy exceptions granted")[1]
    versions = _block(summary.blocks, "Versions and decisions")
    refusal = versions.rows[versions.highlight[0]]
    assert refusal[3].startswith("attempt refused by the service: the approver authored")
    assert refusal[4] == "dev.alice" and "approved" not in refusal[3]


def test_an_approval_over_a_failing_gate_without_justification_is_flagged() -> None:
    model, _ = make_model_evidence()

    def strip(p: PromotionEvidence) -> PromotionEvidence:
        return dataclasses.replace(p, decisions=tuple(
            dataclasses.replace(d, exception=None) for d in p.decisions))

    granted = _block(model_summary(_with_promotion(model, 2, strip)).blocks,
                     "Policy exceptions granted")
    assert granted.rows[0][5] == "no exception justification recorded"
    assert granted.highlight == (0,) and granted.tone == "flag"


def test_the_printed_name_is_shown_when_the_evidence_has_it() -> None:
    model, _ = make_model_evidence()

    def name(p: PromotionEvidence) -> PromotionEvidence:
        return dataclasses.replace(p, decisions=tuple(
            dataclasses.replace(d, printed_name="Olga Risk") if d.approver == "olga.risk"
            else d for d in p.decisions))

    summary = model_summary(_with_promotion(model, 2, name))
    assert _block(summary.blocks, "Policy exceptions granted").rows[0][2] == "Olga Risk (olga.risk)"
    assert _block(summary.blocks, "Versions and decisions").rows[1][4] == "Olga Risk (olga.risk)"


def test_live_at_the_as_of_time_and_latest_recorded() -> None:
    """Evidence that runs past the as-of time gets a "Latest recorded" column."""
    model, _ = make_model_evidence(meta={"as_of": "2026-03-11T12:00:00Z"})
    live = _block(model_summary(model).blocks, "Live in each environment")
    assert live.header[-2:] == ("Live at 2026-03-11 12:00:00 UTC", "Latest recorded")
    production = live.rows[0]
    assert production[2].startswith("version 3 since 2026-03-11 08:00:00 UTC (deployment")
    assert production[3].startswith("version 2 since 2026-03-12 07:45:00 UTC (rollback")


def test_live_evidence_gives_live_at_as_of_and_now() -> None:
    """With `live` in the evidence: one column when nothing moved after the as-of time, two
    when something did, and a declared environment with nothing deployed says so."""
    model, _ = make_model_evidence(meta={"as_of": "2026-03-11T12:00:00Z"})
    rollback, deployment = model.deployments[-1], model.deployments[0]
    live = (LiveEvidence("production", True, deployment, rollback, 5),
            LiveEvidence("sandbox", False, None, None, 6))
    block = _block(model_summary(dataclasses.replace(model, live=live)).blocks,
                   "Live in each environment")
    assert block.header[2:] == ("Live at 2026-03-11 12:00:00 UTC", "Live now")
    assert block.rows[0][:2] == ("production", "protected")
    assert block.rows[0][3].startswith(f"version {rollback.version} since")
    assert block.rows[1] == ("sandbox", "unprotected", "nothing deployed", "nothing deployed")
    same = (LiveEvidence("production", None, rollback, rollback, None),)
    block = _block(model_summary(dataclasses.replace(model, live=same)).blocks,
                   "Live in each environment")
    assert block.header[2:] == ("Live at 2026-03-11 12:00:00 UTC and now",)
    assert block.rows[0][1] == "not declared"


def test_nothing_deployed_and_no_policy() -> None:
    model, _ = make_model_evidence(deployments=(), policy=None)
    summary = model_summary(model)
    assert _block(summary.blocks, "Live in each environment").rows == ()
    assert dict(summary.facts)["Gate policy"].startswith("no policy set")
    failing = _block(summary.blocks, "Failing gates")
    assert failing.empty == "no policy set: no gates were evaluated (this is not a pass)."


def test_pending_withdrawn_and_unpromoted_versions() -> None:
    model, _ = make_model_evidence()
    model = _with_promotion(model, 1, lambda p: dataclasses.replace(
        p, status="withdrawn", status_reason="superseded by version 2", decisions=()))
    model = _with_promotion(model, 3, lambda p: dataclasses.replace(
        p, status="pending", decisions=()))
    bare = dataclasses.replace(model.versions[0], version=4, promotions=(), seq=304)
    model = dataclasses.replace(model, versions=(*model.versions, bare))
    rows = _block(model_summary(model).blocks, "Versions and decisions").rows
    statuses = {r[0]: (r[3], r[4]) for r in rows if r[3] and not r[3].startswith("attempt")}
    assert statuses["1"] == ("withdrawn: superseded by version 2", "requested by dev.alice")
    assert statuses["3"] == ("pending", "requested by dev.bob")
    assert statuses["4"] == ("registered; no promotion requested", "dev.bob")


def test_failing_gates_come_from_the_latest_evaluation() -> None:
    """Gates fixed between request and decision are not reported as failing."""
    model, _ = make_model_evidence()

    def passing(p: PromotionEvidence) -> PromotionEvidence:
        decisions = tuple(dataclasses.replace(d, gates=tuple(
            dataclasses.replace(g, passed=True) for g in d.gates)) for d in p.decisions)
        return dataclasses.replace(p, decisions=decisions)

    failing = _block(model_summary(_with_promotion(model, 1, passing)).blocks, "Failing gates")
    assert [r[0] for r in failing.rows] == ["2"]


def test_a_failed_ledger_verification_leads_the_summary() -> None:
    model, _ = make_model_evidence(meta={"ledger_verified": False, "forced": True,
                                         "ledger_problem": "seq 17: modified"})
    verdict = model_summary(model).integrity
    assert not verdict.ok
    assert verdict.text.startswith("LEDGER VERIFICATION FAILED when this report was made: "
                                   "seq 17: modified. An administrator forced this report.")


def test_run_summary() -> None:
    run = make_run(0, metrics=tuple(
        dataclasses.replace(m, value="0.8083333333333333") for m in make_run(0).metrics))
    evidence, _ = make_run_evidence(run=run)
    summary = run_summary(evidence)
    assert dict(summary.facts)["Status"] == "FINISHED"
    assert [r[:2] for r in summary.blocks[0].rows] == [("accuracy", "0.8083"),
                                                       ("auc", "0.8083")]
    flags = summary.blocks[1]
    assert [r[0] for r in flags.rows] == ["Groups outside the band",
                                          "Groups below the minimum n"]
    assert flags.rows[1][2] == "55+ (age_band): this run, n 12 < 30"


def test_an_empty_run_has_nothing_to_show_but_says_so() -> None:
    evidence, _ = make_run_evidence(run=empty_run())
    summary = run_summary(evidence)
    assert dict(summary.facts)["Ended"] == "still running"
    assert summary.blocks[0].rows == () and summary.blocks[0].empty
    assert [r[0] for r in summary.blocks[1].rows] == ["No execution environment recorded"]


def test_experiment_summary_disambiguates_runs_and_stays_short() -> None:
    evidence, _ = make_experiment_evidence()
    runs = tuple(dataclasses.replace(r, name="ci-gbm-7") if i in (3, 4) else r
                 for i, r in enumerate(evidence.runs))
    runs += tuple(dataclasses.replace(make_run(i), run_id=f"{i:032x}") for i in range(10, 20))
    evidence = dataclasses.replace(evidence, runs=runs)
    labels = run_labels(evidence.runs)
    assert labels[runs[3].run_id] != labels[runs[4].run_id]
    assert labels[runs[3].run_id] == f"ci-gbm-7 ({runs[3].run_id[:8]}, FINISHED)"
    summary = experiment_summary(evidence)
    table = summary.blocks[0]
    assert len(table.rows) == MAX_RUNS + 1 and table.rows[-1][0] == "and 5 more runs"
    assert dict(summary.facts)["Runs"] == "20 (20 finished)"
    outside = summary.blocks[1].rows[0]
    assert "ratio undefined for selection_rate" in outside[2] and "20 runs" in outside[2]


def test_decision_outcomes_are_read_only_from_outcome() -> None:
    """A decision whose meaning text claims approval but whose outcome is refused is not an
    approval anywhere in the summary."""
    model, _ = make_model_evidence()

    def lying(p: PromotionEvidence) -> PromotionEvidence:
        d: DecisionEvidence = dataclasses.replace(
            p.decisions[0], outcome="refused", meaning="approval for release",
            exception="granted", reason="approver is the requester")
        return dataclasses.replace(p, status="pending", decisions=(d,))

    summary = model_summary(_with_promotion(model, 3, lying))
    assert all(r[0] != "3" for r in _block(summary.blocks, "Policy exceptions granted").rows)
    rows = [r for r in _block(summary.blocks, "Versions and decisions").rows if r[0] == "3"]
    assert [r[3] for r in rows] == ["pending",
                                    "attempt refused by the service: approver is the requester"]
