"""MLflow-compatible run routes: create/get/update/search, params, metrics, tags, history."""

from __future__ import annotations

import base64
import posixpath
import re
import secrets
from typing import Any

from flask import Blueprint, Response, jsonify

from app.api.http import pages, scope
from app.api.mlflow import compat as mf
from app.api.mlflow import datasets, experiments, group_counts
from app.api.mlflow.docs import operation
from app.api.mlflow.experiments import max_results
from app.api.mlflow.models import outputs_json
from app.ledger.entry import canonicalize
from app.services import lifecycle, tracking
from app.storage import mlflow_views as views
from app.storage import search as search_store
from app.storage import tracking as store
from app.tracking import group_keys, search
from app.tracking.decimals import normalize_metric_value
from app.tracking.limits import (
    KEY_PATTERN,
    MAX_BATCH_METRICS,
    MAX_BATCH_PARAMS,
    MAX_BATCH_TAGS,
    MAX_HISTORY_PAGE,
    MAX_INT64,
    MAX_KEY,
    MAX_PAGE_TOKEN,
    MAX_PARAM_VALUE,
    MAX_RUN_NAME,
    MAX_SEARCH_RESULTS,
    MAX_TAG_VALUE,
    key_problem,
)
from app.tracking.metrics import step_ok, timestamp_ok

bp = Blueprint("mlflow_runs", __name__, url_prefix="/api/2.0/mlflow")
mf.register_error_handlers(bp)
WRITERS = mf.WRITERS
MAX_SEARCH = MAX_SEARCH_RESULTS
MAX_USER_ID = 256  # MLflow's runs.user_id column


def metric_value(value: str) -> float | str:
    """Our decimal text as MLflow's JSON double ("NaN"/"Infinity" stay strings, as in proto3)."""
    return value if value in ("NaN", "Infinity", "-Infinity") else float(value)


def metric_json(row: store.MetricRow) -> dict[str, Any]:
    """A grouped value under its group's stable key (app/tracking/group_keys.py)."""
    return {"key": group_keys.spell(row.key, row.group_values),
            "value": metric_value(row.value), "timestamp": row.timestamp, "step": row.step}


def n_json(row: store.MetricRow) -> dict[str, Any]:
    """A grouped value's n under the group's read-only companion key, at the value's step."""
    assert row.group_values is not None and row.n is not None
    return {"key": group_keys.n_key(row.key, row.group_values), "value": row.n,
            "timestamp": row.timestamp, "step": row.step}


def metrics_json(rows: list[store.MetricRow]) -> list[dict[str, Any]]:
    """A run's latest metrics, each known group n beside its value."""
    out = [metric_json(row) for row in rows]
    out += [n_json(row) for row in rows if row.n is not None and row.group_values]
    return out


def run_info(row: store.RunRow) -> dict[str, Any]:
    info: dict[str, Any] = {
        "run_id": row.id, "run_uuid": row.id, "experiment_id": row.experiment_id,
        "run_name": row.name, "user_id": row.created_by if row.user_id is None else row.user_id,
        "status": row.status,
        "start_time": row.start_time,
        "artifact_uri": f"mlflow-artifacts:/{row.experiment_id}/{row.id}/artifacts",
        "lifecycle_stage": row.lifecycle}
    if row.end_time is not None:
        info["end_time"] = row.end_time
    return info


def runs_json(conn: Any, rows: list[store.RunRow]) -> list[dict[str, Any]]:
    ids = [row.id for row in rows]
    params, tags, metrics, inputs, found = views.run_details(conn, ids)  # one round trip
    return [{"info": run_info(row),
             "data": {"metrics": metrics_json(metrics[row.id]),
                      "params": [{"key": k, "value": v} for k, v in sorted(params[row.id].items())],
                      "tags": [{"key": k, "value": v} for k, v in sorted(tags[row.id].items())]},
             "inputs": {"dataset_inputs": [datasets.dataset_input_json(i)
                                           for i in inputs[row.id]]},
             "outputs": outputs[row.id]} for outputs in [outputs_json(found, ids)] for row in rows]


