"""`mlaudit verify --artifacts` and the self-check's sample: stored blobs held to the digests
their ledger entries record (issue 16, section 3)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from app.artifacts.store import LocalBlobStore
from app.services import blob_check


@pytest.fixture
def stored(client: Any, auth: dict[str, str]) -> dict[str, Any]:
    """A run with three stored artifacts (two share their bytes) and an external one."""
    experiment = client.post("/api/v1/experiments", headers=auth, json={"name": "e"}).json["id"]
    run = client.post("/api/v1/runs", headers=auth, json={"experiment_id": experiment}).json["id"]
    seqs = {}
    for path, data in (("a.bin", b"alpha bytes"), ("model/b.bin", b"bravo bytes"),
                       ("copy-of-b.bin", b"bravo bytes")):
        put = client.put(f"/api/v1/runs/{run}/artifacts/{path}", headers=auth, data=data)
        assert put.status_code == 201, put.json
        seqs[path] = put.json["seq"]
    external = client.post(f"/api/v1/runs/{run}/artifacts/external", headers=auth, json={
        "path": "big.parquet", "uri": "s3://bucket/big.parquet", "sha256": "cd" * 32,
        "size": 10})
    assert external.status_code == 201
    return {"run": run, "seqs": seqs}


def test_verify_artifacts_passes_then_names_the_first_damaged_artifact(
        run_cli: Any, services: Any, stored: dict[str, Any]) -> None:
    done = run_cli("verify", "--artifacts", "--no-trust")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK: 3 stored artifacts (2 blobs, 22 bytes) re-hashed against the ledger's digests" \
        in done.stdout
    plain = run_cli("verify", "--no-trust")  # without the flag no blob is read
    assert plain.returncode == 0 and "stored artifacts" not in plain.stdout

    bravo = hashlib.sha256(b"bravo bytes").hexdigest()
    swapped = b"BRAVO BYTES"
    services.blobs.path(bravo).write_bytes(swapped)  # one blob, named by two entries
    damaged = run_cli("verify", "--artifacts", "--no-trust")
    assert damaged.returncode == 1
    first = stored["seqs"]["model/b.bin"]
    assert (f"DAMAGED artifact 'model/b.bin' of run {stored['run']} (entry seq {first}): "
            f"expected sha256 {bravo} (11 bytes), found {hashlib.sha256(swapped).hexdigest()} "
            "(11 bytes) (1 more damaged)") in damaged.stdout, damaged.stdout
    assert damaged.stdout.startswith("OK: ")  # the ledger itself is intact

    as_json = json.loads(run_cli("verify", "--artifacts", "--no-trust", "--json").stdout)
    assert as_json["ok"] is False
    assert as_json["artifacts"]["damage"] == {**as_json["artifacts"]["damage"], "seq": first,
                                              "path": "model/b.bin", "expected_sha256": bravo}

    services.blobs.path(bravo).unlink()
    missing = run_cli("verify", "--artifacts", "--no-trust")
    assert missing.returncode == 1 and "found no readable bytes" in missing.stdout


def test_the_check_reads_each_blob_once_in_bounded_pieces(
        conn: Any, services: Any, stored: dict[str, Any]) -> None:
    reads: list[str] = []

    class Counting(LocalBlobStore):
        def open(self, sha256: str) -> Any:
            reads.append(sha256)
            return super().open(sha256)

    result = blob_check.check_all(conn, Counting(services.config.artifacts_path))
    assert (result.ok, result.entries, result.blobs, result.damaged) == (True, 3, 2, 0)
    assert sorted(reads) == sorted(set(reads)) and len(reads) == 2


def test_the_self_check_samples_blobs(services: Any, stored: dict[str, Any]) -> None:
    intact = services.selfcheck.run_once()
    assert intact.ok and intact.blobs is not None and intact.blobs.entries == 3
    alpha = hashlib.sha256(b"alpha bytes").hexdigest()
    services.blobs.path(alpha).write_bytes(b"ALPHA BYTES")
    damaged = services.selfcheck.run_once()
    assert not damaged.ok and damaged.damage is None  # the ledger is intact, a blob is not
    assert damaged.blobs is not None and damaged.blobs.damage is not None
    assert damaged.blobs.damage.artifact.path == "a.bin"
    assert damaged.blobs.damage.artifact.seq == stored["seqs"]["a.bin"]
