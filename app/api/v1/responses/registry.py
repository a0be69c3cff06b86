"""Output schemas of the /api/v1 model registry: models, versions and policies."""

from __future__ import annotations

from marshmallow import fields, validate

from app.api.http.docs import Out, described, integer, many, string_map, text
from app.api.http.receipts import ReceiptSchema

OPEN = "an open JSON object"


GATES = ("the gate evaluation: {policy_seq, policy_set_by, passed, results: [{gate, passed, "
         "detail, figures}]}; with no policy, policy_seq and passed are null: no policy, not "
         "a pass (docs/policies.md)")


REGISTRY_PROBLEMS = (400, 403, 404, 409)  # registry.Invalid, registry.Forbidden, NotFound, Conflict


class ModelSchema(Out):
    name = text()
    description = text()
    owner = text()
    tags = string_map()
    sensitive_attributes = many(fields.String())
    protected_targets = many(fields.String())
    quorum = integer()
    created_by = text()
    created_seq = integer()


class ModelVersionSchema(Out):
    model = text()
    version = integer()
    run_id = text("null while the version is unpinned", allow_none=True)
    artifact_path = text()
    evidence = fields.Dict(required=True, metadata=described(OPEN))
    version_digest = text("SHA-256, 64 hex digits")
    stage = text(validate=validate.OneOf(["None", "Staging", "Production", "Archived"]))
    created_by = text()
    created_seq = integer()
    pinned = fields.Boolean(required=True, metadata=described(
        "false: registered from a source mlaudit does not hold (evidence {pinned: false, "
        "source, run}); it reaches no protected stage or alias until pinned"))


class VersionPinnedSchema(Out):
    model_version = fields.Nested(ModelVersionSchema, required=True)
    receipt = fields.Nested(ReceiptSchema, required=True)


class PolicyRecordSchema(Out):
    policy = fields.Dict(required=True, metadata=described(OPEN))
    set_by = text()
    seq = integer()


class PolicySetSchema(Out):
    receipt = fields.Nested(ReceiptSchema, required=True)
    policy = fields.Dict(required=True, metadata=described(
        "the policy as stored and hashed: every key, sorted lists, thresholds as decimal "
        "strings"))


class ProtectedTargetsSetSchema(Out):
    protected_targets = many(fields.String())
    receipt = fields.Nested(ReceiptSchema, required=True, allow_none=True)
    unchanged = fields.Boolean(required=True)


class SensitiveAttributesSetSchema(Out):
    sensitive_attributes = many(fields.String())
    receipt = fields.Nested(ReceiptSchema, required=True, allow_none=True)
    unchanged = fields.Boolean(required=True)


class ModelDetailSchema(ModelSchema):
    versions = many(ModelVersionSchema)
    aliases = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    policy = fields.Nested(PolicyRecordSchema, required=True, allow_none=True)


class ModelCreatedSchema(Out):
    model = fields.Nested(ModelSchema, required=True)
    receipt = fields.Nested(ReceiptSchema, required=True)


class ModelListSchema(Out):
    models = many(ModelSchema)


class VersionRegisteredSchema(Out):
    version = integer()
    model_version = fields.Nested(ModelVersionSchema, required=True)
    receipt = fields.Nested(ReceiptSchema, required=True, allow_none=True)
    unchanged = fields.Boolean(required=True)

