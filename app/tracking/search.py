"""MLflow run-search grammar: filter strings and order_by items parsed into a typed AST."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from app.tracking.limits import MAX_FILTER_LENGTH, MAX_INT64  # filter: also an order_by item

MAX_ORDER_BY_ITEMS: Final = 100
"""Most order_by items accepted in one request."""

Value = str | float | int | tuple[str, ...] | None


class SearchError(ValueError):
    """A filter or order_by item cannot be used; the message says what is wrong and where."""


@dataclass(frozen=True)
class Comparison:
    """One AND-ed clause: `<kind>.<key> <op> <value>` with canonical kind, key and op."""

    kind: str
    key: str
    op: str
    value: Value


@dataclass(frozen=True)
class OrderBy:
    """One order_by item: sort by `<kind>.<key>`, ascending unless DESC was given."""

    kind: str
    key: str
    ascending: bool


@dataclass(frozen=True)
class _Number:
    """A numeric literal as written, converted once its target type is known."""

    text: str


_Literal = str | _Number | tuple[str, ...]

_KINDS: Final[Mapping[str, str]] = {
    "metric": "metric",
    "metrics": "metric",
    "param": "param",
    "params": "param",
    "parameter": "param",
    "parameters": "param",
    "tag": "tag",
    "tags": "tag",
    "attribute": "attribute",
    "attributes": "attribute",
    "attr": "attribute",
    "run": "attribute",
    "dataset": "dataset",
    "datasets": "dataset",
}
_STRING_ATTRIBUTES: Final = frozenset({"run_id", "run_name", "status", "user_id", "artifact_uri"})
_NUMERIC_ATTRIBUTES: Final = frozenset({"start_time", "end_time"})
_LIST_ATTRIBUTES: Final = frozenset({"run_id"})
_DATASET_FIELDS: Final = frozenset({"name", "digest", "context"})
_ORDER_ALIASES: Final[Mapping[str, str]] = {"created": "start_time", "Created": "start_time"}
_FILTER_ALIASES: Final[Mapping[str, str]] = {
    **_ORDER_ALIASES,
    "run name": "run_name",
    "Run name": "run_name",
    "Run Name": "run_name",
}

_NUMERIC_OPS: Final = ("=", "!=", ">", ">=", "<", "<=")
_STRING_OPS: Final = ("=", "!=", "LIKE", "ILIKE")
_NULL_OPS: Final = ("IS NULL", "IS NOT NULL")
_LIST_OPS: Final = ("IN", "NOT IN")
_ALL_OPS: Final = ", ".join(_NUMERIC_OPS + _STRING_OPS[2:] + _LIST_OPS + _NULL_OPS)

_SPACE = re.compile(r"\s*")
_WORD = re.compile(r"\w+")
_DOTTED = re.compile(r"\w+(?:\.\w+)*")
# Same delimiting as MLflow (sqlparse): '' and \' do not end a string; content is kept verbatim.
_QUOTED: Final[Mapping[str, re.Pattern[str]]] = {
    "'": re.compile(r"'(?:''|\\'|[^'])*'"),
    '"': re.compile(r'"(?:""|\\"|[^"])*"'),
    "`": re.compile(r"`(?:``|[^`])*`"),
}
_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?(?![\w.])")
_SYMBOL_OP = re.compile(r"<=|>=|!=|<>|==|=|<|>")
_WORD_OP = re.compile(r"(?:NOT\s+IN|IS\s+NOT\s+NULL|IS\s+NULL|I?LIKE|IN)(?!\w)", re.IGNORECASE)
_AND = re.compile(r"AND(?!\w)", re.IGNORECASE)
_OR = re.compile(r"OR(?!\w)", re.IGNORECASE)
_DIRECTION = re.compile(r"(?:ASC|DESC)(?!\w)", re.IGNORECASE)
_FORBIDDEN = re.compile(r"[\x00\ud800-\udfff]")


class _Scanner:
    """A cursor over the input that lexes the token the parser expects next."""

    def __init__(self, text: str, where: str) -> None:
        self.text = text
        self.pos = 0
        self.where = where

    def fail(self, message: str, pos: int | None = None) -> SearchError:
        column = (self.pos if pos is None else pos) + 1
        return SearchError(f"{self.where}: {message} (at column {column})")

    def found(self) -> str:
        """The next few characters, quoted, for error messages."""
        if self.at_end():
            return "the end of the input"
        rest = self.text[self.pos : self.pos + 24]
        return repr(rest + "…" if self.pos + 24 < len(self.text) else rest)

    def skip_space(self) -> bool:
        """Skip whitespace; True when some was skipped."""
        start = self.pos
        self.match(_SPACE)
        return self.pos > start

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def match(self, pattern: re.Pattern[str]) -> str | None:
        found = pattern.match(self.text, self.pos)
        if found is None:
            return None
        self.pos = found.end()
        return found.group()

    def quoted(self, quote: str, what: str) -> str:
        """Read a string quoted with `quote`; its content is returned verbatim."""
        start = self.pos
        token = self.match(_QUOTED[quote])
        if token is None:
            raise self.fail(f"unterminated {what} starting with {quote}", start)
        return token[1:-1]


def _check_text(text: str, where: str) -> None:
    if len(text) > MAX_FILTER_LENGTH:
        raise SearchError(
            f"{where}: too long ({len(text)} characters; the limit is {MAX_FILTER_LENGTH})"
        )
    bad = _FORBIDDEN.search(text)
    if bad is not None:
        raise SearchError(
            f"{where}: NUL and unpaired surrogate characters are not allowed "
            f"(at column {bad.start() + 1})"
        )


LIKE_OPS: Final = ("LIKE", "ILIKE")


def like_pattern_problem(op: str, value: object) -> str | None:
    """Why a value cannot be a LIKE/ILIKE pattern, or None. The one rule every search grammar
    applies: backslash escapes the next character (`\\%`, `\\_`, `\\\\`), so a pattern may not
    end with a lone backslash (PostgreSQL refuses it at query time)."""
    if op not in LIKE_OPS or not isinstance(value, str):
        return None
    trailing = len(value) - len(value.rstrip("\\"))
    if trailing % 2:
        return (f"{op} pattern {_short(value)} ends with an escape character (backslash); "
                "write \\\\ for a literal backslash")
    return None


def _short(text: str) -> str:
    """Quote user text for a message, cut to a readable length."""
    return repr(text if len(text) <= 40 else text[:40] + "…")


def _read_kind(sc: _Scanner, entity: str, start: int) -> str:
    kind = _KINDS.get(entity)
    if kind is None:
        raise sc.fail(
            f"invalid entity type {_short(entity)}; valid types are metrics, params, tags, "
            "attributes and datasets (or metric, param, parameter(s), tag, attribute, "
            "attr, run, dataset)",
            start,
        )
    return kind


def _read_key(sc: _Scanner, kind: str) -> str:
    """Read the key after `<type>.`: unquoted word(s) joined by dots, or a quoted key."""
    quote = sc.peek()
    if quote in _QUOTED:
        return sc.quoted(quote, "key")
    key = sc.match(_DOTTED)
    if key is None:
        raise sc.fail(
            f"expected a key after the {kind} type, found {sc.found()}; "
            "quote keys with special characters in backticks, e.g. tags.`my key`"
        )
    return key


def _read_identifier(sc: _Scanner, aliases: Mapping[str, str]) -> tuple[str, str]:
    """Read `<type>.<key>` or a bare attribute name; return the canonical (kind, key)."""
    start = sc.pos
    first = sc.peek()
    if first in ("`", '"'):
        head, bare = sc.quoted(first, "identifier"), first == '"'
    else:
        word = sc.match(_WORD)
        if word is None:
            raise sc.fail(f"expected an identifier such as metrics.<key>, found {sc.found()}")
        head, bare = word, False
    if sc.peek() == "." and not bare:
        kind = _read_kind(sc, head, start)
        sc.pos += 1
        key = _read_key(sc, kind)
    elif sc.peek() == ".":
        raise sc.fail(f"invalid entity type {_short(first + head + first)}", start)
    else:
        kind, key = "attribute", head
    return kind, _canonical_key(sc, kind, key, aliases, start)


def _canonical_key(
    sc: _Scanner, kind: str, key: str, aliases: Mapping[str, str], start: int
) -> str:
    if key == "":
        raise sc.fail(f"empty {kind} key", start)
    if kind == "attribute":
        key = aliases.get(key, key)
        if key not in _STRING_ATTRIBUTES | _NUMERIC_ATTRIBUTES:
            valid = ", ".join(sorted(_STRING_ATTRIBUTES | _NUMERIC_ATTRIBUTES))
            also = ", ".join(repr(alias) for alias in aliases)
            message = f"invalid attribute key {_short(key)}; valid keys are {valid}"
            raise sc.fail(f"{message} (aliases: {also})", start)
    elif kind == "dataset" and key not in _DATASET_FIELDS:
        valid = ", ".join(sorted(_DATASET_FIELDS))
        raise sc.fail(f"invalid dataset key {_short(key)}; valid keys are {valid}", start)
    return key


def _read_operator(sc: _Scanner, spaced: bool) -> str:
    """Read a comparator; `spaced` tells whether whitespace separated it from the key."""
    start = sc.pos
    symbol = sc.match(_SYMBOL_OP)
    if symbol in ("==", "<>"):
        better = "=" if symbol == "==" else "!="
        raise sc.fail(f"invalid comparator {symbol!r}; use {better!r}", start)
    if symbol is not None:
        return symbol
    word = sc.match(_WORD_OP)
    if word is None:
        hint = "" if spaced else "; quote keys with special characters, e.g. tags.`my-key`"
        raise sc.fail(f"expected a comparator ({_ALL_OPS}), found {sc.found()}{hint}")
    return " ".join(word.upper().split())


def _read_list(sc: _Scanner) -> tuple[str, ...]:
    """Read `('a', "b", ...)`; a trailing comma is allowed, an empty list is not."""
    start = sc.pos
    sc.pos += 1
    sc.skip_space()
    if sc.peek() == ")":
        raise sc.fail("empty list; give at least one quoted string", start)
    items: list[str] = []
    while sc.peek() != ")":
        if sc.peek() not in ("'", '"'):
            raise sc.fail(f"expected a quoted string in the list, found {sc.found()}")
        items.append(sc.quoted(sc.peek(), "string"))
        sc.skip_space()
        if sc.peek() == ",":
            sc.pos += 1
            sc.skip_space()
        elif sc.peek() != ")":
            raise sc.fail(f"expected ',' or ')' in the list opened at column {start + 1}")
    sc.pos += 1
    return tuple(items)


def _read_value(sc: _Scanner, op: str) -> _Literal:
    first = sc.peek()
    if first in ("'", '"'):
        return sc.quoted(first, "string")
    if first == "(":
        return _read_list(sc)
    number = sc.match(_NUMBER)
    if number is not None:
        return _Number(number)
    if sc.at_end():
        raise sc.fail(f"missing value after {op!r}")
    if first == "`":
        raise sc.fail("backticks quote keys, not values; quote values with ' or \"")
    if first in "-.0123456789":
        raise sc.fail(f"malformed number {sc.found()}")
    word = sc.match(_WORD)
    if word is not None and word.upper() == "NULL":
        raise sc.fail("NULL is not a value; use IS NULL or IS NOT NULL", sc.pos - len(word))
    if word is not None:
        sc.pos -= len(word)
        raise sc.fail(f"string values must be quoted with ' or \", found {sc.found()}")
    raise sc.fail(f"expected a value, found {sc.found()}")


def _allowed_ops(kind: str, key: str) -> tuple[str, ...]:
    if kind == "metric" or (kind == "attribute" and key in _NUMERIC_ATTRIBUTES):
        return _NUMERIC_OPS
    if kind in ("param", "tag"):
        return _STRING_OPS + _NULL_OPS
    return _STRING_OPS + _LIST_OPS


def _check_operator(sc: _Scanner, kind: str, key: str, op: str, at: int) -> None:
    allowed, subject = _allowed_ops(kind, key), f"{kind} {_short(key)}"
    if op in _NULL_OPS and op not in allowed:
        raise sc.fail(f"{op} is only supported for tags and params, not for {subject}", at)
    if op not in allowed:
        expected = ", ".join(allowed)
        raise sc.fail(f"invalid comparator {op!r} for {subject}; expected one of {expected}", at)
    if op in _LIST_OPS and kind == "attribute" and key not in _LIST_ATTRIBUTES:
        raise sc.fail(f"only the run_id attribute supports {op} with a list, not {_short(key)}", at)


def _to_int_or_float(sc: _Scanner, key: str, number: _Number, at: int) -> int | float:
    text = number.text
    if any(c in text for c in ".eE"):
        return float(text)
    digits = text.lstrip("-").lstrip("0")
    if len(digits) > 19 or abs(int(text)) > MAX_INT64:
        raise sc.fail(f"{key} value {_short(text)} is out of the 64-bit range", at)
    return int(text)


def _convert(sc: _Scanner, kind: str, key: str, op: str, literal: _Literal, at: int) -> Value:
    """Check the literal's type against the identifier and comparator; return the AST value."""
    numeric = kind == "metric" or (kind == "attribute" and key in _NUMERIC_ATTRIBUTES)
    subject = f"{kind} {_short(key)}"
    if numeric and not isinstance(literal, _Number):
        raise sc.fail(f"expected a number for {subject}, found a {_describe(literal)}", at)
    if isinstance(literal, _Number):
        if not numeric:
            found = literal.text[:40] + ("…" if len(literal.text) > 40 else "")
            raise sc.fail(f"expected a quoted string for {subject}, found number {found}", at)
        return float(literal.text) if kind == "metric" else _to_int_or_float(sc, key, literal, at)
    if op in _LIST_OPS and not isinstance(literal, tuple):
        raise sc.fail(f"{op} needs a parenthesised list of quoted strings, e.g. ('a', 'b')", at)
    if op not in _LIST_OPS and isinstance(literal, tuple):
        raise sc.fail(f"{op!r} takes a single quoted string; use IN for a list", at)
    problem = like_pattern_problem(op, literal)
    if problem is not None:
        raise sc.fail(problem, at)
    return literal


