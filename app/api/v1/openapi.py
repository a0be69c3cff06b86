"""GET /api/v1/openapi.json: the OpenAPI 3.0.3 document, built from the routes and their schemas."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, Response, current_app, jsonify
from marshmallow import EXCLUDE, Schema, fields, validate
from werkzeug.routing import Rule

from app.api.http.auth import ALL_ROLES, require
from app.api.v1 import access as access_api
from app.api.v1 import artifacts as artifacts_api
from app.api.v1 import protection as protection_api
from app.api.v1 import registry as registry_api
from app.api.v1 import reports as reports_api
from app.api.v1 import schemas as ledger_schemas
from app.api.v1 import tracking_schemas as ts
from app.ledger.request_signature import WINDOW_SECONDS
from app.services.access import SIGNATURE_HEADER
from app.tracking.limits import DATASET_CONTEXTS, MAX_KEY, MAX_PARAM_VALUE
from app.tracking.paths import MAX_PATH

bp = Blueprint("openapi", __name__, url_prefix="/api/v1")
EXTENSION = "mlaudit.openapi"
PROBLEM = "application/problem+json"


# Response shapes: documentation only (the routes build their JSON by hand). Every field listed
# is always present unless required=False; open (no additionalProperties: false) so that a
# field added later is not a breaking change of the contract.


class _Out(Schema):
    class Meta:
        unknown = EXCLUDE


def _meta(description: str) -> dict[str, str]:
    return {"description": description} if description else {}


def _str(description: str = "", **kwargs: Any) -> fields.String:
    return fields.String(required=True, metadata=_meta(description), **kwargs)


def _int(description: str = "", **kwargs: Any) -> fields.Integer:
    return fields.Integer(required=True, metadata=_meta(description), **kwargs)


def _b64(description: str) -> fields.String:
    return fields.String(required=True, metadata={"format": "byte", "description": description})


def _strings() -> fields.Dict:
    return fields.Dict(keys=fields.String(), values=fields.String(), required=True)


def _list(schema: type[Schema] | fields.Field[Any]) -> fields.List[Any]:
    inner = fields.Nested(schema) if isinstance(schema, type) else schema
    return fields.List(inner, required=True)


class ProblemSchema(_Out):
    """RFC 9457 problem details; a route may add members (e.g. uri and sha256)."""

    type = _str("always about:blank")
    title = _str("the HTTP reason phrase")
    status = _int("the HTTP status code")
    detail = fields.String(metadata={"description": "what went wrong"})
    instance = _str("the request path, percent-encoded (a URI reference)")
    errors = fields.Dict(metadata={"description": "messages per invalid field (400 only)"})
    request_id = fields.String(metadata={"description": "the request's id, as in the "
                                                        "X-Request-ID response header"})


class ExternalArtifactProblemSchema(ProblemSchema):
    uri = fields.String(metadata={"description": "where an external artifact's bytes are"})
    sha256 = fields.String(metadata={"description": "the external artifact's SHA-256"})


class MlflowErrorSchema(_Out):
    """MLflow's error body, answered by every MLflow-compatible route instead of a problem."""

    error_code = _str("e.g. INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST, UNAUTHENTICATED, "
                      "PERMISSION_DENIED, RESOURCE_CONFLICT, REQUEST_LIMIT_EXCEEDED")
    message = _str()


class MlflowArtifactListQuery(_Out):
    path = fields.String(metadata=_meta("the folder, <exp>/<run>/artifacts[/<path>], "
                                        "<exp>/models/<model_id>/artifacts[/<path>] or a "
                                        "version's root <exp>/model-versions/<version_digest>"
                                        "/artifacts[/<path>] (its pinned files only); an empty "
                                        "or unknown folder answers {}"))


class ReceiptSchema(_Out):
    seq = _int("the ledger entry's sequence number")
    kind = _str("the entry kind, e.g. experiment.created")
    leaf_hash = _b64("SHA-256(0x00 || canonical entry bytes)")
    chain_hash = _b64("the hash chain value after this entry")


class CheckpointSchema(_Out):
    tree_size = _int()
    root_hash = _b64("the Merkle tree root at tree_size")
    note = _str("the signed note (C2SP signed-note format)")
    key_id = _str("the signing key ID, 8 hex digits", validate=validate.Regexp(r"^[0-9a-f]{8}$"))
    signed_at = _str("RFC 3339 UTC timestamp")


class LedgerEntrySchema(_Out):
    seq = _int()
    canonical = _b64("the entry's RFC 8785 bytes")
    leaf_hash = _b64("SHA-256(0x00 || canonical)")
    chain_hash = _b64("the hash chain value after this entry")
    kind = _str()
    actor = _str()
    recorded_at = _str("RFC 3339 UTC timestamp")


class EntryPageSchema(_Out):
    entries = _list(LedgerEntrySchema)
    next = _int("pass as ?after= for the next page; null on the last", allow_none=True)


class InclusionProofSchema(_Out):
    tree_size = _int()
    leaf_index = _int()
    hashes = _list(_b64("a sibling hash"))


class EntryWithProofSchema(LedgerEntrySchema):
    entry = fields.Dict(required=True, metadata={"description": "the decoded canonical entry"})
    inclusion_proof = fields.Nested(InclusionProofSchema, required=True)
    checkpoint = fields.Nested(CheckpointSchema, required=True)


class ConsistencyProofSchema(_Out):
    from_ = _int("the older tree size", data_key="from")
    to = _int("the newer tree size")
    from_root = _b64("the root at from")
    to_root = _b64("the root at to")
    hashes = _list(_b64("a proof hash"))


class KeyListSchema(_Out):
    keys = _list(_str("a verifier key: name+hex8 key ID+base64 key"))
    active = _str("the key signing now (the last of keys)", allow_none=True)


class HealthSchema(_Out):
    status = _str(validate=validate.OneOf(["ok"]))


class DamageSchema(_Out):
    kind = _str("as `mlaudit verify` names it: modified, missing, inserted, reordered, "
                "truncated, bad_signature, bad_checkpoint, head_mismatch, projection_mismatch")
    seq = _int("the damaged entry", allow_none=True)
    checkpoint = _int("the damaged checkpoint's tree size", allow_none=True)
    detail = _str()


class VerificationSchema(_Out):
    ok = fields.Boolean(required=True)
    entries = _int("entries verified")
    checkpoints = _int("checkpoints verified")
    finished_at = _str("RFC 3339 UTC timestamp")
    damage = fields.Nested(DamageSchema, required=True, allow_none=True)


_VERIFICATION = ("the last self-verification of this process (MLAUDIT_SELF_VERIFY_INTERVAL); "
                 "absent until one has run")


class ReadySchema(_Out):
    status = _str(validate=validate.OneOf(["ready"]))
    schema_version = _int()
    verification = fields.Nested(VerificationSchema, metadata=_meta(_VERIFICATION))


class ReadyProblemSchema(ProblemSchema):
    verification = fields.Nested(VerificationSchema, metadata=_meta(
        "present when the last self-verification found damage"))


class ExperimentSchema(_Out):
    id = _str()
    name = _str()
    description = _str()
    tags = _strings()
    lifecycle = _str(validate=validate.OneOf(["active", "archived"]))
    created_by = _str()
    created_at = _str("RFC 3339 UTC timestamp")
    created_seq = _int()
    archived_seq = _int(allow_none=True)


class ExperimentCreatedSchema(_Out):
    id = _str()
    experiment = fields.Nested(ExperimentSchema, required=True)
    receipt = fields.Nested(ReceiptSchema, required=True)


class ExperimentPageSchema(_Out):
    experiments = _list(ExperimentSchema)
    next = _int("pass as ?after= for the next page; null on the last", allow_none=True)


class LoggedMetricSchema(_Out):
    key = _str()
    value = _str("the decimal text logged ('NaN', 'Infinity' and '-Infinity' too)")
    step = _int()
    timestamp = _int("milliseconds since the Unix epoch")
    seq = _int("the ledger entry that logged it")
    group = fields.Dict(keys=fields.String(), values=fields.String(),
                        metadata={"description": "present for grouped values only"})
    n = fields.Integer(metadata={"description": "the group's sample size, when logged"})


