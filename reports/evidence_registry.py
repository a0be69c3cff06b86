"""Evidence dataclasses for the model registry: policy, gates, promotions, deployments, versions."""

from __future__ import annotations

from dataclasses import dataclass

from reports.evidence_meta import ReportMeta
from reports.evidence_protection import DeclaredEnvironmentEvidence, DemotionEvidence
from reports.evidence_run import RunEvidence

__all__ = [
    "DecisionEvidence",
    "DeploymentEvidence",
    "GateEvidence",
    "LiveEvidence",
    "ModelReportEvidence",
    "PolicyEvidence",
    "PromotionEvidence",
    "VersionEvidence",
]


@dataclass(frozen=True)
class PolicyEvidence:
    """The model's gate policy in force (`policy.set`).

    Attributes:
        clauses: one human-readable line per policy clause, in the order to print, e.g.
            "selection_rate: ratio of every sex group to male within 0.80–1.25; every group
            needs a recorded n ≥ 30" (reports/policy_text.policy_sentences).
        set_by: the actor who set the policy.
        set_at: RFC 3339 time it was set.
        seq: seq of the `policy.set` entry.
        set_by_name: the printed name of who set it (principal display name, else the
            token's name; "" in older bundles).
    """

    clauses: tuple[str, ...]
    set_by: str
    set_at: str
    seq: int
    set_by_name: str = ""


@dataclass(frozen=True)
class GateEvidence:
    """One policy gate's result as evaluated for a promotion (app/tracking/gates.py).

    Attributes:
        gate: the gate's name, e.g. "fairness".
        passed: whether it passed.
        detail: the evaluation's explanation, printed verbatim.
        figures: (name, value) pairs the gate used; a None value prints "undefined".
        seq: seq of the entry holding the evaluation (a request or a decision).
    """

    gate: str
    passed: bool
    detail: str
    figures: tuple[tuple[str, str | None], ...]
    seq: int


@dataclass(frozen=True)
class DecisionEvidence:
    """A decision on a promotion (`decision.approved`, `decision.rejected`, `decision.refused`).

    Attributes:
        outcome: "approved", "rejected" or "refused" (refused: the service would not record
            the decision, e.g. because the approver authored the run).
        approver: the actor deciding (`token:<name>`, naming its principal when that has
            another name).
        role: their role, e.g. "model-risk-officer".
        decided_at: RFC 3339 time of the decision (of the attempt, for a refused one).
        meaning: what the signature means (21 CFR 11.50): "approval of ...", "rejection of
            ...", or, for a refused attempt, that it is not a signature.
        comment: the approver's comment ("" if none).
        version_digest: hex digest of the exact version the decision covers.
        exception: justification of a policy exception granted with this decision (an
            approval the service recorded), or None; never set on a refused attempt.
        reason: why the service refused the decision, or None.
        gates: the gate results at decision time.
        seq: seq of the decision entry.
        person: whom separation of duties compares: `principal:<name>` of the approving
            token, else the actor ("" in bundles made before principals existed).
        printed_name: the printed name of the person deciding (21 CFR 11.50): the
            principal's display name, else the token's name.
        requested_exception: the exception justification a refused or rejecting decision
            carried, which was not granted, or None.
        policy_seq: seq of the `policy.set` entry the gates at decision time were evaluated
            against, or None when no policy was set.
    """

    outcome: str
    approver: str
    role: str
    decided_at: str
    meaning: str
    comment: str
    version_digest: str
    exception: str | None
    reason: str | None
    gates: tuple[GateEvidence, ...]
    seq: int
    person: str = ""
    printed_name: str = ""
    requested_exception: str | None = None
    policy_seq: int | None = None


@dataclass(frozen=True)
class PromotionEvidence:
    """A request to move a version to a protected stage or alias, with its decisions.

    Attributes:
        promotion_id: the promotion's id.
        target: the protected target, e.g. "stage:Production" or "alias:champion".
        requested_by: the actor who requested it.
        requested_at: RFC 3339 time of the request.
        justification: the requester's justification.
        classification: change classification (e.g. "material"), or None.
        status: "pending", "approved", "rejected", "withdrawn" or "invalidated".
        status_reason: reason for a withdrawal or invalidation, else None.
        request_gates: the gate results at request time.
        decisions: the decisions in the order they were made.
        seq: seq of the `promotion.requested` entry.
        requested_by_person: `principal:<name>` of the requesting token, else the actor.
        request_policy_seq: seq of the `policy.set` entry the request's gates were evaluated
            against, or None when no policy was set.
        requested_by_name: the requester's printed name ("" in older bundles).
        closed_by: the actor of the entry that closed it (the last decision, or who withdrew
            or invalidated it), or None while pending.
        closed_by_name: that actor's printed name ("" when none).
        closed_at: RFC 3339 time of the closing entry, or None while pending.
        closed_seq: seq of the closing entry, or None while pending.
    """

    promotion_id: str
    target: str
    requested_by: str
    requested_at: str
    justification: str
    classification: str | None
    status: str
    status_reason: str | None
    request_gates: tuple[GateEvidence, ...]
    decisions: tuple[DecisionEvidence, ...]
    seq: int
    requested_by_person: str = ""
    request_policy_seq: int | None = None
    requested_by_name: str = ""
    closed_by: str | None = None
    closed_by_name: str = ""
    closed_at: str | None = None
    closed_seq: int | None = None


