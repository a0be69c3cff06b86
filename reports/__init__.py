"""PDF audit reports rendered from plain evidence data; never imports app/.

The evidence types import without ReportLab (a verifier needs them, not the renderer); the
render_* functions load the renderer when first used."""

from __future__ import annotations

from typing import Any

from reports.errors import ReportError
from reports.evidence import (
    ArtifactEvidence,
    CheckpointInfo,
    DatasetEvidence,
    DecisionEvidence,
    DeploymentEvidence,
    EnvironmentEvidence,
    ExperimentReportEvidence,
    GateEvidence,
    GroupCountEvidence,
    GroupFigureEvidence,
    GroupSummaryEvidence,
    MetricEvidence,
    ModelReportEvidence,
    ParamEvidence,
    PolicyEvidence,
    PromotionEvidence,
    ReportKind,
    ReportMeta,
    RunEvidence,
    RunRef,
    RunReportEvidence,
    VersionEvidence,
)
from reports.markers import ATTACHMENT_NAME, TEMPLATE_VERSION

__all__ = [
    "ATTACHMENT_NAME",
    "TEMPLATE_VERSION",
    "ArtifactEvidence",
    "CheckpointInfo",
    "DatasetEvidence",
    "DecisionEvidence",
    "DeploymentEvidence",
    "EnvironmentEvidence",
    "ExperimentReportEvidence",
    "GateEvidence",
    "GroupCountEvidence",
    "GroupFigureEvidence",
    "GroupSummaryEvidence",
    "MetricEvidence",
    "ModelReportEvidence",
    "ParamEvidence",
    "PolicyEvidence",
    "PromotionEvidence",
    "ReportError",
    "ReportKind",
    "ReportMeta",
    "RunEvidence",
    "RunRef",
    "RunReportEvidence",
    "VersionEvidence",
    "render_experiment_report",
    "render_model_report",
    "render_run_report",
]

_RENDERERS = frozenset({"render_experiment_report", "render_model_report", "render_run_report"})


def __getattr__(name: str) -> Any:
    """The renderers, imported on first use (PEP 562): only rendering needs ReportLab."""
    if name in _RENDERERS:
        from reports import render

        return getattr(render, name)
    raise AttributeError(f"module 'reports' has no attribute {name!r}")
