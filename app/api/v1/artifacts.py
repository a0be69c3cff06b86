"""/api/v1 artifact routes: streamed uploads, external URIs, verified downloads, listings and
each path's revisions; and a registered version's files: exactly those it pinned, re-hashed
against the pinned digests."""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Blueprint, Response, jsonify, request
from marshmallow import ValidationError, fields, post_load, validate

from app.api.http.auth import current_principal, require
from app.api.http.context import services
from app.api.http.docs import PROBLEM, ok, operation
from app.api.http.errors import ApiError
from app.api.http.hygiene import body_chunks
from app.api.http.scope import authorize_run, authorize_version, authorized_run
from app.api.http.units import read
from app.api.v1.responses.artifacts import (
    DOWNLOAD,
    PINNED_DOWNLOAD,
    ArtifactPageSchema,
    ArtifactRecordSchema,
    ArtifactRevisionsSchema,
    ArtifactWrittenSchema,
    ExternalArtifactProblemSchema,
    VersionArtifactsSchema,
    written,
)
from app.api.v1.schemas import DEFAULT_PAGE, MAX_PAGE, _Strict, load
from app.api.v1.tracking import WRITERS, body
from app.artifacts.store import CHUNK_SIZE, TooLargeError
from app.ledger.checkpoint import InvalidKeyError, Signer, VerifierKey
from app.services import artifacts, keys, pinned
from app.services.artifacts import Recorded
from app.services.tracking import Conflict, NotFound
from app.storage import artifacts as store
from app.storage import tracking as runs
from app.tracking.limits import MAX_INT64, SHA256_HEX
from app.tracking.paths import MAX_PATH, artifact_path_problem

bp = Blueprint("artifacts", __name__, url_prefix="/api/v1")

MAX_URI = 2000
MAX_SIGNATURE_FIELD = 200
MAX_INT32 = 2**31 - 1
URI_PATTERN = r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s\x00-\x1f\x7f]+\Z"


def check_path(path: str) -> None:
    """An artifact path (app/tracking/paths.py) as a marshmallow error. (A leading '/' never
    reaches a route: the 'path' converter does not match it, so routing answers 404 or 405.)"""
    problem = artifact_path_problem(path)
    if problem is not None:
        raise ValidationError(problem)


class ArtifactPath(fields.String):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text: str = super()._deserialize(value, attr, data, **kwargs)
        check_path(text)
        return text


class ClientSignature(_Strict):
    key = fields.String(required=True, validate=validate.Length(1, MAX_SIGNATURE_FIELD))
    sig = fields.String(required=True, validate=validate.Length(1, MAX_SIGNATURE_FIELD))

    @post_load
    def _decode(self, data: dict[str, str], **kwargs: Any) -> dict[str, Any]:
        try:
            key = VerifierKey.from_string(data["key"])
        except InvalidKeyError as exc:
            raise ValidationError(str(exc), "key") from exc
        try:
            sig = base64.b64decode(data["sig"], validate=True)
        except binascii.Error as exc:
            raise ValidationError("sig must be standard base64", "sig") from exc
        return {"key": key, "sig": sig}


class ExternalBody(_Strict):
    path = ArtifactPath(required=True)
    uri = fields.String(required=True, validate=[validate.Length(1, MAX_URI),
                                                 validate.Regexp(URI_PATTERN)])
    sha256 = fields.String(required=True, validate=validate.Regexp(rf"{SHA256_HEX.pattern}\Z"))
    size = fields.Integer(required=True, strict=True, validate=validate.Range(0, MAX_INT64))
    signature = fields.Nested(ClientSignature, load_default=None)


class ListQuery(_Strict):
    path = fields.String(load_default="", validate=validate.Length(max=MAX_PATH + 1))
    after = fields.String(load_default="", validate=validate.Length(max=MAX_PATH))
    limit = fields.Integer(load_default=DEFAULT_PAGE, validate=validate.Range(1, MAX_PAGE))


class ReadQuery(_Strict):
    meta = fields.Boolean(load_default=False)
    revision = fields.Integer(load_default=None, validate=validate.Range(1, MAX_INT32))


