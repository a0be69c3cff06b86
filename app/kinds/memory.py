"""Projections held in memory: what replaying entries through the reducers makes.

Verify and rebuild keep only the current rows of entities and key/value tables (bounded by
the number of entities, not of entries); reports keep every row of the entries they replay.
The fold from revisions and events to current rows is the one the database's triggers apply
(app/storage/schema_gen.py): the latest revision of an entity is its row; the latest event of
a key sets it, or removes it when its `present` column is null (or false).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from operator import itemgetter
from typing import Any

from app.kinds.core import EVENT, MATERIALIZED, REVISION, Row, Rows, Table
from app.kinds.tables import BY_NAME, TABLES

_KEPT: dict[str, Table] = {t.source: t for t in TABLES if t.role == MATERIALIZED and t.source}


def _projection(source: Table, target: Table) -> tuple[Any, Any, int | None]:
    """(the target's row from a source row, its key from a source row, the source's present
    column): revisions have the entity's columns, events a superset of the kept ones."""
    row = itemgetter(*(source.index[c] for c in target.names))
    key = itemgetter(*(source.index[c] for c in target.key))
    single = len(target.key) == 1
    return (row, (lambda r: (key(r),)) if single else key,
            source.index[source.present] if source.role == EVENT and source.present else None)


_FOLDS = {name: (target, *_projection(BY_NAME[name], target)) for name, target in _KEPT.items()}


def fold(source: Table, row: Row) -> tuple[Table, tuple[Any, ...], Row | None]:
    """(materialized table, its key, its new row or None when removed) for a revision or
    event row."""
    target, project, key_of, present = _FOLDS[source.name]
    if present is not None and row[present] in (None, False):
        return target, key_of(row), None
    return target, key_of(row), project(row)


KEEP = 20_000
"""Current rows of each entity table a replay (verify, rebuild) keeps in memory, the most
recently changed (runs are created and ended a few thousand entries apart); older ones are
asked of `earlier` when an entry changes them."""

Earlier = Callable[[str, tuple[Any, ...], int], "dict[str, Any] | None"]
"""(materialized table, key, seq) -> the entity's row as entries before seq left it."""


class MemoryState:
    """A State (app.kinds.core) made by applying rows in seq order.

    limit: keep at most this many current rows per table, the most recently changed; a row
    let go of is asked of `earlier` (verify asks the database, whose revisions below the
    entry being checked are already held to their entries), so memory stays bounded however
    many entities a ledger has.

    keep_facts: also keep every row of every table (a report's replay); otherwise only the
    current rows of materialized tables and the approvers of each promotion are kept.
    fold_events=False keeps no current rows of key/value tables (reducers never ask for
    them; verify checks those tables against their events in the database)."""

    def __init__(self, keep_facts: bool = False, fold_events: bool = True,
                 limit: int | None = None, earlier: Earlier | None = None) -> None:
        self._fold_events, self._limit, self._earlier, self._seq = fold_events, limit, earlier, 0
        self._current: dict[str, dict[tuple[Any, ...], Row]] = {  # rows, not dicts: memory
            t.name: {} for t in TABLES if t.role == MATERIALIZED}
        self._approvers: dict[str, set[str]] = {}
        self._facts: dict[str, list[Row]] | None = {} if keep_facts else None
        self._first: dict[str, set[tuple[Any, ...]]] = {
            t.name: set() for t in TABLES if t.first_wins}
        self._let_go: set[str] = set()  # tables a row was let go of (limit)

    def advance(self, seq: int) -> None:
        """The entry about to be applied (entries are applied in seq order)."""
        self._seq = seq

    def current(self, table: str, key: tuple[Any, ...]) -> dict[str, Any] | None:
        row = self._current[table].get(key)
        if row is None and self._earlier is not None and table in self._let_go:  # perhaps
            return self._earlier(table, key, self._seq)  # let go of (limit)
        return None if row is None else BY_NAME[table].as_dict(row)

    def approvers(self, promotion_id: str) -> set[str]:
        return set(self._approvers.get(promotion_id, ()))

    def apply(self, made: Rows) -> Rows:
        """Apply one entry's rows; returns those a database stores (a first-wins fact whose
        key is already stored is left out, as its INSERT ... ON CONFLICT DO NOTHING is)."""
        stored: Rows = []
        for name, found in made:
            source = BY_NAME[name]
            if source.first_wins:
                found = self._first_only(source, found)
                if not found:
                    continue
            stored.append((name, found))
            if self._facts is not None:
                self._facts.setdefault(name, []).extend(found)
            if source.role == REVISION or (source.role == EVENT and self._fold_events):
                for row in found:
                    target, key, values = fold(source, row)
                    kept = self._current[target.name]
                    kept.pop(key, None)  # a key set again goes to the end: most recent
                    if values is not None:
                        kept[key] = values
                        if self._limit is not None and len(kept) > self._limit:
                            del kept[next(iter(kept))]  # the least recently changed
                            self._let_go.add(target.name)
            elif name == "decisions":
                outcome, principal = source.index["outcome"], source.index["principal_id"]
                for row in found:
                    if row[outcome] == "approve":  # the person, or the token before people
                        self._approvers.setdefault(row[0], set()).add(row[principal] or row[2])
        return stored

    def _first_only(self, table: Table, found: list[Row]) -> list[Row]:
        seen, columns = self._first[table.name], [table.index[c] for c in table.first_wins]
        kept = []
        for row in found:
            key = tuple(row[i] for i in columns)
            if key not in seen:
                seen.add(key)
                kept.append(row)
        return kept

    def rows(self, table: str) -> list[Row]:
        """Every row of a table: a materialized table's current rows in key order, else the
        rows applied (only with keep_facts)."""
        target = BY_NAME[table]
        if target.role == MATERIALIZED:
            return [row for _, row in self.kept(table)]
        if self._facts is None:
            raise ValueError("this MemoryState keeps no facts")
        return list(self._facts.get(table, ()))

    def items(self, table: str) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
        """The current rows of a materialized table with their keys, in key order, as dicts."""
        spec = BY_NAME[table]
        for key, row in self.kept(table):
            yield key, spec.as_dict(row)

    def kept(self, table: str) -> Iterator[tuple[tuple[Any, ...], Row]]:
        """The current rows of a materialized table with their keys, in key order."""
        found = self._current[table]
        for key in sorted(found, key=_sort_key):
            yield key, found[key]

    def extend(self, made: Iterable[Rows]) -> None:
        for rows in made:
            self.apply(rows)


def _sort_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((0, "") if v is None else (1, v) for v in key)
