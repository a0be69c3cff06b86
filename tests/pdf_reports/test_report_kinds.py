"""Run and experiment reports, the empty run, the forced report, and wording rules."""

from __future__ import annotations

import dataclasses

import pytest
from model_factory import make_model_evidence
from report_factory import (
    empty_run,
    make_experiment_evidence,
    make_run_evidence,
    page_texts,
    squeezed,
)

from reports import (
    ExperimentReportEvidence,
)
from reports.figures import figure
from reports.page import FAILURE_LINE
from reports.render import render_experiment_report, render_model_report, render_run_report

PROBLEM = "seq 17: modified (leaf hash differs)"
FORCED = {"ledger_verified": False, "forced": True, "ledger_problem": PROBLEM}


@pytest.fixture(scope="module")
def run_pages() -> list[str]:
    evidence, bundle = make_run_evidence()
    return page_texts(render_run_report(evidence, bundle))


@pytest.fixture(scope="module")
def experiment() -> tuple[ExperimentReportEvidence, list[str]]:
    evidence, bundle = make_experiment_evidence()
    return evidence, page_texts(render_experiment_report(evidence, bundle))


@pytest.fixture(scope="module")
def forced_pages() -> list[str]:
    evidence, bundle = make_model_evidence(meta=FORCED)
    return page_texts(render_model_report(evidence, bundle))


def test_run_report_has_the_run_sections_and_no_registry_parts(run_pages: list[str]) -> None:
    text = " ".join(run_pages)
    for heading in ("Lineage", "Parameters", "Overall metrics", "Per-group metrics",
                    "Artifacts", "Integrity"):
        assert heading in text
    assert "learning_rate 0.05" in text and "accuracy 0.8 10" in text  # "0.80" as a figure
    assert "female (reference) 400 0.62 1 0" in text
    assert "Promotions and decisions" not in text and "Deployments" not in text
    evidence, _ = make_run_evidence()
    for ds in evidence.run.datasets:
        assert ds.digest in squeezed(run_pages)
    appendix = next(i for i, p in enumerate(run_pages) if p.lstrip().startswith("Appendix"))
    body, evidence_page = squeezed(run_pages[:appendix]), squeezed(run_pages[-1:])
    for a in evidence.run.artifacts:  # a short digest in the body; the full one in Appendix B
        assert a.sha256[:12] + "\u2026" in body
        assert a.sha256 not in body and a.sha256 in evidence_page


def test_experiment_comparison_table_has_chosen_metrics_and_group_ratios(
        experiment: tuple[ExperimentReportEvidence, list[str]]) -> None:
    evidence, pages = experiment
    text = " ".join(pages)
    assert "Comparison of runs" in text
    assert "true_positive_ratebyage_band:min/maxratio" in squeezed(pages)
    for run in evidence.runs:
        accuracy, auc = (figure(m.value) for m in run.metrics)
        ratio = figure(run.group_summaries[0].min_max_ratio)
        assert f"FINISHED {accuracy} {auc} {ratio}" in text, run.name
        assert f"Run {run.name}" in text
    assert "undefined" in text
    assert "flag for review: selection_rate by sex, group nonbinary" in text


def test_empty_run_says_honestly_that_nothing_was_logged() -> None:
    evidence, bundle = make_run_evidence(run=empty_run())
    text = " ".join(page_texts(render_run_report(evidence, bundle)))
    for statement in ("No code source was recorded.", "This run has no parent run.",
                      "No datasets were logged.", "No execution environment was recorded:",
                      "No parameters were logged.", "No metrics were logged.",
                      "No per-group metrics were logged.", "No artifacts were recorded.",
                      "not ended"):
        assert statement in text


def test_empty_experiment_and_model_without_promotions_or_deployments() -> None:
    evidence, bundle = make_experiment_evidence(runs=())
    text = " ".join(page_texts(render_experiment_report(evidence, bundle)))
    assert "The experiment has no runs." in text
    model, bundle = make_model_evidence(policy=None, deployments=(), versions=(
        dataclasses.replace(make_model_evidence()[0].versions[0], promotions=()),))
    text = " ".join(page_texts(render_model_report(model, bundle)))
    for statement in ("No promotions were requested.", "No deployments were recorded.",
                      "No policy set", "No approvals were recorded"):
        assert statement in text


def test_forced_report_warns_on_the_cover_and_in_every_footer(forced_pages: list[str]) -> None:
    assert FAILURE_LINE == "LEDGER VERIFICATION FAILED \u2014 see Integrity"
    assert f"Verification at generation time found: {PROBLEM}" in forced_pages[0]
    assert "An administrator forced this report." in forced_pages[0]
    for page in forced_pages:
        assert FAILURE_LINE in page
    (integrity,) = [p for p in forced_pages if "Ledger verification at generation time" in p]
    assert f"Found: {PROBLEM}" in integrity


def test_verified_report_has_no_failure_warning(run_pages: list[str]) -> None:
    assert not any("LEDGER VERIFICATION FAILED" in page for page in run_pages)


def test_never_says_compliant(run_pages: list[str], forced_pages: list[str],
                              experiment: tuple[ExperimentReportEvidence, list[str]]) -> None:
    for pages in (run_pages, forced_pages, experiment[1]):
        assert "compliant" not in " ".join(pages).lower()
        assert "flag for review" in " ".join(pages)
