"""What the database itself checks at commit, for the rows that confer authority.

Each guard names a table, the column holding the seq of the entry a row stands on, and per
entry kind the value every column must have, read from that entry (app/storage/schema_gen.py
turns this into deferred constraint triggers). A row whose entry is missing, of another kind,
about another subject, or says other values is refused, so a role that can insert rows still
cannot grant, approve, stage, alias, deploy or pin anything the ledger does not say.

Sources: `subject.X`, `body.X[.Y]` (text), `json:body.X` (JSON value), `actor`, `recorded_at`,
`seq`, `hex:body.X` / `base64:body.X` (bytes), `sql:EXPR` (any expression over `doc`, the
entry's JSON, and `NEW`), `keep` (as the entity's previous revision), or a literal
(`'active'`, `null`, `true`, `false`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from app.kinds.tables import BY_NAME


@dataclass(frozen=True)
class Guard:
    table: str
    seq: str
    kinds: Mapping[str, Mapping[str, str]]
    checks: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    """Per kind: (label, SQL condition that must be false) pairs beyond the column values."""


def _all(table: str, values: Mapping[str, str]) -> dict[str, str]:
    """values for the named columns; every other column as the previous revision has it."""
    columns = BY_NAME[table].names
    unknown = set(values) - set(columns)
    if unknown:
        raise ValueError(f"{table} has no column {sorted(unknown)}")
    return {c: values.get(c, "keep") for c in columns}


def _fold(text: str) -> str:
    """SQL: ASCII letters in lower case, whatever the database's locale (as the app's
    registry.fold: protected names compare ignoring case)."""
    return f'lower(({text}) COLLATE "C")'


# The model's protected set as of the entry (its latest revision before it), so a rebuild
# judges each entry by the set in force when it was written.
_PROTECTED_SET = ("(SELECT r.protected_targets FROM registered_model_revisions r "
                  "WHERE r.name = NEW.model_name AND r.seq < NEW.seq ORDER BY r.seq DESC LIMIT 1)")
# Since the database adopted the rule (a rules.adopted entry), names compare ignoring case;
# entries written before it are judged as they were then, by exact names.
_IGNORE_CASE = ("EXISTS (SELECT 1 FROM rules_adopted a WHERE a.rule = "
                "'protected-names-ignore-case' AND a.seq < NEW.seq)")


def _is_protected(target: str) -> str:
    """SQL: the model's protected set as of the entry holds this target (ignoring case once
    the rule is adopted)."""
    return (f"EXISTS (SELECT 1 FROM jsonb_array_elements_text({_PROTECTED_SET}) t (target) "
            f"WHERE t.target = {target} OR ({_IGNORE_CASE} AND "
            f"{_fold('t.target')} = {_fold(target)}))")


# Since the rule is adopted, an approval is spent once its version left the target after it.
_SPENDING = ("EXISTS (SELECT 1 FROM rules_adopted a WHERE a.rule = "
             "'approvals-spent-on-leaving' AND a.seq < NEW.seq)")
# ...unless the entry restores the version after a rollback of it (its deployment cited).
_RESTORES = ("EXISTS (SELECT 1 FROM deployments d WHERE d.id = doc #>> '{body,deployment}' "
             "AND d.rollback_of IS NOT NULL AND d.model_name = NEW.model_name "
             "AND d.version = NEW.version AND d.seq < NEW.seq)")


def _left(left: str) -> str:
    """SQL: after promotion p closed and before this entry, the version left the target."""
    return f"({_SPENDING} AND NOT {_RESTORES} AND {left})"


def _protected(target: str, left: str = "false") -> str:
    """SQL: the target is protected (above) and no approved promotion of this version to it
    (as spelled) is the one the entry cites, or that approval is spent (left)."""
    return (
        f"{_is_protected(target)} AND NOT EXISTS (SELECT 1 FROM promotions p "
        "WHERE p.id = doc #>> '{body,promotion}' AND p.status = 'approved' "
        f"AND p.model_name = NEW.model_name AND p.version = NEW.version AND p.target = {target} "
        f"AND NOT {_left(left)})")


_LEFT_STAGE = ("EXISTS (SELECT 1 FROM model_version_revisions r WHERE r.model_name = "
               "NEW.model_name AND r.version = NEW.version AND r.stage_seq = r.seq "
               "AND r.stage IS DISTINCT FROM NEW.stage AND r.seq > p.closed_seq "
               "AND r.seq < NEW.seq)")
_LEFT_ALIAS = ("EXISTS (SELECT 1 FROM alias_events e WHERE e.model_name = NEW.model_name "
               "AND e.alias = NEW.alias AND e.seq > p.closed_seq AND e.seq < NEW.seq "
               "AND e.version IS DISTINCT FROM NEW.version AND EXISTS (SELECT 1 FROM "
               "alias_events b WHERE b.model_name = e.model_name AND b.alias = e.alias "
               "AND b.version = NEW.version AND b.seq > p.closed_seq AND b.seq < e.seq))")


# The parts of a C2SP verifier key string: name, 8 hex digits of key id, base64 of 0x01 ‖ key.
_VKEY = "(regexp_match(doc #>> '{body,verifier_key}', '^([^+]+)[+]([0-9a-f]{8})[+](.+)$'))"
# An approval closes a promotion only when the distinct approvers (people; tokens for decisions
# recorded before principals existed) make the model's quorum.
_QUORUM = ("(SELECT count(DISTINCT coalesce(d.principal_id, d.approver)) FROM decisions d "
           "WHERE d.promotion_id = NEW.id "
           "AND d.outcome = 'approve' AND d.seq <= NEW.seq) < (SELECT m.quorum FROM "
           "registered_models m WHERE m.name = NEW.model_name)")
_VERSION_CREATED = {
    "model_name": "subject.model", "version": "subject.version", "run_id": "subject.run",
    "artifact_path": "body.evidence.artifact_path", "evidence": "json:body.evidence",
    "version_digest": "body.version_digest", "stage": "'None'", "created_by": "actor",
    "created_seq": "seq", "stage_seq": "null", "description": "''", "source": "null",
    "logged_model_id": "null", "updated_seq": "null", "seq": "seq"}
_VERSION_KEY = {"model_name": "subject.model", "version": "subject.version", "seq": "seq"}
# A version registered from a source we do not hold (issue 19): nothing pinned.
_VERSION_UNPINNED = {
    **_VERSION_CREATED, "run_id": "null", "artifact_path": "''",
    "evidence": "sql:jsonb_build_object('pinned', false, 'source', doc #> '{body,source}', "
                "'run', doc #> '{body,run}')", "source": "body.source"}
# ...and its pinning to files of a run of ours, registered with digests.
_VERSION_PINNED = {
    **_VERSION_KEY, "run_id": "subject.run", "artifact_path": "body.evidence.artifact_path",
    "evidence": "json:body.evidence", "version_digest": "body.version_digest",
    "updated_seq": "seq"}
# SQL: the version, as of the entry (its latest revision before it), is unpinned.
_UNPINNED = ("coalesce((SELECT r.run_id IS NULL FROM model_version_revisions r "
             "WHERE r.model_name = NEW.model_name AND r.version = NEW.version "
             "AND r.seq < NEW.seq ORDER BY r.seq DESC LIMIT 1), false)")
_MODEL_CREATED = {
    "name": "subject.model", "description": "body.description", "owner": "body.owner",
    "tags": "json:body.tags", "sensitive_attributes": "json:body.sensitive_attributes",
    "protected_targets": "json:body.protected_targets", "quorum": "body.quorum",
    "created_by": "actor", "created_seq": "seq", "updated_seq": "null", "seq": "seq"}
_MODEL_KEY = {"name": "subject.model", "updated_seq": "seq", "seq": "seq"}
_MODEL_CHANGES = {
    "model.description_set": {**_MODEL_KEY, "description": "body.description"},
    "model.tags_set": {**_MODEL_KEY, "tags": "sql:prev.tags || (doc -> 'body' -> 'tags')"},
    "model.tag_deleted": {**_MODEL_KEY, "tags": "sql:prev.tags - (doc #>> '{body,key}')"},
    "model.protection_set": {**_MODEL_KEY,
                             "protected_targets": "json:body.protected_targets"},
    "model.sensitive_attributes_set": {
        **_MODEL_KEY, "sensitive_attributes": "json:body.sensitive_attributes"},
    "model_version.created": _MODEL_KEY, "model_version.created_unpinned": _MODEL_KEY}
_PROMOTION_CLOSED = {"id": "subject.promotion", "closed_seq": "seq", "seq": "seq"}
_DECISION = {"promotion_id": "subject.promotion", "seq": "seq", "approver": "body.approver",
             "role": "body.role", "outcome": "sql:CASE doc ->> 'kind' WHEN 'decision.approved' "
             "THEN 'approve' WHEN 'decision.rejected' THEN 'reject' ELSE 'refused' END",
             "comment": "body.comment", "exception": "json:body.exception",
             "version_digest": "body.version_digest", "gates": "json:body.gates",
             "principal_id": "body.principal"}


def _person(actor: str) -> str:
    """SQL: who an actor is, as separation of duties compares: its token's principal (by the
    token.created or token.assigned entry), else the actor itself (`cli:`, `system`)."""
    return f"coalesce(mlaudit_principal_of({actor}, NULL), {actor})"


_APPROVER = "coalesce(NEW.principal_id, mlaudit_principal_of(NEW.approver, NULL), NEW.approver)"
# Every decision since principals exist names the principal its token belonged to then.
_OWN_PRINCIPAL = ("the principal its token belongs to",
                  "NEW.principal_id IS DISTINCT FROM mlaudit_principal_of(NEW.approver, NEW.seq)")
_SEPARATION = (
    ("an approver who did not request it",
     f"{_APPROVER} = (SELECT {_person('p.requested_by')} FROM promotions p "
     "WHERE p.id = NEW.promotion_id)"),
    ("an approver who did not build it",
     f"{_APPROVER} IN (SELECT {_person('v.created_by')} FROM promotions p JOIN model_versions v "
     "ON v.model_name = p.model_name AND v.version = p.version WHERE p.id = NEW.promotion_id "
     f"UNION SELECT {_person('r.created_by')} FROM promotions p JOIN model_versions v "
     "ON v.model_name = p.model_name AND v.version = p.version JOIN runs r ON r.id = v.run_id "
     "WHERE p.id = NEW.promotion_id)"),
    ("an approver who is a person",
     "EXISTS (SELECT 1 FROM principals x WHERE x.id = NEW.principal_id AND x.kind <> 'person')"),
    _OWN_PRINCIPAL)
_DEPLOYMENT = {"id": "subject.deployment", "model_name": "subject.model",
               "version": "body.version", "environment": "body.environment",
               "deployer": "actor", "target": "json:body.target",
               "promotion_id": "body.promotion", "rollback_of": "body.rollback_of",
               "reason": "body.reason", "deployed_at": "recorded_at", "seq": "seq"}
_RUN_CHANGE = {"id": "subject.run", "experiment_id": "subject.experiment", "seq": "seq"}


def _run_change(**values: str) -> dict[str, str]:
    return _all("run_revisions", {**_RUN_CHANGE, **values})


GUARDS: tuple[Guard, ...] = (
    Guard("signing_keys", "seq", {"key.activated": {
        "verifier_key": "body.verifier_key", "name": f"sql:{_VKEY}[1]",
        "key_id": f"sql:('x' || {_VKEY}[2])::bit(32)::bigint",
        "public_key": f"sql:substring(decode({_VKEY}[3], 'base64') FROM 2)",
        "activated_at": "recorded_at", "seq": "seq"}}),
    Guard("tokens", "created_seq", {"token.created": {
        "id": "subject.token", "name": "body.name", "role": "body.role",
        "token_hash": "hex:body.token_sha256", "created_at": "recorded_at",
        "created_seq": "seq", "expires_at": "body.expires_at"}}),
    Guard("principals", "seq", {"principal.created": {
        "id": "subject.principal", "name": "body.name", "display_name": "body.display_name",
        "kind": "body.kind", "created_at": "recorded_at", "seq": "seq"}}),
    Guard("token_principals", "seq", {
        "token.created": {"token_id": "subject.token", "principal_id": "body.principal",
                          "seq": "seq"},
        "token.assigned": {"token_id": "subject.token", "principal_id": "subject.principal",
                           "seq": "seq"}}),
    Guard("rules_adopted", "seq", {"rules.adopted": {
        "rule": "sql:CASE WHEN (doc -> 'body' -> 'rules') ? NEW.rule THEN NEW.rule END",
        "seq": "seq"}}),
    Guard("token_revocations", "seq", {"token.revoked": {
        "token_id": "subject.token", "revoked_at": "recorded_at", "seq": "seq"}}),
    Guard("grant_events", "seq", {
        "grant.created": {"token_id": "subject.token", "experiment_id": "subject.experiment",
                          "granted": "true", "seq": "seq"},
        "grant.revoked": {"token_id": "subject.token", "experiment_id": "subject.experiment",
                          "granted": "false", "seq": "seq"}}),
    Guard("client_keys", "seq", {"client_key.registered": {
        "key_id": "subject.key", "token_id": "subject.token",
        "public_key": "base64:body.public_key", "seq": "seq"}}),
    Guard("registered_model_revisions", "seq", {
        "model.created": _MODEL_CREATED,
        **{kind: _all("registered_model_revisions", values)
           for kind, values in _MODEL_CHANGES.items()}}),
    Guard("model_version_revisions", "seq", {
        "model_version.created": _VERSION_CREATED,
        "model_version.created_unpinned": _VERSION_UNPINNED,
        "model_version.pinned": _all("model_version_revisions", _VERSION_PINNED),
        "model_version.stage_set": _all("model_version_revisions", {
            **_VERSION_KEY, "stage": "body.stage", "stage_seq": "seq"}),
        "model_version.source_set": _all("model_version_revisions", {
            **_VERSION_KEY, "updated_seq": "seq", "source": "body.source",
            "logged_model_id": "sql:coalesce(doc #>> '{body,logged_model}', "
                               "prev.logged_model_id)"}),
        "model_version.description_set": _all("model_version_revisions", {
            **_VERSION_KEY, "updated_seq": "seq", "description": "body.description"}),
        **{kind: _all("model_version_revisions", {**_VERSION_KEY, "updated_seq": "seq"})
           for kind in ("model_version.tags_set", "model_version.tag_deleted")}},
        {"model_version.stage_set": (
            ("a pinned version", "NEW.run_id IS NULL AND "
             + _is_protected("'stage:' || NEW.stage")),
            ("an approved promotion", _protected("'stage:' || NEW.stage", _LEFT_STAGE))),
         "model_version.pinned": (("an unpinned version", "prev.run_id IS NOT NULL"),)}),
    Guard("alias_events", "seq", {
        "model_alias.set": {"model_name": "subject.model", "alias": "body.alias",
                            "version": "subject.version", "promotion_id": "body.promotion",
                            "seq": "seq"},
        "model_alias.deleted": {"model_name": "subject.model", "alias": "body.alias",
                                "version": "null", "promotion_id": "null", "seq": "seq"}},
        {"model_alias.set": (("a pinned version", f"{_UNPINNED} AND "
                              + _is_protected("'alias:' || NEW.alias")),
                             ("an approved promotion", _protected("'alias:' || NEW.alias",
                                                                  _LEFT_ALIAS))),
         # Exact names: a case variant of a protected alias (left by an older version)
         # can be deleted, as registry.delete_alias allows; the protected name itself not.
         "model_alias.deleted": (("an unprotected alias",
                                  f"({_PROTECTED_SET}) ? ('alias:' || NEW.alias)"),)}),
    Guard("model_policies", "seq", {"policy.set": {
        "model_name": "subject.model", "policy": "json:body.policy", "set_by": "actor",
        "seq": "seq"}}),
    Guard("promotion_revisions", "seq", {
        "promotion.requested": {
            "id": "subject.promotion", "model_name": "subject.model",
            "version": "subject.version", "target": "body.target",
            "justification": "body.justification", "classification": "body.classification",
            "requested_by": "actor", "status": "'pending'", "gates": "json:body.gates",
            "policy_seq": "body.gates.policy_seq", "created_seq": "seq", "closed_seq": "null",
            "seq": "seq"},
        "decision.approved": _all("promotion_revisions", {**_PROMOTION_CLOSED,
                                                          "status": "'approved'"}),
        "decision.rejected": _all("promotion_revisions", {**_PROMOTION_CLOSED,
                                                          "status": "'rejected'"}),
        "promotion.withdrawn": _all("promotion_revisions", {**_PROMOTION_CLOSED,
                                                            "status": "'withdrawn'"}),
        "promotion.invalidated": _all("promotion_revisions", {**_PROMOTION_CLOSED,
                                                              "status": "'invalidated'"})},
        {"promotion.requested": (("a pinned version", _UNPINNED),),
         **{kind: (("a pending promotion", "prev.status IS DISTINCT FROM 'pending'"),
                   *((("the quorum", _QUORUM),) if kind == "decision.approved" else ()))
            for kind in ("decision.approved", "decision.rejected", "promotion.withdrawn",
                         "promotion.invalidated")}}),
    Guard("decisions", "seq", {kind: _DECISION for kind in (
        "decision.approved", "decision.rejected", "decision.refused")},
        {"decision.approved": _SEPARATION, "decision.rejected": (_OWN_PRINCIPAL,),
         "decision.refused": (_OWN_PRINCIPAL,)}),
    Guard("deployments", "seq", {kind: _DEPLOYMENT for kind in (
        "deployment.recorded", "deployment.rolled_back")},
        {kind: (("an approved promotion of the version", (
            "NEW.promotion_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM promotions p "
            "WHERE p.id = NEW.promotion_id AND p.status = 'approved' "
            "AND p.model_name = NEW.model_name AND p.version = NEW.version)")),)
         for kind in ("deployment.recorded", "deployment.rolled_back")}),
    Guard("run_revisions", "seq", {
        "run.created": {"id": "subject.run", "experiment_id": "subject.experiment",
                        "name": "body.name", "status": "'RUNNING'", "source": "json:body.source",
                        "parent_run_id": "body.parent_run", "start_time": "body.start_time",
                        "end_time": "null", "created_by": "actor", "user_id": "body.user_id",
                        "created_seq": "seq",
                        "ended_seq": "null", "manifest_sha256": "null", "lifecycle": "'active'",
                        "lifecycle_seq": "null", "renamed_seq": "null", "reopened_seq": "null",
                        "seq": "seq"},
        "run.ended": _run_change(status="body.status", end_time="body.end_time",
                                 ended_seq="seq", manifest_sha256="body.manifest_sha256"),
        "run.reopened": _run_change(status="'RUNNING'", end_time="null", ended_seq="null",
                                    manifest_sha256="null", reopened_seq="seq"),
        "run.renamed": _run_change(name="body.name", renamed_seq="seq"),
        "run.deleted": _run_change(lifecycle="'deleted'", lifecycle_seq="seq"),
        "run.restored": _run_change(lifecycle="'active'", lifecycle_seq="seq")}),
    Guard("reports_issued", "seq", {"report.issued": {
        "report_id": "subject.report", "kind": "body.kind", "subject": "body.subject",
        "bundle_sha256": "body.bundle_sha256", "pdf_sha256": "body.pdf_sha256",
        "tree_size": "body.tree_size", "issued_to": "body.issued_to", "seq": "seq",
        "issued_at": "recorded_at"}}),
)


# Declared environments and demotions (app/kinds/protection.py): the environments' own guard,
# and the kinds and checks they add to the guards above.

_REASON = ("a reason", "coalesce(btrim(doc #>> '{body,reason}'), '') = ''")
_ENVIRONMENT_DECLARED = {"name": "subject.environment",
                         "protected": "sql:(doc #>> '{body,protected}')::boolean",
                         "declared_by": "actor", "declared_seq": "seq", "seq": "seq"}
# A deployment names an environment declared before it, or adopted by the upgrade (which
# declares, after them, the environments earlier deployments used); a protected one, as it
# was at the deployment's seq, needs the approved promotion the entry cites.
_DECLARED = ("NOT EXISTS (SELECT 1 FROM environment_revisions e WHERE e.name = NEW.environment "
             "AND (e.seq < NEW.seq OR e.adopted))")
_UNAPPROVED = ("NEW.promotion_id IS NULL AND coalesce((SELECT e.protected FROM "
               "environment_revisions e WHERE e.name = NEW.environment AND e.seq < NEW.seq "
               "ORDER BY e.seq DESC LIMIT 1), false)")
_ADDED: dict[str, tuple[dict[str, dict[str, str]], dict[str, tuple[tuple[str, str], ...]]]] = {
    "deployments": ({}, {kind: (("a declared environment", _DECLARED),
                                ("an approved promotion for a protected environment",
                                 _UNAPPROVED))
                         for kind in ("deployment.recorded", "deployment.rolled_back")}),
    "model_version_revisions": (
        {"model_version.demoted": _all("model_version_revisions", {
            **_VERSION_KEY, "stage": "body.stage", "stage_seq": "seq"})},
        {"model_version.demoted": (_REASON, ("an unprotected stage", _is_protected(
            "'stage:' || NEW.stage")))}),
    "alias_events": (
        {"model_alias.removed": {"model_name": "subject.model", "alias": "body.alias",
                                 "version": "null", "promotion_id": "null", "seq": "seq"}},
        {"model_alias.removed": (_REASON,)}),
}


def _extended(guard: Guard) -> Guard:
    kinds, checks = _ADDED.get(guard.table, ({}, {}))
    merged = {kind: (*guard.checks.get(kind, ()), *checks.get(kind, ()))
              for kind in {*guard.checks, *checks}}
    return Guard(guard.table, guard.seq, {**guard.kinds, **kinds}, merged)


GUARDS = (*(_extended(g) for g in GUARDS), Guard("environment_revisions", "seq", {
    "environment.declared": {**_ENVIRONMENT_DECLARED, "adopted": "false"},
    "environment.adopted": {**_ENVIRONMENT_DECLARED, "adopted": "true"},
    "environment.protection_set": _all("environment_revisions", {
        "name": "subject.environment", "seq": "seq",
        "protected": "sql:(doc #>> '{body,protected}')::boolean"})}))
