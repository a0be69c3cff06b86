"""Tests for app.artifacts.store: the content-addressed local blob store."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import os
import random
import stat
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from app.artifacts.store import (
    ArtifactStoreError,
    BlobStore,
    DigestMismatchError,
    LocalBlobStore,
    StoredBlob,
    TooLargeError,
)
from app.ledger.errors import LedgerError

MiB = 1024 * 1024
NO_LIMIT = 1 << 40


def data_of(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def blob_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "sha256").rglob("*") if p.is_file())


def tmp_files(root: Path) -> list[Path]:
    return sorted((root / "tmp").iterdir())


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "blobs"


@pytest.fixture
def store(root: Path) -> LocalBlobStore:
    return LocalBlobStore(root)


def read_all(store: BlobStore, sha256: str) -> bytes:
    with store.open(sha256) as source:
        return source.read()


# --- Round trips -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "chunk"),
    [(0, 1), (1, 1), (1000, 7), (3 * MiB + 5, 64 * 1024), (5 * MiB, MiB)],
)
def test_put_and_read_back(store: LocalBlobStore, root: Path, size: int, chunk: int) -> None:
    data = data_of(size)
    blob = store.put_stream(chunked(data, chunk), NO_LIMIT)
    digest = hashlib.sha256(data).hexdigest()
    assert blob == StoredBlob(sha256=digest, size=size, created=True)
    assert store.exists(digest)
    assert read_all(store, digest) == data
    assert b"".join(store.read_verified(digest)) == data
    assert store.verify(digest)
    assert blob_files(root) == [root / "sha256" / digest[:2] / digest[2:4] / digest]
    assert tmp_files(root) == []


def test_empty_stream_is_the_empty_blob(store: LocalBlobStore) -> None:
    blob = store.put_stream([], 0)
    assert blob.sha256 == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert blob.size == 0
    assert read_all(store, blob.sha256) == b""


def test_irregular_and_empty_chunks(store: LocalBlobStore) -> None:
    data = data_of(100_000, seed=1)
    rng, pieces, pos = random.Random(2), [], 0
    while pos < len(data):
        step = rng.choice([0, 1, 17, 4096, 30_000])
        pieces.append(data[pos : pos + step])
        pos += step
    blob = store.put_stream(iter(pieces), len(data))
    assert (blob.sha256, blob.size) == (hashlib.sha256(data).hexdigest(), len(data))


def test_upload_is_streamed_through_tmp(store: LocalBlobStore, root: Path) -> None:
    seen: list[list[Path]] = []

    def chunks() -> Iterator[bytes]:
        yield b"first"
        seen.append(tmp_files(root))
        yield b"second"

    store.put_stream(chunks(), NO_LIMIT)
    assert len(seen[0]) == 1 and seen[0][0].name.endswith(".part")
    assert tmp_files(root) == []


def test_open_streams(store: LocalBlobStore) -> None:
    data = data_of(2 * MiB, seed=3)
    blob = store.put_stream([data], NO_LIMIT)
    with store.open(blob.sha256) as source:
        assert source.read(10) == data[:10]
        assert source.read() == data[10:]


# --- Dedup -------------------------------------------------------------------------------


def test_dedup(store: LocalBlobStore, root: Path) -> None:
    data = data_of(300_000, seed=4)
    first = store.put_stream(chunked(data, 1000), NO_LIMIT)
    second = store.put_stream(chunked(data, 77_777), NO_LIMIT)
    assert first.created and not second.created
    assert dataclasses.replace(second, created=True) == first
    assert len(blob_files(root)) == 1
    assert tmp_files(root) == []
    other = store.put_stream([data + b"!"], NO_LIMIT)
    assert other.created and len(blob_files(root)) == 2


def test_the_store_keeps_no_state_per_blob(store: LocalBlobStore, root: Path) -> None:
    """A service process stores blobs for months: nothing may grow with them in memory. (It
    once remembered every shard directory it had made, up to 65,536 paths, about 0.5 MiB a
    minute of a soak's worker memory.)"""
    state = {name: repr(value) for name, value in vars(store).items()}
    for seed in range(40):
        assert store.put_stream([data_of(100, seed=1000 + seed)], NO_LIMIT).created
    assert len(blob_files(root)) == 40
    assert {name: repr(value) for name, value in vars(store).items()} == state


def test_concurrent_puts_of_same_bytes(store: LocalBlobStore, root: Path) -> None:
    data = data_of(MiB, seed=5)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: store.put_stream(chunked(data, 4096), MiB), range(16)))
    assert {r.sha256 for r in results} == {hashlib.sha256(data).hexdigest()}
    assert any(r.created for r in results)
    assert len(blob_files(root)) == 1 and tmp_files(root) == []
    assert store.verify(results[0].sha256)


# --- Size limit and failed uploads -------------------------------------------------------


def test_exactly_max_size_is_accepted(store: LocalBlobStore) -> None:
    assert store.put_stream(chunked(b"x" * 100, 30), 100).size == 100


def test_max_size_enforced(store: LocalBlobStore, root: Path) -> None:
    with pytest.raises(TooLargeError):
        store.put_stream(chunked(b"x" * 101, 30), 100)
    assert tmp_files(root) == [] and blob_files(root) == []


def test_max_size_stops_an_endless_stream(store: LocalBlobStore, root: Path) -> None:
    consumed = itertools.count()

    def endless() -> Iterator[bytes]:
        while True:
            next(consumed)
            yield b"\0" * 4096

    with pytest.raises(TooLargeError):
        store.put_stream(endless(), MiB)
    assert next(consumed) == MiB // 4096 + 1
    assert tmp_files(root) == [] and blob_files(root) == []


