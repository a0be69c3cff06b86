"""The three report renderers: evidence dataclasses and bundle bytes in, deterministic PDF out."""

from __future__ import annotations

from reports.evidence import ExperimentReportEvidence, ModelReportEvidence, RunReportEvidence
from reports.layout import flowables
from reports.page import RENDERER, build_pdf
from reports.stories import experiment_story, model_story, run_story

__all__ = ["render_experiment_report", "render_model_report", "render_run_report"]


def render_model_report(evidence: ModelReportEvidence, bundle_bytes: bytes) -> bytes:
    """A model report: the model, every covered version, promotions, deployments, integrity."""
    nodes = model_story(evidence, len(bundle_bytes), RENDERER)
    return build_pdf(lambda: flowables(nodes), evidence.meta, bundle_bytes)


def render_run_report(evidence: RunReportEvidence, bundle_bytes: bytes) -> bytes:
    """A run report: lineage, parameters, metrics, per-group metrics, artifacts, integrity."""
    nodes = run_story(evidence, len(bundle_bytes), RENDERER)
    return build_pdf(lambda: flowables(nodes), evidence.meta, bundle_bytes)


def render_experiment_report(evidence: ExperimentReportEvidence, bundle_bytes: bytes) -> bytes:
    """An experiment report: a comparison of its runs, per-run summaries, integrity."""
    nodes = experiment_story(evidence, len(bundle_bytes), RENDERER)
    return build_pdf(lambda: flowables(nodes), evidence.meta, bundle_bytes)
