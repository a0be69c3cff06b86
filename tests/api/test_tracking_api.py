"""Tracking over HTTP: every write commits its facts with a ledger entry and returns a receipt."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest


@pytest.fixture
def writer(run_cli: Any, app: Any) -> dict[str, str]:
    token = run_cli("token", "create", "--name", "ci", "--role", "writer").stdout.split()[-1]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def auditor(run_cli: Any, app: Any) -> dict[str, str]:
    token = run_cli("token", "create", "--name", "aud", "--role", "auditor").stdout.split()[-1]
    return {"Authorization": f"Bearer {token}"}


def post(client: Any, path: str, headers: dict[str, str], payload: Any,
         method: str = "POST") -> Any:
    return client.open(path, method=method, headers=headers, data=json.dumps(payload),
                       content_type="application/json")


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.json
    return body


def entry(client: Any, auth: dict[str, str], receipt: dict[str, Any]) -> dict[str, Any]:
    """The ledger entry behind a receipt, checked against the receipt's hashes."""
    found = client.get(f"/api/v1/ledger/entries/{receipt['seq']}", headers=auth).json
    canonical = base64.b64decode(found["canonical"])
    leaf = hashlib.sha256(b"\x00" + canonical).digest()
    assert base64.b64encode(leaf).decode() == receipt["leaf_hash"] == found["leaf_hash"]
    assert found["chain_hash"] == receipt["chain_hash"]
    result: dict[str, Any] = json.loads(canonical)
    return result


@pytest.fixture
def run(client: Any, writer: dict[str, str]) -> dict[str, Any]:
    experiment = post(client, "/api/v1/experiments", writer, {"name": "credit-scoring"}).json
    created = post(client, "/api/v1/runs", writer, {
        "experiment_id": experiment["id"], "name": "xgb-1",
        "source": {"git_commit": "a1b2c3d4e5f6", "repository": "git@example.com:risk/model.git"},
        "tags": {"team": "risk"}})
    assert created.status_code == 201, created.json
    body: dict[str, Any] = created.json
    return body


def test_experiment_lifecycle(client: Any, writer: dict[str, str], auth: dict[str, str]) -> None:
    created = post(client, "/api/v1/experiments", writer,
                   {"name": "churn", "description": "Q3 churn", "tags": {"owner": "ana"}})
    assert created.status_code == 201
    body = created.json
    recorded = entry(client, auth, body["receipt"])
    assert recorded["kind"] == "experiment.created" and recorded["actor"] == "token:ci"
    assert recorded["body"] == {"name": "churn", "description": "Q3 churn",
                                "tags": {"owner": "ana"}}
    experiment_id = body["id"]
    by_id = client.get(f"/api/v1/experiments/{experiment_id}", headers=writer).json
    by_name = client.get("/api/v1/experiments/by-name/churn", headers=writer).json
    assert by_id["name"] == "churn" and by_name["id"] == experiment_id
    again = post(client, "/api/v1/experiments", writer, {"name": "churn"})
    assert "already exists" in problem(again, 409)["detail"]
    archived = post(client, f"/api/v1/experiments/{experiment_id}/archive", writer, {})
    assert entry(client, auth, archived.json["receipt"])["kind"] == "experiment.archived"
    listed = client.get("/api/v1/experiments", headers=writer).json["experiments"]
    assert experiment_id not in [e["id"] for e in listed]
    listed = client.get("/api/v1/experiments?include_archived=true", headers=writer).json
    assert [e["lifecycle"] for e in listed["experiments"] if e["id"] == experiment_id] == [
        "archived"]
    refused = post(client, "/api/v1/runs", writer, {"experiment_id": experiment_id})
    assert "archived" in problem(refused, 409)["detail"]


def test_experiments_are_paged(client: Any, writer: dict[str, str]) -> None:
    for i in range(5):
        post(client, "/api/v1/experiments", writer, {"name": f"e{i}"})
    first = client.get("/api/v1/experiments?limit=2", headers=writer).json
    second = client.get(f"/api/v1/experiments?limit=10&after={first['next']}",
                        headers=writer).json
    listed = first["experiments"] + second["experiments"]
    assert len(first["experiments"]) == 2
    # Start-up made MLflow's "Default" experiment (id "0", by "system") before any of these.
    assert (listed[0]["id"], listed[0]["created_by"], listed[0]["created_seq"]) == (
        "0", "system", 1)
    names = [e["name"] for e in listed]
    assert names == ["Default", "e0", "e1", "e2", "e3", "e4"] and second["next"] is None


