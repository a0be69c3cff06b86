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

from app.db import DatabaseError
from app.kinds import BY_NAME
from app.kinds.check import SHARES, Mismatch, Replay, Share, first
from app.kinds.memory import KEEP, MemoryState
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
from app.storage import projection, projections

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
"""Ledgers of at least this many entries have their projections replayed in processes of their
own (one per share, app/kinds/check.py), so that the replay and the chain check, both Python,
use every core."""


class _ProjectionCheck:
    """Checks the projections beside the chain check, on connections that share conn's
    snapshot: in a thread for a small ledger, in spawned processes (one per share) for a large
    one (a thread would share the interpreter's lock with the chain check). If no second
    connection can be opened, result() checks them on conn itself, afterwards."""

    def __init__(self, conn: psycopg.Connection, size: int) -> None:
        self._conn = conn
        self._found: Mismatch | None = None
        self._error: BaseException | None = None
        self._ready = threading.Event()  # the sibling holds the snapshot (or gave up)
        self._sibling = False
        self._processes: list[tuple[Any, Any]] = []
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
        conninfo = projections.conninfo_of(self._conn)
        for share in SHARES:
            pipe, child = context.Pipe(duplex=False)
            process = context.Process(target=_check_in_process,
                                      args=(conninfo, snapshot, share, child),
                                      name="mlaudit-verify-projections", daemon=True)
            process.start()
            child.close()
            self._processes.append((process, pipe))
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
        if not self._processes:
            self._thread.join()
            return
        verdicts: list[tuple[Mismatch | None, Mismatch | None]] = []
        for process, pipe in self._processes:
            if cancel:
                process.terminate()
                continue
            try:
                status, found = pipe.recv()
                if status == "ok":
                    verdicts.append(found)
                elif self._error is None:
                    self._error = DatabaseError(f"the projection check stopped: {found}")
            except EOFError:
                self._error = self._error or DatabaseError(
                    "a projection check's process ended early")
        for process, pipe in self._processes:
            process.join()
            pipe.close()
        self._found = _verdict(verdicts)

    def result(self) -> Damage | None:
        found = check_projections(self._conn) if not self._sibling else self._found
        if self._sibling and self._error is not None:
            raise self._error
        return None if found is None else Damage(PROJECTION_MISMATCH, describe(found),
                                                 found.seq)


def _check_in_process(conninfo: str, snapshot: str, share: Share, out: Any) -> None:
    """A spawned process: check one share in the snapshot; send the verdict back."""
    try:
        with projections.in_snapshot(conninfo, snapshot) as conn:
            out.send(("ok", check_share(conn, share)))
    except BaseException as exc:  # noqa: BLE001 - reported by the parent
        first_line = (str(exc).strip().splitlines() or [""])[0]
        out.send(("error", f"{type(exc).__name__}: {first_line}"))
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
    """Replay every entry (app/kinds/check.py) against every table, in conn's snapshot: each
    share in turn (a large ledger's verify runs them side by side)."""
    return _verdict([check_share(conn, share) for share in SHARES])


Verdict = tuple[Mismatch | None, Mismatch | None]


def check_share(conn: psycopg.Connection, share: Share) -> Verdict:
    """(the first disagreement of the share's entries and insert-only tables, the first of
    its current tables and stored envelopes): the second is only looked for when the first
    is None, and only counts when no share has a first (_verdict)."""
    state = MemoryState(fold_events=False, limit=KEEP, earlier=projection.earlier(conn))
    replay = Replay({name: projections.table_rows(conn, name) for name in share.tables}, state)
    for row in projections.entry_rows(conn, kinds=share.kinds, rest=share.rest):
        if not replay.feed(row):
            break
    found = replay.finish()
    if found is not None:
        return found, None
    for name in share.current:  # their revisions and events are held to the entries now
        later = projections.current_mismatch(conn, name)
        if later is not None:
            return None, Mismatch(name, *later)
    return None, _envelope_problem(conn) if share.rest else None


def _verdict(verdicts: Sequence[Verdict]) -> Mismatch | None:
    """The first disagreement: of the entries and insert-only tables (any share's), else of
    the current tables (in registry order) and envelopes."""
    found = first(f for f, _ in verdicts)
    if found is not None:
        return found
    later = [m for _, m in verdicts if m is not None]
    return min(later, key=lambda m: (m.table == "artifact_envelopes", BY_NAME[m.table].rank),
               default=None)


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
