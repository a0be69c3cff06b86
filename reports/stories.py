"""The node story of each report kind: one pure function each, for render.py and textcheck.py."""

from __future__ import annotations

from collections.abc import Sequence

from reports.appendix_figures import experiment_figures, model_figures, run_figures
from reports.citations import experiment_citations, model_citations, run_citations
from reports.doc import Node, heading, kv_table, page_break, para
from reports.errors import ReportError
from reports.evidence import (
    ExperimentReportEvidence,
    ModelReportEvidence,
    ReportMeta,
    RunEvidence,
    RunReportEvidence,
    VersionEvidence,
)
from reports.sections_appendix import (
    control_mapping,
    full_precision,
    integrity_evidence,
    run_artifacts,
)
from reports.sections_experiment import comparison, run_summaries
from reports.sections_groups import group_metrics
from reports.sections_meta import integrity
from reports.sections_registry import deployments, model_overview, promotions
from reports.sections_run import artifacts, lineage, metrics, parameters
from reports.sections_summary import summary_page
from reports.sections_versions import focus_versions, version_tables
from reports.summary import experiment_summary, model_summary, run_summary
from reports.summary_data import run_labels

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


def _closing(meta: ReportMeta, cited: Sequence[int], bundle_size: int,
             figures: list[Node], controls: list[Node],
             runs: Sequence[RunEvidence] = ()) -> list[Node]:
    """The integrity section, then the appendices: figures, controls (model reports) and the
    integrity evidence, each on its own pages."""
    letter = "C" if controls else "B"
    out: list[Node] = [page_break(), *integrity(meta, letter), page_break(), *figures]
    if controls:
        out += [page_break(), *controls]
    return out + [page_break(), *integrity_evidence(meta, cited, bundle_size, letter,
                                                    run_artifacts(runs))]


def model_story(evidence: ModelReportEvidence, bundle_size: int, renderer: str) -> list[Node]:
    """A model report: the summary, the model and its versions, promotions, deployments,
    integrity, then appendices A (full precision), B (controls), C (integrity evidence)."""
    meta = evidence.meta
    check_kind(meta, "model")
    focus = focus_versions(evidence)
    out = [*summary_page(model_summary(evidence), meta, renderer), *model_overview(evidence),
           page_break(), *version_tables(evidence, focus), *_detail(evidence, focus)]
    out += [page_break(), *promotions(evidence), *deployments(evidence)]
    return out + _closing(meta, model_citations(evidence), bundle_size,
                          full_precision(model_figures(evidence)), control_mapping(evidence),
                          [v.run for v in evidence.versions])


def run_story(evidence: RunReportEvidence, bundle_size: int, renderer: str) -> list[Node]:
    """A run report: the summary, lineage, parameters, metrics, per-group metrics, artifacts,
    integrity, then appendices A (full precision) and B (integrity evidence)."""
    meta = evidence.meta
    check_kind(meta, "run")
    run = evidence.run
    return [*summary_page(run_summary(evidence), meta, renderer), *_run_body(run, (), 1),
            *_closing(meta, run_citations(meta, run), bundle_size,
                      full_precision(run_figures(run)), [], [run])]


def experiment_story(evidence: ExperimentReportEvidence, bundle_size: int,
                     renderer: str) -> list[Node]:
    """An experiment report: the summary, a comparison of its runs, per-run summaries,
    integrity, then appendices A (full precision) and B (integrity evidence)."""
    meta = evidence.meta
    check_kind(meta, "experiment")
    figures = experiment_figures(evidence, run_labels(evidence.runs))
    facts = kv_table([("Experiment", f"{evidence.name} ({evidence.experiment_id})"),
                      ("Description", evidence.description or "(none)"),
                      ("Runs", str(len(evidence.runs))), ("Seq", str(evidence.created_seq))])
    return [*summary_page(experiment_summary(evidence), meta, renderer),
            heading("Experiment"), facts, *comparison(evidence), *run_summaries(evidence.runs),
            *_closing(meta, experiment_citations(evidence), bundle_size,
                      full_precision(figures), [])]


def story(evidence: Evidence, bundle_size: int, renderer: str) -> list[Node]:
    """The story of any report kind."""
    if isinstance(evidence, ModelReportEvidence):
        return model_story(evidence, bundle_size, renderer)
    if isinstance(evidence, RunReportEvidence):
        return run_story(evidence, bundle_size, renderer)
    return experiment_story(evidence, bundle_size, renderer)