def _required_run_id(data: dict[str, Any]) -> str:
    run_id = mf.run_id_in(data)
    if run_id is None:
        raise mf.missing_value("run_id")
    return run_id


def run_id_of(data: dict[str, Any]) -> str:
    run_id = _required_run_id(data)
    mf.authorize_run(run_id)
    return run_id


def get_run_row(run_id: str) -> store.RunRow:
    row = mf.read(lambda c: store.get_run(c, run_id))
    if row is None:
        raise mf.not_found(f"Run with id={run_id} not found")
    return row


_BAD_CHARACTER = ("Names may only contain alphanumerics, underscores (_), dashes (-), periods "
                  "(.), spaces ( ), colon(:) and slashes (/).")


def checked_key(key: str, path: str = "key") -> str:
    """The key rule (app/tracking/limits.py), refused in MLflow's words; path names the field
    as MLflow's server does ('key', 'name' for a metric, 'params[3].key' in a batch)."""
    if key_problem(key) is None:
        return key
    if len(key) > MAX_KEY:
        raise mf.invalid(f"'{path}' exceeds the maximum length of {MAX_KEY} characters")
    if KEY_PATTERN.fullmatch(key) is None:
        raise mf.invalid_value(path, key, _BAD_CHARACTER)
    raise mf.invalid_value(path, key, (
        "Names may be treated as files in certain cases, and must not resolve to other "
        f"names when treated as such. This name would resolve to "
        f"{posixpath.normpath(key)!r}"))


def params_of(pairs: list[tuple[str, str]], *, batch: bool = False) -> dict[str, str]:
    found: dict[str, str] = {}
    dupes: list[str] = []
    for i, (key, value) in enumerate(pairs):
        if key in found:
            dupes.append(key)
        found[checked_key(key, f"params[{i}].key" if batch else "key")] = \
            value[: MAX_PARAM_VALUE]  # MLflow truncates long values
    if dupes:
        raise mf.invalid(f"Duplicate parameter keys have been submitted: {dupes}. Please "
                         "ensure the request contains only one param value per param key.")
    return found


def tags_of(pairs: list[tuple[str, str]], *, batch: bool = False) -> dict[str, str]:
    return {checked_key(k, f"tags[{i}].key" if batch else "key"): v[: MAX_TAG_VALUE]
            for i, (k, v) in enumerate(pairs)}


def metric_key(key: str, path: str = "name") -> tuple[str, dict[str, str] | None, int | None]:
    """(key, group, n): a well-formed grouped key names its group; a malformed one is kept
    as a plain key; any other key follows MLflow's rule."""
    grouped = group_keys.parse(key)
    if grouped is not None:
        return grouped.key, dict(grouped.group), grouped.n
    if group_keys.companion_shaped(key):  # a group's n, paired with its value by the route
        return group_counts.companion(key)
    if group_keys.uses_convention(key) and group_keys.plain_key_ok(key):
        return key, None, None
    return checked_key(key, path), None, None


def metric_value_of(raw: Any, key: str, path: str = "value") -> str:
    try:
        return normalize_metric_value(raw)
    except ValueError as exc:  # MLflow's server's words for a value that is not a double
        raise mf.invalid_value(path, raw, f" Hint: Value was of type '{type(raw).__name__}'. "
                               "See the API docs for more information about request "
                               "parameters.") from exc


def metric_of(item: Any, path: str = "") -> tracking.Metric:
    """One metric (path: 'metrics[i].' in a batch, for the field names in errors)."""
    if not isinstance(item, dict):
        raise mf.invalid("a metric must be an object {key, value, timestamp, step}")
    key = item.get("key")
    if key is None or key == "":
        raise mf.missing_value(f"{path}key")
    key, group, n = metric_key(str(mf.text(item, "key")), f"{path}name")
    raw = item.get("value")
    if raw is None:
        raise mf.missing_value(f"{path}value")
    value = metric_value_of(raw, key, f"{path}value")
    timestamp = mf.integer(item, "timestamp", None, minimum=0)
    if timestamp is None:
        raise mf.missing_value(f"{path}timestamp")
    step = mf.integer(item, "step", 0) or 0
    return tracking.Metric(key, value, step, timestamp, group, n)


