"""Output schemas of /api/v1 artifacts: records, revisions, pages and pinned files."""

from __future__ import annotations

from typing import Any

from marshmallow import fields

from app.api.http.docs import (
    BINARY,
    Out,
    ProblemSchema,
    b64,
    integer,
    many,
    ok,
    text,
)
from app.api.http.receipts import ReceiptSchema


class ExternalArtifactProblemSchema(ProblemSchema):
    uri = fields.String(metadata={"description": "where an external artifact's bytes are"})
    sha256 = fields.String(metadata={"description": "the external artifact's SHA-256"})


class DsseSignatureSchema(Out):
    keyid = text()
    sig = b64("the Ed25519 signature")


class DsseEnvelopeSchema(Out):
    payload = b64("RFC 8785 bytes of the in-toto Statement v1")
    payloadType = text()  # the DSSE member name
    signatures = many(DsseSignatureSchema)


class ArtifactRecordSchema(Out):
    run_id = text()
    path = text()
    sha256 = text()
    size = integer()
    uri = text("set for external artifacts", allow_none=True)
    seq = integer()
    revision = integer("the path's revision this record is (1 for the first upload)")
    envelope = fields.Nested(DsseEnvelopeSchema, required=True)
    client_signature = fields.Nested(DsseEnvelopeSchema, required=True, allow_none=True)


class ArtifactWrittenSchema(ArtifactRecordSchema):
    receipt = fields.Nested(ReceiptSchema, required=True, allow_none=True)
    unchanged = fields.Boolean(required=True)


class ArtifactItemSchema(Out):
    path = text()
    sha256 = text("of the latest revision")
    size = integer()
    uri = text(allow_none=True)
    seq = integer()
    revisions = integer("how many revisions the path has (this is the latest)")


class ArtifactRevisionSchema(Out):
    revision = integer()
    sha256 = text()
    size = integer()
    uri = text(allow_none=True)
    envelope_sha256 = text()
    seq = integer("the artifact.recorded or artifact.registered entry")


class ArtifactRevisionsSchema(Out):
    run_id = text()
    path = text()
    revisions = many(ArtifactRevisionSchema)


class ArtifactPageSchema(Out):
    artifacts = many(ArtifactItemSchema)
    next = text("pass as ?after= for the next page", allow_none=True)


class PinnedFileSchema(Out):
    path = text("the run path, as the version's creation entry pins it")
    sha256 = text()
    size = integer()


class VersionArtifactsSchema(Out):
    model = text()
    version = integer()
    run_id = text()
    artifact_path = text()
    version_digest = text()
    artifacts = many(PinnedFileSchema)


def written(what: str) -> dict[int, dict[str, Any]]:
    return {201: ok(ArtifactWrittenSchema, f"{what} recorded"),
            200: ok(ArtifactWrittenSchema, "the same bytes were already recorded at this path "
                                           "(receipt null, unchanged true)")}


PINNED_DOWNLOAD = {"description": "the pinned bytes (re-hashed against the pinned SHA-256)",
                   "content": {"application/octet-stream": {"schema": BINARY}},
                   "headers": {h: {"description": d, "schema": {"type": "string"}} for h, d in (
                       ("ETag", "the pinned SHA-256"),
                       ("X-Content-SHA256", "hex SHA-256 of the bytes"),
                       ("Repr-Digest", "RFC 9530 sha-256 digest"))}}


DOWNLOAD = {"description": "the bytes (re-hashed before serving), or the record with ?meta=1",
             "content": {"application/octet-stream": {"schema": BINARY},
                         "application/json": {"schema": ArtifactRecordSchema}},
             "headers": {h: {"description": d, "schema": {"type": "string"}} for h, d in (
                 ("ETag", "the SHA-256 (bytes only)"),
                 ("X-Content-SHA256", "hex SHA-256 of the bytes (bytes only)"),
                 ("Repr-Digest", "RFC 9530 sha-256 digest (bytes only)"))}}

