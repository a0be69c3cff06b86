"""The reports' section titles, one home for the renderer, the summary and the control mapping."""

from __future__ import annotations

from reports.figures import FULL_PRECISION_APPENDIX

__all__ = [
    "APPENDIX_CONTROLS",
    "APPENDIX_FIGURES",
    "ARTIFACTS",
    "DEPLOYMENTS",
    "GATE_POLICY",
    "INTEGRITY",
    "LINEAGE",
    "MODEL",
    "OVERALL_METRICS",
    "PARAMETERS",
    "PER_GROUP",
    "PROMOTIONS",
    "SEPARATION_OF_DUTIES",
    "SUMMARY",
    "COMPARISON",
    "per_group_detail",
]

SUMMARY = "Summary"
MODEL = "Model"
GATE_POLICY = "Gate policy"
LINEAGE = "Lineage"
PARAMETERS = "Parameters"
OVERALL_METRICS = "Overall metrics"
PER_GROUP = "Per-group metrics"
ARTIFACTS = "Artifacts"
PROMOTIONS = "Promotions and decisions"
SEPARATION_OF_DUTIES = "Separation of duties"
DEPLOYMENTS = "Deployments"
COMPARISON = "Comparison of runs"
INTEGRITY = "Integrity"
APPENDIX_FIGURES = f"Appendix {FULL_PRECISION_APPENDIX}: figures at full precision"
APPENDIX_CONTROLS = "Appendix B: control mapping"


def per_group_detail(version: int) -> str:
    """The title of one version's detailed per-group tables."""
    return f"Version {version}: per-group metrics in detail"