class RunInputSchema(_Out):
    name = _str()
    digest = _str("SHA-256, 64 hex digits")
    context = _str(validate=validate.OneOf(DATASET_CONTEXTS))
    source_uri = _str(allow_none=True)
    schema = fields.Raw(required=True, allow_none=True)
    row_count = _int(allow_none=True)
    group_counts = fields.Dict(required=True, allow_none=True)
    seq = _int()


class RunSchema(_Out):
    id = _str()
    experiment_id = _str()
    name = _str()
    status = _str(validate=validate.OneOf(["RUNNING", "FINISHED", "FAILED", "KILLED"]))
    source = fields.Nested(ts.SourceSchema, required=True)
    parent_run_id = _str(allow_none=True)
    start_time = _int("milliseconds since the Unix epoch")
    end_time = _int(allow_none=True)
    created_by = _str()
    created_seq = _int()
    ended_seq = _int(allow_none=True)
    manifest_sha256 = _str("set when the run ends", allow_none=True)
    lifecycle = _str("deleted after MLflow's delete_run (no writes) until restore_run",
                     validate=validate.OneOf(["active", "deleted"]))
    params = _strings()
    tags = _strings()
    metrics = _list(LoggedMetricSchema)
    inputs = _list(RunInputSchema)
    environment = fields.Nested(ts.EnvironmentBody, required=True, allow_none=True)


class RunCreatedSchema(_Out):
    id = _str()
    run = fields.Nested(RunSchema, required=True)
    receipt = fields.Nested(ReceiptSchema, required=True)
    receipts = _list(ReceiptSchema)


class RunPageSchema(_Out):
    runs = _list(RunSchema)
    next_page_token = _str("pass as ?page_token= for the next page", allow_none=True)


class ReceiptOnlySchema(_Out):
    receipt = fields.Nested(ReceiptSchema, required=True)


class MaybeReceiptSchema(_Out):
    receipt = fields.Nested(ReceiptSchema, required=True, allow_none=True,
                            metadata={"description": "null when nothing changed"})
    unchanged = fields.Boolean(required=True)


class ReceiptListSchema(_Out):
    receipts = _list(ReceiptSchema)


class TagChangeSchema(_Out):
    value = _str(allow_none=True)
    deleted = fields.Boolean(required=True)
    seq = _int()


class TagHistorySchema(_Out):
    history = _list(TagChangeSchema)


class MetricHistorySchema(_Out):
    metrics = _list(LoggedMetricSchema)
    next = _str("'seq:position': pass as ?after= for the next page", allow_none=True)


class GroupFigureSchema(_Out):
    group = _str()
    value = _str()
    n = _int(allow_none=True)
    ratio = _str(allow_none=True)
    difference = _str(allow_none=True)
    is_reference = fields.Boolean(required=True)
    flags = _list(fields.String())


class GroupSummarySchema(_Out):
    run_id = _str()
    key = _str()
    attribute = _str()
    reference = _str()
    reference_rule = _str()
    band = fields.List(fields.String(), required=True, validate=validate.Length(equal=2))
    min_n = _int()
    groups = _list(GroupFigureSchema)
    min_max_ratio = _str(allow_none=True)
    max_difference = _str(allow_none=True)
    flagged = _list(fields.String())
    notes = _list(fields.String())
    seqs = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


class ManifestDatasetSchema(_Out):
    name = _str()
    digest = _str()
    context = _str()
    source_uri = _str(allow_none=True)


class ManifestArtifactSchema(_Out):
    path = _str()
    sha256 = _str()
    size = _str("decimal text")
    uri = _str(allow_none=True)


class ManifestSchema(_Out):
    manifest_version = _int()
    run = _str()
    experiment = _str()
    parent_run = _str(allow_none=True)
    source = fields.Nested(ts.SourceSchema, required=True)
    environment = fields.Nested(ts.EnvironmentBody, required=True, allow_none=True)
    datasets = _list(ManifestDatasetSchema)
    params = _strings()
    seeds = _strings()
    artifacts = _list(ManifestArtifactSchema)


class TokenSchema(_Out):
    name = _str()
    id = _str()
    role = _str("admin, writer, approver or auditor")
    created_seq = _int()
    expires_at = fields.String(required=True, allow_none=True,
                               metadata={"description": "RFC 3339 UTC, or null: no expiry"})
    revoked_seq = fields.Integer(required=True, allow_none=True,
                                 metadata={"description": "the token.revoked entry, or null"})
    principal = fields.String(required=True, allow_none=True, metadata={
        "description": "the name of the person or service account holding it"})


class TokenListSchema(_Out):
    tokens = _list(TokenSchema)


class PrincipalSchema(_Out):
    name = _str()
    id = _str()
    display_name = _str("the printed name reports and signatures show")
    kind = _str("person or service; only a person may decide a promotion")
    created_seq = _int()
    tokens = fields.List(fields.String(), required=True,
                         metadata={"description": "names of its tokens, revoked ones included"})


class PrincipalListSchema(_Out):
    principals = _list(PrincipalSchema)


class GrantSchema(_Out):
    token_name = _str()
    token_id = _str()
    experiment_id = _str()
    seq = _int()


class GrantListSchema(_Out):
    grants = _list(GrantSchema)


class ClientKeyRegisteredSchema(_Out):
    key_id = _str("16 hex digits")
    receipt = fields.Nested(ReceiptSchema, required=True, allow_none=True,
                            metadata={"description": "null when already registered"})


class ClientKeySchema(_Out):
    key_id = _str()
    public_key = _b64("the Ed25519 public key")
    seq = _int()


class ClientKeyListSchema(_Out):
    keys = _list(ClientKeySchema)


class DsseSignatureSchema(_Out):
    keyid = _str()
    sig = _b64("the Ed25519 signature")


class DsseEnvelopeSchema(_Out):
    payload = _b64("RFC 8785 bytes of the in-toto Statement v1")
    payloadType = _str()  # the DSSE member name
    signatures = _list(DsseSignatureSchema)


class ArtifactRecordSchema(_Out):
    run_id = _str()
    path = _str()
    sha256 = _str()
    size = _int()
    uri = _str("set for external artifacts", allow_none=True)
    seq = _int()
    revision = _int("the path's revision this record is (1 for the first upload)")
    envelope = fields.Nested(DsseEnvelopeSchema, required=True)
    client_signature = fields.Nested(DsseEnvelopeSchema, required=True, allow_none=True)


class ArtifactWrittenSchema(ArtifactRecordSchema):
    receipt = fields.Nested(ReceiptSchema, required=True, allow_none=True)
    unchanged = fields.Boolean(required=True)


class ArtifactItemSchema(_Out):
    path = _str()
    sha256 = _str("of the latest revision")
    size = _int()
    uri = _str(allow_none=True)
    seq = _int()
    revisions = _int("how many revisions the path has (this is the latest)")


class ArtifactRevisionSchema(_Out):
    revision = _int()
    sha256 = _str()
    size = _int()
    uri = _str(allow_none=True)
    envelope_sha256 = _str()
    seq = _int("the artifact.recorded or artifact.registered entry")


class ArtifactRevisionsSchema(_Out):
    run_id = _str()
    path = _str()
    revisions = _list(ArtifactRevisionSchema)


class ArtifactPageSchema(_Out):
    artifacts = _list(ArtifactItemSchema)
    next = _str("pass as ?after= for the next page", allow_none=True)


class PinnedFileSchema(_Out):
    path = _str("the run path, as the version's creation entry pins it")
    sha256 = _str()
    size = _int()


class VersionArtifactsSchema(_Out):
    model = _str()
    version = _int()
    run_id = _str()
    artifact_path = _str()
    version_digest = _str()
    artifacts = _list(PinnedFileSchema)


# Model registry and promotions (app/api/v1/registry.py, app/api/v1/promotions.py).

_OPEN = "an open JSON object"
_GATES = ("the gate evaluation: {policy_seq, policy_set_by, passed, results: [{gate, passed, "
          "detail, figures}]}; with no policy, policy_seq and passed are null: no policy, not "
          "a pass (docs/policies.md)")


class ModelSchema(_Out):
    name = _str()
    description = _str()
    owner = _str()
    tags = _strings()
    sensitive_attributes = _list(fields.String())
    protected_targets = _list(fields.String())
    quorum = _int()
    created_by = _str()
    created_seq = _int()


