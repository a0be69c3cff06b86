"""Signed checkpoints: on demand, every N entries and every T seconds while writes happen."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import IsolationLevel
from psycopg_pool import ConnectionPool

from app.ledger import merkle
from app.ledger.checkpoint import Checkpoint, Signer, sign_checkpoint
from app.ledger.errors import LedgerError
from app.services import incremental, keys, trust
from app.storage import ledger as store

log = logging.getLogger(__name__)


class TreeMismatchError(LedgerError):
    """The head row and the stored tree disagree, so nothing is signed."""


def make_checkpoint(conn: psycopg.Connection, signer: Signer, origin: str) -> store.CheckpointRow:
    """Sign the committed head (or return the checkpoint already stored for its size).

    The root is computed twice, from the head's compact range and from the stored tree
    nodes; a disagreement means the database was altered, and nothing is signed. The
    service signs through Checkpointer.sign_now, which verifies first (sign_verified)."""
    head = store.read_head(conn)
    if head is None:
        raise TreeMismatchError("ledger_head row is missing")
    root = merkle.CompactRange.from_bytes(head.size, bytes(head.frontier)).root()
    if head.size and merkle.root(head.size, lambda ids: store.get_nodes(conn, ids)) != root:
        raise TreeMismatchError(f"head frontier disagrees with the stored tree at size {head.size}")
    return sign_verified(conn, signer, origin, head.size, root)


def sign_verified(conn: psycopg.Connection, signer: Signer, origin: str, size: int,
                  root: bytes) -> store.CheckpointRow:
    """Sign (size, root), which the caller verified, or return the checkpoint stored for it."""
    existing = store.get_checkpoint(conn, size)
    if existing is not None:
        return existing
    note = sign_checkpoint(Checkpoint(origin, size, root), [signer])
    row = store.CheckpointRow(size, root, signer.verifier_key.key_id, note, datetime.now(UTC))
    if not store.insert_checkpoint(conn, row):  # another process signed this size first
        found = store.get_checkpoint(conn, size)
        assert found is not None
        return found
    return row


class Checkpointer:
    """A daemon thread that signs checkpoints as the ledger grows."""

    def __init__(self, pool: ConnectionPool, origin: str, key_dir: Path,
                 every: int, interval: float, trust_path: Path | None = None) -> None:
        self._pool, self._origin, self._key_dir = pool, origin, key_dir
        self._trust_path = trust_path
        self.refused: str | None = None  # why the last signing was refused (None: it was not)
        self._every, self._interval = every, interval
        self._signed_size = -1
        self._seen_size = -1
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._beside = incremental.Beside()

    def start(self) -> None:
        with self._pool.connection() as conn:
            latest = store.latest_checkpoint(conn)
        self._signed_size = latest.tree_size if latest else 0
        self._thread = threading.Thread(target=self._loop, name="mlaudit-checkpointer",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread. Before it ends it signs the entries committed through this
        process since the last checkpoint, so a shutdown leaves none of them unsigned."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._beside.close()

    def notify(self, size: int) -> None:
        """Called after each commit with the new tree size."""
        self._seen_size = max(self._seen_size, size)
        if size - max(self._signed_size, 0) >= self._every:
            self._wake.set()

    def sign_now(self) -> store.CheckpointRow:
        """Verify what was appended since the last trusted checkpoint (app/services/
        incremental.py), sign the verified tree, and keep the checkpoint in the trust file.
        Raises incremental.Unverified (and remembers why in `refused`) instead of signing."""
        held = trust.load(self._trust_path) if self._trust_path else None
        with self._pool.connection() as conn:
            isolation = conn.isolation_level
            conn.isolation_level = IsolationLevel.REPEATABLE_READ
            try:
                with conn.transaction():  # one snapshot: the head and what it covers
                    trusted = held.verifier_keys() if held else keys.verifier_keys(conn)
                    head = store.read_head(conn)
                    backlog = (head.size if head else 0) - max(self._signed_size, 0)
                    check = (self._beside.verify_since if backlog >= incremental.BESIDE_AT
                             else incremental.verify_since)
                    try:
                        size, root = check(conn, trusted, held.checkpoint if held else None)
                    except incremental.Unverified as exc:
                        self.refused = str(exc)
                        log.error("no checkpoint signed: %s", exc)
                        raise
            finally:
                conn.isolation_level = isolation
            with conn.transaction():
                # The active key is read each time, so a rotation elsewhere takes effect.
                signer = keys.load_signer(conn, self._origin, self._key_dir)
                row = sign_verified(conn, signer, self._origin, size, root)
        self.refused = None
        if self._trust_path is not None:
            trust.update(self._trust_path, self._origin, [signer.verifier_key.to_string()],
                         row.note)
        self._signed_size = max(self._signed_size, row.tree_size)
        return row

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._stop.is_set() or self._seen_size <= self._signed_size:
                continue
            self._sign()
        if self._seen_size > self._signed_size:  # stopping: a last checkpoint
            self._sign()

    def _sign(self) -> None:
        try:
            self.sign_now()
        except Exception:  # keep the thread alive; the next wake retries
            log.exception("checkpoint signing failed")
