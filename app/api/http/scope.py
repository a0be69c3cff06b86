"""Experiment scope for the model registry, shared by /api/v1 and the MLflow routes.

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

from app.api.http.auth import current_principal
from app.api.http.errors import OutOfScope
from app.api.v1.tracking import read
from app.storage import registry as store
from app.storage import scope as places

T = TypeVar("T")


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
