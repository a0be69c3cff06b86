"""Output schemas of /api/v1 promotions, decisions, deployments, environments and lineage."""

from __future__ import annotations

from marshmallow import fields, validate

from app.api.http.docs import (
    Out,
    ProblemSchema,
    described,
    integer,
    many,
    text,
    timestamp,
)
from app.api.http.receipts import ReceiptSchema
from app.api.v1.responses.registry import GATES, ModelVersionSchema


class DecisionSchema(Out):
    promotion_id = text()
    seq = integer()
    approver = text()
    role = text()
    outcome = text(validate=validate.OneOf(["approve", "reject", "refused"]))
    comment = text()
    exception = fields.Dict(required=True, allow_none=True)
    version_digest = text()
    gates = fields.Dict(required=True, metadata=described(GATES))


class PromotionSchema(Out):
    id = text()
    model = text()
    version = integer()
    target = text()
    justification = text()
    classification = text(allow_none=True)
    requested_by = text()
    status = text(validate=validate.OneOf(["pending", "approved", "rejected", "withdrawn",
                                           "invalidated"]))
    gates = fields.Dict(required=True, metadata=described(GATES))
    created_seq = integer()
    closed_seq = integer(allow_none=True)
    decisions = fields.List(fields.Nested(DecisionSchema),
                            metadata=described("present where one promotion is asked for"))


class PromotionCreatedSchema(Out):
    id = text()
    promotion = fields.Nested(PromotionSchema, required=True)
    receipt = fields.Nested(ReceiptSchema, required=True)


class PromotionListSchema(Out):
    promotions = many(PromotionSchema)


class DecidedSchema(Out):
    status = text()
    receipts = many(ReceiptSchema)
    gates = fields.Dict(required=True, allow_none=True)


class DecisionRefusedProblemSchema(ProblemSchema):
    receipts = fields.List(fields.Nested(ReceiptSchema),
                           metadata=described("a refused decision is committed, then answered 403"))
    gates = fields.Dict(allow_none=True)


class DeploymentSchema(Out):
    id = text()
    model = text()
    version = integer()
    environment = text()
    deployer = text()
    target = fields.Dict(required=True)
    promotion_id = text(allow_none=True)
    rollback_of = text(allow_none=True)
    reason = text(allow_none=True)
    deployed_at = timestamp()
    seq = integer()


class DeploymentCreatedSchema(Out):
    deployment = fields.Nested(DeploymentSchema, required=True)
    receipt = fields.Nested(ReceiptSchema, required=True)


class DeploymentListSchema(Out):
    deployments = many(DeploymentSchema)


class DeployedSchema(Out):
    """`version`, `deployment` and `model_version` are null when nothing was live then."""

    version = integer(allow_none=True)
    environment = text()
    at = text("the instant asked about (ISO 8601)")
    deployment = fields.Nested(DeploymentSchema, required=True, allow_none=True)
    promotion = fields.Nested(PromotionSchema, required=True, allow_none=True)
    model_version = fields.Nested(ModelVersionSchema, required=True, allow_none=True)


class LineageRunSchema(Out):
    run_id = text()
    name = text()
    source = fields.Dict(required=True)
    created_seq = integer()
    ended_seq = integer(allow_none=True)


class LineageSchema(Out):
    model_version = fields.Nested(ModelVersionSchema, required=True)
    runs = many(LineageRunSchema)
    datasets = many(fields.Dict())
    artifacts = many(fields.Dict())
    promotions = many(PromotionSchema)
    deployments = many(DeploymentSchema)


class EnvironmentSchema(Out):
    name = text()
    protected = fields.Boolean(required=True, metadata=described(
        "a deployment there needs an approved promotion"))
    adopted = fields.Boolean(required=True, metadata=described(
        "declared by the upgrade for an environment deployments used before environments "
        "were declared (environment.adopted)"))
    declared_by = text()
    declared_seq = integer()
    seq = integer()


class EnvironmentDeclaredSchema(Out):
    environment = fields.Nested(EnvironmentSchema, required=True)
    receipt = fields.Nested(ReceiptSchema, required=True, allow_none=True)
    unchanged = fields.Boolean(required=True)


class EnvironmentListSchema(Out):
    environments = many(EnvironmentSchema)


class RolledBackSchema(DeploymentCreatedSchema):
    registry = fields.List(fields.Nested(ReceiptSchema), required=True, metadata=described(
        "in a protected environment, the stage and alias changes that make the registry "
        "follow the rollback"))

