"""Projections held in memory: what replaying entries through the reducers makes.

Verify and rebuild keep only the current rows of entities and key/value tables (bounded by
the number of entities, not of entries); reports keep every row of the entries they replay.
The fold from revisions and events to current rows is the one the database's triggers apply
(app/storage/schema_gen.py): the latest revision of an entity is its row; the latest event of
a key sets it, or removes it when its `present` column is null (or false).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from app.kinds.core import EVENT, MATERIALIZED, REVISION, Row, Rows, Table
from app.kinds.tables import BY_NAME, TABLES

_KEPT: dict[str, Table] = {t.source: t for t in TABLES if t.role == MATERIALIZED and t.source}


def fold(source: Table, row: Row) -> tuple[Table, tuple[Any, ...], dict[str, Any] | None]:
    """(materialized table, its key, its new row or None when removed) for a revision or
    event row."""
    target = _KEPT[source.name]
    values = source.as_dict(row)
    key = tuple(values[c] for c in target.key)
    if source.role == EVENT and values[source.present or ""] in (None, False):
        return target, key, None
    return target, key, {c: values[c] for c in target.names}


class MemoryState:
    """A State (app.kinds.core) made by applying rows in seq order.

    keep_facts: also keep every row of every table (a report's replay); otherwise only the
    current rows of materialized tables and the approvers of each promotion are kept.
    fold_events=False keeps no current rows of key/value tables (reducers never ask for
    them; verify checks those tables against their events in the database)."""

    def __init__(self, keep_facts: bool = False, fold_events: bool = True) -> None:
        self._fold_events = fold_events
        self._current: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {
            t.name: {} for t in TABLES if t.role == MATERIALIZED}
        self._approvers: dict[str, set[str]] = {}
        self._facts: dict[str, list[Row]] | None = {} if keep_facts else None
        self._first: dict[str, set[tuple[Any, ...]]] = {
            t.name: set() for t in TABLES if t.first_wins}

    def advance(self, seq: int) -> None:
        """Entries are applied in seq order; nothing to do."""

    def current(self, table: str, key: tuple[Any, ...]) -> dict[str, Any] | None:
        return self._current[table].get(key)

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
                    if values is None:
                        self._current[target.name].pop(key, None)
                    else:
                        self._current[target.name][key] = values
            elif name == "decisions":
                outcome = source.index["outcome"]
                for row in found:
                    if row[outcome] == "approve":
                        self._approvers.setdefault(row[0], set()).add(row[2])
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
            return [target.row(self._current[table][key])
                    for key in sorted(self._current[table], key=_sort_key)]
        if self._facts is None:
            raise ValueError("this MemoryState keeps no facts")
        return list(self._facts.get(table, ()))

    def items(self, table: str) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
        """The current rows of a materialized table with their keys, in key order."""
        found = self._current[table]
        for key in sorted(found, key=_sort_key):
            yield key, found[key]

    def extend(self, made: Iterable[Rows]) -> None:
        for rows in made:
            self.apply(rows)


def _sort_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((0, "") if v is None else (1, v) for v in key)
