"""MLflow-compatible experiment routes, and MLflow's experiment "0" (see mlflow_compat)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request

from app.api.http import pages, scope
from app.api.http.auth import current_principal
from app.api.mlflow.compat import (
    WRITERS,
    MlflowError,
    actor,
    args,
    authorize_experiment,
    body,
    commit,
    integer,
    invalid,
    invalid_value,
    key_values,
    not_found,
    read,
    register_error_handlers,
    require,
    text,
)
from app.api.mlflow.docs import operation
from app.services import tracking
from app.storage import lifecycle as lifecycle_store
from app.storage import tracking as store
from app.tracking import experiment_search
from app.tracking.limits import MAX_EXPERIMENT_NAME, MAX_SEARCH_RESULTS
from app.tracking.search import SearchError

bp = Blueprint("mlflow", __name__, url_prefix="/api/2.0/mlflow")
register_error_handlers(bp)
ARTIFACT_LOCATION_REFUSED = (
    "this server keeps every experiment's artifacts in its own digest-checked store, served "
    "as mlflow-artifacts:/<experiment_id>, so that each file is recorded with its SHA-256 in "
    "the ledger; leave artifact_location unset")


# Experiments.

def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def experiment_json(row: store.ExperimentRow) -> dict[str, Any]:
    return {"experiment_id": row.id, "name": row.name,
            "artifact_location": f"mlflow-artifacts:/{row.id}",
            "lifecycle_stage": "active" if row.lifecycle == "active" else "deleted",
            "creation_time": ms(row.created_at),
            "last_update_time": ms(row.updated_at or row.created_at),
            "tags": [{"key": k, "value": v} for k, v in sorted(row.tags.items())]}


def get_experiment_row(experiment_id: str) -> store.ExperimentRow:
    found = read(lambda c: store.get_experiment(c, experiment_id))
    if found is None:
        raise not_found(f"No Experiment with id={experiment_id} exists")
    authorize_experiment(found.id)
    return found


@bp.get("/experiments/get")
@operation()
@require()
def get_experiment() -> Response:
    experiment_id = str(text(args(), "experiment_id"))
    return jsonify(experiment=experiment_json(get_experiment_row(experiment_id)))


@bp.get("/experiments/get-by-name")
@operation()
@require()
def get_experiment_by_name() -> Response:
    name = str(text(args(), "experiment_name"))
    found = read(lambda c: store.get_experiment_by_name(c, name))
    if found is None or not scope.reaches(found.id):  # out of scope: as missing
        raise not_found(f"Could not find experiment with name '{name}'")
    return jsonify(experiment=experiment_json(found))


@bp.post("/experiments/create")
@operation()
@require(*WRITERS)
def create_experiment() -> Response:
    principal = current_principal()
    if principal.scope is not None and principal.role != "admin":
        raise MlflowError(403, "PERMISSION_DENIED",
                          "a token scoped to experiments cannot create one")
    data = body()
    name = str(text(data, "name"))
    if len(name) > MAX_EXPERIMENT_NAME:
        raise invalid(f"'name' exceeds the maximum length of {MAX_EXPERIMENT_NAME} characters")
    location = text(data, "artifact_location", required=False)
    if location is not None:
        raise invalid_value("artifact_location", location, ARTIFACT_LOCATION_REFUSED)
    tags = dict(key_values(data, "tags"))
    who = actor()
    row, _ = commit(lambda w: tracking.create_experiment(w, who, name, "", tags),
                    conflict="RESOURCE_ALREADY_EXISTS")
    return jsonify(experiment_id=row.id)


@bp.route("/experiments/search", methods=["GET", "POST"])
@operation(problems=(400,))
@require()
def search_experiments() -> Response:
    """MLflow's experiment filter and order_by (app/tracking/experiment_search.py), paged."""
    data = args()
    order = request.args.getlist("order_by") if request.method == "GET" else data.get("order_by")
    if order is not None and not isinstance(order, list):
        raise invalid("'order_by' must be a list of strings")
    filter_text = data.get("filter") or None
    try:
        clauses = experiment_search.parse_filter(filter_text)
        order_by = experiment_search.parse_order_by(order)
    except SearchError as exc:
        raise invalid(str(exc)) from exc
    limit = max_results(data, 1000)
    view = data.get("view_type") or "ACTIVE_ONLY"
    if view not in _VIEWS:
        raise invalid(f"invalid view_type {view!r}")
    offset = pages.decode_page_token(data.get("page_token") or None)
    principal = current_principal()
    visible = None if principal.role == "admin" or principal.scope is None else \
        sorted(principal.scope)
    rows = read(lambda c: lifecycle_store.search_experiments(
        c, clauses, order_by, _VIEWS[view], visible, offset, limit + 1))
    out: dict[str, Any] = {"experiments": [experiment_json(r) for r in rows[:limit]]}
    if len(rows) > limit:
        out["next_page_token"] = pages.encode_page_token(offset + limit)
    return jsonify(out)


def max_results(data: dict[str, Any], default: int) -> int:
    """A search's max_results, refused in the words of MLflow's SQL store."""
    limit = integer(data, "max_results", default)
    if limit is None:
        return default
    if limit < 1:
        raise invalid(f"Invalid value {limit} for parameter 'max_results' supplied. It must be "
                      "a positive integer")
    if limit > MAX_SEARCH_RESULTS:
        raise invalid(f"Invalid value {limit} for parameter 'max_results' supplied. It must be "
                      f"at most {MAX_SEARCH_RESULTS}")
    return limit


_VIEWS = {"ACTIVE_ONLY": ("active",), "DELETED_ONLY": ("archived",),
          "ALL": ("active", "archived")}
