"""Several reads in one round trip: each query is sent, then every result is taken."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg.rows import RowFactory

T = TypeVar("T")
Take = Callable[[], T]  # a sent query's result, shaped (call it once, after the sync)
Send = Callable[[psycopg.Connection], Take[Any]]


def sent(conn: psycopg.Connection, query: Any, params: Sequence[Any] | dict[str, Any],
         shape: Callable[[list[Any]], T], row_factory: RowFactory[Any] | None = None
         ) -> Take[T]:
    """Execute query now (in a pipeline: queue it) and return how to take its shaped rows.
    Outside a pipeline the round trip is made here, so `sent(...)()` is a plain read."""
    cur = conn.cursor(row_factory=row_factory) if row_factory else conn.cursor()
    cur.execute(query, params)

    def take() -> T:
        with cur:
            return shape(cur.fetchall())

    return take


def together(conn: psycopg.Connection, *sends: Send) -> list[Any]:
    """Each send's result, in order, from one pipelined round trip. (An error in one query
    is raised here, as each read alone would raise it.)"""
    with conn.pipeline():
        takes = [send(conn) for send in sends]
    return [take() for take in takes]
