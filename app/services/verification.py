"""Verifying the ledger as stored in the database, in one consistent snapshot."""

from __future__ import annotations

import hashlib
import multiprocessing
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import IsolationLevel
from psycopg.conninfo import make_conninfo

from app.db import DatabaseError
from app.kinds import BY_NAME, TABLES
from app.kinds.check import Mismatch, Replay
from app.kinds.core import EVENT, FACT, MATERIALIZED, REVISION
from app.ledger.checkpoint import CheckpointError, VerifierKey
from app.ledger.jcs import canonicalize
from app.ledger.verify import (
    PROJECTION_MISMATCH,
    Damage,
    Head,
    StoredCheckpoint,
    VerifyResult,
    verify_entries,
)
from app.services.rollback import KeptCheckpoint, KeptResult, check_kept
from app.services.trust import Trust
from app.storage import ledger as store
from app.storage import projections

Progress = Callable[[Iterator[Any], int], Iterator[Any]]


@dataclass(frozen=True)
class Held:
    """A verification of the database held to kept checkpoints (the trust file's, --against)."""

    result: VerifyResult
    verdicts: list[KeptResult]

    @property
    def damage(self) -> Damage | None:
        failed = next((v for v in self.verdicts if v.damage is not None), None)
        return self.result.damage or (failed.damage if failed else None)

    @property
    def failed(self) -> KeptResult | None:
        return next((v for v in self.verdicts if v.damage is not None), None)


def verify_held(conn: psycopg.Connection, origin: str, trust: Trust | None = None,
                keys: Sequence[VerifierKey] | None = None,
                kept: Sequence[KeptCheckpoint] = (), progress: Progress | None = None) -> Held:
    """verify_database, with the trust file's keys pinned (unless keys are given) and the
    database held to its kept checkpoint and to any other kept ones."""
    trusted = list(keys) if keys is not None else (trust.verifier_keys() if trust else None)
    held = ([trust.checkpoint] if trust is not None and trust.checkpoint is not None else [])
    held += list(kept)
    result = verify_database(conn, progress, trusted)
    verdicts = check_kept(conn, result, held, trust.origin if trust else origin,
                          pinned=trusted is not None) if held else []
    return Held(result, verdicts)


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
        side = _ProjectionCheck(conn, head.size if head else 0)
        rows: Iterator[Any] = store.stream_entries(conn)
        if progress is not None:
            rows = progress(rows, head.size if head else 0)
        result = None
        try:
            result = verify_entries(rows, checkpoints, keys, head)
        finally:
            side.join(cancel=result is None or not result.ok)
        if result.ok:  # damaged entries are reported first; their rows may not even parse
            result.damage = side.result()
        return result


PROCESS_AT = 50_000
"""Ledgers of at least this many entries have their projections replayed in a process of its
own, so that the replay (Python) and the chain check (Python) run on two cores at once."""


