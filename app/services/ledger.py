"""Appending to the ledger: a per-transaction writer, and group commit across threads."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from itertools import repeat
from operator import attrgetter
from typing import Any, Generic, NamedTuple, TypeVar

import psycopg
from psycopg import pq
from psycopg_pool import ConnectionPool

from app import kinds
from app.db import DatabaseError
from app.ledger import entry as entries
from app.ledger.entry import Draft, Receipt
from app.ledger.merkle import CompactRange
from app.storage import ledger as store
from app.storage import projection

T = TypeVar("T")
STREAM_THRESHOLD = 1000  # appends of at least this many entries stream into COPY
HASH_BLOCK = 128  # entries hashed per step: PostgreSQL stores one block while the next is hashed
_actor = attrgetter("actor")
_receipt = partial(tuple.__new__, Receipt)  # Receipt from a (seq, leaf, chain, kind, stamp) tuple


class _CollectorPause:
    """Keeps the cyclic garbage collector off while any streamed append runs.

    A streamed append allocates a receipt per entry and no reference cycles. With the
    collector on, those receipts survive its young-generation passes, are promoted, and soon
    trigger a full collection that walks the whole heap (about 1 us per entry appended); the
    caller usually drops them young. Pauses may overlap (threads): the last one to end turns
    the collector back on, and only if it was on when the first began.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active = 0
        self._resume = False

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if not self._active:
                self._resume = gc.isenabled()
                gc.disable()
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1
                if not self._active and self._resume:
                    gc.enable()


_collector_paused = _CollectorPause()


class _Snapshot(NamedTuple):
    size: int
    chain_hash: bytes
    frontier: bytes
    buffered: int


