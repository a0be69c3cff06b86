"""Kinds of experiments, runs, params, metrics, tags, datasets, artifacts and logged models."""

from __future__ import annotations

import base64
from typing import Any

from app.kinds.core import (
    ARR,
    DEC,
    NUL,
    OBJ,
    STR,
    Entry,
    Field,
    Kind,
    Memo,
    ReduceError,
    Row,
    Rows,
    State,
    instant,
    integer,
    millis,
    optional_integer,
    revision,
    rows,
    sequence_of,
    strings,
)
from app.kinds.tables import table
from app.ledger import dsse
from app.ledger.jcs import canonicalize

EXPERIMENTS, EXPERIMENT_REVISIONS = table("experiments"), table("experiment_revisions")
RUNS, RUN_REVISIONS = table("runs"), table("run_revisions")
LOGGED, LOGGED_REVISIONS = table("logged_models"), table("logged_model_revisions")
ARTIFACTS, ARTIFACT_REVISIONS = table("artifacts"), table("artifact_revisions")


# Experiments: each change is a new revision of the experiment's row.

def _experiment_created(entry: Entry, state: State) -> Rows:
    body = entry.body
    return [(EXPERIMENT_REVISIONS.name, [EXPERIMENT_REVISIONS.row({
        "id": entry.subject["experiment"], "name": body["name"],
        "description": body["description"], "tags": strings(body["tags"], "tags"),
        "lifecycle": "active", "created_by": entry.actor,
        "created_at": instant(entry.recorded_at), "created_seq": entry.seq,
        "archived_seq": None, "updated_seq": None, "updated_at": None, "seq": entry.seq})])]


def _experiment_change(change: Any):  # type: ignore[no-untyped-def]
    """A reducer for a kind that changes an experiment: change(entry, current) -> columns."""
    def reduce(entry: Entry, state: State) -> Rows:
        key = (entry.subject["experiment"],)
        current = state.current(EXPERIMENTS.name, key) or {}
        return [revision(state, EXPERIMENTS, EXPERIMENT_REVISIONS, key, entry.seq, {
            **change(entry, current), "updated_seq": entry.seq,
            "updated_at": instant(entry.recorded_at)})]
    return reduce


def _without(tags: dict[str, str], key: str) -> dict[str, str]:
    return {k: v for k, v in tags.items() if k != key}


# Runs.

def _run_created(entry: Entry, state: State) -> Rows:
    body = entry.body
    return [(RUN_REVISIONS.name, [RUN_REVISIONS.row({
        "id": entry.subject["run"], "experiment_id": entry.subject["experiment"],
        "name": body["name"], "status": "RUNNING", "source": body["source"],
        "parent_run_id": body["parent_run"], "start_time": integer(body["start_time"],
                                                                   "start_time"),
        "end_time": None, "created_by": entry.actor, "user_id": body.get("user_id"),
        "created_seq": entry.seq,
        "ended_seq": None, "manifest_sha256": None, "lifecycle": "active", "lifecycle_seq": None,
        "renamed_seq": None, "reopened_seq": None, "seq": entry.seq})])]


def _run_change(change: Any):  # type: ignore[no-untyped-def]
    def reduce(entry: Entry, state: State) -> Rows:
        return [revision(state, RUNS, RUN_REVISIONS, (entry.subject["run"],), entry.seq,
                         change(entry))]
    return reduce


def _environment(entry: Entry, state: State) -> Rows:
    return [("run_environments", [(entry.subject["run"], entry.body["environment"],
                                   entry.seq)])]


def _params(entry: Entry, state: State) -> Rows:
    run, seq = entry.subject["run"], entry.seq
    return rows(("params", [(run, k, v, seq) for k, v in
                            strings(entry.body["params"], "params").items()]))


_GROUP_KEYS: Memo[tuple[tuple[str, str], ...], str] = Memo(10_000)  # RFC 8785 text of groups


def _group_key(group: Any, position: int) -> str:
    """A metric's group as the RFC 8785 text that keys it (groups repeat: kept once made)."""
    items = tuple(strings(group, f"metric {position}'s group").items())
    found = _GROUP_KEYS.get(items)
    if found is None:
        found = _GROUP_KEYS.keep(items, canonicalize(group).decode())
    return found


