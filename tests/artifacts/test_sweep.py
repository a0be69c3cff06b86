"""`mlaudit artifacts sweep`: what a crash leaves in the store goes; recorded bytes stay."""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

from app.services import artifacts


def test_sweep_removes_partial_uploads_and_unreferenced_blobs_only(
        client: Any, auth: dict[str, str], services: Any, config: Any, run_cli: Any) -> None:
    exp = client.post("/api/v1/experiments", json={"name": "e"}, headers=auth).json["id"]
    run = client.post("/api/v1/runs", json={"experiment_id": exp}, headers=auth).json["id"]
    kept = client.put(f"/api/v1/runs/{run}/artifacts/model.bin", data=b"recorded bytes",
                      headers=auth)
    assert kept.status_code == 201
    # what a process killed mid-upload, or between storing bytes and committing, leaves
    orphan = services.blobs.put_stream([b"bytes whose entry never committed"], 1 << 20)
    root = config.artifacts_path
    partial = root / "tmp" / "deadbeef.part"
    partial.write_bytes(b"half an upload")

    fresh = artifacts.sweep(services.committer, services.blobs, older_than=3600)
    assert (fresh.partial_uploads, fresh.unreferenced_blobs) == (0, 0)  # maybe still in flight
    assert partial.exists() and services.blobs.exists(orphan.sha256)

    old = time.time() - 7200
    for path in (partial, services.blobs.path(orphan.sha256)):
        os.utime(path, (old, old))
    done = run_cli("artifacts", "sweep")  # the default: an hour
    assert done.returncode == 0, done.stderr
    # the service's start-up takes the hour-old partial upload; the sweep the orphan blob
    assert "removed 1 partial uploads left by an earlier crash" in done.stderr
    assert "1 unreferenced blobs" in done.stderr
    assert not partial.exists() and not services.blobs.exists(orphan.sha256)
    recorded = hashlib.sha256(b"recorded bytes").hexdigest()
    assert services.blobs.exists(recorded)
    assert client.get(f"/api/v1/runs/{run}/artifacts/model.bin", headers=auth).data == \
        b"recorded bytes"
    assert run_cli("artifacts", "sweep", "--older-than", "0").returncode == 0
    assert services.blobs.exists(recorded)
