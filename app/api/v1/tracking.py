"""/api/v1 tracking routes: experiments, runs, params, metrics, tags and batches."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Response, g, jsonify, request
from marshmallow import ValidationError

from app.api.http.auth import current_principal, reading, require
from app.api.http.context import services
from app.api.http.errors import ApiError, OutOfScope
from app.api.v1 import tracking_schemas as ts
from app.api.v1.schemas import load
from app.ledger.entry import Receipt, format_timestamp
from app.services import access, tracking
from app.services.ledger import LedgerWriter
from app.storage import search as search_store
from app.storage import tracking as store
from app.tracking import groups, search
from app.tracking.limits import MAX_PAGE_TOKEN

bp = Blueprint("tracking", __name__, url_prefix="/api/v1")
WRITERS = ("admin", "writer")
T = TypeVar("T")


def receipt_json(receipt: Receipt | None) -> dict[str, Any] | None:
    if receipt is None:
        return None
    return {"seq": receipt.seq, "kind": receipt.kind,
            "leaf_hash": base64.b64encode(receipt.leaf_hash).decode(),
            "chain_hash": base64.b64encode(receipt.chain_hash).decode()}


def json_object() -> dict[str, Any]:
    data = request.get_json(silent=False)
    if not isinstance(data, dict):
        raise ApiError(400, "Bad Request", "the body must be a JSON object")
    return data


def body(schema: Any) -> dict[str, Any]:
    return load(schema, json_object())


def client_signature() -> access.ClientSignature | None:
    """The request's verified client signature, if it carries one (a bad one is a 401)."""
    header = request.headers.get(access.SIGNATURE_HEADER)
    if header is None:
        return None
    if request.mimetype != "application/json" and (request.content_length or 0) > 0:
        raise ApiError(400, "Bad Request", f"{access.SIGNATURE_HEADER} signs JSON bodies only")
    sent = access.SignedRequest(request.method, request.script_root + request.path,
                                request.query_string.decode("latin-1"),
                                request.get_data(cache=True))
    try:
        return read(lambda c: access.verify_request(c, current_principal(), header, sent,
                                                    time.time()))
    except access.SignatureRejected as exc:
        raise ApiError(401, "Unauthorized", str(exc)) from exc


def commit(unit: Callable[[LedgerWriter], T], check: Callable[[], object] | None = None) -> T:
    """Run one request's writes as a unit of group commit; map domain errors to HTTP.

    A client-signed request spends its signature in the unit's transaction (a replay is a
    401, whichever replica it reaches) and has it (key id, signature and every signed field)
    put into the body of every entry it makes. check, if given, runs first (after the
    signature), with its domain errors mapped the same way: a cheap refusal before joining
    the queue.
    """
    signature = client_signature()
    work: Callable[[LedgerWriter], T] = unit if signature is None else access.signed(
        signature, unit)  # type: ignore[arg-type]
    try:
        if check is not None:
            check()
        return services().committer.run(work)
    except tracking.NotFound as exc:
        raise ApiError(404, "Not Found", str(exc)) from exc
    except tracking.Conflict as exc:
        raise ApiError(409, "Conflict", str(exc)) from exc
    except access.SignatureRejected as exc:
        raise ApiError(401, "Unauthorized", str(exc)) from exc


def reaches(experiment_id: str) -> bool:
    """Whether the caller's scope reaches the experiment (admins and unscoped tokens: all)."""
    return current_principal().may_use(experiment_id)


def scoped() -> bool:
    principal = current_principal()
    return principal.role != "admin" and principal.scope is not None


def hidden_experiment(experiment_id: str) -> OutOfScope:
    return OutOfScope(f"experiment {experiment_id!r} does not exist",
                      f"No Experiment with id={experiment_id} exists")


def hidden_run(run_id: str) -> OutOfScope:
    return OutOfScope(f"run {run_id!r} does not exist", f"Run with id={run_id} not found")


def authorize_experiment(experiment_id: str) -> None:
    """A scoped token reaches only its experiments: any other, existing or not, answers as a
    missing one, before anything else is looked at (so the answer cannot depend on it)."""
    if not reaches(experiment_id):
        raise hidden_experiment(experiment_id)


def authorize_run(run_id: str) -> None:
    """Scoped tokens reach runs of their granted experiments only: any other run, existing or
    not, is a missing one. (For unscoped tokens, an unknown run falls to the route's 404.)"""
    if scoped():
        authorized_run(run_id)


