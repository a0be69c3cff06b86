"""Model registry use cases: versions pinned to evidence, promotions with independent approval,
policy gates, deployments and rollbacks. Every change is an entry written with its rows."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from app.ledger.entry import Draft, Receipt, canonicalize
from app.services.ledger import LedgerWriter
from app.services.tracking import Conflict, NotFound, TrackingError
from app.storage import registry as store
from app.storage import tracking as runs
from app.tracking import gates
from app.tracking.targets import fold, shown

STAGES = ("None", "Staging", "Production", "Archived")
# Protected names (issue 16): every model protects these unless an admin says otherwise.
DEFAULT_PROTECTED = ("alias:champion", "alias:live", "alias:prod", "alias:production",
                     "stage:Production")
APPROVAL_TARGETS = ("stage:Production", "alias:champion")
# Alias names are ASCII, so that no two names print alike (a Cyrillic "с", a fullwidth
# letter, a zero-width space), and protection compares them with ASCII case folded: the
# database's guards fold the same way (lower(... COLLATE "C")), whatever its locale.
ALIAS_NAME = re.compile(r"[A-Za-z0-9_\-]{1,255}")
# Shown on an unpinned version by the MLflow routes ("false"); no client sets it.
PINNED_TAG = "mlaudit.pinned"
# Set through MLflow's set-tag to `runs:/<run_id>/<path>`, it pins an unpinned version to
# those files (the MLflow-compatible spelling of POST /api/v1/models/{name}/versions/{v}/pin).
PIN_TAG = "mlaudit.pin"


class Forbidden(TrackingError):
    """The principal may not do this (separation of duties)."""


class Invalid(TrackingError):
    """The request is malformed in a way the schema cannot see (an unknown stage, a policy)."""


def parse_target(text: str) -> str:
    """'Production' → 'stage:Production'; '@champion' → 'alias:champion'."""
    if text.startswith("@") and len(text) > 1:
        if not ALIAS_NAME.fullmatch(text[1:]):
            raise Invalid(f"alias {text!r}: 1-255 ASCII letters, digits, _ or -")
        return f"alias:{text[1:]}"
    for stage in STAGES:
        if text.lower() == stage.lower():
            return f"stage:{stage}"
    raise Invalid(f"target {text!r} is neither a stage ({', '.join(STAGES)}) nor an @alias")


def _model(writer: LedgerWriter, name: str, lock: bool = False) -> store.ModelRow:
    """The model a unit works on; lock: take the head lock first, so what is read is what
    every other writer has committed."""
    if lock:
        writer.lock()
    model = store.get_model(writer.conn, name)
    if model is None:
        raise NotFound(f"model {name!r} does not exist")
    return model


def _version(conn: Any, name: str, version: int) -> store.VersionRow:
    found = store.get_version(conn, name, version)
    if found is None:
        raise NotFound(f"model {name!r} has no version {version}")
    return found


def create_model(writer: LedgerWriter, actor: str, name: str, description: str, owner: str,
                 tags: Mapping[str, str], sensitive_attributes: Sequence[str],
                 protected_targets: Sequence[str] | None, quorum: int) -> Receipt:
    writer.lock()
    if store.get_model(writer.conn, name) is not None:
        raise Conflict(f"a model named {name!r} already exists")
    targets = (protected_set(protected_targets) if protected_targets is not None
               else sorted(DEFAULT_PROTECTED))
    body = {"description": description, "owner": owner, "tags": dict(tags),
            "sensitive_attributes": list(sensitive_attributes), "protected_targets": targets,
            "quorum": quorum}
    [receipt] = writer.append([Draft("model.created", actor, {"model": name}, body)])
    return receipt


def _evidence(conn: Any, run_id: str, artifact_path: str) -> dict[str, Any]:
    """What a version pins: the run, the artifact digests under the path, the dataset digests."""
    prefix = artifact_path.rstrip("/")
    artifacts = [{"path": p, "sha256": d, "size": str(s)}
                 for p, d, s, _ in runs.artifact_digests(conn, run_id)
                 if p == prefix or p.startswith(prefix + "/")]
    if not artifacts:
        raise Invalid(f"run {run_id!r} has no recorded artifact at {artifact_path!r}")
    datasets = [{"name": i.name, "digest": i.digest, "context": i.context}
                for i in runs.get_inputs(conn, run_id)]
    return {"run": run_id, "artifact_path": prefix, "artifacts": artifacts, "datasets": datasets}


def register_version(writer: LedgerWriter, actor: str, name: str, run_id: str,
                     artifact_path: str) -> tuple[store.VersionRow, Receipt | None]:
    """A new version, unless these exact pinned digests are already a version of the model."""
    _model(writer, name, lock=True)
    if runs.get_run(writer.conn, run_id) is None:
        raise NotFound(f"run {run_id!r} does not exist")
    evidence = _evidence(writer.conn, run_id, artifact_path)
    digest = hashlib.sha256(canonicalize({"model": name, **evidence})).hexdigest()
    existing = store.version_by_digest(writer.conn, name, digest)
    if existing is not None:
        return existing, None
    version = store.next_version(writer.conn, name)
    [receipt] = writer.append([Draft("model_version.created", actor,
                                     {"model": name, "version": str(version), "run": run_id},
                                     {"evidence": evidence, "version_digest": digest})])
    return _version(writer.conn, name, version), receipt


def register_from_source(writer: LedgerWriter, actor: str, name: str, run_id: str,
                         artifact_path: str, source: str, logged_model_id: str | None,
                         tags: Mapping[str, str], description: str | None) -> int:
    """MLflow's create-model-version as one unit: the version (or the existing one with the
    same digests), and for a new one the source it was named by, its tags and description."""
    row, receipt = register_version(writer, actor, name, run_id, artifact_path)
    if receipt is not None:
        record_source(writer, actor, name, row.version, source, logged_model_id)
        if tags:
            set_version_tags(writer, actor, name, row.version, tags)
        if description:
            describe_version(writer, actor, name, row.version, description)
    return row.version


# A version registered from a source we do not hold (app/services/unpinned.py).

def refuse_unpinned(row: store.VersionRow, label: str) -> None:
    """An unpinned version reaches no protected target (nor a promotion to one)."""
    if row.run_id is not None:
        return
    source = row.evidence.get("source")
    raise Forbidden(
        f"version {row.version} of {row.model_name!r} is unpinned: it was registered from "
        f"{source!r}, whose files mlaudit does not hold or digest, so it cannot be promoted "
        f"to {label}, which is protected. Register its files with their digests (POST "
        "/api/v1/runs/<run_id>/artifacts/external), pin the version to them (POST "
        f"/api/v1/models/{row.model_name}/versions/{row.version}/pin), then request a "
        "promotion")


def set_policy(writer: LedgerWriter, actor: str, name: str,
               document: Mapping[str, Any]) -> Receipt:
    _model(writer, name, lock=True)
    try:
        policy = gates.validate_policy(document)
    except gates.PolicyError as exc:
        raise Invalid(str(exc)) from exc
    [receipt] = writer.append([Draft("policy.set", actor, {"model": name}, {"policy": policy})])
    return receipt


def evaluate_gates(conn: Any, model: store.ModelRow, version: store.VersionRow) -> dict[str, Any]:
    """The model's current policy judged on the version's run; with who set it and when."""
    found = store.current_policy(conn, model.name)
    if found is None:  # nothing was judged: not a pass (policy_seq null says "no policy")
        return {"policy_seq": None, "passed": None, "results": []}
    policy, set_by, seq = found
    if version.run_id is None:  # unpinned: no run of ours to judge, so nothing passes
        return {"policy_seq": seq, "policy_set_by": set_by, "passed": None, "results": []}
    evaluation = gates.evaluate(policy, _gate_evidence(conn, model, version.run_id))
    return {"policy_seq": seq, "policy_set_by": set_by, "passed": evaluation.passed,
            "results": [{"gate": r.gate, "passed": r.passed, "detail": r.detail,
                         "figures": dict(r.figures)} for r in evaluation.results]}


def _gate_evidence(conn: Any, model: store.ModelRow, run_id: str) -> gates.Evidence:
    latest = runs.latest_metrics(conn, run_id)
    grouped: dict[str, list[gates.GroupedValue]] = {}
    for metric in latest:
        if metric.group_values:
            grouped.setdefault(metric.key, []).append(
                gates.GroupedValue(metric.group_values, metric.value, metric.n))
    return gates.Evidence(
        params=runs.get_params(conn, run_id), tags=runs.get_tags(conn, run_id),
        datasets=[(i.name, i.digest, i.context) for i in runs.get_inputs(conn, run_id)],
        metrics={m.key: m.value for m in latest if not m.group_values},
        grouped=grouped, sensitive_attributes=model.sensitive_attributes)


def protected_as(model: store.ModelRow, target: str) -> str | None:
    """The model's protected target that target names, ignoring case; None if unprotected."""
    key = fold(target)
    return next((p for p in model.protected_targets if fold(p) == key), None)


