"""Soft lifecycle changes and renames of runs and experiments, and MLflow dataset inputs.

Nothing here erases: a delete is an entry that marks the run (or experiment) deleted, a restore
is another entry that marks it active again. A deleted run accepts no writes
(`tracking._run`); a deleted experiment is our archived one, which accepts no new runs or
artifacts. Repeating a delete or restore that is already in effect writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from app.ledger.entry import Draft, Receipt
from app.services import tracking
from app.services.ledger import LedgerWriter
from app.services.tracking import Conflict, NotFound
from app.storage import lifecycle as store
from app.storage import tracking as runs
from app.tracking.limits import END_STATUSES

RUN_NAME_TAG = "mlflow.runName"


def _run(writer: LedgerWriter, run_id: str) -> runs.RunRow:
    writer.lock()
    run = runs.get_run(writer.conn, run_id)
    if run is None:
        raise NotFound(f"run {run_id!r} does not exist", f"Run with id={run_id} not found")
    return run


def _subject(run: runs.RunRow) -> dict[str, str]:
    return {"run": run.id, "experiment": run.experiment_id}


def set_run_lifecycle(writer: LedgerWriter, actor: str, run_id: str,
                      lifecycle: str) -> Receipt | None:
    """`run.deleted` or `run.restored`; None when the run already is in that state."""
    run = _run(writer, run_id)
    if run.lifecycle == lifecycle:
        return None
    kind = "run.deleted" if lifecycle == "deleted" else "run.restored"
    [receipt] = writer.append([Draft(kind, actor, _subject(run), {})])
    return receipt


def rename_run(writer: LedgerWriter, actor: str, run_id: str, name: str) -> list[Receipt]:
    """`run.renamed`, and the mlflow.runName tag set to match (MLflow keeps them equal)."""
    run = _run(writer, run_id)
    if run.lifecycle != "active":
        raise Conflict(f"The run {run_id} must be in the 'active' state; it is {run.lifecycle}",
                       tracking.inactive_run(run_id, run.lifecycle))
    if run.name == name:
        return []
    [receipt] = writer.append([Draft("run.renamed", actor, _subject(run),
                                     {"name": name, "previous": run.name})])
    return [receipt, tracking.set_tags(writer, actor, run_id, {RUN_NAME_TAG: name})]


class Unchangeable(tracking.TrackingError):
    """A run update asks for a status the run cannot reach from where it is."""


def update_run(writer: LedgerWriter, actor: str, run_id: str, name: str | None,
               status: str | None, end_time: int | None) -> bool:
    """MLflow's runs/update as one unit: a rename, an end (a RUNNING run to FINISHED, FAILED
    or KILLED) or a reopening (an ended run to RUNNING); False when it changes nothing."""
    run = _run(writer, run_id)
    rename = name is not None and name != run.name
    end = status in END_STATUSES and run.status == "RUNNING"
    reopen = status == "RUNNING" and run.status != "RUNNING"
    if not (end or reopen) and status not in (None, run.status):
        raise Unchangeable(f"run {run_id} is {run.status}; it cannot become {status}")
    if rename:
        rename_run(writer, actor, run_id, str(name))
    if end:
        tracking.end_run(writer, actor, run_id, str(status), end_time)
    if reopen:
        reopen_run(writer, actor, run_id)
    return rename or end or reopen


def reopen_run(writer: LedgerWriter, actor: str, run_id: str) -> Receipt | None:
    """`run.reopened`: an ended run is RUNNING again (MLflow's `start_run(run_id=...)` on an
    ended run); the next end writes a new `run.ended` with a new manifest digest."""
    run = _run(writer, run_id)
    if run.lifecycle != "active":
        raise Conflict(f"The run {run_id} must be in the 'active' state; it is {run.lifecycle}",
                       tracking.inactive_run(run_id, run.lifecycle))
    if run.status == "RUNNING":
        return None
    body = {"previous_status": run.status,
            "previous_end_time": None if run.end_time is None else str(run.end_time),
            "previous_manifest_sha256": run.manifest_sha256}
    [receipt] = writer.append([Draft("run.reopened", actor, _subject(run), body)])
    return receipt


def _experiment(writer: LedgerWriter, experiment_id: str) -> runs.ExperimentRow:
    writer.lock()
    found = runs.get_experiment(writer.conn, experiment_id)
    if found is None:
        raise NotFound(f"No Experiment with id={experiment_id} exists")
    return found


def delete_experiment(writer: LedgerWriter, actor: str, experiment_id: str) -> Receipt | None:
    """MLflow's delete: our archive (`experiment.archived`), then, as MLflow does, every
    active run of the experiment is deleted (`run.deleted` naming the archive entry), all in
    one transaction. None if the experiment is already archived."""
    if _experiment(writer, experiment_id).lifecycle != "active":
        return None
    receipt = tracking.archive_experiment(writer, actor, experiment_id)
    _cascade(writer, actor, experiment_id,
             store.runs_in_lifecycle(writer.conn, experiment_id, "active"), "deleted", receipt.seq)
    return receipt


def restore_experiment(writer: LedgerWriter, actor: str, experiment_id: str) -> Receipt | None:
    """`experiment.restored`: an archived experiment becomes active again, and so do the runs
    deleted with it or since (`run.restored`). Unlike MLflow, runs that were deleted before
    the experiment stay deleted."""
    found = _experiment(writer, experiment_id)
    if found.lifecycle == "active":
        return None
    [receipt] = writer.append([Draft("experiment.restored", actor,
                                     {"experiment": experiment_id}, {})])
    deleted = store.runs_in_lifecycle(writer.conn, experiment_id, "deleted",
                                      after_seq=found.archived_seq)
    _cascade(writer, actor, experiment_id, deleted, "active", receipt.seq)
    return receipt


def _cascade(writer: LedgerWriter, actor: str, experiment_id: str, run_ids: Sequence[str],
             lifecycle: str, cause_seq: int) -> None:
    """One `run.deleted`/`run.restored` per run, each naming the experiment entry it follows."""
    if not run_ids:
        return
    kind = "run.deleted" if lifecycle == "deleted" else "run.restored"
    writer.append([Draft(kind, actor, {"run": run_id, "experiment": experiment_id},
                         {"with_experiment": cause_seq}) for run_id in run_ids])


def rename_experiment(writer: LedgerWriter, actor: str, experiment_id: str,
                      name: str) -> Receipt | None:
    writer.lock()  # names are unique: serialise the check with every other write
    found = _experiment(writer, experiment_id)
    if found.name == name:
        return None
    if runs.experiment_name_taken(writer.conn, name):
        raise Conflict(f"Experiment(name={name}) already exists.")
    [receipt] = writer.append([Draft("experiment.renamed", actor, {"experiment": experiment_id},
                                     {"name": name, "previous": found.name})])
    return receipt


def set_experiment_tags(writer: LedgerWriter, actor: str, experiment_id: str,
                        tags: Mapping[str, str]) -> Receipt:
    _experiment(writer, experiment_id)
    [receipt] = writer.append([Draft("experiment.tags_set", actor, {"experiment": experiment_id},
                                     {"tags": dict(tags)})])
    return receipt


def delete_experiment_tag(writer: LedgerWriter, actor: str, experiment_id: str,
                          key: str) -> Receipt:
    if key not in _experiment(writer, experiment_id).tags:
        raise NotFound(f"No tag with name: {key} in experiment {experiment_id}",
                       f"No tag with name: {key} in experiment with id {experiment_id}")
    [receipt] = writer.append([Draft("experiment.tag_deleted", actor,
                                     {"experiment": experiment_id}, {"key": key})])
    return receipt


def log_mlflow_inputs(writer: LedgerWriter, actor: str, run_id: str,
                      inputs: Sequence[Mapping[str, Any]]) -> Receipt:
    """Dataset inputs from an MLflow client: each item is a native input (name, digest,
    context, source_uri, schema, row_count) plus `mlflow`, what the client sent; that goes
    into the `inputs.logged` entry too, so the ledger alone holds it."""
    return tracking.log_inputs(writer, actor, run_id, inputs)
