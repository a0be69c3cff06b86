"""`mlaudit record`: post a whole run from one JSON or YAML file to the REST API: validate the
file (app/client/plan.py), create the run, log everything in it, upload, end it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TextIO, TypeVar
from urllib import parse

from app.client.http import ApiProblem, Client, Progress, RecordError, RequestSigner
from app.client.plan import Plan, plan
from app.tracking.limits import (
    MAX_BATCH_DATASETS,
    MAX_BATCH_METRICS,
    MAX_BATCH_PARAMS,
    MAX_BATCH_TAGS,
)

T = TypeVar("T")


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
                     MAX_BATCH_PARAMS)
    metrics = _chunks(plan.metrics, MAX_BATCH_METRICS)
    tags = _chunks(list(plan.tags.items()), MAX_BATCH_TAGS)
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
    for chunk in _chunks(plan.datasets, MAX_BATCH_DATASETS):
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