def test_run_records_source_and_ends(client: Any, writer: dict[str, str], auth: dict[str, str],
                                     run: dict[str, Any]) -> None:
    assert run["run"]["status"] == "RUNNING" and run["run"]["tags"] == {"team": "risk"}
    recorded = entry(client, auth, run["receipt"])
    assert recorded["kind"] == "run.created"
    assert recorded["body"]["source"]["git_commit"] == "a1b2c3d4e5f6"
    ended = post(client, f"/api/v1/runs/{run['id']}/end", writer,
                 {"status": "FINISHED", "end_time": 1_700_000_000_000})
    ended_body = entry(client, auth, ended.json["receipt"])["body"]
    assert {k: ended_body[k] for k in ("status", "end_time")} == {
        "status": "FINISHED", "end_time": "1700000000000"}
    assert len(ended_body["manifest_sha256"]) == 64
    got = client.get(f"/api/v1/runs/{run['id']}", headers=auth).json
    assert got["status"] == "FINISHED" and got["end_time"] == 1_700_000_000_000
    again = post(client, f"/api/v1/runs/{run['id']}/end", writer, {"status": "FAILED"})
    assert "already ended" in problem(again, 409)["detail"]


def test_nested_run(client: Any, writer: dict[str, str], run: dict[str, Any]) -> None:
    child = post(client, "/api/v1/runs", writer, {
        "experiment_id": run["run"]["experiment_id"], "parent_run_id": run["id"]}).json
    assert child["run"]["parent_run_id"] == run["id"]
    orphan = post(client, "/api/v1/runs", writer, {
        "experiment_id": run["run"]["experiment_id"], "parent_run_id": "nope"})
    problem(orphan, 404)


def test_params_are_immutable(client: Any, writer: dict[str, str], auth: dict[str, str],
                              run: dict[str, Any]) -> None:
    path = f"/api/v1/runs/{run['id']}/params"
    first = post(client, path, writer, {"params": {"lr": "0.1", "depth": "6"}}).json
    assert entry(client, auth, first["receipt"])["body"] == {
        "params": {"depth": "6", "lr": "0.1"}}
    same = post(client, path, writer, {"params": {"lr": "0.1"}}).json
    assert same == {"receipt": None, "unchanged": True}
    changed = problem(post(client, path, writer, {"params": {"lr": "0.2"}}), 409)
    assert "'0.1'" in changed["detail"]
    assert client.get(f"/api/v1/runs/{run['id']}", headers=auth).json["params"] == {
        "lr": "0.1", "depth": "6"}


def test_metrics_keep_decimal_text_groups_and_history(client: Any, writer: dict[str, str],
                                                      auth: dict[str, str],
                                                      run: dict[str, Any]) -> None:
    path = f"/api/v1/runs/{run['id']}/metrics"
    raw = ('{"metrics": [{"key": "auc", "value": 0.81234567890123456789, "step": 1,'
           ' "timestamp": 1700000000000},'
           ' {"key": "selection_rate", "value": 0.6, "group": {"sex": "F"}, "n": 120},'
           ' {"key": "loss", "value": "NaN"}, {"key": "loss", "value": "-Infinity", "step": 2}]}')
    logged = client.post(path, headers=writer, data=raw, content_type="application/json").json
    recorded = entry(client, auth, logged["receipt"])["body"]["metrics"]
    assert recorded[0] == {"key": "auc", "value": "0.81234567890123456789", "step": "1",
                           "timestamp": "1700000000000"}
    assert recorded[1]["group"] == {"sex": "F"} and recorded[1]["n"] == "120"
    assert [m["value"] for m in recorded[2:]] == ["NaN", "-Infinity"]
    post(client, path, writer, {"metrics": [{"key": "auc", "value": 0.83, "step": 2}]})
    latest = {(m["key"], json.dumps(m.get("group"))): m for m in
              client.get(f"/api/v1/runs/{run['id']}", headers=auth).json["metrics"]}
    assert latest[("auc", "null")]["value"] == "0.83"
    assert latest[("loss", "null")]["value"] == "-Infinity"
    history = client.get(f"/api/v1/runs/{run['id']}/metrics/auc/history?limit=1",
                         headers=auth).json
    rest = client.get(f"/api/v1/runs/{run['id']}/metrics/auc/history?after={history['next']}",
                      headers=auth).json
    assert [m["value"] for m in history["metrics"] + rest["metrics"]] == [
        "0.81234567890123456789", "0.83"]


def test_tags_history_and_delete(client: Any, writer: dict[str, str], auth: dict[str, str],
                                 run: dict[str, Any]) -> None:
    base = f"/api/v1/runs/{run['id']}/tags/stage"
    post(client, base, writer, {"value": "dev"}, method="PUT")
    post(client, base, writer, {"value": "prod"}, method="PUT")
    deleted = client.delete(base, headers=writer).json
    assert entry(client, auth, deleted["receipt"])["kind"] == "tag.deleted"
    history = client.get(f"{base}/history", headers=auth).json["history"]
    assert [(h["value"], h["deleted"]) for h in history] == [
        ("dev", False), ("prod", False), (None, True)]
    assert "stage" not in client.get(f"/api/v1/runs/{run['id']}", headers=auth).json["tags"]
    problem(client.delete(base, headers=writer), 404)


