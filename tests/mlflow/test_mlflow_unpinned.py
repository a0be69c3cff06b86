"""Versions registered from a source mlaudit does not hold (issue 19), driven by the stock
MlflowClient: accepted as MLflow accepts them, recorded and shown **unpinned**, never promoted
to a protected stage or alias until pinned to files registered with digests."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import mlflow
import pytest
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from app.services.verification import verify_database  # noqa: E402

V1 = "/api/v1"
SOURCE = "s3://lake/credit/model"
WEIGHTS = b"weights kept in the lake"


@pytest.fixture
def people(admin_token: str, make_token: Any) -> dict[str, str]:
    return {"admin": admin_token, "writer": make_token("ml-writer", "writer"),
            "approver": make_token("risk-officer", "approver")}


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def ml(server: str, people: dict[str, str], point_mlflow: Any) -> MlflowClient:
    point_mlflow(server, people["writer"])
    return MlflowClient(server, server)


def entries(conn: Any, kind: str) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT canonical FROM ledger_entries WHERE kind = %s ORDER BY seq",
                        (kind,)).fetchall()
    return [json.loads(bytes(r[0])) for r in rows]


def test_a_version_from_s3_is_accepted_and_reads_back_unpinned(
        ml: MlflowClient, client: Any, people: dict[str, str], conn: Any) -> None:
    ml.create_registered_model("lake")
    made = ml.create_model_version("lake", SOURCE, tags={"team": "risk"}, description="ext")
    assert made.version == "1" and made.source == SOURCE
    assert made.tags == {"team": "risk", "mlaudit.pinned": "false"}
    assert "unpinned" in made.status_message and made.status == "READY"
    # mlflow.register_model with a URI it does not resolve, and a run that is not ours
    ghost = "0123456789abcdef0123456789abcdef"
    assert mlflow.register_model(f"{SOURCE}-2", "lake").version == "2"
    foreign = ml.create_model_version("lake", f"runs:/{ghost}/model", run_id=ghost)
    assert foreign.version == "3" and foreign.run_id == ghost
    got = ml.get_model_version("lake", "1")
    assert got.source == SOURCE and got.tags["mlaudit.pinned"] == "false"
    assert got.description == "ext"
    assert {v.version for v in ml.search_model_versions("name = 'lake'")} == {"1", "2", "3"}
    # its files are where it was registered from: MLflow answers the source
    assert ml.get_model_version_download_uri("lake", "1") == SOURCE
    # the tag is the server's: no client sets it
    with pytest.raises(MlflowException) as own:
        ml.set_model_version_tag("lake", "1", "mlaudit.pinned", "true")
    assert own.value.error_code == "INVALID_PARAMETER_VALUE"

    v1 = client.get(f"{V1}/models/lake/versions/1", headers=bearer(people["writer"])).json
    assert v1["pinned"] is False and v1["run_id"] is None
    assert v1["evidence"] == {"pinned": False, "source": SOURCE, "run": None}
    [created, *_] = entries(conn, "model_version.created_unpinned")
    assert created["subject"] == {"model": "lake", "version": "1"}
    assert created["body"]["source"] == SOURCE and created["body"]["run"] is None
    assert verify_database(conn).ok


def test_an_unpinned_version_reaches_no_protected_target_until_pinned(
        ml: MlflowClient, client: Any, people: dict[str, str], conn: Any) -> None:
    ml.create_registered_model("lake")
    ml.create_model_version("lake", SOURCE)
    # unprotected targets move as usual
    ml.set_registered_model_alias("lake", "candidate", "1")
    assert ml.transition_model_version_stage("lake", "1", "Staging").current_stage == "Staging"
    # protected ones: refused, naming the reason and the way out
    with pytest.raises(MlflowException) as alias:
        ml.set_registered_model_alias("lake", "champion", "1")
    with pytest.raises(MlflowException) as stage:
        ml.transition_model_version_stage("lake", "1", "Production")
    for refused in (alias.value, stage.value):
        assert refused.error_code == "PERMISSION_DENIED"
        assert "is unpinned" in refused.message and SOURCE in refused.message
        assert "/api/v1/models/lake/versions/1/pin" in refused.message
    asked = client.post(f"{V1}/models/lake/versions/1/promotions",
                        headers=bearer(people["writer"]),
                        json={"target": "@champion", "justification": "validated"})
    assert asked.status_code == 403 and "is unpinned" in asked.json["detail"], asked.json

    # Register the files with their digests, then pin the version to them.
    run_id = str(ml.create_run(ml.create_experiment("lake-files")).info.run_id)
    digest = hashlib.sha256(WEIGHTS).hexdigest()
    external = client.post(f"{V1}/runs/{run_id}/artifacts/external",
                           headers=bearer(people["writer"]),
                           json={"path": "model/model.pkl", "uri": f"{SOURCE}/model.pkl",
                                 "sha256": digest, "size": len(WEIGHTS)})
    assert external.status_code == 201, external.json
    with pytest.raises(MlflowException) as empty:  # nothing recorded there
        ml.set_model_version_tag("lake", "1", "mlaudit.pin", f"runs:/{run_id}/nothing")
    assert empty.value.error_code == "INVALID_PARAMETER_VALUE"
    # the MLflow-compatible spelling of POST /api/v1/models/lake/versions/1/pin
    ml.set_model_version_tag("lake", "1", "mlaudit.pin", f"runs:/{run_id}/model")
    version = client.get(f"{V1}/models/lake/versions/1", headers=bearer(people["writer"])).json
    assert version["pinned"] is True and version["run_id"] == run_id
    assert version["evidence"]["artifacts"] == [
        {"path": "model/model.pkl", "sha256": digest, "size": str(len(WEIGHTS))}]
    with pytest.raises(MlflowException) as again:
        ml.set_model_version_tag("lake", "1", "mlaudit.pin", f"runs:/{run_id}/model")
    assert "already pinned" in again.value.message
    [pin] = entries(conn, "model_version.pinned")
    assert pin["subject"] == {"model": "lake", "version": "1", "run": run_id}
    assert pin["body"]["evidence"]["artifacts"][0]["sha256"] == digest
    shown = ml.get_model_version("lake", "1")
    assert "mlaudit.pinned" not in shown.tags and shown.run_id == run_id
    assert shown.source == SOURCE  # as registered

    # Now the normal approval flow promotes it.
    asked = client.post(f"{V1}/models/lake/versions/1/promotions",
                        headers=bearer(people["writer"]),
                        json={"target": "@champion", "justification": "validated"})
    assert asked.status_code == 201, asked.json
    decided = client.post(f"{V1}/promotions/{asked.json['id']}/decisions",
                          headers=bearer(people["approver"]),
                          json={"decision": "approve", "comment": "independent review"})
    assert decided.json["status"] == "approved", decided.json
    ml.set_registered_model_alias("lake", "champion", "1")
    assert ml.get_model_version_by_alias("lake", "champion").version == "1"
    assert verify_database(conn).ok
