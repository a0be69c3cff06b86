"""Which ledger entries a scoped token is served: every subject id placed in its experiments,
and anything that cannot be placed hidden (app/services/entry_scope.py)."""

from __future__ import annotations

from app.kinds import KINDS
from app.services.entry_scope import Places, place, subject_of, within

PLACES = Places(runs={"ra": "A", "rb": "B"}, logged_models={"la": "A"},
                models={"ma": frozenset({"A"}), "mixed": frozenset({"A", "B"}),
                        "empty": frozenset()},
                versions={("ma", 1): "A", ("mixed", 1): "A", ("mixed", 2): "B"},
                promotions={"pa": "ma", "px": "mixed"}, deployments={"da": "ma"},
                reports={"rep-run": ("run", "ra"), "rep-b": ("experiment", "B"),
                         "rep-model": ("model", "mixed")})
SCOPE = frozenset({"A"})

# Every subject id the registry's kinds use is either placed or hidden on purpose.
PLACED = {"experiment", "run", "logged_model", "model", "version", "promotion", "deployment",
          "report"}
NEVER = {"token", "key", "principal", "environment"}


def test_every_subject_id_of_every_kind_is_known() -> None:
    used = {key for kind in KINDS.values() for key in (*kind.subject, *kind.optional_subject)}
    assert used <= PLACED | NEVER, used - PLACED - NEVER


def test_entries_in_scope_are_served() -> None:
    for subject in ({"experiment": "A"}, {"run": "ra", "experiment": "A"},
                    {"logged_model": "la", "experiment": "A", "run": "ra"}, {"model": "ma"},
                    {"model": "ma", "version": "1", "run": "ra"}, {"model": "empty"},
                    {"promotion": "pa", "model": "ma", "version": "1"},
                    {"deployment": "da", "model": "ma"}, {"report": "rep-run"}):
        assert within(PLACES, subject, SCOPE), subject


def test_anything_that_cannot_be_placed_in_scope_is_hidden() -> None:
    for subject in ({}, {"experiment": "B"}, {"run": "rb", "experiment": "A"},
                    {"run": "unknown", "experiment": "A"}, {"token": "t1"},
                    {"token": "t1", "experiment": "A"}, {"key": "k"},
                    {"model": "mixed", "version": "1"},  # the whole model must be in scope
                    {"model": "ma", "version": "9"}, {"model": "ma", "version": "x"},
                    {"version": "1"}, {"model": "gone"}, {"promotion": "px", "model": "ma"},
                    {"promotion": "unknown", "model": "ma"}, {"report": "rep-b"},
                    {"report": "rep-model"}, {"report": "unknown"}, {"novel": "A"}):
        assert not within(PLACES, subject, SCOPE), subject


def test_place_and_subject_of() -> None:
    assert place(PLACES, "model", "mixed") == {"A", "B"}
    assert place(PLACES, "token", "t") is None
    assert subject_of(b'{"subject":{"run":"ra"},"v":1}') == {"run": "ra"}
    for bad in (b"not json", b"[]", b'{"subject":[]}', b'{"subject":{"run":1}}', b"{}"):
        assert subject_of(bad) == {}
