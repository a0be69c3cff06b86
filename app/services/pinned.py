"""A registered version is exactly its pinned files: the set its downloads serve, each file
re-hashed against the digest the version pinned (never against the artifacts row, which is
only a cache), read from the version's own `model_version.created` entry.

A version's files are addressed relative to its artifact path (the version root), as MLflow's
models:/ downloads see them, or by their run path (as the pin records them) on /api/v1.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg

from app.artifacts.store import ArtifactStoreError, BlobStore, DigestMismatchError
from app.ledger.entry import decode
from app.ledger.errors import LedgerError
from app.services.artifacts import Tampered
from app.services.tracking import NotFound
from app.storage import artifacts as store
from app.storage import registry as registry_store

log = logging.getLogger(__name__)


# The entries that pin a version's files: at creation, or later for one created unpinned.
PINNING = ("model_version.created", "model_version.pinned")


class Unpinned(NotFound):
    """The version was registered from a source we do not hold: it pins no files here."""


class NotPinned(NotFound):
    """The path is not one of the version's pinned files."""


class External(NotFound):
    """The pinned file is an external artifact: its bytes are at uri, not here."""

    def __init__(self, message: str, uri: str, sha256: str) -> None:
        super().__init__(message)
        self.uri, self.sha256 = uri, sha256


@dataclass(frozen=True)
class PinnedFile:
    path: str  # the run path
    sha256: str
    size: int


@dataclass(frozen=True)
class Pin:
    """A version as its creation entry pinned it; files in path order."""

    model: str
    version: int
    run_id: str
    experiment_id: str
    artifact_path: str
    version_digest: str
    files: tuple[PinnedFile, ...]

    @property
    def label(self) -> str:
        return f"{self.model} version {self.version}"

    def run_path(self, relative: str) -> str:
        """The run path of a path relative to the version root ('' is the root itself)."""
        return f"{self.artifact_path}/{relative}" if relative else self.artifact_path

    def file(self, run_path: str) -> PinnedFile:
        for pinned in self.files:
            if pinned.path == run_path:
                return pinned
        raise NotPinned(f"{run_path!r} is not pinned by {self.label}: a version serves "
                        "exactly the files it pinned when it was registered")

    def children(self, relative: str) -> list[tuple[str, bool, int | None]]:
        """(name, is_dir, size) of the pinned files and folders right under a folder given
        relative to the version root; [] for a file or nothing."""
        prefix = f"{self.run_path(relative)}/"
        found: dict[str, tuple[bool, int | None]] = {}
        for pinned in self.files:
            if pinned.path.startswith(prefix):
                name, below, _ = pinned.path[len(prefix):].partition("/")
                found[name] = (True, None) if below else (False, pinned.size)
        return [(name, *found[name]) for name in sorted(found)]


def _files(entry: dict[str, Any]) -> tuple[PinnedFile, ...]:
    evidence = (entry.get("body") or {}).get("evidence") or {}
    return tuple(sorted((PinnedFile(str(a["path"]), str(a["sha256"]), int(a["size"]))
                         for a in evidence.get("artifacts") or ()), key=lambda f: f.path))


def _pin(row: store.PinnedVersion) -> Pin:
    """The pin the row's creation entry says; Tampered if that entry is not this version's."""
    try:
        entry = decode(bytes(row.canonical))
        subject = entry.get("subject") or {}
        if (entry.get("kind") not in PINNING or subject.get("model") !=
                row.model_name or subject.get("version") != str(row.version)):
            raise LedgerError("not its creation entry")
        files = _files(entry)
    except (LedgerError, KeyError, TypeError, ValueError, AttributeError) as exc:
        log.error("model %r version %s: entry %s does not pin it", row.model_name,
                  row.version, row.created_seq)
        raise Tampered(f"{row.model_name} version {row.version}: entry {row.created_seq}, "
                       "which its row names, does not pin it; run `mlaudit verify`") from exc
    return Pin(row.model_name, row.version, row.run_id, row.experiment_id, row.artifact_path,
               row.version_digest, files)


def pin_of(conn: psycopg.Connection, name: str, version: int) -> Pin:
    row = store.pinned_version(conn, name, version)
    if row is None:
        if registry_store.get_version(conn, name, version) is not None:
            raise Unpinned(f"{name} version {version} is unpinned: it was registered from a "
                           "source whose files mlaudit does not hold or digest")
        raise NotFound(f"model {name!r} has no version {version}")
    return _pin(row)


def pin_by_digest(conn: psycopg.Connection, digest: str,
                  reaches: Callable[[str], bool]) -> Pin | None:
    """The version with this digest, if its experiment is one the caller reaches (checked
    before its entry is read, so an unreachable version answers as a missing one)."""
    row = store.pinned_by_digest(conn, digest)
    return None if row is None or not reaches(row.experiment_id) else _pin(row)


def external_uri_of(conn: psycopg.Connection, pin: Pin, pinned: PinnedFile) -> str | None:
    """Where a pinned file's bytes are kept when they were registered as external."""
    return store.external_uri(conn, pin.run_id, pinned.path, pinned.sha256)


def check_served(blobs: BlobStore, pin: Pin, pinned: PinnedFile,
                 external_uri: Callable[[], str | None]) -> None:
    """Re-hash the stored bytes of a pinned file against the pinned digest before serving
    them (no database connection held meanwhile): Tampered (logged) if they are missing or
    differ; External for bytes kept elsewhere (external_uri looks that up)."""
    try:
        intact = blobs.verify(pinned.sha256)
    except ArtifactStoreError as exc:
        uri = external_uri()
        if uri is not None:
            raise External(f"{pinned.path!r} of {pin.label} is external; fetch it from {uri} "
                           f"and check sha256 {pinned.sha256}", uri, pinned.sha256) from exc
        log.error("%s: the stored bytes of %r are missing (%s)", pin.label, pinned.path, exc)
        raise Tampered(f"the stored bytes of {pinned.path!r} pinned by {pin.label} "
                       f"({pinned.sha256}) are missing") from exc
    if not intact:
        log.error("%s: the stored bytes of %r no longer match the pinned sha256 %s",
                  pin.label, pinned.path, pinned.sha256)
        raise Tampered(mismatch(pin, pinned))


def mismatch(pin: Pin, pinned: PinnedFile) -> str:
    return (f"the stored bytes of {pinned.path!r} no longer match the sha256 pinned by "
            f"{pin.label} ({pinned.sha256}); they are not served")


def stream_pinned(blobs: BlobStore, pin: Pin, pinned: PinnedFile) -> Iterator[bytes]:
    """The pinned bytes, re-hashed against the pinned digest on the way; a change mid-stream
    aborts the response (logged)."""
    try:
        yield from blobs.read_verified(pinned.sha256)
    except DigestMismatchError:
        log.error("%s: %r changed while being served", pin.label, pinned.path)
        raise
