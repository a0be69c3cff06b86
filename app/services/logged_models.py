"""MLflow 3 logged models: create, status, soft delete, params, tags and run outputs.

Every change is one entry written with its rows. A logged model's files are artifacts of its
source run at `models/<model_id>/...` (see app/storage/logged_models.py); the model itself only
names them. A model created without a source run (MLflow 3's `log_model` outside a run,
`create_external_model`, `set_active_model(name=…)`) gets a holder run in the same unit: a
run of its experiment, named as the model and tagged `mlaudit.logged_model = <model id>`, which
becomes its source run and holds its files; it ends when the model is finalized. A model
created without a name gets one (app/tracking/model_names.py), written into its entry.
Timestamps are the recorded_at of the entry that set them, in milliseconds.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from app.ledger.entry import Draft, Receipt
from app.services import tracking
from app.services.ledger import LedgerWriter
from app.services.tracking import Conflict, NotFound, usable_run
from app.storage import logged_models as store
from app.storage import tracking as runs
from app.tracking import model_names
from app.tracking.limits import MAX_RUN_NAME

STATUSES = store.STATUSES
HOLDER_TAG = "mlaudit.logged_model"
"""The tag of a holder run: the id of the model whose files it holds."""
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


def create(writer: LedgerWriter, actor: str, experiment_id: str, name: str | None,
           source_run_id: str | None, model_type: str | None, params: Mapping[str, str],
           tags: Mapping[str, str]) -> store.LoggedModelRow:
    """A PENDING model; without a name it gets a generated one, without a source run a holder
    run (both recorded in its entries, so a rebuild reads them, never derives them)."""
    writer.lock()
    if runs.get_experiment(writer.conn, experiment_id) is None:
        raise NotFound(f"experiment {experiment_id!r} does not exist")
    if source_run_id is not None:
        run = usable_run(source_run_id, runs.get_run(writer.conn, source_run_id))
        if run.experiment_id != experiment_id:
            raise Conflict(f"run {source_run_id!r} belongs to experiment {run.experiment_id!r}, "
                           f"not {experiment_id!r}")
    model_id = f"m-{uuid.uuid4().hex}"
    name = name or model_names.generated(model_id)
    if source_run_id is None:
        source_run_id = _holder_run(writer, actor, experiment_id, model_id, name)
    subject = {"logged_model": model_id, "experiment": experiment_id, "run": source_run_id}
    body = {"name": name, "source_run": source_run_id, "model_type": model_type,
            "status": "LOGGED_MODEL_PENDING", "params": dict(params), "tags": dict(tags)}
    writer.append([Draft("logged_model.created", actor, subject, body)])
    row = store.get_logged_model(writer.conn, model_id)
    assert row is not None  # the entry's reducer made it
    return row


def _holder_run(writer: LedgerWriter, actor: str, experiment_id: str, model_id: str,
                name: str) -> str:
    """The run that holds the files of a model created without a source run (every recorded
    file belongs to a run: its `artifact.recorded` entry, pins, downloads and reports)."""
    run_name = name[:MAX_RUN_NAME]
    row, _ = tracking.create_run(writer, actor, experiment_id, run_name, {}, None, None,
                                 {"mlflow.runName": run_name, HOLDER_TAG: model_id})
    return row.id


def _change(writer: LedgerWriter, actor: str, row: store.LoggedModelRow, kind: str,
            body: Mapping[str, object]) -> Receipt:
    [receipt] = writer.append([Draft(kind, actor, _subject(row), dict(body))])
    return receipt


def set_status(writer: LedgerWriter, actor: str, model_id: str, status: str) -> Receipt | None:
    """Finalize (READY) or mark failed; setting the current status again changes nothing."""
    row = get(writer, model_id)
    if status == row.status:
        return None
    receipt = _change(writer, actor, row, "logged_model.status_set",
                      {"status": status, "previous": row.status})
    _end_holder(writer, actor, row, status)
    return receipt


def is_holder(conn: Any, row: store.LoggedModelRow) -> bool:
    """Whether the model's source run is its holder run: tagged with the model's id before
    the model existed. The id is random, so no client could have set that tag in advance:
    a tag set later (even to the same value) does not make a run a holder."""
    if row.source_run_id is None:
        return False
    history = runs.tag_history(conn, row.source_run_id, HOLDER_TAG)
    return bool(history) and history[0][0] == row.model_id and history[0][1] < row.created_seq


def _end_holder(writer: LedgerWriter, actor: str, row: store.LoggedModelRow,
                status: str) -> None:
    """A still RUNNING holder run ends with its model's upload: FINISHED when the model is
    READY, FAILED when its upload failed (its manifest digest then covers the files)."""
    run = runs.get_run(writer.conn, row.source_run_id) if row.source_run_id else None
    if run is None or run.status != "RUNNING" or run.lifecycle != "active" \
            or not is_holder(writer.conn, row):
        return
    end = "FINISHED" if status == "LOGGED_MODEL_READY" else "FAILED"
    tracking.end_run(writer, actor, run.id, end, None)


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
