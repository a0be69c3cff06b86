"""MLflow-compatible experiment routes, and MLflow's experiment "0" (see mlflow_compat)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify

from app.api import tracking as api
from app.api.auth import current_principal
from app.api.mlflow_compat import (
    DEFAULT_ID,
    DEFAULT_NAME,
    WRITERS,
    MlflowError,
    actor,
    args,
    authorize_experiment,
    body,
    commit,
    integer,
    invalid,
    key_values,
    not_found,
    read,
    register_error_handlers,
    require,
    text,
)
from app.ledger.entry import Draft
from app.services import tracking
from app.services.ledger import LedgerWriter
from app.storage import tracking as store

bp = Blueprint("mlflow", __name__, url_prefix="/api/2.0/mlflow")
register_error_handlers(bp)


# Experiments.

def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def experiment_json(row: store.ExperimentRow) -> dict[str, Any]:
    return {"experiment_id": row.id, "name": row.name,
            "artifact_location": f"mlflow-artifacts:/{row.id}",
            "lifecycle_stage": "active" if row.lifecycle == "active" else "deleted",
            "creation_time": ms(row.created_at), "last_update_time": ms(row.created_at),
            "tags": [{"key": k, "value": v} for k, v in sorted(row.tags.items())]}


def _create_default(writer: LedgerWriter, who: str) -> store.ExperimentRow | None:
    writer.lock()
    found = store.get_experiment(writer.conn, DEFAULT_ID)
    if found is not None or store.experiment_name_taken(writer.conn, DEFAULT_NAME):
        return found
    description = "MLflow's default experiment, created on first use by an MLflow client"
    [receipt] = writer.append([Draft("experiment.created", who, {"experiment": DEFAULT_ID},
                                     {"name": DEFAULT_NAME, "description": description,
                                      "tags": {}})])
    row = store.ExperimentRow(DEFAULT_ID, DEFAULT_NAME, description, {}, "active", who,
                              datetime.now(UTC), receipt.seq, None)
    store.insert_experiment(writer.conn, row)
    return row


def ensure_default() -> store.ExperimentRow | None:
    """Experiment "0" named "Default", created (with a ledger entry) on first use."""
    found = read(lambda c: store.get_experiment(c, DEFAULT_ID))
    if found is not None:
        return found
    who = actor()
    return commit(lambda w: _create_default(w, who))


def get_experiment_row(experiment_id: str) -> store.ExperimentRow:
    if experiment_id == DEFAULT_ID:
        found = ensure_default()
    else:
        found = read(lambda c: store.get_experiment(c, experiment_id))
    if found is None:
        raise not_found(f"No Experiment with id={experiment_id} exists")
    authorize_experiment(found.id)
    return found


@bp.get("/experiments/get")
@require()
def get_experiment() -> Response:
    experiment_id = str(text(args(), "experiment_id"))
    return jsonify(experiment=experiment_json(get_experiment_row(experiment_id)))


@bp.get("/experiments/get-by-name")
@require()
def get_experiment_by_name() -> Response:
    name = str(text(args(), "experiment_name"))
    found = read(lambda c: store.get_experiment_by_name(c, name))
    if found is None and name == DEFAULT_NAME:
        found = ensure_default()
    if found is None:
        raise not_found(f"Could not find experiment with name '{name}'")
    authorize_experiment(found.id)
    return jsonify(experiment=experiment_json(found))


@bp.post("/experiments/create")
@require(*WRITERS)
def create_experiment() -> Response:
    principal = current_principal()
    if principal.scope is not None and principal.role != "admin":
        raise MlflowError(403, "PERMISSION_DENIED",
                          "a token scoped to experiments cannot create one")
    data = body()
    name = str(text(data, "name"))
    if len(name) > 500:
        raise invalid("experiment name must be at most 500 characters")
    tags = dict(key_values(data, "tags"))
    if name == DEFAULT_NAME:  # keep MLflow's "Default" on id "0"
        if ensure_default() is not None:
            raise MlflowError(400, "RESOURCE_ALREADY_EXISTS",
                              f"Experiment(name={name}) already exists.")
    who = actor()
    row, _ = commit(lambda w: tracking.create_experiment(w, who, name, "", tags),
                    conflict="RESOURCE_ALREADY_EXISTS")
    return jsonify(experiment_id=row.id)


@bp.route("/experiments/search", methods=["GET", "POST"])
@require()
def search_experiments() -> Response:
    """All visible experiments in creation order; filter and order_by are not supported yet."""
    data = args()
    if data.get("filter") or data.get("order_by"):
        raise invalid("experiments/search supports no filter or order_by on this server yet")
    limit = integer(data, "max_results", 1000, minimum=1, maximum=50_000) or 1000
    view = data.get("view_type") or "ACTIVE_ONLY"
    if view not in ("ACTIVE_ONLY", "DELETED_ONLY", "ALL"):
        raise invalid(f"invalid view_type {view!r}")
    after = api.decode_page_token(data.get("page_token") or None) - 1
    if view != "DELETED_ONLY":
        ensure_default()
    rows = read(lambda c: store.list_experiments(c, after, limit + 1, True))
    more = len(rows) > limit
    rows = rows[:limit]
    wanted = {"ACTIVE_ONLY": {"active"}, "DELETED_ONLY": {"deleted"},
              "ALL": {"active", "deleted"}}[view]
    principal = current_principal()
    found = [experiment_json(r) for r in rows if principal.may_use(r.id)]
    out: dict[str, Any] = {"experiments": [e for e in found if e["lifecycle_stage"] in wanted]}
    if more:
        out["next_page_token"] = api.encode_page_token(rows[-1].created_seq + 1)
    return jsonify(out)
