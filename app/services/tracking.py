"""Tracking use cases: experiments, runs, params, metrics and tags; each write one transaction."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from app.ledger.entry import Draft, Receipt, canonicalize
from app.ledger.errors import LedgerError
from app.services.ledger import LedgerWriter
from app.storage import tracking as store
from app.tracking.limits import END_STATUSES

DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME = "0", "Default"  # MLflow's, made at init


class TrackingError(LedgerError):
    """Base of the errors a tracking request can meet. `mlflow`, when given, is the wording
    of MLflow's server (on a SQL store) for the same refusal, which the MLflow routes answer;
    /api/v1 answers the message."""

    def __init__(self, message: str, mlflow: str | None = None) -> None:
        super().__init__(message)
        self.mlflow = mlflow


class NotFound(TrackingError):
    """The experiment or run does not exist."""


class Conflict(TrackingError):
    """The request contradicts what is recorded (a param's value, a run's state, a name)."""


class Metric(NamedTuple):
    """One metric value as validated at the edge: value is the decimal string to hash.

    A named tuple, not a frozen dataclass: a batch makes a thousand of them, and a frozen
    dataclass's __init__ costs several times as much."""

    key: str
    value: str
    step: int = 0
    timestamp: int = 0
    group: Mapping[str, str] | None = None
    n: int | None = None


@dataclass
class Written:
    """What a write returns: the receipts of the entries it made (possibly none)."""

    receipts: list[Receipt] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def now_ms() -> int:
    return int(time.time() * 1000)


def metric_number(value: str) -> float:
    """The double a decimal string stands for (a query copy; the string is what is hashed)."""
    return float(value)


def _run(writer: LedgerWriter, run_id: str) -> store.RunRow:
    """The run a write goes to; it must exist and be active (not deleted), as in MLflow."""
    return usable_run(run_id, store.get_run(writer.conn, run_id))


def usable_run(run_id: str, run: store.RunRow | None) -> store.RunRow:
    """Every write's check of its run (`_run`'s, also applied to a run looked up earlier)."""
    if run is None:
        raise NotFound(f"run {run_id!r} does not exist", f"Run with id={run_id} not found")
    if run.lifecycle != "active":
        raise Conflict(f"The run {run_id} must be in the 'active' state; it is "
                       f"{run.lifecycle} (restore it first)", inactive_run(run_id, run.lifecycle))
    return run


def inactive_run(run_id: str, lifecycle: str) -> str:
    """MLflow's refusal of a write to a run that is not active."""
    return f"The run {run_id} must be in the 'active' state. Current state is {lifecycle}."


def _subject(run: store.RunRow) -> dict[str, str]:
    return {"run": run.id, "experiment": run.experiment_id}


def create_experiment(writer: LedgerWriter, actor: str, name: str, description: str,
                      tags: Mapping[str, str]) -> tuple[store.ExperimentRow, Receipt]:
    conn = writer.conn
    writer.lock()  # names are unique: serialise the check with every other write
    if store.experiment_name_taken(conn, name):
        raise Conflict(f"an experiment named {name!r} already exists", name_taken(name))
    experiment_id = store.next_experiment_id(conn)
    [receipt] = writer.append([Draft("experiment.created", actor, {"experiment": experiment_id},
                                     {"name": name, "description": description,
                                      "tags": dict(tags)})])
    row = store.get_experiment(conn, experiment_id)
    assert row is not None  # the entry's reducer made it
    return row, receipt


def name_taken(name: str) -> str:
    """MLflow's refusal of an experiment name in use (its SQL store appends the database's
    error after "Error: "; ours says which rule it is)."""
    return (f"Experiment(name={name}) already exists. Error: experiment names are unique, "
            "and a deleted experiment keeps its name")


def ensure_default_experiment(writer: LedgerWriter, actor: str) -> Receipt | None:
    """MLflow's experiment "0", "Default", made once (at init, with an entry); None when it,
    or an experiment of that name, exists."""
    writer.lock()
    conn = writer.conn
    if (store.get_experiment(conn, DEFAULT_EXPERIMENT_ID) is not None
            or store.experiment_name_taken(conn, DEFAULT_EXPERIMENT_NAME)):
        return None
    [receipt] = writer.append([Draft(
        "experiment.created", actor, {"experiment": DEFAULT_EXPERIMENT_ID},
        {"name": DEFAULT_EXPERIMENT_NAME, "description": "MLflow's default experiment",
         "tags": {}})])
    return receipt


