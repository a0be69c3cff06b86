"""MLflow-compatible model registry (/api/2.0/mlflow/registered-models, model-versions).

The same services as /api/v1/models make the same entries. A protected stage or alias (by
default Production, @champion, @production, @prod and @live, in any case) is reached only
under an approved promotion of that version to that target, requested and decided through
/api/v1; otherwise 403 PERMISSION_DENIED says how.
Rename and delete are refused with 400: the ledger never erases a model's history.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from flask import Blueprint, Response, jsonify, request

from app.api.http import pages, scope
from app.api.http.scope import authorize_model, authorize_version, granted
from app.api.mlflow import compat as mf
from app.api.mlflow.artifacts import sealed_uri
from app.api.mlflow.docs import operation
from app.services import logged_models, pinned, registry, unpinned
from app.services.artifacts import Tampered
from app.services.ledger import LedgerWriter
from app.storage import logged_models as lm_store
from app.storage import registry as store
from app.tracking import registry_search as grammar
from app.tracking.limits import MAX_DESCRIPTION, MAX_KEY, MAX_REGISTRY_TAG_VALUE, key_problem
from app.tracking.registry_search import Condition
from app.tracking.search import SearchError

bp = Blueprint("mlflow_registry", __name__, url_prefix="/api/2.0/mlflow")
mf.register_error_handlers(bp)
WRITERS = mf.WRITERS
T = TypeVar("T")
MAX_MODELS, MAX_VERSIONS = 1000, 200_000
MAX_NAME = 256
ALIAS = registry.ALIAS_NAME  # ASCII only, so that no two aliases print alike
UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
FOREIGN = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")  # a URI scheme: a source held elsewhere
UNPINNED = ("unpinned: files not held or digested by mlaudit, so never promoted to a "
            "protected stage or alias until pinned (set-tag mlaudit.pin to runs:/<run_id>/"
            "<path> of files registered with digests, or POST /api/v1/models/{name}/versions/"
            "{version}/pin)")
NO_ERASE = ("the audit ledger never erases or renames a registered model or version, so "
            "that its history stays provable. Leave it in place: archive a version with "
            "transition-stage to 'Archived', or register under a new name")


def commit(unit: Callable[[LedgerWriter], T], conflict: str = "INVALID_PARAMETER_VALUE") -> T:
    """mf.commit, with separation-of-duties and approval refusals as PERMISSION_DENIED."""
    try:
        return mf.commit(unit, conflict)
    except registry.Forbidden as exc:
        raise mf.MlflowError(403, "PERMISSION_DENIED", str(exc)) from exc
    except registry.Invalid as exc:
        raise mf.invalid(str(exc)) from exc


# Search filters and order_by (app/tracking/registry_search.py), as MLflow errors.

def parse_filter(text: str | None, attributes: dict[str, str], *,
                 params: bool = False) -> list[Condition]:
    try:
        return grammar.parse_filter(text, attributes, params=params)
    except SearchError as exc:
        raise mf.invalid(str(exc)) from exc


def parse_order(items: Sequence[str], allowed: dict[str, str]) -> list[tuple[str, bool]]:
    try:
        return grammar.parse_order(items, allowed)
    except SearchError as exc:
        raise mf.invalid(str(exc)) from exc


# Request values.

def clean(text: str, what: str) -> str:
    """PostgreSQL text holds neither NUL nor unpaired surrogates: refuse them at the edge."""
    if UNSTORABLE.search(text):
        raise mf.invalid(f"{what} must not contain NUL or unpaired surrogate characters")
    return text


def name_of(data: dict[str, Any], key: str = "name") -> str:
    name = clean(str(mf.text(data, key)), key)
    if "/" in name or ":" in name or len(name) > MAX_NAME:
        raise mf.invalid(f"Invalid model name {name!r}: at most {MAX_NAME} characters, "
                         "without '/' or ':'")
    return name


def version_of(data: dict[str, Any]) -> int:
    if isinstance(data.get("version"), bool):
        raise mf.invalid("Model version must be an integer")
    raw = mf.text(data, "version") if not isinstance(data.get("version"), int) else None
    try:
        version = int(raw if raw is not None else data["version"])
    except (ValueError, TypeError) as exc:
        raise mf.invalid(f"Model version must be an integer, got {data.get('version')!r}") \
            from exc
    if not 1 <= version < 2**31:
        raise mf.invalid(f"Model version {version} is out of range")
    return version


def stage_of(text: str) -> str:
    for stage in registry.STAGES:
        if text.lower() == stage.lower():
            return stage
    raise mf.invalid(f"Invalid Model Version stage: {text}. Value must be one of "
                     f"{', '.join(registry.STAGES)}.")


def alias_of(data: dict[str, Any]) -> str:
    alias = str(mf.text(data, "alias"))
    if not ALIAS.fullmatch(alias):
        raise mf.invalid(f"Invalid alias name {alias!r}: 1-255 ASCII letters, digits, _ or -")
    if alias.lower() == "latest" or re.fullmatch(r"v\d+", alias, re.IGNORECASE):
        raise mf.invalid(f"Version alias name '{alias}' is reserved.")
    return alias


def tag_of(data: dict[str, Any]) -> tuple[str, str]:
    key = str(mf.text(data, "key"))
    problem = key_problem(key)
    if problem is not None:
        raise mf.invalid(f"Invalid tag key: {problem}")
    value = data.get("value", "")
    value = clean(value if isinstance(value, str) else str(value), "a tag value")
    if len(key) > MAX_KEY or len(value) > MAX_REGISTRY_TAG_VALUE:
        raise mf.invalid(f"tag keys are at most {MAX_KEY} and values at most "
                         f"{MAX_REGISTRY_TAG_VALUE} characters")
    return key, value


def tags_of(data: dict[str, Any]) -> dict[str, str]:
    return dict(tag_of({"key": k, "value": v}) for k, v in mf.key_values(data, "tags"))


def description_of(data: dict[str, Any]) -> str | None:
    value = data.get("description")
    if value is not None and (not isinstance(value, str) or len(value) > MAX_DESCRIPTION):
        raise mf.invalid(f"description must be a string of at most {MAX_DESCRIPTION} "
                         "characters")
    return None if value is None else clean(value, "description")


# Response shapes, exactly MLflow's (versions are strings, timestamps in ms).

def download_uri(row: store.MlflowVersionRow) -> str:
    if row.logged_model_id:
        return f"mlflow-artifacts:/{row.experiment_id}/models/{row.logged_model_id}/artifacts"
    return f"mlflow-artifacts:/{row.experiment_id}/{row.run_id}/artifacts/{row.artifact_path}"


def versions_json(conn: Any, rows: Sequence[store.MlflowVersionRow]) -> list[dict[str, Any]]:
    names = sorted({r.name for r in rows})
    tags, aliases = store.version_tags_for(conn, names), store.aliases_for(conn, names)
    out = []
    for row in rows:
        item: dict[str, Any] = {
            "name": row.name, "version": str(row.version),
            "creation_timestamp": row.creation_timestamp,
            "last_updated_timestamp": row.last_updated_timestamp, "user_id": row.created_by,
            "current_stage": row.stage, "description": row.description,
            "source": row.source or download_uri(row), "run_id": row.run_id,
            "status": "READY", "run_link": "",
            "tags": [{"key": k, "value": v} for k, v in
                     sorted(tags.get((row.name, row.version), {}).items())],
            "aliases": sorted(a for a, v in aliases[row.name].items() if v == row.version)}
        if row.logged_model_id:
            item["model_id"] = row.logged_model_id
        if row.run_id is None:  # unpinned: said where clients look (status, a tag)
            item["run_id"] = row.given_run or ""
            item["status_message"] = UNPINNED.format(name=row.name, version=row.version)
            item["tags"] = sorted([*item["tags"], {"key": registry.PINNED_TAG,
                                                   "value": "false"}], key=lambda t: t["key"])
        out.append(item)
    return out


def models_json(conn: Any, rows: Sequence[store.MlflowModelRow]) -> list[dict[str, Any]]:
    names = [r.name for r in rows]
    latest = versions_json(conn, store.latest_per_stage(conn, names))
    aliases = store.aliases_for(conn, names)
    return [{"name": r.name, "creation_timestamp": r.creation_timestamp,
             "last_updated_timestamp": r.last_updated_timestamp, "description": r.description,
             "latest_versions": [v for v in latest if v["name"] == r.name],
             "tags": [{"key": k, "value": v} for k, v in sorted(r.tags.items())],
             "aliases": [{"alias": a, "version": str(v)} for a, v in aliases[r.name].items()]}
            for r in rows]


def model_response_scoped(name: str) -> Response:
    authorize_model(name)
    return model_response(name)


def model_row(conn: Any, name: str) -> store.MlflowModelRow:
    row = store.mlflow_model(conn, name)
    if row is None:
        raise mf.not_found(f"Registered Model with name={name} not found")
    return row


def version_row(conn: Any, name: str, version: int) -> store.MlflowVersionRow:
    row = store.mlflow_version(conn, name, version)
    if row is None:
        model_row(conn, name)
        raise mf.not_found(f"Model Version (name={name}, version={version}) not found")
    return row


def model_response(name: str) -> Response:
    return jsonify(registered_model=mf.read(lambda c: models_json(c, [model_row(c, name)]))[0])


def version_response(name: str, version: int) -> Response:
    return jsonify(model_version=mf.read(
        lambda c: versions_json(c, [version_row(c, name, version)]))[0])


# Registered models.

@bp.post("/registered-models/create")
@operation()
@mf.require(*WRITERS)
def create_model() -> Response:
    data = mf.body()
    name, tags = name_of(data), tags_of(data)
    description = description_of(data) or ""
    who = mf.actor()
    commit(lambda w: registry.create_model(w, who, name, description, "", tags, [], None, 1),
           conflict="RESOURCE_ALREADY_EXISTS")
    return model_response(name)


@bp.get("/registered-models/get")
@operation()
@mf.require()
def get_model() -> Response:
    return model_response_scoped(name_of(mf.args()))


@bp.patch("/registered-models/update")
@operation()
@mf.require(*WRITERS)
def update_model() -> Response:
    data = mf.body()
    name, description = name_of(data), description_of(data)
    authorize_model(name)
    who = mf.actor()
    if description is not None:
        commit(lambda w: registry.describe_model(w, who, name, description))
    return model_response(name)


@bp.post("/registered-models/set-tag")
@operation()
@mf.require(*WRITERS)
def set_model_tag() -> Response:
    data = mf.body()
    name, (key, value) = name_of(data), tag_of(data)
    authorize_model(name)
    who = mf.actor()
    commit(lambda w: registry.set_model_tag(w, who, name, key, value))
    return jsonify({})


@bp.delete("/registered-models/delete-tag")
@operation()
@mf.require(*WRITERS)
def delete_model_tag() -> Response:
    data = mf.args()
    name, key = name_of(data), clean(str(mf.text(data, "key")), "key")
    authorize_model(name)
    who = mf.actor()
    commit(lambda w: registry.delete_model_tag(w, who, name, key))
    return jsonify({})


@bp.post("/registered-models/rename")
@bp.delete("/registered-models/delete")
@operation()
@mf.require(*WRITERS)
def erase_model() -> Response:
    name = name_of(mf.args())
    authorize_model(name)
    mf.read(lambda c: model_row(c, name))
    raise mf.invalid(f"Registered model {name!r} cannot be renamed or deleted: {NO_ERASE}.")


@bp.get("/registered-models/search")
@operation(problems=(400,))
@mf.require()
def search_models() -> Response:
    data = mf.args()
    conditions = parse_filter(mf.text(data, "filter", required=False), {"name": "string"})
    order = parse_order(request.args.getlist("order_by"), store.MODEL_ORDER)
    limit = mf.integer(data, "max_results", 100, minimum=1, maximum=MAX_MODELS) or 100
    offset = pages.decode_page_token(data.get("page_token") or None)
    rows = mf.read(lambda c: store.search_models(c, conditions, order, offset, limit + 1,
                                                 granted()))
    out: dict[str, Any] = {"registered_models": mf.read(lambda c: models_json(c, rows[:limit]))}
    if len(rows) > limit:
        out["next_page_token"] = pages.encode_page_token(offset + limit)
    return jsonify(out)


@bp.route("/registered-models/get-latest-versions", methods=["GET", "POST"])
@operation()
@mf.require()
def latest_versions() -> Response:
    data = mf.args()
    name = name_of(data)
    raw = data.get("stages") if request.method != "GET" else request.args.getlist("stages")
    if raw is not None and not isinstance(raw, list):
        raise mf.invalid("'stages' must be a list of stage names")
    stages = [stage_of(str(s)) for s in raw] if raw else None
    authorize_model(name)

    def fetch(conn: Any) -> list[dict[str, Any]]:
        model_row(conn, name)
        return versions_json(conn, store.latest_per_stage(conn, [name], stages))
    return jsonify(model_versions=mf.read(fetch))


# Aliases: a protected alias is set only under an approved promotion.

@bp.post("/registered-models/alias")
@operation()
@mf.require(*WRITERS)
def set_alias() -> Response:
    data = mf.body()
    name, alias, version = name_of(data), alias_of(data), version_of(data)
    authorize_model(name)  # which covers every version of it
    who = mf.actor()
    commit(lambda w: registry.reach_target(w, who, name, version, f"@{alias}"))
    return jsonify({})


@bp.get("/registered-models/alias")
@operation()
@mf.require()
def get_by_alias() -> Response:
    data = mf.args()
    name, alias = name_of(data), alias_of(data)
    authorize_model(name)

    def fetch(conn: Any) -> dict[str, Any]:
        model_row(conn, name)
        version = store.aliases(conn, name).get(alias)
        if version is None:
            raise mf.invalid(f"Registered model alias {alias} not found.")
        return versions_json(conn, [version_row(conn, name, version)])[0]
    return jsonify(model_version=mf.read(fetch))


@bp.delete("/registered-models/alias")
@operation()
@mf.require(*WRITERS)
def delete_alias() -> Response:
    data = mf.args()
    name, alias = name_of(data), alias_of(data)
    authorize_model(name)
    who = mf.actor()
    commit(lambda w: registry.delete_alias(w, who, name, alias))
    return jsonify({})


# Model versions.

def _source(data: dict[str, Any]) -> tuple[str, str, str | None] | None:
    """(run_id, run artifact path, logged model id) that a version's source names; None for a
    source we do not hold (an s3:// URI, a run that is not ours): the version is unpinned."""
    source = clean(str(mf.text(data, "source")), "source")
    run_id, model_id = data.get("run_id") or None, data.get("model_id") or None
    if ".." in source.split("/"):
        raise mf.invalid(f"Invalid model version source {source!r}: '..' is not allowed")
    if source.startswith("models:/"):
        named = source.removeprefix("models:/").strip("/")
        if not isinstance(model_id, str) or named != model_id:
            raise mf.invalid(f"source {source!r} names a logged model: pass the same "
                             "model_id with it")
        return _logged(str(model_id), run_id)
    found = re.fullmatch(r"mlflow-artifacts:/+([^/]+)/models/(m-[0-9a-f]{32})/artifacts/?",
                         source)
    if found:
        return _logged(found[2], run_id)
    found = (re.fullmatch(r"runs:/([^/]+)/(.+)", source) or
             re.fullmatch(r"mlflow-artifacts:/+[^/]+/([^/]+)/artifacts/(.+)", source))
    if found is None:
        if not FOREIGN.match(source):
            raise mf.invalid(f"Invalid model version source {source!r}: a URI (runs:/<run_id>/"
                             "<path>, models:/<model_id>, mlflow-artifacts:/…, s3://…), "
                             "never a path on the client's machine")
        return None
    if run_id is not None and run_id != found[1]:
        raise mf.invalid(f"source {source!r} does not belong to run_id {run_id!r}")
    if mf.authorized_run(found[1]) is None:  # (a scoped token's missing run: 404)
        return None  # a run that is not ours
    return found[1], found[2].strip("/"), None


def _logged(model_id: str, run_id: Any) -> tuple[str, str, str]:
    if not logged_models.MODEL_ID.fullmatch(model_id):
        raise mf.not_found(f"Logged model with id={model_id} not found")
    row = mf.read(lambda c: lm_store.get_logged_model(c, model_id))
    if row is None or row.lifecycle != "active" or not scope.reaches(row.experiment_id):
        raise mf.not_found(f"Logged model with id={model_id} not found")  # or out of scope
    if row.source_run_id is None:
        raise mf.invalid(f"logged model {model_id} has no source run, so it holds no files "
                         "to register")
    if run_id is not None and run_id != row.source_run_id:
        raise mf.invalid(f"run_id {run_id!r} is not the source run of logged model {model_id}")
    return row.source_run_id, logged_models.files_path(model_id), model_id


@bp.post("/model-versions/create")
@operation()
@mf.require(*WRITERS)
def create_version() -> Response:
    data = mf.body()
    name, tags, description = name_of(data), tags_of(data), description_of(data)
    source = str(mf.text(data, "source"))
    held = _source(data)
    authorize_model(name)  # a version joins the model: the caller must reach all of it
    who = mf.actor()
    if held is None:
        given = data.get("run_id") or None
        if given is not None and not isinstance(given, str):
            raise mf.invalid("'run_id' must be a string")
        scoped = granted() is not None
        version, _ = commit(lambda w: unpinned.register_unpinned(
            w, who, name, clean(source, "source"), given, tags, description, scoped))
        return version_response(name, version)
    run_id, path, model_id = held
    version = commit(lambda w: registry.register_from_source(
        w, who, name, run_id, path, source, model_id, tags, description))
    return version_response(name, version)


@bp.get("/model-versions/get")
@operation()
@mf.require()
def get_version() -> Response:
    data = mf.args()
    name, version = name_of(data), version_of(data)
    authorize_version(name, version)
    return version_response(name, version)


@bp.patch("/model-versions/update")
@operation()
@mf.require(*WRITERS)
def update_version() -> Response:
    data = mf.body()
    name, version, description = name_of(data), version_of(data), description_of(data)
    authorize_version(name, version)
    who = mf.actor()
    if description is not None:
        commit(lambda w: registry.describe_version(w, who, name, version, description))
    return version_response(name, version)


@bp.post("/model-versions/set-tag")
@operation()
@mf.require(*WRITERS)
def set_version_tag() -> Response:
    data = mf.body()
    name, version, (key, value) = name_of(data), version_of(data), tag_of(data)
    authorize_version(name, version)
    who = mf.actor()
    if key == registry.PIN_TAG:  # pin an unpinned version (app/services/unpinned.py)
        run_id, path = _pin_source(value)
        commit(lambda w: unpinned.pin_version(w, who, name, version, run_id, path))
        return jsonify({})
    commit(lambda w: registry.set_version_tags(w, who, name, version, {key: value}))
    return jsonify({})


def _pin_source(value: str) -> tuple[str, str]:
    """The run and path that set-tag mlaudit.pin names; the run must be one the caller reaches."""
    found = re.fullmatch(r"runs:/([^/]+)/(.+)", value)
    if found is None or ".." in found[2].split("/"):
        raise mf.invalid(f"{registry.PIN_TAG} takes runs:/<run_id>/<path>: the files, "
                         f"registered with their digests, that the version pins; got {value!r}")
    if mf.authorized_run(found[1]) is None:
        raise mf.not_found(f"Run with id={found[1]} not found")
    return found[1], found[2].strip("/")


@bp.delete("/model-versions/delete-tag")
@operation()
@mf.require(*WRITERS)
def delete_version_tag() -> Response:
    data = mf.args()
    name, version = name_of(data), version_of(data)
    key = clean(str(mf.text(data, "key")), "key")
    authorize_version(name, version)
    who = mf.actor()
    commit(lambda w: registry.delete_version_tag(w, who, name, version, key))
    return jsonify({})


@bp.delete("/model-versions/delete")
@operation()
@mf.require(*WRITERS)
def delete_version() -> Response:
    data = mf.args()
    name, version = name_of(data), version_of(data)
    authorize_version(name, version)
    mf.read(lambda c: version_row(c, name, version))
    raise mf.invalid(f"Version {version} of {name!r} cannot be deleted: {NO_ERASE}.")


@bp.post("/model-versions/transition-stage")
@operation()
@mf.require(*WRITERS)
def transition_stage() -> Response:
    data = mf.body()
    name, version = name_of(data), version_of(data)
    stage = stage_of(str(mf.text(data, "stage")))
    authorize_version(name, version)
    archive = data.get("archive_existing_versions", False)
    if archive not in (True, False, "true", "false"):
        raise mf.invalid("'archive_existing_versions' must be a boolean")
    who = mf.actor()
    commit(lambda w: registry.transition(w, who, name, version, stage,
                                         archive in (True, "true")))
    return version_response(name, version)


@bp.get("/model-versions/get-download-uri")
@operation()
@mf.require()
def download_uri_of() -> Response:
    data = mf.args()
    name, version = name_of(data), version_of(data)
    authorize_version(name, version)
    row = mf.read(lambda c: version_row(c, name, version))  # MLflow's errors if none
    if row.run_id is None:  # unpinned: its files are where the client registered them from
        return jsonify(artifact_uri=row.source)
    try:
        pin = mf.read(lambda c: pinned.pin_of(c, name, version))
    except Tampered as exc:
        raise mf.MlflowError(409, "RESOURCE_CONFLICT", str(exc)) from exc
    # the version's root (exactly its pinned files), not the run's folder, which can hold more
    return jsonify(artifact_uri=sealed_uri(pin))


@bp.get("/model-versions/search")
@operation(problems=(400,))
@mf.require()
def search_versions() -> Response:
    data = mf.args()
    conditions = parse_filter(mf.text(data, "filter", required=False), {
        "name": "list", "version_number": "number", "run_id": "list", "source_path": "string"})
    order = parse_order(request.args.getlist("order_by"), store.VERSION_ORDER)
    limit = mf.integer(data, "max_results", 10_000, minimum=1, maximum=MAX_VERSIONS) or 10_000
    offset = pages.decode_page_token(data.get("page_token") or None)
    rows = mf.read(lambda c: store.search_versions(c, conditions, order, offset, limit + 1,
                                                   granted()))
    out: dict[str, Any] = {"model_versions": mf.read(lambda c: versions_json(c, rows[:limit]))}
    if len(rows) > limit:
        out["next_page_token"] = pages.encode_page_token(offset + limit)
    return jsonify(out)