def _metrics(entry: Entry, state: State) -> Rows:
    """One row per metric: the decimal text as hashed, and the double it stands for."""
    run, seq = entry.subject["run"], entry.seq
    out: list[Row] = []
    add = out.append
    for position, metric in enumerate(sequence_of(entry.body["metrics"], "metrics")):
        value, key, group, n = metric["value"], metric["key"], metric.get("group"), metric.get("n")
        if type(value) is not str or type(key) is not str:
            raise ReduceError(f"metric {position} has no key or value string")
        add((run, key, "" if group is None else _group_key(group, position), group,
             None if n is None else integer(n, "n"), value, float(value),
             integer(metric["step"], "step"), integer(metric["timestamp"], "timestamp"), seq,
             position))
    return rows(("metrics", out))


def _tags(entry: Entry, state: State) -> Rows:
    run, seq = entry.subject["run"], entry.seq
    return rows(("tag_events", [(run, k, v, seq) for k, v in
                                strings(entry.body["tags"], "tags").items()]))


def _tag_deleted(entry: Entry, state: State) -> Rows:
    return [("tag_events", [(entry.subject["run"], entry.body["key"], None, entry.seq)])]


def _counts(found: Any) -> Any:
    """Per-group counts as the API takes them (integers); entries hold decimal strings."""
    if found is None:
        return None
    return {attribute: {group: integer(n, "a group count") for group, n in by_group.items()}
            for attribute, by_group in found.items()}


def _inputs(entry: Entry, state: State) -> Rows:
    run, seq = entry.subject["run"], entry.seq
    native: list[Row] = []
    mlflow: list[Row] = []
    for item in sequence_of(entry.body["datasets"], "datasets"):
        name, digest, context = item["name"], item["digest"], item["context"]
        native.append((run, name, digest, context, item.get("source_uri"), item.get("schema"),
                       optional_integer(item.get("row_count"), "row_count"),
                       _counts(item.get("group_counts")), seq))
        if "mlflow" in item:
            mlflow.append((run, name, digest, context, item["mlflow"], seq))
    return rows(("run_inputs", native), ("run_input_mlflow", mlflow))


def client_envelope(path: str, sha256: str, size: int, uri: str, key: str,
                    signature: str) -> dict[str, Any]:
    """A client's signature over an external artifact as a DSSE envelope: the statement
    every input of which is in the entry, and the key and signature it names."""
    payload = canonicalize(dsse.statement(path, sha256, {"size": str(size), "uri": uri}))
    return {"payload": base64.b64encode(payload).decode("ascii"),
            "payloadType": dsse.PAYLOAD_TYPE, "signatures": [{"keyid": key, "sig": signature}]}


def _revision(entry: Entry, state: State) -> int:
    """The revision an artifact entry makes of its path: 1 for a path new to the run, else
    the next one, which its body must say (`revision`) with the digest it supersedes."""
    body, key = entry.body, (entry.subject["run"], entry.body["path"])
    current = state.current(ARTIFACTS.name, key)
    number = 1 if current is None else current["revision"] + 1
    said = integer(body.get("revision", "1"), "revision")
    supersedes = None if current is None else current["sha256"]
    if said != number or body.get("supersedes") != supersedes:
        raise ReduceError(f"{entry.kind} of {key[1]!r} says revision {said} superseding "
                          f"{body.get('supersedes')}; the entries before it make it revision "
                          f"{number} superseding {supersedes}")
    return number


def _artifact(entry: Entry, state: State) -> Rows:
    body = entry.body
    size = integer(body["size"], "size")
    uri = body.get("uri")
    client = None
    if uri is not None and "client_key" in body and "client_sig" in body:
        client = client_envelope(body["path"], body["sha256"], size, uri, body["client_key"],
                                 body["client_sig"])
    return [(ARTIFACT_REVISIONS.name, [(entry.subject["run"], body["path"], body["sha256"],
                                        size, uri, body["envelope_sha256"], client,
                                        _revision(entry, state), entry.seq)])]


# Logged models (MLflow 3): a revision per change; params and tags as facts and events.