class RevisionsQuery(_Strict):
    path = ArtifactPath(required=True)


def _check_path(path: str) -> None:
    try:
        check_path(path)
    except ValidationError as exc:
        raise ApiError(400, "Bad Request", "invalid artifact path",
                       errors={"path": exc.messages}) from exc


@contextmanager
def _mapped() -> Iterator[None]:
    """Map the artifact use cases' errors to problem+json statuses."""
    try:
        yield
    except pinned.External as exc:
        raise ApiError(404, "Not Found", str(exc), uri=exc.uri, sha256=exc.sha256) from exc
    except NotFound as exc:
        raise ApiError(404, "Not Found", str(exc)) from exc
    except (Conflict, artifacts.Tampered) as exc:
        raise ApiError(409, "Conflict", str(exc)) from exc
    except artifacts.BadSignature as exc:
        raise ApiError(401, "Unauthorized", str(exc)) from exc
    except TooLargeError as exc:
        raise ApiError(413, "Content Too Large", str(exc)) from exc


def _signer() -> Signer:
    config = services().config
    return read(lambda conn: keys.load_signer(conn, config.origin, config.keys_path))


def _require_run(run_id: str) -> None:
    if read(lambda conn: runs.get_run(conn, run_id)) is None:
        raise ApiError(404, "Not Found", f"run {run_id!r} does not exist")


# Responses are serialised by the schemas their operations document, straight from the rows.
RECORD, WRITTEN, PAGE = ArtifactRecordSchema(), ArtifactWrittenSchema(), ArtifactPageSchema()
REVISIONS, VERSION_ARTIFACTS = ArtifactRevisionsSchema(), VersionArtifactsSchema()


def _written(recorded: Recorded) -> tuple[Response, int]:
    unchanged = recorded.receipt is None
    return jsonify(WRITTEN.dump({**RECORD.dump(recorded.row), "receipt": recorded.receipt,
                                 "unchanged": unchanged})), 200 if unchanged else 201


@bp.put("/runs/<run_id>/artifacts/<path:path>", merge_slashes=False)
@operation(
    "Upload the raw body as the artifact at path (streamed and hashed)",
    written("artifact"), raw_body=True, problems=(400, 404, 409),
    description="Any content type is accepted; the size limit is MLAUDIT_MAX_UPLOAD_BYTES "
                "(413). Other bytes than those recorded at path are its next revision "
                "(201; the earlier revisions and their bytes stay); the same bytes again "
                "are 200 with unchanged=true. A path a registered version pins (or a "
                "folder above it) is 409 naming the version.")
@require(*WRITERS, run_arg="run_id")
def upload(run_id: str, path: str) -> tuple[Response, int]:
    run = authorized_run(run_id)
    """Upload the raw body (any content type) as the artifact at path, streamed and hashed.

    201 with the record (run_id, path, sha256, size, uri null, seq, revision, envelope: the
    service's DSSE statement, client_signature null), receipt and unchanged=false; other
    bytes at a recorded path are its next revision (201, revision 2, 3, ...); 200 with
    receipt null and unchanged=true when the latest revision is these bytes; 409 naming the
    version when a registered version pins the path or a folder above it (sealed); 413 over
    MLAUDIT_MAX_UPLOAD_BYTES.
    """
    svc = services()
    request.max_content_length = svc.config.max_upload_bytes
    _check_path(path)
    if run is None:  # refuse before reading the body; the unit checks again under the lock
        raise ApiError(404, "Not Found", f"run {run_id!r} does not exist")
    with _mapped():  # so is a path a registered version pins (sealed)
        read(lambda conn: artifacts.refuse_sealed_early(conn, run_id, path))
    # the active key is read inside the unit (with the run), not by a query of its own
    signer = functools.partial(keys.signer_for, svc.config.keys_path)
    actor, chunks = current_principal().actor, body_chunks(CHUNK_SIZE)
    with _mapped():
        recorded = artifacts.upload(svc.committer, svc.blobs, signer, actor, run_id, path,
                                    chunks, svc.config.max_upload_bytes)
    return _written(recorded)


