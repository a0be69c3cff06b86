"""Experiment scope for runs, experiments and the model registry, shared by both adapters.

A token with grants reaches only its experiments. Registry objects take their scope from runs:
a model version is in the experiment of the run it was built from, and a model is reachable
when every one of its versions is (a model without versions reaches everyone: it holds
nothing yet). To a scoped token, an object out of its scope answers exactly as a missing one
(OutOfScope: 404 and the message a missing object gets, in each adapter's format), and so does
a missing one, before anything else is looked at: the answer says nothing of what exists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from flask import g

from app.api.http.auth import current_principal
from app.api.http.errors import OutOfScope
from app.api.http.units import read
from app.storage import registry as store
from app.storage import scope as places
from app.storage import tracking as runs
from app.storage.tracking import RunRow

T = TypeVar("T")


def reaches(experiment_id: str) -> bool:
    """Whether the caller's scope reaches the experiment (admins and unscoped tokens: all)."""
    return current_principal().may_use(experiment_id)


def scoped() -> bool:
    principal = current_principal()
    return principal.role != "admin" and principal.scope is not None


def hidden_experiment(experiment_id: str) -> OutOfScope:
    return OutOfScope(f"experiment {experiment_id!r} does not exist",
                      f"No Experiment with id={experiment_id} exists")


def hidden_run(run_id: str) -> OutOfScope:
    return OutOfScope(f"run {run_id!r} does not exist", f"Run with id={run_id} not found")


def authorize_experiment(experiment_id: str) -> None:
    """A scoped token reaches only its experiments: any other, existing or not, answers as a
    missing one, before anything else is looked at (so the answer cannot depend on it)."""
    if not reaches(experiment_id):
        raise hidden_experiment(experiment_id)


def authorize_run(run_id: str) -> None:
    """Scoped tokens reach runs of their granted experiments only: any other run, existing or
    not, is a missing one. (For unscoped tokens, an unknown run falls to the route's 404.)"""
    if scoped():
        authorized_run(run_id)


def authorized_run(run_id: str) -> RunRow | None:
    """The run, looked up before a write's unit (so not under the head lock) and authorized
    as authorize_run does; None if unknown (to a scoped token, a missing run is out of scope).
    The unit checks it again (`known=`)."""
    prefetched = g.get("runs", {})  # read with the token: require(..., run_arg=)
    run = (prefetched[run_id] if run_id in prefetched
           else read(lambda c: runs.get_run(c, run_id)))
    if (run is None and scoped()) or (run is not None and not reaches(run.experiment_id)):
        raise hidden_run(run_id)
    return run


def visible_experiments(requested: list[str] | None) -> list[str] | None:
    """The experiments a search may cover: those requested (each authorized), else the
    caller's grants (None: all of them)."""
    principal = current_principal()
    if requested is None:
        if principal.role == "admin" or principal.scope is None:
            return None
        return sorted(principal.scope)
    for experiment_id in requested:
        authorize_experiment(experiment_id)
    return requested


def granted() -> frozenset[str] | None:
    """The experiments the caller is limited to; None when it reaches all of them."""
    principal = current_principal()
    return None if principal.role == "admin" or principal.scope is None else principal.scope


def hidden_model(name: str) -> OutOfScope:
    return OutOfScope(f"model {name!r} does not exist",
                      f"Registered Model with name={name} not found")


def hidden_version(name: str, version: int) -> OutOfScope:
    return OutOfScope(f"version {version} of {name!r} does not exist",
                      f"Model Version (name={name}, version={version}) not found")


def authorize_model(name: str) -> None:
    allowed = granted()
    if allowed is not None:
        span = read(lambda c: places.model_spans(c, [name])).get(name)
        if span is None or not span <= allowed:
            raise hidden_model(name)


def authorize_version(name: str, version: int) -> None:
    allowed = granted()
    if allowed is not None:
        experiment_id = read(lambda c: places.versions(c, [(name, version)])).get((name, version))
        if experiment_id not in allowed:
            raise hidden_version(name, version)


def authorize_promotion(promotion_id: str) -> None:
    allowed = granted()
    if allowed is not None:
        row = read(lambda c: store.get_promotion(c, promotion_id))
        key = None if row is None else (row.model_name, row.version)
        if key is None or read(lambda c: places.versions(c, [key])).get(key) not in allowed:
            message = f"promotion {promotion_id!r} does not exist"
            raise OutOfScope(message, message)


def visible_models(items: Iterable[T], name_of: Callable[[T], str]) -> list[T]:
    """The items whose model the caller reaches (all of them for an unscoped caller)."""
    allowed = granted()
    if allowed is None:
        return list(items)
    spans = read(store.models_experiments)
    return [i for i in items if spans.get(name_of(i), set()) <= allowed]


def visible_versions(items: Iterable[T], key_of: Callable[[T], tuple[str, int]]) -> list[T]:
    """The items whose model version the caller reaches."""
    allowed = granted()
    items = list(items)
    if allowed is None:
        return items
    spans = read(lambda c: store.versions_experiments(c, {key_of(i)[0] for i in items}))
    return [i for i in items if spans.get(key_of(i)) in allowed]
