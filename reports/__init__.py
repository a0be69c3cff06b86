"""PDF audit reports rendered from plain evidence data; never imports app/.

Importing the package needs no ReportLab: the renderers are in reports.render.
"""

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
    TagEvidence,
    UnpinnedVersionEvidence,
    VersionEvidence,
)
from reports.furniture import ATTACHMENT_NAME, TEMPLATE_VERSION

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
    "TagEvidence",
    "UnpinnedVersionEvidence",
    "VersionEvidence",
]
