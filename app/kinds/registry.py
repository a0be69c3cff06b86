"""Kinds of the model registry: models, versions, stages, aliases, policies, promotions,
decisions and deployments.

A promotion's status is a function of the entries about it: `pending` from its request;
`rejected` at a rejection; `approved` at the approval that brings the distinct approvers to
the model's quorum; `withdrawn` or `invalidated` at those entries. Nothing else closes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.kinds.core import (
    ARR,
    DEC,
    INT,
    NUL,
    OBJ,
    STR,
    Entry,
    Field,
    Kind,
    ReduceError,
    Rows,
    State,
    instant,
    integer,
    revision,
    rows,
    strings,
)
from app.kinds.tables import table

MODELS, MODEL_REVISIONS = table("registered_models"), table("registered_model_revisions")
VERSIONS, VERSION_REVISIONS = table("model_versions"), table("model_version_revisions")
PROMOTIONS, PROMOTION_REVISIONS = table("promotions"), table("promotion_revisions")
OUTCOMES = {"decision.approved": "approve", "decision.rejected": "reject",
            "decision.refused": "refused"}


def quorum_reached(approvers: set[str], quorum: int) -> bool:
    """Whether distinct approvers make the model's quorum (the one rule, for every caller)."""
    return len(approvers) >= quorum


def _version_key(entry: Entry) -> tuple[str, int]:
    return entry.subject["model"], integer(entry.subject["version"], "version")


def _model_created(entry: Entry, state: State) -> Rows:
    body = entry.body
    return [(MODEL_REVISIONS.name, [MODEL_REVISIONS.row({
        "name": entry.subject["model"], "description": body["description"],
        "owner": body["owner"], "tags": strings(body["tags"], "tags"),
        "sensitive_attributes": body["sensitive_attributes"],
        "protected_targets": body["protected_targets"],
        "quorum": integer(body["quorum"], "quorum"), "created_by": entry.actor,
        "created_seq": entry.seq, "updated_seq": None, "seq": entry.seq})])]


def _model_change(change: Callable[[Entry, dict[str, Any]], dict[str, Any]]
                  ) -> Callable[[Entry, State], Rows]:
    def reduce(entry: Entry, state: State) -> Rows:
        key = (entry.subject["model"],)
        current = state.current(MODELS.name, key) or {}
        return [revision(state, MODELS, MODEL_REVISIONS, key, entry.seq,
                         {**change(entry, current), "updated_seq": entry.seq})]
    return reduce


def _version_created(entry: Entry, state: State) -> Rows:
    body = entry.body
    name, version = _version_key(entry)
    evidence = body["evidence"]
    if not isinstance(evidence, dict) or type(evidence.get("artifact_path")) is not str:
        raise ReduceError("model_version.created has no evidence with an artifact_path")
    made = (VERSION_REVISIONS.name, [VERSION_REVISIONS.row({
        "model_name": name, "version": version, "run_id": entry.subject["run"],
        "artifact_path": evidence["artifact_path"], "evidence": evidence,
        "version_digest": body["version_digest"], "stage": "None", "created_by": entry.actor,
        "created_seq": entry.seq, "stage_seq": None, "description": "", "source": None,
        "logged_model_id": None, "updated_seq": None, "seq": entry.seq})])
    # A new version is a change of its model (MLflow's last_updated_timestamp).
    touched = revision(state, MODELS, MODEL_REVISIONS, (name,), entry.seq,
                       {"updated_seq": entry.seq})
    return [touched, made]


