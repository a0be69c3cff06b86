"""All SQL for recorded artifacts (the artifacts projection: every revision of a run path, and
the latest of each)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from app.storage.tracking import RunRow


@dataclass
class ArtifactRow:
    """A recorded artifact with the service's envelope (None if the store lost it)."""

    run_id: str
    path: str
    sha256: str
    size: int
    uri: str | None
    envelope: dict[str, Any] | None
    client_signature: dict[str, Any] | None
    seq: int
    revision: int = 1  # the path's revisions so far: this is the latest


@dataclass
class ArtifactItem:
    """One line of a listing: the record without its envelopes (revisions: how many the path
    has; this is the latest)."""

    path: str
    sha256: str
    size: int
    uri: str | None
    seq: int
    revisions: int


@dataclass
class RevisionItem:
    """One revision of a path, oldest first."""

    revision: int
    sha256: str
    size: int
    uri: str | None
    envelope_sha256: str
    seq: int


_ARTIFACT = ("SELECT a.run_id, a.path, a.sha256, a.size, a.uri, e.envelope, a.client_signature,"
             " a.seq, a.revision FROM artifacts a LEFT JOIN artifact_envelopes e ON e.sha256 = "
             "a.envelope_sha256")


def get_artifact(conn: psycopg.Connection, run_id: str, path: str,
                 revision: int | None = None) -> ArtifactRow | None:
    """The latest revision of a run path, or the given one (its revision is then that)."""
    with conn.cursor(row_factory=class_row(ArtifactRow)) as cur:
        if revision is None:
            return cur.execute(f"{_ARTIFACT} WHERE a.run_id = %s AND a.path = %s",
                               (run_id, path)).fetchone()
        return cur.execute(
            f"{_ARTIFACT.replace('FROM artifacts a', 'FROM artifact_revisions a')} WHERE "
            "a.run_id = %s AND a.path = %s AND a.revision = %s",
            (run_id, path, revision)).fetchone()


def keep_envelope(conn: psycopg.Connection, sha256: str, envelope: dict[str, Any]) -> None:
    """Store an envelope under the SHA-256 of its RFC 8785 bytes (once per content)."""
    conn.execute("INSERT INTO artifact_envelopes (sha256, envelope) VALUES (%s, %s) "
                 "ON CONFLICT (sha256) DO NOTHING", (sha256, Jsonb(envelope)))


def all_envelopes(conn: psycopg.Connection) -> Iterator[tuple[str, Any]]:
    """(sha256, envelope) of every stored envelope, by digest (exports and rebuilds), read
    in pages by a cursor of the caller's transaction, which must stay open while they are
    read."""
    with conn.cursor(name="mlaudit_envelopes") as cur:
        cur.execute("SELECT sha256, envelope FROM artifact_envelopes ORDER BY sha256")
        while rows := cur.fetchmany(1000):
            yield from rows


def list_artifacts(conn: psycopg.Connection, run_id: str, prefix: str, after: str,
                   limit: int) -> list[ArtifactItem]:
    """Keyset page, in path order, of a run's artifacts whose path starts with prefix."""
    with conn.cursor(row_factory=class_row(ArtifactItem)) as cur:
        return cur.execute(
            "SELECT path, sha256, size, uri, seq, revision AS revisions FROM artifacts "
            "WHERE run_id = %s "
            "AND starts_with(path, %s) AND path > %s ORDER BY path LIMIT %s",
            (run_id, prefix, after, limit)).fetchall()


def revisions(conn: psycopg.Connection, run_id: str, path: str) -> list[RevisionItem]:
    """Every revision of a run path, oldest first ([] if the run records none there)."""
    with conn.cursor(row_factory=class_row(RevisionItem)) as cur:
        return cur.execute(
            "SELECT revision, sha256, size, uri, envelope_sha256, seq FROM artifact_revisions "
            "WHERE run_id = %s AND path = %s ORDER BY seq", (run_id, path)).fetchall()


