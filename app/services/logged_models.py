"""MLflow 3 logged models: create, status, soft delete, params, tags and run outputs.

Every change is one entry written with its rows. A logged model's files are artifacts of its
source run at `models/<model_id>/...` (see app/storage/logged_models.py); the model itself only
names them. Timestamps are the recorded_at of the entry that set them, in milliseconds.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence

from app.ledger.entry import Draft, Receipt
from app.services.ledger import LedgerWriter
from app.services.tracking import Conflict, NotFound, usable_run
from app.storage import logged_models as store
from app.storage import tracking as runs

STATUSES = store.STATUSES
MODEL_ID = re.compile(r"m-[0-9a-f]{32}")
"""The form of every logged model id: anything else names no model."""


def files_path(model_id: str) -> str:
    """The source-run artifact path under which a logged model's files are recorded."""
    return f"models/{model_id}"


def artifact_uri(row: store.LoggedModelRow) -> str:
    return f"mlflow-artifacts:/{row.experiment_id}/models/{row.model_id}/artifacts"


def _subject(row: store.LoggedModelRow) -> dict[str, str]:
    subject = {"logged_model": row.model_id, "experiment": row.experiment_id}
    if row.source_run_id:
        subject["run"] = row.source_run_id
    return subject


def get(writer: LedgerWriter, model_id: str) -> store.LoggedModelRow:
    """The active logged model a write goes to (under the head lock)."""
    writer.lock()
    row = store.get_logged_model(writer.conn, model_id)
    if row is None or row.lifecycle != "active":
        raise NotFound(f"logged model {model_id!r} does not exist")
    return row


def create(writer: LedgerWriter, actor: str, experiment_id: str, name: str,
           source_run_id: str | None, model_type: str | None, params: Mapping[str, str],
           tags: Mapping[str, str]) -> store.LoggedModelRow:
    writer.lock()
    if runs.get_experiment(writer.conn, experiment_id) is None:
        raise NotFound(f"experiment {experiment_id!r} does not exist")
    if source_run_id is not None:
        run = usable_run(source_run_id, runs.get_run(writer.conn, source_run_id))
        if run.experiment_id != experiment_id:
            raise Conflict(f"run {source_run_id!r} belongs to experiment {run.experiment_id!r}, "
                           f"not {experiment_id!r}")
    model_id = f"m-{uuid.uuid4().hex}"
    subject = {"logged_model": model_id, "experiment": experiment_id}
    if source_run_id:
        subject["run"] = source_run_id
    body = {"name": name, "source_run": source_run_id, "model_type": model_type,
            "status": "LOGGED_MODEL_PENDING", "params": dict(params), "tags": dict(tags)}
    writer.append([Draft("logged_model.created", actor, subject, body)])
    row = store.get_logged_model(writer.conn, model_id)
    assert row is not None  # the entry's reducer made it
    return row


def _change(writer: LedgerWriter, actor: str, row: store.LoggedModelRow, kind: str,
            body: Mapping[str, object]) -> Receipt:
    [receipt] = writer.append([Draft(kind, actor, _subject(row), dict(body))])
    return receipt


def set_status(writer: LedgerWriter, actor: str, model_id: str, status: str) -> Receipt | None:
    """Finalize (READY) or mark failed; setting the current status again changes nothing."""
    row = get(writer, model_id)
    if status == row.status:
        return None
    return _change(writer, actor, row, "logged_model.status_set",
                   {"status": status, "previous": row.status})


def delete(writer: LedgerWriter, actor: str, model_id: str) -> Receipt:
    """A soft, ledgered delete: the model is hidden from search and get, never erased."""
    row = get(writer, model_id)
    return _change(writer, actor, row, "logged_model.deleted", {})


def log_params(writer: LedgerWriter, actor: str, model_id: str,
               params: Mapping[str, str]) -> Receipt | None:
    """Params never change: the same value again is a no-op, a different one a Conflict."""
    row = get(writer, model_id)
    known = store.params_for(writer.conn, [model_id])[model_id]
    new = {k: v for k, v in params.items() if k not in known}
    for key, value in params.items():
        if key in known and known[key] != value:
            raise Conflict(f"param {key!r} of logged model {model_id} is {known[key]!r}; "
                           "changing param values is not allowed")
    if not new:
        return None
    return _change(writer, actor, row, "logged_model.params_logged", {"params": new})


def set_tags(writer: LedgerWriter, actor: str, model_id: str,
             tags: Mapping[str, str]) -> Receipt | None:
    row = get(writer, model_id)
    if not tags:
        return None
    return _change(writer, actor, row, "logged_model.tags_set", {"tags": dict(tags)})


def delete_tag(writer: LedgerWriter, actor: str, model_id: str, key: str) -> Receipt:
    row = get(writer, model_id)
    if key not in store.tags_for(writer.conn, [model_id])[model_id]:
        raise NotFound(f"logged model {model_id} has no tag {key!r}")
    return _change(writer, actor, row, "logged_model.tag_deleted", {"key": key})


def log_outputs(writer: LedgerWriter, actor: str, run_id: str,
                outputs: Sequence[tuple[str, int]]) -> Receipt | None:
    """Link a run to the models it produced; links already recorded are not repeated."""
    writer.lock()
    run = usable_run(run_id, runs.get_run(writer.conn, run_id))
    for model_id, _ in outputs:
        model = store.get_logged_model(writer.conn, model_id)
        if model is None or model.lifecycle != "active":
            raise NotFound(f"logged model {model_id!r} does not exist")
    known = set(store.outputs_for(writer.conn, [run_id])[run_id])
    new = list(dict.fromkeys(o for o in outputs if o not in known))
    if not new:
        return None
    [receipt] = writer.append([Draft(
        "run.outputs_logged", actor, {"run": run_id, "experiment": run.experiment_id},
        {"models": [{"model_id": m, "step": str(s)} for m, s in new]})])
    return receipt
