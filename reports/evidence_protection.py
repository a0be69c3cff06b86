"""Evidence dataclasses for declared environments and demotions out of protected targets."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DeclaredEnvironmentEvidence", "DemotionEvidence"]


@dataclass(frozen=True)
class DeclaredEnvironmentEvidence:
    """An environment the model was deployed to, as declared (`environment.declared`,
    `environment.adopted`, `environment.protection_set`).

    Attributes:
        name: the environment's name.
        protected: whether a deployment there needs an approved promotion (as of the
            report's instant).
        adopted: True when the upgrade declared it for deployments recorded before
            environments were declared (its protection then follows the old name-prefix rule).
        declared_by: the actor who declared it.
        seq: seq of the entry that set its protection last.
    """

    name: str
    protected: bool
    adopted: bool
    declared_by: str
    seq: int


@dataclass(frozen=True)
class DemotionEvidence:
    """A version moved out of a protected stage or alias, with the reason
    (`model_version.demoted`, `model_alias.removed`).

    Attributes:
        version: the version that left.
        left: the protected target it left, e.g. "stage:Production" or "alias:champion".
        moved_to: the stage it moved to, or None for an alias.
        reason: the reason recorded in the entry.
        demoted_by: the actor.
        demoted_at: RFC 3339 time.
        promotion_id: the approved promotion of another version that replaced it, or None.
        deployment_id: the rollback that took it out of a protected environment, or None.
        seq: seq of the entry.
        demoted_by_name: the actor's printed name ("" in older bundles).
    """

    version: int
    left: str
    moved_to: str | None
    reason: str
    demoted_by: str
    demoted_at: str
    promotion_id: str | None
    deployment_id: str | None
    seq: int
    demoted_by_name: str = ""
