"""A version leaves a protected stage or alias only with a reason in its entry: a demotion
asked for through /api/v1 or `mlaudit models demote`, the archiving of the versions an approved
promotion replaces, or a rollback in a protected environment (the registry follows what is
live there)."""

from __future__ import annotations

from typing import Any

from app.ledger.entry import Draft, Receipt
from app.services import registry
from app.services.ledger import LedgerWriter
from app.services.tracking import Conflict
from app.storage import environments as environment_store
from app.storage import registry as store

ARCHIVED = "Archived"


def how_to_demote(name: str, version: int, left: str) -> str:
    return (f"give the reason with POST /api/v1/models/{name}/versions/{version}/demotions "
            f"{{\"from\": \"{left}\", \"reason\": \"...\"}} or `mlaudit models demote {name} "
            f"{version} --from {left} --reason ...`")


def refuse_silent_exit(model: store.ModelRow, row: store.VersionRow, target: str) -> None:
    """Invalid when a move would take the version out of a protected stage without a reason
    (MLflow's transition-stage has no field for one)."""
    kind, _, value = target.partition(":")
    if kind != "stage" or value == row.stage or row.stage == "None":
        return
    if registry._protected(model, f"stage:{row.stage}"):
        raise registry.Invalid(
            f"version {row.version} of {model.name!r} is in the protected stage {row.stage}; "
            f"leaving it needs a reason: {how_to_demote(model.name, row.version, row.stage)}")


def _leave(writer: LedgerWriter, actor: str, model: store.ModelRow, version: int,
           target: str, reason: str, to_stage: str = ARCHIVED, promotion: str | None = None,
           deployment: str | None = None) -> Receipt:
    kind, _, value = target.partition(":")
    subject = {"model": model.name, "version": str(version)}
    why = {"reason": reason, "promotion": promotion, "deployment": deployment}
    if kind == "stage":
        [receipt] = writer.append([Draft("model_version.demoted", actor, subject,
                                         {"stage": to_stage, "previous": value, **why})])
    else:
        [receipt] = writer.append([Draft("model_alias.removed", actor, subject,
                                         {"alias": value, **why})])
    return receipt


def demote(writer: LedgerWriter, actor: str, name: str, version: int, left_text: str,
           to_text: str, reason: str) -> list[Receipt]:
    """Move a version out of a protected stage (to an unprotected one) or alias, saying why."""
    model = registry._model(writer, name, lock=True)
    row = registry._version(writer.conn, name, version)
    left, to = registry.parse_target(left_text), registry.parse_target(to_text)
    if not reason.strip():
        raise registry.Invalid("a demotion needs a reason")
    if not registry._protected(model, left):
        raise registry.Invalid(f"{left_text} is not protected for {name!r}: move it directly")
    kind, _, value = left.partition(":")
    holds = row.stage == value if kind == "stage" else (
        store.aliases(writer.conn, name).get(value) == version)
    if not holds:
        raise Conflict(f"version {version} of {name!r} is not in {left_text}")
    live = sorted(env for env, v in environment_store.live_versions(writer.conn, name).items()
                  if v == version)
    if live and left in registry.APPROVAL_TARGETS:
        raise Conflict(f"version {version} of {name!r} is live in the protected environment"
                       f"{'s' if len(live) > 1 else ''} {', '.join(live)}: the registry follows "
                       "what is deployed there; roll back or deploy another version first "
                       "(a rollback moves it out of Production and @champion)")
    if kind == "stage" and (not to.startswith("stage:") or registry._protected(model, to)
                            or to == left):
        raise registry.Invalid(f"a version leaving {value} moves to an unprotected stage, "
                               f"not {to_text}")
    receipts = [_leave(writer, actor, model, version, left, reason.strip(),
                       to.partition(":")[2])]
    if kind == "stage":
        receipts += registry._invalidate_pending(writer, actor, name, version)
    return receipts


def archive_replaced(writer: LedgerWriter, actor: str, name: str, version: int, stage: str,
                     promotion: str | None) -> list[Receipt]:
    """MLflow's archive_existing_versions: the others in the stage a version just reached
    are archived; out of a protected stage, citing the approval that replaced them, except a
    version still live in a protected environment (the registry follows deployments)."""
    model = registry._model(writer, name)
    live = set(environment_store.live_versions(writer.conn, name).values())
    receipts: list[Receipt] = []
    for other in store.versions_in_stage(writer.conn, name, stage):
        if other == version:
            continue
        if registry._protected(model, f"stage:{stage}"):
            if other in live:  # still what a protected environment runs: it stays
                continue
            receipts.append(_leave(writer, actor, model, other, f"stage:{stage}",
                                   f"archived: version {version} reached {stage}",
                                   promotion=promotion))
        else:
            receipts += registry.reach_target(writer, actor, name, other, ARCHIVED)
    return receipts


def follow_rollback(writer: LedgerWriter, actor: str, name: str, left: int, restored: int,
                    environment: str, reason: str, deployment: str) -> list[Receipt]:
    """After a rollback in a protected environment from version `left` to `restored`: `left`
    leaves the approval targets it holds (unless still live in another protected
    environment), and `restored` regains those it holds an approved promotion for."""
    model = registry._model(writer, name)
    still_live = left in environment_store.live_versions(writer.conn, name).values()
    why = f"rolled back in {environment} to version {restored}: {reason}"
    receipts: list[Receipt] = []
    for target in registry.APPROVAL_TARGETS:
        if not registry._protected(model, target):
            continue
        if not still_live and _holds(writer.conn, name, left, target):
            receipts.append(_leave(writer, actor, model, left, target, why,
                                   deployment=deployment))
        approval = _approved(writer.conn, name, restored, target)
        if approval is not None and not _holds(writer.conn, name, restored, target):
            row = registry._version(writer.conn, name, restored)
            receipts.append(registry._apply_target(writer, actor, model, row, target,
                                                   approval, deployment))
    return receipts


def _holds(conn: Any, name: str, version: int, target: str) -> bool:
    kind, _, value = target.partition(":")
    if kind == "stage":
        return registry._version(conn, name, version).stage == value
    return store.aliases(conn, name).get(value) == version


def _approved(conn: Any, name: str, version: int, target: str) -> str | None:
    found = [p for p in store.promotions(conn, name, "approved")
             if p.version == version and p.target == target]
    return max(found, key=lambda p: p.closed_seq or 0).id if found else None
