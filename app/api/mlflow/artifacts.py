"""MLflow's artifact proxy (/api/2.0/mlflow-artifacts/artifacts) over our signed artifact store,
plus MLflow's probes: /health (no auth, like /healthz), /version and /api/3.0/mlflow/server-info
(a token, like every other route; the client sends its credentials to both).

Runs carry `artifact_uri = mlflow-artifacts:/<exp>/<run>/artifacts`, which the client turns into
these routes. Path scheme (after `artifacts/`):

- `<exp>/<run>/artifacts/<rel>`: run `<run>`, artifact path `<rel>`;
- `<exp>/models/<model_id>/artifacts/<rel>`: an MLflow 3 logged model's files, recorded on its
  source run at the run path `models/<model_id>/<rel>` (a model without a source run: 400);
- `<exp>/model-versions/<version_digest>/artifacts/<rel>`: a registered version's root, which
  get-download-uri hands out for models:/ URIs. It lists and serves exactly the files the
  version pinned (`<rel>` relative to its artifact path), each re-hashed against the pinned
  digest (409 RESOURCE_CONFLICT, never the bytes, on a mismatch); it takes no uploads.

The experiment in the path must be the run's (or model's). An upload takes the same service
path as `PUT /api/v1/runs/<run>/artifacts/<rel>`: streamed into the content-addressed store and
recorded with a signed digest entry (`artifact.recorded`). Other bytes at a recorded path are
its next revision (what `mlflow.log_table` and a repeated `log_dict` send): downloads and
listings serve the latest, and every revision stays recorded, its bytes kept. Downloads re-hash
the stored bytes. An upload into a path a registered version pins (sealed) and every DELETE
are refused with INVALID_PARAMETER_VALUE.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, jsonify, request

from app.api.http import scope
from app.api.http.context import services
from app.api.http.docs import BINARY, ok
from app.api.http.hygiene import body_chunks
from app.api.mlflow import MLFLOW_API_VERSION
from app.api.mlflow import compat as mf
from app.api.mlflow.docs import MESSAGE, NOTE, PLAIN_TEXT, MlflowArtifactListQuery, operation
from app.artifacts.store import CHUNK_SIZE, TooLargeError
from app.ledger.checkpoint import Signer
from app.services import artifacts, keys, pinned
from app.services.tracking import Conflict, NotFound
from app.storage import logged_models, mlflow_views
from app.storage import tracking as runs
from app.tracking.limits import SHA256_HEX
from app.tracking.paths import artifact_path_problem, hides_traversal

bp = Blueprint("mlflow_artifacts", __name__, url_prefix="/api/2.0/mlflow-artifacts")
probes = Blueprint("mlflow_probes", __name__)
mf.register_error_handlers(bp)
mf.register_error_handlers(probes)

MAX_PATH = 2000
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\\]")
VERSIONS = "model-versions"


@dataclass(frozen=True)
class Location:
    """Where an mlflow-artifacts path points: a run, and a path inside its artifacts."""

    run: runs.RunRow
    path: str  # the run path ('' for the run's root)
    relative: str  # the part after `artifacts/` ('' for the root folder itself)


def _segments(path: str) -> list[str]:
    """The path's segments; traversal, absolute paths, '//', NUL and control characters: 400."""
    if len(path) > MAX_PATH or _FORBIDDEN.search(path) or path.startswith("/"):
        raise mf.invalid(f"invalid artifact path {path[:100]!r}")
    segments = path.split("/") if path else []
    if any(segment in ("", ".", "..") for segment in segments):
        raise mf.invalid(f"invalid artifact path {path[:100]!r}: no empty, '.' or '..' segment")
    if hides_traversal(path):
        raise mf.invalid(f"invalid artifact path {path[:100]!r}: percent-encoded traversal")
    return segments


def _run_of(experiment_id: str, run_id: str) -> runs.RunRow:
    run = mf.read(lambda c: runs.get_run(c, run_id))
    if run is None or run.experiment_id != experiment_id or not scope.reaches(experiment_id):
        raise mf.not_found(f"no run {run_id} in experiment {experiment_id}")  # or out of scope
    return run


def _model_run(experiment_id: str, model_id: str) -> runs.RunRow:
    model = mf.read(lambda c: logged_models.get_logged_model(c, model_id))
    if model is None or model.experiment_id != experiment_id or not scope.reaches(experiment_id):
        raise mf.not_found(f"no logged model {model_id} in experiment {experiment_id}")
    if model.source_run_id is None:
        raise mf.invalid(f"logged model {model_id} has no source run, so it cannot hold files")
    return _run_of(experiment_id, model.source_run_id)