def test_batch_is_all_or_nothing(client: Any, writer: dict[str, str], auth: dict[str, str],
                                 run: dict[str, Any], conn: Any) -> None:
    path = f"/api/v1/runs/{run['id']}/batch"
    before = conn.execute("SELECT size FROM ledger_head").fetchone()[0]
    bad = post(client, path, writer, {
        "params": [{"key": "a", "value": "1"}],
        "metrics": [{"key": "m", "value": 1}, {"key": "m", "value": "not a number"}]})
    assert "metrics" in problem(bad, 400)["errors"]
    post(client, f"/api/v1/runs/{run['id']}/params", writer, {"params": {"lr": "0.1"}})
    conflict = post(client, path, writer, {
        "params": [{"key": "b", "value": "2"}, {"key": "lr", "value": "0.5"}],
        "metrics": [{"key": "m", "value": 1}], "tags": {"t": "x"}})
    problem(conflict, 409)
    got = client.get(f"/api/v1/runs/{run['id']}", headers=auth).json
    assert "b" not in got["params"] and "t" not in got["tags"] and not got["metrics"]
    assert conn.execute("SELECT size FROM ledger_head").fetchone()[0] == before + 1
    ok = post(client, path, writer, {"params": [{"key": "b", "value": "2"}],
                                     "metrics": [{"key": "m", "value": 1}], "tags": {"t": "x"}})
    assert [entry(client, auth, r)["kind"] for r in ok.json["receipts"]] == [
        "params.logged", "metrics.logged", "tags.set"]


@pytest.mark.parametrize("payload,field", [
    ({"params": [{"key": "a", "value": "1"}, {"key": "a", "value": "1"}]}, "params"),
    ({"metrics": [{"key": "m", "value": 1}] * 1001}, "metrics"),
    ({"params": [{"key": f"k{i}", "value": "v"} for i in range(101)]}, "params"),
    ({"metrics": [{"key": "../etc", "value": 1}]}, "metrics"),
    ({"metrics": [{"key": "m", "value": True}]}, "metrics"),
    ({"metrics": [{"key": "m", "value": 1, "step": 1.5}]}, "metrics"),
    ({"metrics": [{"key": "m", "value": 1, "group": {}}]}, "metrics"),
    ({"metrics": [{"key": "m", "value": 1, "n": -1}]}, "metrics"),
    ({"color": "red"}, "color"),
])
def test_bad_batches_are_400_with_field_errors(client: Any, writer: dict[str, str],
                                               run: dict[str, Any], payload: Any,
                                               field: str) -> None:
    body = problem(post(client, f"/api/v1/runs/{run['id']}/batch", writer, payload), 400)
    assert field in body["errors"]


def test_malformed_json_is_400(client: Any, writer: dict[str, str], run: dict[str, Any]) -> None:
    path = f"/api/v1/runs/{run['id']}/params"
    for raw in ('{"params": {"a": "1"}', '{"params": {"a": "1", "a": "2"}}', "[]"):
        problem(client.post(path, headers=writer, data=raw, content_type="application/json"), 400)
    wrong_type = client.post(path, headers=writer, data="params=1",
                             content_type="application/x-www-form-urlencoded")
    assert wrong_type.status_code == 415


def test_roles(client: Any, auditor: dict[str, str], writer: dict[str, str],
               run: dict[str, Any]) -> None:
    denied = post(client, "/api/v1/experiments", auditor, {"name": "x"})
    problem(denied, 403)
    assert client.get(f"/api/v1/runs/{run['id']}", headers=auditor).status_code == 200


def test_unknown_run_is_404(client: Any, writer: dict[str, str]) -> None:
    problem(post(client, "/api/v1/runs/nope/params", writer, {"params": {"a": "1"}}), 404)
    problem(client.get("/api/v1/runs/nope", headers=writer), 404)
    problem(post(client, "/api/v1/runs", writer, {"experiment_id": "999"}), 404)