def archive_experiment(writer: LedgerWriter, actor: str, experiment_id: str) -> Receipt:
    writer.lock()
    experiment = store.get_experiment(writer.conn, experiment_id)
    if experiment is None:
        raise NotFound(f"experiment {experiment_id!r} does not exist")
    if experiment.lifecycle == "archived":
        raise Conflict(f"experiment {experiment_id!r} is already archived")
    [receipt] = writer.append([Draft("experiment.archived", actor,
                                     {"experiment": experiment_id}, {})])
    return receipt


def create_run(writer: LedgerWriter, actor: str, experiment_id: str, name: str | None,
               source: Mapping[str, str], parent_run_id: str | None, start_time: int | None,
               tags: Mapping[str, str], *, parent_must_exist: bool = True,
               user_id: str | None = None) -> tuple[store.RunRow, list[Receipt]]:
    """parent_must_exist=False records the parent as claimed (MLflow's `mlflow.parentRunId`
    tag is not checked by MLflow either); user_id, the user a client claims (MLflow's), is
    recorded beside the authenticated actor."""
    conn = writer.conn
    experiment = store.get_experiment(conn, experiment_id)
    if experiment is None:
        raise NotFound(f"experiment {experiment_id!r} does not exist",
                       f"No Experiment with id={experiment_id} exists")
    if experiment.lifecycle != "active":
        raise Conflict(f"experiment {experiment_id!r} is archived; runs cannot be added",
                       f"The experiment {experiment_id} must be in the 'active' state. "
                       "Current state is deleted.")
    if parent_run_id is not None and parent_must_exist:
        parent = store.get_run(conn, parent_run_id)
        if parent is None or parent.experiment_id != experiment_id:
            raise NotFound(f"parent run {parent_run_id!r} does not exist in this experiment")
    run_id = uuid.uuid4().hex
    start = now_ms() if start_time is None else start_time
    run_name = name or f"run-{run_id[:8]}"
    body = {"name": run_name, "source": dict(source), "start_time": str(start),
            "parent_run": parent_run_id}
    if user_id is not None:
        body["user_id"] = user_id
    [receipt] = writer.append([Draft("run.created", actor,
                                     {"run": run_id, "experiment": experiment_id}, body)])
    row = store.get_run(conn, run_id)
    assert row is not None  # the entry's reducer made it
    receipts = [receipt]
    if tags:
        receipts.append(_set_tags(writer, actor, row, tags))
    return row, receipts


def end_run(writer: LedgerWriter, actor: str, run_id: str, status: str,
            end_time: int | None) -> Receipt:
    """End a RUNNING run; the entry records the SHA-256 of its reproducibility manifest."""
    writer.lock()
    run = store.get_run(writer.conn, run_id)
    if run is None:
        raise NotFound(f"run {run_id!r} does not exist", f"Run with id={run_id} not found")
    if run.lifecycle != "active":
        raise Conflict(f"The run {run_id} must be in the 'active' state; it is {run.lifecycle}",
                       inactive_run(run_id, run.lifecycle))
    if run.status != "RUNNING":
        raise Conflict(f"run {run_id!r} already ended with status {run.status}")
    if status not in END_STATUSES:
        raise Conflict(f"a run ends as one of {', '.join(END_STATUSES)}")
    end = now_ms() if end_time is None else end_time
    digest = hashlib.sha256(manifest_bytes(writer.conn, run)).hexdigest()
    [receipt] = writer.append([Draft("run.ended", actor, _subject(run),
                                     {"status": status, "end_time": str(end),
                                      "manifest_sha256": digest})])
    return receipt


