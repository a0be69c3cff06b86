"""/api/v1 promotions, decisions, deployments, rollbacks, the as-of query and lineage."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request

from app.api.http.auth import current_principal, require
from app.api.http.docs import PROBLEM, ok, operation
from app.api.http.errors import ApiError
from app.api.http.receipts import ReceiptOnlySchema, receipt_json, receipt_only
from app.api.http.scope import (
    authorize_model,
    authorize_promotion,
    authorize_version,
    visible_versions,
)
from app.api.http.units import read
from app.api.v1.registry import (
    DecisionCreate,
    DeployedQuery,
    DeploymentCreate,
    EnvironmentQuery,
    PromotionCreate,
    PromotionQuery,
    RollbackCreate,
    _found,
    deployment_json,
    promotion_json,
    run_unit,
    version_json,
)
from app.api.v1.responses.promotions import (
    DecidedSchema,
    DecisionRefusedProblemSchema,
    DeployedSchema,
    DeploymentCreatedSchema,
    DeploymentListSchema,
    LineageSchema,
    PromotionCreatedSchema,
    PromotionListSchema,
    PromotionSchema,
    RolledBackSchema,
)
from app.api.v1.responses.registry import REGISTRY_PROBLEMS
from app.api.v1.schemas import load
from app.api.v1.tracking import WRITERS, body
from app.services import promotions
from app.storage import registry as store
from app.storage import tracking as runs

bp = Blueprint("promotions", __name__, url_prefix="/api/v1")
# Responses are serialised by the schemas their operations document.
PROMOTION, PROMOTION_CREATED = PromotionSchema(), PromotionCreatedSchema()
PROMOTION_LIST, DECIDED = PromotionListSchema(), DecidedSchema()
DEPLOYMENT_CREATED, ROLLED_BACK = DeploymentCreatedSchema(), RolledBackSchema()
DEPLOYMENT_LIST, DEPLOYED, LINEAGE = DeploymentListSchema(), DeployedSchema(), LineageSchema()


@bp.post("/models/<name>/versions/<int:version>/promotions")
@operation(
    "Request a promotion", {201: ok(PromotionCreatedSchema, "Created")},
    body=PromotionCreate, problems=REGISTRY_PROBLEMS, signed=True)
@require(*WRITERS)
def request_promotion(name: str, version: int) -> tuple[Response, int]:
    data = body(PromotionCreate())
    authorize_version(name, version)
    principal = current_principal()
    row, receipt = run_unit(lambda w: promotions.request_promotion(
        w, principal, name, version, data["target"], data["justification"],
        data["classification"]))
    return jsonify(PROMOTION_CREATED.dump({"id": row.id, "promotion": promotion_json(row),
                                           "receipt": receipt})), 201


@bp.get("/promotions")
@operation("Promotions, optionally by model and status",
           {200: ok(PromotionListSchema)},
           query=PromotionQuery)
@require()
def list_promotions() -> Response:
    query = load(PromotionQuery(), request.args)
    rows = read(lambda c: store.promotions(c, query["model"], query["status"]))
    rows = visible_versions(rows, lambda r: (r.model_name, r.version))
    return jsonify(PROMOTION_LIST.dump({"promotions": [promotion_json(r) for r in rows]}))


@bp.get("/promotions/<promotion_id>")
@operation("One promotion with its decisions", {200: ok(PromotionSchema)}, problems=(404,))
@require()
def get_promotion(promotion_id: str) -> Response:
    authorize_promotion(promotion_id)

    def fetch(conn: Any) -> dict[str, Any]:
        row = _found(store.get_promotion(conn, promotion_id), f"promotion {promotion_id!r}")
        return promotion_json(row, conn)
    return jsonify(PROMOTION.dump(read(fetch)))


@bp.post("/promotions/<promotion_id>/decisions")
@operation(
    "Approve or reject a promotion",
    {200: ok(DecidedSchema),
     403: ok(DecisionRefusedProblemSchema, "Forbidden (a refused decision is committed)",
             media=PROBLEM)},
    body=DecisionCreate, problems=REGISTRY_PROBLEMS, signed=True)
@require("approver", "admin")
def decide(promotion_id: str) -> Response:
    data = body(DecisionCreate())
    authorize_promotion(promotion_id)
    principal = current_principal()
    decided = run_unit(lambda w: promotions.decide(
        w, principal, promotion_id, data["decision"], data["comment"], data["exception"]))
    if decided.status == "refused":  # committed as an entry, then refused
        raise ApiError(403, "Forbidden", decided.reason or "refused",
                       receipts=[receipt_json(r) for r in decided.receipts], gates=decided.gates)
    return jsonify(DECIDED.dump({"status": decided.status, "receipts": decided.receipts,
                                 "gates": decided.gates}))


@bp.post("/promotions/<promotion_id>/withdraw")
@operation(
    "Withdraw a pending promotion", {200: ok(ReceiptOnlySchema)}, problems=REGISTRY_PROBLEMS,
    signed=True)
@require(*WRITERS)
def withdraw(promotion_id: str) -> Response:
    authorize_promotion(promotion_id)
    principal = current_principal()
    receipt = run_unit(lambda w: promotions.withdraw(w, principal, promotion_id))
    return jsonify(receipt_only(receipt))


@bp.post("/models/<name>/deployments")
@operation(
    "Record a deployment", {201: ok(DeploymentCreatedSchema, "Created")},
    body=DeploymentCreate, problems=REGISTRY_PROBLEMS, signed=True)
@require(*WRITERS)
def deploy(name: str) -> tuple[Response, int]:
    data = body(DeploymentCreate())
    authorize_version(name, data["version"])
    principal = current_principal()
    row, receipt = run_unit(lambda w: promotions.deploy(
        w, principal, name, data["version"], data["environment"], data["promotion_id"],
        data["target"]))
    return jsonify(DEPLOYMENT_CREATED.dump({"deployment": deployment_json(row),
                                            "receipt": receipt})), 201


@bp.post("/models/<name>/rollbacks")
@operation(
    "Record a rollback; in a protected environment the version rolled back from leaves "
    "Production and @champion, with the reason", {201: ok(RolledBackSchema, "Created")},
    body=RollbackCreate, problems=REGISTRY_PROBLEMS, signed=True)
@require(*WRITERS)
def rollback(name: str) -> tuple[Response, int]:
    data = body(RollbackCreate())
    authorize_version(name, data["version"])
    principal = current_principal()
    row, receipts = run_unit(lambda w: promotions.rollback(
        w, principal, name, data["environment"], data["version"], data["reason"]))
    return jsonify(ROLLED_BACK.dump({"deployment": deployment_json(row), "receipt": receipts[0],
                                     "registry": receipts[1:]})), 201


@bp.get("/models/<name>/deployments")
@operation("A model's deployments",
           {200: ok(DeploymentListSchema)},
           query=EnvironmentQuery, problems=(404,))
@require()
def deployment_history(name: str) -> Response:
    query = load(EnvironmentQuery(), request.args)
    authorize_model(name)
    read(lambda c: _found(store.get_model(c, name), f"model {name!r}"))
    rows = read(lambda c: store.deployments(c, name, query["environment"]))
    return jsonify(DEPLOYMENT_LIST.dump({"deployments": [deployment_json(r) for r in rows]}))


@bp.get("/models/<name>/deployed")
@operation(
    "Which version was live in an environment at an instant, under which approval",
    {200: ok(DeployedSchema, "version, deployment and model_version are null when no "
             "version was live then (404 only for an unknown model)")},
    query=DeployedQuery, problems=(404,))
@require()
def deployed(name: str) -> Response:
    """Which version was live in an environment at an instant, under which approval; that
    none was is an answer too (version null), not a 404 (which means: no such model)."""
    query = load(DeployedQuery(), request.args)
    authorize_model(name)
    at = query["at"] or datetime.now(UTC)

    def fetch(conn: Any) -> dict[str, Any]:
        _found(store.get_model(conn, name), f"model {name!r}")
        row = store.deployed_at(conn, name, query["environment"], at)
        if row is None:
            return {"version": None, "environment": query["environment"],
                    "at": at.isoformat(), "deployment": None, "promotion": None,
                    "model_version": None}
        promotion = store.get_promotion(conn, row.promotion_id) if row.promotion_id else None
        return {"version": row.version, "environment": row.environment,
                "at": at.isoformat(), "deployment": deployment_json(row),
                "promotion": promotion_json(promotion, conn) if promotion else None,
                "model_version": version_json(_found(store.get_version(
                    conn, name, row.version), "version"))}
    return jsonify(DEPLOYED.dump(read(fetch)))


@bp.get("/models/<name>/versions/<int:version>/lineage")
@operation(
    "A version's runs, datasets, artifacts, promotions, decisions and deployments",
    {200: ok(LineageSchema)}, problems=(404,))
@require()
def lineage(name: str, version: int) -> Response:
    """The run, its parents, datasets, artifacts, promotions, decisions and deployments."""
    authorize_version(name, version)

    def fetch(conn: Any) -> dict[str, Any]:
        row = _found(store.get_version(conn, name, version), f"version {version} of {name!r}")
        chain: list[dict[str, Any]] = []
        run_id: str | None = row.run_id
        while run_id is not None and len(chain) < 50:
            run = runs.get_run(conn, run_id)
            if run is None:
                break
            chain.append({"run_id": run.id, "name": run.name, "source": run.source,
                          "created_seq": run.created_seq, "ended_seq": run.ended_seq})
            run_id = run.parent_run_id
        mine = [p for p in store.promotions(conn, name) if p.version == version]
        return {"model_version": version_json(row), "runs": chain,
                "datasets": row.evidence.get("datasets", []),
                "artifacts": row.evidence.get("artifacts", []),
                "promotions": [promotion_json(p, conn) for p in mine],
                "deployments": [deployment_json(d) for d in store.deployments(conn, name, None)
                                if d.version == version]}
    return jsonify(LINEAGE.dump(read(fetch)))