def _unpinned_created(entry: Entry, state: State) -> Rows:
    """A version whose files we do not hold: no run of ours, no artifact path, nothing pinned;
    its evidence says so and keeps the source (and run id) as the client gave them."""
    body = entry.body
    name, version = _version_key(entry)
    made = (VERSION_REVISIONS.name, [VERSION_REVISIONS.row({
        "model_name": name, "version": version, "run_id": None, "artifact_path": "",
        "evidence": unpinned_evidence(body["source"], body["run"]),
        "version_digest": body["version_digest"], "stage": "None", "created_by": entry.actor,
        "created_seq": entry.seq, "stage_seq": None, "description": "",
        "source": body["source"], "logged_model_id": None, "updated_seq": None,
        "seq": entry.seq})])
    touched = revision(state, MODELS, MODEL_REVISIONS, (name,), entry.seq,
                       {"updated_seq": entry.seq})
    return [touched, made]


def unpinned_evidence(source: str, run: str | None) -> dict[str, Any]:
    """The evidence column of an unpinned version (the one rule, for reducer and guard)."""
    return {"pinned": False, "source": source, "run": run}


def _pinned(entry: Entry, state: State) -> Rows:
    """An unpinned version pinned to files of a run of ours, registered with digests."""
    key = _version_key(entry)
    current = state.current(VERSIONS.name, key) or {}
    if current.get("run_id") is not None:
        raise ReduceError(f"version {key[1]} of {key[0]!r} is already pinned")
    evidence = entry.body["evidence"]
    if not isinstance(evidence, dict) or type(evidence.get("artifact_path")) is not str:
        raise ReduceError("model_version.pinned has no evidence with an artifact_path")
    return [revision(state, VERSIONS, VERSION_REVISIONS, key, entry.seq, {
        "run_id": entry.subject["run"], "artifact_path": evidence["artifact_path"],
        "evidence": evidence, "version_digest": entry.body["version_digest"],
        "updated_seq": entry.seq})]


def _version_change(change: Callable[[Entry, dict[str, Any]], dict[str, Any]],
                    events: Callable[[Entry], list[Any]] | None = None
                    ) -> Callable[[Entry, State], Rows]:
    def reduce(entry: Entry, state: State) -> Rows:
        key = _version_key(entry)
        current = state.current(VERSIONS.name, key) or {}
        changed = revision(state, VERSIONS, VERSION_REVISIONS, key, entry.seq,
                           change(entry, current))
        return rows(changed, ("model_version_tag_events", events(entry) if events else []))
    return reduce


def _version_tags(entry: Entry) -> list[Any]:
    name, version = _version_key(entry)
    return [(name, version, k, v, entry.seq)
            for k, v in strings(entry.body["tags"], "tags").items()]


def _version_tag_deleted(entry: Entry) -> list[Any]:
    name, version = _version_key(entry)
    return [(name, version, entry.body["key"], None, entry.seq)]


def _alias_set(entry: Entry, state: State) -> Rows:
    name, version = _version_key(entry)
    return [("alias_events", [(name, entry.body["alias"], version, entry.body["promotion"],
                               entry.seq)])]


def _alias_deleted(entry: Entry, state: State) -> Rows:
    return [("alias_events", [(entry.subject["model"], entry.body["alias"], None, None,
                               entry.seq)])]


def _policy(entry: Entry, state: State) -> Rows:
    return [("model_policies", [(entry.subject["model"], entry.body["policy"], entry.actor,
                                 entry.seq)])]


def _requested(entry: Entry, state: State) -> Rows:
    body = entry.body
    name, version = _version_key(entry)
    gates = body["gates"]
    policy_seq = gates.get("policy_seq") if isinstance(gates, dict) else None
    return [(PROMOTION_REVISIONS.name, [PROMOTION_REVISIONS.row({
        "id": entry.subject["promotion"], "model_name": name, "version": version,
        "target": body["target"], "justification": body["justification"],
        "classification": body["classification"], "requested_by": entry.actor,
        "status": "pending", "gates": gates, "policy_seq": policy_seq,
        "created_seq": entry.seq, "closed_seq": None, "seq": entry.seq})])]


