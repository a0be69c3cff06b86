"""Plain frozen dataclasses holding everything a report shows; the service builds them."""

from __future__ import annotations

from reports.evidence_groups import GroupFigureEvidence, GroupSummaryEvidence
from reports.evidence_meta import CheckpointInfo, ReportKind, ReportMeta
from reports.evidence_registry import (
    DecisionEvidence,
    DeploymentEvidence,
    GateEvidence,
    LiveEvidence,
    ModelReportEvidence,
    PolicyEvidence,
    PromotionEvidence,
    UnpinnedVersionEvidence,
    VersionEvidence,
)
from reports.evidence_run import (
    ArtifactEvidence,
    ArtifactRevisionEvidence,
    DatasetEvidence,
    EnvironmentEvidence,
    ExperimentReportEvidence,
    GroupCountEvidence,
    MetricEvidence,
    ParamEvidence,
    RunEvidence,
    RunRef,
    RunReportEvidence,
    TagEvidence,
)

__all__ = [
    "ArtifactEvidence",
    "ArtifactRevisionEvidence",
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
    "LiveEvidence",
    "MetricEvidence",
    "ModelReportEvidence",
    "ParamEvidence",
    "PolicyEvidence",
    "PromotionEvidence",
    "ReportKind",
    "ReportMeta",
    "RunEvidence",
    "RunRef",
    "RunReportEvidence",
    "TagEvidence",
    "UnpinnedVersionEvidence",
    "VersionEvidence",
]
