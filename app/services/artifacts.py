"""Artifact use cases: stored bytes or external URIs, each recorded with a signed digest statement.

A recorded artifact is one ledger entry plus one projection row in the same transaction:

- ``artifact.recorded`` (bytes uploaded and stored content-addressed), body
  ``{"path", "sha256", "size", "envelope_sha256"}``;
- ``artifact.registered`` (bytes kept elsewhere, named by URI), body adds ``"uri"`` and, when
  the client signed, ``"client_key"`` (verifier key string) and ``"client_sig"`` (base64).

Other bytes (or another URI) at a path the run already records are the path's next revision:
the body adds ``"revision"`` (decimal string, 2, 3, …) and ``"supersedes"`` (the previous
revision's sha256); earlier revisions and their bytes stay, and reads serve the latest. The
same bytes again record nothing. A path a registered version pins takes no new revision.

``size`` is a decimal string. ``envelope_sha256`` is the hex SHA-256 of the RFC 8785 bytes of
the service's DSSE envelope (in-toto Statement v1, Ed25519), which the projection row keeps
and the API serves, so a verifier can tie the envelope to the entry and check its signature
against ``GET /api/v1/ledger/keys``.

A client signature is a plain Ed25519 signature over the DSSE pre-authentication encoding
``PAE("application/vnd.in-toto+json", C)``, where C is the RFC 8785 bytes of
``dsse.statement(path, sha256, {"size": "<decimal>", "uri": uri})``; every input is in the
entry, so the signature can be re-checked from the ledger alone.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from app.artifacts.store import ArtifactStoreError, BlobStore, DigestMismatchError, StoredBlob
from app.kinds.tracking import client_envelope
from app.ledger import dsse
from app.ledger.checkpoint import Signer, VerifierKey
from app.ledger.entry import Draft, Receipt, canonicalize, format_timestamp
from app.services.ledger import GroupCommitter, LedgerWriter
from app.services.tracking import Conflict, NotFound, TrackingError
from app.storage import artifacts as store
from app.storage import tracking as runs

log = logging.getLogger(__name__)


# The service's signer, or a way to get the signer of an active key (verifier key string),
# used with the active key read inside the unit: a rotation is then seen under the head lock.
SignerSource = Signer | Callable[[str], Signer]


class BadSignature(TrackingError):
    """A client signature does not verify with the key it names."""


class Tampered(TrackingError):
    """Stored bytes are missing or no longer hash to their recorded digest."""


class Sealed(Conflict):
    """The path is pinned by a registered version: nothing more is recorded there."""


def check_unsealed(conn: psycopg.Connection, run_id: str, path: str) -> None:
    """Sealed when a registered version pins path: its artifact path is path or a folder
    above it (so no new file or revision joins a pinned folder). Called under the head lock,
    which registering a version takes too."""
    seal = store.seal_of(conn, run_id, path)
    if seal is not None:
        shown = f"{seal.artifact_path}/" if seal.directory else seal.artifact_path
        through = "" if shown == path else f" (it pins {shown!r})"
        raise Sealed(f"artifact {path!r} of run {run_id} is pinned by model version "
                     f"{seal.model_name}/{seal.version}{through}: a registered version is "
                     "exactly the files it pinned; record new files under another path, or "
                     "register a new version from a new run")


def refuse_sealed_early(conn: psycopg.Connection, run_id: str, path: str) -> None:
    """check_unsealed before an upload's body is read, unless path is recorded already (the
    unit then answers: the same bytes change nothing, other bytes are refused as sealed)."""
    if store.get_artifact(conn, run_id, path) is None:
        check_unsealed(conn, run_id, path)


@dataclass(frozen=True)
class Artifact:
    """What is recorded, as validated at the edge: uri is None for stored bytes; a client
    signature (client_key with client_sig) is only for external artifacts."""

    path: str
    sha256: str
    size: int
    uri: str | None = None
    client_key: VerifierKey | None = None
    client_sig: bytes | None = None


@dataclass(frozen=True)
class Recorded:
    """The artifact record; receipt is None when it was already recorded (no new entry)."""

    row: store.ArtifactRow
    receipt: Receipt | None


def envelope_digest(envelope: Mapping[str, Any]) -> str:
    """Hex SHA-256 of an envelope's RFC 8785 bytes, as named by the entry."""
    return hashlib.sha256(canonicalize(envelope)).hexdigest()


def client_statement(path: str, sha256: str, size: int, uri: str) -> bytes:
    """RFC 8785 bytes of the in-toto statement a client vouches for; the client signs
    dsse.pae(dsse.PAYLOAD_TYPE, these bytes)."""
    return canonicalize(dsse.statement(path, sha256, {"size": str(size), "uri": uri}))


