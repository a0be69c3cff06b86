"""Model report content: lineage, parameters, per-group figures, decisions, deployments."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from model_factory import make_model_evidence
from report_factory import page_texts, squeezed

from reports import ModelReportEvidence
from reports.figures import figure
from reports.render import render_model_report


@dataclass(frozen=True)
class Rendered:
    evidence: ModelReportEvidence
    bundle: bytes
    pdf: bytes
    pages: list[str]

    @property
    def text(self) -> str:
        return " ".join(self.pages)


@pytest.fixture(scope="module")
def model() -> Rendered:
    evidence, bundle = make_model_evidence()
    pdf = render_model_report(evidence, bundle)
    return Rendered(evidence, bundle, pdf, page_texts(pdf))


def test_cover_names_model_versions_checkpoint_and_hash(model: Rendered) -> None:
    cover = model.pages[0]
    meta = model.evidence.meta
    for fact in ("credit-risk", "1, 2, 3 (all versions)", meta.as_of, "mlaudit 0.1.0",
                 "tree size 4096", "verified when this report was made (4096 entries"):
        assert fact in cover
    assert meta.evidence_sha256 in squeezed([cover])
    assert meta.report_id in cover
    assert "a1b2c3d4" not in cover  # the key id is in the integrity appendix


def test_parameters_and_overall_metrics_of_every_version(model: Rendered) -> None:
    for version in model.evidence.versions:
        for param in version.run.params[:2]:
            assert f"{param.key} {param.value}" in model.text
        for metric in version.run.metrics:
            assert f"{metric.key} {figure(metric.value)} {metric.step}" in model.text
    assert "feature_11_normalised_income_ratio" in squeezed(model.pages)


def test_per_group_rows_show_n_value_ratio_and_difference(model: Rendered) -> None:
    for version in model.evidence.versions:
        for summary in version.run.group_summaries:
            assert f"{summary.metric} by {summary.attribute}" in model.text
            assert f"Min/max ratio: {figure(summary.min_max_ratio)}." in model.text
            for g in summary.groups:
                row = f"{g.n} {figure(g.value)} {figure(g.ratio)} {figure(g.difference)}"
                assert row in model.text, row


def test_band_policy_and_flags_for_review(model: Rendered) -> None:
    assert ("Band applied: ratio to the reference from 0.8 to 1.25 inclusive, set by maria.chen "
            "at 2026-03-01 09:00:00 UTC (seq 3)") in model.text
    assert "flag for review: group nonbinary: ratio 0.66" in model.text
    assert "n 12 below the minimum 30" in model.text
    assert "1.25 x ref" in model.text and "0.8 x ref" in model.text
    assert ("No per-group metrics were logged for the sensitive attribute ethnicity."
            in model.text)


def test_lineage_datasets_and_environment(model: Rendered) -> None:
    run = model.evidence.versions[0].run
    flat = squeezed(model.pages)
    assert run.parents[0].run_id in flat
    assert dict(run.source)["git_commit"] in flat
    for ds in run.datasets:
        assert ds.digest in flat
    assert "sex=female: 1003" in model.text
    assert "numpy 2.1.0, scikit-learn 1.5.2" in model.text


def test_artifacts_with_short_digests_and_signature_status(model: Rendered) -> None:
    """A short digest per row; full digests, envelope digests and keys stay in the bundle."""
    appendix = next(i for i, p in enumerate(model.pages) if p.lstrip().startswith("Appendix"))
    flat = squeezed(model.pages[:appendix])  # the body; the full values are in Appendix C
    evidence = squeezed(model.pages[-1:])
    for version in model.evidence.versions:
        for artifact in version.run.artifacts:
            assert artifact.sha256[:12] + "\u2026" in flat
            assert artifact.sha256 not in flat and artifact.sha256 in evidence
            assert artifact.envelope_sha256 is None or artifact.envelope_sha256 not in flat
    assert "verified, key a1b2c3d4" in model.text
    assert "Artifact signatures by key id a1b2c3d4." in model.text
    assert "unsigned" in model.text


def test_promotions_decisions_and_exceptions(model: Rendered) -> None:
    text = model.text
    assert "Version 2 to stage:Production" in text
    assert "Signed by olga.risk (model-risk-officer)" in text
    assert "Meaning of signature approval for release to the target" in text
    assert "Refused because the approver authored the run behind this version" in text
    assert "Selection-rate gap for nonbinary applicants is too wide." in text
    assert "flag for review: policy exception granted by olga.risk" in text
    assert "not passed: flag for review" in text
    assert "Policy gates at request time:" in text  # the factory's decisions see the same
    assert "Gates at decision time: as at request" in text  # gates, so one line each
    assert "Policy gates at decision time:" not in text


def test_separation_of_duties_statement(model: Rendered) -> None:
    assert "Checked 2 approval(s), comparing people rather than tokens: each approver is a " \
        "person other than" in model.text
    assert "The service refused 1 attempted decision(s)" in model.text


def test_deployment_timeline_per_environment_with_rollback(model: Rendered) -> None:
    text = model.text
    assert "Environment: production" in text and "Environment: staging" in text
    assert text.index("Environment: production") < text.index("Environment: staging")
    assert "rolled back" in text
    assert "Latency regression above the 150 ms SLO after the v3 rollout" in text
    assert model.evidence.deployments[0].image_digest in squeezed(model.pages)


def test_integrity_section_lists_checkpoint_and_every_cited_seq(model: Rendered) -> None:
    last = model.pages[-1]
    assert last.startswith("Appendix C: integrity evidence") and "Signed checkpoint" in last
    cited = [d.seq for d in model.evidence.deployments]
    cited += [p.seq for v in model.evidence.versions for p in v.promotions]
    cited += list(model.evidence.versions[2].run.cited_seqs)
    listed: set[str] = set()
    for part in last.split("Cited entries")[1].split("Evidence SHA-256")[0].split(","):
        low, _, high = part.strip().partition("-")
        listed.update(str(s) for s in range(int(low), int(high or low) + 1))
    assert {str(s) for s in cited} <= listed
    (integrity,) = [p for p in model.pages if p.startswith("Integrity")]
    assert "mlaudit-verify report FILE.pdf --key KEY" in integrity
    assert "byte for byte" not in model.text
    assert "Verified: 4096 entries and 12 checkpoints verified." in integrity
