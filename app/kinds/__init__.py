"""The registry of entry kinds: each kind once, with its subject ids, body fields and the pure
reducer that says which projection rows an entry makes (docs/entry-kinds.md is generated from
it). The write path stores exactly these rows; verify, rebuild and reports replay them."""

from __future__ import annotations

from app.kinds import access, protection, registry, tracking
from app.kinds.core import (
    Entry,
    Kind,
    ReduceError,
    Row,
    Rows,
    State,
    Table,
    entry_from_canonical,
    entry_from_object,
)
from app.kinds.memory import MemoryState
from app.kinds.tables import BY_NAME, TABLES, table

KINDS: dict[str, Kind] = {k.name: k for k in (*access.KINDS, *tracking.KINDS, *registry.KINDS,
                                              *protection.KINDS)}

__all__ = ["BY_NAME", "KINDS", "TABLES", "Entry", "Kind", "MemoryState", "ReduceError", "Row",
           "Rows", "State", "Table", "entry_from_canonical", "entry_from_object", "reduce",
           "table"]


def reduce(entry: Entry, state: State) -> Rows:
    """The rows an entry makes: none for a kind the registry does not know (tests and later
    versions may write others); ReduceError when the entry does not fit its kind."""
    kind = KINDS.get(entry.kind)
    if kind is None:
        return []
    kind.check(entry)
    try:
        return kind.reduce(entry, state)
    except ReduceError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise ReduceError(f"{entry.kind} entry does not fit its kind: "
                          f"{type(exc).__name__} {exc}") from exc
