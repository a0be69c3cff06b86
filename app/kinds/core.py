"""The building blocks of the registry: entries as reducers see them, tables, kinds and state.

A reducer is a pure function (entry, state) -> rows. `state` answers the few questions a
reducer may ask about what earlier entries made (the current row of an entity, who approved a
promotion so far); the write path answers them from the database, verify, rebuild and reports
from a MemoryState that replays the same rows. Nothing here imports flask or psycopg.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from operator import itemgetter
from typing import Any, NamedTuple, Protocol, TypeVar

from app.ledger.errors import LedgerError

Row = tuple[Any, ...]
Rows = list[tuple[str, list[Row]]]  # (table, rows of that table) in the order they are stored


class ReduceError(LedgerError):
    """An entry cannot be reduced: a field is missing or of the wrong type, or it changes an
    entity that no earlier entry made. Verify reports it at the entry's seq."""


class Entry(NamedTuple):
    """A ledger entry as the reducers see it (the fields of ledger-format.md section 2)."""

    seq: int
    kind: str
    recorded_at: str
    actor: str
    subject: Mapping[str, str]
    body: Mapping[str, Any]


def entry_from_object(document: Any) -> Entry:
    """An Entry from the decoded canonical bytes; ReduceError when it is not an entry."""
    if not isinstance(document, dict):
        raise ReduceError("the entry is not a JSON object")
    try:
        seq, kind, at, actor = (document["seq"], document["kind"], document["recorded_at"],
                                document["actor"])
        subject, body = document["subject"], document["body"]
    except KeyError as exc:
        raise ReduceError(f"the entry has no {exc.args[0]!r} member") from None
    if (type(seq) is not int or type(kind) is not str or type(at) is not str
            or type(actor) is not str or type(subject) is not dict or type(body) is not dict):
        raise ReduceError("the entry's members have the wrong types")
    return Entry(seq, kind, at, actor, subject, body)


_DECODER = json.JSONDecoder()


def entry_from_canonical(canonical: bytes) -> Entry:
    """An Entry from its canonical bytes: UTF-8 JSON with nothing before or after the value
    (what RFC 8785 writes); ReduceError otherwise."""
    try:
        text = canonical.decode("utf-8")
        document, end = _DECODER.raw_decode(text)
        if end != len(text):
            raise ValueError(f"bytes follow the JSON value at offset {end}")
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ReduceError(f"the entry bytes are not JSON: {exc}") from exc
    return entry_from_object(document)


_STAMP = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{6})Z")


def instant(text: str) -> datetime:
    """An RFC 3339 `recorded_at` (or expiry) as an aware datetime."""
    found = _STAMP.fullmatch(text) if type(text) is str else None
    try:
        if found is None:
            raise ValueError("not YYYY-MM-DDTHH:MM:SS.ffffffZ")
        year, month, day, hour, minute, second, micro = map(int, found.groups())
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)
    except ValueError as exc:
        raise ReduceError(f"{text!r} is not a timestamp of the ledger's format") from exc


def millis(text: str) -> int:
    """A recorded_at in milliseconds since the epoch (what MLflow clients are shown)."""
    return int(instant(text).timestamp() * 1000)


# Column types: how a value is written (storage) and compared (verify).
TEXT, BIGINT, INTEGER, JSONB, TIMESTAMPTZ, BYTEA, BOOLEAN, FLOAT8 = (
    "text", "bigint", "integer", "jsonb", "timestamptz", "bytea", "boolean", "float8")

# JSON types of body members, as documented.
STR, DEC, OBJ, ARR, NUL, BOOL, INT = ("string", "decimal string", "object", "array", "null",
                                      "boolean", "integer")

# What a table is to the ledger.
FACT = "fact"                  # one row per thing an entry says; never changes
REVISION = "revision"          # a full row of an entity per entry that makes or changes it
EVENT = "event"                # a key/value change (value None: the key is removed)
MATERIALIZED = "materialized"  # current state, kept by the database from revisions or events
STORE = "store"                # content-addressed bytes named by entries (not made by them)


@dataclass(frozen=True)
class Table:
    """A table the ledger decides: its columns (in the database's order) and how rows relate.

    key: the primary key. within: the columns that tell apart the rows one entry makes (in
    the order verify compares them; empty when an entry makes at most one row). first_wins:
    a fact's unique columns when a later row with the same values is not stored (the first
    one stands). source: for a materialized table, the revision or event table it is kept
    from; owner/present: for an event table, the columns naming what changes and the column
    that is None when the key is removed."""

    name: str
    role: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]
    within: tuple[str, ...] = ()
    first_wins: tuple[str, ...] = ()
    source: str | None = None
    present: str | None = None
    rank: int = 0  # the report order among tables (set by the registry)
    index: Mapping[str, int] = field(default_factory=dict, compare=False)
    names: tuple[str, ...] = field(default=(), compare=False)
    _values: Callable[[Mapping[str, Any]], Row] = field(default=tuple, compare=False, repr=False)

    def __post_init__(self) -> None:
        names = tuple(c for c, _ in self.columns)
        object.__setattr__(self, "index", {c: i for i, c in enumerate(names)})
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "_values", itemgetter(*names))  # every table has 2+ columns

    @property
    def seq(self) -> str:
        """The column naming the entry a row stands on (tokens: created_seq)."""
        return "seq" if "seq" in self.index else "created_seq"

    def type_of(self, column: str) -> str:
        return self.columns[self.index[column]][1]

    def row(self, values: Mapping[str, Any]) -> Row:
        """A row in column order from a mapping that names every column exactly once."""
        if len(values) != len(self.columns):
            extra = set(values) - set(self.index)
            missing = [c for c in self.names if c not in values]
            raise ReduceError(f"{self.name}: row has unknown {sorted(extra)} or lacks {missing}")
        return self._values(values)

    def as_dict(self, row: Row) -> dict[str, Any]:
        return dict(zip(self.names, row, strict=True))

    def key_of(self, row: Row) -> tuple[Any, ...]:
        return tuple(row[self.index[c]] for c in self.key)


