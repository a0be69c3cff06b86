"""Artifact paths keep history: the stock client's log_table and log_dict re-upload a path.

A new upload to a recorded path is its next revision (its own ledger entry, the earlier bytes
kept, reads serving the latest, every revision listed), except where a registered version
pins the path: then it is refused, naming the version.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import mlflow
import psycopg
import pytest
import requests
from mlflow.tracking import MlflowClient  # noqa: E402
from psycopg import sql

from app.services.verification import verify_database  # noqa: E402


def revisions(client: Any, auth: dict[str, str], run_id: str, path: str) -> list[Any]:
    listed = client.get(f"/api/v1/runs/{run_id}/artifact-revisions", headers=auth,
                        query_string={"path": path})
    assert listed.status_code == 200, listed.json
    found: list[Any] = listed.json["revisions"]
    return found


def body_at(client: Any, auth: dict[str, str], seq: int) -> dict[str, Any]:
    entry = client.get(f"/api/v1/ledger/entries/{seq}", headers=auth).json
    body: dict[str, Any] = json.loads(base64.b64decode(entry["canonical"]))["body"]
    return body


def test_log_table_twice_to_one_file_reads_back_both_rows(
        tracking: str, client: Any, auth: dict[str, str], conn: psycopg.Connection,
        services: Any) -> None:
    """log_table downloads the table, appends and uploads the same path again."""
    mlflow.set_experiment("tables")
    with mlflow.start_run() as run:
        mlflow.log_table({"group": ["F"], "n": [544]}, artifact_file="rates.json")
        mlflow.log_table({"group": ["M"], "n": [610]}, artifact_file="rates.json")
    table = mlflow.load_table("rates.json", run_ids=[run.info.run_id])
    assert table[["group", "n"]].to_dict("records") == [
        {"group": "F", "n": 544}, {"group": "M", "n": 610}]

    first, second = revisions(client, auth, run.info.run_id, "rates.json")
    assert (first["revision"], second["revision"]) == (1, 2)
    body = body_at(client, auth, second["seq"])
    assert (body["revision"], body["supersedes"]) == ("2", first["sha256"])
    assert services.blobs.verify(first["sha256"])  # revision 1's bytes are kept
    assert verify_database(conn).ok


def test_log_dict_twice_reads_back_the_latest(
        tracking: str, client: Any, auth: dict[str, str], tmp_path: Path) -> None:
    mlflow.set_experiment("dicts")
    with mlflow.start_run() as run:
        mlflow.log_dict({"threshold": 0.5}, "config.json")
        mlflow.log_dict({"threshold": 0.7, "note": "tuned"}, "config.json")
        mlflow.log_dict({"threshold": 0.7, "note": "tuned"}, "config.json")  # same: no entry
    run_id = run.info.run_id
    assert mlflow.artifacts.load_dict(f"runs:/{run_id}/config.json") == {
        "threshold": 0.7, "note": "tuned"}
    latest = json.dumps({"threshold": 0.7, "note": "tuned"}, indent=2).encode()
    [item] = MlflowClient().list_artifacts(run_id)
    assert (item.path, item.file_size) == ("config.json", len(latest))

    found = revisions(client, auth, run_id, "config.json")
    assert [(r["revision"], r["size"]) for r in found] == [
        (1, len(json.dumps({"threshold": 0.5}, indent=2))), (2, len(latest))]
    assert found[1]["sha256"] == hashlib.sha256(latest).hexdigest()
    earlier = client.get(f"/api/v1/runs/{run_id}/artifacts/config.json?revision=1",
                         headers=auth)
    assert json.loads(earlier.data) == {"threshold": 0.5}
    [listed] = client.get(f"/api/v1/runs/{run_id}/artifacts", headers=auth).json["artifacts"]
    assert (listed["revisions"], listed["sha256"]) == (2, found[1]["sha256"])


def test_a_pinned_path_refuses_a_new_revision_naming_the_version(
        tracking: str, client: Any, auth: dict[str, str], tmp_path: Path) -> None:
    """A version registered after revision 2 pins revision 2; the path then takes no more."""
    mlflow.set_experiment("fraud")
    with mlflow.start_run() as run:
        mlflow.log_dict({"weights": [1]}, "model/model.json")
        mlflow.log_dict({"weights": [2]}, "model/model.json")
    run_id = run.info.run_id
    ml = MlflowClient()
    ml.create_registered_model("fraud-model")
    version = ml.create_model_version("fraud-model", f"runs:/{run_id}/model", run_id=run_id)
    pinned = client.get(f"/api/v1/models/fraud-model/versions/{version.version}/artifacts",
                        headers=auth).json["artifacts"]
    latest = revisions(client, auth, run_id, "model/model.json")[-1]
    assert latest["revision"] == 2
    assert pinned == [{"path": "model/model.json", "sha256": latest["sha256"],
                       "size": latest["size"]}]

    with mlflow.start_run(run_id=run_id), pytest.raises(requests.HTTPError) as refused:
        mlflow.log_dict({"weights": [3]}, "model/model.json")
    response = refused.value.response
    assert response.status_code == 400
    assert response.json() == {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": f"artifact 'model/model.json' of run {run_id} is pinned by model version "
                   "fraud-model/1 (it pins 'model/'): a registered version is exactly the "
                   "files it pinned; record new files under another path, or register a new "
                   "version from a new run"}
    v1 = client.put(f"/api/v1/runs/{run_id}/artifacts/model/model.json", data=b"{}",
                    headers=auth)
    assert v1.status_code == 409 and v1.mimetype == "application/problem+json"
    assert "is pinned by model version fraud-model/1" in v1.json["detail"]
    assert len(revisions(client, auth, run_id, "model/model.json")) == 2
    assert mlflow.artifacts.load_dict(f"models:/fraud-model/{version.version}/model.json") == \
        {"weights": [2]}


def _tamper(conn: psycopg.Connection, table: str, statement: str, params: Any) -> None:
    """One statement as the superuser with the table's own triggers off, then back on."""
    names = [r[0] for r in conn.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = "
                                        "%s::regclass AND NOT tgisinternal", (table,))]
    conn.execute(sql.SQL("ALTER TABLE {} DISABLE TRIGGER USER").format(sql.Identifier(table)))
    try:
        assert conn.execute(statement, params).rowcount == 1
    finally:
        for name in names:
            conn.execute(sql.SQL("ALTER TABLE {} ENABLE ALWAYS TRIGGER {}").format(
                sql.Identifier(table), sql.Identifier(name)))


