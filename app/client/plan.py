"""The run file `mlaudit record` posts: read, checked and planned before any request.

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

import hashlib
import json
import os
import platform
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml
from marshmallow import Schema, ValidationError

from app.client import runfile
from app.client.http import RecordError, Upload, located, reason
from app.tracking.limits import (
    IMAGE_DIGEST,
    MAX_HARDWARE_VALUE,
    MAX_PACKAGE_TEXT,
    MAX_PACKAGES,
    MAX_PARAM_VALUE,
    MAX_TAG_VALUE,
)
from app.tracking.paths import artifact_path_problem

FIELDS = ("name", "source", "start_time", "end_time", "status", "parent_run_id", "tags",
          "params", "metrics", "datasets", "artifacts", "environment", "lockfile")
RUN_FIELDS = ("name", "source", "parent_run_id", "start_time")


class _Invalid(Exception):
    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}" if where else message)


@dataclass
class Plan:
    """Everything to send, checked by the server's rules before any request."""

    run: dict[str, Any]
    end: dict[str, Any]
    params: dict[str, str]
    tags: dict[str, str]
    metrics: list[dict[str, Any]]
    datasets: list[dict[str, Any]]
    uploads: list[Upload]
    environment: dict[str, Any]


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
        raise RecordError(f"cannot read {path}: {reason(exc)}") from exc
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
        raise RecordError(f"{path}: not valid YAML: {reason(exc)}") from exc


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
    run = _load(runfile.Run(),
                {k: data[k] for k in RUN_FIELDS if k in data}, "")
    end = _load(runfile.End(), {"status": data.get("status", "FINISHED"),
                              **({"end_time": data["end_time"]} if "end_time" in data else {})}, "")
    metrics = [_metric(item, f"metrics[{i}]") for i, item in enumerate(_list(data, "metrics"))]
    return Plan({k: run[k] for k in RUN_FIELDS if k in data}, _compact(end),
                _strings(data.get("params"), "params", MAX_PARAM_VALUE),
                _strings(data.get("tags"), "tags", MAX_TAG_VALUE), metrics,
                _datasets(_list(data, "datasets"), base), _uploads(_list(data, "artifacts"), base),
                _environment(data.get("environment"), data.get("lockfile"), base, image_digest))


def _load(schema: Schema, data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _Invalid(where, "must be an object (a mapping)")
    try:
        loaded: dict[str, Any] = schema.load(data)
    except ValidationError as exc:
        raise _Invalid(*located(exc.messages, where)) from exc
    return loaded


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
            runfile.check_key(str(key))
        except ValidationError as exc:
            raise _Invalid(*located(exc.messages, here)) from exc
        out[str(key)] = _text(item, here)
        if len(out[str(key)]) > limit:
            raise _Invalid(here, f"longer than {limit} characters")
    return out


def _metric(item: Any, where: str) -> dict[str, Any]:
    metric = _compact(_load(runfile.Metric(), item, where))
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
        raise _Invalid(where, f"cannot read {raw}: {reason(exc)}") from exc


def _datasets(items: list[Any], base: Path) -> list[dict[str, Any]]:
    found = []
    for index, item in enumerate(items):
        where = f"datasets[{index}]"
        if isinstance(item, dict) and "path" in item:
            if "digest" in item:
                raise _Invalid(where, "give path or digest, not both")
            item = dict(item)
            item["digest"] = _sha256(base, item.pop("path"), f"{where}.path")
        found.append(_compact(_load(runfile.Dataset(), item, where)))
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
            problem = artifact_path_problem(path)
            if problem is not None:
                raise _Invalid(f"{where}.name", problem)
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
    return {k: v[:MAX_HARDWARE_VALUE] for k, v in found.items() if v}


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
            found[name.lower()] = {"name": name[:MAX_PACKAGE_TEXT],
                                   "version": (dist.version or "")[:MAX_PACKAGE_TEXT]}
    return [found[key] for key in sorted(found)][:MAX_PACKAGES]


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
    return _compact(_load(runfile.Environment(), environment, "environment"))