def test_group_summary_follows_the_four_fifths_convention(client: Any, writer: dict[str, str],
                                                          auth: dict[str, str],
                                                          run: dict[str, Any]) -> None:
    path = f"/api/v1/runs/{run['id']}/metrics"
    post(client, path, writer, {"metrics": [
        {"key": "selection_rate", "value": 0.60, "group": {"sex": "M"}, "n": 500},
        {"key": "selection_rate", "value": 0.42, "group": {"sex": "F"}, "n": 480},
        {"key": "selection_rate", "value": 0.55, "group": {"sex": "X"}, "n": 12},
        {"key": "selection_rate", "value": 0.9, "group": {"sex": "F", "age_band": "40-49"}},
        {"key": "selection_rate", "value": 0.5}]})
    url = f"/api/v1/runs/{run['id']}/metrics/selection_rate/groups?attribute=sex"
    summary = client.get(url, headers=auth).json
    assert summary["reference"] == "M" and summary["reference_rule"] == "highest_value"
    figures = {g["group"]: g for g in summary["groups"]}
    assert set(figures) == {"F", "M", "X"}  # the intersectional and overall values are excluded
    assert figures["F"]["ratio"] == "0.7" and figures["F"]["difference"] == "-0.18"
    assert "ratio_out_of_band" in figures["F"]["flags"]
    assert figures["X"]["ratio"] == "0.916667" and figures["X"]["flags"] == ["small_n"]
    assert summary["min_max_ratio"] == "0.7" and summary["max_difference"] == "0.18"
    assert sorted(summary["flagged"]) == ["F", "X"]
    named = client.get(f"{url}&reference=F&band_low=0.5&band_high=2", headers=auth).json
    assert named["reference"] == "F" and named["reference_rule"] == "requested"
    assert {g["group"]: g["ratio"] for g in named["groups"]}["M"] == "1.428571"
    problem(client.get(f"{url}&reference=Z", headers=auth), 400)
    problem(client.get(f"/api/v1/runs/{run['id']}/metrics/selection_rate/groups?attribute=race",
                       headers=auth), 404)
    both = client.get(f"/api/v1/runs/{run['id']}/metrics/selection_rate/groups"
                      "?attribute=sex,age_band", headers=auth).json
    assert [g["group"] for g in both["groups"]] == ["age_band=40-49,sex=F"]


DIGEST = hashlib.sha256(b"training data").hexdigest()
ENVIRONMENT = {"python_version": "3.11.7", "os": "Linux 6.1", "architecture": "x86_64",
               "hardware": {"cpu": "2 vCPU", "memory": "24 GiB"},
               "packages": [{"name": "scikit-learn", "version": "1.5.0"}],
               "lockfile_sha256": DIGEST}


def test_inputs_environment_and_manifest(client: Any, writer: dict[str, str],
                                         auth: dict[str, str], run: dict[str, Any]) -> None:
    base = f"/api/v1/runs/{run['id']}"
    logged = post(client, f"{base}/inputs", writer, {"datasets": [{
        "name": "loans-2025", "digest": DIGEST, "context": "training",
        "source_uri": "s3://bucket/loans.parquet", "row_count": 120000,
        "schema": {"columns": [{"name": "income", "type": "int64"}]},
        "group_counts": {"sex": {"F": 59000, "M": 61000}}}]})
    recorded = entry(client, auth, logged.json["receipt"])["body"]["datasets"][0]
    assert recorded["row_count"] == "120000" and recorded["group_counts"]["sex"]["F"] == "59000"
    env = post(client, f"{base}/environment", writer, ENVIRONMENT, method="PUT").json
    assert entry(client, auth, env["receipt"])["kind"] == "environment.recorded"
    assert post(client, f"{base}/environment", writer, ENVIRONMENT, method="PUT").json[
        "unchanged"] is True
    changed = dict(ENVIRONMENT, python_version="3.12.0")
    problem(post(client, f"{base}/environment", writer, changed, method="PUT"), 409)
    post(client, f"{base}/params", writer, {"params": {"random_seed": "42", "lr": "0.1"}})
    manifest_response = client.get(f"{base}/manifest", headers=auth)
    manifest = json.loads(manifest_response.data)
    assert manifest["datasets"][0]["digest"] == DIGEST
    assert manifest["seeds"] == {"random_seed": "42"}
    assert manifest["environment"]["lockfile_sha256"] == DIGEST
    assert manifest["source"]["git_commit"] == "a1b2c3d4e5f6"
    digest = hashlib.sha256(manifest_response.data).hexdigest()
    assert manifest_response.headers["X-Manifest-SHA256"] == digest
    ended = post(client, f"{base}/end", writer, {"status": "FINISHED"}).json
    assert entry(client, auth, ended["receipt"])["body"]["manifest_sha256"] == digest
    assert client.get(base, headers=auth).json["manifest_sha256"] == digest


@pytest.mark.parametrize("dataset", [
    {"name": "d", "digest": "ABC", "context": "training"},
    {"name": "d", "digest": DIGEST, "context": "lunch"},
    {"name": "d", "digest": DIGEST, "context": "test", "schema": {"mean": 0.5}},
    {"name": "d", "digest": DIGEST, "context": "test", "row_count": -1},
])
def test_bad_datasets(client: Any, writer: dict[str, str], run: dict[str, Any],
                      dataset: dict[str, Any]) -> None:
    body = problem(post(client, f"/api/v1/runs/{run['id']}/inputs", writer,
                        {"datasets": [dataset]}), 400)
    assert "datasets" in body["errors"]
