"""The registry / logged-model filter grammar (app/tracking/registry_search.py)."""

from __future__ import annotations

import pytest

from app.tracking.registry_search import Condition, parse_filter, parse_order
from app.tracking.search import SearchError

MODELS = {"name": "string"}
VERSIONS = {"name": "list", "version_number": "number", "run_id": "list",
            "source_path": "string"}


def test_the_clause_the_client_always_appends() -> None:
    assert parse_filter("name = 'm1' AND tag.`mlflow.prompt.is_prompt` != 'true'", MODELS) == [
        Condition("name", "=", "m1"),
        Condition("tag", "!=", "true", "mlflow.prompt.is_prompt")]


@pytest.mark.parametrize(("text", "expected"), [
    ("name LIKE 'credit-%'", [Condition("name", "LIKE", "credit-%")]),
    ("attributes.name ilike \"C%\"", [Condition("name", "ILIKE", "C%")]),
    ("tags.team = 'risk'", [Condition("tag", "=", "risk", "team")]),
    ("tags.\"my key\" <> 'x'", [Condition("tag", "!=", "x", "my key")]),
    ("", []), (None, []), ("   ", []),
])
def test_registered_model_filters(text: str | None, expected: list[Condition]) -> None:
    assert parse_filter(text, MODELS) == expected


def test_model_version_filters() -> None:
    assert parse_filter("run_id IN ('a', 'b') and version_number >= 2", VERSIONS) == [
        Condition("run_id", "IN", ("a", "b")), Condition("version_number", ">=", 2)]
    assert parse_filter("run_id NOT IN ('a')", VERSIONS)[0].items == ["a"]


def test_params_only_where_allowed() -> None:
    assert parse_filter("params.lr = '0.1'", MODELS, params=True) == [
        Condition("param", "=", "0.1", "lr")]
    with pytest.raises(SearchError, match="Invalid filter key"):
        parse_filter("params.lr = '0.1'", MODELS)


@pytest.mark.parametrize("text", [
    "name = 'a' OR name = 'b'", "owner = 'x'", "name > 'a'", "name = a", "name =",
    "version_number = 'two'", "run_id IN 'a'", "run_id IN ()", "name = 'a' AND",
    "metrics.auc > 0.5", "name = 'a' name = 'b'",
])
def test_bad_filters_say_what_is_wrong(text: str) -> None:
    with pytest.raises(SearchError):
        parse_filter(text, VERSIONS)


def test_order_by() -> None:
    allowed = {"name": "name", "version_number": "version"}
    assert parse_order(["name DESC", "attributes.version_number"], allowed) == [
        ("name", False), ("version_number", True)]
    for bad in (["colour"], ["name UP"], ["name", "name DESC"], ["name ASC extra"]):
        with pytest.raises(SearchError):
            parse_order(bad, allowed)