def referenced_blobs(conn: psycopg.Connection, digests: list[str]) -> set[str]:
    """Which of these digests a stored (not external) artifact names, in any revision: the
    bytes of an earlier revision are kept."""
    rows = conn.execute("SELECT DISTINCT sha256 FROM artifact_revisions WHERE sha256 = ANY(%s) "
                        "AND uri IS NULL", (digests,)).fetchall()
    return {row[0] for row in rows}


_RUN_COLUMNS = [f.name for f in fields(RunRow)]
_ARTIFACT_COLUMNS = [f.name for f in fields(ArtifactRow)]
_TARGET = (
    f"SELECT {', '.join('r.' + c for c in _RUN_COLUMNS)}, e.lifecycle, "
    f"{', '.join(('v.' if c == 'envelope' else 'a.') + c for c in _ARTIFACT_COLUMNS)}, "
    "(SELECT verifier_key FROM signing_keys ORDER BY seq DESC LIMIT 1) FROM runs r "
    "LEFT JOIN experiments e ON e.id = r.experiment_id "
    "LEFT JOIN artifacts a ON a.run_id = r.id AND a.path = %s "
    "LEFT JOIN artifact_envelopes v ON v.sha256 = a.envelope_sha256 WHERE r.id = %s")


@dataclass
class Target:
    """What recording an artifact at a path checks: the run, its experiment's lifecycle (None
    if the experiment is missing), what is already recorded at the path, and the active
    signing key (the last of ledger.list_signing_keys; None if there is none)."""

    run: RunRow
    experiment_lifecycle: str | None
    existing: ArtifactRow | None
    active_key: str | None


def get_target(conn: psycopg.Connection, run_id: str, path: str) -> Target | None:
    """The run, its experiment's lifecycle, the artifact at path and the active signing key,
    in one query; None if the run does not exist."""
    row = conn.execute(_TARGET, (path, run_id)).fetchone()
    if row is None:
        return None
    n, m = len(_RUN_COLUMNS), len(_ARTIFACT_COLUMNS)
    existing = None if row[n + 1] is None else ArtifactRow(*row[n + 1:n + 1 + m])
    return Target(RunRow(*row[:n]), row[n], existing, row[n + 1 + m])


# Registered versions as their pins: what a version's downloads serve and what its run may no
# longer record. The pinned files are read from the version's model_version.created entry
# (its canonical bytes, which the chain hashes), never from the artifacts rows.

@dataclass
class PinnedVersion:
    """A version, its run and the canonical bytes of the entry that pinned it."""

    model_name: str
    version: int
    run_id: str
    experiment_id: str
    artifact_path: str
    version_digest: str
    created_seq: int
    canonical: bytes


_PINNED = ("SELECT v.model_name, v.version, v.run_id, r.experiment_id, v.artifact_path, "
           "v.version_digest, v.created_seq, e.canonical FROM model_versions v "
           "JOIN runs r ON r.id = v.run_id JOIN ledger_entries e ON e.seq = (SELECT min(p.seq) "
           "FROM model_version_revisions p WHERE p.model_name = v.model_name "
           "AND p.version = v.version AND p.run_id IS NOT NULL) ")  # created, or pinned later


def pinned_version(conn: psycopg.Connection, name: str, version: int) -> PinnedVersion | None:
    with conn.cursor(row_factory=class_row(PinnedVersion)) as cur:
        return cur.execute(f"{_PINNED} WHERE v.model_name = %s AND v.version = %s",
                           (name, version)).fetchone()


def pinned_by_digest(conn: psycopg.Connection, digest: str) -> PinnedVersion | None:
    """The version whose version_digest this is (it covers the model's name: one at most)."""
    with conn.cursor(row_factory=class_row(PinnedVersion)) as cur:
        return cur.execute(f"{_PINNED} WHERE v.version_digest = %s ORDER BY v.created_seq "
                           "LIMIT 1", (digest,)).fetchone()