def _logged_created(entry: Entry, state: State) -> Rows:
    body, model_id, seq = entry.body, entry.subject["logged_model"], entry.seq
    stamp = millis(entry.recorded_at)
    return rows(
        (LOGGED_REVISIONS.name, [LOGGED_REVISIONS.row({
            "model_id": model_id, "experiment_id": entry.subject["experiment"],
            "name": body["name"], "source_run_id": body["source_run"],
            "model_type": body["model_type"], "status": body["status"], "lifecycle": "active",
            "created_by": entry.actor, "creation_timestamp": stamp,
            "last_updated_timestamp": stamp, "created_seq": seq, "updated_seq": seq,
            "seq": seq})]),
        ("logged_model_params", [(model_id, k, v, seq) for k, v in
                                 strings(body["params"], "params").items()]),
        ("logged_model_tag_events", [(model_id, k, v, seq) for k, v in
                                     strings(body["tags"], "tags").items()]))


def _logged_change(change: Any, facts: Any = None):  # type: ignore[no-untyped-def]
    """A reducer for a kind that changes a logged model (and maybe adds params or tags)."""
    def reduce(entry: Entry, state: State) -> Rows:
        model_id = entry.subject["logged_model"]
        touched = revision(state, LOGGED, LOGGED_REVISIONS, (model_id,), entry.seq, {
            **change(entry), "last_updated_timestamp": millis(entry.recorded_at),
            "updated_seq": entry.seq})
        return rows(touched, *(facts(entry, model_id) if facts else ()))
    return reduce


def _logged_params(entry: Entry, model_id: str) -> list[tuple[str, list[Row]]]:
    return [("logged_model_params", [(model_id, k, v, entry.seq) for k, v in
                                     strings(entry.body["params"], "params").items()])]


def _logged_tags(entry: Entry, model_id: str) -> list[tuple[str, list[Row]]]:
    return [("logged_model_tag_events", [(model_id, k, v, entry.seq) for k, v in
                                         strings(entry.body["tags"], "tags").items()])]


def _logged_tag_deleted(entry: Entry, model_id: str) -> list[tuple[str, list[Row]]]:
    return [("logged_model_tag_events", [(model_id, entry.body["key"], None, entry.seq)])]


def _outputs(entry: Entry, state: State) -> Rows:
    run, seq = entry.subject["run"], entry.seq
    return rows(("run_outputs", [(run, m["model_id"], integer(m["step"], "step"), seq)
                                 for m in sequence_of(entry.body["models"], "models")]))


RUN_SUBJECT = ("run", "experiment")
_REVISION_FIELDS = (Field("revision", DEC, optional=True), Field("supersedes", STR, optional=True))