def manifest(conn: Any, run: store.RunRow) -> dict[str, Any]:
    """Everything needed to reproduce the run, as one JSON object (its bytes are RFC 8785)."""
    params = store.get_params(conn, run.id)
    return {
        "manifest_version": 1,
        "run": run.id,
        "experiment": run.experiment_id,
        "parent_run": run.parent_run_id,
        "source": run.source,
        "environment": store.get_environment(conn, run.id),
        "datasets": [{"name": i.name, "digest": i.digest, "context": i.context,
                      "source_uri": i.source_uri} for i in store.get_inputs(conn, run.id)],
        "params": params,
        "seeds": {k: v for k, v in params.items() if "seed" in k.lower()},
        "artifacts": [{"path": p, "sha256": d, "size": str(s), "uri": u}
                      for p, d, s, u in store.artifact_digests(conn, run.id)],
    }


def manifest_bytes(conn: Any, run: store.RunRow) -> bytes:
    return canonicalize(manifest(conn, run))


def log_inputs(writer: LedgerWriter, actor: str, run_id: str,
               inputs: Sequence[Mapping[str, Any]]) -> Receipt:
    """Datasets the run used: name, SHA-256 digest, context, source, schema, counts."""
    run = _run(writer, run_id)
    body = [{k: _int_as_text(v) for k, v in item.items() if v is not None} for item in inputs]
    [receipt] = writer.append([Draft("inputs.logged", actor, _subject(run), {"datasets": body})])
    return receipt


def _int_as_text(value: Any) -> Any:
    """Counts go into entries as decimal strings (no number in an entry exceeds 2**53)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return {k: _int_as_text(v) for k, v in value.items()}
    return value


def record_environment(writer: LedgerWriter, actor: str, run_id: str,
                       environment: Mapping[str, Any]) -> Receipt | None:
    """Where the run ran; recorded once (the same record again is a no-op)."""
    writer.lock()
    run = usable_run(run_id, store.get_run(writer.conn, run_id))
    existing = store.get_environment(writer.conn, run_id)
    if existing is not None:
        if existing == dict(environment):
            return None
        raise Conflict(f"run {run_id!r} already has an execution environment recorded")
    [receipt] = writer.append([Draft("environment.recorded", actor, _subject(run),
                                     {"environment": dict(environment)})])
    return receipt


def log_params(writer: LedgerWriter, actor: str, run_id: str,
               params: Mapping[str, str]) -> Receipt | None:
    """Params are immutable: the same value again is a no-op, a different one a Conflict."""
    run, existing = _run_and_params(writer, run_id, params)
    return _log_params(writer, actor, run, params, existing, batch=False)


def _run_and_params(writer: LedgerWriter, run_id: str, params: Mapping[str, str]
                    ) -> tuple[store.RunRow, dict[str, str] | None]:
    """_run, and the values stored under the params' keys (None without params), in one
    round trip."""
    if not params:
        return _run(writer, run_id), None
    run, existing = store.get_run_and_params(writer.conn, run_id, list(params))
    return usable_run(run_id, run), existing


def _log_params(writer: LedgerWriter, actor: str, run: store.RunRow, params: Mapping[str, str],
                existing: dict[str, str] | None = None, *, batch: bool = True
                ) -> Receipt | None:
    run_id = run.id
    if existing is None:
        existing = store.get_params(writer.conn, run_id, list(params))
    changed = [{"key": k, "old_value": existing[k], "new_value": v}
               for k, v in params.items() if k in existing and existing[k] != v]
    if changed:
        first = changed[0]
        raise Conflict(f"param {first['key']!r} is already logged with value "
                       f"{first['old_value']!r}; params cannot change",
                       _changed_params(run_id, changed, batch))
    new = {k: v for k, v in params.items() if k not in existing}
    if not new:
        return None
    [receipt] = writer.append([Draft("params.logged", actor, _subject(run), {"params": new})])
    return receipt


def _changed_params(run_id: str, changed: list[dict[str, str]], batch: bool) -> str:
    """MLflow's words: log-parameter names the one param, log-batch lists every change."""
    if not batch:
        key, old, new = changed[0]["key"], changed[0]["old_value"], changed[0]["new_value"]
        return (f"Changing param values is not allowed. Param with key='{key}' was already "
                f"logged with value='{old}' for run ID='{run_id}'. Attempted logging new value "
                f"'{new}'.")
    return ("Changing param values is not allowed. Params were already logged="
            f"'{changed}' for run ID='{run_id}'.")