def authorized_run(run_id: str) -> store.RunRow | None:
    """The run, looked up before a write's unit (so not under the head lock) and authorized
    as authorize_run does; None if unknown (to a scoped token, a missing run is out of scope).
    The unit checks it again (`known=`)."""
    prefetched = g.get("runs", {})  # read with the token: require(..., run_arg=)
    run = (prefetched[run_id] if run_id in prefetched
           else read(lambda c: store.get_run(c, run_id)))
    if (run is None and scoped()) or (run is not None and not reaches(run.experiment_id)):
        raise hidden_run(run_id)
    return run


def read(fn: Callable[[Any], T]) -> T:
    with reading(services().pool) as conn:
        return fn(conn)


def experiment_json(row: store.ExperimentRow) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "description": row.description, "tags": row.tags,
            "lifecycle": row.lifecycle, "created_by": row.created_by,
            "created_at": format_timestamp(row.created_at), "created_seq": row.created_seq,
            "archived_seq": row.archived_seq}


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
@require(*WRITERS)
def create_experiment() -> tuple[Response, int]:
    if current_principal().scope is not None and current_principal().role != "admin":
        raise ApiError(403, "Forbidden", "a token scoped to experiments cannot create one")
    data = body(ts.ExperimentCreate())
    actor = current_principal().actor
    row, receipt = commit(lambda w: tracking.create_experiment(
        w, actor, data["name"], data["description"], data["tags"]))
    return jsonify(id=row.id, experiment=experiment_json(row),
                   receipt=receipt_json(receipt)), 201


@bp.get("/experiments")
@require()
def list_experiments() -> Response:
    query = load(ts.ExperimentListQuery(), request.args)
    rows = read(lambda c: store.list_experiments(c, query["after"], query["limit"] + 1,
                                                 query["include_archived"]))
    more = len(rows) > query["limit"]
    rows = rows[: query["limit"]]
    visible = [r for r in rows if current_principal().may_use(r.id)]
    return jsonify(experiments=[experiment_json(r) for r in visible],
                   next=rows[-1].created_seq if more else None)


def _experiment(found: store.ExperimentRow | None, what: str) -> Response:
    if found is None or not reaches(found.id):  # out of scope: as missing, the same words
        raise ApiError(404, "Not Found", f"experiment {what} does not exist")
    return jsonify(experiment_json(found))


@bp.get("/experiments/<experiment_id>")
@require()
def get_experiment(experiment_id: str) -> Response:
    return _experiment(read(lambda c: store.get_experiment(c, experiment_id)), repr(experiment_id))


@bp.get("/experiments/by-name/<path:name>")
@require()
def get_experiment_by_name(name: str) -> Response:
    return _experiment(read(lambda c: store.get_experiment_by_name(c, name)), f"named {name!r}")


@bp.post("/experiments/<experiment_id>/archive")
@require(*WRITERS)
def archive_experiment(experiment_id: str) -> Response:
    authorize_experiment(experiment_id)
    actor = current_principal().actor
    receipt = commit(lambda w: tracking.archive_experiment(w, actor, experiment_id))
    return jsonify(receipt=receipt_json(receipt))


@bp.post("/runs")
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
@require(*WRITERS)
def end_run(run_id: str) -> Response:
    authorize_run(run_id)
    data = body(ts.RunEnd())
    actor = current_principal().actor
    receipt = commit(lambda w: tracking.end_run(w, actor, run_id, data["status"],
                                                data["end_time"]))
    return jsonify(receipt=receipt_json(receipt))


@bp.post("/runs/<run_id>/params")
@require(*WRITERS)
def log_params(run_id: str) -> Response:
    authorize_run(run_id)
    data = body(ts.ParamsBody())
    actor = current_principal().actor
    receipt = commit(lambda w: tracking.log_params(w, actor, run_id, data["params"]))
    return jsonify(receipt=receipt_json(receipt), unchanged=receipt is None)


@bp.post("/runs/<run_id>/metrics")
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
    return jsonify(receipt=receipt_json(receipt))


@bp.post("/runs/<run_id>/batch")
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
    return jsonify(receipts=[receipt_json(r) for r in receipts])