def check_client_signature(artifact: Artifact) -> dict[str, Any] | None:
    """The client's signature as a DSSE envelope, or None if unsigned; BadSignature if wrong."""
    key, signature = artifact.client_key, artifact.client_sig
    if key is None or signature is None or artifact.uri is None:
        return None
    payload = client_statement(artifact.path, artifact.sha256, artifact.size, artifact.uri)
    if not dsse.verify_detached(dsse.pae(dsse.PAYLOAD_TYPE, payload), signature, key):
        raise BadSignature("the client signature does not verify for this path, sha256, size "
                           "and uri with the given key")
    return client_envelope(artifact.path, artifact.sha256, artifact.size, artifact.uri,
                           key.to_string(), base64.b64encode(signature).decode("ascii"))


def _target(conn: psycopg.Connection, run_id: str, path: str) -> store.Target:
    """The run (which must exist, in an active experiment), what is recorded at path and the
    active signing key; one query."""
    target = store.get_target(conn, run_id, path)
    if target is None:
        raise NotFound(f"run {run_id!r} does not exist")
    if target.run.lifecycle != "active":
        raise Conflict(f"The run {run_id} must be in the 'active' state; it is "
                       f"{target.run.lifecycle}")
    if target.experiment_lifecycle not in (None, "active"):
        raise Conflict(f"experiment {target.run.experiment_id!r} is archived; artifacts cannot "
                       "be added")
    return target


def _signer(source: SignerSource, target: store.Target) -> Signer:
    if isinstance(source, Signer):
        return source
    if target.active_key is None:
        raise Conflict("the service has no signing key yet")
    return source(target.active_key)


def _entry_body(artifact: Artifact, envelope: Mapping[str, Any], client: dict[str, Any] | None,
                previous: store.ArtifactRow | None) -> dict[str, Any]:
    body: dict[str, Any] = {"path": artifact.path, "sha256": artifact.sha256,
                            "size": str(artifact.size),
                            "envelope_sha256": envelope_digest(envelope)}
    if previous is not None:  # the path's next revision (app.kinds.tracking checks it)
        body["revision"], body["supersedes"] = str(previous.revision + 1), previous.sha256
    if artifact.uri is not None:
        body["uri"] = artifact.uri
    if client is not None and artifact.client_key is not None and artifact.client_sig:
        body["client_key"] = artifact.client_key.to_string()
        body["client_sig"] = base64.b64encode(artifact.client_sig).decode("ascii")
    return body


def _record(writer: LedgerWriter, signer: Signer, actor: str, target: store.Target,
            artifact: Artifact, client: dict[str, Any] | None) -> Recorded:
    """Sign the digest statement, keep the envelope and append the entry (its reducer stores
    the revision, the database the latest row); target.existing is the revision it follows."""
    run = target.run
    predicate = dsse.artifact_predicate(run_id=run.id, size=artifact.size, actor=actor,
                                        recorded_at=format_timestamp(datetime.now(UTC)),
                                        uri=artifact.uri)
    envelope = dsse.sign_envelope(dsse.statement(artifact.path, artifact.sha256, predicate),
                                  signer)
    kind = "artifact.recorded" if artifact.uri is None else "artifact.registered"
    body = _entry_body(artifact, envelope, client, target.existing)
    store.keep_envelope(writer.conn, body["envelope_sha256"], envelope)
    [receipt] = writer.append([Draft(kind, actor, {"run": run.id, "experiment": run.experiment_id},
                                     body)])
    # The row the entry's reducer stored (app.kinds.tracking), with the envelope it names.
    revision = 1 if target.existing is None else target.existing.revision + 1
    return Recorded(store.ArtifactRow(run.id, artifact.path, artifact.sha256, artifact.size,
                                      artifact.uri, envelope, client, receipt.seq, revision),
                    receipt)


def _unchanged(existing: store.ArtifactRow | None, artifact: Artifact) -> Recorded | None:
    """The latest revision when it is already this artifact (a retry records nothing); None
    when the path is new or this is its next revision."""
    if existing is not None and (existing.sha256, existing.size, existing.uri) == (
            artifact.sha256, artifact.size, artifact.uri):
        return Recorded(existing, None)
    return None


def record_upload(writer: LedgerWriter, blobs: BlobStore, signer: SignerSource, actor: str,
                  run_id: str, path: str, blob: StoredBlob) -> Recorded:
    """The unit behind an upload whose bytes are already stored under blob.sha256."""
    writer.lock()  # serialises the path check and the blob check with cleanups
    target = _target(writer.conn, run_id, path)
    artifact = Artifact(path, blob.sha256, blob.size)
    found = _unchanged(target.existing, artifact)
    if found is not None:
        return found
    check_unsealed(writer.conn, run_id, path)
    if not blobs.exists(blob.sha256):  # a concurrent failed upload of the same bytes undid it
        raise Conflict(f"the bytes of {path!r} were removed meanwhile; upload them again")
    return _record(writer, _signer(signer, target), actor, target, artifact, None)