def _close(state: State, entry: Entry, status: str) -> tuple[str, list[Any]]:
    key = (entry.subject["promotion"],)
    current = state.current(PROMOTIONS.name, key)
    if current is not None and current["status"] != "pending":
        raise ReduceError(f"promotion {key[0]} is already {current['status']}")
    return revision(state, PROMOTIONS, PROMOTION_REVISIONS, key, entry.seq,
                    {"status": status, "closed_seq": entry.seq})


def _decision(entry: Entry, state: State) -> Rows:
    body, promotion_id = entry.body, entry.subject["promotion"]
    outcome = OUTCOMES[entry.kind]
    if body["outcome"] != outcome:
        raise ReduceError(f"{entry.kind} entry's outcome is {body['outcome']!r}")
    promotion = state.current(PROMOTIONS.name, (promotion_id,))
    if promotion is None or promotion["status"] != "pending":
        found = "no entry requested it" if promotion is None else f"it is {promotion['status']}"
        raise ReduceError(f"a decision on promotion {promotion_id}, but {found}")
    exception = body["exception"]
    principal = body.get("principal")  # absent in decisions recorded before principals
    decided = ("decisions", [(promotion_id, entry.seq, body["approver"], body["role"], outcome,
                              body["comment"], exception, body["version_digest"],
                              body["gates"], principal)])
    if outcome == "refused":
        return [decided]
    if outcome == "reject":
        return [decided, _close(state, entry, "rejected")]
    model = state.current(MODELS.name, (promotion["model_name"],))
    quorum = 1 if model is None else int(model["quorum"])
    if quorum_reached(state.approvers(promotion_id) | {principal or body["approver"]}, quorum):
        return [decided, _close(state, entry, "approved")]
    return [decided]


def _closing(status: str) -> Callable[[Entry, State], Rows]:
    def reduce(entry: Entry, state: State) -> Rows:
        return [_close(state, entry, status)]
    return reduce


def _deployment(entry: Entry, state: State) -> Rows:
    body = entry.body
    return [("deployments", [(entry.subject["deployment"], entry.subject["model"],
                              integer(body["version"], "version"), body["environment"],
                              entry.actor, body["target"], body["promotion"],
                              body["rollback_of"], body["reason"], instant(entry.recorded_at),
                              entry.seq)])]


VERSION = ("model", "version")
DECISION_FIELDS = (Field("decision", STR), Field("outcome", STR), Field("comment", STR),
                   Field("role", STR), Field("approver", STR), Field("version_digest", STR),
                   Field("exception", f"{OBJ} or {NUL}"), Field("gates", OBJ),
                   Field("reason", f"{STR} or {NUL}"), Field("principal", STR, optional=True),
                   Field("printed_name", STR, optional=True))
DECISION_DOC = ("`decision`, `outcome`, `comment`, `role`, `approver`, `version_digest` (what "
                "the decision covers), `exception` (`{justification}` or null), `gates` "
                "(evaluation at decision time), `reason` (why it was refused, else null); "
                "`principal` (the id of the person deciding) and `printed_name` (their display "
                "name, 21 CFR 11.50), in every decision since principals exist")
DEPLOYMENT_FIELDS = (Field("version", DEC), Field("environment", STR), Field("target", OBJ),
                     Field("promotion", f"{STR} or {NUL}"), Field("reason", f"{STR} or {NUL}"),
                     Field("rollback_of", f"{STR} or {NUL}"))

