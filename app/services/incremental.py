"""Sign only what was verified: the entries since the last verified checkpoint, and the rows
they made, are checked before a new checkpoint vouches for them.

The base is the largest checkpoint at or below the head that this host trusts: the trust
file's kept one, or a stored one whose note opens with the trusted keys (one this service
signed after the same check). From the base's tree (its compact range, read from the stored
nodes and held to its root) every later entry is re-hashed and chained, its nodes compared,
and the result held to the head row; then each entry is replayed (app/kinds/check.py) against
the rows stored under its seq, with reducers asking the database as it stood just before it.
The current tables are left to the full verification (`mlaudit verify`, the self-check).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import psycopg

from app.db import DatabaseError
from app.kinds import TABLES
from app.kinds.check import Mismatch, Replay
from app.kinds.core import EVENT, FACT, REVISION
from app.ledger import merkle
from app.ledger.checkpoint import CheckpointError, VerifierKey, open_note
from app.ledger.errors import LedgerError
from app.ledger.verify import Head, Verifier
from app.services.rollback import KeptCheckpoint
from app.services.trust import root_of
from app.storage import ledger as store
from app.storage import projections
from app.storage.projection import AsOfState


class Unverified(LedgerError):
    """What would be signed does not verify; no checkpoint is made."""


def _base(conn: psycopg.Connection, keys: Sequence[VerifierKey], size: int,
          kept: KeptCheckpoint | None) -> tuple[int, bytes]:
    """(tree size, root) of the largest trusted checkpoint at or below size (0: none)."""
    best = (0, merkle.EMPTY_ROOT)
    if kept is not None and kept.tree_size <= size:
        best = (kept.tree_size, root_of(kept))
    latest = store.latest_checkpoint_at_most(conn, size)
    if latest is not None and latest.tree_size > best[0]:
        try:
            note, _ = open_note(latest.note, keys)
            if (note.tree_size, note.root_hash) == (latest.tree_size, bytes(latest.root_hash)):
                best = (latest.tree_size, note.root_hash)
        except CheckpointError:
            pass  # not one of ours: start from the kept checkpoint instead
    return best


def verify_since(conn: psycopg.Connection, keys: Sequence[VerifierKey],
                 kept: KeptCheckpoint | None) -> tuple[int, bytes]:
    """Check everything appended since the base (see the module), in the caller's snapshot;
    returns the head's size and the root recomputed from the entries. Raises Unverified
    naming what disagrees."""
    head = store.read_head(conn)
    if head is None:
        raise Unverified("the ledger_head row is missing")
    size, root = _base(conn, keys, head.size, kept)
    if kept is not None and kept.tree_size > head.size:
        raise Unverified(f"the database has {head.size:,} entries, fewer than the "
                         f"{kept.tree_size:,} of the checkpoint this host kept: rolled back")
    if kept is not None and 0 < kept.tree_size < size:
        _extends(conn, kept, size, root)
    root = _check_chain(conn, size, root, head)
    _check_rows(conn, size)
    return head.size, root


def _extends(conn: psycopg.Connection, kept: KeptCheckpoint, size: int, root: bytes) -> None:
    """The base (a later stored checkpoint) must extend the checkpoint this host kept: a
    consistency proof from the stored tree, checked against both roots."""
    def getter(ids: Sequence[merkle.NodeId]) -> dict[merkle.NodeId, bytes]:
        return dict(store.get_nodes(conn, ids))

    try:
        proof = merkle.consistency_proof(kept.tree_size, size, getter)
        merkle.verify_consistency(kept.tree_size, size, root_of(kept), root, proof)
    except (merkle.ProofError, LookupError) as exc:
        raise Unverified(f"the checkpoint at {size:,} entries does not extend the one this "
                         f"host kept at {kept.tree_size:,}: the database forked ({exc})") from exc


def _check_chain(conn: psycopg.Connection, size: int, root: bytes,
                 head: store.HeadRow) -> bytes:
    ids = merkle.range_nodes(0, size)
    nodes = store.get_nodes(conn, ids) if ids else {}
    tree = merkle.CompactRange(size, [nodes[i] for i in ids])
    if tree.root() != root:
        raise Unverified(f"the stored tree at {size:,} entries is not the checkpoint's")
    previous = store.get_entry(conn, size - 1) if size else None
    verifier = Verifier([], [])
    verifier.resume(tree, bytes(previous.chain_hash) if previous else bytes(32))
    verifier.run(store.entry_hashes(conn, size))
    found = verifier.finish(Head(head.size, bytes(head.chain_hash), bytes(head.frontier)))
    if found.damage is not None:
        damage = found.damage
        raise Unverified(f"entry {damage.seq}: {damage.kind}: {damage.detail}")
    return found.root_hash


def _check_rows(conn: psycopg.Connection, size: int) -> None:
    replay = Replay({t.name: projections.table_rows(conn, t.name, size) for t in TABLES
                     if t.role in (FACT, REVISION, EVENT)}, AsOfState(conn))
    for row in projections.entry_rows(conn, size):
        if not replay.feed(row):
            break
    found: Mismatch | None = replay.finish()
    if found is not None:
        from app.services.verification import describe

        raise Unverified(describe(found))


BESIDE_AT = 500
"""A backlog of at least this many entries is checked in a helper process (Beside): checking a
large one in a thread would hold the interpreter lock the process's request threads need."""
BACKGROUND_NICE = 10  # the helper process's niceness: requests come first on busy cores


class Beside:
    """verify_since in a process of its own, in the caller's snapshot (exported to it). The
    process is started on first use and replaced after each check (the next one waits,
    imported, for the next checkpoint); close() ends it."""

    def __init__(self) -> None:
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def verify_since(self, conn: psycopg.Connection, keys: Sequence[VerifierKey],
                     kept: KeptCheckpoint | None) -> tuple[int, bytes]:
        snapshot = projections.export_snapshot(conn)
        conninfo = projections.conninfo_of(conn)
        executor = self.executor()
        try:
            return executor.submit(_verify_in_snapshot, conninfo, snapshot,
                                   [k.to_string() for k in keys], kept).result()
        except BrokenProcessPool as exc:
            self.close()  # a new process next time
            raise DatabaseError(f"the checkpoint's verification process ended early: {exc}"
                                ) from exc

    def executor(self) -> ProcessPoolExecutor:
        """The helper process (started on first use)."""
        with self._lock:
            if self._executor is None:
                # A new process per check: what a large backlog made it hold (a 1000-entry
                # backlog of 1000-metric entries: ~150 MB) goes back to the system after.
                self._executor = ProcessPoolExecutor(
                    1, mp_context=multiprocessing.get_context("spawn"), initializer=_background,
                    max_tasks_per_child=1)
            return self._executor

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


def _background() -> None:
    """The helper yields the cores to the request threads and PostgreSQL: the check is off
    the request path, and only the checkpoint waits for it."""
    os.nice(BACKGROUND_NICE)


def _verify_in_snapshot(conninfo: str, snapshot: str, keys: list[str],
                        kept: KeptCheckpoint | None) -> tuple[int, bytes]:
    """The helper process's side of Beside.verify_since."""
    try:
        with projections.in_snapshot(conninfo, snapshot) as conn:
            return verify_since(conn, [VerifierKey.from_string(k) for k in keys], kept)
    except psycopg.Error as exc:  # psycopg's errors do not cross processes intact
        raise DatabaseError(f"verification stopped: {str(exc).strip().splitlines()[0]}"
                            ) from None
