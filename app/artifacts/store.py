"""Content-addressed artifact blob store: the BlobStore seam and its local-disk implementation.

Blobs live at ``root/sha256/ab/cd/<64 hex>``. Uploads stream into ``root/tmp/`` (same
filesystem), are hashed and size-capped on the way, fsynced, then moved into place with
``os.replace`` and the directory fsynced, so a blob path only ever holds complete bytes. When
the digest turns out to be stored already, the temp file is dropped without an fsync.

Serving: ``open()`` streams without checking. ``read_verified()`` re-hashes while streaming
and raises DigestMismatchError only after the last chunk, when an HTTP server has already
sent the bytes; a caller serving HTTP must either buffer, or call ``verify()`` first
(check-before-serve) and then stream.

Deleting: ``delete_unreferenced()`` is for undoing a put after a failed transaction. Two
concurrent puts of the same bytes may both report ``created=True``, so the caller must make
sure no committed record references the digest before deleting it.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from app.ledger.errors import LedgerError

__all__ = [
    "ArtifactStoreError",
    "BlobStore",
    "DigestMismatchError",
    "LocalBlobStore",
    "StoredBlob",
    "TooLargeError",
]

FILE_MODE = 0o640
DIR_MODE = 0o750
CHUNK_SIZE = 256 * 1024  # read, hash and write in pieces that stay in the CPU's cache
_TMP_SUFFIX = ".part"
_SHA256_HEX = re.compile("[0-9a-f]{64}")


class ArtifactStoreError(LedgerError):
    """A blob is absent or unreadable, a digest is invalid, or storing failed."""


class DigestMismatchError(ArtifactStoreError):
    """Stored bytes no longer hash to the digest they are stored under."""


class TooLargeError(ArtifactStoreError):
    """An upload stream exceeded its max_size; nothing was stored."""


@dataclass(frozen=True)
class StoredBlob:
    """A stored blob: lowercase hex SHA-256, size in bytes, and whether this put created it."""

    sha256: str
    size: int
    created: bool


class BlobStore(Protocol):
    """Content-addressed blob storage; the seam for other backends (e.g. S3-compatible)."""

    def put_stream(self, chunks: Iterable[bytes], max_size: int) -> StoredBlob:
        """Store a stream, hashing and capping its size on the way; dedup by digest."""
        ...

    def open(self, sha256: str) -> BinaryIO:
        """Open a stored blob for streaming reads; ArtifactStoreError if absent."""
        ...

    def exists(self, sha256: str) -> bool:
        """Report whether a blob is stored under sha256."""
        ...

    def verify(self, sha256: str) -> bool:
        """Re-hash the stored bytes and report whether they still match sha256."""
        ...

    def read_verified(self, sha256: str) -> Iterator[bytes]:
        """Stream a blob, raising DigestMismatchError after the last chunk on a mismatch."""
        ...

    def delete_unreferenced(self, sha256: str) -> None:
        """Delete a blob no committed record references (cleanup after a failed put)."""
        ...

    def cleanup_tmp(self, older_than_seconds: float) -> int:
        """Remove partial uploads older than older_than_seconds; return how many."""
        ...

    def stale_blobs(self, older_than_seconds: float) -> Iterator[str]:
        """Digests of stored blobs last written more than older_than_seconds ago."""
        ...


def check_digest(sha256: str) -> str:
    """Return sha256 if it is 64 lowercase hex digits, else raise ArtifactStoreError."""
    if not isinstance(sha256, str) or not _SHA256_HEX.fullmatch(sha256):
        raise ArtifactStoreError("digest must be 64 lowercase hex digits")
    return sha256


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _makedirs(path: Path) -> None:
    """Create path and missing parents with DIR_MODE, fsyncing each new entry's parent."""
    if path.is_dir():
        return
    _makedirs(path.parent)
    try:
        path.mkdir(mode=DIR_MODE)
    except FileExistsError:
        return
    _fsync_dir(path.parent)


def _write_capped(fd: int, chunks: Iterable[bytes], max_size: int) -> tuple[str, int]:
    """Write chunks to fd, refusing to go past max_size; return hex digest and size (not
    fsynced: the caller fsyncs only bytes it keeps)."""
    hasher, size, write = hashlib.sha256(), 0, os.write
    for chunk in chunks:
        size += len(chunk)
        if size > max_size:
            raise TooLargeError(f"upload exceeds the {max_size}-byte limit")
        hasher.update(chunk)
        view = memoryview(chunk)
        while view:
            view = view[write(fd, view):]
    return hasher.hexdigest(), size