class LedgerWriter:
    """Appends entries inside the caller's transaction.

    The head row is locked at the first append and held until the transaction ends, so the
    facts a caller writes and their entries commit or roll back together, and no other
    writer (thread or process) can fork or gap the chain meanwhile. Entries are hashed at
    append() and written at flush(), which ledger_transaction calls before commit; tables
    that reference an entry's seq therefore use deferred foreign keys.
    """

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self._size = -1
        self._chain = b""
        self._range = CompactRange()
        self._buffer: list[store.EntryValues] = []
        self._dirty = False

    @property
    def size(self) -> int:
        """The tree size including this transaction's appends (locks the head)."""
        self.lock()
        return self._size

    def lock(self) -> None:
        """Take the head-row lock now (appends take it anyway)."""
        if self._size < 0:
            head = store.lock_head(self.conn)
            self._size, self._chain = head.size, bytes(head.chain_hash)
            self._range = CompactRange.from_bytes(head.size, bytes(head.frontier))

    def append(self, drafts: Sequence[Draft], *, project: bool = True) -> list[Receipt]:
        """Give each draft the next seq, hash it into the chain and the tree, and store the
        projection rows its kind's reducer makes (app.kinds), in this transaction.

        Small appends are buffered until flush(). A large one is streamed into COPY as it is
        hashed, so PostgreSQL stores rows while Python hashes the next; a bad draft in it
        then fails the COPY, which aborts the transaction (or the enclosing savepoint).
        project=False leaves the rows to the caller, which must store what reduce() makes.
        """
        self.lock()
        before = self.snapshot()
        stream = len(drafts) >= STREAM_THRESHOLD
        try:
            if not stream:
                receipts = self._hash(drafts, self._buffer.extend)
            else:
                self._write_buffer()
                with _collector_paused(), store.copy_entries(self.conn) as write_rows:
                    receipts = self._hash(drafts, write_rows)
        except BaseException:  # the writer is left as it was before this call
            self.restore(before)
            raise
        self._dirty = True
        if project:
            for made in self.reduce(drafts, receipts):
                projection.apply(self.conn, made)
        return receipts

    def reduce(self, drafts: Sequence[Draft], receipts: Sequence[Receipt]
               ) -> Iterator[kinds.Rows]:
        """The rows each appended draft's reducer makes, draft by draft: each is computed
        once the rows of the drafts before it are stored (the caller stores them)."""
        state = None
        for draft, receipt in zip(drafts, receipts, strict=True):
            if draft.kind not in kinds.KINDS:
                continue
            state = state or projection.DbState(self.conn)
            yield kinds.reduce(kinds.Entry(receipt.seq, draft.kind, receipt.recorded_at,
                                           draft.actor, draft.subject, draft.body), state)

    def _hash(self, drafts: Sequence[Draft],
              sink: Callable[[Iterable[store.EntryValues]], object]) -> list[Receipt]:
        """Hash drafts block by block, handing each block's rows to sink as it is done."""
        instant = datetime.now(UTC)
        stamp = entries.format_timestamp(instant)
        seq, chain = self._size, self._chain
        if len(drafts) == 1:  # most appends: one fact, one entry; the scalar path costs less
            draft = drafts[0]
            canonical = entries.canonical_bytes(draft, seq, stamp)
            leaf = entries.leaf_hash(canonical)
            chain = entries.chain_hash(chain, leaf)
            sink(((seq, canonical, leaf, chain, b"".join(self._range.append(leaf)), draft.kind,
                   draft.actor, instant),))
            self._size, self._chain = seq + 1, chain
            return [Receipt(seq, leaf, chain, draft.kind, stamp)]
        receipts: list[Receipt] = []
        for start in range(0, len(drafts), HASH_BLOCK):
            block = drafts[start : start + HASH_BLOCK] if len(drafts) > HASH_BLOCK else drafts
            canonicals, leaves, chains, nodes = entries.hash_block(
                block, seq, stamp, chain, self._range)
            seqs = range(seq, seq + len(block))
            kinds = [draft.kind for draft in block]
            sink(zip(seqs, canonicals, leaves, chains, nodes, kinds, map(_actor, block),
                     repeat(instant)))
            receipts.extend(map(_receipt, zip(seqs, leaves, chains, kinds, repeat(stamp))))
            seq, chain = seq + len(block), chains[-1]
            self._size, self._chain = seq, chain
        return receipts

    def _write_buffer(self) -> None:
        if self._buffer:
            store.insert_entries(self.conn, self._buffer)
            self._buffer = []

    def snapshot(self) -> _Snapshot | None:
        if self._size < 0:
            return None
        return _Snapshot(self._size, self._chain, self._range.to_bytes(), len(self._buffer))

    def restore(self, snap: _Snapshot | None) -> None:
        """Forget appends rolled back with a savepoint."""
        if snap is None:
            self._size, self._dirty, self._buffer = -1, False, []
            return
        self._size, self._chain = snap.size, snap.chain_hash
        self._range = CompactRange.from_bytes(snap.size, snap.frontier)
        del self._buffer[snap.buffered:]

    def flush(self) -> None:
        """Write buffered entries and the head row; ledger_transaction calls it before commit.

        Call it too before opening a savepoint whose rollback you handle, so that rolling
        back cannot take earlier buffered entries with it.
        """
        if not self._dirty:
            self._write_buffer()
            return
        store.insert_entries_and_save_head(
            self.conn, self._buffer, store.HeadRow(self._size, self._chain, self._range.to_bytes())
        )
        self._buffer, self._dirty = [], False


    def begin(self) -> None:
        """BEGIN the transaction and take the head-row lock, in one round trip (the
        connection in autocommit; commit() or a ROLLBACK ends the transaction)."""
        head = store.begin_and_lock_head(self.conn)
        self._size, self._chain = head.size, bytes(head.chain_hash)
        self._range = CompactRange.from_bytes(head.size, bytes(head.frontier))

    def commit(self) -> None:
        """flush() and COMMIT in one round trip (a transaction opened by begin())."""
        head = store.HeadRow(self._size, self._chain, self._range.to_bytes())
        store.flush_and_commit(self.conn, self._buffer, head if self._dirty else None)
        self._buffer, self._dirty = [], False


@contextmanager
def ledger_transaction(conn: psycopg.Connection) -> Iterator[LedgerWriter]:
    """One transaction: whatever the block writes, plus its entries, or nothing."""
    with conn.transaction():
        writer = LedgerWriter(conn)
        yield writer
        writer.flush()


@contextmanager
def locked_transaction(conn: psycopg.Connection) -> Iterator[LedgerWriter]:
    """ledger_transaction with the head locked from the start, and two round trips fewer:
    BEGIN goes with the head lock's query, COMMIT with the entries and the head's UPDATE.
    The block's statements run as in ledger_transaction (savepoints included); COMMIT has
    answered, so the entries are durable, before this returns, and any error rolls the whole
    transaction back. The connection is in autocommit meanwhile (psycopg would otherwise send
    a BEGIN of its own), and back as it was after."""
    conn.autocommit = True
    try:
        writer = LedgerWriter(conn)
        writer.begin()
        yield writer
        writer.commit()
    except BaseException:
        _roll_back(conn)
        raise
    finally:
        if conn.info.transaction_status == pq.TransactionStatus.IDLE:
            conn.autocommit = False
        else:  # the rollback failed: the pool discards a closed connection
            conn.close()


def _roll_back(conn: psycopg.Connection) -> None:
    """ROLLBACK, through psycopg (which also forgets the statements it prepared)."""
    if not conn.closed and conn.info.transaction_status != pq.TransactionStatus.IDLE:
        try:
            conn.rollback()
        except psycopg.Error:
            conn.close()