def _describe(literal: str | tuple[str, ...]) -> str:
    return "list" if isinstance(literal, tuple) else f"string {_short(literal)}"


def _parse_clause(sc: _Scanner) -> Comparison:
    _reject_clause_start(sc)
    kind, key = _read_identifier(sc, _FILTER_ALIASES)
    spaced = sc.skip_space()
    op_at = sc.pos
    op = _read_operator(sc, spaced or sc.at_end())
    _check_operator(sc, kind, key, op, op_at)
    if op in _NULL_OPS:
        return Comparison(kind, key, op, None)
    sc.skip_space()
    value_at = sc.pos
    literal = _read_value(sc, op)
    return Comparison(kind, key, op, _convert(sc, kind, key, op, literal, value_at))


def _reject_clause_start(sc: _Scanner) -> None:
    """Explain the usual mistakes at the start of a clause better than 'bad identifier'."""
    if sc.peek() == "(":
        raise sc.fail("parentheses are not supported; join comparisons with AND")
    if sc.at_end():
        raise sc.fail("empty clause after AND")
    if _AND.match(sc.text, sc.pos):
        raise sc.fail("empty clause before AND")
    if _OR.match(sc.text, sc.pos):
        raise sc.fail("Invalid clause(s) in filter string: 'OR'; only AND is supported")