def locate(path: str) -> Location | None:
    """The run and run path an mlflow-artifacts path names; None if it names no run folder."""
    parts = _segments(path)
    if len(parts) >= 3 and parts[1] != "models" and parts[2] == "artifacts":
        relative = "/".join(parts[3:])
        return Location(_run_of(parts[0], parts[1]), relative, relative)
    if len(parts) >= 4 and parts[1] == "models" and parts[3] == "artifacts":
        inner = "/".join(["models", parts[2], *parts[4:]])
        return Location(_model_run(parts[0], parts[2]), inner, "/".join(parts[4:]))
    return None


def sealed_uri(pin: pinned.Pin) -> str:
    """The version root get-download-uri hands out: the pinned files and nothing else."""
    return f"mlflow-artifacts:/{pin.experiment_id}/{VERSIONS}/{pin.version_digest}/artifacts"


@dataclass(frozen=True)
class VersionLocation:
    """A path under a registered version's root: relative to its artifact path."""

    pin: pinned.Pin
    relative: str


def _pin(experiment_id: str, digest: str) -> pinned.Pin:
    """The version under this root; one out of the caller's scope answers as a missing one."""
    def here(found: str) -> bool:
        return found == experiment_id and scope.reaches(found)

    try:
        pin = mf.read(lambda c: pinned.pin_by_digest(c, digest, here)) if SHA256_HEX.fullmatch(
            digest) else None
    except artifacts.Tampered as exc:
        raise mf.MlflowError(409, "RESOURCE_CONFLICT", str(exc)) from exc
    if pin is None:
        raise mf.not_found(f"no registered model version {digest[:70]} in experiment "
                           f"{experiment_id}")
    return pin


def locate_version(path: str) -> VersionLocation | None:
    """The version a `<exp>/model-versions/<digest>/artifacts[/<rel>]` path names, or None."""
    parts = _segments(path)
    if len(parts) >= 4 and parts[1] == VERSIONS and parts[3] == "artifacts":
        return VersionLocation(_pin(parts[0], parts[2]), "/".join(parts[4:]))
    return None


def _file(path: str) -> Location:
    found = locate(path)
    if found is None or not found.relative:
        raise mf.invalid(f"{path[:100]!r} is not <exp>/<run>/artifacts/<path> or "
                         "<exp>/models/<model_id>/artifacts/<path>")
    problem = artifact_path_problem(found.path)  # the native API's rule for the run path
    if problem is not None:
        raise mf.invalid(f"invalid artifact path: {problem}")
    return found


def _signer() -> Signer:
    config = services().config
    return mf.read(lambda conn: keys.load_signer(conn, config.origin, config.keys_path))


@bp.put("/artifacts/<path:path>", merge_slashes=False)
@operation(
    "MLflow: upload an artifact (raw body), recorded with its signed digest entry",
    {200: MESSAGE}, raw_body=True, description=NOTE, problems=(400, 404))
@mf.require(*mf.WRITERS)
def upload(path: str) -> Response:
    """The raw body becomes the artifact, with its signed digest entry; 200 `{}`."""
    svc = services()
    request.max_content_length = svc.config.max_upload_bytes
    sealed = locate_version(path)
    if sealed is not None:
        raise mf.invalid(f"{sealed.pin.label} is sealed: its files are exactly those it "
                         "pinned, and nothing is uploaded into them")
    where = _file(path)
    if where.run.lifecycle != "active":
        raise mf.invalid(f"The run {where.run.id} must be in the 'active' state")
    try:  # refused before the body is read; the unit checks again under the head lock
        mf.read(lambda c: artifacts.refuse_sealed_early(c, where.run.id, where.path))
    except artifacts.Sealed as exc:
        raise mf.invalid(str(exc)) from exc
    signer, who, chunks = _signer(), mf.actor(), body_chunks(CHUNK_SIZE)
    try:
        artifacts.upload(svc.committer, svc.blobs, signer, who, where.run.id, where.path,
                         chunks, svc.config.max_upload_bytes)
    except NotFound as exc:
        raise mf.not_found(str(exc)) from exc
    except Conflict as exc:
        raise mf.invalid(str(exc)) from exc
    except TooLargeError as exc:
        raise mf.invalid(f"{exc}; the limit is {svc.config.max_upload_bytes} bytes "
                         "(MLAUDIT_MAX_UPLOAD_BYTES)") from exc
    return jsonify({})


@bp.get("/artifacts/<path:path>", merge_slashes=False)
@operation(
    "MLflow: download an artifact's bytes, re-hashed against the recorded SHA-256",
    {200: ok(BINARY, "the bytes", "application/octet-stream")}, description=NOTE,
    problems=(400, 404, 409))
@mf.require()
def download(path: str) -> Response:
    """The bytes (attachment), re-hashed against the recorded SHA-256 before and while sent
    (under a version root: against the pinned SHA-256)."""
    version = locate_version(path)
    if version is not None:
        return _serve_pinned(version)
    where = _file(path)
    try:
        row = mf.read(lambda c: artifacts.recorded(c, where.run.id, where.path))
    except artifacts.Tampered as exc:
        raise mf.MlflowError(409, "RESOURCE_CONFLICT", str(exc)) from exc
    if row is None:
        raise mf.not_found(f"no artifact {path!r}")
    if row.uri is not None:
        raise mf.not_found(f"artifact {path!r} is external; its bytes are at {row.uri}")
    blobs = services().blobs
    try:
        artifacts.check_stored(blobs, row)
    except artifacts.Tampered as exc:
        raise mf.MlflowError(409, "RESOURCE_CONFLICT", str(exc)) from exc
    return _attachment(artifacts.stream_stored(blobs, row), row.sha256, row.size)


