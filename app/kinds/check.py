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
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Protocol

from app.kinds import reduce
from app.kinds.core import MATERIALIZED, ReduceError, Row, Rows, Table, entry_from_object
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
        out = []
        while self.head is not None and self.head[self._seq] == seq:
            out.append(self.head)
            self.head = next(self._rows, None)
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
            document = json.loads(canonical)
            entry = entry_from_object(document)
        except (ValueError, ReduceError) as exc:
            return self._stop(Mismatch("ledger_entries", seq, "invalid", detail=str(exc)))
        for column, stored, says in (("kind", kind, entry.kind), ("actor", actor, entry.actor),
                                     ("recorded_at", recorded_at, entry.recorded_at)):
            if stored != says:  # recorded_at: the column formatted as the entry writes it
                return self._stop(Mismatch("ledger_entries", seq, "differs", column))
        try:
            self.state.advance(seq)
            made = self.state.apply(reduce(entry, self.state))
        except ReduceError as exc:
            return self._stop(Mismatch("ledger_entries", seq, "invalid", detail=str(exc)))
        found = self._rows_at(seq, dict(made))
        self.entries += 1
        return found is None or self._stop(found)

    def _stop(self, found: Mismatch) -> bool:
        self.found = found
        return False

    def _rows_at(self, seq: int, made: dict[str, list[Row]]) -> Mismatch | None:
        heap, problems = self._heap, []
        while heap and heap[0][0] < seq:  # rows no entry made, at a seq before this one
            at, _, name = heap[0]
            row = self._cursors[name].head
            assert row is not None
            return Mismatch(name, at, "unbacked", row=_within(BY_NAME[name])(row))
        stored: dict[str, list[Row]] = {}
        while heap and heap[0][0] == seq:
            _, _, name = heapq.heappop(heap)
            cursor = self._cursors[name]
            stored[name] = cursor.take(seq)
            if cursor.seq is not None:
                heapq.heappush(heap, (cursor.seq, cursor.table.rank, name))
        for name in set(made) | set(stored):
            if name not in self._cursors:
                continue  # a table not checked here (made rows of a current table: none)
            expected, found = made.get(name, []), stored.get(name, [])
            if _agree(name, expected, found):
                continue
            problem = _compare(BY_NAME[name], seq, expected, found)
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

    def check_current(self, table: str, rows: Iterable[Row]) -> Mismatch | None:
        """A current table kept from revisions against the replay's current rows, in key
        order: a row is missing, unbacked, or differs from the entity's last revision."""
        spec = BY_NAME[table]
        assert spec.role == MATERIALIZED and isinstance(self.state, MemoryState)
        expected = self.state.items(table)
        seq = spec.index["seq"]
        a = next(expected, None)
        for row in rows:
            key = spec.key_of(row)
            while a is not None and _sort(a[0]) < _sort(key):
                return Mismatch(table, a[1]["seq"], "missing", row=a[0])
            if a is None or _sort(key) < _sort(a[0]):
                return Mismatch(table, int(row[seq]), "unbacked", row=key)
            wanted = spec.row(a[1])
            if not _same(wanted, row):
                return Mismatch(table, a[1]["seq"], "differs", _column(spec, wanted, row), key)
            a = next(expected, None)
        if a is not None:
            return Mismatch(table, a[1]["seq"], "missing", row=a[0])
        return None


def _sort(key: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((0, "") if v is None else (1, v) for v in key)