class State(Protocol):
    """What reducers may ask about the rows earlier entries made."""

    def current(self, table: str, key: tuple[Any, ...]) -> dict[str, Any] | None:
        """The current row of an entity (a materialized table) by its key, as a dict."""

    def approvers(self, promotion_id: str) -> set[str]:
        """Who has approved a promotion so far (approve decisions, not refusals): principal
        ids, or the approving actor for decisions recorded before principals existed."""


Reducer = Callable[[Entry, State], Rows]


@dataclass(frozen=True)
class Field:
    """A body member: its JSON type as documented, and whether it may be absent."""

    name: str
    type: str
    optional: bool = False


@dataclass(frozen=True)
class Kind:
    """One entry kind: what its subject names, what its body holds, what rows it makes."""

    name: str
    subject: tuple[str, ...]
    body: tuple[Field, ...]
    reduce: Reducer
    doc: str
    tables: tuple[str, ...] = ()
    optional_subject: tuple[str, ...] = ()

    def check(self, entry: Entry) -> None:
        """ReduceError when the entry lacks a subject id or a body member, or one has the
        wrong JSON type (reducers then read only what this promised)."""
        for key in self.subject:
            if type(entry.subject.get(key)) is not str:
                raise ReduceError(f"{self.name} entry has no subject {key!r}")
        body = entry.body
        for spec in self.body:
            if spec.name not in body:
                if spec.optional:
                    continue
                raise ReduceError(f"{self.name} entry has no body member {spec.name!r}")
            if not _fits(body[spec.name], spec.type):
                raise ReduceError(f"{self.name} entry's {spec.name!r} is not {spec.type}")


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "object": (dict,), "array": (list,), "boolean": (bool,),
    "integer": (int,), "null": (type(None),), "any": (object,),
}


def _fits(value: Any, spec: str) -> bool:
    return _fitter(spec)(value)


@cache
def _fitter(spec: str) -> Callable[[Any], bool]:
    """The test that a value has one of the JSON types of a Field's spec ("string or null")."""
    tests: list[Callable[[Any], bool]] = []
    for name in (part.strip() for part in spec.split(" or ")):
        if name == "decimal string":
            tests.append(lambda v: type(v) is str and _is_decimal(v))
        elif name == "integer":
            tests.append(lambda v: isinstance(v, int) and type(v) is not bool)
        elif name in _JSON_TYPES:
            types = _JSON_TYPES[name]
            tests.append(lambda v, types=types: isinstance(v, types))  # type: ignore[misc]
        else:
            raise ValueError(f"unknown field type {name!r}")
    if len(tests) == 1:
        return tests[0]
    return lambda v: any(test(v) for test in tests)


def _is_decimal(text: str) -> bool:
    digits = text[1:] if text.startswith("-") else text
    return digits.isdigit() and digits.isascii() and (digits == "0" or digits[0] != "0")


K = TypeVar("K")
V = TypeVar("V")


class Memo(dict[K, V]):
    """Values worked out once for keys that repeat by the thousand (a replay's steps, metric
    groups, small JSON documents); emptied whenever it holds `limit`, so it stays small."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def keep(self, key: K, value: V) -> V:
        if len(self) >= self.limit:
            self.clear()
        self[key] = value
        return value


_INTEGERS: Memo[str, int] = Memo(50_000)  # decimal strings seen (steps, timestamps)


def integer(text: Any, what: str) -> int:
    """A decimal string (or integer) from an entry as an int."""
    found = _INTEGERS.get(text) if type(text) is str else None
    if found is not None:
        return found
    if type(text) is str and text.isdigit() and text.isascii() and (
            text[0] != "0" or len(text) == 1):  # the usual case, in C
        value = int(text)
        if len(text) < 20:
            _INTEGERS.keep(text, value)
        return value
    if type(text) is int:
        return text
    if type(text) is str and _is_decimal(text):
        return int(text)
    raise ReduceError(f"{what} {text!r} is not a decimal integer")


def optional_integer(text: Any, what: str) -> int | None:
    return None if text is None else integer(text, what)


def rows(*groups: tuple[str, Iterable[Row]]) -> Rows:
    """Rows, dropping tables with none."""
    out: Rows = []
    for table, found in groups:
        found = list(found)
        if found:
            out.append((table, found))
    return out


def strings(value: Any, what: str) -> dict[str, str]:
    """A {key: value} object of strings from an entry."""
    if not isinstance(value, dict) or not all(type(v) is str for v in value.values()):
        raise ReduceError(f"{what} is not an object of strings")
    return value


def sequence_of(value: Any, what: str) -> Sequence[Any]:
    if not isinstance(value, list):
        raise ReduceError(f"{what} is not an array")
    return value


def revision(state: State, entity: Table, revisions: Table, key: tuple[Any, ...], seq: int,
             changes: Mapping[str, Any]) -> tuple[str, list[Row]]:
    """The next revision of an entity: its current row with changes, made by entry seq."""
    current = state.current(entity.name, key)
    if current is None:
        raise ReduceError(f"no entry made the {entity.name} row {key!r} it changes")
    return revisions.name, [revisions.row({**current, **changes, "seq": seq})]
