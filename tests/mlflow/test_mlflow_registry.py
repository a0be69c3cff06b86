"""The MLflow model registry routes, driven by the stock MlflowClient against a live server."""

from __future__ import annotations

import json
from typing import Any

import mlflow
import pytest
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from app.services.verification import verify_database  # noqa: E402

V1 = "/api/v1"


@pytest.fixture
def people(admin_token: str, make_token: Any) -> dict[str, str]:
    return {"admin": admin_token, "writer": make_token("ml-writer", "writer"),
            "approver": make_token("risk-officer", "approver"),
            "auditor": make_token("examiner", "auditor")}


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def ml(server: str, people: dict[str, str], point_mlflow: Any) -> MlflowClient:
    point_mlflow(server, people["writer"])
    return MlflowClient(server, server)


def trained_run(ml: MlflowClient, client: Any, writer: str, files: int = 1) -> str:
    """A run whose model files are recorded artifacts under `model/`."""
    experiment = ml.create_experiment(f"exp-{len(ml.search_experiments())}")
    run_id = str(ml.create_run(experiment).info.run_id)
    for i in range(files):
        put = client.put(f"{V1}/runs/{run_id}/artifacts/model/file{i}.bin",
                         data=f"weights {run_id} {i}".encode(), headers=bearer(writer))
        assert put.status_code == 201, put.json
    return run_id


def raw(client: Any, method: str, path: str, secret: str, payload: Any = None,
        query: str = "") -> Any:
    return client.open(f"/api/2.0/mlflow/{path}{query}", method=method, headers=bearer(secret),
                       data=None if payload is None else json.dumps(payload),
                       content_type="application/json")


