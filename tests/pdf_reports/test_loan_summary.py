"""The summary page of the loan-approval model, from the evidence the report service computes
from the real ledger: a golden text with times, ids and sizes replaced by placeholders, what
is live now beside what was live at the as-of time, people by printed name, policy sentences."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from loan_scenario import MODEL, POLICY, build

from app.ledger.entry import parse_timestamp
from app.ledger.jcs import canonicalize
from app.ledger.strict_json import strict_loads
from app.services import keys as key_service
from app.services import reports
from app.services.report_bundle import open_bundle, render_bundle
from app.services.report_verify import all_passed, verify_report
from app.tracking.gates import validate_policy
from reports import ModelReportEvidence, RunReportEvidence
from reports.bundle import from_json, to_json
from reports.citations import model_citations
from reports.extract import read_attachment
from reports.policy_text import policy_sentences
from reports.summary import as_text, model_summary, run_summary

AUDITOR = "token:admin"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "policies.md"
_FAIRNESS = ("selection_rate: ratio of every sex group to male within 0.80–1.25; every group "
             "needs a recorded n ≥ 30")
_REFUSAL = ("token:dana.approver principal:dana belongs to Dana Okafor, who as token:dana "
            "registered this model version; an independent approver must decide")

GOLDEN = f"""\
Summary: model loan-approval
Model: loan-approval
Owner: credit-risk-analytics
As of: <time>
Versions: 1, 2, 3 (all versions)
Gate policy: 4 clause(s), set by token:admin on <time> (seq <n>)
Approvals required: 1 per promotion
The ledger verified when this report was made (<n> entries and <n> checkpoint(s) verified). \
Every entry the report cites is proved against the signed checkpoint at tree size <n>. \
Check it yourself with `mlaudit-verify report FILE.pdf --key KEY` (see Integrity).
Live in each environment (see Deployments)
Environment | Protection | Live at <time> and now
production | protected | version 1 since <time> (rollback by Ravi Patel (token:ravi), seq <n>)
Versions and decisions (see Promotions and decisions)
Version | Holds now | Target | Status | By | When | Seq
1 | stage Production | stage:Production | approved | Grace Lin (token:grace) | <time> | <n>
2 | — | stage:Production | rejected | Tomás Herrera (token:tomas) | <time> | <n>
3 | stage Archived | stage:Production | approved with a policy exception \
| Grace Lin (token:grace) | <time> | <n>
3 |  | stage:Production | attempt refused by the service: {_REFUSAL} \
| Dana Okafor (token:dana.approver principal:dana) | <time> | <n>
Failing gates (see Promotions and decisions)
Version | Target | Gate | Finding | Seq
2 | stage:Production | {_FAIRNESS} | female ratio 0.7013 | <n>
3 | stage:Production | {_FAIRNESS} | female ratio 0.7846 | <n>
Policy exceptions granted (see Promotions and decisions)
Version | Target | Granted by | When | Failing gates | Justification | Seq
3 | stage:Production | Grace Lin (token:grace) | <time> | {_FAIRNESS} \
| Selection-rate ratio for female applicants (0.785) is below the 0.80 band; accepted for \
90 days with monthly monitoring (ticket RISK-214). | <n>
Flags for review
Flag for review | Count | Details | Where
Groups outside the band | 2 | 55+ (age_band): version 2, lowest ratio 0.6593 (selection_rate); \
female (sex): versions 2-3, lowest ratio 0.7013 (selection_rate, version 2) \
| Per-group metrics (by version)
Groups below the minimum n | 1 | 55+ (age_band): version 2, n 12 < 30 \
| Per-group metrics (by version)
Environment only as the client reported it | 3 | versions 1-3: source and git tags, \
no Python version or packages | Lineage (by version)
Figures are shown to 4 significant digits (rounded half to even; whole numbers above 9999 \
to the nearest unit); full precision is in Appendix A and in the evidence bundle.
"""


def _placeheld(text: str) -> str:
    """Times, seqs and sizes as placeholders: what changes from one run of the scenario to
    the next, or when entries are added before it."""
    text = re.sub(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC", "<time>", text)
    text = re.sub(r"\b(seq|size) \d+", r"\1 <n>", text)
    text = re.sub(r"\(\d+ entries and \d+ checkpoints? verified\)",
                  "(<n> entries and <n> checkpoint(s) verified)", text)
    return re.sub(r"\| \d+$", "| <n>", text, flags=re.MULTILINE)


def _model(services: Any, as_of: Any = None, version: int | None = None) -> tuple[
        ModelReportEvidence, bytes]:
    issued = reports.model_report(services, AUDITOR, MODEL, version, as_of, False)
    evidence = open_bundle(issued.bundle).evidence
    assert isinstance(evidence, ModelReportEvidence)
    return evidence, issued.pdf


def test_the_loan_model_summary(client: Any, services: Any, admin_token: str) -> None:
    build(client, services, admin_token)
    model, _ = _model(services)
    text = as_text(model_summary(model))
    assert _placeheld(text) == GOLDEN, text
    assert "granted by Dana" not in text and "Dana Okafor (token:dana.approver principal:dana) |" \
        not in text.split("Policy exceptions granted")[1]


def test_a_report_as_of_before_the_rollback_says_what_is_live_now(
        client: Any, services: Any, admin_token: str) -> None:
    build(client, services, admin_token)
    latest, _ = _model(services)
    v3 = next(d for d in latest.deployments if d.version == 3 and d.event == "deployed")
    model, pdf = _model(services, parse_timestamp(v3.deployed_at))
    assert [d.version for d in model.deployments] == [1, 3]  # the body stays as of
    (production,) = model.live
    assert production.at_as_of == v3 and production.now is not None
    assert production.protected is True and production.protection_seq is not None
    assert production.protection_seq in model_citations(model)
    assert (production.now.version, production.now.event) == (1, "rolled back")
    live = model_summary(model).blocks[0]
    assert _placeheld(" | ".join(live.header)) == \
        "Environment | Protection | Live at <time> | Live now"
    assert _placeheld(" | ".join(live.rows[0])) == (
        "production | protected | version 3 since <time> (deployment by Ravi Patel "
        "(token:ravi), seq <n>) | version 1 since <time> (rollback by Ravi Patel (token:ravi), "
        "seq <n>)")
    with services.pool.connection() as conn:
        checks = verify_report(pdf, key_service.verifier_keys(conn))
    assert all_passed(checks), [(c.name, c.detail) for c in checks]  # `live` recomputed
    assert from_json(ModelReportEvidence, to_json(model)) == model


def test_a_version_report_says_what_is_live_whichever_version_it_is(
        client: Any, services: Any, admin_token: str) -> None:
    build(client, services, admin_token)
    model, _ = _model(services, version=2)
    assert [d.version for d in model.deployments] == []  # version 2 was never deployed
    (production,) = model.live
    assert production.now is not None and production.now.version == 1


def test_people_are_named_in_the_evidence(client: Any, services: Any,
                                          admin_token: str) -> None:
    s = build(client, services, admin_token)
    made = s.call("dana", "POST", f"/api/v1/models/{MODEL}/versions",
                  {"run_id": s.runs[2], "artifact_path": "model"})
    version = made.get("version", made.get("model_version", {}).get("version"))
    withdrawn = s.call("ravi", "POST", f"/api/v1/models/{MODEL}/versions/{version}/promotions",
                       {"target": "Production", "justification": "retry"})["id"]
    s.call("ravi", "POST", f"/api/v1/promotions/{withdrawn}/withdraw")
    model, _ = _model(services)
    promotions = [p for v in model.versions for p in v.promotions]
    assert {p.requested_by_name for p in promotions} == {"Ravi Patel"}
    assert {d.deployed_by_name for d in model.deployments} == {"Ravi Patel"}
    assert {v.registered_by_name for v in model.versions} == {"Dana Okafor"}
    (last,) = (p for p in promotions if p.promotion_id == withdrawn)
    assert (last.status, last.closed_by, last.closed_by_name) == (
        "withdrawn", "token:ravi", "Ravi Patel")
    rows = model_summary(model).blocks[1].rows
    assert [r[3:5] for r in rows if r[3].startswith("withdrawn")] == [
        ("withdrawn", "withdrawn by Ravi Patel (token:ravi)")]
    assert promotions[0].closed_by_name == "Grace Lin"


def test_the_policy_reads_as_sentences(client: Any, services: Any, admin_token: str) -> None:
    build(client, services, admin_token)
    model, _ = _model(services)
    assert model.policy is not None
    assert model.policy.clauses == policy_sentences(validate_policy(POLICY))
    assert _FAIRNESS in model.policy.clauses


def test_every_policy_form_in_the_docs_reads_as_a_sentence() -> None:
    """Every JSON policy example of docs/policies.md, validated as the service stores it."""
    blocks = re.findall(r"```json\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.DOTALL)
    policies = [strict_loads(b) for b in blocks]  # as the API reads a body
    assert policies, "docs/policies.md has no JSON policy example"
    for policy in policies:
        stored = validate_policy(policy.get("policy", policy))
        sentences = policy_sentences(stored)
        items = sum(len(v) if k in ("fairness", "minimums", "maximums") else int(bool(v))
                    for k, v in stored.items())
        assert len(sentences) == items, sentences
        for sentence in sentences:
            assert not re.search(r"[{}\[\]\"]", sentence), sentence


def test_runs_name_who_created_them(client: Any, services: Any, admin_token: str) -> None:
    """A model report carries the people entries (principal names); a run report does not
    (it stands on the run's entries alone), so it names the token."""
    s = build(client, services, admin_token)
    model, _ = _model(services)
    assert {v.run.created_by_name for v in model.versions} == {"Dana Okafor"}
    issued = reports.run_report(services, AUDITOR, s.runs[3], False)
    evidence = open_bundle(issued.bundle).evidence
    assert isinstance(evidence, RunReportEvidence)
    assert dict(run_summary(evidence).facts)["Created by"] == "token:dana"
    with services.pool.connection() as conn:
        assert all_passed(verify_report(issued.pdf, key_service.verifier_keys(conn)))


def test_what_is_live_now_and_who_did_it_are_recomputed_offline(
        client: Any, services: Any, admin_token: str) -> None:
    """A bundle that says another version is live now, or names another deployer, rendered
    again so footer, proofs and pages agree: its own entries say otherwise."""
    build(client, services, admin_token)
    _, pdf = _model(services)
    with services.pool.connection() as conn:
        keys = key_service.verifier_keys(conn)

    def live_now(d: dict[str, Any]) -> None:
        d["evidence"]["live"][0]["now"]["version"] = 3

    def deployer(d: dict[str, Any]) -> None:
        d["evidence"]["deployments"][0]["deployed_by_name"] = "Grace Lin"

    for change, path in ((live_now, "$.live[0].now.version"),
                         (deployer, "$.deployments[0].deployed_by_name")):
        document = json.loads(read_attachment(pdf))
        change(document)
        checks = {c.name: c for c in verify_report(render_bundle(canonicalize(document)), keys)}
        assert checks["statements"].ok is False and path in checks["statements"].detail