class ModelVersionSchema(_Out):
    model = _str()
    version = _int()
    run_id = _str("null while the version is unpinned", allow_none=True)
    artifact_path = _str()
    evidence = fields.Dict(required=True, metadata=_meta(_OPEN))
    version_digest = _str("SHA-256, 64 hex digits")
    stage = _str(validate=validate.OneOf(["None", "Staging", "Production", "Archived"]))
    created_by = _str()
    created_seq = _int()
    pinned = fields.Boolean(required=True, metadata=_meta(
        "false: registered from a source mlaudit does not hold (evidence {pinned: false, "
        "source, run}); it reaches no protected stage or alias until pinned"))


class VersionPinnedSchema(_Out):
    model_version = fields.Nested(ModelVersionSchema, required=True)
    receipt = fields.Nested(ReceiptSchema, required=True)


class PolicyRecordSchema(_Out):
    policy = fields.Dict(required=True, metadata=_meta(_OPEN))
    set_by = _str()
    seq = _int()


class PolicySetSchema(_Out):
    receipt = fields.Nested(ReceiptSchema, required=True)
    policy = fields.Dict(required=True, metadata=_meta(
        "the policy as stored and hashed: every key, sorted lists, thresholds as decimal "
        "strings"))


class ProtectedTargetsSetSchema(_Out):
    protected_targets = _list(fields.String())
    receipt = fields.Nested(ReceiptSchema, required=True, allow_none=True)
    unchanged = fields.Boolean(required=True)


class SensitiveAttributesSetSchema(_Out):
    sensitive_attributes = _list(fields.String())
    receipt = fields.Nested(ReceiptSchema, required=True, allow_none=True)
    unchanged = fields.Boolean(required=True)


class ModelDetailSchema(ModelSchema):
    versions = _list(ModelVersionSchema)
    aliases = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    policy = fields.Nested(PolicyRecordSchema, required=True, allow_none=True)


class ModelCreatedSchema(_Out):
    model = fields.Nested(ModelSchema, required=True)
    receipt = fields.Nested(ReceiptSchema, required=True)


class ModelListSchema(_Out):
    models = _list(ModelSchema)


class VersionRegisteredSchema(_Out):
    version = _int()
    model_version = fields.Nested(ModelVersionSchema, required=True)
    receipt = fields.Nested(ReceiptSchema, required=True, allow_none=True)
    unchanged = fields.Boolean(required=True)


class DecisionSchema(_Out):
    promotion_id = _str()
    seq = _int()
    approver = _str()
    role = _str()
    outcome = _str(validate=validate.OneOf(["approve", "reject", "refused"]))
    comment = _str()
    exception = fields.Dict(required=True, allow_none=True)
    version_digest = _str()
    gates = fields.Dict(required=True, metadata=_meta(_GATES))


class PromotionSchema(_Out):
    id = _str()
    model = _str()
    version = _int()
    target = _str()
    justification = _str()
    classification = _str(allow_none=True)
    requested_by = _str()
    status = _str(validate=validate.OneOf(["pending", "approved", "rejected", "withdrawn",
                                           "invalidated"]))
    gates = fields.Dict(required=True, metadata=_meta(_GATES))
    created_seq = _int()
    closed_seq = _int(allow_none=True)
    decisions = fields.List(fields.Nested(DecisionSchema),
                            metadata=_meta("present where one promotion is asked for"))


class PromotionCreatedSchema(_Out):
    id = _str()
    promotion = fields.Nested(PromotionSchema, required=True)
    receipt = fields.Nested(ReceiptSchema, required=True)


class PromotionListSchema(_Out):
    promotions = _list(PromotionSchema)


class DecidedSchema(_Out):
    status = _str()
    receipts = _list(ReceiptSchema)
    gates = fields.Dict(required=True, allow_none=True)


class DecisionRefusedProblemSchema(ProblemSchema):
    receipts = fields.List(fields.Nested(ReceiptSchema),
                           metadata=_meta("a refused decision is committed, then answered 403"))
    gates = fields.Dict(allow_none=True)


class DeploymentSchema(_Out):
    id = _str()
    model = _str()
    version = _int()
    environment = _str()
    deployer = _str()
    target = fields.Dict(required=True)
    promotion_id = _str(allow_none=True)
    rollback_of = _str(allow_none=True)
    reason = _str(allow_none=True)
    deployed_at = _str("RFC 3339 UTC timestamp")
    seq = _int()


class DeploymentCreatedSchema(_Out):
    deployment = fields.Nested(DeploymentSchema, required=True)
    receipt = fields.Nested(ReceiptSchema, required=True)


class DeploymentListSchema(_Out):
    deployments = _list(DeploymentSchema)


class DeployedSchema(_Out):
    """`version`, `deployment` and `model_version` are null when nothing was live then."""

    version = _int(allow_none=True)
    environment = _str()
    at = _str("the instant asked about (ISO 8601)")
    deployment = fields.Nested(DeploymentSchema, required=True, allow_none=True)
    promotion = fields.Nested(PromotionSchema, required=True, allow_none=True)
    model_version = fields.Nested(ModelVersionSchema, required=True, allow_none=True)


class LineageRunSchema(_Out):
    run_id = _str()
    name = _str()
    source = fields.Dict(required=True)
    created_seq = _int()
    ended_seq = _int(allow_none=True)


class LineageSchema(_Out):
    model_version = fields.Nested(ModelVersionSchema, required=True)
    runs = _list(LineageRunSchema)
    datasets = _list(fields.Dict())
    artifacts = _list(fields.Dict())
    promotions = _list(PromotionSchema)
    deployments = _list(DeploymentSchema)


# The one registry: (method, Werkzeug rule) -> how the route is documented.

Content = dict[str, Any]
Responses = dict[int, dict[str, Any]]
OBJECT = {"type": "object", "description": "this OpenAPI 3.0.3 document"}
BINARY = {"type": "string", "format": "binary"}