@bp.post("/runs/<run_id>/artifacts/external")
@operation(
    "Register an artifact whose bytes are kept elsewhere", written("external artifact"),
    body=ExternalBody, problems=(404, 409),
    description="A client signature that does not verify is 401 and nothing is written.")
@require(*WRITERS)
def register_external(run_id: str) -> tuple[Response, int]:
    authorize_run(run_id)
    """Register bytes kept elsewhere: {path, uri, sha256, size, signature?: {key, sig}}.

    key is a verifier key string (name+hex8 key ID+base64(0x01 || Ed25519 public key)); sig is
    base64 of the Ed25519 signature over PAE("application/vnd.in-toto+json", RFC 8785 bytes of
    the in-toto Statement v1 {subject: [{name: path, digest: {sha256}}], predicateType:
    "https://mlaudit.dev/artifact-record/v1", predicate: {size: "<decimal>", uri}}).
    A signature that does not verify is 401 and nothing is written. Responses as for upload.
    """
    data = body(ExternalBody())
    signature = data["signature"] or {}
    artifact = artifacts.Artifact(data["path"], data["sha256"], data["size"], data["uri"],
                                  signature.get("key"), signature.get("sig"))
    actor = current_principal().actor
    with _mapped():
        client = artifacts.check_client_signature(artifact)
        signer = _signer()
        recorded = services().committer.run(lambda w: artifacts.register_external(
            w, signer, actor, run_id, artifact, client))
    return _written(recorded)


def _prefix(path: str) -> str:
    directory = path[:-1] if path.endswith("/") else path
    if not directory:
        return ""
    _check_path(directory)
    return directory + "/"


@bp.get("/runs/<run_id>/artifacts")
@operation(
    "Artifacts under ?path= in path order, paged", {200: ok(ArtifactPageSchema)},
    query=ListQuery, problems=(400, 404))
@require()
def list_artifacts(run_id: str) -> Response:
    authorize_run(run_id)
    """Every artifact under ?path=dir (all descendants, 'dir' and 'dir/' alike; none: all),
    in path order, paged by ?after=<last path>&limit=: {artifacts: [{path, sha256, size, uri,
    seq}], next: <path to pass as after> or null}."""
    query = load(ListQuery(), request.args)
    prefix = _prefix(query["path"])
    rows = read(lambda conn: store.list_artifacts(conn, run_id, prefix, query["after"],
                                                  query["limit"] + 1))
    more = len(rows) > query["limit"]
    rows = rows[: query["limit"]]
    if not rows:
        _require_run(run_id)
    return jsonify(PAGE.dump({"artifacts": rows, "next": rows[-1].path if more else None}))


@bp.get("/runs/<run_id>/artifact-revisions")
@operation(
    "Every revision of the artifact at ?path=, oldest first",
    {200: ok(ArtifactRevisionsSchema)}, query=RevisionsQuery,
    problems=(400, 404),
    description="The last revision is what downloads serve; ?revision=N on a download "
                "serves an earlier one.")
@require()
def artifact_revisions(run_id: str) -> Response:
    authorize_run(run_id)
    """Every revision of the artifact at ?path=, oldest first: {run_id, path, revisions:
    [{revision, sha256, size, uri, envelope_sha256, seq}]}; the last is what downloads serve,
    ?revision=N on a download serves an earlier one. 404 if the run records nothing there."""
    path = load(RevisionsQuery(), request.args)["path"]
    with _mapped():
        found = read(lambda conn: artifacts.revisions(conn, run_id, path))
    return jsonify(REVISIONS.dump({"run_id": run_id, "path": path, "revisions": found}))


@bp.get("/runs/<run_id>/artifacts/<path:path>", merge_slashes=False)
@operation(
    "Download an artifact's bytes (latest revision, or ?revision=N), or its record with "
    "?meta=1",
    {200: DOWNLOAD, 404: ok(ExternalArtifactProblemSchema, "Not Found", media=PROBLEM)},
    query=ReadQuery, problems=(400, 404, 409),
    description="An external artifact's bytes are not here: 404 naming its uri and sha256 "
                "(unless ?meta=1). Stored bytes that no longer match are 409.")
