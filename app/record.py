"""`mlaudit record`: post a whole run from one JSON or YAML file to the REST API.

The file is one object (a mapping in YAML); every field is optional and paths are relative
to the file's directory:

    name: str                  run name
    source: {git_commit, repository, pipeline_id, pipeline_url, entry_point}
    start_time, end_time: int  milliseconds since the epoch
    status: FINISHED | FAILED | KILLED (default FINISHED)
    parent_run_id: str
    tags, params: {key: string, number or boolean}
    metrics: [{key, value, step?, timestamp?, group?: {attribute: value}, n?}]
    datasets: [{name, path (local file, SHA-256 computed) or digest, context, source_uri?,
                schema?, row_count?, group_counts?}]
    artifacts: [{path (local file, or directory uploaded recursively), name?}]
    environment: {python_version?, os?, architecture?, hardware?, container_image_digest?,
                  packages?, lockfile_sha256?}  overrides of what is captured automatically
    lockfile: path             requirements.txt, poetry.lock, uv.lock... (its SHA-256)

A file artifact is stored at `name`, default its file name; a directory's files at their
path relative to it, under `name/` if given. Numbers keep their decimal text in JSON and in
YAML, so metric values are never rounded through binary floats.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import platform
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any, BinaryIO, TextIO, TypeVar
from urllib import error, parse, request

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from marshmallow import Schema, ValidationError

from app.api.v1 import tracking_schemas as ts
from app.api.v1.artifacts import check_path
from app.ledger import request_signature
from app.ledger.errors import LedgerError

T = TypeVar("T")
SIGNATURE_HEADER = "MLaudit-Signature"  # as app.services.access names it (a client stays apart)
TIMEOUT = 300.0
MAX_INPUTS = 100
IMAGE_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
FIELDS = ("name", "source", "start_time", "end_time", "status", "parent_run_id", "tags",
          "params", "metrics", "datasets", "artifacts", "environment", "lockfile")
RUN_FIELDS = ("name", "source", "parent_run_id", "start_time")


class RecordError(LedgerError):
    """The run file is unusable, or a step of recording it failed."""


class ApiProblem(RecordError):
    """The server answered with an error status (its problem+json detail is the message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Invalid(Exception):
    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}" if where else message)


@dataclass(frozen=True)
class Upload:
    local: Path
    path: str
    size: int


@dataclass
class Plan:
    """Everything to send, validated with the server's own schemas before any request."""

    run: dict[str, Any]
    end: dict[str, Any]
    params: dict[str, str]
    tags: dict[str, str]
    metrics: list[dict[str, Any]]
    datasets: list[dict[str, Any]]
    uploads: list[Upload]
    environment: dict[str, Any]


@dataclass
class Recorded:
    experiment_id: str = ""
    run_id: str = ""
    receipts: list[dict[str, Any]] = field(default_factory=list)
    artifacts: list[dict[str, Any]] = field(default_factory=list)

    def note(self, kinds: list[str], receipts: list[dict[str, Any] | None]) -> None:
        found = [r for r in receipts if r is not None]
        for index, receipt in enumerate(found):
            kind = kinds[index] if len(kinds) == len(found) else "batch.logged"
            self.receipts.append({"kind": kind, **receipt})


# -- reading and validating the file ---------------------------------------------------------

class _DecimalLoader(yaml.SafeLoader):
    """yaml.SafeLoader whose floats keep their decimal text."""


def _yaml_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Decimal | float:
    try:
        return Decimal(str(loader.construct_scalar(node)).replace("_", ""))
    except InvalidOperation:  # .inf, .nan, 1:30.5
        special: float = loader.construct_yaml_float(node)
        return special


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _yaml_float)


