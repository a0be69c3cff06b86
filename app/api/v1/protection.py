"""/api/v1 declared environments, and demotions out of a protected stage or alias."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from marshmallow import fields, validate

from app.api.http.auth import current_principal, require
from app.api.http.docs import ok, operation
from app.api.http.receipts import RECEIPTS, ReceiptsSchema
from app.api.http.scope import authorize_version
from app.api.http.units import read
from app.api.v1.registry import NAME, run_unit
from app.api.v1.responses.promotions import EnvironmentDeclaredSchema, EnvironmentListSchema
from app.api.v1.responses.registry import REGISTRY_PROBLEMS
from app.api.v1.schemas import _Strict
from app.api.v1.tracking import WRITERS, body
from app.services import demotions, environments
from app.storage import environments as store

bp = Blueprint("protection", __name__, url_prefix="/api/v1")
MAX_REASON = 10_000


class EnvironmentDeclare(_Strict):
    name = fields.String(required=True, validate=NAME)
    protected = fields.Boolean(load_default=True, metadata={
        "description": "whether a deployment there needs an approved promotion (default true)"})
    reason = fields.String(load_default=None, validate=validate.Length(1, MAX_REASON),
                           metadata={"description": "why its protection changes (recorded)"})


class DemotionCreate(_Strict):
    from_ = fields.String(required=True, data_key="from", validate=validate.Length(1, 256),
                          metadata={"description": "the protected stage or @alias it leaves"})
    to = fields.String(load_default=demotions.ARCHIVED, validate=validate.Length(1, 256),
                       metadata={"description": "the unprotected stage it moves to (stage "
                                                "demotions only; default Archived)"})
    reason = fields.String(required=True, validate=validate.Length(1, MAX_REASON))


# Responses are serialised by the schemas their operations document, straight from the rows.
DECLARED, ENVIRONMENTS = EnvironmentDeclaredSchema(), EnvironmentListSchema()


@bp.post("/environments")
@operation(
    "Declare an environment (protected by default), or change its protection",
    {201: ok(EnvironmentDeclaredSchema, "Created"),
     200: ok(EnvironmentDeclaredSchema, "the same declaration: nothing written")},
    body=EnvironmentDeclare, problems=(400, 409), signed=True,
    description="A deployment to an undeclared environment is refused (409).")
@require("admin")
def declare() -> tuple[Response, int]:
    """Declare an environment, or change its protection (the same declaration: 200, nothing
    written)."""
    data = body(EnvironmentDeclare())
    actor = current_principal().actor
    row, receipt = run_unit(lambda w: environments.declare(
        w, actor, data["name"], data["protected"], data["reason"]))
    return jsonify(DECLARED.dump({"environment": row, "receipt": receipt,
                                  "unchanged": receipt is None})), 200 if receipt is None else 201


@bp.get("/environments")
@operation("Every declared environment",
           {200: ok(EnvironmentListSchema)})
@require()
def list_environments() -> Response:
    return jsonify(ENVIRONMENTS.dump({"environments": read(store.list_environments)}))


@bp.post("/models/<name>/versions/<int:version>/demotions")
@operation(
    "Move a version out of a protected stage or alias, with the reason",
    {201: ok(ReceiptsSchema, "Created")}, body=DemotionCreate,
    problems=REGISTRY_PROBLEMS, signed=True,
    description="MLflow's transition-stage and delete-alias have no field for a reason: "
    "they refuse such a move and point here.")
@require(*WRITERS, "approver")  # a risk officer may take a version out of Production
def demote(name: str, version: int) -> tuple[Response, int]:
    data = body(DemotionCreate())
    authorize_version(name, version)
    actor = current_principal().actor
    receipts = run_unit(lambda w: demotions.demote(w, actor, name, version, data["from_"],
                                                   data["to"], data["reason"]))
    return jsonify(RECEIPTS.dump({"receipts": receipts})), 201
