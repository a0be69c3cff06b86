"""The stored bytes held to the ledger: every blob (`mlaudit verify --artifacts`) or a random
few (each self-check round) re-hashed, streaming, against the SHA-256 and size that their
`artifact.recorded` entries record. Entries are read by digest, so each blob is read once
however many entries name it; memory stays bounded by one chunk and one page of entries.
The entries are first spooled to a temporary file, so no database transaction stays open
while the blobs are read (hours, for a large store).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import psycopg

from app.artifacts.store import CHUNK_SIZE, ArtifactStoreError, BlobStore
from app.storage import artifacts as store

# wraps the entries as they are checked (a progress bar): (entries, total) -> entries
Wrap = Callable[[Iterator[store.RecordedDigest], int], Iterator[store.RecordedDigest]]


@dataclass(frozen=True)
class Found:
    """What the stored bytes of a digest hash to: None when they are missing or unreadable."""

    sha256: str | None
    size: int
    error: str = ""


@dataclass(frozen=True)
class BlobDamage:
    """The first damaged artifact (lowest seq) and what its bytes were found to be."""

    artifact: store.RecordedDigest
    found: Found

    @property
    def detail(self) -> str:
        a, found = self.artifact, self.found
        what = (f"found {found.sha256} ({found.size} bytes)" if found.sha256 is not None
                else f"found no readable bytes ({found.error})")
        return (f"artifact {a.path!r} of run {a.run_id} (entry seq {a.seq}): expected sha256 "
                f"{a.sha256} ({a.size} bytes), {what}")


@dataclass(frozen=True)
class BlobCheck:
    """entries: artifact entries checked; blobs: distinct digests re-hashed; damaged: how
    many entries name bytes that are missing or differ; damage: the first of them."""

    entries: int
    blobs: int
    bytes: int
    damaged: int
    damage: BlobDamage | None

    @property
    def ok(self) -> bool:
        return self.damage is None


def rehash(blobs: BlobStore, sha256: str) -> Found:
    """Stream a stored blob through SHA-256 (one chunk in memory at a time)."""
    hasher, size = hashlib.sha256(), 0
    try:
        with blobs.open(sha256) as source:
            while chunk := source.read(CHUNK_SIZE):
                hasher.update(chunk)
                size += len(chunk)
    except (ArtifactStoreError, OSError) as exc:
        return Found(None, size, str(exc))
    return Found(hasher.hexdigest(), size)


def _check(blobs: BlobStore, entries: Iterable[store.RecordedDigest]) -> BlobCheck:
    """Entries must come by digest: consecutive entries of one digest share one re-hash."""
    count = hashed = total_bytes = damaged = 0
    first: BlobDamage | None = None
    last: tuple[str, Found] | None = None
    for entry in entries:
        count += 1
        if last is None or last[0] != entry.sha256:
            last = (entry.sha256, rehash(blobs, entry.sha256))
            hashed += 1
            total_bytes += last[1].size
        found = last[1]
        if found.sha256 != entry.sha256 or found.size != entry.size:
            damaged += 1
            if first is None or entry.seq < first.artifact.seq:
                first = BlobDamage(entry, found)
    return BlobCheck(count, hashed, total_bytes, damaged, first)


def check_all(conn: psycopg.Connection, blobs: BlobStore, wrap: Wrap | None = None) -> BlobCheck:
    """Every stored artifact the ledger records (external ones have no bytes here). On an
    autocommit connection the entries are read in a transaction of their own, which ends
    before the first blob is read."""
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
        with conn.transaction():  # the entries' cursor lives in it
            total = store.count_recorded(conn)
            for entry in store.recorded_by_digest(conn):
                spool.write(json.dumps([entry.seq, entry.run_id, entry.path, entry.sha256,
                                        entry.size]) + "\n")
        spool.seek(0)
        entries = (store.RecordedDigest(*json.loads(line)) for line in spool)
        return _check(blobs, wrap(entries, total) if wrap is not None else entries)


def pick(conn: psycopg.Connection, count: int) -> list[store.RecordedDigest]:
    """count stored artifacts picked at random, as their entries say them (none for 0)."""
    return store.sample_recorded(conn, count) if count > 0 else []


def check(blobs: BlobStore, entries: list[store.RecordedDigest]) -> BlobCheck:
    """Re-hash the blobs of picked entries (no database needed)."""
    return _check(blobs, sorted(entries, key=lambda e: (e.sha256, e.seq)))