@require()
def download(run_id: str, path: str) -> Response:
    authorize_run(run_id)
    """The artifact's bytes (its latest revision, or ?revision=N), re-hashed before serving
    (409, logged, if they no longer match).

    ?meta=1 gives the record instead (as in the upload response, without receipt). An external
    artifact's bytes are not here: 404 with its uri, unless ?meta=1.
    """
    _check_path(path)
    query = load(ReadQuery(), request.args)
    with _mapped():
        row = read(lambda conn: artifacts.recorded(conn, run_id, path, query["revision"]))
    if row is None:
        _require_run(run_id)
        which = "" if query["revision"] is None else f" revision {query['revision']}"
        raise ApiError(404, "Not Found", f"run {run_id!r} has no artifact {path!r}{which}")
    if query["meta"]:
        return jsonify(RECORD.dump(row))
    if row.uri is not None:
        raise ApiError(404, "Not Found", f"external artifact; fetch it from {row.uri}",
                       uri=row.uri, sha256=row.sha256)
    blobs = services().blobs
    with _mapped():
        artifacts.check_stored(blobs, row)
    return _bytes(artifacts.stream_stored(blobs, row), row.sha256, row.size)


def _bytes(chunks: Iterator[bytes], sha256: str, size: int) -> Response:
    response = Response(chunks, mimetype="application/octet-stream", direct_passthrough=True)
    response.content_length = size
    response.set_etag(sha256)
    response.headers["X-Content-SHA256"] = sha256
    digest = base64.b64encode(bytes.fromhex(sha256)).decode("ascii")
    response.headers["Repr-Digest"] = f"sha-256=:{digest}:"
    return response


def _pin(name: str, version: int) -> pinned.Pin:
    authorize_version(name, version)
    with _mapped():
        return read(lambda conn: pinned.pin_of(conn, name, version))


@bp.get("/models/<name>/versions/<int:version>/artifacts")
@operation(
    "The files the version pinned (nothing its run recorded afterwards)",
    {200: ok(VersionArtifactsSchema)}, problems=(404, 409))
@require()
def version_artifacts(name: str, version: int) -> Response:
    """The files the version pinned, as its creation entry records them, in path order:
    {model, version, run_id, artifact_path, version_digest, artifacts: [{path, sha256,
    size}]}; nothing recorded in its run afterwards is part of it."""
    pin = _pin(name, version)
    return jsonify(VERSION_ARTIFACTS.dump({
        "model": pin.model, "version": pin.version, "run_id": pin.run_id,
        "artifact_path": pin.artifact_path, "version_digest": pin.version_digest,
        "artifacts": pin.files}))


@bp.get("/models/<name>/versions/<int:version>/artifacts/<path:path>", merge_slashes=False)
@operation(
    "Download a pinned file by its run path, re-hashed against the pinned SHA-256",
    {200: PINNED_DOWNLOAD,
     404: ok(ExternalArtifactProblemSchema, "Not Found", media=PROBLEM)},
    problems=(400, 404, 409),
    description="A path the version does not pin is 404; an external pinned file is 404 "
                "naming its uri and sha256; stored bytes that no longer match the pinned "
                "SHA-256 are 409 and nothing is served.")
@require()
def version_artifact(name: str, version: int, path: str) -> Response:
    """A pinned file's bytes by its run path, re-hashed against the pinned SHA-256 before
    and while served: 409 (logged, nothing served) if they differ or are missing; 404 for a
    path the version does not pin, or with its uri for an external one."""
    _check_path(path)
    pin, blobs = _pin(name, version), services().blobs
    with _mapped():
        found = pin.file(path)
        pinned.check_served(blobs, pin, found, lambda: read(
            lambda conn: pinned.external_uri_of(conn, pin, found)))
    return _bytes(pinned.stream_pinned(blobs, pin, found), found.sha256, found.size)