@pytest.mark.parametrize("max_size", [-1, True, 1.5])
def test_bad_max_size_rejected(store: LocalBlobStore, max_size: object) -> None:
    with pytest.raises(ArtifactStoreError):
        store.put_stream([b""], max_size)  # type: ignore[arg-type]


def test_failing_stream_leaves_nothing(store: LocalBlobStore, root: Path) -> None:
    def broken() -> Iterable[bytes]:
        yield b"partial data"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        store.put_stream(broken(), NO_LIMIT)
    assert tmp_files(root) == [] and blob_files(root) == []


# --- Tampering ---------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["flip", "truncate", "append"])
def test_tampering_detected(store: LocalBlobStore, how: str) -> None:
    data = data_of(3 * MiB, seed=6)
    blob = store.put_stream([data], NO_LIMIT)
    path = store.path(blob.sha256)
    altered = {
        "flip": data[:-1] + bytes([data[-1] ^ 1]),
        "truncate": data[:-1],
        "append": data + b"\0",
    }[how]
    path.write_bytes(altered)
    assert store.exists(blob.sha256)
    assert not store.verify(blob.sha256)
    received = []
    with pytest.raises(DigestMismatchError):
        for chunk in store.read_verified(blob.sha256):
            received.append(chunk)
    assert b"".join(received) == altered  # the mismatch is only known after the last chunk


def test_dedup_keeps_existing_file(store: LocalBlobStore) -> None:
    blob = store.put_stream([b"abc"], NO_LIMIT)
    assert not store.put_stream([b"abc"], NO_LIMIT).created
    assert store.verify(blob.sha256)


# --- Absent blobs and bad digests --------------------------------------------------------


def test_absent_blob(store: LocalBlobStore) -> None:
    digest = hashlib.sha256(b"never stored").hexdigest()
    assert not store.exists(digest)
    with pytest.raises(ArtifactStoreError):
        store.open(digest)
    with pytest.raises(ArtifactStoreError):
        store.verify(digest)
    with pytest.raises(ArtifactStoreError):
        store.read_verified(digest)  # raises on the call, before any iteration
    store.delete_unreferenced(digest)  # no error


GOOD = hashlib.sha256(b"x").hexdigest()
BAD_DIGESTS = [
    "",
    GOOD.upper(),
    GOOD[:-1],
    GOOD + "0",
    GOOD + "\n",
    "g" * 64,
    "../../../../etc/passwd",
    "../" + GOOD[3:],
    "/" + GOOD[1:],
    GOOD[:2] + "/" + GOOD[3:],
    None,
    b"\0" * 32,
]


@pytest.mark.parametrize("digest", BAD_DIGESTS)
@pytest.mark.parametrize(
    "operation", ["open", "exists", "verify", "read_verified", "delete_unreferenced", "path"]
)
def test_bad_digest_rejected(store: LocalBlobStore, operation: str, digest: object) -> None:
    with pytest.raises(ArtifactStoreError, match="64 lowercase hex"):
        getattr(store, operation)(digest)


# --- Deletion and orphan cleanup ---------------------------------------------------------


def test_delete_unreferenced(store: LocalBlobStore, root: Path) -> None:
    blob = store.put_stream([b"to be rolled back"], NO_LIMIT)
    store.delete_unreferenced(blob.sha256)
    assert not store.exists(blob.sha256)
    assert blob_files(root) == []
    store.delete_unreferenced(blob.sha256)
    assert store.put_stream([b"to be rolled back"], NO_LIMIT).created


def test_cleanup_tmp(store: LocalBlobStore, root: Path) -> None:
    old = time.time() - 7200
    orphans = [root / "tmp" / f"orphan{i}.part" for i in range(3)]
    for path in orphans:
        path.write_bytes(b"partial")
        os.utime(path, (old, old))
    fresh = root / "tmp" / "fresh.part"
    fresh.write_bytes(b"in progress")
    (root / "tmp" / "subdir").mkdir()
    blob = store.put_stream([b"kept"], NO_LIMIT)
    assert store.cleanup_tmp(3600) == 3
    assert sorted(p.name for p in tmp_files(root)) == ["fresh.part", "subdir"]
    assert store.cleanup_tmp(3600) == 0
    assert store.exists(blob.sha256)
    assert store.cleanup_tmp(-1) == 1 and not fresh.exists()


# --- Permissions, types ------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_modes_at_most_640_and_750(store: LocalBlobStore, root: Path) -> None:
    digest = store.put_stream([b"secret weights"], NO_LIMIT).sha256
    blob = store.path(digest)
    assert mode(blob) & ~0o640 == 0
    for directory in [root, root / "tmp", root / "sha256", blob.parent, blob.parent.parent]:
        assert mode(directory) & ~0o750 == 0, directory


def test_modes_exact_without_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        store = LocalBlobStore(tmp_path / "blobs")
        blob = store.path(store.put_stream([b"weights"], NO_LIMIT).sha256)
    finally:
        os.umask(previous)
    assert mode(blob) == 0o640
    assert mode(blob.parent) == mode(blob.parent.parent) == 0o750
    assert mode(tmp_path / "blobs" / "tmp") == 0o750


def test_reopening_existing_root(store: LocalBlobStore, root: Path) -> None:
    digest = store.put_stream([b"persisted"], NO_LIMIT).sha256
    assert read_all(LocalBlobStore(root), digest) == b"persisted"


def test_types() -> None:
    for error in (ArtifactStoreError, DigestMismatchError, TooLargeError):
        assert issubclass(error, LedgerError)
    assert issubclass(DigestMismatchError, ArtifactStoreError)
    assert issubclass(TooLargeError, ArtifactStoreError)
    blob = StoredBlob(GOOD, 1, True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        blob.size = 2  # type: ignore[misc]