def read_file(path: Path) -> Any:
    """JSON if the name ends in .json, else YAML; fractions come back as Decimal."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordError(f"cannot read {path}: {_reason(exc)}") from exc
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text, parse_float=Decimal)
        return yaml.load(text, Loader=_DecimalLoader)  # noqa: S506 - a SafeLoader subclass
    except json.JSONDecodeError as exc:
        raise RecordError(f"{path}: not valid JSON: {exc}") from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark else ""
        raise RecordError(f"{path}: not valid YAML: {where}{exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise RecordError(f"{path}: not valid YAML: {_reason(exc)}") from exc


def plan(path: Path, image_digest: str | None) -> Plan:
    data = read_file(path)
    try:
        return _plan(data, path.parent, image_digest)
    except _Invalid as exc:
        raise RecordError(f"{path}: {exc}") from exc


def _plan(data: Any, base: Path, image_digest: str | None) -> Plan:
    if not isinstance(data, dict):
        raise _Invalid("", "the file must hold one object (a mapping)")
    for key in data:
        if key not in FIELDS:
            raise _Invalid(str(key), f"unknown field; expected one of {', '.join(FIELDS)}")
    run = _load(ts.RunCreate(partial=("experiment_id",)),
                {k: data[k] for k in RUN_FIELDS if k in data}, "")
    end = _load(ts.RunEnd(), {"status": data.get("status", "FINISHED"),
                              **({"end_time": data["end_time"]} if "end_time" in data else {})}, "")
    metrics = [_metric(item, f"metrics[{i}]") for i, item in enumerate(_list(data, "metrics"))]
    return Plan({k: run[k] for k in RUN_FIELDS if k in data}, _compact(end),
                _strings(data.get("params"), "params", ts.MAX_PARAM_VALUE),
                _strings(data.get("tags"), "tags", ts.MAX_TAG_VALUE), metrics,
                _datasets(_list(data, "datasets"), base), _uploads(_list(data, "artifacts"), base),
                _environment(data.get("environment"), data.get("lockfile"), base, image_digest))


def _load(schema: Schema, data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _Invalid(where, "must be an object (a mapping)")
    try:
        loaded: dict[str, Any] = schema.load(data)
    except ValidationError as exc:
        raise first_problem(exc.messages, where) from exc
    return loaded


def first_problem(messages: Any, where: str) -> _Invalid:
    """The first of marshmallow's nested messages, located as `metrics[3].value`."""
    while isinstance(messages, dict | list) and messages:
        if isinstance(messages, list):
            messages = messages[0]
            continue
        key, messages = next(iter(messages.items()))
        if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
            where += f"[{key}]"
        elif key != "_schema":
            where = f"{where}.{key}" if where else str(key)
    return _Invalid(where, str(messages))


