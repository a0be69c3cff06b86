"""Verifying the ledger as stored in the database, in one consistent snapshot."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg import IsolationLevel

from app.db import DatabaseError
from app.ledger.checkpoint import CheckpointError, VerifierKey
from app.ledger.verify import (
    PROJECTION_MISMATCH,
    Damage,
    Head,
    StoredCheckpoint,
    VerifyResult,
    verify_entries,
)
from app.storage import ledger as store
from app.storage import projections

Progress = Callable[[Iterator[Any], int], Iterator[Any]]


def _keys(conn: psycopg.Connection) -> list[VerifierKey]:
    found = []
    for row in store.list_signing_keys(conn):
        try:
            found.append(VerifierKey.from_string(row.verifier_key))
        except CheckpointError:
            continue  # a damaged key row verifies nothing; checkpoints it signed then fail
    return found


def verify_database(conn: psycopg.Connection, progress: Progress | None = None,
                    trusted_keys: Sequence[VerifierKey] | None = None) -> VerifyResult:
    """Stream every entry (bounded memory) and check chain, tree, checkpoints and head;
    then, if the ledger is intact, check the projections against it (the same snapshot).

    With trusted_keys, checkpoint signatures are checked against those keys only, not
    against the keys the database itself publishes.
    """
    isolation, read_only = conn.isolation_level, conn.read_only
    try:
        return _verify(conn, progress, trusted_keys)
    except psycopg.Error as exc:
        raise DatabaseError(f"verification stopped: {str(exc).strip().splitlines()[0]}") from exc
    finally:  # hand the connection back as it came (it may belong to a pool)
        if conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            conn.isolation_level, conn.read_only = isolation, read_only


def _verify(conn: psycopg.Connection, progress: Progress | None,
            trusted_keys: Sequence[VerifierKey] | None) -> VerifyResult:
    conn.isolation_level = IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    with conn.transaction():
        head_row = store.read_head(conn)
        head = None if head_row is None else Head(
            head_row.size, bytes(head_row.chain_hash), bytes(head_row.frontier))
        checkpoints = [StoredCheckpoint(c.tree_size, bytes(c.root_hash), c.note)
                       for c in store.list_checkpoints(conn)]
        keys = list(trusted_keys) if trusted_keys is not None else _keys(conn)
        # The projection check is PostgreSQL's work and the chain check is Python's: run
        # them at once, the first on a second connection that shares this snapshot.
        side = _ProjectionCheck(conn)
        rows: Iterator[Any] = store.stream_entries(conn)
        if progress is not None:
            rows = progress(rows, head.size if head else 0)
        try:
            result = verify_entries(rows, checkpoints, keys, head)
        finally:
            side.join()
        if result.ok:  # damaged entries are reported first; their rows may not even parse
            result.damage = side.result()
        return result


class _ProjectionCheck:
    """Checks the projections in a thread, on a sibling connection in conn's snapshot; if
    that connection cannot be opened, result() checks them on conn itself, afterwards."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn
        self._found: Damage | None = None
        self._error: BaseException | None = None
        self._ready = threading.Event()  # the sibling holds the snapshot (or gave up)
        self._sibling = False
        self._thread = threading.Thread(target=self._run, args=(
            projections.export_snapshot(conn),), name="verify-projections", daemon=True)
        self._thread.start()
        self._ready.wait()  # the exporting transaction must outlive the import

    def _run(self, snapshot: str) -> None:
        try:
            with projections.sibling_in_snapshot(self._conn, snapshot) as other:
                self._sibling = True
                self._ready.set()
                self._found = _projection_damage(other)
        except BaseException as exc:  # noqa: BLE001 - handed to result()
            self._error = exc
        finally:
            self._ready.set()

    def join(self) -> None:
        self._thread.join()

    def result(self) -> Damage | None:
        if not self._sibling:  # no second connection: check here, in the same snapshot
            return _projection_damage(self._conn)
        if self._error is not None:
            raise self._error
        return self._found


# Per table: what an entry made (a row of it), the kinds that make its rows, and the verb.
_MADE = {
    "metrics": ("logged a metric at position {position}", "metrics.logged", "logged"),
    "params": ("logged param {key!r}", "params.logged", "logged"),
    "logged_model_params": ("logged param {key!r} of a logged model",
                            "logged_model.created or logged_model.params_logged", "logged"),
    "tag_events": ("changed tag {key!r}", "tags.set or tag.deleted", "recorded"),
    "run_tags": ("left tag {key!r} current", "tags.set", "left current"),
    "logged_model_tags": ("left logged-model tag {key!r} current",
                          "logged_model.created or logged_model.tags_set", "left current"),
    "decisions": ("recorded a decision",
                  "decision.approved, decision.rejected or decision.refused", "recorded"),
    "deployments": ("recorded a deployment", "deployment.recorded or deployment.rolled_back",
                    "recorded"),
}
_PROBLEMS = {
    "missing": "entry {seq} {made} that the {table} table does not hold",
    "unbacked": "the {table} table holds a row ({at}) that no {kinds} entry {verb}",
    "differs": "the {table} row ({at}) differs from what entry {seq} {verb}: {field}",
}


def _detail(found: projections.Mismatch) -> str:
    """The detail of a projection_mismatch: the table, the seq, the row and the column."""
    made, kinds, verb = _MADE[found.table]
    at = f"seq {found.seq}"
    if found.position is not None:
        at += f", position {found.position}"
    elif found.key is not None:
        at += f", key {found.key!r}"
    return _PROBLEMS[found.problem].format(
        seq=found.seq, table=found.table, at=at, kinds=kinds, verb=verb, field=found.field,
        made=made.format(position=found.position, key=found.key))


def _projection_damage(conn: psycopg.Connection) -> Damage | None:
    """The first projection row that disagrees with the (already verified) entries."""
    found = projections.first_mismatch(conn)
    if found is None:
        return None
    return Damage(PROJECTION_MISMATCH, _detail(found), found.seq)