def _protected(model: store.ModelRow, target: str) -> bool:
    return protected_as(model, target) is not None


def _one_spelling(model: store.ModelRow, target: str) -> None:
    """A protected name has one spelling: another is refused, never stored beside it."""
    canonical = protected_as(model, target)
    if canonical is not None and canonical != target:
        raise Forbidden(f"{shown(target)} is {shown(canonical)}, protected for model "
                        f"{model.name!r}, spelled differently (protected names compare "
                        f"ignoring case): use {shown(canonical)}, through a promotion")


def _apply_target(writer: LedgerWriter, actor: str, model: store.ModelRow,
                  version: store.VersionRow, target: str, via: str | None,
                  deployment: str | None = None) -> Receipt:
    """Put the version at a stage or alias, citing the approval (via) and, when a rollback
    restores it, the rollback's deployment."""
    kind, _, value = target.partition(":")
    if _protected(model, target):
        refuse_unpinned(version, shown(target))
    subject = {"model": model.name, "version": str(version.version)}
    body: dict[str, Any] = {kind: value, "previous": None, "promotion": via}
    if deployment is not None:
        body["deployment"] = deployment
    if kind == "stage":
        body["previous"] = version.stage
        [receipt] = writer.append([Draft("model_version.stage_set", actor, subject, body)])
    else:
        body["previous"] = store.aliases(writer.conn, model.name).get(value)
        [receipt] = writer.append([Draft("model_alias.set", actor, subject, body)])
    return receipt