@pytest.mark.parametrize("table", ["artifact_revisions", "artifacts"])
def test_verify_names_a_tampered_revision(
        tracking: str, client: Any, auth: dict[str, str], conn: psycopg.Connection,
        table: str) -> None:
    """An earlier revision rewritten, or the latest row rolled back to revision 1's bytes:
    verify names the table and the entry the row says it stands on."""
    mlflow.set_experiment("tamper")
    with mlflow.start_run() as run:
        mlflow.log_text("approved wording", "notes.txt")
        mlflow.log_text("changed wording", "notes.txt")
    first, second = revisions(client, auth, run.info.run_id, "notes.txt")
    assert verify_database(conn).ok
    forged = hashlib.sha256(b"something else").hexdigest()
    if table == "artifact_revisions":
        _tamper(conn, table, "UPDATE artifact_revisions SET sha256 = %s WHERE run_id = %s AND "
                "revision = 1", (forged, run.info.run_id))
        seq = first["seq"]
    else:
        _tamper(conn, table, "UPDATE artifacts SET sha256 = %s, size = %s WHERE run_id = %s",
                (first["sha256"], first["size"], run.info.run_id))
        seq = second["seq"]
    damage = verify_database(conn).damage
    assert damage is not None and damage.kind == "projection_mismatch", damage
    assert damage.seq == seq and table in damage.detail and "sha256" in damage.detail, damage
