"""Versions registered from a source we do not hold (issue 19): recorded **unpinned** (the
source as given, no files pinned), and pinned later to files registered with digests."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from app.ledger.entry import Draft, Receipt, canonicalize
from app.services import registry
from app.services.ledger import LedgerWriter
from app.services.tracking import Conflict, NotFound
from app.storage import registry as store
from app.storage import tracking as runs


def register_unpinned(writer: LedgerWriter, actor: str, name: str, source: str,
                      run: str | None, tags: Mapping[str, str], description: str | None,
                      scoped: bool = False) -> tuple[int, Receipt]:
    """A version registered from a source whose files we neither hold nor digest (an s3://
    URI, a run that is not ours): recorded as given, pinning nothing, so that it reaches no
    protected target until pin_version. Each call is a new version, as MLflow makes one.
    scoped: the caller is limited to experiments; an unpinned version is in none."""
    if scoped:
        raise registry.Forbidden(f"a token limited to experiments registers versions only from "
                                 f"runs of its experiments; {source!r} is not a source mlaudit "
                                 "holds")
    registry._model(writer, name, lock=True)
    version = store.next_version(writer.conn, name)
    digest = hashlib.sha256(canonicalize({"model": name, "version": str(version),
                                          "source": source, "run": run})).hexdigest()
    [receipt] = writer.append([Draft("model_version.created_unpinned", actor,
                                     {"model": name, "version": str(version)},
                                     {"source": source, "run": run, "version_digest": digest})])
    if tags:
        registry.set_version_tags(writer, actor, name, version, tags)
    if description:
        registry.describe_version(writer, actor, name, version, description)
    return version, receipt


def pin_version(writer: LedgerWriter, actor: str, name: str, version: int, run_id: str,
                artifact_path: str) -> tuple[store.VersionRow, Receipt]:
    """Pin an unpinned version to files of a run of ours that are recorded with digests
    (uploaded, or registered by /api/v1/runs/{id}/artifacts/external): a
    `model_version.pinned` entry naming them. A pinned version stays as it is."""
    registry._model(writer, name, lock=True)
    row = registry._version(writer.conn, name, version)
    if row.run_id is not None:
        raise Conflict(f"version {version} of {name!r} is already pinned (run {row.run_id!r}, "
                       f"{row.artifact_path!r}, version digest {row.version_digest})")
    if runs.get_run(writer.conn, run_id) is None:
        raise NotFound(f"run {run_id!r} does not exist")
    evidence = registry._evidence(writer.conn, run_id, artifact_path)
    digest = hashlib.sha256(canonicalize({"model": name, **evidence})).hexdigest()
    [receipt] = writer.append([Draft("model_version.pinned", actor,
                                     {"model": name, "version": str(version), "run": run_id},
                                     {"evidence": evidence, "version_digest": digest})])
    return registry._version(writer.conn, name, version), receipt