def register_external(writer: LedgerWriter, signer: SignerSource, actor: str, run_id: str,
                      artifact: Artifact, client: dict[str, Any] | None) -> Recorded:
    """The unit behind an external artifact (its client signature already checked)."""
    writer.lock()
    target = _target(writer.conn, run_id, artifact.path)
    found = _unchanged(target.existing, artifact)
    if found is not None:
        return found
    check_unsealed(writer.conn, run_id, artifact.path)
    return _record(writer, _signer(signer, target), actor, target, artifact, client)


def forget_blobs(writer: LedgerWriter, blobs: BlobStore, digests: list[str]) -> int:
    """Delete the blobs among digests that no artifact references; under the head lock, so no
    record races it. Returns how many were deleted."""
    writer.lock()
    referenced = store.referenced_blobs(writer.conn, digests)
    for sha256 in digests:
        if sha256 not in referenced:
            blobs.delete_unreferenced(sha256)
    return len(digests) - len(referenced)


@dataclass(frozen=True)
class Swept:
    """What a sweep removed: partial uploads, and stored blobs no record references."""

    partial_uploads: int
    unreferenced_blobs: int


SWEEP_BATCH = 500


def sweep(committer: GroupCommitter, blobs: BlobStore, older_than: float) -> Swept:
    """Remove what a crash can leave in the store: partial uploads (the process died while
    streaming) and complete blobs no committed record references (it died between storing
    the bytes and committing their entry). Only files older than older_than seconds are
    touched, so uploads in flight in other processes are left alone; each batch of
    candidates goes through forget_blobs in a unit of its own."""
    parts = blobs.cleanup_tmp(older_than)
    removed = 0
    batch: list[str] = []

    def flush(digests: list[str]) -> int:
        return committer.run(lambda writer: forget_blobs(writer, blobs, digests))

    for sha256 in blobs.stale_blobs(older_than):
        batch.append(sha256)
        if len(batch) >= SWEEP_BATCH:
            removed += flush(batch)
            batch = []
    if batch:
        removed += flush(batch)
    return Swept(parts, removed)


def upload(committer: GroupCommitter, blobs: BlobStore, signer: SignerSource, actor: str,
           run_id: str, path: str, chunks: Iterable[bytes], max_size: int) -> Recorded:
    """Store the bytes first (no lock held while streaming), then record them in one unit.

    If recording fails, bytes this request newly stored are deleted unless referenced.
    """
    blob = blobs.put_stream(chunks, max_size)
    try:
        return committer.run(lambda w: record_upload(w, blobs, signer, actor, run_id, path, blob))
    except BaseException:
        if blob.created:
            try:
                committer.run(lambda w: forget_blobs(w, blobs, [blob.sha256]))
            except Exception:
                log.exception("could not remove unrecorded blob %s", blob.sha256)
        raise


def recorded(conn: psycopg.Connection, run_id: str, path: str,
             revision: int | None = None) -> store.ArtifactRow | None:
    """The artifact at path (its latest revision, or the one asked for), held to the entry
    its row names: a row whose digest, size, run or path differ from what that entry records
    (a swapped row) is Tampered (logged), so a download never re-hashes against a digest the
    ledger does not say."""
    row = store.get_artifact(conn, run_id, path, revision)
    if row is None:
        return None
    said = store.entry_digest(conn, row.seq)
    if said is None or (said.run_id, said.path, said.sha256, said.size) != (
            row.run_id, row.path, row.sha256, row.size):
        log.error("artifact %r of run %s: its row differs from entry %s", path, run_id, row.seq)
        raise Tampered(f"the record of {path!r} differs from its ledger entry (seq {row.seq}); "
                       "it is not served; run `mlaudit verify`")
    return row


def revisions(conn: psycopg.Connection, run_id: str, path: str) -> list[store.RevisionItem]:
    """Every revision of a run path, oldest first; NotFound if the run records none there."""
    found = store.revisions(conn, run_id, path)
    if not found:
        if runs.get_run(conn, run_id) is None:
            raise NotFound(f"run {run_id!r} does not exist")
        raise NotFound(f"run {run_id!r} has no artifact {path!r}")
    return found


def check_stored(blobs: BlobStore, row: store.ArtifactRow) -> None:
    """Re-hash the stored bytes of a record before serving them; Tampered (logged) if not."""
    try:
        intact = blobs.verify(row.sha256)
    except ArtifactStoreError as exc:
        log.error("artifact %r of run %s: stored bytes unreadable: %s", row.path, row.run_id, exc)
        raise Tampered(f"the stored bytes of {row.path!r} are missing") from exc
    if not intact:
        log.error("artifact %r of run %s: stored bytes no longer match sha256 %s",
                  row.path, row.run_id, row.sha256)
        raise Tampered(f"the stored bytes of {row.path!r} no longer match sha256 {row.sha256}")


def stream_stored(blobs: BlobStore, row: store.ArtifactRow) -> Iterator[bytes]:
    """Stream checked bytes, re-hashing on the way; a change mid-stream aborts it (logged)."""
    try:
        yield from blobs.read_verified(row.sha256)
    except DigestMismatchError:
        log.error("artifact %r of run %s changed while being served", row.path, row.run_id)
        raise
