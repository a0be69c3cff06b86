"""Holding the database against checkpoints kept outside it: restored backups and forks."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg

from app.db import DatabaseError
from app.ledger import merkle
from app.ledger.checkpoint import (
    CheckpointError,
    UnknownKeyError,
    VerifierKey,
    open_note,
    parse_checkpoint,
)
from app.ledger.errors import LedgerError
from app.ledger.verify import BAD_CHECKPOINT, BAD_SIGNATURE, TRUNCATED, Damage, VerifyResult
from app.storage import ledger as store

MAX_NOTE_FILE_BYTES = 64 * 1024  # a note with 100 signature lines is well under 16 KiB


class KeptCheckpointError(LedgerError):
    """A kept checkpoint file cannot be read as a checkpoint at all (not a verdict)."""


class StoredTreeChangedError(LedgerError):
    """The stored Merkle nodes no longer agree with the entries that were just re-hashed."""


@dataclass(frozen=True)
class KeptCheckpoint:
    """A signed checkpoint note kept outside the database; its size is not yet verified."""

    name: str  # where it came from (the file name), for messages
    note: bytes
    tree_size: int

    @property
    def label(self) -> str:
        return f"kept checkpoint {self.tree_size} ({self.name})"


@dataclass(frozen=True)
class KeptResult:
    """The verdict on one kept checkpoint; checked is False when the database was damaged."""

    kept: KeptCheckpoint
    damage: Damage | None = None
    checked: bool = True

    @property
    def ok(self) -> bool | None:
        return None if not self.checked else self.damage is None


def parse_kept(data: bytes, name: str) -> KeptCheckpoint:
    """A signed note as served (a .note file), or the API's checkpoint object holding it.

    CRLF line ends and extra newlines at the end (a copy through an editor or `jq -r`) are
    undone: a genuine note never contains CR, and the signature covers only the body.
    """
    try:
        if data.lstrip().startswith(b"{"):
            found = json.loads(data)
            if not isinstance(found, dict) or not isinstance(found.get("note"), str):
                raise ValueError("a JSON checkpoint must be an object with a \"note\" string")
            data = found["note"].encode("utf-8")
        note = data.replace(b"\r\n", b"\n").rstrip(b"\n") + b"\n"
        split = note.rfind(b"\n\n")
        if split < 0:
            raise ValueError("no blank line before the signatures")
        body = parse_checkpoint(note[: split + 1])
    except (ValueError, CheckpointError) as exc:  # JSONDecodeError and UnicodeError included
        raise KeptCheckpointError(f"{name} is not a checkpoint note: {exc}") from exc
    return KeptCheckpoint(name, note, body.tree_size)


def read_kept(path: Path) -> KeptCheckpoint:
    try:
        with path.open("rb") as file:
            data = file.read(MAX_NOTE_FILE_BYTES + 1)
    except OSError as exc:
        raise KeptCheckpointError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(data) > MAX_NOTE_FILE_BYTES:
        raise KeptCheckpointError(f"{path} is too large to be a checkpoint note")
    return parse_kept(data, str(path))


def check_kept(conn: psycopg.Connection, verified: VerifyResult,
               kept: Sequence[KeptCheckpoint], origin: str,
               pinned: bool = False) -> list[KeptResult]:
    """Check that the ledger just verified contains the tree each kept checkpoint signs.

    Signatures are checked with the keys the verification trusted (verified.checked_keys:
    the --key keys when pinned, else the database's). Kept checkpoints are not checked at all
    when the database itself is damaged: that damage is the verdict.
    """
    if verified.damage is not None:
        return [KeptResult(one, checked=False) for one in kept]
    keys = [VerifierKey.from_string(text) for text in verified.checked_keys]
    return [KeptResult(one, _judge(conn, verified, one, keys, origin, pinned)) for one in kept]


def _judge(conn: psycopg.Connection, verified: VerifyResult, kept: KeptCheckpoint,
           keys: Sequence[VerifierKey], origin: str, pinned: bool) -> Damage | None:
    size, have = kept.tree_size, verified.entries
    try:
        note, _ = open_note(kept.note, keys)
    except CheckpointError as exc:
        detail = f"{kept.label}: {exc}"
        if isinstance(exc, UnknownKeyError) and not pinned and size > have:
            detail += (f"; the database has {have:,} entries and the checkpoint covers "
                       f"{size:,}: if its key is genuine, the database was rolled back to before "
                       "that key was added (check with --key and the ledger's published keys)")
        return Damage(BAD_SIGNATURE, detail, checkpoint=size)
    if note.origin != origin:
        return Damage(BAD_CHECKPOINT, f"{kept.label}: its origin {note.origin!r} is not "
                      f"{origin!r} (MLAUDIT_LOG_ORIGIN, or --origin)", checkpoint=size)
    if size > have:
        return Damage(TRUNCATED, f"{kept.label}: the database has {have:,} entries; the "
                      f"checkpoint you kept covers {size:,}: the ledger was rolled back (an older "
                      "backup restored) or its latest entries were removed", have, size)
    found = root_at(conn, size, verified)
    if found != note.root_hash:
        return Damage(BAD_CHECKPOINT, f"{kept.label}: the database's root at {size:,} entries "
                      f"is {_b64(found)}, the checkpoint you kept signs {_b64(note.root_hash)}: "
                      f"history at or before entry {size - 1} was rewritten (the database "
                      "forked from what was published)", checkpoint=size)
    return None


def root_at(conn: psycopg.Connection, size: int, verified: VerifyResult) -> bytes:
    """The root of the first `size` verified entries, from O(log n) stored tree nodes.

    The nodes are read after the verifying snapshot ended, so they are bound to the root that
    was recomputed from every entry by an RFC 9162 consistency proof built from them.
    """
    whole = verified.entries
    if size == whole:
        return verified.root_hash
    if size == 0:
        return merkle.EMPTY_ROOT

    def getter(ids: Sequence[merkle.NodeId]) -> dict[merkle.NodeId, bytes]:
        return dict(store.get_nodes(conn, ids))

    try:
        with conn.transaction():
            found = merkle.root(size, getter)
            proof = merkle.consistency_proof(size, whole, getter)
    except LookupError as exc:
        raise StoredTreeChangedError(f"the stored Merkle tree changed during verification "
                                     f"({exc}); run verify again") from exc
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatabaseError(f"reading the stored Merkle tree failed: {first}") from exc
    try:
        merkle.verify_consistency(size, whole, found, verified.root_hash, proof)
    except merkle.ProofError as exc:
        raise StoredTreeChangedError("the stored Merkle tree no longer matches the entries "
                                     f"just verified ({exc}); run verify again") from exc
    return found


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