KINDS = (
    Kind("model.created", ("model",),
         (Field("description", STR), Field("owner", STR), Field("tags", OBJ),
          Field("sensitive_attributes", ARR), Field("protected_targets", ARR),
          Field("quorum", INT)), _model_created,
         "`description`, `owner`, `tags`, `sensitive_attributes`, `protected_targets` (e.g. "
         "`stage:Production`, `alias:champion`), `quorum`", ("registered_model_revisions",)),
    Kind("model.description_set", ("model",), (Field("description", STR),),
         _model_change(lambda e, c: {"description": e.body["description"]}),
         "`description` (set through MLflow's `registered-models/update`)",
         ("registered_model_revisions",)),
    Kind("model.tags_set", ("model",), (Field("tags", OBJ),),
         _model_change(lambda e, c: {"tags": {**c.get("tags", {}),
                                              **strings(e.body["tags"], "tags")}}),
         "`tags`: `{key: value}` (added or overwritten)", ("registered_model_revisions",)),
    Kind("model.tag_deleted", ("model",), (Field("key", STR),),
         _model_change(lambda e, c: {"tags": {k: v for k, v in c.get("tags", {}).items()
                                              if k != e.body["key"]}}),
         "`key`", ("registered_model_revisions",)),
    # Protected names and sensitive attributes changed after creation (issue 16).
    Kind("model.protection_set", ("model",), (Field("protected_targets", ARR),),
         _model_change(lambda e, c: {"protected_targets": e.body["protected_targets"]}),
         "`protected_targets`: the whole new set, sorted (`stage:Production`, "
         "`alias:champion`, ...); protection compares names ignoring ASCII case",
         ("registered_model_revisions",)),
    Kind("model.sensitive_attributes_set", ("model",), (Field("sensitive_attributes", ARR),),
         _model_change(lambda e, c: {"sensitive_attributes": e.body["sensitive_attributes"]}),
         "`sensitive_attributes`: the whole new list, sorted", ("registered_model_revisions",)),
    Kind("model_version.created", ("model", "version", "run"),
         (Field("evidence", OBJ), Field("version_digest", STR)), _version_created,
         "`evidence` (`run`, `artifact_path`, `artifacts: [{path, sha256, size}]`, "
         "`datasets: [{name, digest, context}]`), `version_digest` (hex SHA-256 of RFC 8785 "
         "`{\"model\", …evidence}`); the model's `updated_seq` moves to it",
         ("registered_model_revisions", "model_version_revisions")),
    # A version registered from a source we do not hold (issue 19), and its later pinning.
    Kind("model_version.created_unpinned", VERSION,
         (Field("source", STR), Field("run", f"{STR} or {NUL}"), Field("version_digest", STR)),
         _unpinned_created,
         "`source`: the URI the client registered the version from, as given (`s3://…`, "
         "`runs:/…` of a run we do not hold, …), `run` (the run id the client named, as "
         "given, or null), `version_digest` (hex SHA-256 of RFC 8785 `{\"model\", "
         "\"version\", \"source\", \"run\"}`). The version is **unpinned**: it pins no "
         "files (no run of ours, `evidence` `{\"pinned\": false, \"source\", \"run\"}`), "
         "so it is never promoted to a protected target until `model_version.pinned`; the "
         "model's `updated_seq` moves to it",
         ("registered_model_revisions", "model_version_revisions")),
    Kind("model_version.pinned", ("model", "version", "run"),
         (Field("evidence", OBJ), Field("version_digest", STR)), _pinned,
         "an unpinned version pinned to files of a run of ours registered with digests "
         "(uploaded, or `/api/v1/runs/{id}/artifacts/external`): `evidence` and "
         "`version_digest` as in `model_version.created`; the version's run, artifact path, "
         "evidence and digest become these (once: a pinned version stays pinned)",
         ("model_version_revisions",)),
    Kind("model_version.stage_set", VERSION,
         (Field("stage", STR), Field("previous", STR), Field("promotion", f"{STR} or {NUL}"),
          Field("deployment", STR, optional=True)),
         _version_change(lambda e, c: {"stage": e.body["stage"], "stage_seq": e.seq}),
         "`stage`, `previous`, `promotion` (the approved promotion's id, or null for an "
         "unprotected move); `deployment` only when a rollback in a protected environment "
         "restores the version (the rollback's deployment id)", ("model_version_revisions",)),
    Kind("model_version.source_set", VERSION,
         (Field("source", STR), Field("logged_model", f"{STR} or {NUL}")),
         _version_change(lambda e, c: {
             "source": e.body["source"], "updated_seq": e.seq,
             "logged_model_id": e.body["logged_model"] or c.get("logged_model_id")}),
         "`source`: the URI an MLflow client registered the version from (`runs:/…`, "
         "`models:/m-…`, `mlflow-artifacts:/…`), `logged_model` (the logged model id or "
         "null); written with `model_version.created`", ("model_version_revisions",)),
    Kind("model_version.description_set", VERSION, (Field("description", STR),),
         _version_change(lambda e, c: {"description": e.body["description"],
                                       "updated_seq": e.seq}),
         "`description`", ("model_version_revisions",)),
    Kind("model_version.tags_set", VERSION, (Field("tags", OBJ),),
         _version_change(lambda e, c: {"updated_seq": e.seq}, _version_tags),
         "`tags`: `{key: value}`", ("model_version_revisions", "model_version_tag_events")),
    Kind("model_version.tag_deleted", VERSION, (Field("key", STR),),
         _version_change(lambda e, c: {"updated_seq": e.seq}, _version_tag_deleted), "`key`",
         ("model_version_revisions", "model_version_tag_events")),
    Kind("model_alias.set", VERSION,
         (Field("alias", STR), Field("previous", f"{INT} or {NUL}"),
          Field("promotion", f"{STR} or {NUL}"), Field("deployment", STR, optional=True)),
         _alias_set,
         "`alias`, `previous` (version or null), `promotion`; `deployment` only when a "
         "rollback in a protected environment restores the version", ("alias_events",)),
    Kind("model_alias.deleted", VERSION, (Field("alias", STR),), _alias_deleted,
         "`alias` (unprotected aliases only); subject `version` is the version it pointed at",
         ("alias_events",)),
    Kind("policy.set", ("model",), (Field("policy", OBJ),), _policy,
         "`policy`: the normalised gate policy (every threshold a decimal string; the "
         "format is docs/policies.md)",
         ("model_policies",)),
    Kind("promotion.requested", ("promotion", "model", "version"),
         (Field("target", STR), Field("justification", STR),
          Field("classification", f"{STR} or {NUL}"),
          Field("version_digest", STR), Field("gates", OBJ)), _requested,
         "`target`, `justification`, `classification`, `version_digest`, `gates` (the "
         "evaluation at request time, with the figures used)", ("promotion_revisions",)),
    Kind("decision.approved", ("promotion", "model", "version"), DECISION_FIELDS, _decision,
         DECISION_DOC + ". The approval that brings the distinct approvers to the model's "
         "quorum closes the promotion as approved", ("decisions", "promotion_revisions")),
    Kind("decision.rejected", ("promotion", "model", "version"), DECISION_FIELDS, _decision,
         DECISION_DOC + "; it closes the promotion as rejected",
         ("decisions", "promotion_revisions")),
    Kind("decision.refused", ("promotion", "model", "version"), DECISION_FIELDS, _decision,
         DECISION_DOC + "; the promotion stays pending", ("decisions",)),
    Kind("promotion.withdrawn", ("promotion", "model"), (), _closing("withdrawn"),
         "(empty)", ("promotion_revisions",)),
    Kind("promotion.invalidated", ("promotion", "model"), (Field("reason", STR),),
         _closing("invalidated"), "`reason`", ("promotion_revisions",)),
    Kind("deployment.recorded", ("deployment", "model"), DEPLOYMENT_FIELDS, _deployment,
         "`version`, `environment`, `target` (`endpoint`, `image_digest`), `promotion` (the "
         "approval it stands on), `reason`, `rollback_of` (the deployment it replaces)",
         ("deployments",)),
    Kind("deployment.rolled_back", ("deployment", "model"), DEPLOYMENT_FIELDS, _deployment,
         "as `deployment.recorded`", ("deployments",)),
)
