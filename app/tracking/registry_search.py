"""MLflow's registry and logged-model search grammar: filter strings and order_by items.

A filter is `<key> <comparator> <value>` clauses joined by AND. Keys are attributes (optionally
prefixed `attribute.`), `tags.<key>` / `tag.<key>` and, for logged models, `params.<key>`;
keys with dots or spaces are quoted in backticks or double quotes (tag.`mlflow.prompt.is_prompt`).
Values are quoted strings, integers for numeric attributes, or ('a', 'b') lists for IN.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from app.tracking.limits import MAX_FILTER_LENGTH
from app.tracking.search import SearchError, like_pattern_problem

STRING, NUMBER, LISTED = "string", "number", "list"
"""Attribute types: their allowed comparators are in OPERATORS."""

OPERATORS: Final[Mapping[str, tuple[str, ...]]] = {
    STRING: ("=", "!=", "LIKE", "ILIKE"),
    NUMBER: ("=", "!=", "<", "<=", ">", ">="),
    LISTED: ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"),
}


@dataclass(frozen=True)
class Condition:
    """One AND-ed clause on an attribute, a tag (`field="tag"`) or a param (`field="param"`)."""

    field: str
    op: str
    value: str | int | tuple[str, ...]
    key: str | None = None

    @property
    def items(self) -> list[str]:
        """The values of an IN / NOT IN list."""
        return list(self.value) if isinstance(self.value, tuple) else [str(self.value)]


_CLAUSE = re.compile(
    r"\s*(?:(?P<kind>\w+)\.)?(?P<key>`(?:``|[^`])*`|\"[^\"]*\"|\w[\w.]*)\s*"
    r"(?P<op>!=|<>|>=|<=|=|<|>|(?i:NOT\s+IN|IN|NOT\s+ILIKE|ILIKE|NOT\s+LIKE|LIKE)(?!\w))\s*"
    r"(?P<value>'(?:''|\\'|[^'])*'|\"(?:\\\"|[^\"])*\"|-?\d+(?:\.\d+)?|\([^)]*\))\s*")
_AND = re.compile(r"AND\s", re.IGNORECASE)
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
_LIST_ITEM = re.compile(r"\s*('(?:''|[^'])*'|\"[^\"]*\")\s*(,|$)")
_TAG_KINDS: Final = ("tag", "tags")
_PARAM_KINDS: Final = ("param", "params", "parameter", "parameters")
_ATTRIBUTE_KINDS: Final = (None, "attribute", "attributes", "attr")


def _unquote(text: str) -> str:
    return text[1:-1] if text[:1] in ("'", '"', "`") else text


def _values(text: str) -> tuple[str, ...]:
    inner, out, pos = text[1:-1], [], 0
    while pos < len(inner):
        found = _LIST_ITEM.match(inner, pos)
        if found is None:
            raise SearchError(f"invalid list {text!r} in filter; use ('a', 'b')")
        out.append(_unquote(found.group(1)))
        pos = found.end()
    if not out:
        raise SearchError(f"empty list {text!r} in filter")
    return tuple(out)


def _field(kind: str | None, key: str, attributes: Mapping[str, str],
           params: bool) -> tuple[str, str]:
    """(field, attribute type) of a clause's key."""
    if kind in _TAG_KINDS:
        return "tag", STRING
    if params and kind in _PARAM_KINDS:
        return "param", STRING
    if kind in _ATTRIBUTE_KINDS and key in attributes:
        return key, attributes[key]
    known = ", ".join(sorted(attributes)) + ", tags.<key>" + (", params.<key>" if params else "")
    raise SearchError(f"Invalid filter key {key!r}: valid keys are {known}")


def _one(match: re.Match[str], attributes: Mapping[str, str], params: bool) -> Condition:
    key = _unquote(match["key"])
    field, kind = _field(match["kind"], key, attributes, params)
    op = " ".join(match["op"].upper().split()).replace("<>", "!=")
    raw = match["value"]
    if op not in OPERATORS[kind]:
        raise SearchError(f"Invalid comparator {op!r} for {key!r}; use one of "
                          f"{', '.join(OPERATORS[kind])}")
    value: str | int | tuple[str, ...]
    if op in ("IN", "NOT IN"):
        if not raw.startswith("("):
            raise SearchError(f"{op} needs a list such as ('a', 'b')")
        value = _values(raw)
    elif kind == NUMBER:
        try:
            value = int(_unquote(raw))
        except ValueError as exc:
            raise SearchError(f"{key!r} must be compared with an integer") from exc
    elif raw[0] not in ("'", '"'):
        raise SearchError(f"the value for {key!r} must be a quoted string")
    else:
        value = _unquote(raw)
    problem = like_pattern_problem(op, value)
    if problem is not None:
        raise SearchError(f"Invalid filter: {problem}")
    return Condition(field, op, value, key if field in ("tag", "param") else None)


def parse_filter(text: str | None, attributes: Mapping[str, str], *,
                 params: bool = False) -> list[Condition]:
    """The clauses of a filter; `attributes` maps each attribute name to its type."""
    if not text or not text.strip():
        return []
    if len(text) > MAX_FILTER_LENGTH:
        raise SearchError(f"the filter is longer than {MAX_FILTER_LENGTH} characters")
    if _UNSTORABLE.search(text):
        raise SearchError("the filter must not contain NUL or unpaired surrogate characters")
    out, pos = [], 0
    while True:
        found = _CLAUSE.match(text, pos)
        if found is None:
            raise SearchError(f"Invalid filter string {text!r} at column {pos + 1}; expected "
                              "<key> <comparator> <value> clauses joined by AND")
        out.append(_one(found, attributes, params))
        pos = found.end()
        if pos >= len(text):
            return out
        joined = _AND.match(text, pos)
        if joined is None:
            raise SearchError(f"Invalid clause(s) in filter string {text!r} at column "
                              f"{pos + 1}; only AND is supported")
        pos = joined.end()


def parse_order(items: Sequence[str], allowed: Mapping[str, str]) -> list[tuple[str, bool]]:
    """`<key> [ASC|DESC]` items as (key, ascending); keys must be in `allowed`, once each."""
    out: list[tuple[str, bool]] = []
    for item in items:
        parts = item.split()
        field = parts[0].removeprefix("attributes.").removeprefix("attribute.") if parts else ""
        direction = parts[1].upper() if len(parts) == 2 else "ASC"
        if len(parts) not in (1, 2) or field not in allowed or direction not in ("ASC", "DESC"):
            raise SearchError(f"Invalid order_by {item!r}; valid keys are "
                              f"{', '.join(sorted(allowed))}, optionally ASC or DESC")
        if field in {f for f, _ in out}:
            raise SearchError(f"`order_by` contains duplicate fields: {list(items)}")
        out.append((field, direction == "ASC"))
    return out