def move(writer: LedgerWriter, actor: str, name: str, version: int, target_text: str
         ) -> list[Receipt]:
    """Change a stage or alias directly: only for unprotected targets."""
    model = _model(writer, name, lock=True)
    row = _version(writer.conn, name, version)
    target = parse_target(target_text)
    _one_spelling(model, target)
    if _protected(model, target):
        raise Conflict(f"{target_text} is protected for model {name!r}: request a promotion "
                       f"(POST /api/v1/models/{name}/versions/{version}/promotions) and have "
                       "an approver decide it")
    _demotions().refuse_silent_exit(model, row, target)
    receipts = [_apply_target(writer, actor, model, row, target, None)]
    if target.startswith("stage:"):
        receipts += _invalidate_pending(writer, actor, name, version)
    return receipts


def _invalidate_pending(writer: LedgerWriter, actor: str, name: str,
                        version: int) -> list[Receipt]:
    receipts = []
    for promotion in store.promotions(writer.conn, name, "pending"):
        if promotion.version != version:
            continue
        [receipt] = writer.append([Draft("promotion.invalidated", actor,
                                         {"promotion": promotion.id, "model": name},
                                         {"reason": "the version changed stage by other means"})])
        receipts.append(receipt)
    return receipts


# Metadata that MLflow clients change after creation; each change is an entry.

def _touch_model(writer: LedgerWriter, actor: str, name: str, kind: str,
                 body: dict[str, Any]) -> Receipt:
    _model(writer, name, lock=True)
    [receipt] = writer.append([Draft(kind, actor, {"model": name}, body)])
    return receipt


def describe_model(writer: LedgerWriter, actor: str, name: str, description: str) -> Receipt:
    return _touch_model(writer, actor, name, "model.description_set",
                        {"description": description})


def set_model_tag(writer: LedgerWriter, actor: str, name: str, key: str, value: str) -> Receipt:
    return _touch_model(writer, actor, name, "model.tags_set", {"tags": {key: value}})


def delete_model_tag(writer: LedgerWriter, actor: str, name: str, key: str) -> Receipt | None:
    """Deleting a tag the model does not have changes nothing and records nothing."""
    if key not in _model(writer, name, lock=True).tags:
        return None
    return _touch_model(writer, actor, name, "model.tag_deleted", {"key": key})