def metrics_of(items: Any) -> list[tracking.Metric]:
    """A batch's metrics. The common shape (what the mlflow client sends: proto JSON, int64s
    as decimal strings) takes a short inlined path, each distinct key parsed once per
    request; anything else goes through metric_of, which gives the exact error."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise mf.invalid("'metrics' must be a list")
    keys: dict[str, tuple[str, dict[str, str] | None, int | None]] = {}
    found: list[tracking.Metric] = []
    new, metric = tuple.__new__, tracking.Metric  # the named tuple without its Python __new__
    for item in items:
        if type(item) is dict and type(key := item.get("key")) is str and key:
            timestamp, step, raw = item.get("timestamp"), item.get("step", 0), item.get("value")
            if type(timestamp) is str and timestamp.isdigit() and timestamp.isascii():
                timestamp = int(timestamp)
            if type(step) is str and step.isdigit() and step.isascii():
                step = int(step)
            elif step is None:
                step = 0
            if timestamp_ok(timestamp) and step_ok(step) and raw is not None:
                parsed = keys.get(key)
                if parsed is None:
                    parsed = keys[key] = metric_key(key, f"metrics[{len(found)}].name")
                name, group, n = parsed
                value = metric_value_of(raw, key, f"metrics[{len(found)}].value")
                found.append(new(metric, (name, value, step, timestamp,
                                          None if group is None else dict(group), n)))
                continue
        found.append(metric_of(item, f"metrics[{len(found)}]."))
    return found


@bp.post("/runs/create")
@operation()
@mf.require(*WRITERS)
def create_run() -> Response:
    data = mf.body()
    experiment_id = str(mf.text(data, "experiment_id", required=False, default=mf.DEFAULT_ID))
    experiments.get_experiment_row(experiment_id)  # 404, 403, and experiment "0" on first use
    tags = tags_of(mf.key_values(data, "tags"))
    name = mf.text(data, "run_name", required=False)
    tagged = tags.get("mlflow.runName")
    if name and tagged and name != tagged:
        raise mf.invalid("Both 'run_name' argument and 'mlflow.runName' tag are specified, but "
                         f"with different values (run_name='{name}', mlflow.runName='{tagged}').")
    name = name or tagged or f"run-{secrets.token_hex(4)}"
    if len(name) > MAX_RUN_NAME:
        raise mf.invalid(f"run_name must be at most {MAX_RUN_NAME} characters")
    tags["mlflow.runName"] = name
    parent = tags.get("mlflow.parentRunId") or None
    if parent is not None:  # recorded as claimed (as MLflow stores the tag), unless scoped:
        mf.authorize_run(parent)  # then a missing or unreachable parent is a 404
    source = {k: tags[f"mlflow.source.{k}"] for k in ("name", "type", "git.commit")
              if tags.get(f"mlflow.source.{k}")}
    start = mf.integer(data, "start_time", None, minimum=0)
    user = claimed_user(data)
    who = mf.actor()
    row, _ = mf.commit(lambda w: tracking.create_run(
        w, who, experiment_id, name, source, parent, start, tags, parent_must_exist=False,
        user_id=user))
    return jsonify(run=mf.read(lambda c: runs_json(c, [row]))[0])


def claimed_user(data: dict[str, Any]) -> str | None:
    """MLflow's `user_id`: the client's OS user, a claim recorded beside the actor."""
    user = mf.text(data, "user_id", required=False)
    if user is not None and len(user) > MAX_USER_ID:
        raise mf.invalid(f"'user_id' exceeds the maximum length of {MAX_USER_ID} characters")
    return user


@bp.get("/runs/get")
@operation()
@mf.require()
def get_run() -> Response:
    run_id = run_id_of(mf.args())
    row = get_run_row(run_id)
    return jsonify(run=mf.read(lambda c: runs_json(c, [row]))[0])


@bp.post("/runs/update")
@operation()
@mf.require(*WRITERS)
def update_run() -> Response:
    """Ending a RUNNING run is recorded; an update that changes nothing is a no-op."""
    data = mf.body()
    run_id = run_id_of(data)
    row = get_run_row(run_id)
    status = data.get("status")
    name = mf.text(data, "run_name", required=False)
    if name is not None and len(name) > MAX_RUN_NAME:
        raise mf.invalid(f"run_name must be at most {MAX_RUN_NAME} characters")
    end_time = mf.integer(data, "end_time", None, minimum=0)
    who = mf.actor()
    try:
        changed = mf.commit(lambda w: lifecycle.update_run(w, who, run_id, name,
                                                           status or None, end_time))
    except lifecycle.Unchangeable as exc:
        raise mf.invalid(str(exc)) from exc
    return jsonify(run_info=run_info(get_run_row(run_id) if changed else row))


@bp.post("/runs/log-parameter")
@operation()
@mf.require(*WRITERS, run_in_body=True)
def log_parameter() -> Response:
    data = mf.body()
    run_id, run = known_run(data)
    value = data.get("value", "")
    params = params_of([(str(mf.text(data, "key")), value if isinstance(value, str)
                         else str(value))])
    who = mf.actor()
    mf.commit(lambda w: tracking.log_params(w, who, run_id, params),
              check=lambda: tracking.usable_run(run_id, run))
    return jsonify({})


def known_run(data: dict[str, Any]) -> tuple[str, store.RunRow | None]:
    """The body's run id and the run read before the unit (outside the head lock),
    authorized; the unit checks it again once the lock is held (`known=`)."""
    run_id = _required_run_id(data)
    return run_id, mf.authorized_run(run_id)


@bp.post("/runs/log-metric")
@operation()
@mf.require(*WRITERS, run_in_body=True)
def log_metric() -> Response:
    data = mf.body()
    run_id, run = known_run(data)
    metrics = group_counts.paired([metric_of(data)])
    who = mf.actor()
    mf.commit(lambda w: tracking.log_metrics(w, who, run_id, metrics, known=run),
              check=lambda: tracking.usable_run(run_id, run))
    return jsonify({})


@bp.post("/runs/set-tag")
@operation()
@mf.require(*WRITERS, run_in_body=True)
def set_tag() -> Response:
    data = mf.body()
    run_id, run = known_run(data)
    value = data.get("value", "")
    tags = tags_of([(str(mf.text(data, "key")), value if isinstance(value, str) else str(value))])
    who = mf.actor()
    mf.commit(lambda w: tracking.set_tags(w, who, run_id, tags, known=run),
              check=lambda: tracking.usable_run(run_id, run))
    return jsonify({})


@bp.post("/runs/delete-tag")
@operation()
@mf.require(*WRITERS)
def delete_tag() -> Response:
    data = mf.body()
    run_id = run_id_of(data)
    key = checked_key(str(mf.text(data, "key")))
    who = mf.actor()
    mf.commit(lambda w: tracking.delete_tag(w, who, run_id, key))
    return jsonify({})


@bp.post("/runs/log-batch")
@operation()
@mf.require(*WRITERS, run_in_body=True)
def log_batch() -> Response:
    data = mf.body()
    run_id, run = known_run(data)
    metrics = metrics_of(data.get("metrics"))
    param_pairs = mf.key_values(data, "params")
    tag_pairs = mf.key_values(data, "tags")
    for what, limit, count in (("metrics", MAX_BATCH_METRICS, len(metrics)),
                               ("params", MAX_BATCH_PARAMS, len(param_pairs)),
                               ("tags", MAX_BATCH_TAGS, len(tag_pairs))):
        if count > limit:
            raise mf.invalid(f"A batch logging request can contain at most {limit} {what}. "
                             f"Got {count} {what}. Please split up {what} across multiple "
                             "requests and try again.")
    metrics = group_counts.paired(metrics)
    params, tags = params_of(param_pairs, batch=True), tags_of(tag_pairs, batch=True)
    who = mf.actor()
    mf.commit(lambda w: tracking.log_batch(w, who, run_id, params, metrics, tags, known=run),
              check=lambda: tracking.usable_run(run_id, run))
    return jsonify({})


@bp.post("/runs/search")
@operation(problems=(400,))
@mf.require()
def search_runs() -> Response:
    data = mf.body()
    experiments = data.get("experiment_ids") or []
    if not isinstance(experiments, list) or not all(isinstance(e, str) for e in experiments):
        raise mf.invalid("'experiment_ids' must be a list of strings")
    order = data.get("order_by") or []
    if not isinstance(order, list):
        raise mf.invalid("'order_by' must be a list of strings")
    filter_text = data.get("filter") or None
    if filter_text is not None and not isinstance(filter_text, str):
        raise mf.invalid("'filter' must be a string")
    try:
        clauses = search.parse_filter(filter_text)
        order_by = search.parse_order_by(order)
    except search.SearchError as exc:
        raise mf.invalid(str(exc)) from exc
    view = data.get("run_view_type") or "ACTIVE_ONLY"
    if view not in ("ACTIVE_ONLY", "DELETED_ONLY", "ALL"):
        raise mf.invalid(f"invalid run_view_type {view!r}")
    limit = max_results(data, 1000)
    offset = pages.decode_page_token(data.get("page_token") or None)
    visible = scope.visible_experiments(experiments or None)
    if view != "ALL":
        clauses.append(search.Comparison("attribute", "lifecycle_stage", "=",
                                         "active" if view == "ACTIVE_ONLY" else "deleted"))
    rows, runs = mf.read(lambda c: page_of_runs(c, visible, clauses, order_by, offset, limit))
    out: dict[str, Any] = {"runs": runs}
    if len(rows) > limit:
        out["next_page_token"] = pages.encode_page_token(offset + limit)
    return jsonify(out)


def page_of_runs(conn: Any, visible: list[str] | None, clauses: list[search.Comparison],
                 order_by: list[search.OrderBy], offset: int, limit: int
                 ) -> tuple[list[store.RunRow], list[dict[str, Any]]]:
    """A search's rows (one more than the page, to tell whether another page follows) and
    the page's runs as MLflow's JSON, on one connection."""
    rows = search_store.search_runs(conn, visible, clauses, order_by, offset, limit + 1)
    return rows, runs_json(conn, rows[:limit])


@bp.get("/metrics/get-history")
@operation()
@mf.require()
def metric_history() -> Response:
    data = mf.args()
    run_id = run_id_of(data)
    key = str(mf.text(data, "metric_key"))
    limit = (mf.integer(data, "max_results", MAX_HISTORY_PAGE, minimum=1, maximum=MAX_SEARCH)
             or MAX_HISTORY_PAGE)
    after = _decode_position(data.get("page_token") or None)
    named = group_keys.read_key(key)  # a value's group, a group's n, or a plain key
    group_key = "" if named.group is None else canonicalize(dict(named.group)).decode()
    run, rows = mf.read(lambda c: views.run_and_metric_history(
        c, run_id, named.key, group_key, after, limit + 1, with_n=named.n_of))
    if run is None:
        raise mf.not_found(f"Run with id={run_id} not found")
    page = rows[:limit]
    out: dict[str, Any] = {"metrics": [(n_json if named.n_of else metric_json)(r)
                                       for r in page]}
    if len(rows) > limit:
        out["next_page_token"] = base64.urlsafe_b64encode(
            f"{page[-1].seq}:{page[-1].position}".encode()).decode()
    return jsonify(out)


_POSITION = re.compile(r"(0|[1-9][0-9]{0,18}):(0|[1-9][0-9]{0,9})")


def _decode_position(token: object) -> tuple[int, int]:
    """(seq, position) of the last metric a page held, from `<seq>:<position>` in base64url;
    anything else is INVALID_PARAMETER_VALUE."""
    if token is None:
        return (-1, -1)
    refused = mf.invalid("page_token is not a token this server issued")
    if not isinstance(token, str) or len(token) > MAX_PAGE_TOKEN:
        raise refused
    try:
        found = _POSITION.fullmatch(base64.urlsafe_b64decode(token.encode()).decode("ascii"))
    except ValueError as exc:  # binascii.Error and UnicodeError are ValueErrors
        raise refused from exc
    if found is None or int(found[1]) > MAX_INT64:
        raise refused
    return int(found[1]), int(found[2])
