"""/api/v1 model registry: models, versions, promotions, decisions, deployments, as-of, lineage."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify
from marshmallow import ValidationError, fields, validate, validates_schema

from app.api.http.auth import current_principal, require
from app.api.http.docs import ok, operation
from app.api.http.errors import ApiError
from app.api.http.receipts import RECEIPT_LIST, ReceiptListSchema
from app.api.http.scope import (
    authorize_model,
    authorize_run,
    authorize_version,
    visible_models,
)
from app.api.http.units import commit, read
from app.api.v1.responses.registry import (
    REGISTRY_PROBLEMS,
    ModelCreatedSchema,
    ModelDetailSchema,
    ModelListSchema,
    ModelVersionSchema,
    PolicySetSchema,
    ProtectedTargetsSetSchema,
    SensitiveAttributesSetSchema,
    VersionPinnedSchema,
    VersionRegisteredSchema,
)
from app.api.v1.schemas import _Strict
from app.api.v1.tracking import WRITERS, body
from app.api.v1.tracking_schemas import _mapping
from app.ledger.entry import format_timestamp
from app.services import registry, unpinned
from app.storage import registry as store
from app.tracking.limits import (
    ATTRIBUTE_PATTERN,
    MAX_BATCH_TAGS,
    MAX_DESCRIPTION,
    MAX_REGISTRY_TAG_VALUE,
)

bp = Blueprint("registry", __name__, url_prefix="/api/v1")
POLICY_FORMAT = ("The gate policy: required_params, required_tags, required_dataset_contexts, "
                 "require_group_metrics, fairness, minimums, maximums; thresholds as decimal "
                 "strings or JSON numbers (stored as decimal strings). The format, with "
                 "examples, is docs/policies.md in the mlaudit source.")
NAME = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,249}$")


class ModelCreate(_Strict):
    name = fields.String(required=True, validate=NAME)
    description = fields.String(load_default="", validate=validate.Length(max=MAX_DESCRIPTION))
    owner = fields.String(load_default="", validate=validate.Length(max=256))
    tags = _mapping(MAX_REGISTRY_TAG_VALUE, MAX_BATCH_TAGS)
    sensitive_attributes = fields.List(fields.String(validate=validate.Regexp(
        ATTRIBUTE_PATTERN.pattern)), load_default=list, validate=validate.Length(max=16))
    protected_targets = fields.List(fields.String(validate=validate.Length(1, 256)),
                                    load_default=None, validate=validate.Length(max=16))
    quorum = fields.Integer(load_default=1, strict=True, validate=validate.Range(1, 10))


class VersionCreate(_Strict):
    """Files of a run of ours (run_id and artifact_path: pinned), or a source we do not hold
    (source, and the run_id it came from if any: unpinned until POST .../pin)."""

    run_id = fields.String(load_default=None, validate=validate.Length(1, 64))
    artifact_path = fields.String(load_default=None, validate=validate.Length(1, 1000))
    source = fields.String(load_default=None, validate=validate.Length(1, 2000))

    @validates_schema
    def _one_way(self, data: dict[str, Any], **_: Any) -> None:
        if data["source"] is not None and data["artifact_path"] is not None:
            raise ValidationError("give artifact_path (files of a run) or source (a source "
                                  "mlaudit does not hold), not both", "source")
        if data["source"] is None and (data["run_id"] is None or data["artifact_path"] is None):
            raise ValidationError("run_id and artifact_path are required (or source, for a "
                                  "version unpinned until its files are registered)", "run_id")


class PinBody(_Strict):
    run_id = fields.String(required=True, validate=validate.Length(1, 64))
    artifact_path = fields.String(required=True, validate=validate.Length(1, 1000))


class Transition(_Strict):
    target = fields.String(required=True, validate=validate.Length(1, 256))


class PolicyBody(_Strict):
    policy = fields.Dict(required=True, metadata={"description": POLICY_FORMAT})


class ProtectedTargetsBody(_Strict):
    protected_targets = fields.List(fields.String(validate=validate.Length(1, 256)),
                                    required=True, validate=validate.Length(max=16))


class SensitiveAttributesBody(_Strict):
    sensitive_attributes = fields.List(fields.String(validate=validate.Regexp(
        ATTRIBUTE_PATTERN.pattern)), required=True, validate=validate.Length(max=16))


class PromotionCreate(_Strict):
    target = fields.String(required=True, validate=validate.Length(1, 256))
    justification = fields.String(required=True, validate=validate.Length(1, 10_000))
    classification = fields.String(load_default=None,
                                   validate=validate.OneOf(["material", "non-material"]))


class ExceptionSchema(_Strict):
    justification = fields.String(required=True, validate=validate.Length(1, 10_000))


class DecisionCreate(_Strict):
    decision = fields.String(required=True, validate=validate.OneOf(["approve", "reject"]))
    comment = fields.String(required=True, validate=validate.Length(1, 10_000))
    exception = fields.Nested(ExceptionSchema, load_default=None)


class DeploymentCreate(_Strict):
    version = fields.Integer(required=True, strict=True, validate=validate.Range(1, 2**31 - 1))
    environment = fields.String(required=True, validate=NAME)
    promotion_id = fields.String(load_default=None, validate=validate.Length(1, 64))
    target = fields.Dict(keys=fields.String(validate=validate.OneOf(["endpoint", "image_digest"])),
                         values=fields.String(validate=validate.Length(max=2000)),
                         load_default=dict)


class RollbackCreate(_Strict):
    version = fields.Integer(required=True, strict=True, validate=validate.Range(1, 2**31 - 1))
    environment = fields.String(required=True, validate=NAME)
    reason = fields.String(required=True, validate=validate.Length(1, 10_000))


class DeployedQuery(_Strict):
    environment = fields.String(required=True, validate=NAME)
    at = fields.AwareDateTime(load_default=None)


class EnvironmentQuery(_Strict):
    environment = fields.String(load_default=None, validate=NAME)


class PromotionQuery(_Strict):
    model = fields.String(load_default=None, validate=NAME)
    status = fields.String(load_default=None, validate=validate.OneOf(
        ["pending", "approved", "rejected", "withdrawn", "invalidated"]))


def run_unit(unit: Any) -> Any:
    try:
        return commit(unit)
    except registry.Invalid as exc:
        raise ApiError(400, "Bad Request", str(exc)) from exc
    except registry.Forbidden as exc:
        raise ApiError(403, "Forbidden", str(exc)) from exc


def version_json(row: store.VersionRow) -> dict[str, Any]:
    return {"model": row.model_name, "version": row.version, "run_id": row.run_id,
            "artifact_path": row.artifact_path, "evidence": row.evidence,
            "version_digest": row.version_digest, "stage": row.stage,
            "created_by": row.created_by, "created_seq": row.created_seq,
            "pinned": row.run_id is not None}


def promotion_json(row: store.PromotionRow, conn: Any = None) -> dict[str, Any]:
    out = {"id": row.id, "model": row.model_name, "version": row.version, "target": row.target,
           "justification": row.justification, "classification": row.classification,
           "requested_by": row.requested_by, "status": row.status, "gates": row.gates,
           "created_seq": row.created_seq, "closed_seq": row.closed_seq}
    if conn is not None:
        out["decisions"] = [vars(d) for d in store.decisions(conn, row.id)]
    return out


def deployment_json(row: store.DeploymentRow) -> dict[str, Any]:
    return {"id": row.id, "model": row.model_name, "version": row.version,
            "environment": row.environment, "deployer": row.deployer, "target": row.target,
            "promotion_id": row.promotion_id, "rollback_of": row.rollback_of,
            "reason": row.reason, "deployed_at": format_timestamp(row.deployed_at),
            "seq": row.seq}


# Responses are serialised by the schemas their operations document (the *_json helpers
# above rename columns: model_name is `model`, pinned is whether run_id is set).
MODEL_CREATED, MODEL_LIST = ModelCreatedSchema(), ModelListSchema()
MODEL_DETAIL, MODEL_VERSION = ModelDetailSchema(), ModelVersionSchema()
VERSION_REGISTERED = VersionRegisteredSchema()
VERSION_PINNED, POLICY_SET = VersionPinnedSchema(), PolicySetSchema()
PROTECTED_SET, ATTRIBUTES_SET = ProtectedTargetsSetSchema(), SensitiveAttributesSetSchema()


def _found(value: Any, what: str) -> Any:
    if value is None:
        raise ApiError(404, "Not Found", f"{what} does not exist")
    return value


@bp.post("/models")
@operation(
    "Register a model", {201: ok(ModelCreatedSchema, "Created")}, body=ModelCreate,
    problems=REGISTRY_PROBLEMS, signed=True)
@require(*WRITERS)
def create_model() -> tuple[Response, int]:
    data = body(ModelCreate())
    principal = current_principal()
    if data["protected_targets"] is not None and principal.role != "admin":
        try:
            given = registry.protected_set(data["protected_targets"])
        except registry.Invalid as exc:
            raise ApiError(400, "Bad Request", str(exc)) from exc
        left_open = registry.left_open(sorted(registry.DEFAULT_PROTECTED), given)
        if left_open:  # a builder must not choose to need no approval
            raise ApiError(403, "Forbidden", "only an admin may create a model that leaves "
                           f"{', '.join(left_open)} unprotected")
    actor = principal.actor
    receipt = run_unit(lambda w: registry.create_model(
        w, actor, data["name"], data["description"], data["owner"], data["tags"],
        data["sensitive_attributes"], data["protected_targets"], data["quorum"]))
    model = read(lambda c: store.get_model(c, data["name"]))
    return jsonify(MODEL_CREATED.dump({"model": model, "receipt": receipt})), 201


@bp.get("/models")
@operation("Every registered model", {200: ok(ModelListSchema)})
@require()
def list_models() -> Response:
    models = visible_models(read(store.list_models), lambda m: m.name)
    return jsonify(MODEL_LIST.dump({"models": models}))


@bp.get("/models/<name>")
@operation("A model with its versions, aliases and policy",
           {200: ok(ModelDetailSchema)}, problems=(404,))
@require()
def get_model(name: str) -> Response:
    authorize_model(name)

    def fetch(conn: Any) -> dict[str, Any]:
        model = _found(store.get_model(conn, name), f"model {name!r}")
        policy = store.current_policy(conn, name)
        return {**vars(model), "versions": [version_json(v) for v in
                                             store.list_versions(conn, name)],
                "aliases": store.aliases(conn, name),
                "policy": None if policy is None else {"policy": policy[0], "set_by": policy[1],
                                                       "seq": policy[2]}}
    return jsonify(MODEL_DETAIL.dump(read(fetch)))


@bp.post("/models/<name>/versions")
@operation(
    "Register a version pinned to a run's artifact and evidence, or (source) an "
    "unpinned version from a source mlaudit does not hold",
    {201: ok(VersionRegisteredSchema, "Created"),
     200: ok(VersionRegisteredSchema, "already registered (receipt null, unchanged true)")},
    body=VersionCreate, problems=REGISTRY_PROBLEMS, signed=True)
@require(*WRITERS)
def register_version(name: str) -> tuple[Response, int]:
    data = body(VersionCreate())
    if data["source"] is not None:
        return _register_unpinned(name, data)
    authorize_run(data["run_id"])
    authorize_model(name)
    actor = current_principal().actor
    row, receipt = run_unit(lambda w: registry.register_version(
        w, actor, name, data["run_id"], data["artifact_path"]))
    return jsonify(VERSION_REGISTERED.dump({
        "version": row.version, "model_version": version_json(row), "receipt": receipt,
        "unchanged": receipt is None})), 201 if receipt else 200


def _register_unpinned(name: str, data: dict[str, Any]) -> tuple[Response, int]:
    authorize_model(name)
    principal = current_principal()
    scoped = principal.role != "admin" and principal.scope is not None
    number, receipt = run_unit(lambda w: unpinned.register_unpinned(
        w, principal.actor, name, data["source"], data["run_id"], {}, None, scoped))
    row = _found(read(lambda c: store.get_version(c, name, number)), f"version {number}")
    return jsonify(VERSION_REGISTERED.dump({
        "version": number, "model_version": version_json(row), "receipt": receipt,
        "unchanged": False})), 201


@bp.post("/models/<name>/versions/<int:version>/pin")
@operation(
    "Pin an unpinned version to files of a run recorded with digests",
    {200: ok(VersionPinnedSchema)}, body=PinBody, problems=REGISTRY_PROBLEMS,
    signed=True, description="Register the files first (uploaded, or POST "
    "/api/v1/runs/{run_id}/artifacts/external with their digests); the version is then "
    "pinned to them (a model_version.pinned entry) and may be promoted.")
@require(*WRITERS)
def pin_version(name: str, version: int) -> Response:
    """Pin an unpinned version to files of a run recorded with digests (uploaded, or
    registered by POST /runs/{id}/artifacts/external)."""
    data = body(PinBody())
    authorize_run(data["run_id"])
    authorize_model(name)
    actor = current_principal().actor
    row, receipt = run_unit(lambda w: unpinned.pin_version(
        w, actor, name, version, data["run_id"], data["artifact_path"]))
    return jsonify(VERSION_PINNED.dump({"model_version": version_json(row), "receipt": receipt}))


@bp.get("/models/<name>/versions/<int:version>")
@operation("One model version",
           {200: ok(ModelVersionSchema)},
           problems=(404,))
@require()
def get_version(name: str, version: int) -> Response:
    authorize_version(name, version)
    row = read(lambda c: store.get_version(c, name, version))
    return jsonify(MODEL_VERSION.dump(version_json(_found(row, f"version {version} of {name!r}"))))


@bp.post("/models/<name>/versions/<int:version>/transition")
@operation(
    "Move a version to a stage or @alias", {200: ok(ReceiptListSchema)},
    body=Transition, problems=REGISTRY_PROBLEMS, signed=True)
@require(*WRITERS)
def transition(name: str, version: int) -> Response:
    target = body(Transition())["target"]
    authorize_version(name, version)
    actor = current_principal().actor
    receipts = run_unit(lambda w: registry.move(w, actor, name, version, target))
    return jsonify(RECEIPT_LIST.dump({"receipts": receipts}))


@bp.put("/models/<name>/policy")
@operation(
    "Set the model's promotion gate policy (admin)", {200: ok(PolicySetSchema)},
    body=PolicyBody, problems=REGISTRY_PROBLEMS, signed=True,
    description=POLICY_FORMAT + " A model without a policy is shown as "
    "\"no policy set\" (gates passed: null), never as passed.")
@require("admin")
def set_policy(name: str) -> Response:
    policy = body(PolicyBody())["policy"]
    authorize_model(name)
    actor = current_principal().actor
    receipt = run_unit(lambda w: registry.set_policy(w, actor, name, policy))
    stored = read(lambda c: store.current_policy(c, name))
    return jsonify(POLICY_SET.dump({"receipt": receipt, "policy": stored[0] if stored else None}))


# A model's protected names and sensitive attributes, after creation (issue 16): a writer
# may add, only an admin may take away (see registry.set_protected_targets).

@bp.put("/models/<name>/protected-targets")
@operation(
    "Set the stages and @aliases that need an approved promotion",
    {200: ok(ProtectedTargetsSetSchema)}, body=ProtectedTargetsBody,
    problems=REGISTRY_PROBLEMS, signed=True,
    description="Protected names compare ignoring ASCII case (@Champion is @champion). "
                "The default set is Production, @champion, @production, @prod, @live. A "
                "writer may add names; removing one needs an admin (403). A name cannot "
                "become protected while an alias of it stands unapproved (409). Each "
                "change is a model.protection_set entry; an unchanged set writes none.")
@require(*WRITERS)
def set_protected_targets(name: str) -> Response:
    texts = body(ProtectedTargetsBody())["protected_targets"]
    authorize_model(name)
    principal = current_principal()
    targets, receipt = run_unit(lambda w: registry.set_protected_targets(
        w, principal.actor, name, texts, principal.role == "admin"))
    return jsonify(PROTECTED_SET.dump({"protected_targets": targets, "receipt": receipt,
                                       "unchanged": receipt is None}))


@bp.put("/models/<name>/sensitive-attributes")
@operation(
    "Set the attributes per-group metrics and gates are judged by",
    {200: ok(SensitiveAttributesSetSchema)}, body=SensitiveAttributesBody,
    problems=REGISTRY_PROBLEMS, signed=True,
    description="A writer may add attributes; removing one needs an admin (403). Each "
                "change is a model.sensitive_attributes_set entry.")
@require(*WRITERS)
def set_sensitive_attributes(name: str) -> Response:
    attributes = body(SensitiveAttributesBody())["sensitive_attributes"]
    authorize_model(name)
    principal = current_principal()
    chosen, receipt = run_unit(lambda w: registry.set_sensitive_attributes(
        w, principal.actor, name, attributes, principal.role == "admin"))
    return jsonify(ATTRIBUTES_SET.dump({"sensitive_attributes": chosen, "receipt": receipt,
                                        "unchanged": receipt is None}))