class _ProjectionCheck:
    """Checks the projections beside the chain check, on a connection that shares conn's
    snapshot: in a thread for a small ledger, in a spawned process for a large one (a thread
    would share the interpreter's lock with the chain check). If no second connection can be
    opened, result() checks them on conn itself, afterwards."""

    def __init__(self, conn: psycopg.Connection, size: int) -> None:
        self._conn = conn
        self._found: Mismatch | None = None
        self._error: BaseException | None = None
        self._ready = threading.Event()  # the sibling holds the snapshot (or gave up)
        self._sibling = False
        self._process: Any = None
        snapshot = projections.export_snapshot(conn)
        if size >= PROCESS_AT:
            self._spawn(snapshot)
            return
        self._thread = threading.Thread(target=self._run, args=(snapshot,),
                                        name="verify-projections", daemon=True)
        self._thread.start()
        self._ready.wait()  # the exporting transaction must outlive the import

    def _spawn(self, snapshot: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe(duplex=False)
        conninfo = make_conninfo(self._conn.info.dsn, password=self._conn.info.password or None)
        self._process = context.Process(target=_check_in_process, args=(conninfo, snapshot,
                                                                        child),
                                        name="mlaudit-verify-projections", daemon=True)
        self._process.start()
        child.close()
        self._sibling = True

    def _run(self, snapshot: str) -> None:
        try:
            with projections.sibling_in_snapshot(self._conn, snapshot) as other:
                self._sibling = True
                self._ready.set()
                self._found = check_projections(other)
        except BaseException as exc:  # noqa: BLE001 - handed to result()
            self._error = exc
        finally:
            self._ready.set()

    def join(self, cancel: bool = False) -> None:
        """Wait for the check; cancel: the chain is damaged, its verdict is not needed."""
        if self._process is None:
            self._thread.join()
            return
        if cancel:
            self._process.terminate()
        else:
            try:
                status, found = self._pipe.recv()
                if status == "ok":
                    self._found = found
                else:
                    self._error = DatabaseError(f"the projection check stopped: {found}")
            except EOFError:
                self._error = DatabaseError("the projection check's process ended early")
        self._process.join()
        self._pipe.close()

    def result(self) -> Damage | None:
        found = check_projections(self._conn) if not self._sibling else self._found
        if self._sibling and self._error is not None:
            raise self._error
        return None if found is None else Damage(PROJECTION_MISMATCH, describe(found),
                                                 found.seq)


def _check_in_process(conninfo: str, snapshot: str, out: Any) -> None:
    """The spawned process: replay every entry in the snapshot; send the verdict back."""
    try:
        with projections.in_snapshot(conninfo, snapshot) as conn:
            out.send(("ok", check_projections(conn)))
    except BaseException as exc:  # noqa: BLE001 - reported by the parent
        first = (str(exc).strip().splitlines() or [""])[0]
        out.send(("error", f"{type(exc).__name__}: {first}"))
    finally:
        out.close()


def describe(found: Mismatch) -> str:
    """The detail of a projection_mismatch: the entry, the table, the row and the column."""
    if found.problem == "invalid":
        return f"entry {found.seq} does not fit its kind, so no row can come from it: " \
               f"{found.detail}"
    if found.table == "ledger_entries":
        return (f"the ledger_entries row at seq {found.seq} says a {found.column} its "
                "canonical bytes do not (a query copy was changed)")
    row = "" if not found.row else " " + ", ".join(repr(v) for v in found.row)
    if found.problem == "missing":
        return f"entry {found.seq} makes the {found.table} row{row}, which the table does not hold"
    if found.problem == "unbacked":
        return (f"the {found.table} row{row} names entry {found.seq}, which does not make it"
                f"{'' if not found.detail else ': ' + found.detail}")
    return (f"the {found.table} row{row} differs from what entry {found.seq} makes: "
            f"{found.column}")


def check_projections(conn: psycopg.Connection) -> Mismatch | None:
    """Replay every entry (app/kinds/check.py) against every table, in conn's snapshot."""
    replay = Replay({t.name: projections.table_rows(conn, t.name) for t in TABLES
                     if t.role in (FACT, REVISION, EVENT)})
    for row in projections.entry_rows(conn):
        if not replay.feed(row):
            break
    found = replay.finish()
    for table in TABLES:
        if found is not None:
            return found
        if table.role != MATERIALIZED:
            continue
        if BY_NAME[table.source or ""].role == REVISION:
            found = replay.check_current(table.name, projections.current_rows(conn, table.name))
        else:
            kv = projections.kv_mismatch(conn, table.name)
            found = None if kv is None else Mismatch(table.name, *kv)
    return found or _envelope_problem(conn)


def _envelope_problem(conn: psycopg.Connection) -> Mismatch | None:
    """An artifact whose envelope is gone, or a stored envelope that is not what its digest
    names (the entries name envelopes by digest; the store keeps their bytes)."""
    missing = projections.artifact_without_envelope(conn)
    if missing is not None:
        seq, run_id, path = missing
        return Mismatch("artifact_envelopes", seq, "missing", row=(run_id, path))
    for digest, envelope in projections.envelopes(conn):
        if hashlib.sha256(canonicalize(envelope)).hexdigest() != digest:
            return Mismatch("artifact_envelopes", -1, "unbacked", row=(digest,),
                            detail="its bytes do not hash to the digest it is stored under")
    return None
