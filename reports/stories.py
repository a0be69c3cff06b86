"""The node story of each report kind: one pure function each, for render.py and textcheck.py."""

from __future__ import annotations

from collections.abc import Sequence

from reports.citations import experiment_citations, model_citations, run_citations
from reports.doc import Cell, Node, heading, mono, page_break, para
from reports.errors import ReportError
from reports.evidence import (
    ExperimentReportEvidence,
    ModelReportEvidence,
    ReportMeta,
    RunEvidence,
    RunReportEvidence,
    VersionEvidence,
)
from reports.sections_experiment import comparison, run_summaries
from reports.sections_groups import group_metrics
from reports.sections_meta import cover, integrity
from reports.sections_registry import deployments, model_overview, promotions
from reports.sections_run import artifacts, lineage, metrics, parameters
from reports.sections_versions import focus_versions, version_tables

__all__ = ["Evidence", "check_kind", "experiment_story", "model_story", "run_story", "story"]

Evidence = ModelReportEvidence | RunReportEvidence | ExperimentReportEvidence


def check_kind(meta: ReportMeta, expected: str) -> None:
    """ReportError unless the evidence's meta is for this kind of report."""
    if meta.kind != expected:
        raise ReportError(f"meta.kind is {meta.kind!r}; this renderer makes {expected} reports")


def _run_body(run: RunEvidence, attributes: Sequence[str], level: int) -> list[Node]:
    return [
        *lineage(run, level),
        *parameters(run, level),
        *metrics(run, level),
        *group_metrics(run, attributes, level),
        *artifacts(run, level),
    ]


def _detail(model: ModelReportEvidence, focus: Sequence[VersionEvidence]) -> list[Node]:
    """Full per-group tables of the versions in focus (a run shown once)."""
    out: list[Node] = []
    shown: dict[str, int] = {}
    for v in focus:
        out += [page_break(), heading(f"Version {v.version}: per-group metrics in detail")]
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


def model_story(evidence: ModelReportEvidence, bundle_size: int, renderer: str) -> list[Node]:
    """A model report: the model, every covered version, promotions, deployments, integrity."""
    meta = evidence.meta
    check_kind(meta, "model")
    cited = model_citations(evidence)
    subject: list[tuple[str, Cell]] = [
        ("Model", evidence.name),
        ("Owner", evidence.owner),
        ("Version(s)", _versions_text(evidence)),
        *[(f"Version {v.version} digest", mono(v.version_digest)) for v in evidence.versions],
        ("Sensitive attributes", ", ".join(evidence.sensitive_attributes) or "none declared"),
    ]
    focus = focus_versions(evidence)
    out = [*cover(meta, subject, renderer), *model_overview(evidence), page_break(),
           *version_tables(evidence, focus), *_detail(evidence, focus)]
    out += [page_break(), *promotions(evidence), *deployments(evidence)]
    return out + [page_break(), *integrity(meta, cited, bundle_size)]


def run_story(evidence: RunReportEvidence, bundle_size: int, renderer: str) -> list[Node]:
    """A run report: lineage, parameters, metrics, per-group metrics, artifacts, integrity."""
    meta = evidence.meta
    check_kind(meta, "run")
    run = evidence.run
    cited = run_citations(meta, run)
    subject: list[tuple[str, Cell]] = [
        ("Run", mono(run.run_id)),
        ("Name", run.name or "(none)"),
        ("Experiment", f"{run.experiment_name} ({run.experiment_id})"),
        ("Status", run.status),
    ]
    return [*cover(meta, subject, renderer), *_run_body(run, (), 1), page_break(),
            *integrity(meta, cited, bundle_size)]


def experiment_story(evidence: ExperimentReportEvidence, bundle_size: int,
                     renderer: str) -> list[Node]:
    """An experiment report: a comparison of its runs, per-run summaries, integrity."""
    meta = evidence.meta
    check_kind(meta, "experiment")
    cited = experiment_citations(evidence)
    subject: list[tuple[str, Cell]] = [
        ("Experiment", f"{evidence.name} ({evidence.experiment_id})"),
        ("Description", evidence.description or "(none)"),
        ("Runs", str(len(evidence.runs))),
        ("Seq", str(evidence.created_seq)),
    ]
    return [*cover(meta, subject, renderer), *comparison(evidence),
            *run_summaries(evidence.runs), page_break(), *integrity(meta, cited, bundle_size)]


def story(evidence: Evidence, bundle_size: int, renderer: str) -> list[Node]:
    """The story of any report kind."""
    if isinstance(evidence, ModelReportEvidence):
        return model_story(evidence, bundle_size, renderer)
    if isinstance(evidence, RunReportEvidence):
        return run_story(evidence, bundle_size, renderer)
    return experiment_story(evidence, bundle_size, renderer)
