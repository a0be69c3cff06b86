"""Experiment scope for the model registry, shared by /api/v1 and the MLflow routes.

A token with grants reaches only its experiments. Registry objects take their scope from runs:
a model version is in the experiment of the run it was built from, and a model is reachable
when every one of its versions is (a model without versions reaches everyone: it holds
nothing yet). A refusal is 403 (ApiError; the MLflow routes turn it into PERMISSION_DENIED);
an unknown model or version is left to the route, which answers 404.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from app.api.auth import current_principal
from app.api.tracking import authorize_experiment, read
from app.storage import registry as store

T = TypeVar("T")


def granted() -> frozenset[str] | None:
    """The experiments the caller is limited to; None when it reaches all of them."""
    principal = current_principal()
    return None if principal.role == "admin" or principal.scope is None else principal.scope


def authorize_model(name: str) -> None:
    if granted() is not None:
        for experiment_id in read(lambda c: store.model_experiments(c, name)):
            authorize_experiment(experiment_id)


def authorize_version(name: str, version: int) -> None:
    if granted() is not None:
        experiment_id = read(lambda c: store.version_experiment(c, name, version))
        if experiment_id is not None:
            authorize_experiment(experiment_id)


def authorize_promotion(promotion_id: str) -> None:
    if granted() is not None:
        row = read(lambda c: store.get_promotion(c, promotion_id))
        if row is not None:
            authorize_version(row.model_name, row.version)


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
