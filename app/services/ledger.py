"""Appending to the ledger: a per-transaction writer, and group commit across threads."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import psycopg
from psycopg_pool import ConnectionPool

from app.ledger import entry as entries
from app.ledger.entry import Draft, Receipt
from app.ledger.merkle import CompactRange
from app.storage import ledger as store

T = TypeVar("T")


@dataclass(frozen=True)
class _Snapshot:
    size: int
    chain_hash: bytes
    frontier: bytes


class LedgerWriter:
    """Appends entries inside the caller's transaction.

    The head row is locked at the first append and held until the transaction ends, so the
    facts a caller writes and their entries commit or roll back together, and no other
    writer (thread or process) can fork or gap the chain meanwhile.
    """

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self._size = -1
        self._chain = b""
        self._range = CompactRange()
        self._dirty = False

    @property
    def size(self) -> int:
        self.lock()
        return self._size

    def lock(self) -> None:
        """Take the head-row lock now (appends take it anyway)."""
        if self._size < 0:
            head = store.lock_head(self.conn)
            self._size, self._chain = head.size, bytes(head.chain_hash)
            self._range = CompactRange.from_bytes(head.size, bytes(head.frontier))

    def append(self, drafts: Sequence[Draft]) -> list[Receipt]:
        """Give each draft the next seq, hash it into the chain and the tree, insert it."""
        self.lock()
        instant = datetime.now(UTC)
        stamp = entries.format_timestamp(instant)
        rows: list[store.EntryRow] = []
        receipts: list[Receipt] = []
        for draft in drafts:
            seq = self._size + len(rows)
            canonical = entries.canonical_bytes(draft, seq, stamp)
            leaf = entries.leaf_hash(canonical)
            self._chain = entries.chain_hash(self._chain, leaf)
            nodes = b"".join(self._range.append(leaf))
            rows.append(
                store.EntryRow(seq, canonical, leaf, self._chain, nodes, draft.kind,
                               draft.actor, instant)
            )
            receipts.append(Receipt(seq, leaf, self._chain, draft.kind, stamp))
        store.insert_entries(self.conn, rows)
        self._size += len(rows)
        self._dirty = True
        return receipts

    def snapshot(self) -> _Snapshot | None:
        if self._size < 0:
            return None
        return _Snapshot(self._size, self._chain, self._range.to_bytes())

    def restore(self, snap: _Snapshot | None) -> None:
        """Forget appends rolled back with a savepoint."""
        if snap is None:
            self._size, self._dirty = -1, False
            return
        self._size, self._chain = snap.size, snap.chain_hash
        self._range = CompactRange.from_bytes(snap.size, snap.frontier)

    def flush(self) -> None:
        """Write the head row; call once before commit (ledger_transaction does)."""
        if self._dirty:
            store.save_head(
                self.conn, store.HeadRow(self._size, self._chain, self._range.to_bytes())
            )
            self._dirty = False


@contextmanager
def ledger_transaction(conn: psycopg.Connection) -> Iterator[LedgerWriter]:
    """One transaction: whatever the block writes, plus its entries, or nothing."""
    with conn.transaction():
        writer = LedgerWriter(conn)
        yield writer
        writer.flush()


class _Pending(Generic[T]):
    __slots__ = ("unit", "result", "error", "done")

    def __init__(self, unit: Callable[[LedgerWriter], T]) -> None:
        self.unit = unit
        self.result: T | None = None
        self.error: BaseException | None = None
        self.done = False


class GroupCommitter:
    """Runs units of work from many threads in shared transactions: one lock, one commit.

    The first waiting thread leads: it takes every queued unit (up to max_batch), runs each
    under a savepoint so a failing unit rolls back alone, then commits once. Results are
    handed back only after that commit, so a receipt always names a durable entry.
    """

    def __init__(self, pool: ConnectionPool, max_batch: int = 256,
                 on_commit: Callable[[int], None] | None = None) -> None:
        self._pool = pool
        self._max_batch = max_batch
        self._on_commit = on_commit
        self._queue: list[_Pending[Any]] = []
        self._cond = threading.Condition()
        self._leading = False

    def run(self, unit: Callable[[LedgerWriter], T]) -> T:
        pending: _Pending[T] = _Pending(unit)
        with self._cond:
            self._queue.append(pending)
            while not pending.done:
                if self._leading:
                    self._cond.wait()
                    continue
                self._leading = True
                batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
                self._cond.release()
                try:
                    self._run_batch(batch)
                finally:
                    self._cond.acquire()
                    self._leading = False
                    self._cond.notify_all()
        if pending.error is not None:
            raise pending.error
        return pending.result  # type: ignore[return-value]

    def _run_batch(self, batch: list[_Pending[Any]]) -> None:
        size = -1
        try:
            with self._pool.connection() as conn, ledger_transaction(conn) as writer:
                for pending in batch:
                    self._run_unit(writer, pending, savepoint=len(batch) > 1)
                size = writer._size
        except BaseException as exc:  # the shared transaction failed: every unit failed
            for pending in batch:
                pending.error = pending.error or exc
                pending.result = None
        finally:
            for pending in batch:
                pending.done = True
        if size >= 0 and self._on_commit is not None:
            self._on_commit(size)

    @staticmethod
    def _run_unit(writer: LedgerWriter, pending: _Pending[Any], savepoint: bool) -> None:
        if not savepoint:
            pending.result = pending.unit(writer)
            return
        snap = writer.snapshot()
        try:
            with writer.conn.transaction():
                pending.result = pending.unit(writer)
        except Exception as exc:
            writer.restore(snap)
            pending.error = exc
