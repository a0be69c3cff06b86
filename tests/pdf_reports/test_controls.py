"""The control-mapping appendix: each control's section and cited entries, or "not recorded"."""

from __future__ import annotations

import dataclasses

from model_factory import make_model_evidence

from reports import ModelReportEvidence
from reports.citations import model_citations
from reports.controls import NO_LEGAL_DETERMINATION, NOT_RECORDED, Control, controls, seq_ranges

CONTROLS = [
    ("EU AI Act (Regulation (EU) 2024/1689)",
     "Annex IV 2(g): test logs and all test reports dated and signed by the responsible "
     "persons"),
    ("EU AI Act (Regulation (EU) 2024/1689)",
     "Annex IV 3: degrees of accuracy for specific persons or groups of persons"),
    ("EU AI Act (Regulation (EU) 2024/1689)",
     'Art. 12: Record-keeping ("automatic recording of events (logs) over the lifetime of the '
     'system")'),
    ("SR 26-2 (supersedes SR 11-7)", "Model inventory"),
    ("SR 26-2 (supersedes SR 11-7)", "Independent validation (effective challenge)"),
    ("SR 26-2 (supersedes SR 11-7)", "Ongoing monitoring"),
    ("21 CFR Part 11", "§ 11.10(e) (controls for closed systems): audit trails"),
    ("21 CFR Part 11",
     "§ 11.50: Signature manifestations (printed name, date and time, meaning)"),
    ("ECOA / Regulation B (12 CFR part 1002)", "Disparate-impact analysis"),
    ("ISO/IEC 42001:2023", "A.6.2.8: AI system recording of event logs"),
]


def _by_control(model: ModelReportEvidence) -> dict[str, Control]:
    return {c.control.split(":")[0]: c for c in controls(model)}


def test_every_control_in_a_fixed_order() -> None:
    model, _ = make_model_evidence()
    assert [(c.framework, c.control) for c in controls(model)] == CONTROLS


def test_every_cited_seq_is_a_seq_the_report_cites() -> None:
    model, _ = make_model_evidence()
    cited = set(model_citations(model))
    for c in controls(model):
        assert set(c.seqs) <= cited, c.control
        assert c.status != NOT_RECORDED and c.sections and c.kinds


def test_the_scenario_cites_the_right_entries() -> None:
    c = _by_control(make_model_evidence()[0])
    assert c["Annex IV 2(g)"].seqs == (720, 721, 740, 741, 742, 760, 761)
    assert c["Annex IV 2(g)"].kinds == ("decision.approved", "decision.refused",
                                        "decision.rejected", "promotion.requested")
    assert c["Annex IV 3"].kinds == ("metrics.logged", "policy.set")
    assert 3 in c["Annex IV 3"].seqs  # the policy.set entry that fixed the band
    assert c["Model inventory"].seqs == (2, 301, 302, 303)
    assert c["Ongoing monitoring"].seqs == (800, 801, 802, 803)
    assert c["Ongoing monitoring"].status == "partly recorded"
    # Only approvals and rejections are signatures; the refusal at 741 is not one.
    assert c["§ 11.50"].seqs == (721, 742, 761)
    assert 741 in c["§ 11.10(e) (controls for closed systems)"].seqs


def test_signatures_without_a_printed_name_are_partly_recorded() -> None:
    model, _ = make_model_evidence()
    assert _by_control(model)["§ 11.50"].status == "partly recorded"
    named = tuple(dataclasses.replace(v, promotions=tuple(dataclasses.replace(p, decisions=tuple(
        dataclasses.replace(d, printed_name="Olga Risk") for d in p.decisions))
        for p in v.promotions)) for v in model.versions)
    signed = _by_control(dataclasses.replace(model, versions=named))["§ 11.50"]
    assert signed.status == "recorded"
    assert signed.note == "every decision shows the printed name, the time and the meaning"


def test_missing_evidence_reads_not_recorded() -> None:
    """A model with one version, no promotions, no per-group metrics and no deployments."""
    model, _ = make_model_evidence()
    bare = dataclasses.replace(model.versions[0], promotions=(), run=dataclasses.replace(
        model.versions[0].run, group_summaries=()))
    model = dataclasses.replace(model, versions=(bare,), deployments=(), policy=None)
    c = _by_control(model)
    for name in ("Annex IV 2(g)", "Annex IV 3", "Independent validation (effective challenge)",
                 "Ongoing monitoring", "§ 11.50", "Disparate-impact analysis"):
        assert c[name].status == NOT_RECORDED, name
        assert c[name].seqs == () and c[name].sections == () and c[name].note == ""
    assert c["Model inventory"].status == "recorded"
    assert c["Art. 12"].seqs == (2, 301)


def test_a_failed_ledger_verification_is_said_at_the_audit_trail() -> None:
    model, _ = make_model_evidence(meta={"ledger_verified": False, "forced": True,
                                         "ledger_problem": "seq 17: modified"})
    note = _by_control(model)["§ 11.10(e) (controls for closed systems)"].note
    assert note.endswith("ledger verification FAILED: seq 17: modified")


def test_no_legal_determination() -> None:
    assert "makes no legal determination" in NO_LEGAL_DETERMINATION


def test_seq_ranges() -> None:
    assert seq_ranges([]) == NOT_RECORDED
    assert seq_ranges([5]) == "5"
    assert seq_ranges([3, 2, 100, 101, 102, 700, 2]) == "2-3, 100-102, 700"