def _serve_pinned(where: VersionLocation) -> Response:
    pin, blobs = where.pin, services().blobs
    try:
        found = pin.file(pin.run_path(where.relative))
        pinned.check_served(blobs, pin, found, lambda: mf.read(
            lambda c: pinned.external_uri_of(c, pin, found)))
    except NotFound as exc:  # not pinned, or external
        raise mf.not_found(str(exc)) from exc
    except artifacts.Tampered as exc:
        raise mf.MlflowError(409, "RESOURCE_CONFLICT", str(exc)) from exc
    return _attachment(pinned.stream_pinned(blobs, pin, found), found.sha256, found.size)


def _attachment(chunks: Iterator[bytes], sha256: str, size: int) -> Response:
    response = Response(chunks, direct_passthrough=True, mimetype="application/octet-stream")
    response.content_length = size
    response.headers["Content-Disposition"] = "attachment"
    response.headers["X-Content-SHA256"] = sha256
    digest = base64.b64encode(bytes.fromhex(sha256)).decode("ascii")
    response.headers["Repr-Digest"] = f"sha-256=:{digest}:"
    return response


@bp.get("/artifacts")
@operation("MLflow: list a folder's immediate children (?path=)",
           {200: MESSAGE}, query=MlflowArtifactListQuery,
           description=NOTE, problems=(400, 404))
@mf.require()
def list_artifacts() -> Response:
    """Immediate children of ?path= as basenames; `{}` for a file, or nothing there."""
    path = request.args.get("path", "")
    folder = path[:-1] if path.endswith("/") else path
    version = locate_version(folder)
    if version is not None:
        children = version.pin.children(version.relative)
    else:
        found = locate(folder)
        if found is None:
            return jsonify({})
        prefix = f"{found.path}/" if found.path else ""
        children = [(c.name, c.is_dir, c.size) for c in mf.read(
            lambda c: mlflow_views.artifact_children(c, found.run.id, prefix))]
    if not children:
        return jsonify({})
    files: list[dict[str, Any]] = [
        {"path": name, "is_dir": True} if is_dir else
        {"path": name, "is_dir": False, "file_size": size} for name, is_dir, size in children]
    return jsonify(files=files)


@bp.delete("/artifacts/<path:path>", merge_slashes=False)
@operation(
    "MLflow: delete an artifact (always refused: recorded artifacts are never erased)",
    {200: MESSAGE}, description=NOTE, problems=(400,))
@mf.require(*mf.WRITERS)
def delete(path: str) -> Response:
    _segments(path)
    raise mf.invalid("mlaudit is an audit ledger: recorded artifacts are never deleted "
                     "(each is a signed ledger entry); log new ones under another path")


@probes.get("/health")
@operation("MLflow's health probe: plain OK", {200: PLAIN_TEXT}, problems=(), description="")
def health() -> Response:
    """MLflow's load-balancer probe (no auth): plain `OK`."""
    return Response("OK", mimetype="text/plain")


@probes.get("/version")
@operation("The MLflow version whose API is implemented, as plain text",
           {200: PLAIN_TEXT}, problems=(), description="")
@mf.require()
def version() -> Response:
    """The MLflow version whose API we implement, as plain text (what MLflow's server answers
    with its own version; the client compares it before version-gated calls). mlaudit's own
    version is in server-info and the X-Mlaudit-Version header."""
    from app import __version__

    response = Response(MLFLOW_API_VERSION, mimetype="text/plain")
    response.headers["X-Mlaudit-Version"] = __version__
    return response


@probes.get("/api/3.0/mlflow/server-info")
@operation("MLflow: server capabilities (no multipart or presigned transfers)",
           {200: MESSAGE}, problems=(), description="")
@mf.require()
def server_info() -> Response:
    """What the client probes before artifact downloads: no multipart or presigned
    transfers, so plain PUT/GET is always used. Beside MLflow's fields: `mlflow_version`
    (the API implemented, as /version answers), `server` and `server_version` (mlaudit's)."""
    from app import __version__

    return jsonify(store_type="SqlStore", workspaces_enabled=False,
                   trace_archival_enabled=False, multipart_uploads_enabled=False,
                   multipart_downloads_enabled=False, presigned_upload_run_id_supported=False,
                   presigned_upload_model_id_supported=False, features_enabled={},
                   mlflow_version=MLFLOW_API_VERSION, server="mlaudit",
                   server_version=__version__)