@bp.put("/runs/<run_id>/tags/<path:key>")
@require(*WRITERS)
def set_tag(run_id: str, key: str) -> Response:
    authorize_run(run_id)
    _check_path_key(key)
    value = body(ts.TagBody())["value"]
    actor = current_principal().actor
    receipt = commit(lambda w: tracking.set_tags(w, actor, run_id, {key: value}))
    return jsonify(receipt=receipt_json(receipt))


@bp.delete("/runs/<run_id>/tags/<path:key>")
@require(*WRITERS)
def delete_tag(run_id: str, key: str) -> Response:
    authorize_run(run_id)
    _check_path_key(key)
    actor = current_principal().actor
    receipt = commit(lambda w: tracking.delete_tag(w, actor, run_id, key))
    return jsonify(receipt=receipt_json(receipt))


@bp.get("/runs/<run_id>/tags/<path:key>/history")
@require()
def tag_history(run_id: str, key: str) -> Response:
    authorize_run(run_id)
    _check_path_key(key)
    changes = read(lambda c: store.tag_history(c, run_id, key))
    if not changes:
        raise ApiError(404, "Not Found", f"run {run_id!r} never had a tag {key!r}")
    return jsonify(history=[{"value": value, "deleted": value is None, "seq": seq}
                            for value, seq in changes])


def _check_path_key(key: str) -> None:
    try:
        ts.check_key(key)
    except ValidationError as exc:
        raise ApiError(400, "Bad Request", "invalid key", errors={"key": exc.messages}) from exc


@bp.get("/runs/<run_id>/metrics/<path:key>/history")
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
    return jsonify(metrics=[metric_json(r) for r in rows],
                   next=f"{rows[-1].seq}:{rows[-1].position}" if more else None)


@bp.get("/runs/<run_id>/metrics/<path:key>/groups")
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
    return jsonify(result)


def group_label(group: dict[str, str]) -> str:
    """One attribute: its value ('F'); several: 'age_band=40-49,sex=F' in attribute order."""
    if len(group) == 1:
        return next(iter(group.values()))
    return ",".join(f"{k}={group[k]}" for k in sorted(group))


@bp.post("/runs/<run_id>/inputs")
@require(*WRITERS)
def log_inputs(run_id: str) -> Response:
    authorize_run(run_id)
    datasets = body(ts.InputsBody())["datasets"]
    actor = current_principal().actor
    receipt = commit(lambda w: tracking.log_inputs(w, actor, run_id, datasets))
    return jsonify(receipt=receipt_json(receipt))


@bp.put("/runs/<run_id>/environment")
@require(*WRITERS)
def record_environment(run_id: str) -> Response:
    authorize_run(run_id)
    environment = body(ts.EnvironmentBody())
    actor = current_principal().actor
    receipt = commit(lambda w: tracking.record_environment(w, actor, run_id, environment))
    return jsonify(receipt=receipt_json(receipt), unchanged=receipt is None)


@bp.get("/runs/<run_id>/manifest")
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
    experiments = _visible_experiments(query["experiment_id"])
    limit = query["max_results"]
    rows = read(lambda c: search_store.search_runs(c, experiments, clauses, order_by, offset,
                                                   limit + 1))
    more = len(rows) > limit
    runs = read(lambda c: runs_json(c, rows[:limit]))
    return jsonify(runs=runs, next_page_token=encode_page_token(offset + limit) if more else None)


def _visible_experiments(requested: list[str] | None) -> list[str] | None:
    principal = current_principal()
    if requested is None:
        if principal.role == "admin" or principal.scope is None:
            return None
        return sorted(principal.scope)
    for experiment_id in requested:
        authorize_experiment(experiment_id)
    return requested


MAX_OFFSET = 10**9


def encode_page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_page_token(token: object) -> int:
    """The offset in a page token this server issued: base64url of {"offset": <int>}. Anything
    else (not a string, too long, not base64 or JSON, JSON of another shape, `true` where the
    int goes) is a 400, never a value handed on to SQL."""
    if token is None:
        return 0
    refused = ApiError(400, "Bad Request", "page_token is not a token this server issued")
    if not isinstance(token, str) or len(token) > MAX_PAGE_TOKEN:
        raise refused
    try:
        document = json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError as exc:  # binascii.Error, UnicodeError and JSONDecodeError included
        raise refused from exc
    offset = document.get("offset") if isinstance(document, dict) else None
    if type(offset) is not int or not 0 <= offset <= MAX_OFFSET:  # bool is an int subclass
        raise refused
    return offset