@dataclass(frozen=True)
class DeploymentEvidence:
    """A deployment or rollback (`deployment.recorded`, `deployment.rolled_back`).

    Attributes:
        deployment_id: the deployment's id.
        event: "deployed" or "rolled back".
        version: the model version put live.
        environment: e.g. "staging" or "production".
        endpoint: the serving endpoint ("" if none).
        image_digest: the container image digest, or None.
        deployed_by: the actor.
        deployed_at: RFC 3339 time.
        promotion_id: the approved promotion it stands on, or None.
        reason: the reason given (required for a rollback), or None.
        rollback_of: the deployment id it replaces, or None.
        seq: seq of the deployment entry.
        deployed_by_name: the deployer's printed name ("" in older bundles).
    """

    deployment_id: str
    event: str
    version: int
    environment: str
    endpoint: str
    image_digest: str | None
    deployed_by: str
    deployed_at: str
    promotion_id: str | None
    reason: str | None
    rollback_of: str | None
    seq: int
    deployed_by_name: str = ""


@dataclass(frozen=True)
class LiveEvidence:
    """What is live in one environment at the report's as-of time and when it was made.

    Attributes:
        environment: the environment's name.
        protected: whether it is protected when the report was made, or None when it was
            never declared.
        at_as_of: the last deployment or rollback of the model there at or before the as-of
            time (any version), or None.
        now: the last one among all the report's entries (the ledger as the report's
            checkpoint holds it), or None.
        protection_seq: seq of the entry that set its protection last, or None when it was
            never declared.
    """

    environment: str
    protected: bool | None
    at_as_of: DeploymentEvidence | None
    now: DeploymentEvidence | None
    protection_seq: int | None = None


@dataclass(frozen=True)
class VersionEvidence:
    """One registered model version with its run and promotions.

    Attributes:
        version: the version number.
        version_digest: hex SHA-256 identifying the version's evidence (immutable).
        registered_by: the actor of `model_version.created`.
        registered_at: RFC 3339 time it was registered.
        artifact_path: the model artifact's path within the run.
        stage: the stage at the as-of instant, or None.
        aliases: aliases pointing at it at the as-of instant.
        run: the run that produced it.
        promotions: its promotions in request order.
        seq: seq of the `model_version.created` entry.
        registered_by_person: `principal:<name>` of the registering token, else the actor.
        registered_by_name: the registrant's printed name ("" in older bundles).
        pinned_seq, pinned_by, pinned_by_name, source: for a version registered unpinned and
            pinned later, its `model_version.pinned` entry's seq and actor, and the source it
            was registered from; None and "" otherwise.
    """

    version: int
    version_digest: str
    registered_by: str
    registered_at: str
    artifact_path: str
    stage: str | None
    aliases: tuple[str, ...]
    run: RunEvidence
    promotions: tuple[PromotionEvidence, ...]
    seq: int
    registered_by_person: str = ""
    registered_by_name: str = ""
    pinned_seq: int | None = None
    pinned_by: str = ""
    pinned_by_name: str = ""
    source: str | None = None


@dataclass(frozen=True)
class UnpinnedVersionEvidence:
    """A version registered from a source mlaudit does not hold (`model_version.created_unpinned`)
    and not pinned to files with digests as of the report: it pins nothing, so no run, files or
    figures stand behind it, and it reaches no protected stage or alias.

    Attributes:
        version: the version number.
        version_digest: hex SHA-256 of RFC 8785 {model, version, source, run}.
        source: the URI it was registered from, as given.
        given_run: the run id the client named, as given (not a run of this ledger), or None.
        registered_by, registered_by_person, registered_by_name, registered_at: as for
            VersionEvidence.
        stage: its stage now (an unprotected one), or None.
        aliases: aliases pointing at it (unprotected ones).
        seq: seq of the `model_version.created_unpinned` entry.
    """

    version: int
    version_digest: str
    source: str
    given_run: str | None
    registered_by: str
    registered_by_person: str
    registered_by_name: str
    registered_at: str
    stage: str | None
    aliases: tuple[str, ...]
    seq: int


@dataclass(frozen=True)
class ModelReportEvidence:
    """The input of a model report, for all versions of a registered model or one version.

    Attributes:
        meta: report header and integrity facts (kind "model").
        name: the registered model's name.
        description: its description ("" if none).
        owner: its owner.
        sensitive_attributes: the attributes per-group metrics are reported for.
        protected_targets: targets that need an approved promotion, e.g. "stage:Production".
        quorum: approvals required per promotion.
        policy: the gate policy in force at the as-of instant, or None.
        versions: the versions covered, in version order.
        deployments: deployments and rollbacks of the covered versions, in time order.
        all_versions: True for a whole-model report, False for a one-version report.
        created_seq: seq of the `model.created` entry.
        environments: the declared environments the deployments name, in name order.
        demotions: versions moved out of a protected stage or alias, in seq order.
        live: per environment (every declared one and every one the model was deployed to,
            in name order), what is live at the as-of time and when the report was made.
        unpinned: the covered versions that are unpinned as of the report (registered from a
            source mlaudit does not hold; no files pinned), in version order.
    """

    meta: ReportMeta
    name: str
    description: str
    owner: str
    sensitive_attributes: tuple[str, ...]
    protected_targets: tuple[str, ...]
    quorum: int
    policy: PolicyEvidence | None
    versions: tuple[VersionEvidence, ...]
    deployments: tuple[DeploymentEvidence, ...]
    all_versions: bool
    created_seq: int
    environments: tuple[DeclaredEnvironmentEvidence, ...] = ()
    demotions: tuple[DemotionEvidence, ...] = ()
    live: tuple[LiveEvidence, ...] = ()
    unpinned: tuple[UnpinnedVersionEvidence, ...] = ()