def ok(schema: type[Schema] | dict[str, Any], description: str = "OK",
       media: str = "application/json", **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": schema}}, **extra}


@dataclass(frozen=True)
class Op:
    """responses: the successes, and any problem needing more than the Problem schema."""

    summary: str
    responses: Responses
    query: type[Schema] | None = None
    body: type[Schema] | None = None
    raw_body: bool = False
    problems: tuple[int, ...] = ()
    signed: bool = False
    description: str = ""


def _written(what: str) -> Responses:
    return {201: ok(ArtifactWrittenSchema, f"{what} recorded"),
            200: ok(ArtifactWrittenSchema, "the same bytes were already recorded at this path "
                                           "(receipt null, unchanged true)")}


_PINNED_DOWNLOAD = {"description": "the pinned bytes (re-hashed against the pinned SHA-256)",
                   "content": {"application/octet-stream": {"schema": BINARY}},
                   "headers": {h: {"description": d, "schema": {"type": "string"}} for h, d in (
                       ("ETag", "the pinned SHA-256"),
                       ("X-Content-SHA256", "hex SHA-256 of the bytes"),
                       ("Repr-Digest", "RFC 9530 sha-256 digest"))}}
_DOWNLOAD = {"description": "the bytes (re-hashed before serving), or the record with ?meta=1",
             "content": {"application/octet-stream": {"schema": BINARY},
                         "application/json": {"schema": ArtifactRecordSchema}},
             "headers": {h: {"description": d, "schema": {"type": "string"}} for h, d in (
                 ("ETag", "the SHA-256 (bytes only)"),
                 ("X-Content-SHA256", "hex SHA-256 of the bytes (bytes only)"),
                 ("Repr-Digest", "RFC 9530 sha-256 digest (bytes only)"))}}
_MANIFEST = ok(ManifestSchema, "the RFC 8785 bytes of the reproducibility manifest",
               headers={"X-Manifest-SHA256": {"description": "hex SHA-256 of the body",
                                              "schema": {"type": "string"}}})
_RUNS = "/api/v1/runs/<run_id>"
_MODEL = "/api/v1/models/<name>"
_REGISTRY = (400, 403, 404, 409)  # registry.Invalid, registry.Forbidden, NotFound, Conflict

_PDF = ok(BINARY, "the report; its evidence bundle is attached inside", "application/pdf",
          headers={h: {"description": d, "schema": {"type": "string"}} for h, d in (
              ("Content-Disposition", "attachment; filename=..."),
              ("X-Evidence-SHA256", "hex SHA-256 of the attached evidence bundle"),
              ("X-Report-Id", "the report's id"),
              ("X-Report-Seq", "seq of the report.issued ledger entry"))})
_REPORT_NOTE = ("Every issuance is a report.issued ledger entry. If ledger verification fails "
                "the answer is 409 naming the damaged seq, unless an admin passes force=true; "
                "scoped tokens reach only their granted experiments. The PDF carries a PAdES "
                "signature by the report-signing certificate (docs/report-signatures.md); if "
                "signing fails (e.g. the configured TSA does not answer) the answer is 503.")
_LOOKUP = {"type": "object", "properties": {
    "issued": {"type": "boolean"}, "sha256": {"type": "string"},
    "report_id": {"type": "string"}, "kind": {"type": "string"},
    "subject": {"type": "string"}, "bundle_sha256": {"type": "string"},
    "tree_size": {"type": "integer"}, "issued_to": {"type": "string"},
    "seq": {"type": "integer"}, "issued_at": {"type": "string", "format": "date-time"}},
    "required": ["issued", "sha256"]}

SCOPE_NOTE = (
    "Scopes: a token that was ever granted an experiment is scoped, to the experiments it holds "
    "grants on now (none, once its last grant is revoked: it then reaches nothing). Admin "
    "tokens and tokens never granted one reach every experiment. To a scoped token, an object "
    "outside its experiments (or a missing one) answers exactly as a missing object does: 404 "
    "(MLflow: RESOURCE_DOES_NOT_EXIST) with the same message, before anything else about the "
    "request is checked; lists and searches leave such objects out. A run, logged model or "
    "dataset lies in its experiment, a model version in its run's experiment, a registered "
    "model in every experiment its versions come from (a model without versions in none), a "
    "promotion or deployment with its model, a report with its subject.")
LEDGER_SCOPE = (
    "A scoped token is served only the entries whose subject ids all lie in its experiments "
    "(see the API description; subject ids of any other kind, such as token or key, and ids "
    "that cannot be placed, hide the entry); any other entry answers as a missing one. "
    "Checkpoints and consistency proofs hold hashes and sizes only and are served to every "
    "token. Checking the whole ledger (docs/ledger-format.md 10.4) needs an unscoped token.")

ROUTES: dict[tuple[str, str], Op] = {
    ("GET", "/healthz"): Op("Liveness probe", {200: ok(HealthSchema)}),
    ("GET", "/readyz"): Op(
        "Readiness probe: database reachable, schema current, ledger not found damaged",
        {200: ok(ReadySchema),
         503: ok(ReadyProblemSchema, "Service Unavailable: the database is unreachable, its "
                 "schema is not current, or the last self-verification found damage",
                 media=PROBLEM)}),
    ("GET", "/metrics"): Op(
        "Prometheus metrics: requests by route, ledger size, checkpoint age, "
        "self-verification", {200: {"description": "the Prometheus text format (OpenMetrics "
                                                   "when the Accept header asks for it)",
                                    "content": {"text/plain": {"schema": {"type": "string"}},
                                                "application/openmetrics-text": {
                                                    "schema": {"type": "string"}}}}},
        description="Use a bearer token in Prometheus' scrape config (authorization)."),
    ("GET", "/api/v1/openapi.json"): Op("This OpenAPI document", {200: ok(OBJECT)}),
    ("GET", "/api/v1/ledger/keys"): Op("Every verifier key ever used, oldest first",
                                       {200: ok(KeyListSchema)}),
    ("GET", "/api/v1/ledger/checkpoints/latest"): Op(
        "The latest signed checkpoint (signing one if there is none)",
        {200: ok(CheckpointSchema)}),
    ("GET", "/api/v1/ledger/checkpoints/<int:tree_size>"): Op(
        "The checkpoint signed at a tree size", {200: ok(CheckpointSchema)}, problems=(404,)),
    ("GET", "/api/v1/ledger/entries"): Op(
        "Ledger entries in seq order, paged", {200: ok(EntryPageSchema)},
        query=ledger_schemas.EntryListQuery,
        description=LEDGER_SCOPE + " A scoped token's page holds only such entries, found "
        "among at most 10 x limit entries read after `after`: it may hold fewer than limit, "
        "even none, while `next` is not null; pass `next` as `after` until it is null."),
    ("GET", "/api/v1/ledger/entries/<int:seq>"): Op(
        "One entry with its inclusion proof in a covering checkpoint",
        {200: ok(EntryWithProofSchema)}, query=ledger_schemas.EntryQuery, problems=(404,),
        description=LEDGER_SCOPE),
    ("GET", "/api/v1/ledger/consistency"): Op(
        "A consistency proof between two tree sizes (to defaults to the latest checkpoint)",
        {200: ok(ConsistencyProofSchema)}, query=ledger_schemas.ConsistencyQuery,
        problems=(404,)),
    ("POST", "/api/v1/experiments"): Op(
        "Create an experiment", {201: ok(ExperimentCreatedSchema, "Created")},
        body=ts.ExperimentCreate, problems=(403, 409), signed=True,
        description="Tokens scoped to experiments cannot create one (403); a taken name is 409."),
    ("GET", "/api/v1/experiments"): Op(
        "Experiments in creation order, paged (only those the token may use)",
        {200: ok(ExperimentPageSchema)}, query=ts.ExperimentListQuery),
    ("GET", "/api/v1/experiments/<experiment_id>"): Op(
        "One experiment", {200: ok(ExperimentSchema)}, problems=(404,)),
    ("GET", "/api/v1/experiments/by-name/<path:name>"): Op(
        "One experiment by name", {200: ok(ExperimentSchema)}, problems=(404,)),
    ("POST", "/api/v1/experiments/<experiment_id>/archive"): Op(
        "Archive an experiment", {200: ok(ReceiptOnlySchema)}, problems=(403, 404, 409),
        signed=True),
    ("POST", "/api/v1/runs"): Op(
        "Create a run", {201: ok(RunCreatedSchema, "Created")}, body=ts.RunCreate,
        problems=(403, 404, 409), signed=True,
        description="receipt is the run.created entry; receipts also holds the tags entry."),
    ("GET", "/api/v1/runs"): Op(
        "Search runs: MLflow filter grammar and order_by, opaque page tokens",
        {200: ok(RunPageSchema)}, query=ts.RunSearchQuery, problems=(404,),
        description="To a scoped token, an experiment_id outside its experiments is a 404."),
    ("GET", _RUNS): Op("One run with everything logged so far", {200: ok(RunSchema)},
                       problems=(404,)),
    ("POST", f"{_RUNS}/end"): Op("End a RUNNING run", {200: ok(ReceiptOnlySchema)},
                                 body=ts.RunEnd, problems=(404, 409), signed=True),
    ("POST", f"{_RUNS}/params"): Op(
        "Log params (immutable: the same value again is a no-op, a different one 409)",
        {200: ok(MaybeReceiptSchema)}, body=ts.ParamsBody, problems=(404, 409), signed=True),
    ("POST", f"{_RUNS}/metrics"): Op("Log metric values", {200: ok(ReceiptOnlySchema)},
                                     body=ts.MetricsBody, problems=(404,), signed=True),
    ("POST", f"{_RUNS}/batch"): Op(
        "Log params, metrics and tags in one transaction", {200: ok(ReceiptListSchema)},
        body=ts.BatchBody, problems=(404, 409), signed=True),
    ("PUT", f"{_RUNS}/tags/<path:key>"): Op("Set a tag", {200: ok(ReceiptOnlySchema)},
                                            body=ts.TagBody, problems=(400, 404), signed=True),
    ("DELETE", f"{_RUNS}/tags/<path:key>"): Op("Delete a tag", {200: ok(ReceiptOnlySchema)},
                                               problems=(400, 404), signed=True),
    ("GET", f"{_RUNS}/tags/<path:key>/history"): Op(
        "Every value a tag has had, oldest first", {200: ok(TagHistorySchema)},
        problems=(400, 404)),
    ("GET", f"{_RUNS}/metrics/<path:key>/history"): Op(
        "A metric's values in logging order, paged", {200: ok(MetricHistorySchema)},
        query=ts.HistoryQuery, problems=(404,)),
    ("GET", f"{_RUNS}/metrics/<path:key>/groups"): Op(
        "Per-group disparity figures for the latest value of each group",
        {200: ok(GroupSummarySchema)}, query=ts.GroupQuery, problems=(404,)),
    ("POST", f"{_RUNS}/inputs"): Op("Log the datasets a run used", {200: ok(ReceiptOnlySchema)},
                                    body=ts.InputsBody, problems=(404,), signed=True),
    ("PUT", f"{_RUNS}/environment"): Op(
        "Record the execution environment (once; the same record again is a no-op)",
        {200: ok(MaybeReceiptSchema)}, body=ts.EnvironmentBody, problems=(404, 409),
        signed=True),
    ("GET", f"{_RUNS}/manifest"): Op("The run's reproducibility manifest", {200: _MANIFEST},
                                     problems=(404,)),
    ("GET", "/api/v1/tokens"): Op(
        "Every token, oldest first: role, expiry and revocation (never a secret or hash)",
        {200: ok(TokenListSchema)}),
    ("GET", "/api/v1/principals"): Op(
        "Every person and service account, oldest first, with its tokens' names; separation "
        "of duties compares principals, never tokens", {200: ok(PrincipalListSchema)}),
    ("POST", "/api/v1/tokens/<name>/revoke"): Op(
        "Revoke a token at once (a token.revoked entry); its next request is a 401",
        {200: ok(ReceiptOnlySchema)}, body=access_api.RevokeBody, problems=(404, 409),
        signed=True),
    ("POST", "/api/v1/grants"): Op(
        "Grant a token use of an experiment", {200: ok(MaybeReceiptSchema)},
        body=access_api.GrantBody, problems=(400,), signed=True),
    ("DELETE", "/api/v1/grants/<token_name>/<experiment_id>"): Op(
        "Revoke a grant", {200: ok(ReceiptOnlySchema)}, problems=(400,), signed=True),
    ("GET", "/api/v1/grants"): Op("Every grant, in seq order", {200: ok(GrantListSchema)}),
    ("POST", "/api/v1/client-keys"): Op(
        "Register an Ed25519 public key for signing this token's requests",
        {200: ok(ClientKeyRegisteredSchema)}, body=access_api.ClientKeyBody, problems=(400,),
        signed=True),
    ("GET", "/api/v1/client-keys"): Op("This token's client keys",
                                       {200: ok(ClientKeyListSchema)}),
    ("PUT", f"{_RUNS}/artifacts/<path:path>"): Op(
        "Upload the raw body as the artifact at path (streamed and hashed)",
        _written("artifact"), raw_body=True, problems=(400, 404, 409),
        description="Any content type is accepted; the size limit is MLAUDIT_MAX_UPLOAD_BYTES "
                    "(413). Other bytes than those recorded at path are its next revision "
                    "(201; the earlier revisions and their bytes stay); the same bytes again "
                    "are 200 with unchanged=true. A path a registered version pins (or a "
                    "folder above it) is 409 naming the version."),
    ("GET", f"{_RUNS}/artifact-revisions"): Op(
        "Every revision of the artifact at ?path=, oldest first",
        {200: ok(ArtifactRevisionsSchema)}, query=artifacts_api.RevisionsQuery,
        problems=(400, 404),
        description="The last revision is what downloads serve; ?revision=N on a download "
                    "serves an earlier one."),
    ("GET", f"{_RUNS}/artifacts/<path:path>"): Op(
        "Download an artifact's bytes (latest revision, or ?revision=N), or its record with "
        "?meta=1",
        {200: _DOWNLOAD, 404: ok(ExternalArtifactProblemSchema, "Not Found", media=PROBLEM)},
        query=artifacts_api.ReadQuery, problems=(400, 404, 409),
        description="An external artifact's bytes are not here: 404 naming its uri and sha256 "
                    "(unless ?meta=1). Stored bytes that no longer match are 409."),
    ("GET", f"{_RUNS}/artifacts"): Op(
        "Artifacts under ?path= in path order, paged", {200: ok(ArtifactPageSchema)},
        query=artifacts_api.ListQuery, problems=(400, 404)),
    ("POST", f"{_RUNS}/artifacts/external"): Op(
        "Register an artifact whose bytes are kept elsewhere", _written("external artifact"),
        body=artifacts_api.ExternalBody, problems=(404, 409),
        description="A client signature that does not verify is 401 and nothing is written."),

    ("POST", "/api/v1/models"): Op(
        "Register a model", {201: ok(ModelCreatedSchema, "Created")}, body=registry_api.ModelCreate,
        problems=_REGISTRY, signed=True),
    ("GET", "/api/v1/models"): Op("Every registered model", {200: ok(ModelListSchema)}),
    ("GET", _MODEL): Op("A model with its versions, aliases and policy",
                        {200: ok(ModelDetailSchema)}, problems=(404,)),
    ("POST", f"{_MODEL}/versions/<int:version>/pin"): Op(
        "Pin an unpinned version to files of a run recorded with digests",
        {200: ok(VersionPinnedSchema)}, body=registry_api.PinBody, problems=_REGISTRY,
        signed=True, description="Register the files first (uploaded, or POST "
        "/api/v1/runs/{run_id}/artifacts/external with their digests); the version is then "
        "pinned to them (a model_version.pinned entry) and may be promoted."),
    ("POST", f"{_MODEL}/versions"): Op(
        "Register a version pinned to a run's artifact and evidence, or (source) an "
        "unpinned version from a source mlaudit does not hold",
        {201: ok(VersionRegisteredSchema, "Created"),
         200: ok(VersionRegisteredSchema, "already registered (receipt null, unchanged true)")},
        body=registry_api.VersionCreate, problems=_REGISTRY, signed=True),
    ("GET", f"{_MODEL}/versions/<int:version>"): Op("One model version",
                                                    {200: ok(ModelVersionSchema)},
                                                    problems=(404,)),
    ("POST", f"{_MODEL}/versions/<int:version>/transition"): Op(
        "Move a version to a stage or @alias", {200: ok(ReceiptListSchema)},
        body=registry_api.Transition, problems=_REGISTRY, signed=True),
    ("PUT", f"{_MODEL}/policy"): Op(
        "Set the model's promotion gate policy (admin)", {200: ok(PolicySetSchema)},
        body=registry_api.PolicyBody, problems=_REGISTRY, signed=True,
        description=registry_api.POLICY_FORMAT + " A model without a policy is shown as "
        "\"no policy set\" (gates passed: null), never as passed."),
    ("PUT", f"{_MODEL}/protected-targets"): Op(
        "Set the stages and @aliases that need an approved promotion",
        {200: ok(ProtectedTargetsSetSchema)}, body=registry_api.ProtectedTargetsBody,
        problems=_REGISTRY, signed=True,
        description="Protected names compare ignoring ASCII case (@Champion is @champion). "
                    "The default set is Production, @champion, @production, @prod, @live. A "
                    "writer may add names; removing one needs an admin (403). A name cannot "
                    "become protected while an alias of it stands unapproved (409). Each "
                    "change is a model.protection_set entry; an unchanged set writes none."),
    ("PUT", f"{_MODEL}/sensitive-attributes"): Op(
        "Set the attributes per-group metrics and gates are judged by",
        {200: ok(SensitiveAttributesSetSchema)}, body=registry_api.SensitiveAttributesBody,
        problems=_REGISTRY, signed=True,
        description="A writer may add attributes; removing one needs an admin (403). Each "
                    "change is a model.sensitive_attributes_set entry."),
    ("POST", f"{_MODEL}/versions/<int:version>/promotions"): Op(
        "Request a promotion", {201: ok(PromotionCreatedSchema, "Created")},
        body=registry_api.PromotionCreate, problems=_REGISTRY, signed=True),
    ("GET", "/api/v1/promotions"): Op("Promotions, optionally by model and status",
                                      {200: ok(PromotionListSchema)},
                                      query=registry_api.PromotionQuery),
    ("GET", "/api/v1/promotions/<promotion_id>"): Op(
        "One promotion with its decisions", {200: ok(PromotionSchema)}, problems=(404,)),
    ("POST", "/api/v1/promotions/<promotion_id>/decisions"): Op(
        "Approve or reject a promotion",
        {200: ok(DecidedSchema),
         403: ok(DecisionRefusedProblemSchema, "Forbidden (a refused decision is committed)",
                 media=PROBLEM)},
        body=registry_api.DecisionCreate, problems=_REGISTRY, signed=True),
    ("POST", "/api/v1/promotions/<promotion_id>/withdraw"): Op(
        "Withdraw a pending promotion", {200: ok(ReceiptOnlySchema)}, problems=_REGISTRY,
        signed=True),
    ("POST", f"{_MODEL}/deployments"): Op(
        "Record a deployment", {201: ok(DeploymentCreatedSchema, "Created")},
        body=registry_api.DeploymentCreate, problems=_REGISTRY, signed=True),
    ("POST", f"{_MODEL}/rollbacks"): Op(
        "Record a rollback", {201: ok(DeploymentCreatedSchema, "Created")},
        body=registry_api.RollbackCreate, problems=_REGISTRY, signed=True),
    ("GET", f"{_MODEL}/deployments"): Op("A model's deployments",
                                         {200: ok(DeploymentListSchema)},
                                         query=registry_api.EnvironmentQuery, problems=(404,)),
    ("GET", f"{_MODEL}/deployed"): Op(
        "Which version was live in an environment at an instant, under which approval",
        {200: ok(DeployedSchema, "version, deployment and model_version are null when no "
                 "version was live then (404 only for an unknown model)")},
        query=registry_api.DeployedQuery, problems=(404,)),
    ("GET", f"{_MODEL}/versions/<int:version>/artifacts"): Op(
        "The files the version pinned (nothing its run recorded afterwards)",
        {200: ok(VersionArtifactsSchema)}, problems=(404, 409)),
    ("GET", f"{_MODEL}/versions/<int:version>/artifacts/<path:path>"): Op(
        "Download a pinned file by its run path, re-hashed against the pinned SHA-256",
        {200: _PINNED_DOWNLOAD,
         404: ok(ExternalArtifactProblemSchema, "Not Found", media=PROBLEM)},
        problems=(400, 404, 409),
        description="A path the version does not pin is 404; an external pinned file is 404 "
                    "naming its uri and sha256; stored bytes that no longer match the pinned "
                    "SHA-256 are 409 and nothing is served."),
    ("GET", f"{_MODEL}/versions/<int:version>/lineage"): Op(
        "A version's runs, datasets, artifacts, promotions, decisions and deployments",
        {200: ok(LineageSchema)}, problems=(404,)),
    ("GET", "/api/v1/reports/runs/<run_id>.pdf"): Op(
        "A signed PDF audit report of one run, with its evidence bundle attached",
        {200: _PDF}, query=reports_api.ReportQuery, problems=(403, 404, 409, 503),
        description=_REPORT_NOTE),
    ("GET", "/api/v1/reports/experiments/<experiment_id>.pdf"): Op(
        "A signed PDF audit report comparing the runs of one experiment",
        {200: _PDF}, query=reports_api.ReportQuery, problems=(403, 404, 409, 503),
        description=_REPORT_NOTE),
    ("GET", "/api/v1/reports/models/<name>.pdf"): Op(
        "A signed PDF audit report of a registered model (all versions, or ?version=)",
        {200: _PDF}, query=reports_api.ModelReportQuery, problems=(403, 404, 409, 503),
        description=_REPORT_NOTE + " as_of limits the policy, versions, promotions, decisions "
        "and deployments to entries recorded by then; runs, stages and aliases are current."),
    ("GET", "/api/v1/reports/lookup"): Op(
        "Whether a PDF (or evidence bundle) with this SHA-256 was issued here, when, for whom",
        {200: ok(_LOOKUP)}, query=reports_api.LookupQuery,
        description='An unknown digest answers 200 {"issued": false}; so does, to a scoped '
        "token, the digest of a report whose subject lies outside its experiments."),
}


# The MLflow-compatible API (app/api/mlflow/compat.py, mlflow_runs.py) speaks MLflow's wire
# format and errors ({"error_code", "message"} as application/json, see MlflowErrorSchema), not
# ours. Its bodies are not described here: see MLflow's REST API reference.
_MLFLOW = ok({"type": "object", "description": "MLflow's response message (proto JSON)"})
_MLFLOW_NOTE = ("MLflow REST API compatibility for the stock mlflow client; errors are MLflow's "
                "{error_code, message}. Bearer token, or Basic auth with token name and secret.")
ROUTES.update({(method, f"/api/2.0/mlflow/{path}"): Op(
    f"MLflow: {path}", {200: _MLFLOW}, description=_MLFLOW_NOTE,
    problems=(400,) if path.endswith("search") else (400, 404))
               for method, path in (
                   ("GET", "experiments/get"), ("GET", "experiments/get-by-name"),
                   ("POST", "experiments/create"), ("GET", "experiments/search"),
                   ("POST", "experiments/search"), ("POST", "runs/create"),
                   ("GET", "runs/get"), ("POST", "runs/update"),
                   ("POST", "runs/log-parameter"), ("POST", "runs/log-metric"),
                   ("POST", "runs/set-tag"), ("POST", "runs/delete-tag"),
                   ("POST", "runs/log-batch"), ("POST", "runs/search"),
                   ("GET", "metrics/get-history"), ("POST", "runs/delete"),
                   ("POST", "runs/restore"), ("POST", "runs/log-inputs"),
                   ("POST", "experiments/delete"), ("POST", "experiments/restore"),
                   ("POST", "experiments/update"), ("POST", "experiments/set-experiment-tag"),
                   ("POST", "experiments/delete-experiment-tag"),
                   ("POST", "registered-models/create"), ("GET", "registered-models/get"),
                   ("PATCH", "registered-models/update"),
                   ("POST", "registered-models/set-tag"),
                   ("DELETE", "registered-models/delete-tag"),
                   ("POST", "registered-models/rename"), ("DELETE", "registered-models/delete"),
                   ("GET", "registered-models/search"),
                   ("GET", "registered-models/get-latest-versions"),
                   ("POST", "registered-models/get-latest-versions"),
                   ("POST", "registered-models/alias"), ("GET", "registered-models/alias"),
                   ("DELETE", "registered-models/alias"), ("POST", "model-versions/create"),
                   ("GET", "model-versions/get"), ("PATCH", "model-versions/update"),
                   ("POST", "model-versions/set-tag"), ("DELETE", "model-versions/delete-tag"),
                   ("DELETE", "model-versions/delete"),
                   ("POST", "model-versions/transition-stage"),
                   ("GET", "model-versions/get-download-uri"),
                   ("GET", "model-versions/search"), ("POST", "logged-models"),
                   ("GET", "logged-models/<model_id>"), ("PATCH", "logged-models/<model_id>"),
                   ("DELETE", "logged-models/<model_id>"),
                   ("PATCH", "logged-models/<model_id>/tags"),
                   ("DELETE", "logged-models/<model_id>/tags/<path:key>"),
                   ("POST", "logged-models/<model_id>/params"),
                   ("POST", "logged-models/search"), ("POST", "runs/outputs"))})

# MLflow's artifact proxy (app/api/mlflow/artifacts.py) and its unauthenticated probes.
_MLFLOW_ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
_MLFLOW_TEXT = ok({"type": "string"}, "plain text", "text/plain")
ROUTES.update({
    ("PUT", f"{_MLFLOW_ARTIFACTS}/<path:path>"): Op(
        "MLflow: upload an artifact (raw body), recorded with its signed digest entry",
        {200: _MLFLOW}, raw_body=True, description=_MLFLOW_NOTE, problems=(400, 404)),
    ("GET", f"{_MLFLOW_ARTIFACTS}/<path:path>"): Op(
        "MLflow: download an artifact's bytes, re-hashed against the recorded SHA-256",
        {200: ok(BINARY, "the bytes", "application/octet-stream")}, description=_MLFLOW_NOTE,
        problems=(400, 404, 409)),
    ("GET", _MLFLOW_ARTIFACTS): Op("MLflow: list a folder's immediate children (?path=)",
                                   {200: _MLFLOW}, query=MlflowArtifactListQuery,
                                   description=_MLFLOW_NOTE, problems=(400, 404)),
    ("DELETE", f"{_MLFLOW_ARTIFACTS}/<path:path>"): Op(
        "MLflow: delete an artifact (always refused: recorded artifacts are never erased)",
        {200: _MLFLOW}, description=_MLFLOW_NOTE, problems=(400,)),
    ("GET", "/api/3.0/mlflow/server-info"): Op(
        "MLflow: server capabilities (no multipart or presigned transfers)", {200: _MLFLOW}),
    ("GET", "/health"): Op("MLflow's health probe: plain OK", {200: _MLFLOW_TEXT}),
    ("GET", "/version"): Op("The MLflow version whose API is implemented, as plain text",
                            {200: _MLFLOW_TEXT}),
})

# Declared environments and demotions (app/api/v1/protection.py).


class EnvironmentSchema(_Out):
    name = _str()
    protected = fields.Boolean(required=True, metadata=_meta(
        "a deployment there needs an approved promotion"))
    adopted = fields.Boolean(required=True, metadata=_meta(
        "declared by the upgrade for an environment deployments used before environments "
        "were declared (environment.adopted)"))
    declared_by = _str()
    declared_seq = _int()
    seq = _int()


class EnvironmentDeclaredSchema(_Out):
    environment = fields.Nested(EnvironmentSchema, required=True)
    receipt = fields.Nested(ReceiptSchema, required=True, allow_none=True)
    unchanged = fields.Boolean(required=True)


class EnvironmentListSchema(_Out):
    environments = _list(EnvironmentSchema)


class ReceiptsSchema(_Out):
    receipts = _list(ReceiptSchema)


class RolledBackSchema(DeploymentCreatedSchema):
    registry = fields.List(fields.Nested(ReceiptSchema), required=True, metadata=_meta(
        "in a protected environment, the stage and alias changes that make the registry "
        "follow the rollback"))


ROUTES[("POST", f"{_MODEL}/rollbacks")] = Op(
    "Record a rollback; in a protected environment the version rolled back from leaves "
    "Production and @champion, with the reason", {201: ok(RolledBackSchema, "Created")},
    body=registry_api.RollbackCreate, problems=_REGISTRY, signed=True)
ROUTES.update({
    ("POST", "/api/v1/environments"): Op(
        "Declare an environment (protected by default), or change its protection",
        {201: ok(EnvironmentDeclaredSchema, "Created"),
         200: ok(EnvironmentDeclaredSchema, "the same declaration: nothing written")},
        body=protection_api.EnvironmentDeclare, problems=(400, 409), signed=True,
        description="A deployment to an undeclared environment is refused (409)."),
    ("GET", "/api/v1/environments"): Op("Every declared environment",
                                        {200: ok(EnvironmentListSchema)}),
    ("POST", f"{_MODEL}/versions/<int:version>/demotions"): Op(
        "Move a version out of a protected stage or alias, with the reason",
        {201: ok(ReceiptsSchema, "Created")}, body=protection_api.DemotionCreate,
        problems=_REGISTRY, signed=True,
        description="MLflow's transition-stage and delete-alias have no field for a reason: "
        "they refuse such a move and point here."),
})

# Field conversions apispec cannot infer from the project's custom fields and validators.

KEY_DOC = (f"1-{MAX_KEY} letters, digits, _ - . / : or space; a relative path without '..' "
           "or '//'")
PARAM_ITEM = {"type": "object", "required": ["key", "value"], "additionalProperties": False,
              "properties": {"key": {"type": "string", "minLength": 1, "maxLength": MAX_KEY,
                                     "description": KEY_DOC},
                             "value": {"type": "string", "maxLength": MAX_PARAM_VALUE}}}


def _custom_fields(self: Any, field: fields.Field[Any], ret: dict[str, Any],
                   **kwargs: Any) -> dict[str, Any]:
    """Types of the project's own fields, and the param items of a batch body."""
    if isinstance(field, fields.Dict):  # a Length validator counts an object's members
        sizes = {"minLength": "minProperties", "maxLength": "maxProperties"}
        return {new: ret.pop(old) for old, new in sizes.items() if old in ret}
    if isinstance(field, ts.NoFloatJson):
        return {"description": "any JSON value whose numbers are all integers"}
    if isinstance(field, ts.MetricValue):
        return {"anyOf": [{"type": "number"}, {"type": "string"}],
                "description": "a number or decimal string ('NaN', 'Infinity', '-Infinity' too)"}
    if isinstance(field, ts.Key):
        return {"minLength": 1, "maxLength": MAX_KEY, "description": KEY_DOC}
    if isinstance(field, artifacts_api.ArtifactPath):
        return {"minLength": 1, "maxLength": MAX_PATH,
                "description": "a relative '/'-separated path without empty, '.' or '..' "
                               "segments, backslash or control characters"}
    if isinstance(field.parent, ts.BatchBody) and field.name == "params":
        return {"items": PARAM_ITEM, "description": "unique keys"}
    return {}


def _anchored_pattern(self: Any, field: fields.Field[Any], ret: dict[str, Any],
                      **kwargs: Any) -> dict[str, Any]:
    """marshmallow's Regexp matches at the start only (re.match); JSON Schema searches."""
    regexes = [v.regex for v in field.validators if isinstance(v, validate.Regexp)]
    if not regexes:
        return {}
    pattern = regexes[0].pattern
    if not isinstance(pattern, str):
        return {}
    if pattern.endswith("\\Z"):
        pattern = pattern[:-2] + "$"
    return {"pattern": pattern if pattern.startswith("^") else f"^(?:{pattern})"}


def _query_value(self: Any, field: fields.Field[Any], ret: dict[str, Any],
                 **kwargs: Any) -> dict[str, Any]:
    """A query string has no null: drop nullable and a null default from query parameters."""
    schema = ret.get("schema", {})
    schema.pop("nullable", None)
    if "default" in schema and schema["default"] is None:
        del schema["default"]
    return {}


def _new_spec(version: str) -> APISpec:
    plugin = MarshmallowPlugin(schema_name_resolver=_schema_name)
    spec = APISpec(title="mlaudit", version=version, openapi_version="3.0.3", plugins=[plugin],
                   info={"description": "A tamper-evident audit ledger for machine learning. "
                                        "Errors are RFC 9457 application/problem+json (on the "
                                        "MLflow-compatible routes, MLflow's {error_code, "
                                        "message} as application/json). Every "
                                        "response carries an X-Request-ID header: the "
                                        "request's own, if it sent a valid one (1-64 of "
                                        "A-Z a-z 0-9 . _ : -), else a new one. Promotion "
                                        "gate policies (PUT /api/v1/models/{name}/policy) "
                                        "are documented with examples in docs/policies.md "
                                        "of the mlaudit source. " + SCOPE_NOTE},
                   security=[{"bearerAuth": []}])
    assert plugin.converter is not None
    plugin.converter.add_attribute_function(_custom_fields)  # type: ignore[no-untyped-call]
    plugin.converter.add_attribute_function(_anchored_pattern)  # type: ignore[no-untyped-call]
    plugin.converter.add_parameter_attribute_function(_query_value)
    _components(spec)
    return spec


def _schema_name(schema: type[Schema] | Schema) -> str:
    cls = schema if isinstance(schema, type) else type(schema)
    return cls.__name__.removesuffix("Schema")


PROBLEMS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            409: "Conflict", 413: "Content Too Large", 415: "Unsupported Media Type",
            429: "Too Many Requests: over MLAUDIT_RATE_LIMIT for this token (MLflow routes "
                 "answer {error_code: REQUEST_LIMIT_EXCEEDED, message})",
            503: "Service Unavailable"}


