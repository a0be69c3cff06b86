"""Streaming ledger verification: re-hash every entry, rebuild the tree, check every checkpoint."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from app.ledger.checkpoint import CheckpointError, VerifierKey, open_note
from app.ledger.entry import GENESIS_CHAIN_HASH, decode
from app.ledger.errors import EntryError
from app.ledger.merkle import CompactRange

# Kinds of damage, the words `mlaudit verify` reports (a public contract: CI parses --json).
MODIFIED = "modified"
MISSING = "missing"
INSERTED = "inserted"
REORDERED = "reordered"
TRUNCATED = "truncated"
BAD_SIGNATURE = "bad_signature"
BAD_CHECKPOINT = "bad_checkpoint"
HEAD_MISMATCH = "head_mismatch"
PROJECTION_MISMATCH = "projection_mismatch"


@dataclass(frozen=True)
class Damage:
    """The first thing found wrong: where (an entry's seq, or a checkpoint's size) and what."""

    kind: str
    detail: str
    seq: int | None = None
    checkpoint: int | None = None


@dataclass(frozen=True)
class StoredCheckpoint:
    tree_size: int
    root_hash: bytes
    note: str


@dataclass(frozen=True)
class Head:
    size: int
    chain_hash: bytes
    frontier: bytes | None = None


@dataclass
class VerifyResult:
    entries: int = 0
    checkpoints: int = 0
    root_hash: bytes = b""
    chain_hash: bytes = GENESIS_CHAIN_HASH
    damage: Damage | None = None
    checked_keys: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.damage is None


def inner_seq(canonical: bytes) -> int:
    """The seq written inside an entry's canonical bytes.

    Top-level keys are sorted and only "subject" and "v" follow "seq", so the last
    ',"seq":' is the top-level one; anything unexpected falls back to a full parse.
    """
    start = canonical.rfind(b',"seq":')
    if start >= 0:
        end = canonical.find(b",", start + 7)
        digits = canonical[start + 7 : end]
        if digits.isdigit():
            return int(digits)
    value = decode(canonical).get("seq")
    if type(value) is not int:
        raise EntryError("entry has no integer seq")
    return value


class Verifier:
    """Feed entries in seq order; it stops at the first damage and reports it."""

    def __init__(self, checkpoints: Sequence[StoredCheckpoint], keys: Iterable[VerifierKey]):
        self._keys = list(keys)
        self._checkpoints = {c.tree_size: c for c in checkpoints}
        self._max_checkpoint = max(self._checkpoints, default=-1)
        self._range = CompactRange()
        self._chain = GENESIS_CHAIN_HASH
        self._previous_chain = GENESIS_CHAIN_HASH
        self.result = VerifyResult(checked_keys=[k.to_string() for k in self._keys])
        if 0 in self._checkpoints:
            self._check_checkpoint(0)

    def resume(self, tree: CompactRange, chain: bytes) -> None:
        """Start after tree.size entries already verified, whose last chain hash is chain
        (an incremental check: the entries from there on are fed)."""
        self._range, self._chain, self._previous_chain = tree, chain, chain
        self.result.entries = tree.size

    @property
    def failed(self) -> bool:
        return self.result.damage is not None

    def _fail(self, kind: str, detail: str, seq: int | None = None,
              checkpoint: int | None = None) -> bool:
        self.result.damage = Damage(kind, detail, seq, checkpoint)
        return False

    def feed(self, seq: int, canonical: bytes, leaf: bytes, chain: bytes, nodes: bytes) -> bool:
        """Check one stored entry; False once damage is found."""
        if self.failed:
            return False
        expected = self._range.size
        if seq != expected:
            return self._fail(MISSING, f"entries {expected}..{seq - 1} are missing", expected)
        computed = hashlib.sha256(b"\x00" + canonical).digest()
        if computed != leaf:
            return self._fail(MODIFIED, "canonical bytes do not match the leaf hash", seq)
        if not self._position_ok(seq, canonical, leaf, chain):
            return False
        next_chain = hashlib.sha256(self._chain + leaf).digest()
        if chain != next_chain:
            return self._fail(MODIFIED, "chain hash does not follow from the previous entry", seq)
        if b"".join(self._range.append(leaf)) != nodes:
            return self._fail(MODIFIED, "stored Merkle nodes do not match the entries", seq)
        self._previous_chain, self._chain = self._chain, next_chain
        self.result.entries = seq + 1
        if seq + 1 in self._checkpoints:
            return self._check_checkpoint(seq + 1)
        return True

    def _position_ok(self, seq: int, canonical: bytes, leaf: bytes, chain: bytes) -> bool:
        try:
            claimed = inner_seq(canonical)
        except EntryError as exc:
            return self._fail(MODIFIED, f"entry bytes are not a valid entry: {exc}", seq)
        if claimed == seq:
            return True
        if claimed == seq - 1 and hashlib.sha256(self._previous_chain + leaf).digest() == chain:
            # This row is the genuine entry seq-1, chained onto seq-2: the row before it is foreign.
            return self._fail(INSERTED, f"entry {seq - 1} was inserted; the genuine entry "
                              f"{seq - 1} now sits at {seq}", seq - 1)
        return self._fail(REORDERED, f"the row at {seq} holds entry {claimed}", seq)

    def _check_checkpoint(self, size: int) -> bool:
        stored = self._checkpoints[size]
        try:
            note, _ = open_note(stored.note, self._keys)
        except CheckpointError as exc:
            return self._fail(BAD_SIGNATURE, f"checkpoint {size}: {exc}", checkpoint=size)
        if note.tree_size != size or note.root_hash != stored.root_hash:
            return self._fail(BAD_CHECKPOINT, f"checkpoint {size}: the signed note disagrees "
                              "with the stored size or root", checkpoint=size)
        if self._range.root() != stored.root_hash:
            return self._fail(BAD_CHECKPOINT, f"checkpoint {size}: the entries give a different "
                              "root: history below it was rewritten", checkpoint=size)
        self.result.checkpoints += 1
        return True

    def finish(self, head: Head | None) -> VerifyResult:
        """Checks that need the whole stream: truncation and the head row."""
        result = self.result
        count = self._range.size
        result.root_hash, result.chain_hash = self._range.root(), self._chain
        if self.failed:
            return result
        if self._max_checkpoint > count:
            self._fail(TRUNCATED, f"the ledger ends at {count} entries but checkpoint "
                       f"{self._max_checkpoint} was signed over more", count,
                       self._max_checkpoint)
        elif head is not None and head.size > count:
            self._fail(TRUNCATED, f"the head records {head.size} entries, only {count} remain",
                       count)
        elif head is not None and head.size < count:
            self._fail(INSERTED, f"entries beyond the head ({head.size}) were added", head.size)
        elif head is not None and head.chain_hash != self._chain:
            self._fail(HEAD_MISMATCH, "the head's chain hash differs from the last entry's",
                       max(count - 1, 0))
        elif head is not None and head.frontier is not None and (
                head.frontier != self._range.to_bytes()):
            self._fail(HEAD_MISMATCH, "the head's Merkle frontier differs from the entries'",
                       max(count - 1, 0))
        return result


    def run(self, rows: Iterable[tuple[int, bytes, bytes, bytes, bytes]]) -> None:
        """feed() every row, with the checks that pass inlined: the hot loop of verify."""
        sha256, append_leaf, checkpoints = hashlib.sha256, self._range.append, self._checkpoints
        expected, chain, previous = self._range.size, self._chain, self._previous_chain
        for seq, canonical, leaf, stored_chain, nodes in rows:
            start = canonical.rfind(b',"seq":')
            if (seq != expected or sha256(b"\x00" + canonical).digest() != leaf
                    or canonical[start + 7 : canonical.find(b",", start + 7)] != b"%d" % seq
                    or sha256(chain + leaf).digest() != stored_chain):
                # The slow path: names the damage, or accepts an entry the fast checks
                # could not (e.g. its seq is not where the shortcut looks for it).
                self._chain, self._previous_chain = chain, previous
                self.result.entries = expected
                if not self.feed(seq, canonical, leaf, stored_chain, nodes):
                    return
                expected, chain, previous = self._range.size, self._chain, self._previous_chain
                continue
            completed = append_leaf(leaf)
            if (b"".join(completed) if completed else b"") != nodes:
                self.result.entries = expected
                self._fail(MODIFIED, "stored Merkle nodes do not match the entries", seq)
                return
            previous, chain = chain, stored_chain
            expected += 1
            if expected in checkpoints:
                self._chain, self._previous_chain = chain, previous
                self.result.entries = expected
                if not self._check_checkpoint(expected):
                    return
        self._chain, self._previous_chain = chain, previous
        self.result.entries = expected


def verify_entries(
    rows: Iterable[tuple[int, bytes, bytes, bytes, bytes]],
    checkpoints: Sequence[StoredCheckpoint],
    keys: Iterable[VerifierKey],
    head: Head | None = None,
) -> VerifyResult:
    """Verify a stream of (seq, canonical, leaf_hash, chain_hash, nodes) rows."""
    verifier = Verifier(checkpoints, keys)
    if not verifier.failed:
        verifier.run(rows)
    return verifier.finish(head)
