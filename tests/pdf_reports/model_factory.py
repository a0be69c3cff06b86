"""Synthetic model-registry evidence: three versions, promotions, decisions, deployments."""

from __future__ import annotations

import dataclasses
from typing import Any

from report_factory import POLICY_AT, POLICY_BY, POLICY_SEQ, finish, hexid, make_run, meta_for

from reports import (
    DecisionEvidence,
    DeploymentEvidence,
    GateEvidence,
    ModelReportEvidence,
    PolicyEvidence,
    PromotionEvidence,
    VersionEvidence,
)


def _gates(seq: int, fairness_passed: bool = True) -> tuple[GateEvidence, ...]:
    return (
        GateEvidence("required_params", True, "learning_rate, max_depth present",
                     (("missing", ""),), seq),
        GateEvidence("fairness", fairness_passed,
                     "selection_rate by sex: min/max ratio at least 0.8",
                     (("min_max_ratio", "0.66129" if not fairness_passed else "0.83"),
                      ("threshold", "0.8"), ("ratio_undefined_groups", None)), seq),
        GateEvidence("minimums", True, "auc at least 0.85", (("auc", "0.862"),), seq),
    )


def _decision(outcome: str, who: str, role: str, at: str, seq: int, **kw: Any) -> DecisionEvidence:
    fields: dict[str, Any] = {
        "meaning": {"approved": "approval for release to the target",
                    "rejected": "rejection: not fit for the target",
                    "refused": "attempted approval"}[outcome],
        "comment": "", "version_digest": hexid("v-digest", 64), "exception": None,
        "reason": None, "gates": _gates(seq)}
    fields.update(kw)
    return DecisionEvidence(outcome, who, role, at, seq=seq, **fields)


def _promotions(v: int) -> tuple[PromotionEvidence, ...]:
    base = 700 + 20 * v
    digest = hexid(f"v{v}-digest", 64)
    if v == 1:
        rejected = _decision("rejected", "olga.risk", "model-risk-officer", "2026-03-04T11:00:00Z",
                             base + 1, version_digest=digest, gates=_gates(base + 1, False),
                             comment="Selection-rate gap for nonbinary applicants is too wide.")
        return (PromotionEvidence(hexid("p1"), "stage:Production", "dev.alice",
                                  "2026-03-04T09:00:00Z", "First candidate", "material",
                                  "rejected", None, _gates(base, False), (rejected,), base),)
    if v == 2:
        refused = _decision("refused", "dev.alice", "developer", "2026-03-06T10:00:00Z",
                            base + 1, version_digest=digest,
                            reason="the approver authored the run behind this version")
        exception = _decision(
            "approved", "olga.risk", "model-risk-officer", "2026-03-06T15:30:00Z", base + 2,
            version_digest=digest, gates=_gates(base + 2, False),
            comment="Approved with a documented exception; monitor monthly.",
            exception="Fairness gate below threshold for age 55+ (n=12, too small to assess); "
                      "re-evaluate on the Q2 sample.")
        return (PromotionEvidence(hexid("p2"), "stage:Production", "dev.bob",
                                  "2026-03-06T09:00:00Z", "Retrained on February data",
                                  "material", "approved", None, _gates(base, False),
                                  (refused, exception), base),)
    approval = _decision("approved", "olga.risk", "model-risk-officer", "2026-03-10T12:00:00Z",
                         base + 1, version_digest=digest, comment="Gates pass; approved.")
    return (PromotionEvidence(hexid("p3"), "alias:champion", "dev.bob", "2026-03-10T09:00:00Z",
                              "Threshold retune", "non-material", "approved", None,
                              _gates(base), (approval,), base),)


def _deployments() -> tuple[DeploymentEvidence, ...]:
    img = "sha256:" + hexid("img", 64)
    rows = [
        ("d1", "deployed", 2, "staging", "2026-03-06T16:00:00Z", None, None),
        ("d2", "deployed", 2, "production", "2026-03-07T08:00:00Z", None, None),
        ("d3", "deployed", 3, "production", "2026-03-11T08:00:00Z", None, None),
        ("d4", "rolled back", 2, "production", "2026-03-12T07:45:00Z",
         "Latency regression above the 150 ms SLO after the v3 rollout", "d3"),
    ]
    return tuple(
        DeploymentEvidence(hexid(d), event, ver, env, f"https://{env}.serving.example.com/credit",
                           img, "ops.carol", at, hexid(f"p{ver}"), reason,
                           hexid(rb) if rb else None, 800 + k)
        for k, (d, event, ver, env, at, reason, rb) in enumerate(rows))


def make_versions() -> tuple[VersionEvidence, ...]:
    """Three versions: 1 rejected, 2 approved with an exception, 3 approved as champion."""
    stages = {1: None, 2: "Production", 3: "Staging"}
    return tuple(
        VersionEvidence(v, hexid(f"v{v}-digest", 64), "dev.bob", f"2026-03-0{2 + v}T18:00:00Z",
                        "model", stages[v], ("champion",) if v == 3 else (),
                        make_run(v * 3), _promotions(v), 300 + v)
        for v in (1, 2, 3))


def make_model_evidence(meta: dict[str, Any] | None = None,
                        **overrides: Any) -> tuple[ModelReportEvidence, bytes]:
    """A whole-model report's evidence and its bundle bytes."""
    placeholder = meta_for("model", b"")
    model = ModelReportEvidence(
        meta=placeholder, name="credit-risk", description="Scores consumer loan applications.",
        owner="risk-analytics", sensitive_attributes=("sex", "age_band", "ethnicity"),
        protected_targets=("stage:Production", "alias:champion"), quorum=1,
        policy=PolicyEvidence(("required_params: learning_rate, max_depth",
                               "fairness: selection_rate by sex, min/max ratio at least 0.8, "
                               "band 0.8-1.25, min n 30",
                               "minimums: auc at least 0.85"), POLICY_BY, POLICY_AT, POLICY_SEQ),
        versions=make_versions(), deployments=_deployments(), all_versions=True, created_seq=2)
    return finish(dataclasses.replace(model, **overrides), "model", meta or {})
