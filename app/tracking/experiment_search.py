"""MLflow experiment-search grammar: filter and order_by over experiments, as a typed AST.

Keys (MLflow's SearchExperimentsUtils): attributes `name`, `experiment_id` (strings; `IN`
and `NOT IN` for experiment_id), `creation_time`, `last_update_time` (numbers, ms), written
bare or as `attribute.<key>`; and `tags.<key>` / `tag.<key>` with `= != LIKE ILIKE IS NULL
IS NOT NULL`. Clauses are joined by AND only. order_by items are `<attribute> [ASC|DESC]`;
the default order is `creation_time DESC`, and `experiment_id ASC` always breaks ties.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from app.tracking import search as runs
from app.tracking.search import SearchError

STRING_ATTRIBUTES: Final = frozenset({"name", "experiment_id"})
NUMERIC_ATTRIBUTES: Final = frozenset({"creation_time", "last_update_time"})
ATTRIBUTES: Final = STRING_ATTRIBUTES | NUMERIC_ATTRIBUTES
_ENTITIES: Final = {"attribute": "attribute", "attributes": "attribute", "attr": "attribute",
                    "tag": "tag", "tags": "tag"}
_NUMERIC_OPS: Final = ("=", "!=", ">", ">=", "<", "<=")
_STRING_OPS: Final = ("=", "!=", "LIKE", "ILIKE")
_TAG_OPS: Final = (*_STRING_OPS, "IS NULL", "IS NOT NULL")


@dataclass(frozen=True)
class Clause:
    """`<kind>.<key> <op> <value>`: kind is "attribute" or "tag"."""

    kind: str
    key: str
    op: str
    value: str | int | tuple[str, ...] | None


@dataclass(frozen=True)
class Order:
    key: str
    ascending: bool


DEFAULT_ORDER: Final = (Order("creation_time", False),)


def _identifier(sc: runs._Scanner) -> tuple[str, str]:
    start, first = sc.pos, sc.peek()
    if first in ("`", '"'):
        return "attribute", _attribute(sc, sc.quoted(first, "identifier"), start)
    word = sc.match(runs._WORD)
    if word is None:
        raise sc.fail(f"expected an identifier such as name or tags.<key>, found {sc.found()}")
    if sc.peek() != ".":
        return "attribute", _attribute(sc, word, start)
    kind = _ENTITIES.get(word)
    if kind is None:
        raise sc.fail(f"invalid entity type {word!r}; valid types are attribute and tags", start)
    sc.pos += 1
    key = runs._read_key(sc, kind)
    if not key:
        raise sc.fail(f"empty {kind} key", start)
    return kind, key if kind == "tag" else _attribute(sc, key, start)


def _attribute(sc: runs._Scanner, key: str, start: int) -> str:
    if key not in ATTRIBUTES:
        raise sc.fail(f"invalid attribute key {key!r}; valid keys are "
                      f"{', '.join(sorted(ATTRIBUTES))}", start)
    return key


def _clause(sc: runs._Scanner) -> Clause:
    runs._reject_clause_start(sc)
    kind, key = _identifier(sc)
    spaced = sc.skip_space()
    at = sc.pos
    op = runs._read_operator(sc, spaced or sc.at_end())
    numeric = kind == "attribute" and key in NUMERIC_ATTRIBUTES
    allowed = (_TAG_OPS if kind == "tag" else _NUMERIC_OPS if numeric else
               (*_STRING_OPS, "IN", "NOT IN") if key == "experiment_id" else _STRING_OPS)
    if op not in allowed:
        raise sc.fail(f"invalid comparator {op!r} for {kind} {key!r}; expected one of "
                      f"{', '.join(allowed)}", at)
    if op in ("IS NULL", "IS NOT NULL"):
        return Clause(kind, key, op, None)
    sc.skip_space()
    at = sc.pos
    literal = runs._read_value(sc, op)
    if numeric:
        if not isinstance(literal, runs._Number) or any(c in literal.text for c in ".eE"):
            raise sc.fail(f"expected an integer (milliseconds) for {key}", at)
        return Clause(kind, key, op, int(runs._to_int_or_float(sc, key, literal, at)))
    if isinstance(literal, runs._Number):
        raise sc.fail(f"expected a quoted string for {kind} {key!r}", at)
    if (op in ("IN", "NOT IN")) != isinstance(literal, tuple):
        raise sc.fail(f"{op} needs a list ('a', 'b')" if op in ("IN", "NOT IN")
                      else f"{op!r} takes a single quoted string", at)
    problem = runs.like_pattern_problem(op, literal)
    if problem is not None:
        raise sc.fail(problem, at)
    return Clause(kind, key, op, literal)


def parse_filter(text: str | None) -> list[Clause]:
    """Parse an experiment filter; blank means no filter. SearchError says what is wrong."""
    if text is None:
        return []
    if not isinstance(text, str):
        raise SearchError("Invalid filter: it must be a string")
    runs._check_text(text, "Invalid filter")
    sc = runs._Scanner(text, "Invalid filter")
    sc.skip_space()
    if sc.at_end():
        return []
    clauses: list[Clause] = []
    while True:
        clauses.append(_clause(sc))  # an empty clause after AND is an error there
        sc.skip_space()
        if sc.at_end():
            return clauses
        runs._expect_and(sc)


def parse_order_by(items: Sequence[str] | None) -> list[Order]:
    """Parse order_by items such as "name ASC"; none gives DEFAULT_ORDER."""
    if not items:
        return list(DEFAULT_ORDER)
    if len(items) > runs.MAX_ORDER_BY_ITEMS:
        raise SearchError(f"Invalid order_by: more than {runs.MAX_ORDER_BY_ITEMS} items")
    found: list[Order] = []
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise SearchError(f"Invalid order_by item {index + 1}: it must be a string")
        runs._check_text(item, "Invalid order_by")
        sc = runs._Scanner(item, f"Invalid order_by item {index + 1}")
        sc.skip_space()
        kind, key = _identifier(sc)
        if kind != "attribute":
            raise sc.fail("experiments can be ordered by attributes only", 0)
        ascending = True
        if sc.skip_space() and not sc.at_end():
            direction = sc.match(runs._DIRECTION)
            if direction is None:
                raise sc.fail(f"expected ASC or DESC, found {sc.found()}")
            ascending = direction.upper() == "ASC"
            sc.skip_space()
        if not sc.at_end():
            raise sc.fail(f"unexpected {sc.found()}; expected <attribute> [ASC|DESC]")
        if any(o.key == key for o in found):
            raise SearchError(f"Invalid order_by: {key!r} appears more than once")
        found.append(Order(key, ascending))
    return found