def _touch_version(writer: LedgerWriter, actor: str, name: str, version: int, kind: str,
                   body: dict[str, Any]) -> Receipt:
    writer.lock()
    _version(writer.conn, name, version)
    [receipt] = writer.append([Draft(kind, actor, {"model": name, "version": str(version)},
                                     body)])
    return receipt


def describe_version(writer: LedgerWriter, actor: str, name: str, version: int,
                     description: str) -> Receipt:
    return _touch_version(writer, actor, name, version, "model_version.description_set",
                          {"description": description})


def record_source(writer: LedgerWriter, actor: str, name: str, version: int, source: str,
                  logged_model_id: str | None) -> Receipt:
    """The source URI an MLflow client registered the version from (and its logged model)."""
    return _touch_version(writer, actor, name, version, "model_version.source_set",
                          {"source": source, "logged_model": logged_model_id})


def set_version_tags(writer: LedgerWriter, actor: str, name: str, version: int,
                     tags: Mapping[str, str]) -> Receipt:
    if PINNED_TAG in tags or PIN_TAG in tags:
        raise Invalid(f"tag {PINNED_TAG!r} is set by the server (whether the version's files "
                      f"are held and digested) and {PIN_TAG!r} is no tag: pin a version with "
                      f"POST /api/v1/models/{name}/versions/{version}/pin, or set-tag "
                      f"{PIN_TAG!r} alone to runs:/<run_id>/<path>")
    return _touch_version(writer, actor, name, version, "model_version.tags_set",
                          {"tags": dict(tags)})


def delete_version_tag(writer: LedgerWriter, actor: str, name: str, version: int,
                       key: str) -> Receipt | None:
    writer.lock()
    _version(writer.conn, name, version)
    if key not in store.version_tags_for(writer.conn, [name]).get((name, version), {}):
        return None
    return _touch_version(writer, actor, name, version, "model_version.tag_deleted",
                          {"key": key})


# Stages and aliases as MLflow clients move them: protected targets only under an approval.

def how_to_request(name: str, version: int, target_text: str) -> str:
    return (f"request a promotion with POST /api/v1/models/{name}/versions/{version}/promotions "
            f'{{"target": "{target_text}", "justification": "..."}}, have an independent '
            "approver approve it (POST /api/v1/promotions/<id>/decisions), then retry")


def _latest_approval(conn: Any, name: str, target: str) -> store.PromotionRow | None:
    approved = [p for p in store.promotions(conn, name, "approved") if p.target == target]
    return max(approved, key=lambda p: p.closed_seq or 0, default=None)


def reach_target(writer: LedgerWriter, actor: str, name: str, version: int,
                 target_text: str) -> list[Receipt]:
    """Unprotected targets move directly; a protected one only to the version its latest
    approved promotion names (applied citing it, or nothing to do if already there)."""
    writer.lock()  # decide on the approvals as committed by every other writer
    model = _model(writer, name)
    row = _version(writer.conn, name, version)
    target = parse_target(target_text)
    _one_spelling(model, target)
    if not _protected(model, target):
        return move(writer, actor, name, version, target_text)
    kind, _, value = target.partition(":")
    label = f"stage {value}" if kind == "stage" else f"alias @{value}"
    refuse_unpinned(row, label)
    approval = _latest_approval(writer.conn, name, target)
    if approval is None or approval.version != version:
        which = ("no promotion to it has been approved" if approval is None else
                 f"its latest approved promotion ({approval.id}) is for version "
                 f"{approval.version}")
        raise Forbidden(f"{label} is protected for model {name!r} and {which}: "
                        + how_to_request(name, version, target_text))
    current = row.stage if kind == "stage" else store.aliases(writer.conn, name).get(value)
    if current == (value if kind == "stage" else version):
        return []
    left = store.left_target_after(writer.conn, name, version, target, approval.closed_seq or 0)
    if left is not None:  # demoted or rolled back since: that approval is spent
        raise Forbidden(f"version {version} left {label} at entry {left}, after promotion "
                        f"{approval.id} approved it; returning needs a new approval: "
                        + how_to_request(name, version, target_text))
    return [_apply_target(writer, actor, model, row, target, approval.id)]


def transition(writer: LedgerWriter, actor: str, name: str, version: int, stage: str,
               archive_existing: bool) -> list[Receipt]:
    """MLflow's transition-stage; archiving the others is checked like any other move."""
    receipts = reach_target(writer, actor, name, version, stage)
    target = parse_target(stage)
    canonical = target.partition(":")[2]
    if archive_existing and canonical in ("Staging", "Production"):
        approval = _latest_approval(writer.conn, name, target)
        receipts += _demotions().archive_replaced(writer, actor, name, version, canonical,
                                                  approval.id if approval else None)
    return receipts