class _Pending(Generic[T]):
    __slots__ = ("unit", "result", "error", "done", "lead", "event")

    def __init__(self, unit: Callable[[LedgerWriter], T]) -> None:
        self.unit = unit
        self.result: T | None = None
        self.error: BaseException | None = None
        self.done = False
        self.lead = False
        self.event = threading.Event()

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


class _UnitFailed(Exception):
    """Internal: a unit raised during an optimistic pass; the transaction is rolled back."""


class CommitterClosed(DatabaseError):
    """The service is shutting down and takes no new writes (answered 503, retried)."""


class GroupCommitter:
    """Runs units of work from many threads in shared transactions: one lock, one commit.

    One thread at a time leads: it takes every queued unit (up to max_batch), waits for the
    ledger head's lock (another process may be committing), adds the units queued meanwhile,
    and runs them all in one transaction, then commits once; results are handed back only
    after that commit, so a receipt always names a durable entry. The first pass runs the
    units back to back; if one fails, the transaction is rolled back, that unit gets its
    error, and the others run again, each under its own savepoint. A unit that wants to
    survive its own database errors must open a savepoint itself
    (`with writer.conn.transaction():`).
    """

    def __init__(self, pool: ConnectionPool, max_batch: int = 256,
                 on_commit: Callable[[int], None] | None = None) -> None:
        self._pool = pool
        self._max_batch = max_batch
        self._on_commit = on_commit
        self._queue: list[_Pending[Any]] = []
        self._lock = threading.Lock()
        self._leading = False
        self._closed = False

    def close(self, timeout: float = 30.0) -> bool:
        """Refuse new units, then wait until the queued ones are committed (or failed).

        Units already queued run to the end: their threads lead or wait as usual. Returns
        False if some were still running after timeout seconds.
        """
        with self._lock:
            self._closed = True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._leading and not self._queue:
                    return True
            time.sleep(0.01)  # shutdown only: not worth a condition on the commit path
        return False

    def run(self, unit: Callable[[LedgerWriter], T]) -> T:
        pending: _Pending[T] = _Pending(unit)
        with self._lock:
            if self._closed:
                raise CommitterClosed("the service is shutting down; retry")
            self._queue.append(pending)
            pending.lead = not self._leading
            self._leading = True
        if not pending.lead:
            pending.event.wait()
        if not pending.done:  # promoted: lead until our own unit is done
            while not pending.done:
                self._lead()
        return pending.outcome()

    def _lead(self) -> None:
        with self._lock:
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
        try:
            self._run_batch(batch)
        finally:
            for pending in batch:
                pending.done = True
                if not pending.lead:
                    pending.event.set()
            with self._lock:
                if self._queue:  # hand over to the oldest waiter, so our caller can return
                    successor = self._queue[0]
                    successor.lead = True
                    successor.event.set()
                else:
                    self._leading = False

    def _run_batch(self, batch: list[_Pending[Any]]) -> None:
        try:
            size = self._transaction(batch, savepoints=False, gather=True)
        except _UnitFailed:
            remaining = [p for p in batch if p.error is None]
            if not remaining:
                return
            try:
                size = self._transaction(remaining, savepoints=True)
            except BaseException as exc:
                self._fail(remaining, exc)
                return
        except BaseException as exc:
            self._fail(batch, exc)
            return
        if size >= 0 and self._on_commit is not None:
            self._on_commit(size)

    @staticmethod
    def _fail(batch: list[_Pending[Any]], exc: BaseException) -> None:
        for pending in batch:
            pending.error = pending.error or exc
            pending.result = None

    def _transaction(self, batch: list[_Pending[Any]], savepoints: bool,
                     gather: bool = False) -> int:
        """Run units in one transaction and commit; returns the new size (-1 if unchanged).

        The head lock is taken first, with BEGIN. gather: then add to batch (in place) every
        unit queued while waiting for it. Another process's commit holds the lock for a while,
        and the units that arrive meanwhile would otherwise wait for a whole further round."""
        with self._pool.connection() as conn, locked_transaction(conn) as writer:
            if gather:
                with self._lock:
                    room = self._max_batch - len(batch)
                    batch += self._queue[:room]
                    del self._queue[:room]
            for pending in batch:
                if savepoints:
                    self._run_in_savepoint(writer, pending)
                    continue
                try:
                    pending.result = pending.unit(writer)
                except Exception as exc:
                    pending.error = exc
                    raise _UnitFailed from exc
            return writer._size if writer._dirty else -1

    @staticmethod
    def _run_in_savepoint(writer: LedgerWriter, pending: _Pending[Any]) -> None:
        writer.flush()  # earlier units' entries must not be inside this unit's savepoint
        snap = writer.snapshot()
        try:
            with writer.conn.transaction():
                pending.result = pending.unit(writer)
        except Exception as exc:
            writer.restore(snap)
            pending.error = exc
            pending.result = None
