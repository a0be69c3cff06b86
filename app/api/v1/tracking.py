"""/api/v1 tracking routes: experiments, runs, params, metrics, tags and batches."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

from flask import Blueprint, Response, jsonify, request
from marshmallow import ValidationError

from app.api.http.auth import current_principal, require
from app.api.http.docs import ok, operation
from app.api.http.errors import ApiError
from app.api.http.pages import decode_page_token, encode_page_token
from app.api.http.receipts import (
    RECEIPT_LIST,
    MaybeReceiptSchema,
    ReceiptListSchema,
    ReceiptOnlySchema,
    maybe_receipt,
    receipt_json,
    receipt_only,
)
from app.api.http.scope import (
    authorize_experiment,
    authorize_run,
    authorized_run,
    reaches,
    visible_experiments,
)
from app.api.http.units import commit, read
from app.api.v1 import tracking_schemas as ts
from app.api.v1.responses.tracking import (
    MANIFEST,
    ExperimentCreatedSchema,
    ExperimentPageSchema,
    ExperimentSchema,
    GroupSummarySchema,
    MetricHistorySchema,
    RunCreatedSchema,
    RunPageSchema,
    RunSchema,
    TagHistorySchema,
)
from app.api.v1.schemas import load
from app.services import tracking
from app.storage import search as search_store
from app.storage import tracking as store
from app.tracking import groups, search

bp = Blueprint("tracking", __name__, url_prefix="/api/v1")
WRITERS = ("admin", "writer")


def json_object() -> dict[str, Any]:
    data = request.get_json(silent=False)
    if not isinstance(data, dict):
        raise ApiError(400, "Bad Request", "the body must be a JSON object")
    return data


def body(schema: Any) -> dict[str, Any]:
    return load(schema, json_object())


# Responses are serialised by the schemas their operations document. Runs stay built by
# hand (runs_json): RunSchema's dump costs about 0.1 ms a run with ten metrics, 100 ms on a
# page of 1000 (tests/api/test_response_schemas.py holds the bodies to the schema instead).
EXPERIMENT, EXPERIMENT_CREATED = ExperimentSchema(), ExperimentCreatedSchema()
EXPERIMENT_PAGE, TAG_HISTORY = ExperimentPageSchema(), TagHistorySchema()
METRIC_HISTORY, GROUP_SUMMARY = MetricHistorySchema(), GroupSummarySchema()


def metric_json(row: store.MetricRow) -> dict[str, Any]:
    out: dict[str, Any] = {"key": row.key, "value": row.value, "step": row.step,
                           "timestamp": row.timestamp, "seq": row.seq}
    if row.group_values is not None:
        out["group"] = row.group_values
    if row.n is not None:
        out["n"] = row.n
    return out


def run_json(conn: Any, row: store.RunRow) -> dict[str, Any]:
    return runs_json(conn, [row])[0]


def runs_json(conn: Any, rows: list[store.RunRow]) -> list[dict[str, Any]]:
    """Runs with everything logged so far, in five queries however many runs there are."""
    ids = [row.id for row in rows]
    params, tags = store.params_for(conn, ids), store.tags_for(conn, ids)
    metrics, inputs = store.latest_metrics_for(conn, ids), store.inputs_for(conn, ids)
    environments = store.environments_for(conn, ids)
    return [{"id": row.id, "experiment_id": row.experiment_id, "name": row.name,
             "status": row.status, "source": row.source, "parent_run_id": row.parent_run_id,
             "start_time": row.start_time, "end_time": row.end_time,
             "created_by": row.created_by, "created_seq": row.created_seq,
             "ended_seq": row.ended_seq, "manifest_sha256": row.manifest_sha256,
             "lifecycle": row.lifecycle,
             "params": params[row.id], "tags": tags[row.id],
             "metrics": [metric_json(m) for m in metrics[row.id]],
             "inputs": [dataclasses.asdict(i) for i in inputs[row.id]],
             "environment": environments.get(row.id)} for row in rows]


def _metrics(items: list[dict[str, Any]]) -> list[tracking.Metric]:
    now = tracking.now_ms()
    return [tracking.Metric(m["key"], m["value"], m["step"],
                            now if m["timestamp"] is None else m["timestamp"], m["group"], m["n"])
            for m in items]


@bp.post("/experiments")
@operation(
    "Create an experiment", {201: ok(ExperimentCreatedSchema, "Created")},
    body=ts.ExperimentCreate, problems=(403, 409), signed=True,
    description="Tokens scoped to experiments cannot create one (403); a taken name is 409.")
@require(*WRITERS)
def create_experiment() -> tuple[Response, int]:
    if current_principal().scope is not None and current_principal().role != "admin":
        raise ApiError(403, "Forbidden", "a token scoped to experiments cannot create one")
    data = body(ts.ExperimentCreate())
    actor = current_principal().actor
    row, receipt = commit(lambda w: tracking.create_experiment(
        w, actor, data["name"], data["description"], data["tags"]))
    return jsonify(EXPERIMENT_CREATED.dump({"id": row.id, "experiment": row,
                                            "receipt": receipt})), 201


@bp.get("/experiments")
@operation(
    "Experiments in creation order, paged (only those the token may use)",
    {200: ok(ExperimentPageSchema)}, query=ts.ExperimentListQuery)
@require()
def list_experiments() -> Response:
    query = load(ts.ExperimentListQuery(), request.args)
    rows = read(lambda c: store.list_experiments(c, query["after"], query["limit"] + 1,
                                                 query["include_archived"]))
    more = len(rows) > query["limit"]
    rows = rows[: query["limit"]]
    visible = [r for r in rows if current_principal().may_use(r.id)]
    return jsonify(EXPERIMENT_PAGE.dump({"experiments": visible,
                                         "next": rows[-1].created_seq if more else None}))


def _experiment(found: store.ExperimentRow | None, what: str) -> Response:
    if found is None or not reaches(found.id):  # out of scope: as missing, the same words
        raise ApiError(404, "Not Found", f"experiment {what} does not exist")
    return jsonify(EXPERIMENT.dump(found))


@bp.get("/experiments/<experiment_id>")
@operation("One experiment", {200: ok(ExperimentSchema)}, problems=(404,))
@require()
def get_experiment(experiment_id: str) -> Response:
    return _experiment(read(lambda c: store.get_experiment(c, experiment_id)), repr(experiment_id))


@bp.get("/experiments/by-name/<path:name>")
@operation("One experiment by name", {200: ok(ExperimentSchema)}, problems=(404,))
@require()
def get_experiment_by_name(name: str) -> Response:
    return _experiment(read(lambda c: store.get_experiment_by_name(c, name)), f"named {name!r}")


@bp.post("/experiments/<experiment_id>/archive")
@operation(
    "Archive an experiment", {200: ok(ReceiptOnlySchema)}, problems=(403, 404, 409),
    signed=True)
@require(*WRITERS)
def archive_experiment(experiment_id: str) -> Response:
    authorize_experiment(experiment_id)
    actor = current_principal().actor
    receipt = commit(lambda w: tracking.archive_experiment(w, actor, experiment_id))
    return jsonify(receipt_only(receipt))


@bp.post("/runs")
@operation(
    "Create a run", {201: ok(RunCreatedSchema, "Created")}, body=ts.RunCreate,
    problems=(403, 404, 409), signed=True,
    description="receipt is the run.created entry; receipts also holds the tags entry.")
@require(*WRITERS)
def create_run() -> tuple[Response, int]:
    data = body(ts.RunCreate())
    authorize_experiment(data["experiment_id"])
    actor = current_principal().actor
    row, receipts = commit(lambda w: tracking.create_run(
        w, actor, data["experiment_id"], data["name"], data["source"], data["parent_run_id"],
        data["start_time"], data["tags"]))
    run = read(lambda c: run_json(c, row))
    return jsonify(id=row.id, run=run, receipt=receipt_json(receipts[0]),
                   receipts=[receipt_json(r) for r in receipts]), 201


@bp.get("/runs/<run_id>")
@operation("One run with everything logged so far", {200: ok(RunSchema)},
           problems=(404,))
@require()
def get_run(run_id: str) -> Response:
    authorize_run(run_id)
    def fetch(conn: Any) -> dict[str, Any]:
        row = store.get_run(conn, run_id)
        if row is None:
            raise ApiError(404, "Not Found", f"run {run_id!r} does not exist")
        return run_json(conn, row)

    return jsonify(read(fetch))


@bp.post("/runs/<run_id>/end")
@operation("End a RUNNING run", {200: ok(ReceiptOnlySchema)},
           body=ts.RunEnd, problems=(404, 409), signed=True)
@require(*WRITERS)
def end_run(run_id: str) -> Response:
    authorize_run(run_id)
    data = body(ts.RunEnd())
    actor = current_principal().actor
    receipt = commit(lambda w: tracking.end_run(w, actor, run_id, data["status"],
                                                data["end_time"]))
    return jsonify(receipt_only(receipt))


@bp.post("/runs/<run_id>/params")
@operation(
    "Log params (immutable: the same value again is a no-op, a different one 409)",
    {200: ok(MaybeReceiptSchema)}, body=ts.ParamsBody, problems=(404, 409), signed=True)
@require(*WRITERS)
def log_params(run_id: str) -> Response:
    authorize_run(run_id)
    data = body(ts.ParamsBody())
    actor = current_principal().actor
    receipt = commit(lambda w: tracking.log_params(w, actor, run_id, data["params"]))
    return jsonify(maybe_receipt(receipt))


@bp.post("/runs/<run_id>/metrics")
@operation("Log metric values", {200: ok(ReceiptOnlySchema)},
           body=ts.MetricsBody, problems=(404,), signed=True)
@require(*WRITERS, run_arg="run_id")
def log_metrics(run_id: str) -> Response:
    run = authorized_run(run_id)
    data = json_object()
    metrics = ts.fast_metrics_body(data, tracking.now_ms())
    if metrics is None:
        metrics = _metrics(load(ts.MetricsBody(), data)["metrics"])
    actor = current_principal().actor
    receipt = commit(lambda w: tracking.log_metrics(w, actor, run_id, metrics, known=run),
                     check=lambda: tracking.usable_run(run_id, run))
    return jsonify(receipt_only(receipt))


@bp.post("/runs/<run_id>/batch")
@operation(
    "Log params, metrics and tags in one transaction", {200: ok(ReceiptListSchema)},
    body=ts.BatchBody, problems=(404, 409), signed=True)
@require(*WRITERS, run_arg="run_id")
def log_batch(run_id: str) -> Response:
    run = authorized_run(run_id)
    raw = json_object()
    fast = ts.fast_batch_body(raw, tracking.now_ms())
    if fast is None:
        data = load(ts.BatchBody(), raw)
        fast = ({p["key"]: p["value"] for p in data["params"]}, _metrics(data["metrics"]),
                data["tags"])
    params, metrics, tags = fast
    actor = current_principal().actor
    receipts = commit(lambda w: tracking.log_batch(w, actor, run_id, params, metrics, tags,
                                                   known=run),
                      check=lambda: tracking.usable_run(run_id, run))
    return jsonify(RECEIPT_LIST.dump({"receipts": receipts}))


@bp.put("/runs/<run_id>/tags/<path:key>")
@operation("Set a tag", {200: ok(ReceiptOnlySchema)},
           body=ts.TagBody, problems=(400, 404), signed=True)
@require(*WRITERS)
def set_tag(run_id: str, key: str) -> Response:
    authorize_run(run_id)
    _check_path_key(key)
    value = body(ts.TagBody())["value"]
    actor = current_principal().actor
    receipt = commit(lambda w: tracking.set_tags(w, actor, run_id, {key: value}))
    return jsonify(receipt_only(receipt))


@bp.delete("/runs/<run_id>/tags/<path:key>")
@operation("Delete a tag", {200: ok(ReceiptOnlySchema)},
           problems=(400, 404), signed=True)
@require(*WRITERS)
def delete_tag(run_id: str, key: str) -> Response:
    authorize_run(run_id)
    _check_path_key(key)
    actor = current_principal().actor
    receipt = commit(lambda w: tracking.delete_tag(w, actor, run_id, key))
    return jsonify(receipt_only(receipt))


@bp.get("/runs/<run_id>/tags/<path:key>/history")
@operation(
    "Every value a tag has had, oldest first", {200: ok(TagHistorySchema)},
    problems=(400, 404))
@require()
def tag_history(run_id: str, key: str) -> Response:
    authorize_run(run_id)
    _check_path_key(key)
    changes = read(lambda c: store.tag_history(c, run_id, key))
    if not changes:
        raise ApiError(404, "Not Found", f"run {run_id!r} never had a tag {key!r}")
    return jsonify(TAG_HISTORY.dump({"history": [
        {"value": value, "deleted": value is None, "seq": seq} for value, seq in changes]}))


def _check_path_key(key: str) -> None:
    try:
        ts.check_key(key)
    except ValidationError as exc:
        raise ApiError(400, "Bad Request", "invalid key", errors={"key": exc.messages}) from exc


@bp.get("/runs/<run_id>/metrics/<path:key>/history")
@operation(
    "A metric's values in logging order, paged", {200: ok(MetricHistorySchema)},
    query=ts.HistoryQuery, problems=(404,))
@require()
def metric_history(run_id: str, key: str) -> Response:
    authorize_run(run_id)
    query = load(ts.HistoryQuery(), request.args)
    seq, position = (int(part) for part in query["after"].split(":"))
    rows = read(lambda c: store.metric_history(c, run_id, key, (seq, position),
                                               query["limit"] + 1))
    more = len(rows) > query["limit"]
    rows = rows[: query["limit"]]
    if not rows and read(lambda c: store.get_run(c, run_id)) is None:
        raise ApiError(404, "Not Found", f"run {run_id!r} does not exist")
    return jsonify(METRIC_HISTORY.dump({
        "metrics": [metric_json(r) for r in rows],
        "next": f"{rows[-1].seq}:{rows[-1].position}" if more else None}))


@bp.get("/runs/<run_id>/metrics/<path:key>/groups")
@operation(
    "Per-group disparity figures for the latest value of each group",
    {200: ok(GroupSummarySchema)}, query=ts.GroupQuery, problems=(404,))
@require()
def group_summary(run_id: str, key: str) -> Response:
    """Per-group disparity figures for the latest value of each group (compliance §2)."""
    authorize_run(run_id)
    query = load(ts.GroupQuery(), request.args)
    attributes = sorted({a.strip() for a in query["attribute"].split(",") if a.strip()})
    rows = read(lambda c: store.latest_group_values(c, run_id, key, attributes))
    if not rows:
        if read(lambda c: store.get_run(c, run_id)) is None:
            raise ApiError(404, "Not Found", f"run {run_id!r} does not exist")
        raise ApiError(404, "Not Found", f"run {run_id!r} has no {key!r} values grouped by "
                       f"exactly {', '.join(attributes)}")
    values = [groups.GroupValue(group_label(r.group_values or {}), r.value, r.n) for r in rows]
    band = (query["band_low"] if query["band_low"] is not None else groups.DEFAULT_BAND[0],
            query["band_high"] if query["band_high"] is not None else groups.DEFAULT_BAND[1])
    min_n = groups.DEFAULT_MIN_N if query["min_n"] is None else query["min_n"]
    try:
        summary = groups.summarize(",".join(attributes), values, query["reference"], band, min_n)
    except groups.GroupSummaryError as exc:
        raise ApiError(400, "Bad Request", str(exc)) from exc
    result = dataclasses.asdict(summary)
    result.update(run_id=run_id, key=key, seqs={group_label(r.group_values or {}): r.seq
                                                 for r in rows})
    return jsonify(GROUP_SUMMARY.dump(result))


def group_label(group: dict[str, str]) -> str:
    """One attribute: its value ('F'); several: 'age_band=40-49,sex=F' in attribute order."""
    if len(group) == 1:
        return next(iter(group.values()))
    return ",".join(f"{k}={group[k]}" for k in sorted(group))


@bp.post("/runs/<run_id>/inputs")
@operation("Log the datasets a run used", {200: ok(ReceiptOnlySchema)},
           body=ts.InputsBody, problems=(404,), signed=True)
@require(*WRITERS)
def log_inputs(run_id: str) -> Response:
    authorize_run(run_id)
    datasets = body(ts.InputsBody())["datasets"]
    actor = current_principal().actor
    receipt = commit(lambda w: tracking.log_inputs(w, actor, run_id, datasets))
    return jsonify(receipt_only(receipt))


@bp.put("/runs/<run_id>/environment")
@operation(
    "Record the execution environment (once; the same record again is a no-op)",
    {200: ok(MaybeReceiptSchema)}, body=ts.EnvironmentBody, problems=(404, 409),
    signed=True)
@require(*WRITERS)
def record_environment(run_id: str) -> Response:
    authorize_run(run_id)
    environment = body(ts.EnvironmentBody())
    actor = current_principal().actor
    receipt = commit(lambda w: tracking.record_environment(w, actor, run_id, environment))
    return jsonify(maybe_receipt(receipt))


@bp.get("/runs/<run_id>/manifest")
@operation("The run's reproducibility manifest", {200: MANIFEST},
           problems=(404,))
@require()
def run_manifest(run_id: str) -> Response:
    """The reproducibility manifest: RFC 8785 bytes, their SHA-256 in X-Manifest-SHA256."""
    authorize_run(run_id)
    def build(conn: Any) -> bytes:
        row = store.get_run(conn, run_id)
        if row is None:
            raise ApiError(404, "Not Found", f"run {run_id!r} does not exist")
        return tracking.manifest_bytes(conn, row)

    data = read(build)
    response = Response(data, mimetype="application/json")
    response.headers["X-Manifest-SHA256"] = hashlib.sha256(data).hexdigest()
    return response


@bp.get("/runs")
@operation(
    "Search runs: MLflow filter grammar and order_by, opaque page tokens",
    {200: ok(RunPageSchema)}, query=ts.RunSearchQuery, problems=(404,),
    description="To a scoped token, an experiment_id outside its experiments is a 404.")
@require()
def search_runs() -> Response:
    """MLflow's filter grammar and order_by over runs, with opaque page tokens."""
    args = {k: (request.args.getlist(k) if k in ("experiment_id", "order_by") else v)
            for k, v in request.args.items()}
    query = load(ts.RunSearchQuery(), args)
    try:
        clauses = search.parse_filter(query["filter"])
        order_by = search.parse_order_by(query["order_by"])
    except search.SearchError as exc:
        raise ApiError(400, "Bad Request", str(exc)) from exc
    offset = decode_page_token(query["page_token"])
    experiments = visible_experiments(query["experiment_id"])
    limit = query["max_results"]
    rows = read(lambda c: search_store.search_runs(c, experiments, clauses, order_by, offset,
                                                   limit + 1))
    more = len(rows) > limit
    runs = read(lambda c: runs_json(c, rows[:limit]))
    return jsonify(runs=runs, next_page_token=encode_page_token(offset + limit) if more else None)