KINDS = (
    Kind("experiment.created", ("experiment",),
         (Field("name", STR), Field("description", STR), Field("tags", OBJ)), _experiment_created,
         "`name`, `description`, `tags`", ("experiment_revisions",)),
    Kind("experiment.archived", ("experiment",), (),
         _experiment_change(lambda e, c: {"lifecycle": "archived", "archived_seq": e.seq}),
         "(empty). Also what MLflow's `experiments/delete` writes: a soft delete",
         ("experiment_revisions",)),
    Kind("experiment.restored", ("experiment",), (),
         _experiment_change(lambda e, c: {"lifecycle": "active", "archived_seq": None}),
         "(empty): an archived (MLflow: deleted) experiment is active again "
         "(`experiments/restore`)", ("experiment_revisions",)),
    Kind("experiment.renamed", ("experiment",), (Field("name", STR), Field("previous", STR)),
         _experiment_change(lambda e, c: {"name": e.body["name"]}),
         "`name`, `previous` (MLflow's `experiments/update`)", ("experiment_revisions",)),
    Kind("experiment.tags_set", ("experiment",), (Field("tags", OBJ),),
         _experiment_change(lambda e, c: {"tags": {**c.get("tags", {}),
                                                   **strings(e.body["tags"], "tags")}}),
         "`tags`: `{key: value}` (added or overwritten)", ("experiment_revisions",)),
    Kind("experiment.tag_deleted", ("experiment",), (Field("key", STR),),
         _experiment_change(lambda e, c: {"tags": _without(c.get("tags", {}), e.body["key"])}),
         "`key`", ("experiment_revisions",)),
    Kind("run.created", RUN_SUBJECT,
         (Field("name", STR), Field("source", OBJ), Field("start_time", DEC),
          Field("parent_run", f"{STR} or {NUL}"), Field("user_id", STR, optional=True)),
         _run_created,
         "`name`, `source` (`git_commit`, `repository`, `pipeline_id`, `pipeline_url`, "
         "`entry_point`), `start_time`, `parent_run` (run id or null; through MLflow's "
         "`mlflow.parentRunId` tag, the id the client sent, which may name no recorded run), "
         "`user_id` (only when a client claimed one: MLflow's `user_id`, the client's OS "
         "user, recorded as claimed; the entry's `actor` is who is authenticated)",
         ("run_revisions",)),
    Kind("run.ended", RUN_SUBJECT,
         (Field("status", STR), Field("end_time", DEC), Field("manifest_sha256", STR)),
         _run_change(lambda e: {"status": e.body["status"],
                                "end_time": integer(e.body["end_time"], "end_time"),
                                "ended_seq": e.seq,
                                "manifest_sha256": e.body["manifest_sha256"]}),
         "`status` (`FINISHED`, `FAILED`, `KILLED`), `end_time`, `manifest_sha256` (hex "
         "SHA-256 of the run's RFC 8785 reproducibility manifest at that moment)",
         ("run_revisions",)),
    Kind("run.reopened", RUN_SUBJECT,
         (Field("previous_status", STR), Field("previous_end_time", f"{DEC} or {NUL}"),
          Field("previous_manifest_sha256", f"{STR} or {NUL}")),
         _run_change(lambda e: {"status": "RUNNING", "end_time": None, "ended_seq": None,
                                "manifest_sha256": None, "reopened_seq": e.seq}),
         "`previous_status`, `previous_end_time`, `previous_manifest_sha256` (or null): an "
         "ended run is `RUNNING` again (MLflow's `start_run(run_id=…)` on an ended run sends "
         "`runs/update {status: RUNNING}`); its next end writes a new `run.ended` with a new "
         "manifest digest", ("run_revisions",)),
    Kind("run.renamed", RUN_SUBJECT, (Field("name", STR), Field("previous", STR)),
         _run_change(lambda e: {"name": e.body["name"], "renamed_seq": e.seq}),
         "`name`, `previous`; written with a `tags.set` of `mlflow.runName` to the new name "
         "in the same transaction", ("run_revisions",)),
    Kind("run.deleted", RUN_SUBJECT, (Field("with_experiment", "integer", optional=True),),
         _run_change(lambda e: {"lifecycle": "deleted", "lifecycle_seq": e.seq}),
         "(empty) for MLflow's soft `runs/delete`; `with_experiment` (the seq of the "
         "`experiment.archived` entry) when MLflow's `experiments/delete` carried the run "
         "along. A deleted run stays readable and accepts no writes until restored. "
         "Repeating one that is in effect writes nothing", ("run_revisions",)),
    Kind("run.restored", RUN_SUBJECT, (Field("with_experiment", "integer", optional=True),),
         _run_change(lambda e: {"lifecycle": "active", "lifecycle_seq": e.seq}),
         "as `run.deleted`, for `runs/restore` (`with_experiment`: the seq of the "
         "`experiment.restored` entry)", ("run_revisions",)),
    Kind("environment.recorded", RUN_SUBJECT, (Field("environment", OBJ),), _environment,
         "`environment`: `{python_version, os, architecture, hardware, "
         "container_image_digest, packages: [{name, version}], lockfile_sha256}`; a run has one",
         ("run_environments",)),
    Kind("params.logged", RUN_SUBJECT, (Field("params", OBJ),), _params,
         "`params`: `{key: value}` (only keys new to the run; params never change)",
         ("params",)),
    Kind("metrics.logged", RUN_SUBJECT, (Field("metrics", ARR),), _metrics,
         "`metrics`: `[{key, value, step, timestamp, group?, n?}]`; `group` is `{attribute: "
         "value}`, `n` the group's sample size", ("metrics",)),
    Kind("tags.set", RUN_SUBJECT, (Field("tags", OBJ),), _tags, "`tags`: `{key: value}`",
         ("tag_events",)),
    Kind("tag.deleted", RUN_SUBJECT, (Field("key", STR),), _tag_deleted, "`key`",
         ("tag_events",)),
    Kind("inputs.logged", RUN_SUBJECT, (Field("datasets", ARR),), _inputs,
         "`datasets`: `[{name, digest, context, source_uri?, schema?, row_count?, "
         "group_counts?, mlflow?}]`. `mlflow` is present for inputs logged by an MLflow client "
         "(`runs/log-inputs`): `{digest, source_type, source, schema?, profile?, tags}` "
         "exactly as sent (MLflow's short digest, its JSON strings, the input tags); `digest` "
         "is then derived, see the README. A dataset already logged for the run (same name, "
         "digest and context) keeps its first row", ("run_inputs", "run_input_mlflow")),
    Kind("artifact.recorded", RUN_SUBJECT,
         (Field("path", STR), Field("sha256", STR), Field("size", DEC),
          Field("envelope_sha256", STR), *_REVISION_FIELDS),
         _artifact,
         "`path`, `sha256` (hex), `size`, `envelope_sha256`: SHA-256 of the RFC 8785 bytes of "
         "the service's DSSE envelope (kept, content-addressed, in `artifact_envelopes`, and "
         "served by `GET …/artifacts/{path}?meta=1`). An upload of other bytes to a path the "
         "run already records is the path's next revision: its body adds `revision` (2, 3, "
         "…) and `supersedes` (the `sha256` of the revision before); the first has neither. "
         "Earlier revisions stay recorded and their bytes stored", ("artifact_revisions",)),
    Kind("artifact.registered", RUN_SUBJECT,
         (Field("path", STR), Field("sha256", STR), Field("size", DEC),
          Field("envelope_sha256", STR),
          Field("uri", STR), Field("client_key", STR, optional=True),
          Field("client_sig", STR, optional=True), *_REVISION_FIELDS), _artifact,
         "as `artifact.recorded` (`revision` and `supersedes` included), plus `uri`, and when "
         "the client signed it `client_key` (verifier key string) and `client_sig` (base64 "
         "Ed25519 over the DSSE PAE of the statement)", ("artifact_revisions",)),
    Kind("logged_model.created", ("logged_model", "experiment"),
         (Field("name", STR), Field("source_run", f"{STR} or {NUL}"),
          Field("model_type", f"{STR} or {NUL}"), Field("status", STR), Field("params", OBJ),
          Field("tags", OBJ)), _logged_created,
         "`name`, `source_run` (or null), `model_type` (or null), `status` "
         "(`LOGGED_MODEL_PENDING`), `params`, `tags` (`{key: value}`); subject `run` names the "
         "source run when there is one. The model's files are the source run's artifacts "
         "under `models/<model_id>/` (`artifact.recorded` entries). `name` is the one sent, or "
         "the generated `model-<8 hex>` when none was; a model created without a source run "
         "names as `source_run` the holder run made just before it (`run.created`, tag "
         "`mlaudit.logged_model` = the model id). Entries before issue 19 may have a null "
         "`source_run`",
         ("logged_model_revisions", "logged_model_params", "logged_model_tag_events"),
         optional_subject=("run",)),
    Kind("logged_model.status_set", ("logged_model", "experiment"),
         (Field("status", STR), Field("previous", STR)),
         _logged_change(lambda e: {"status": e.body["status"]}),
         "`status` (`LOGGED_MODEL_READY`, `LOGGED_MODEL_UPLOAD_FAILED`), `previous`",
         ("logged_model_revisions",), optional_subject=("run",)),
    Kind("logged_model.params_logged", ("logged_model", "experiment"), (Field("params", OBJ),),
         _logged_change(lambda e: {}, _logged_params),
         "`params`: `{key: value}` (only new keys; params never change)",
         ("logged_model_revisions", "logged_model_params"), optional_subject=("run",)),
    Kind("logged_model.tags_set", ("logged_model", "experiment"), (Field("tags", OBJ),),
         _logged_change(lambda e: {}, _logged_tags), "`tags`: `{key: value}`",
         ("logged_model_revisions", "logged_model_tag_events"), optional_subject=("run",)),
    Kind("logged_model.tag_deleted", ("logged_model", "experiment"), (Field("key", STR),),
         _logged_change(lambda e: {}, _logged_tag_deleted), "`key`",
         ("logged_model_revisions", "logged_model_tag_events"), optional_subject=("run",)),
    Kind("logged_model.deleted", ("logged_model", "experiment"), (),
         _logged_change(lambda e: {"lifecycle": "deleted"}),
         "(empty): a soft delete; the model is hidden, never erased",
         ("logged_model_revisions",), optional_subject=("run",)),
    Kind("run.outputs_logged", RUN_SUBJECT, (Field("models", ARR),), _outputs,
         "`models`: `[{model_id, step}]` (only links new to the run)", ("run_outputs",)),
)
