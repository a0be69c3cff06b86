"""Page 1 of every report is its summary, on one page: a golden text of the loan-approval
model report's first page as a PDF reader extracts it, and the body starting on page 2 of the
loan model, run and experiment reports and of the factory model report."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
from loan_scenario import MODEL, build
from model_factory import make_model_evidence, make_versions
from report_factory import page_texts

from app.services import reports
from app.services.report_bundle import open_bundle
from reports import ModelReportEvidence
from reports.outline import PROMOTIONS
from reports.render import render_model_report
from reports.summary_model import MAX_VERSION_ROWS, version_rows

AUDITOR = "token:admin"
_GATE = ("selection_rate: ratio of every sex group to male within 0.80–1.25; every group "
         "needs a recorded n ≥ 30")
_REFUSAL = ("token:dana.approver principal:dana belongs to Dana Okafor, who as token:dana "
            "registered this model version; an independent approver must decide")

GOLDEN = (
    "Model report: loan-approval "
    "The ledger verified when this report was made (<n> entries and <n> checkpoint(s) "
    "verified). Every entry the report cites is proved against the signed checkpoint at tree "
    "size <n>. Check it yourself with `mlaudit-verify report FILE.pdf --key KEY` (see "
    "Integrity). "
    "Model loan-approval Owner credit-risk-analytics As of <time> Versions 1, 2, 3 (all "
    "versions) Gate policy 4 clause(s), set by token:admin on <time> (seq {policy}) "
    "Approvals required 1 per promotion "
    "Live in each environment (see Deployments) Environment Protection Live at <time> and now "
    "production protected version 1 since <time> (rollback by Ravi Patel (token:ravi), "
    "seq {rollback}) "
    "Versions and decisions (see Promotions and decisions) "
    "Version Holds now Target Status By When Seq "
    "1 stage Production stage:Production approved Grace Lin (token:grace) <time> {v1} "
    "2 — stage:Production rejected Tomás Herrera (token:tomas) <time> {v2} "
    "3 stage Archived stage:Production approved with a policy exception Grace Lin "
    "(token:grace) <time> {v3} "
    f"3 stage:Production attempt refused by the service: {_REFUSAL} Dana Okafor "
    "(token:dana.approver principal:dana) <time> {refused} "
    "Failing gates (see Promotions and decisions) Version Target Gate Finding Seq "
    f"2 stage:Production {_GATE} female ratio 0.7013 {{v2}} "
    f"3 stage:Production {_GATE} female ratio 0.7846 {{v3}} "
    "Policy exceptions granted (see Promotions and decisions) "
    "Version Target Granted by When Failing gates Justification Seq "
    f"3 stage:Production Grace Lin (token:grace) <time> {_GATE} Selection-rate ratio for "
    "female applicants (0.785) is below the 0.80 band; accepted for 90 days with monthly "
    "monitoring (ticket RISK-214). {v3} "
    "Flags for review Flag for review Count Details Where "
    "Groups outside the band 2 55+ (age_band): version 2, lowest ratio 0.6593 "
    "(selection_rate); female (sex): versions 2-3, lowest ratio 0.7013 (selection_rate, "
    "version 2) Per-group metrics (by version) "
    "Groups below the minimum n 1 55+ (age_band): version 2, n 12 < 30 Per-group metrics "
    "(by version) "
    "Environment only as the client reported it 3 versions 1-3: source and git tags, no "
    "Python version or packages Lineage (by version) "
    "Figures are shown to 4 significant digits (rounded half to even; whole numbers above "
    "9999 to the nearest unit); full precision is in Appendix A and in the evidence bundle. "
    "A flag for review calls for a reviewer's judgement; this report makes no legal or "
    "regulatory determination. "
    "Model report <id> as of <instant>; mlaudit <version>, template 3, <renderer>. "
    "Evidence SHA-256 <sha256> page 1 of <n>Report <id>"
)


def _placeheld(text: str) -> str:
    """Times, ids, hashes, versions and counts as placeholders (seqs are checked exactly)."""
    text = re.sub(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC", "<time>", text)
    text = re.sub(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", "<instant>", text)
    text = re.sub(r"\b[0-9a-f]{64}\b", "<sha256>", text)
    text = re.sub(r"\b[0-9a-f]{32}\b", "<id>", text)
    text = re.sub(r"\(\d+ entries and \d+ checkpoints? verified\)",
                  "(<n> entries and <n> checkpoint(s) verified)", text)
    text = re.sub(r"tree size \d+", "tree size <n>", text)
    text = re.sub(r"mlaudit \d+\.\d+\.\d+\S*,", "mlaudit <version>,", text)
    text = re.sub(r"ReportLab [\w.]+\.", "<renderer>.", text)
    return re.sub(r"page 1 of \d+", "page 1 of <n>", text)


def _seqs(model: ModelReportEvidence) -> dict[str, int]:
    decisions = {(v.version, d.outcome): d.seq for v in model.versions
                 for p in v.promotions for d in p.decisions}
    (rollback,) = [d.seq for d in model.deployments if d.event != "deployed"]
    assert model.policy is not None
    return {"policy": model.policy.seq, "rollback": rollback, "v1": decisions[1, "approved"],
            "v2": decisions[2, "rejected"], "v3": decisions[3, "approved"],
            "refused": decisions[3, "refused"]}


@pytest.fixture
def loan(client: Any, services: Any, admin_token: str) -> dict[str, bytes]:
    s = build(client, services, admin_token)
    model = reports.model_report(services, AUDITOR, MODEL, None, None, False)
    return {"model": model.pdf, "bundle": model.bundle,
            "run": reports.run_report(services, AUDITOR, s.runs[3], False).pdf,
            "experiment": reports.experiment_report(services, AUDITOR, s.experiment_id,
                                                    False).pdf}


def test_page_one_of_the_loan_model_report(loan: dict[str, bytes]) -> None:
    evidence = open_bundle(loan["bundle"]).evidence
    assert isinstance(evidence, ModelReportEvidence)
    first = page_texts(loan["model"])[0]
    assert _placeheld(first) == GOLDEN.format(**_seqs(evidence)), first


def _one_page(pdf: bytes, body: str) -> None:
    """The summary ends on page 1 (its last line, the report's own facts, is there) and the
    body's first section opens page 2."""
    pages = page_texts(pdf)
    assert re.search(r"report [0-9a-f]{32} as of \S+; mlaudit .+, template \d+, .+\. "
                     r"Evidence SHA-256", pages[0]), pages[0][-300:]
    assert pages[1].startswith(body), pages[1][:200]


def test_the_summary_is_one_page_in_every_loan_report(loan: dict[str, bytes]) -> None:
    _one_page(loan["model"], "Model Model loan-approval")
    _one_page(loan["run"], "Lineage ")
    _one_page(loan["experiment"], "Experiment Experiment ")


def test_the_summary_is_one_page_in_the_factory_model_report() -> None:
    evidence, bundle = make_model_evidence()
    _one_page(render_model_report(evidence, bundle), "Model Model credit-risk")


def test_a_model_report_ends_with_its_appendices_in_order() -> None:
    evidence, bundle = make_model_evidence()
    pages = page_texts(render_model_report(evidence, bundle))
    starts = [p.split(" ", 3)[:3] for p in pages]
    order = [" ".join(s) for s in starts if s[0] in ("Integrity", "Appendix")]
    assert order == ["Integrity Check this", "Appendix A: figures", "Appendix B: control",
                     "Appendix C: integrity"], order
    text = " ".join(pages)
    assert "mlaudit-verify report FILE.pdf --key KEY" in text and "byte for byte" not in text
    assert "makes no legal determination" in text


def test_a_decisions_gates_print_again_only_when_they_differ() -> None:
    evidence, original = make_model_evidence()
    version = evidence.versions[1]
    promotion = version.promotions[0]
    decision = promotion.decisions[-1]
    changed = tuple(dataclasses.replace(g, passed=not g.passed) for g in decision.gates)
    promotion = dataclasses.replace(promotion, decisions=(
        *promotion.decisions[:-1], dataclasses.replace(decision, gates=changed)))
    versions = list(evidence.versions)
    versions[1] = dataclasses.replace(version, promotions=(promotion,))
    model, bundle = make_model_evidence(versions=tuple(versions))
    text = " ".join(page_texts(render_model_report(model, bundle)))
    assert "Policy gates at decision time:" in text
    assert text.count("Gates at decision time: as at request") == \
        " ".join(page_texts(render_model_report(evidence, original))).count(
            "Gates at decision time: as at request") - 1


def _many_versions(count: int) -> tuple[ModelReportEvidence, bytes]:
    """The factory model with ``count`` versions, as a long history reads: most approved
    routinely (the factory's version 3), one rejected (version 5, the factory's 1) and one
    approved with an exception after a refused attempt (version 12, the factory's 2)."""
    base = make_versions()
    template = {5: base[0], 12: base[1]}
    versions = tuple(dataclasses.replace(template.get(n, base[2]), version=n, seq=300 + n)
                     for n in range(1, count + 1))
    return make_model_evidence(versions=versions)


def test_the_summary_stays_one_page_with_twenty_versions() -> None:
    """Past MAX_VERSION_ROWS rows, the versions that are not live, not newest and not
    unusual share one row, and the table says where they are in full."""
    evidence, bundle = _many_versions(20)
    header, rows, refused = version_rows(evidence)
    assert len(rows) <= MAX_VERSION_ROWS and rows[0][3].endswith(
        f"each in full under {PROMOTIONS}")
    shown = {r[0] for r in rows[1:]}
    assert {"18", "19", "20"} <= shown  # the newest
    assert all(rows[i][3].startswith("attempt refused") for i in refused)
    _one_page(render_model_report(evidence, bundle), "Model Model credit-risk")