def _demotions() -> Any:
    """app/services/demotions.py, which builds on this module (imported when first used)."""
    from app.services import demotions
    return demotions


def delete_alias(writer: LedgerWriter, actor: str, name: str, alias: str) -> Receipt:
    """Unprotected aliases only: a protected one changes only through a promotion."""
    model = _model(writer, name, lock=True)
    current = store.aliases(writer.conn, name).get(alias)
    if current is None:
        raise Invalid(f"Registered model alias {alias} not found.")
    # Exactly the protected spelling: another spelling of a protected name (set before
    # protection compared case-insensitively) may be deleted, which only tidies it away.
    if f"alias:{alias}" in model.protected_targets:
        raise Forbidden(f"alias @{alias} is protected for model {name!r}; it moves only through "
                        "an approved promotion, and leaves a version only with a reason: "
                        + _demotions().how_to_demote(name, current, f"@{alias}"))
    [receipt] = writer.append([Draft("model_alias.deleted", actor,
                                     {"model": name, "version": str(current)}, {"alias": alias})])
    return receipt


# Protected names and sensitive attributes after creation (issue 16): anyone who may write
# may protect more or declare more attributes; only an admin may take one away, as only an
# admin may create a model that leaves a default name unprotected.

def protected_set(texts: Sequence[str]) -> list[str]:
    """Targets as stored: parsed, sorted, each name once (two spellings of one are refused)."""
    targets: dict[str, str] = {}
    for text in texts:
        target = parse_target(text)
        seen = targets.setdefault(fold(target), target)
        if seen != target:
            raise Invalid(f"{shown(seen)} and {shown(target)} are one protected name "
                          "(protected names compare ignoring case): give it once")
    return sorted(targets.values())


def left_open(before: Sequence[str], after: Sequence[str]) -> list[str]:
    """The targets of before that after no longer protects, in any spelling."""
    kept = {fold(t) for t in after}
    return [t for t in before if fold(t) not in kept]


def set_protected_targets(writer: LedgerWriter, actor: str, name: str, texts: Sequence[str],
                          may_narrow: bool) -> tuple[list[str], Receipt | None]:
    """The model's protected set (a `model.protection_set` entry), or nothing if unchanged.
    A name is not newly protected while an alias of it stands without an approval."""
    model = _model(writer, name, lock=True)
    targets = protected_set(texts)
    if targets == sorted(model.protected_targets):
        return targets, None
    dropped = left_open(model.protected_targets, targets)
    if dropped and not may_narrow:
        raise Forbidden(f"only an admin may stop protecting "
                        f"{', '.join(shown(t) for t in dropped)} for model {name!r}")
    current = store.aliases(writer.conn, name)
    for target in targets:
        if target in model.protected_targets:
            continue
        held = sorted(a for a in current if fold(f"alias:{a}") == fold(target))
        if held:
            raise Conflict(f"@{held[0]} points at version {current[held[0]]} of {name!r}, set "
                           f"while {shown(target)} was not protected: delete that alias first "
                           "(then promote a version to it), so that no unapproved alias "
                           "carries a protected name")
    [receipt] = writer.append([Draft("model.protection_set", actor, {"model": name},
                                     {"protected_targets": targets})])
    return targets, receipt


def set_sensitive_attributes(writer: LedgerWriter, actor: str, name: str,
                             attributes: Sequence[str], may_narrow: bool
                             ) -> tuple[list[str], Receipt | None]:
    """The attributes the gates and reports group by (`model.sensitive_attributes_set`)."""
    model = _model(writer, name, lock=True)
    chosen = sorted(set(attributes))
    if chosen == list(model.sensitive_attributes):
        return chosen, None
    dropped = sorted(set(model.sensitive_attributes) - set(chosen))
    if dropped and not may_narrow:
        raise Forbidden(f"only an admin may remove sensitive attributes ({', '.join(dropped)}) "
                        f"of model {name!r}: the gates judge groups by them")
    [receipt] = writer.append([Draft("model.sensitive_attributes_set", actor, {"model": name},
                                     {"sensitive_attributes": chosen})])
    return chosen, receipt