# The MLflow-compatible routes' errors: MLflow's error_code for each status, as application/json
# (app/api/mlflow/compat.py). 409 is RESOURCE_CONFLICT (stored artifact bytes changed).
MLFLOW_ERRORS = {400: "INVALID_PARAMETER_VALUE", 401: "UNAUTHENTICATED",
                 403: "PERMISSION_DENIED", 404: "RESOURCE_DOES_NOT_EXIST",
                 409: "RESOURCE_CONFLICT", 413: "INVALID_PARAMETER_VALUE: the body is too large",
                 429: "REQUEST_LIMIT_EXCEEDED"}


def _components(spec: APISpec) -> None:
    spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Problem", schema=ProblemSchema)
    problem = {"schema": {"$ref": "#/components/schemas/Problem"}}
    spec_headers = {401: {"WWW-Authenticate": {"schema": {"type": "string"}}},
                    429: {"Retry-After": {"description": "whole seconds to wait",
                                          "schema": {"type": "integer"}}}}
    for status, title in PROBLEMS.items():
        response: dict[str, Any] = {"description": title, "content": {PROBLEM: problem}}
        if status in spec_headers:
            response["headers"] = spec_headers[status]
        spec.components.response(f"Problem{status}", response)
    spec.components.response("Problem", {"description": "any other error (e.g. 422, 500)",
                                         "content": {PROBLEM: problem}})
    spec.components.response("UriTooLong", {
        "description": "URI Too Long: the request line is longer than the HTTP server in front "
                       "of the app accepts (werkzeug's, under `mlaudit serve`: 65,536 bytes), "
                       "so the server answers with its own page and the app never sees the "
                       "request. gunicorn answers such a request 400, also with its own page "
                       "(limit_request_line).",
        "content": {"text/html": {"schema": {"type": "string"}}}})
    spec.components.schema("MlflowError", schema=MlflowErrorSchema)
    mlflow = {"schema": {"$ref": "#/components/schemas/MlflowError"}}
    for status, title in MLFLOW_ERRORS.items():
        response = {"description": title, "content": {"application/json": mlflow}}
        if status in (401, 429):
            response["headers"] = spec_headers[status]
        spec.components.response(f"MlflowError{status}", response)
    spec.components.response("MlflowError", {"description": "any other error (e.g. 503)",
                                             "content": {"application/json": mlflow}})
    spec.components.parameter("ClientSignatureHeader", "header", {
        "name": SIGNATURE_HEADER, "required": False,
        "schema": {"type": "string", "pattern": r"^\s*keyid=[0-9a-f]{16}\s*,\s*t=[0-9]{1,12}"
                                                r"\s*,\s*sig=\S+\s*$"},
        "description": "Optional client signature with a key registered at /api/v1/client-keys: "
                       "Ed25519 over the method, path and query, timestamp `t` (Unix seconds, "
                       f"within {WINDOW_SECONDS} s of the server's clock) and body SHA-256 "
                       "(docs/ledger-format.md, Client request signatures); recorded in every "
                       "entry the request makes, and usable once. A bad, stale or replayed one "
                       "is 401; on a request with a body that is not JSON it is 400."})


