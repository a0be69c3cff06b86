"""MLflow's experiment-search grammar, parsed into clauses and order items."""

from __future__ import annotations

import pytest

from app.tracking.experiment_search import (
    DEFAULT_ORDER,
    Clause,
    Order,
    parse_filter,
    parse_order_by,
)
from app.tracking.search import SearchError


@pytest.mark.parametrize(("text", "expected"), [
    (None, []),
    ("  ", []),
    ("name = 'credit'", [Clause("attribute", "name", "=", "credit")]),
    ("attribute.name LIKE 'exp-%' AND tags.team != 'ops'",
     [Clause("attribute", "name", "LIKE", "exp-%"), Clause("tag", "team", "!=", "ops")]),
    ("tags.`my key` IS NULL", [Clause("tag", "my key", "IS NULL", None)]),
    ("creation_time >= 1700000000000", [Clause("attribute", "creation_time", ">=",
                                               1700000000000)]),
    ("experiment_id IN ('1', '2')", [Clause("attribute", "experiment_id", "IN", ("1", "2"))]),
    ("attr.last_update_time < 5", [Clause("attribute", "last_update_time", "<", 5)]),
])
def test_filters_parse(text: str | None, expected: list[Clause]) -> None:
    assert parse_filter(text) == expected


@pytest.mark.parametrize("text", [
    "name = 'a' OR name = 'b'", "name > 'a'", "name = 1", "creation_time = 'x'",
    "creation_time = 1.5", "tags.x > 'a'", "params.lr = '1'", "status = 'x'",
    "name IS NULL", "name IN ('a')", "experiment_id IN 'a'", "name = 'a' AND", "(name = 'a')",
    "name = 'a\x00'",
])
def test_bad_filters_are_search_errors(text: str) -> None:
    with pytest.raises(SearchError):
        parse_filter(text)


def test_order_by() -> None:
    assert parse_order_by(None) == list(DEFAULT_ORDER)
    assert parse_order_by(["name DESC", "attribute.experiment_id"]) == [
        Order("name", False), Order("experiment_id", True)]
    for bad in (["tags.x"], ["name", "name DESC"], ["name SIDEWAYS"], ["bogus"], [1]):
        with pytest.raises(SearchError):
            parse_order_by(bad)  # type: ignore[arg-type]