def _expect_and(sc: _Scanner) -> None:
    if _OR.match(sc.text, sc.pos):
        raise sc.fail("Invalid clause(s) in filter string: 'OR'; only AND is supported")
    if sc.peek() in ("(", ")"):
        raise sc.fail("parentheses are not supported; join comparisons with AND")
    if sc.match(_AND) is None:
        raise sc.fail(f"expected AND or the end of the filter, found {sc.found()}")
    sc.skip_space()


def parse_filter(text: str | None) -> list[Comparison]:
    """Parse an MLflow run-search filter (comparisons joined by AND); blank means no filter."""
    if text is None:
        return []
    if not isinstance(text, str):
        raise SearchError("Invalid filter: it must be a string")
    _check_text(text, "Invalid filter")
    sc = _Scanner(text, "Invalid filter")
    sc.skip_space()
    if sc.at_end():
        return []
    clauses: list[Comparison] = []
    while True:
        clauses.append(_parse_clause(sc))
        sc.skip_space()
        if sc.at_end():
            return clauses
        _expect_and(sc)


def _parse_order_item(item: object, index: int) -> OrderBy:
    where = f"Invalid order_by item {index + 1}"
    if not isinstance(item, str):
        raise SearchError(f"{where}: it must be a string")
    _check_text(item, where)
    sc = _Scanner(item, f"{where} {_short(item)}")
    sc.skip_space()
    if sc.at_end():
        raise sc.fail("it is empty; expected <type>.<key> [ASC|DESC]")
    kind, key = _read_identifier(sc, _ORDER_ALIASES)
    if kind == "dataset":
        raise sc.fail("ordering by datasets is not supported", 0)
    ascending = True
    if sc.skip_space() and not sc.at_end():
        direction = sc.match(_DIRECTION)
        if direction is None:
            raise sc.fail(f"expected ASC or DESC, found {sc.found()}")
        ascending = direction.upper() == "ASC"
        sc.skip_space()
    if not sc.at_end():
        raise sc.fail(f"unexpected {sc.found()}; expected <type>.<key> [ASC|DESC]")
    return OrderBy(kind, key, ascending)


def parse_order_by(items: Sequence[str] | None) -> list[OrderBy]:
    """Parse order_by items like "metrics.loss DESC"; a lone string counts as one item."""
    if items is None:
        return []
    if isinstance(items, str):
        items = [items]
    if len(items) > MAX_ORDER_BY_ITEMS:
        raise SearchError(
            f"Invalid order_by: {len(items)} items; the limit is {MAX_ORDER_BY_ITEMS}"
        )
    result: list[OrderBy] = []
    for index, item in enumerate(items):
        order = _parse_order_item(item, index)
        if any((o.kind, o.key) == (order.kind, order.key) for o in result):
            raise SearchError(
                f"Invalid order_by: {order.kind} {_short(order.key)} appears more than once"
            )
        result.append(order)
    return result