# Building the document from app.url_map.

PARAM = re.compile(r"<(?:(?P<converter>\w+)(?P<args>\(.*?\))?:)?(?P<name>\w+)>")


class RegistryMismatch(LookupError):
    """A route without documentation, or documentation without a route."""


def app_routes(app: Flask) -> list[tuple[str, Rule]]:
    """Every (method, rule) the app serves, HEAD and OPTIONS aside."""
    return sorted(((method, rule) for rule in app.url_map.iter_rules()
                   for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}),
                  key=lambda pair: (pair[1].rule, pair[0]))


def path_parameter(converter: str | None, args: str | None, name: str) -> dict[str, Any]:
    """The OpenAPI path parameter for one Werkzeug converter; an unknown one is an error."""
    base = {"in": "path", "name": name, "required": True}
    if args:
        raise RegistryMismatch(f"converter arguments in <{converter}{args}:{name}> are not "
                               "documented yet")
    if converter == "int":
        return {**base, "schema": {"type": "integer", "minimum": 0}}
    if converter == "path":
        return {**base, "schema": {"type": "string", "minLength": 1, "pattern": "^[^/]"},
                "description": "may contain '/' (Werkzeug path converter), sent as is or as "
                               "%2F; it cannot start with '/'"}
    if converter in (None, "default", "string"):
        return {**base, "schema": {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}}
    raise RegistryMismatch(f"converter {converter!r} in <{converter}:{name}> is not documented")


