"""MLflow 3 logged models (/api/2.0/mlflow/logged-models) and run outputs (runs/outputs).

A logged model's files are artifacts of its source run at `models/<model_id>/...`, uploaded
through the mlflow-artifacts proxy at `<experiment>/models/<model_id>/artifacts/...`. A model
created without a source run gets a holder run, and without a name a generated one
(app/services/logged_models.py). Delete is a soft, ledgered state change.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import Blueprint, Response, jsonify

from app.api.http import pages, scope
from app.api.mlflow import compat as mf
from app.api.mlflow.docs import operation
from app.api.mlflow.registry import clean, commit, parse_filter, tag_of
from app.services import logged_models as service
from app.storage import logged_models as store
from app.tracking import model_names
from app.tracking.limits import MAX_BATCH_PARAMS, MAX_PARAM_VALUE, key_problem

bp = Blueprint("mlflow_models", __name__, url_prefix="/api/2.0/mlflow")
mf.register_error_handlers(bp)
WRITERS = mf.WRITERS
MAX_SEARCH = 1000
FILTER_FIELDS = {"name": "list", "model_id": "list", "model_type": "list", "status": "list",
                 "source_run_id": "list", "creation_timestamp": "number",
                 "last_updated_timestamp": "number"}


def model_json(conn: Any, rows: list[store.LoggedModelRow]) -> list[dict[str, Any]]:
    ids = [r.model_id for r in rows]
    params, tags = store.params_for(conn, ids), store.tags_for(conn, ids)
    out = []
    for row in rows:
        info: dict[str, Any] = {
            "model_id": row.model_id, "experiment_id": row.experiment_id, "name": row.name,
            "artifact_uri": service.artifact_uri(row), "status": row.status,
            "creation_timestamp_ms": row.creation_timestamp,
            "last_updated_timestamp_ms": row.last_updated_timestamp, "creator_id": 0,
            "tags": [{"key": k, "value": v} for k, v in sorted(tags[row.model_id].items())]}
        if row.source_run_id:
            info["source_run_id"] = row.source_run_id
        if row.model_type:
            info["model_type"] = row.model_type
        out.append({"info": info, "data": {
            "params": [{"key": k, "value": v} for k, v in sorted(params[row.model_id].items())],
            "metrics": []}})
    return out


def found(model_id: str, allow_deleted: bool = False) -> store.LoggedModelRow:
    row = None if not service.MODEL_ID.fullmatch(model_id) else mf.read(
        lambda c: store.get_logged_model(c, model_id))
    if row is None or (row.lifecycle != "active" and not allow_deleted) \
            or not scope.reaches(row.experiment_id):  # out of scope: as missing
        raise mf.not_found(f"Logged model with ID '{model_id}' not found.")
    return row


def respond(model_id: str, allow_deleted: bool = False) -> Response:
    row = found(model_id, allow_deleted)
    return jsonify(model=mf.read(lambda c: model_json(c, [row]))[0])


def params_of(data: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in mf.key_values(data, "params"):
        problem = key_problem(key)
        if problem is not None:
            raise mf.invalid(f"Invalid param key: {problem}")
        if key in out and out[key] != value:
            raise mf.invalid(f"Duplicate parameter keys have been submitted: {key!r}")
        out[key] = clean(value, "a param value")[: MAX_PARAM_VALUE]
    return out


def tags_of(data: dict[str, Any]) -> dict[str, str]:
    return dict(tag_of({"key": k, "value": v}) for k, v in mf.key_values(data, "tags"))


@bp.post("/logged-models")
@operation()
@mf.require(*WRITERS)
def create() -> Response:
    data = mf.body()
    experiment_id = str(mf.text(data, "experiment_id"))
    name = mf.text(data, "name", required=False)  # none: the service generates one
    if name is not None and model_names.problem(clean(name, "name")):
        raise mf.invalid(str(model_names.problem(name)))
    run_id = mf.text(data, "source_run_id", required=False)
    model_type = mf.text(data, "model_type", required=False)
    for what, value in (("experiment_id", experiment_id), ("source_run_id", run_id),
                        ("model_type", model_type)):
        clean(value or "", what)
    params, tags = params_of(data), tags_of(data)
    if len(params) > MAX_BATCH_PARAMS:
        raise mf.invalid(f"at most {MAX_BATCH_PARAMS} params per request; log the rest with "
                         "POST logged-models/<id>/params")
    mf.authorize_experiment(experiment_id)
    who = mf.actor()
    row = commit(lambda w: service.create(w, who, experiment_id, name, run_id, model_type,
                                          params, tags))
    return respond(row.model_id)


@bp.get("/logged-models/<model_id>")
@operation()
@mf.require()
def get(model_id: str) -> Response:
    allow = str(mf.args().get("allow_deleted", "false")).lower() == "true"
    return respond(model_id, allow)


@bp.patch("/logged-models/<model_id>")
@operation()
@mf.require(*WRITERS)
def finalize(model_id: str) -> Response:
    status = mf.text(mf.body(), "status")
    if status not in service.STATUSES[1:]:
        raise mf.invalid(f"status must be one of {', '.join(service.STATUSES[1:])}")
    found(model_id)
    who = mf.actor()
    commit(lambda w: service.set_status(w, who, model_id, str(status)))
    return respond(model_id)


@bp.delete("/logged-models/<model_id>")
@operation()
@mf.require(*WRITERS)
def delete(model_id: str) -> Response:
    found(model_id)
    who = mf.actor()
    commit(lambda w: service.delete(w, who, model_id))
    return jsonify({})


@bp.patch("/logged-models/<model_id>/tags")
@operation()
@mf.require(*WRITERS)
def set_tags(model_id: str) -> Response:
    tags = tags_of(mf.body())
    found(model_id)
    who = mf.actor()
    commit(lambda w: service.set_tags(w, who, model_id, tags))
    return jsonify({})


@bp.delete("/logged-models/<model_id>/tags/<path:key>")
@operation()
@mf.require(*WRITERS)
def delete_tag(model_id: str, key: str) -> Response:
    found(model_id)
    who = mf.actor()
    commit(lambda w: service.delete_tag(w, who, model_id, key))
    return jsonify({})


@bp.post("/logged-models/<model_id>/params")
@operation()
@mf.require(*WRITERS)
def log_params(model_id: str) -> Response:
    params = params_of(mf.body())
    if len(params) > MAX_BATCH_PARAMS:
        raise mf.invalid(f"at most {MAX_BATCH_PARAMS} params per request")
    found(model_id)
    who = mf.actor()
    commit(lambda w: service.log_params(w, who, model_id, params))
    return jsonify({})


def _order(items: Any) -> list[tuple[str, bool]]:
    if not isinstance(items, list):
        raise mf.invalid("'order_by' must be a list of {field_name, ascending}")
    out = []
    for item in items:
        field = item.get("field_name") if isinstance(item, dict) else None
        if field not in store.ORDER_FIELDS:
            raise mf.invalid(f"Invalid order_by field {field!r}; valid fields are "
                             f"{', '.join(sorted(store.ORDER_FIELDS))}")
        out.append((str(field), item.get("ascending", True) is not False))
    return out


@bp.post("/logged-models/search")
@operation(problems=(400,))
@mf.require()
def search() -> Response:
    data = mf.body()
    experiments = data.get("experiment_ids") or []
    if not isinstance(experiments, list) or not all(isinstance(e, str) for e in experiments) \
            or not experiments:
        raise mf.invalid("'experiment_ids' must be a non-empty list of strings")
    for experiment_id in experiments:
        clean(experiment_id, "experiment_ids")
    conditions = parse_filter(mf.text(data, "filter", required=False), FILTER_FIELDS,
                              params=True)
    order = _order(data.get("order_by") or [])
    limit = mf.integer(data, "max_results", 50, minimum=1, maximum=MAX_SEARCH) or 50
    offset = pages.decode_page_token(data.get("page_token") or None)
    scope.visible_experiments(experiments)
    rows = mf.read(lambda c: store.search(c, experiments, conditions, order, offset, limit + 1))
    out: dict[str, Any] = {"models": mf.read(lambda c: model_json(c, rows[:limit]))}
    if len(rows) > limit:
        out["next_page_token"] = pages.encode_page_token(offset + limit)
    return jsonify(out)


@bp.post("/runs/outputs")
@operation()
@mf.require(*WRITERS)
def log_outputs() -> Response:
    data = mf.body()
    run_id = str(mf.text(data, "run_id"))
    mf.authorize_run(run_id)
    items = data.get("models") or []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise mf.invalid("'models' must be a list of {model_id, step}")
    clean(run_id, "run_id")
    outputs = [(str(mf.text(i, "model_id")), mf.integer(i, "step", 0) or 0) for i in items]
    for model_id, _ in outputs:
        if not service.MODEL_ID.fullmatch(model_id):
            raise mf.not_found(f"Logged model with ID '{model_id}' not found.")
        linked = mf.read(partial(store.get_logged_model, model_id=model_id))
        # linking another experiment's model needs that grant too; out of scope: as missing
        if (linked is None and scope.scoped()) or (
                linked is not None and not scope.reaches(linked.experiment_id)):
            raise mf.not_found(f"Logged model with ID '{model_id}' not found.")
    who = mf.actor()
    commit(lambda w: service.log_outputs(w, who, run_id, outputs))
    return jsonify({})


def outputs_json(found: dict[str, list[tuple[str, int]]], run_ids: list[str]
                 ) -> dict[str, dict[str, Any]]:
    """MLflow's RunOutputs for each run (`runs/get`, `runs/search`), from
    storage.logged_models.outputs_for's rows."""
    return {run_id: {"model_outputs": [{"model_id": m, "step": s} for m, s in found[run_id]]}
            if found[run_id] else {} for run_id in run_ids}