def _compact(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def _list(data: dict[str, Any], name: str) -> list[Any]:
    value = data.get(name) or []
    if not isinstance(value, list):
        raise _Invalid(name, "must be a list")
    return value


def _text(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | Decimal | float):
        return str(value)
    raise _Invalid(where, "must be a string, number or boolean")


def _strings(value: Any, where: str, limit: int) -> dict[str, str]:
    if not isinstance(value, dict | None):
        raise _Invalid(where, "must be a mapping of keys to values")
    out: dict[str, str] = {}
    for key, item in (value or {}).items():
        here = f"{where}.{key}"
        try:
            ts.check_key(str(key))
        except ValidationError as exc:
            raise first_problem(exc.messages, here) from exc
        out[str(key)] = _text(item, here)
        if len(out[str(key)]) > limit:
            raise _Invalid(here, f"longer than {limit} characters")
    return out


def _metric(item: Any, where: str) -> dict[str, Any]:
    metric = _compact(_load(ts.MetricSchema(), item, where))
    value = Decimal(metric["value"])  # normalized: a finite decimal, NaN or ±Infinity
    metric["value"] = value if value.is_finite() else metric["value"]
    return metric


def _local(base: Path, raw: Any, where: str) -> Path:
    if not isinstance(raw, str) or not raw:
        raise _Invalid(where, "must be a non-empty path")
    return base / raw


def _sha256(base: Path, raw: Any, where: str) -> str:
    """Stream the file through SHA-256 (never all in memory)."""
    try:
        with _local(base, raw, where).open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as exc:
        raise _Invalid(where, f"cannot read {raw}: {_reason(exc)}") from exc


def _datasets(items: list[Any], base: Path) -> list[dict[str, Any]]:
    found = []
    for index, item in enumerate(items):
        where = f"datasets[{index}]"
        if isinstance(item, dict) and "path" in item:
            if "digest" in item:
                raise _Invalid(where, "give path or digest, not both")
            item = dict(item)
            item["digest"] = _sha256(base, item.pop("path"), f"{where}.path")
        found.append(_compact(_load(ts.DatasetSchema(), item, where)))
    return found


def _uploads(items: list[Any], base: Path) -> list[Upload]:
    uploads: dict[str, Upload] = {}
    for index, item in enumerate(items):
        where = f"artifacts[{index}]"
        if not isinstance(item, dict) or "path" not in item or set(item) - {"path", "name"}:
            raise _Invalid(where, "must be {path, name?}")
        name = item.get("name")
        if name is not None and not isinstance(name, str):
            raise _Invalid(f"{where}.name", "must be a string")
        for local, path in _artifact_files(base, item["path"], name, f"{where}.path"):
            try:
                check_path(path)
            except ValidationError as exc:
                raise first_problem(exc.messages, f"{where}.name") from exc
            if path in uploads:
                raise _Invalid(where, f"artifact path {path!r} is given twice")
            uploads[path] = Upload(local, path, local.stat().st_size)
    return list(uploads.values())


def _artifact_files(base: Path, raw: Any, name: str | None, where: str
                    ) -> list[tuple[Path, str]]:
    local = _local(base, raw, where)
    if local.is_file():
        return [(local, name or local.name)]
    if not local.is_dir():
        raise _Invalid(where, f"no such file or directory: {raw}")
    found = []
    for folder, dirs, files in os.walk(local):  # does not follow directory symlinks
        dirs.sort()
        for file_name in sorted(files):
            path = Path(folder, file_name)
            if path.is_file():
                relative = path.relative_to(local).as_posix()
                found.append((path, f"{name}/{relative}" if name else relative))
    return found


# -- the execution environment ---------------------------------------------------------------

def capture_environment(image_digest: str | None) -> dict[str, Any]:
    """Where this process runs: Python, OS, architecture, hardware, image and packages."""
    environment: dict[str, Any] = {
        "python_version": platform.python_version(), "os": platform.platform(),
        "architecture": platform.machine() or "unknown", "hardware": _hardware(),
        "packages": _packages()}
    if image_digest:
        if not IMAGE_DIGEST.fullmatch(image_digest):
            raise RecordError("MLAUDIT_IMAGE_DIGEST must be sha256:<64 lowercase hex digits>")
        environment["container_image_digest"] = image_digest
    return environment


def _hardware() -> dict[str, str]:
    found = {"cpu_count": str(os.cpu_count() or "unknown"),
             "processor": platform.processor() or platform.machine()}
    memory = _memory_bytes()
    if memory:
        found["memory_bytes"] = str(memory)
    return {k: v[:1000] for k, v in found.items() if v}


def _memory_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _packages() -> list[dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name and name.lower() not in found:
            found[name.lower()] = {"name": name[:200], "version": (dist.version or "")[:200]}
    return [found[key] for key in sorted(found)][:5000]


def _environment(overrides: Any, lockfile: Any, base: Path,
                 image_digest: str | None) -> dict[str, Any]:
    if not isinstance(overrides, dict | None):
        raise _Invalid("environment", "must be a mapping")
    environment = capture_environment(image_digest)
    overrides = dict(overrides or {})
    hardware = overrides.pop("hardware", {})
    if not isinstance(hardware, dict):
        raise _Invalid("environment.hardware", "must be a mapping")
    environment["hardware"].update({str(k): _text(v, f"environment.hardware.{k}")
                                    for k, v in hardware.items()})
    environment.update(overrides)
    if lockfile is not None:
        environment["lockfile_sha256"] = _sha256(base, lockfile, "lockfile")
    return _compact(_load(ts.EnvironmentBody(), environment, "environment"))


# -- HTTP ------------------------------------------------------------------------------------

def dumps(value: Any) -> str:
    """JSON text in which a Decimal is the number it spells, not a rounded binary float."""
    if isinstance(value, Decimal):
        return str(value) if value.is_finite() else json.dumps(str(value))
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value)


class Progress:
    """One `\\r` bar over the bytes of every upload, on a TTY stream; silent without one."""

    WIDTH = 30

    def __init__(self, total: int, out: TextIO | None) -> None:
        self.total, self.out, self.done, self.shown = max(total, 1), out, 0, -1

    def advance(self, count: int) -> None:
        self.done += count
        percent = 100 * self.done // self.total
        if self.out is None or percent == self.shown:
            return
        self.shown = percent
        filled = self.WIDTH * self.done // self.total
        self.out.write(f"\ruploading [{'#' * filled}{'.' * (self.WIDTH - filled)}] {percent:3d}% "
                       f"{self.done / 1e6:,.1f}/{self.total / 1e6:,.1f} MB")
        self.out.flush()

    def finish(self) -> None:
        if self.out is not None and self.shown >= 0:
            self.out.write("\r" + " " * (self.WIDTH + 40) + "\r")
            self.out.flush()


class _Reader:
    """A file for http.client to stream from: counts progress and hashes what was sent."""

    def __init__(self, handle: BinaryIO, progress: Progress) -> None:
        self.handle, self.progress, self.hash = handle, progress, hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        chunk = self.handle.read(size)
        self.hash.update(chunk)
        self.progress.advance(len(chunk))
        return chunk


class RequestSigner:
    """Signs requests with the client's Ed25519 key: `MLaudit-Signature: keyid=..,t=..,sig=..`
    over the method, path and query, timestamp and body SHA-256 (docs/ledger-format.md,
    "Client request signatures"). The server records the signature in every entry the
    request makes, and refuses it if it is replayed or older than the replay window."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self.key = key
        self.public_key = key.public_key().public_bytes_raw()
        self.key_id = request_signature.key_id(self.public_key)

    @classmethod
    def from_file(cls, path: Path) -> RequestSigner:
        """A PEM (PKCS #8) Ed25519 private key, as `openssl genpkey -algorithm ed25519` writes."""
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise RecordError(f"cannot read the signing key {path}: {_reason(exc)}") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise RecordError(f"{path} is not an Ed25519 private key")
        return cls(key)

    def header(self, method: str, url: str, body: bytes, now: float | None = None) -> str:
        """The header value for a request to `url` (its path and query as sent) with `body`."""
        parts = parse.urlsplit(url)
        target = request_signature.canonical_target(parse.unquote(parts.path), parts.query)
        timestamp = str(int(time.time() if now is None else now))
        message = request_signature.signing_input(method, target, timestamp,
                                                  request_signature.body_digest(body))
        sig = base64.b64encode(self.key.sign(message)).decode()
        return f"keyid={self.key_id},t={timestamp},sig={sig}"


class Client:
    """The /api/v1 REST API over urllib: JSON in and out, errors as one-line RecordErrors.
    With a signer, every request that writes (not GET) is signed anew."""

    def __init__(self, url: str, token: str, signer: RequestSigner | None = None) -> None:
        self.base, self.token, self.signer = url.rstrip("/"), token, signer

    def call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        data = None if body is None else dumps(body).encode()
        headers = self._headers("application/json")
        if self.signer is not None and method != "GET":
            headers[SIGNATURE_HEADER] = self.signer.header(method, self.base + path, data or b"")
        return self._send(request.Request(self.base + path, data=data, method=method,
                                           headers=headers))

    def register_key(self) -> str:
        """Register the signer's public key for this token (nothing changes if it already
        is); returns its key id."""
        assert self.signer is not None
        public = base64.b64encode(self.signer.public_key).decode()
        registered = self._send(request.Request(
            self.base + "/api/v1/client-keys", data=dumps({"public_key": public}).encode(),
            method="POST", headers=self._headers("application/json")))
        return str(registered["key_id"])

    def upload(self, run_id: str, upload: Upload, progress: Progress) -> tuple[dict[str, Any], str]:
        """PUT the file's bytes streamed from disk; returns the response and their SHA-256."""
        url = f"{self.base}/api/v1/runs/{run_id}/artifacts/{parse.quote(upload.path)}"
        try:
            handle = upload.local.open("rb")
        except OSError as exc:
            raise RecordError(f"cannot read {upload.path}: {_reason(exc)}") from exc
        with handle:
            headers = self._headers("application/octet-stream")
            headers["Content-Length"] = str(os.fstat(handle.fileno()).st_size)
            reader = _Reader(handle, progress)
            sent = request.Request(url, data=reader, method="PUT", headers=headers)
            return self._send(sent), reader.hash.hexdigest()

    def _headers(self, content_type: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": content_type,
                "Accept": "application/json", "User-Agent": "mlaudit-record"}

    def _send(self, sent: request.Request) -> dict[str, Any]:
        try:
            with request.urlopen(sent, timeout=TIMEOUT) as response:
                payload = response.read()
        except error.HTTPError as exc:
            raise ApiProblem(exc.code, _problem(exc)) from exc
        except error.URLError as exc:
            raise RecordError(f"cannot reach {self.base}: {_reason(exc.reason)}") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise RecordError(f"connection to {self.base} failed: {_reason(exc)}") from exc
        try:
            result = json.loads(payload)
        except ValueError:
            result = None
        if not isinstance(result, dict):
            raise RecordError(f"{self.base} answered with something other than a JSON object")
        return result


def _problem(exc: error.HTTPError) -> str:
    """`HTTP 409 Conflict: <detail> (<first field error>)` from an RFC 9457 problem body."""
    try:
        body = json.loads(exc.read())
    except (ValueError, OSError):
        body = None
    body = body if isinstance(body, dict) else {}
    text = f"HTTP {exc.code} {body.get('title') or exc.reason}"
    if body.get("detail"):
        text += f": {body['detail']}"
    if body.get("errors"):
        text += f" ({first_problem(body['errors'], '')})"
    return " ".join(text.split())


def _reason(exc: object) -> str:
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return " ".join(text.split()) or type(exc).__name__


# -- the steps -------------------------------------------------------------------------------

def _step(name: str, call: Callable[[], T]) -> T:
    try:
        return call()
    except RecordError as exc:
        raise RecordError(f"{name}: {exc}") from exc


def _experiment(client: Client, name: str, out: Recorded) -> str:
    """The experiment's id, creating it if missing (and losing a creation race gracefully)."""
    by_name = f"/api/v1/experiments/by-name/{parse.quote(name, safe='')}"
    try:
        return str(client.call("GET", by_name)["id"])
    except ApiProblem as exc:
        if exc.status != 404:
            raise
    try:
        created = client.call("POST", "/api/v1/experiments", {"name": name})
    except ApiProblem as exc:
        if exc.status != 409:
            raise
        return str(client.call("GET", by_name)["id"])
    out.note(["experiment.created"], [created["receipt"]])
    return str(created["id"])


def _batches(plan: Plan) -> Iterator[tuple[dict[str, Any], list[str]]]:
    """Params, metrics and tags in bodies within the batch limits, with their entry kinds."""
    params = _chunks([{"key": k, "value": v} for k, v in plan.params.items()],
                     ts.MAX_BATCH_PARAMS)
    metrics = _chunks(plan.metrics, ts.MAX_BATCH_METRICS)
    tags = _chunks(list(plan.tags.items()), ts.MAX_BATCH_TAGS)
    for index in range(max(len(params), len(metrics), len(tags))):
        p, m, t = (part[index] if index < len(part) else [] for part in (params, metrics, tags))
        parts = (("params.logged", p), ("metrics.logged", m), ("tags.set", t))
        yield {"params": p, "metrics": m, "tags": dict(t)}, [k for k, part in parts if part]


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[start:start + size] for start in range(0, len(items), size)]


def _log(client: Client, plan: Plan, out: Recorded) -> None:
    run = f"/api/v1/runs/{out.run_id}"
    put = _step("record environment", lambda: client.call("PUT", f"{run}/environment",
                                                           plan.environment))
    out.note(["environment.recorded"], [put["receipt"]])
    for number, (body, kinds) in enumerate(_batches(plan), 1):
        done = _step(f"log batch {number}", partial(client.call, "POST", f"{run}/batch", body))
        out.note(kinds, done["receipts"])
    for chunk in _chunks(plan.datasets, MAX_INPUTS):
        done = _step("log datasets", partial(client.call, "POST", f"{run}/inputs",
                                             {"datasets": chunk}))
        out.note(["inputs.logged"], [done["receipt"]])


def _upload_all(client: Client, plan: Plan, out: Recorded, bar: TextIO | None) -> None:
    progress = Progress(sum(u.size for u in plan.uploads), bar)
    try:
        for upload in plan.uploads:
            done, sha256 = _step(f"upload {upload.path}",
                                 partial(client.upload, out.run_id, upload, progress))
            if done["sha256"] != sha256:
                raise RecordError(f"upload {upload.path}: the server recorded sha256 "
                                  f"{done['sha256']} but the bytes sent hash to {sha256}")
            out.note(["artifact.recorded"], [done["receipt"]])
            out.artifacts.append({"path": upload.path, "sha256": sha256, "size": done["size"]})
    finally:
        progress.finish()


def _end(client: Client, out: Recorded, end: dict[str, Any]) -> None:
    done = client.call("POST", f"/api/v1/runs/{out.run_id}/end", end)
    out.note(["run.ended"], [done["receipt"]])


def _abandon(client: Client, out: Recorded, status: str, reason: str) -> RecordError:
    """End the run as FAILED or KILLED, best effort, and say so."""
    try:
        _end(client, out, {"status": status})
        return RecordError(f"{reason}; run {out.run_id} was ended as {status}")
    except RecordError:
        return RecordError(f"{reason}; run {out.run_id} is left RUNNING")


def record_file(path: Path, experiment: str, url: str | None, token: str | None,
                image_digest: str | None = None, progress: TextIO | None = None,
                signing_key: Path | None = None) -> Recorded:
    """Validate the file, then create the run and post everything in it, ending FINISHED
    (or the file's status); a failure after the run exists ends it as FAILED. With a
    signing key, its public key is registered for the token and every write is signed."""
    if not url:
        raise RecordError("MLAUDIT_URL is not set (or pass --url)")
    if not token:
        raise RecordError("MLAUDIT_TOKEN is not set (or pass --token)")
    signer = None if signing_key is None else RequestSigner.from_file(signing_key)
    client, run_plan, out = Client(url, token, signer), plan(path, image_digest), Recorded()
    if signer is not None:
        _step("register the signing key", client.register_key)
    try:
        out.experiment_id = _step("find experiment", lambda: _experiment(client, experiment, out))
        run = _step("create run", lambda: client.call(
            "POST", "/api/v1/runs", {"experiment_id": out.experiment_id, **run_plan.run}))
        out.run_id = str(run["id"])
        out.note(["run.created"], [run["receipt"]])
        _follow_through(client, run_plan, out, progress)
    except (KeyError, TypeError) as exc:
        raise RecordError(f"unexpected response from {client.base}: missing {exc}") from exc
    return out


def _follow_through(client: Client, run_plan: Plan, out: Recorded,
                    progress: TextIO | None) -> None:
    try:
        _log(client, run_plan, out)
        _upload_all(client, run_plan, out, progress)
    except RecordError as exc:
        raise _abandon(client, out, "FAILED", str(exc)) from exc
    except (KeyError, TypeError) as exc:
        reason = f"unexpected response from {client.base}: missing {exc}"
        raise _abandon(client, out, "FAILED", reason) from exc
    except KeyboardInterrupt:
        _abandon(client, out, "KILLED", "interrupted")
        raise
    _step("end run", lambda: _end(client, out, run_plan.end))


def result_json(out: Recorded) -> dict[str, Any]:
    return {"run_id": out.run_id, "experiment_id": out.experiment_id,
            "receipts": out.receipts, "artifacts": out.artifacts}


def result_lines(out: Recorded) -> list[str]:
    """One line per receipt, then the run id alone."""
    lines = [f"seq {r['seq']}  {r['kind']}  leaf {r['leaf_hash']}" for r in out.receipts]
    return [*lines, out.run_id]