def test_registered_models_create_get_update_tags_and_search(
        ml: MlflowClient, client: Any, people: dict[str, str]) -> None:
    created = ml.create_registered_model("scorecard", tags={"team": "risk"},
                                         description="credit model")
    assert created.name == "scorecard" and created.description == "credit model"
    assert created.creation_timestamp > 1_700_000_000_000
    with pytest.raises(MlflowException) as dup:
        ml.create_registered_model("scorecard")
    assert dup.value.error_code == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as missing:
        ml.get_registered_model("nope")
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    for bad in ("a/b", "a:b"):
        with pytest.raises(MlflowException) as invalid:
            ml.create_registered_model(bad)
        assert invalid.value.error_code == "INVALID_PARAMETER_VALUE"

    ml.update_registered_model("scorecard", description="v2 description")
    ml.set_registered_model_tag("scorecard", "owner", "ana")
    ml.delete_registered_model_tag("scorecard", "team")
    got = ml.get_registered_model("scorecard")
    assert got.description == "v2 description" and got.tags == {"owner": "ana"}
    assert got.last_updated_timestamp >= got.creation_timestamp

    for i in range(3):
        ml.create_registered_model(f"other-{i}", tags={"kind": "batch" if i else "online"})
    names = [m.name for m in ml.search_registered_models(max_results=100)]
    assert names == ["other-0", "other-1", "other-2", "scorecard"]
    assert [m.name for m in ml.search_registered_models("name = 'scorecard'")] == ["scorecard"]
    assert [m.name for m in ml.search_registered_models("name LIKE 'other-%'",
                                                        order_by=["name DESC"])] == \
        ["other-2", "other-1", "other-0"]
    assert [m.name for m in ml.search_registered_models("tags.kind = 'batch'")] == \
        ["other-1", "other-2"]
    assert [m.name for m in ml.search_registered_models("tags.`kind` != 'batch'")] == \
        ["other-0", "scorecard"]
    first = ml.search_registered_models(max_results=3)
    assert len(first) == 3 and first.token
    second = ml.search_registered_models(max_results=3, page_token=first.token)
    assert [m.name for m in second] == ["scorecard"] and not second.token
    with pytest.raises(MlflowException) as bad_filter:
        ml.search_registered_models("name = 'a' OR name = 'b'")
    assert bad_filter.value.error_code == "INVALID_PARAMETER_VALUE"
    assert raw(client, "GET", "registered-models/search", people["writer"],
               query="?filter=owner%20%3D%20%27x%27").status_code == 400
    assert raw(client, "GET", "registered-models/search", people["writer"],
               query="?page_token=%25%25").status_code == 400
    assert raw(client, "GET", "registered-models/search", people["writer"],
               query="?max_results=1001").status_code == 400

    # Rename and delete never erase history: a clear 400, and nothing changed.
    for method, path, payload in (("POST", "registered-models/rename",
                                   {"name": "scorecard", "new_name": "x"}),
                                  ("DELETE", "registered-models/delete", {"name": "scorecard"})):
        refused = raw(client, method, path, people["writer"], payload)
        assert refused.status_code == 400, refused.json
        assert refused.json["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "archive" in refused.json["message"]
    assert ml.get_registered_model("scorecard").name == "scorecard"
    # Auditors read but never write.
    denied = raw(client, "POST", "registered-models/create", people["auditor"], {"name": "z"})
    assert denied.status_code == 403 and denied.json["error_code"] == "PERMISSION_DENIED"


def test_model_versions_sources_stages_tags_and_search(
        ml: MlflowClient, client: Any, people: dict[str, str], conn: Any) -> None:
    run_id = trained_run(ml, client, people["writer"], files=2)
    ml.create_registered_model("m1")
    v1 = ml.create_model_version("m1", f"runs:/{run_id}/model", run_id=run_id,
                                 tags={"framework": "sklearn"}, description="first")
    assert (v1.version, v1.current_stage, v1.status) == ("1", "None", "READY")
    assert v1.run_id == run_id and v1.tags == {"framework": "sklearn"}
    assert v1.description == "first" and v1.source == f"runs:/{run_id}/model"
    # the version's own root (its pinned files only; tests/test_sealed_versions.py)
    digest = client.get(f"{V1}/models/m1/versions/1",
                        headers=bearer(people["writer"])).json["version_digest"]
    assert ml.get_model_version_download_uri("m1", "1") == \
        f"mlflow-artifacts:/{ml.get_run(run_id).info.experiment_id}/model-versions/{digest}" \
        "/artifacts"

    # The version pins the digests of the files under the path, as /api/v1 shows.
    ours = client.get(f"{V1}/models/m1/versions/1", headers=bearer(people["writer"])).json
    assert sorted(a["path"] for a in ours["evidence"]["artifacts"]) == \
        ["model/file0.bin", "model/file1.bin"]

    other = trained_run(ml, client, people["writer"])
    v2 = ml.create_model_version("m1", f"runs:/{other}/model", run_id=other)
    assert v2.version == "2"
    for source, run in ((f"runs:/{run_id}/nothing-here", run_id),
                        (f"runs:/{run_id}/../x", run_id), ("model/weights", run_id),
                        (f"runs:/{run_id}/model", other)):
        with pytest.raises(MlflowException) as bad:
            ml.create_model_version("m1", source, run_id=run)
        assert bad.value.error_code == "INVALID_PARAMETER_VALUE", source
    with pytest.raises(MlflowException) as no_model:
        ml.create_model_version("ghost", f"runs:/{run_id}/model", run_id=run_id)
    assert no_model.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as no_version:
        ml.get_model_version("m1", "9")
    assert no_version.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert raw(client, "GET", "model-versions/get", people["writer"],
               query="?name=m1&version=abc").status_code == 400

    ml.update_model_version("m1", "1", description="updated")
    ml.set_model_version_tag("m1", "1", "validated", "yes")
    ml.delete_model_version_tag("m1", "1", "framework")
    got = ml.get_model_version("m1", "1")
    assert got.description == "updated" and got.tags == {"validated": "yes"}

    staged = ml.transition_model_version_stage("m1", "1", "staging")
    assert staged.current_stage == "Staging"
    ml.transition_model_version_stage("m1", "2", "Staging", archive_existing_versions=True)
    assert ml.get_model_version("m1", "1").current_stage == "Archived"
    with pytest.raises(MlflowException) as bad_stage:
        ml.transition_model_version_stage("m1", "1", "Live")
    assert bad_stage.value.error_code == "INVALID_PARAMETER_VALUE"
    latest = {v.current_stage: v.version for v in ml.get_latest_versions("m1")}
    assert latest == {"Archived": "1", "Staging": "2"}
    assert [v.version for v in ml.get_latest_versions("m1", stages=["Staging"])] == ["2"]
    by_get = raw(client, "GET", "registered-models/get-latest-versions", people["writer"],
                 query="?name=m1&stages=Archived&stages=Staging")
    assert [v["version"] for v in by_get.json["model_versions"]] == ["1", "2"]
    model = ml.get_registered_model("m1")
    assert sorted(v.version for v in model.latest_versions) == ["1", "2"]

    assert [v.version for v in ml.search_model_versions(
        "name = 'm1'", order_by=["version_number DESC"])] == ["2", "1"]
    assert [v.version for v in ml.search_model_versions("name LIKE 'm%'",
                                                        order_by=["name"])] == ["2", "1"]
    assert [v.version for v in ml.search_model_versions(f"run_id = '{other}'")] == ["2"]
    assert [v.version for v in ml.search_model_versions("tags.validated = 'yes'")] == ["1"]
    assert [v.version for v in ml.search_model_versions(
        "name = 'm1' AND version_number > 1")] == ["2"]
    page = ml.search_model_versions("name = 'm1'", max_results=1,
                                    order_by=["version_number ASC"])
    assert [v.version for v in page] == ["1"] and page.token
    rest = ml.search_model_versions("name = 'm1'", max_results=1, page_token=page.token,
                                    order_by=["version_number ASC"])
    assert [v.version for v in rest] == ["2"] and not rest.token
    with pytest.raises(MlflowException):
        ml.search_model_versions("name = 'm1'", order_by=["colour ASC"])

    refused = raw(client, "DELETE", "model-versions/delete", people["writer"],
                  {"name": "m1", "version": "1"})
    assert refused.status_code == 400 and "archive" in refused.json["message"]
    assert verify_database(conn).ok
    kinds = [e["kind"] for e in client.get(f"{V1}/ledger/entries?limit=1000",
                                           headers=bearer(people["writer"])).json["entries"]]
    for kind in ("model_version.source_set", "model_version.tags_set",
                 "model_version.description_set", "model_version.tag_deleted",
                 "model_version.stage_set"):
        assert kind in kinds, kind


def test_aliases_and_protected_targets_need_an_approved_promotion(
        ml: MlflowClient, client: Any, people: dict[str, str], conn: Any) -> None:
    run_id = trained_run(ml, client, people["writer"])
    ml.create_registered_model("credit")
    version = ml.create_model_version("credit", f"runs:/{run_id}/model", run_id=run_id)
    other_run = trained_run(ml, client, people["writer"])
    ml.create_model_version("credit", f"runs:/{other_run}/model", run_id=other_run)

    # Unprotected aliases move freely; reserved and malformed names are refused.
    ml.set_registered_model_alias("credit", "challenger", "2")
    ml.set_registered_model_alias("credit", "challenger", "1")
    assert ml.get_model_version_by_alias("credit", "challenger").version == "1"
    assert ml.get_model_version("credit", "1").aliases == ["challenger"]
    for bad in ("latest", "v3", "bad alias"):
        with pytest.raises(MlflowException) as reserved:
            ml.set_registered_model_alias("credit", bad, "1")
        assert reserved.value.error_code == "INVALID_PARAMETER_VALUE", bad
    with pytest.raises(MlflowException) as unknown:
        ml.get_model_version_by_alias("credit", "nobody")
    assert unknown.value.error_code == "INVALID_PARAMETER_VALUE"
    ml.delete_registered_model_alias("credit", "challenger")
    assert ml.get_registered_model("credit").aliases == {}

    # The protected alias and stage: refused with a message that says how to get approval.
    with pytest.raises(MlflowException) as refused:
        ml.set_registered_model_alias("credit", "champion", version.version)
    assert refused.value.error_code == "PERMISSION_DENIED"
    assert f"/api/v1/models/credit/versions/{version.version}/promotions" in \
        refused.value.message
    for archive in (False, True):
        with pytest.raises(MlflowException) as stage:
            ml.transition_model_version_stage("credit", "1", "Production",
                                              archive_existing_versions=archive)
        assert stage.value.error_code == "PERMISSION_DENIED"
    assert ml.get_model_version("credit", "1").current_stage == "None"
    assert ml.get_registered_model("credit").aliases == {}

    # The writer requests, the writer cannot approve, an independent approver does.
    request = client.post(f"{V1}/models/credit/versions/1/promotions",
                          headers=bearer(people["writer"]),
                          json={"target": "@champion", "justification": "validated"})
    assert request.status_code == 201, request.json
    promotion = request.json["id"]
    with pytest.raises(MlflowException) as pending:
        ml.set_registered_model_alias("credit", "champion", "1")
    assert pending.value.error_code == "PERMISSION_DENIED"
    decided = client.post(f"{V1}/promotions/{promotion}/decisions",
                          headers=bearer(people["approver"]),
                          json={"decision": "approve", "comment": "independent review"})
    assert decided.status_code == 200 and decided.json["status"] == "approved", decided.json
    ml.set_registered_model_alias("credit", "champion", "1")  # already applied: success
    assert ml.get_model_version_by_alias("credit", "champion").version == "1"
    # The approval covers version 1 only, and a protected alias cannot be deleted.
    with pytest.raises(MlflowException) as wrong_version:
        ml.set_registered_model_alias("credit", "champion", "2")
    assert wrong_version.value.error_code == "PERMISSION_DENIED"
    assert "version 1" in wrong_version.value.message
    with pytest.raises(MlflowException) as keep:
        ml.delete_registered_model_alias("credit", "champion")
    assert keep.value.error_code == "PERMISSION_DENIED"

    # Production for version 2, approved; archive_existing_versions then archives no one
    # it should not, and the stage change cites the promotion in the ledger.
    ml.transition_model_version_stage("credit", "1", "Staging")
    promo = client.post(f"{V1}/models/credit/versions/2/promotions",
                        headers=bearer(people["writer"]),
                        json={"target": "Production", "justification": "better auc"}).json["id"]
    assert client.post(f"{V1}/promotions/{promo}/decisions", headers=bearer(people["approver"]),
                       json={"decision": "approve", "comment": "ok"}).status_code == 200
    moved = ml.transition_model_version_stage("credit", "2", "Production",
                                              archive_existing_versions=True)
    assert moved.current_stage == "Production"
    assert ml.get_model_version("credit", "1").current_stage == "Staging"
    assert [v.version for v in ml.get_latest_versions("credit", ["Production"])] == ["2"]
    assert verify_database(conn).ok
    rows = conn.execute("SELECT canonical FROM ledger_entries WHERE kind IN "
                        "('model_alias.set', 'model_version.stage_set')").fetchall()
    bodies = [json.loads(bytes(r[0]))["body"] for r in rows]
    assert {"alias": "champion", "previous": None, "promotion": promotion} in bodies
    assert any(b.get("stage") == "Production" and b["promotion"] == promo for b in bodies)


def test_separation_of_duties_is_not_bypassed_through_mlflow(
        ml: MlflowClient, client: Any, people: dict[str, str], monkeypatch: pytest.MonkeyPatch
        ) -> None:
    # The admin builds the run and registers the version, so it may not approve it.
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", people["admin"])
    run_id = trained_run(ml, client, people["admin"])
    ml.create_registered_model("sod")
    ml.create_model_version("sod", f"runs:/{run_id}/model", run_id=run_id)
    promotion = client.post(f"{V1}/models/sod/versions/1/promotions",
                            headers=bearer(people["writer"]),
                            json={"target": "Production", "justification": "j"}).json["id"]
    conflicted = client.post(f"{V1}/promotions/{promotion}/decisions",
                             headers=bearer(people["admin"]),
                             json={"decision": "approve", "comment": "my own model"})
    assert conflicted.status_code == 403, conflicted.json
    with pytest.raises(MlflowException) as refused:
        ml.transition_model_version_stage("sod", "1", "Production")
    assert refused.value.error_code == "PERMISSION_DENIED"
    assert "independent approver" in refused.value.message
    as_writer = raw(client, "POST", "model-versions/transition-stage", people["writer"],
                    {"name": "sod", "version": "1", "stage": "Production",
                     "archive_existing_versions": True})
    assert as_writer.status_code == 403 and as_writer.json["error_code"] == "PERMISSION_DENIED"
    assert ml.get_model_version("sod", "1").current_stage == "None"
    # The independent approver's approval is what opens the way.
    assert client.post(f"{V1}/promotions/{promotion}/decisions",
                       headers=bearer(people["approver"]),
                       json={"decision": "approve", "comment": "ok"}).status_code == 200
    assert ml.transition_model_version_stage("sod", "1", "Production").current_stage == \
        "Production"


def test_raw_error_shapes(client: Any, people: dict[str, str]) -> None:
    writer = people["writer"]
    assert raw(client, "POST", "registered-models/create", writer, {}).json["error_code"] == \
        "INVALID_PARAMETER_VALUE"
    assert raw(client, "POST", "registered-models/create", writer, {"name": "x"}).status_code \
        == 200
    again = raw(client, "POST", "registered-models/create", writer, {"name": "x"})
    assert again.status_code == 400 and again.json["error_code"] == "RESOURCE_ALREADY_EXISTS"
    for method, path, payload, query in (
            ("GET", "registered-models/get", None, "?name=missing"),
            ("GET", "model-versions/get", None, "?name=x&version=1"),
            ("GET", "model-versions/get-download-uri", None, "?name=x&version=3"),
            ("POST", "model-versions/transition-stage",
             {"name": "x", "version": "1", "stage": "Staging"}, ""),
            ("POST", "registered-models/set-tag", {"name": "y", "key": "k", "value": "v"}, "")):
        response = raw(client, method, path, writer, payload, query)
        assert response.status_code == 404, (path, response.json)
        assert response.json["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    for payload in ({"name": "x", "version": "1", "stage": "Staging",
                     "archive_existing_versions": "maybe"},
                    {"name": "x", "version": "0", "stage": "Staging"},
                    {"name": "x", "version": "1"}):
        bad = raw(client, "POST", "model-versions/transition-stage", writer, payload)
        assert bad.status_code == 400 and bad.json["error_code"] == "INVALID_PARAMETER_VALUE"
    bad_source = raw(client, "POST", "model-versions/create", writer,
                     {"name": "x", "source": "models:/m-0123", "model_id": "m-0123"})
    assert bad_source.status_code == 404
    no_model_id = raw(client, "POST", "model-versions/create", writer,
                      {"name": "x", "source": "models:/m-0123", "run_id": "abc"})
    assert no_model_id.status_code == 400
    for method, path, payload, query in (  # text PostgreSQL cannot store: 400, never 500
            ("POST", "registered-models/create", {"name": "a\u0000b"}, ""),
            ("POST", "registered-models/set-tag", {"name": "x", "key": "k", "value": "\ud800"},
             ""),
            ("GET", "registered-models/search", None, "?filter=name%20%3D%20%27%00%27"),
            ("GET", "model-versions/search", None, "?filter=name%20%3D%20%27%00%27"),
            ("PATCH", "registered-models/update", {"name": "x", "description": "\u0000"}, ""),
            ("POST", "model-versions/create", {"name": "x", "source": "runs:/\u0000/m"}, "")):
        response = raw(client, method, path, writer, payload, query)
        assert response.status_code == 400, (path, response.json)
    garbage = client.post("/api/2.0/mlflow/registered-models/create", data="{",
                          headers=bearer(writer), content_type="application/json")
    assert garbage.status_code == 400 and garbage.json["error_code"]


def test_register_model_from_2x_style_run_artifacts(
        ml: MlflowClient, client: Any, people: dict[str, str]) -> None:
    run_id = trained_run(ml, client, people["writer"])
    put = client.put(f"{V1}/runs/{run_id}/artifacts/model/MLmodel", data=b"flavors: {}\n",
                     headers=bearer(people["writer"]))
    assert put.status_code == 201, put.json
    version = mlflow.register_model(f"runs:/{run_id}/model", "two-x")
    experiment = ml.get_run(run_id).info.experiment_id
    assert version.source == f"mlflow-artifacts:/{experiment}/{run_id}/artifacts/model"
    assert version.run_id == run_id and version.version == "1"
    again = mlflow.register_model(f"runs:/{run_id}/model", "two-x")  # same digests
    assert again.version == "1"
    ours = client.get(f"{V1}/models/two-x/versions/1", headers=bearer(people["writer"])).json
    assert sorted(a["path"] for a in ours["evidence"]["artifacts"]) == \
        ["model/MLmodel", "model/file0.bin"]
