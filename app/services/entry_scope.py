"""Which ledger entries a token scoped to experiments may read: those whose subjects all lie
in its experiments (docs/ledger-format.md 9.3).

Each subject id is placed in experiments: `experiment` is itself; `run` and `logged_model`
their experiment; `model` every experiment its versions come from (the whole model, as the
registry routes and the model report decide), `version` with it; `promotion`, `deployment`
their model; `report` its run, experiment or model. Any other subject (`token`, `key`, ...),
an id that is unknown, or an entry without subjects cannot be placed: the entry is hidden.
Fail closed."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg

from app.storage import scope as store

T = TypeVar("T")


@dataclass(frozen=True)
class Places:
    """Where the subject ids of some entries lie (an id missing from a map is unknown)."""

    runs: Mapping[str, str]
    logged_models: Mapping[str, str]
    models: Mapping[str, frozenset[str]]
    versions: Mapping[tuple[str, int], str]
    promotions: Mapping[str, str]
    deployments: Mapping[str, str]
    reports: Mapping[str, tuple[str, str]]


def subject_of(canonical: bytes) -> dict[str, str]:
    """The entry's subject ids ({} when the bytes hold none: such an entry is hidden)."""
    try:
        document = json.loads(canonical)
    except ValueError:
        return {}
    subject = document.get("subject") if isinstance(document, dict) else None
    if not isinstance(subject, dict) or not all(isinstance(v, str) for v in subject.values()):
        return {}
    return subject


def _version(subject: Mapping[str, str]) -> tuple[str, int] | None:
    number = subject.get("version", "")
    if "model" not in subject or not number.isdecimal() or len(number) > 9:
        return None
    return subject["model"], int(number)


def locate(conn: psycopg.Connection, subjects: Iterable[Mapping[str, str]]) -> Places:
    """Look up, in one query per kind of id, where every id of these subjects lies."""
    ids: dict[str, set[str]] = defaultdict(set)
    pairs: set[tuple[str, int]] = set()
    for subject in subjects:
        for key, value in subject.items():
            ids[key].add(value)
        pair = _version(subject) if "version" in subject else None
        if pair is not None:
            pairs.add(pair)
    promotions = store.promotion_models(conn, ids["promotion"])
    deployments = store.deployment_models(conn, ids["deployment"])
    reports = store.report_subjects(conn, ids["report"])
    runs = ids["run"] | {s for k, s in reports.values() if k == "run"}
    models = (ids["model"] | set(promotions.values()) | set(deployments.values())
              | {s for k, s in reports.values() if k == "model"})
    return Places(store.run_experiments(conn, runs),
                  store.logged_model_experiments(conn, ids["logged_model"]),
                  store.model_spans(conn, models), store.versions(conn, pairs),
                  promotions, deployments, reports)


def _report(places: Places, report_id: str) -> frozenset[str] | None:
    found = places.reports.get(report_id)
    if found is None:
        return None
    return place(places, found[0], found[1])


def _one(experiment_id: str | None) -> frozenset[str] | None:
    return None if experiment_id is None else frozenset((experiment_id,))


def place(places: Places, key: str, value: str) -> frozenset[str] | None:
    """The experiments one subject id lies in; None when it cannot be placed."""
    if key == "experiment":
        return frozenset((value,))
    if key == "run":
        return _one(places.runs.get(value))
    if key == "logged_model":
        return _one(places.logged_models.get(value))
    if key == "model":
        return places.models.get(value)
    if key == "promotion":
        return places.models.get(places.promotions.get(value, ""))
    if key == "deployment":
        return places.models.get(places.deployments.get(value, ""))
    if key == "report":
        return _report(places, value)
    return None  # token, key, version without its model, or a subject this code does not know


def within(places: Places, subject: Mapping[str, str], scope: frozenset[str]) -> bool:
    """Whether every subject id of an entry lies in the scope's experiments."""
    if not subject:
        return False
    if "version" in subject:
        pair = _version(subject)
        if pair is None or places.versions.get(pair) not in scope:
            return False
    for key, value in subject.items():
        if key == "version":
            continue
        found = place(places, key, value)
        if found is None or not found <= scope:
            return False
    return True


def visible(conn: psycopg.Connection, scope: frozenset[str], rows: Sequence[T],
            canonical_of: Any) -> list[T]:
    """The rows (entries, in order) whose subjects all lie in the scope."""
    subjects = [subject_of(canonical_of(row)) for row in rows]
    places = locate(conn, subjects)
    return [row for row, subject in zip(rows, subjects, strict=True)
            if within(places, subject, scope)]


def reaches(conn: psycopg.Connection, scope: frozenset[str], key: str, value: str) -> bool:
    """Whether one object (subject key and id) lies in the scope."""
    subject = {key: value}
    return within(locate(conn, [subject]), subject, scope)