@dataclass
class Seal:
    """The first registered version whose pinned path covers a run path; directory: its
    pin holds files below artifact_path (rather than being that one file)."""

    model_name: str
    version: int
    artifact_path: str
    directory: bool


def seal_of(conn: psycopg.Connection, run_id: str, path: str) -> Seal | None:
    """The earliest version of any model that pins path of run_id: its artifact path is path
    or a directory above it."""
    with conn.cursor(row_factory=class_row(Seal)) as cur:
        return cur.execute(
            "SELECT model_name, version, artifact_path, EXISTS (SELECT 1 FROM "
            "jsonb_array_elements(evidence -> 'artifacts') a WHERE a ->> 'path' <> "
            "artifact_path) AS directory FROM model_versions WHERE run_id = %s "
            "AND (artifact_path = %s OR starts_with(%s, artifact_path || '/')) "
            "ORDER BY created_seq LIMIT 1", (run_id, path, path)).fetchone()


def external_uri(conn: psycopg.Connection, run_id: str, path: str, sha256: str) -> str | None:
    """The URI of the external artifact recorded at path with this digest, if it is one."""
    row = conn.execute("SELECT uri FROM artifact_revisions WHERE run_id = %s AND path = %s "
                       "AND sha256 = %s AND uri IS NOT NULL", (run_id, path, sha256)).fetchone()
    return None if row is None else str(row[0])


# The ledger's artifact digests, for re-hashing the stored blobs (`mlaudit verify --artifacts`
# and the self-check's sample): read from the entries, not from the artifacts rows.

@dataclass
class RecordedDigest:
    """What an artifact.recorded entry says was stored."""

    seq: int
    run_id: str
    path: str
    sha256: str
    size: int


_RECORDED = ("SELECT seq, doc #>> '{subject,run}' AS run_id, doc #>> '{body,path}' AS path, "
             "doc #>> '{body,sha256}' AS sha256, (doc #>> '{body,size}')::bigint AS size "
             "FROM (SELECT seq, convert_from(canonical, 'UTF8')::jsonb AS doc "
             "FROM ledger_entries WHERE kind = 'artifact.recorded'")


def entry_digest(conn: psycopg.Connection, seq: int) -> RecordedDigest | None:
    """What the artifact entry at seq records (None if that entry is not an artifact's)."""
    with conn.cursor(row_factory=class_row(RecordedDigest)) as cur:
        return cur.execute(
            "SELECT seq, doc #>> '{subject,run}' AS run_id, doc #>> '{body,path}' AS path, "
            "doc #>> '{body,sha256}' AS sha256, (doc #>> '{body,size}')::bigint AS size "
            "FROM (SELECT seq, convert_from(canonical, 'UTF8')::jsonb AS doc "
            "FROM ledger_entries WHERE seq = %s AND kind IN ('artifact.recorded', "
            "'artifact.registered')) e", (seq,)).fetchone()


def count_recorded(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM ledger_entries "
                       "WHERE kind = 'artifact.recorded'").fetchone()
    return int(row[0]) if row else 0


def recorded_by_digest(conn: psycopg.Connection) -> Iterator[RecordedDigest]:
    """Every stored artifact's entry, by digest then seq (so each blob is read once), read in
    pages by a cursor of the caller's transaction, which must stay open while they are read."""
    with conn.cursor(name="mlaudit_recorded_digests",
                     row_factory=class_row(RecordedDigest)) as cur:
        cur.execute(f"{_RECORDED}) e ORDER BY sha256, seq")
        while rows := cur.fetchmany(1000):
            yield from rows


def sample_recorded(conn: psycopg.Connection, count: int) -> list[RecordedDigest]:
    """Up to count stored artifacts picked at random (by their rows' seq, indexed), as their
    entries say them."""
    with conn.cursor(row_factory=class_row(RecordedDigest)) as cur:
        return cur.execute(
            f"{_RECORDED} AND seq IN (SELECT seq FROM artifact_revisions WHERE uri IS NULL "
            "ORDER BY random() LIMIT %s)) e ORDER BY sha256, seq", (count,)).fetchall()
