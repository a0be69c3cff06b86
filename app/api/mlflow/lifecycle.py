"""MLflow routes for soft state changes and run metadata: deleting and restoring runs and
experiments, experiment renames and tags, and dataset inputs (app/services/lifecycle.py)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from app.api.mlflow import compat as mf
from app.api.mlflow import datasets
from app.api.mlflow.docs import operation
from app.api.mlflow.experiments import get_experiment_row
from app.api.mlflow.runs import get_run_row, run_id_of
from app.services import lifecycle
from app.tracking.limits import MAX_EXPERIMENT_NAME, MAX_EXPERIMENT_TAG_VALUE, key_problem

bp = Blueprint("mlflow_lifecycle", __name__, url_prefix="/api/2.0/mlflow")
mf.register_error_handlers(bp)


@bp.post("/runs/delete")
@operation()
@mf.require(*mf.WRITERS)
def delete_run() -> Response:
    """Soft delete: a `run.deleted` entry; the run stays readable and accepts no writes."""
    run_id = run_id_of(mf.body())
    who = mf.actor()
    mf.commit(lambda w: lifecycle.set_run_lifecycle(w, who, run_id, "deleted"))
    return jsonify({})


@bp.post("/runs/restore")
@operation()
@mf.require(*mf.WRITERS)
def restore_run() -> Response:
    run_id = run_id_of(mf.body())
    who = mf.actor()
    mf.commit(lambda w: lifecycle.set_run_lifecycle(w, who, run_id, "active"))
    return jsonify({})


@bp.post("/runs/log-inputs")
@operation()
@mf.require(*mf.WRITERS)
def log_inputs() -> Response:
    """Dataset inputs (see mlflow_datasets); model inputs are accepted and not recorded."""
    data = mf.body()
    run_id = run_id_of(data)
    inputs = datasets.native_inputs(data)
    if inputs:
        who = mf.actor()
        mf.commit(lambda w: lifecycle.log_mlflow_inputs(w, who, run_id, inputs))
    else:
        get_run_row(run_id)
    return jsonify({})


def _experiment_id(data: dict[str, Any]) -> str:
    experiment_id = str(mf.text(data, "experiment_id"))
    get_experiment_row(experiment_id)  # 404, 403
    return experiment_id


@bp.post("/experiments/delete")
@operation()
@mf.require(*mf.WRITERS)
def delete_experiment() -> Response:
    """Soft: the experiment is archived (`experiment.archived`), never removed."""
    experiment_id = _experiment_id(mf.body())
    who = mf.actor()
    mf.commit(lambda w: lifecycle.delete_experiment(w, who, experiment_id))
    return jsonify({})


@bp.post("/experiments/restore")
@operation()
@mf.require(*mf.WRITERS)
def restore_experiment() -> Response:
    experiment_id = _experiment_id(mf.body())
    who = mf.actor()
    mf.commit(lambda w: lifecycle.restore_experiment(w, who, experiment_id))
    return jsonify({})


@bp.post("/experiments/update")
@operation()
@mf.require(*mf.WRITERS)
def update_experiment() -> Response:
    """Rename (`experiment.renamed`); a taken name is RESOURCE_ALREADY_EXISTS."""
    data = mf.body()
    experiment_id = _experiment_id(data)
    name = mf.text(data, "new_name", required=False)
    if name is not None:
        if len(name) > MAX_EXPERIMENT_NAME:
            raise mf.invalid(f"experiment name must be at most {MAX_EXPERIMENT_NAME} characters")
        who = mf.actor()
        mf.commit(lambda w: lifecycle.rename_experiment(w, who, experiment_id, name),
                  conflict="RESOURCE_ALREADY_EXISTS")
    return jsonify({})


def _tag_key(data: dict[str, Any]) -> str:
    key = str(mf.text(data, "key"))
    problem = key_problem(key)
    if problem is not None:
        raise mf.invalid(f"Invalid tag key: {problem}")
    return key


@bp.post("/experiments/set-experiment-tag")
@operation()
@mf.require(*mf.WRITERS)
def set_experiment_tag() -> Response:
    data = mf.body()
    experiment_id = _experiment_id(data)
    key, value = _tag_key(data), data.get("value", "")
    value = value if isinstance(value, str) else str(value)
    if len(value) > MAX_EXPERIMENT_TAG_VALUE:
        raise mf.invalid(f"an experiment tag value has at most {MAX_EXPERIMENT_TAG_VALUE} "
                         "characters")
    who = mf.actor()
    mf.commit(lambda w: lifecycle.set_experiment_tags(w, who, experiment_id, {key: value}))
    return jsonify({})


@bp.post("/experiments/delete-experiment-tag")
@operation()
@mf.require(*mf.WRITERS)
def delete_experiment_tag() -> Response:
    data = mf.body()
    experiment_id = _experiment_id(data)
    key = _tag_key(data)
    who = mf.actor()
    mf.commit(lambda w: lifecycle.delete_experiment_tag(w, who, experiment_id, key))
    return jsonify({})