def _metric_body(metric: Metric) -> dict[str, Any]:
    key, value, step, timestamp, group, n = metric
    body: dict[str, Any] = {"key": key, "value": value, "step": str(step),
                            "timestamp": str(timestamp)}
    if group is not None:
        body["group"] = dict(group)
    if n is not None:
        body["n"] = str(n)
    return body


def log_metrics(writer: LedgerWriter, actor: str, run_id: str, metrics: Sequence[Metric],
                *, known: store.RunRow | None = None) -> Receipt:
    """known: the run as the caller looked it up before the unit, outside the head lock. It
    is checked again (usable_run) in the round trip that inserts the rows, once the lock is
    held, so a run deleted meanwhile still refuses the write."""
    run = _run(writer, run_id) if known is None else known
    return _log_metrics(writer, actor, run, metrics, recheck=known is not None)


def _log_metrics(writer: LedgerWriter, actor: str, run: store.RunRow, metrics: Sequence[Metric],
                 *, recheck: bool) -> Receipt:
    drafts = [Draft("metrics.logged", actor, _subject(run),
                    {"metrics": [_metric_body(m) for m in metrics]})]
    # The rows are the reducer's; they are stored here so that the insert can carry the
    # run's re-check in its round trip.
    [receipt] = writer.append(drafts, project=False)
    [[(_, rows)]] = writer.reduce(drafts, [receipt])
    fresh = store.insert_metrics(writer.conn, rows, reread_run=recheck)
    if recheck:
        usable_run(run.id, fresh)
    return receipt


def _set_tags(writer: LedgerWriter, actor: str, run: store.RunRow,
              tags: Mapping[str, str]) -> Receipt:
    [receipt] = writer.append([Draft("tags.set", actor, _subject(run), {"tags": dict(tags)})])
    return receipt


def set_tags(writer: LedgerWriter, actor: str, run_id: str, tags: Mapping[str, str],
             *, known: store.RunRow | None = None) -> Receipt:
    """known: as for log_metrics; the run is checked again in the round trip that stores
    the tag rows (the head lock is held by then)."""
    if known is None:
        return _set_tags(writer, actor, _run(writer, run_id), tags)
    drafts = [Draft("tags.set", actor, _subject(known), {"tags": dict(tags)})]
    [receipt] = writer.append(drafts, project=False)
    [made] = writer.reduce(drafts, [receipt])
    usable_run(run_id, store.insert_rows_and_get_run(writer.conn, made, run_id))
    return receipt


def delete_tag(writer: LedgerWriter, actor: str, run_id: str, key: str) -> Receipt:
    run = _run(writer, run_id)
    if key not in store.get_tags(writer.conn, run_id):
        raise NotFound(f"run {run_id!r} has no tag {key!r}",
                       f"No tag with name: {key} in run with id {run_id}")
    [receipt] = writer.append([Draft("tag.deleted", actor, _subject(run), {"key": key})])
    return receipt


def log_batch(writer: LedgerWriter, actor: str, run_id: str, params: Mapping[str, str],
              metrics: Sequence[Metric], tags: Mapping[str, str],
              *, known: store.RunRow | None = None) -> list[Receipt]:
    """Params, metrics and tags in one transaction: all of them, or (on any error) none.

    known: as for log_metrics; the run is checked again once, under the head lock (which
    every change of a run's state holds): by the metrics' insert, else with the params'
    read, else after the appends."""
    existing = None
    recheck = known is not None and not metrics
    if known is None:
        run, existing = _run_and_params(writer, run_id, params)
    elif recheck and params:
        writer.lock()
        run, existing = _run_and_params(writer, run_id, params)
        recheck = False
    else:
        run = known
    receipts: list[Receipt] = []
    if params:
        receipt = _log_params(writer, actor, run, params, existing)
        receipts += [receipt] if receipt else []
    if metrics:  # its insert carries the re-check (the head lock is held by then)
        receipts.append(_log_metrics(writer, actor, run, metrics, recheck=known is not None))
    if tags:
        receipts.append(_set_tags(writer, actor, run, tags))
    if recheck:  # after the appends, so under the head lock
        usable_run(run_id, store.get_run(writer.conn, run_id))
    return receipts
