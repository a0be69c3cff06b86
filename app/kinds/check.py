"""Holding every projection table to the ledger: replay the entries, compare row for row.

`check(entries, tables)` walks the entries in seq order. For each it checks the query copies
of `ledger_entries` (kind, actor, recorded_at) against the canonical bytes, reduces it
(app.kinds.reduce) and compares the rows it makes with the rows each insert-only table holds
for that seq; then it compares each current table kept from revisions with the current rows
the replay ends with. It needs the tables' rows ordered by (seq, the `within` columns in
byte order) and the current tables' by key, and holds only the entities' current rows.

The first disagreement is returned: the lowest seq, then the table that comes first in the
registry, then the row (by its `within` columns). A row is `missing` (an entry made it, the
table lacks it), `unbacked` (no entry of this table's kinds made it), `differs` (a column,
named, is not what the entry says), or the entry itself is `invalid` (it does not fit its
kind, so no row can be derived from it).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Protocol

from app.kinds import KINDS, reduce
from app.kinds.core import (
    EVENT,
    FACT,
    MATERIALIZED,
    REVISION,
    ReduceError,
    Row,
    Rows,
    Table,
    entry_from_canonical,
)
from app.kinds.memory import MemoryState
from app.kinds.tables import BY_NAME, TABLES


@dataclass(frozen=True)
class Mismatch:
    """Where the tables and the ledger disagree (see the module's docstring)."""

    table: str
    seq: int
    problem: str  # missing | unbacked | differs | invalid
    column: str | None = None
    row: tuple[Any, ...] | None = None  # the row's key within its entry (or its key)
    detail: str = ""

    def order(self) -> tuple[int, int, tuple[Any, ...]]:
        rank = BY_NAME[self.table].rank if self.table in BY_NAME else -1
        return self.seq, rank, tuple(str(v) for v in self.row or ())


@dataclass(frozen=True)
class Share:
    """A part of the check that runs on its own (on another core): the entries whose kind
    column is one of `kinds` (with `rest`: none of them), the insert-only tables only those
    kinds make rows of (with `rest`: every other), and the current tables kept from those.

    Shares are exact, not sampled: an entry of the other share makes no row of these tables,
    so a row of them at its seq is `unbacked`, as is any row at a seq this share is not fed;
    an entry whose kind column was changed to move it between shares says another kind than
    its bytes, which the share it lands in reports. The verdict of all shares is the first
    disagreement of any (`first`)."""

    kinds: frozenset[str]
    rest: bool = False

    @property
    def tables(self) -> tuple[str, ...]:
        own = made_only_by(self.kinds)
        return tuple(t.name for t in TABLES if t.role in (FACT, REVISION, EVENT)
                     and (t.name in own) != self.rest)

    @property
    def current(self) -> tuple[str, ...]:
        """The current tables kept from this share's revisions and events."""
        mine = set(self.tables)
        return tuple(t.name for t in TABLES if t.role == MATERIALIZED and t.source in mine)


def made_only_by(kinds: frozenset[str]) -> set[str]:
    """The tables whose rows entries of these kinds make, and entries of no other kind."""
    makers: dict[str, set[str]] = {}
    for kind in KINDS.values():
        for name in kind.tables:
            makers.setdefault(name, set()).add(kind.name)
    return {name for name, by in makers.items() if by <= kinds}


# Metrics are most of a ledger (60 % of the entries of bench/ledger_1m.py's mix): their own
# share, beside one for everything else.
METRICS = frozenset({"metrics.logged"})
SHARES = (Share(METRICS), Share(METRICS, rest=True))


def first(found: Iterable[Mismatch | None]) -> Mismatch | None:
    """The first disagreement of several shares' (the lowest seq, then table, then row)."""
    return min((f for f in found if f is not None), key=Mismatch.order, default=None)


EntryRow = tuple[int, bytes, str, str, Any]  # seq, canonical, kind, actor, recorded_at columns


def _same(a: Row, b: Row) -> bool:
    if a == b:
        return True
    return len(a) == len(b) and all(x == y or (x != x and y != y)  # NaN is NaN
                                    for x, y in zip(a, b, strict=True))


def _column(table: Table, expected: Row, found: Row) -> str:
    for name, x, y in zip(table.names, expected, found, strict=True):
        if not (x == y or (x != x and y != y)):
            return name
    return ""


def _within(table: Table) -> Callable[[Row], tuple[Any, ...]]:
    columns = [table.index[c] for c in table.within]
    return lambda row: tuple(row[i] for i in columns)


_KEYS: dict[str, Callable[[Row], Any] | None] = {
    t.name: (itemgetter(*[t.index[c] for c in t.within]) if t.within else None)
    for t in TABLES}


def _agree(table: str, expected: list[Row], found: list[Row]) -> bool:
    """The common case, at C speed: the rows an entry made are the rows stored for it."""
    if len(expected) != len(found):
        return False
    if len(expected) > 1:
        key = _KEYS[table]
        if key is not None:
            expected = sorted(expected, key=key)
    return expected == found


def _compare(table: Table, seq: int, expected: list[Row], found: list[Row]) -> Mismatch | None:
    """The first disagreement between the rows an entry made and those stored for it."""
    key = _within(table)
    expected = sorted(expected, key=key)
    i = j = 0
    while i < len(expected) or j < len(found):
        a = expected[i] if i < len(expected) else None
        b = found[j] if j < len(found) else None
        ka = key(a) if a is not None else None
        kb = key(b) if b is not None else None
        if b is None or (a is not None and ka is not None and kb is not None and ka < kb):
            return Mismatch(table.name, seq, "missing", row=ka)
        if a is None or (ka is not None and kb is not None and kb < ka):
            return Mismatch(table.name, seq, "unbacked", row=kb)
        if not _same(a, b):
            return Mismatch(table.name, seq, "differs", _column(table, a, b), ka)
        i += 1
        j += 1
    return None


class _Cursor:
    """A table's rows in (seq, within) order, one seq's worth at a time."""

    def __init__(self, table: Table, rows: Iterator[Row]) -> None:
        self.table, self._rows, self._seq = table, rows, table.index[table.seq]
        self.head: Row | None = next(rows, None)

    @property
    def seq(self) -> int | None:
        return None if self.head is None else int(self.head[self._seq])

    def take(self, seq: int) -> list[Row]:
        head, rows, column, out = self.head, self._rows, self._seq, []
        while head is not None and head[column] == seq:
            out.append(head)
            head = next(rows, None)
        self.head = head
        return out


class ReplayState(Protocol):
    """A State that the replay moves along: MemoryState, or the database as of an entry."""

    def advance(self, seq: int) -> None: ...
    def apply(self, made: Rows) -> Rows: ...
    def current(self, table: str, key: tuple[Any, ...]) -> dict[str, Any] | None: ...
    def approvers(self, promotion_id: str) -> set[str]: ...


class Replay:
    """The walk of `check`, one entry at a time (so a caller can interleave other work).

    state: what reducers ask (default: a MemoryState of every entry fed so far, so the
    walk must start at seq 0; an incremental check starts later with the database as of
    each entry)."""

    def __init__(self, tables: Mapping[str, Iterator[Row]],
                 state: ReplayState | None = None) -> None:
        self.state: ReplayState = state or MemoryState(fold_events=False)
        self._cursors = {name: _Cursor(BY_NAME[name], rows) for name, rows in tables.items()}
        self._heap = [(c.seq, BY_NAME[name].rank, name) for name, c in self._cursors.items()
                      if c.seq is not None]
        heapq.heapify(self._heap)
        self.found: Mismatch | None = None
        self.entries = 0

    def feed(self, row: EntryRow) -> bool:
        """Check one entry; False once a disagreement is found (self.found)."""
        seq, canonical, kind, actor, recorded_at = row
        try:
            entry = entry_from_canonical(canonical)
        except ReduceError as exc:
            return self._stop(Mismatch("ledger_entries", seq, "invalid", detail=str(exc)))
        if kind != entry.kind or actor != entry.actor or recorded_at != entry.recorded_at:
            # recorded_at: the column formatted as the entry writes it
            column = ("kind" if kind != entry.kind else "actor" if actor != entry.actor
                      else "recorded_at")
            return self._stop(Mismatch("ledger_entries", seq, "differs", column))
        try:
            self.state.advance(seq)
            made = self.state.apply(reduce(entry, self.state))
        except ReduceError as exc:
            return self._stop(Mismatch("ledger_entries", seq, "invalid", detail=str(exc)))
        found = self._rows_at(seq, made)
        self.entries += 1
        return found is None or self._stop(found)

    def _stop(self, found: Mismatch) -> bool:
        self.found = found
        return False

    def _rows_at(self, seq: int, made: Rows) -> Mismatch | None:
        heap, cursors = self._heap, self._cursors
        if heap and heap[0][0] < seq:  # rows no entry made, at a seq before this one
            at, _, name = heap[0]
            row = cursors[name].head
            assert row is not None
            return Mismatch(name, at, "unbacked", row=_within(BY_NAME[name])(row))
        stored: dict[str, list[Row]] = {}
        while heap and heap[0][0] == seq:
            _, _, name = heapq.heappop(heap)
            cursor = cursors[name]
            stored[name] = cursor.take(seq)
            after = cursor.seq
            if after is not None:
                heapq.heappush(heap, (after, cursor.table.rank, name))
        problems = []
        for name, expected in made:
            if name not in cursors:
                continue  # a table not checked here (another share's)
            found = stored.pop(name, [])
            if not _agree(name, expected, found):
                problem = _compare(BY_NAME[name], seq, expected, found)
                if problem is not None:
                    problems.append(problem)
        for name, found in stored.items():  # rows stored at seq of tables it makes none of
            problem = _compare(BY_NAME[name], seq, [], found)
            if problem is not None:
                problems.append(problem)
        return min(problems, key=Mismatch.order, default=None)

    def finish(self) -> Mismatch | None:
        """After the last entry: rows beyond it, then the current tables."""
        if self.found is not None:
            return self.found
        if self._heap:
            at, _, name = self._heap[0]
            row = self._cursors[name].head
            assert row is not None
            return Mismatch(name, at, "unbacked", row=_within(BY_NAME[name])(row))
        return None


def _sort(key: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((0, "") if v is None else (1, v) for v in key)