def path_template(rule: str) -> tuple[str, list[dict[str, Any]]]:
    """'/runs/<run_id>/tags/<path:key>' -> ('/runs/{run_id}/tags/{key}', path parameters)."""
    params = [path_parameter(m["converter"], m["args"], m["name"]) for m in PARAM.finditer(rule)]
    return PARAM.sub(lambda m: "{" + m["name"] + "}", rule), params


def _check_registry(routes: list[tuple[str, Rule]]) -> None:
    served = {(method, rule.rule) for method, rule in routes}
    missing, stale = sorted(served - ROUTES.keys()), sorted(ROUTES.keys() - served)
    if missing or stale:
        raise RegistryMismatch(f"routes missing from openapi.ROUTES: {missing}; "
                               f"ROUTES entries without a route: {stale}")


def _problem_statuses(op: Op, roles: frozenset[str] | None) -> list[int]:
    """The problem+json statuses an operation can answer, derived where the code allows."""
    found = set(op.problems)
    if op.query or op.body:
        found.add(400)
    if op.body:
        found |= {413, 415}
    if op.raw_body:
        found.add(413)
    if op.signed:
        found |= {400, 401}
    if roles is not None:
        found |= {401, 429}  # 429 only when MLAUDIT_RATE_LIMIT is set
        if roles != ALL_ROLES:
            found.add(403)
    return sorted(found)


