"""The three report renderers: evidence dataclasses and bundle bytes in, deterministic PDF out."""

from __future__ import annotations

from collections.abc import Sequence

from reportlab.platypus import Flowable, PageBreak

from reports.citations import experiment_citations, model_citations, run_citations
from reports.errors import ReportError
from reports.evidence import (
    ExperimentReportEvidence,
    ModelReportEvidence,
    ReportMeta,
    RunEvidence,
    RunReportEvidence,
    VersionEvidence,
)
from reports.page import build_pdf
from reports.sections_experiment import comparison, run_summaries
from reports.sections_groups import group_metrics
from reports.sections_meta import cover, integrity
from reports.sections_registry import deployments, model_overview, promotions
from reports.sections_run import artifacts, lineage, metrics, parameters
from reports.sections_versions import focus_versions, version_tables
from reports.style import Cell, heading, mono, para

__all__ = ["render_experiment_report", "render_model_report", "render_run_report"]


def _kind(meta: ReportMeta, expected: str) -> None:
    if meta.kind != expected:
        raise ReportError(f"meta.kind is {meta.kind!r}; this renderer makes {expected} reports")


def _run_body(run: RunEvidence, attributes: Sequence[str], level: int) -> list[Flowable]:
    return [
        *lineage(run, level),
        *parameters(run, level),
        *metrics(run, level),
        *group_metrics(run, attributes, level),
        *artifacts(run, level),
    ]


def _detail(model: ModelReportEvidence, focus: Sequence[VersionEvidence]) -> list[Flowable]:
    """Full per-group tables of the versions in focus (a run shown once)."""
    out: list[Flowable] = []
    shown: dict[str, int] = {}
    for v in focus:
        out += [PageBreak(), heading(f"Version {v.version}: per-group metrics in detail")]
        if v.run.run_id in shown:
            out.append(para(f"Version {v.version} was registered from the same run as version "
                            f"{shown[v.run.run_id]}; its per-group figures are shown there."))
            continue
        shown[v.run.run_id] = v.version
        out += [para(f"Run {v.run.run_id} ({v.run.name or 'unnamed'}); its lineage, parameters, "
                     "overall metrics and artifacts are in the version tables above.", "lead"),
                *group_metrics(v.run, model.sensitive_attributes, 2, charts=False)[1:]]
    return out


def _versions_text(model: ModelReportEvidence) -> str:
    numbers = ", ".join(str(v.version) for v in model.versions) or "none"
    return f"{numbers} (all versions)" if model.all_versions else numbers


def render_model_report(evidence: ModelReportEvidence, bundle_bytes: bytes) -> bytes:
    """A model report: the model, every covered version, promotions, deployments, integrity."""
    meta = evidence.meta
    _kind(meta, "model")
    cited = model_citations(evidence)
    subject: list[tuple[str, Cell]] = [
        ("Model", evidence.name),
        ("Owner", evidence.owner),
        ("Version(s)", _versions_text(evidence)),
        *[(f"Version {v.version} digest", mono(v.version_digest)) for v in evidence.versions],
        ("Sensitive attributes", ", ".join(evidence.sensitive_attributes) or "none declared"),
    ]

    def story() -> list[Flowable]:
        focus = focus_versions(evidence)
        out = [*cover(meta, subject), *model_overview(evidence), PageBreak(),
               *version_tables(evidence, focus), *_detail(evidence, focus)]
        out += [PageBreak(), *promotions(evidence), *deployments(evidence)]
        return out + [PageBreak(), *integrity(meta, cited, len(bundle_bytes))]

    return build_pdf(story, meta, bundle_bytes)


def render_run_report(evidence: RunReportEvidence, bundle_bytes: bytes) -> bytes:
    """A run report: lineage, parameters, metrics, per-group metrics, artifacts, integrity."""
    meta = evidence.meta
    _kind(meta, "run")
    run = evidence.run
    cited = run_citations(meta, run)
    subject: list[tuple[str, Cell]] = [
        ("Run", mono(run.run_id)),
        ("Name", run.name or "(none)"),
        ("Experiment", f"{run.experiment_name} ({run.experiment_id})"),
        ("Status", run.status),
    ]

    def story() -> list[Flowable]:
        return [*cover(meta, subject), *_run_body(run, (), 1), PageBreak(),
                *integrity(meta, cited, len(bundle_bytes))]

    return build_pdf(story, meta, bundle_bytes)


def render_experiment_report(evidence: ExperimentReportEvidence, bundle_bytes: bytes) -> bytes:
    """An experiment report: a comparison of its runs, per-run summaries, integrity."""
    meta = evidence.meta
    _kind(meta, "experiment")
    cited = experiment_citations(evidence)
    subject: list[tuple[str, Cell]] = [
        ("Experiment", f"{evidence.name} ({evidence.experiment_id})"),
        ("Description", evidence.description or "(none)"),
        ("Runs", str(len(evidence.runs))),
        ("Seq", str(evidence.created_seq)),
    ]

    def story() -> list[Flowable]:
        return [*cover(meta, subject), *comparison(evidence), *run_summaries(evidence.runs),
                PageBreak(), *integrity(meta, cited, len(bundle_bytes))]

    return build_pdf(story, meta, bundle_bytes)
