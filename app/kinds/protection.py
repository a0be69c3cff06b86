"""Kinds of declared environments, and of versions moved out of a protected stage or alias.

An environment exists once an entry declares it (`environment.declared` by an admin, or
`environment.adopted` for one that deployments already used before environments were
declared); its protection changes only by `environment.protection_set`. A deployment to a
protected environment needs an approved promotion, as the environment was at the deployment's
seq. Leaving a protected stage (`model_version.demoted`) or alias (`model_alias.removed`)
carries the reason in the entry.
"""

from __future__ import annotations

from app.kinds.core import (
    BOOL,
    NUL,
    STR,
    Entry,
    Field,
    Kind,
    ReduceError,
    Rows,
    State,
    revision,
)
from app.kinds.registry import VERSION, VERSION_REVISIONS, VERSIONS, _version_key
from app.kinds.tables import table

ENVIRONMENTS, ENVIRONMENT_REVISIONS = table("environments"), table("environment_revisions")


def _flag(entry: Entry) -> bool:
    value = entry.body["protected"]
    if type(value) is not bool:
        raise ReduceError(f"{entry.kind} entry's 'protected' is not a boolean")
    return value


def _declared(adopted: bool):  # type: ignore[no-untyped-def]
    def reduce(entry: Entry, state: State) -> Rows:
        name = entry.subject["environment"]
        if state.current(ENVIRONMENTS.name, (name,)) is not None:
            raise ReduceError(f"environment {name!r} is already declared")
        return [(ENVIRONMENT_REVISIONS.name, [ENVIRONMENT_REVISIONS.row({
            "name": name, "protected": _flag(entry), "adopted": adopted,
            "declared_by": entry.actor, "declared_seq": entry.seq, "seq": entry.seq})])]
    return reduce


def _protection_set(entry: Entry, state: State) -> Rows:
    return [revision(state, ENVIRONMENTS, ENVIRONMENT_REVISIONS,
                     (entry.subject["environment"],), entry.seq, {"protected": _flag(entry)})]


def _demoted(entry: Entry, state: State) -> Rows:
    key = _version_key(entry)
    return [revision(state, VERSIONS, VERSION_REVISIONS, key, entry.seq,
                     {"stage": entry.body["stage"], "stage_seq": entry.seq})]


def _alias_removed(entry: Entry, state: State) -> Rows:
    return [("alias_events", [(entry.subject["model"], entry.body["alias"], None, None,
                               entry.seq)])]


LEAVING = (Field("reason", STR), Field("promotion", f"{STR} or {NUL}"),
           Field("deployment", f"{STR} or {NUL}"))
LEAVING_DOC = ("`reason` (never empty), `promotion` (the approved promotion of another version "
               "that replaced it, or null), `deployment` (the rollback that took it out of a "
               "protected environment, or null)")

KINDS = (
    Kind("environment.declared", ("environment",), (Field("protected", BOOL),),
         _declared(False), "`protected`: whether a deployment there needs an approved "
         "promotion (an admin declares an environment before anything is deployed to it)",
         ("environment_revisions",)),
    Kind("environment.adopted", ("environment",),
         (Field("protected", BOOL), Field("rule", STR)), _declared(True),
         "`protected`, `rule` (how protection was decided): written once by the upgrade for "
         "an environment deployments used before environments were declared, after them",
         ("environment_revisions",)),
    Kind("environment.protection_set", ("environment",),
         (Field("protected", BOOL), Field("previous", BOOL),
          Field("reason", f"{STR} or {NUL}")), _protection_set,
         "`protected`, `previous`, `reason`", ("environment_revisions",)),
    Kind("model_version.demoted", VERSION,
         (Field("stage", STR), Field("previous", STR), *LEAVING), _demoted,
         "`stage` (an unprotected stage), `previous` (the protected stage it leaves), "
         + LEAVING_DOC, ("model_version_revisions",)),
    Kind("model_alias.removed", VERSION, (Field("alias", STR), *LEAVING), _alias_removed,
         "`alias` (a protected alias; subject `version` is the version it pointed at), "
         + LEAVING_DOC, ("alias_events",)),
)