def _verified_chunks(source: BinaryIO, sha256: str) -> Iterator[bytes]:
    """Yield source's chunks, then raise DigestMismatchError if they did not hash to sha256."""
    hasher = hashlib.sha256()
    with source:
        while chunk := source.read(CHUNK_SIZE):
            hasher.update(chunk)
            yield chunk
    if hasher.hexdigest() != sha256:
        raise DigestMismatchError(f"stored bytes of {sha256} no longer match their digest")


class LocalBlobStore:
    """BlobStore on a local filesystem, under root (created if missing)."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root)
        self._blobs = self._root / "sha256"
        self._tmp = self._root / "tmp"
        _makedirs(self._blobs)
        _makedirs(self._tmp)

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self._root)!r})"

    def path(self, sha256: str) -> Path:
        """Return the file path of a blob (whether or not it exists)."""
        check_digest(sha256)
        return self._blobs / sha256[:2] / sha256[2:4] / sha256

    def put_stream(self, chunks: Iterable[bytes], max_size: int) -> StoredBlob:
        """Stream chunks to a temp file, then move it into place unless already stored."""
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 0:
            raise ArtifactStoreError("max_size must be a non-negative int")
        tmp = self._tmp / f"{secrets.token_hex(16)}{_TMP_SUFFIX}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
        try:
            try:
                sha256, size = _write_capped(fd, chunks, max_size)
                target = self.path(sha256)
                if target.exists():
                    os.close(fd)
                    fd = -1
                    tmp.unlink()
                    return StoredBlob(sha256, size, created=False)
                os.fsync(fd)
            finally:
                if fd >= 0:
                    os.close(fd)
            try:
                os.replace(tmp, target)
            except FileNotFoundError:  # the first blob of its shard directory
                _makedirs(target.parent)
                os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)
        return StoredBlob(sha256, size, created=True)

    def open(self, sha256: str) -> BinaryIO:
        """Open a blob for streaming reads; ArtifactStoreError if it is absent."""
        try:
            return self.path(sha256).open("rb")
        except FileNotFoundError as exc:
            raise ArtifactStoreError(f"blob {sha256} is not stored") from exc
        except OSError as exc:
            raise ArtifactStoreError(f"blob {sha256} is unreadable: {exc}") from exc

    def exists(self, sha256: str) -> bool:
        """Report whether a blob is stored under sha256."""
        return self.path(sha256).is_file()

    def verify(self, sha256: str) -> bool:
        """Re-hash the stored bytes; False if they no longer match, ArtifactStoreError if absent."""
        try:
            for _ in self.read_verified(sha256):
                pass
        except DigestMismatchError:
            return False
        return True

    def read_verified(self, sha256: str) -> Iterator[bytes]:
        """Stream a blob; raise DigestMismatchError after the last chunk if it was altered.

        The blob is opened now (ArtifactStoreError if absent), not on first iteration.
        """
        return _verified_chunks(self.open(sha256), sha256)

    def delete_unreferenced(self, sha256: str) -> None:
        """Delete a blob if present; the caller guarantees nothing references it."""
        target = self.path(sha256)
        try:
            target.unlink()
        except FileNotFoundError:
            return
        _fsync_dir(target.parent)

    def stale_blobs(self, older_than_seconds: float) -> Iterator[str]:
        """Digests of blobs last modified more than older_than_seconds ago (a sweep's
        candidates; whether a record references them is the caller's question)."""
        cutoff = time.time() - older_than_seconds
        for first in sorted(self._blobs.iterdir()):
            if not first.is_dir():
                continue
            for second in sorted(first.iterdir()):
                if not second.is_dir():
                    continue
                with os.scandir(second) as entries:
                    for entry in entries:
                        if (_SHA256_HEX.fullmatch(entry.name)
                                and entry.is_file(follow_symlinks=False)
                                and entry.stat(follow_symlinks=False).st_mtime < cutoff):
                            yield entry.name

    def cleanup_tmp(self, older_than_seconds: float) -> int:
        """Remove partial uploads last modified more than older_than_seconds ago; count them."""
        cutoff, removed = time.time() - older_than_seconds, 0
        with os.scandir(self._tmp) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    continue
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    Path(entry.path).unlink(missing_ok=True)
                    removed += 1
        return removed