def _request_body(op: Op) -> dict[str, Any] | None:
    if op.body is not None:
        return {"required": True, "content": {"application/json": {"schema": op.body}}}
    if op.raw_body:
        return {"required": True, "description": "the artifact's bytes, any content type",
                "content": {"application/octet-stream": {"schema": BINARY}}}
    return None


def _description(op: Op, roles: frozenset[str] | None) -> str:
    if roles is None:
        who = "No authentication."
    elif roles == ALL_ROLES:
        who = "Any role."
    else:
        who = f"Roles: {', '.join(sorted(roles))}."
    return f"{op.description} {who}".strip()


def operation(app: Flask, method: str, rule: Rule, op: Op) -> dict[str, Any]:
    """The OpenAPI operation for one route (apispec resolves the marshmallow schemas)."""
    roles: frozenset[str] | None = getattr(app.view_functions[rule.endpoint],
                                           "required_roles", None)
    parameters: list[dict[str, Any] | str] = [*path_template(rule.rule)[1]]
    if op.query is not None:
        parameters.append({"in": "query", "schema": op.query})
    if op.signed:
        parameters.append("ClientSignatureHeader")
    # The MLflow blueprints answer errors in MLflow's format (mlflow_compat.error_response).
    errors = "MlflowError" if rule.endpoint.startswith("mlflow") else "Problem"
    responses: dict[Any, Any] = {str(s): r for s, r in sorted(op.responses.items())}
    for status in _problem_statuses(op, roles):
        responses.setdefault(str(status), f"{errors}{status}")
    if op.query is not None:  # a query string can be longer than the server's request line
        responses.setdefault("414", "UriTooLong")
    responses["default"] = errors
    found: dict[str, Any] = {
        "operationId": rule.endpoint.replace(".", "_") + ("" if method == "GET" else
                                                          f"_{method.lower()}"),
        "summary": op.summary, "description": _description(op, roles),
        "tags": [rule.endpoint.split(".")[0]],
        "parameters": parameters, "responses": responses}
    body = _request_body(op)
    if body is not None:
        found["requestBody"] = body
    if roles is None:
        found["security"] = []
    return found


def build_spec(app: Flask) -> dict[str, Any]:
    """The whole document; every served route must be in ROUTES and vice versa."""
    from app import __version__

    routes = app_routes(app)
    _check_registry(routes)
    spec = _new_spec(__version__)
    for method, rule in routes:
        template, _ = path_template(rule.rule)
        spec.path(path=template,
                  operations={method.lower(): operation(app, method, rule,
                                                        ROUTES[(method, rule.rule)])})
    return spec.to_dict()


@bp.get("/openapi.json")
@require()
def openapi_document() -> Response:
    """The document, built on first use and kept for the app's lifetime."""
    if EXTENSION not in current_app.extensions:
        current_app.extensions[EXTENSION] = build_spec(current_app)
    return jsonify(current_app.extensions[EXTENSION])
