"""Registry over HTTP: pinned versions, protected targets, independent approval, deployments."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest


def send(client: Any, method: str, path: str, headers: dict[str, str], payload: Any = None
         ) -> Any:
    return client.open(path, method=method, headers=headers,
                       data=None if payload is None else json.dumps(payload),
                       content_type="application/json")


def kind(client: Any, auth: dict[str, str], seq: int) -> str:
    return str(client.get(f"/api/v1/ledger/entries/{seq}", headers=auth).json["kind"])


@pytest.fixture
def people(run_cli: Any, admin_token: str) -> dict[str, dict[str, str]]:
    def token(name: str, role: str) -> dict[str, str]:
        secret = run_cli("token", "create", "--name", name, "--role", role).stdout.split()[-1]
        return {"Authorization": f"Bearer {secret}"}

    return {"admin": {"Authorization": f"Bearer {admin_token}"},
            "builder": token("builder", "writer"), "requester": token("requester", "writer"),
            "risk1": token("risk1", "approver"), "risk2": token("risk2", "approver")}


@pytest.fixture
def model(client: Any, people: dict[str, dict[str, str]]) -> dict[str, Any]:
    """A model with two versions built by 'builder' from runs with model files and metrics."""
    builder = people["builder"]
    experiment = send(client, "POST", "/api/v1/experiments", builder, {"name": "credit"}).json
    versions = []
    for auc, payload in (("0.81", b"model v1"), ("0.70", b"model v2")):
        run = send(client, "POST", "/api/v1/runs", builder,
                   {"experiment_id": experiment["id"]}).json["id"]
        send(client, "POST", f"/api/v1/runs/{run}/batch", builder, {
            "params": [{"key": "lr", "value": "0.1"}],
            "metrics": [{"key": "auc", "value": auc},
                        {"key": "selection_rate", "value": "0.6", "group": {"sex": "M"}, "n": 90},
                        {"key": "selection_rate", "value": "0.5", "group": {"sex": "F"}, "n": 80}]})
        client.put(f"/api/v1/runs/{run}/artifacts/model/model.bin", headers=builder, data=payload)
        versions.append(run)
    for name, protected in (("prod-eu", True), ("staging-eu", False)):
        send(client, "POST", "/api/v1/environments", people["admin"],
             {"name": name, "protected": protected})
    created = send(client, "POST", "/api/v1/models", builder, {
        "name": "scorecard", "sensitive_attributes": ["sex"], "owner": "risk-team"})
    assert created.status_code == 201, created.json
    numbers = []
    for run in versions:
        registered = send(client, "POST", "/api/v1/models/scorecard/versions", builder,
                          {"run_id": run, "artifact_path": "model"})
        assert registered.status_code == 201, registered.json
        numbers.append(registered.json["version"])
    return {"runs": versions, "versions": numbers}


def promote(client: Any, who: dict[str, str], version: int, target: str = "Production") -> str:
    response = send(client, "POST", f"/api/v1/models/scorecard/versions/{version}/promotions",
                    who, {"target": target, "justification": "passed validation"})
    assert response.status_code == 201, response.json
    return str(response.json["id"])


def decide(client: Any, who: dict[str, str], promotion: str, decision: str = "approve",
           **extra: Any) -> Any:
    return send(client, "POST", f"/api/v1/promotions/{promotion}/decisions", who,
                {"decision": decision, "comment": "reviewed", **extra})


def test_versions_pin_their_evidence(client: Any, people: Any, model: dict[str, Any]) -> None:
    version = client.get("/api/v1/models/scorecard/versions/1", headers=people["risk1"]).json
    assert version["evidence"]["artifacts"][0]["path"] == "model/model.bin"
    assert len(version["version_digest"]) == 64
    again = send(client, "POST", "/api/v1/models/scorecard/versions", people["builder"],
                 {"run_id": model["runs"][0], "artifact_path": "model"})
    assert again.status_code == 200 and again.json["version"] == 1 and again.json["unchanged"]
    missing = send(client, "POST", "/api/v1/models/scorecard/versions", people["builder"],
                   {"run_id": model["runs"][0], "artifact_path": "nothing-here"})
    assert missing.status_code == 400


def test_protected_targets_need_a_promotion(client: Any, people: Any, model: Any) -> None:
    builder = people["builder"]
    direct = send(client, "POST", "/api/v1/models/scorecard/versions/1/transition", builder,
                  {"target": "Production"})
    assert direct.status_code == 409 and "promotions" in direct.json["detail"]
    champion = send(client, "POST", "/api/v1/models/scorecard/versions/1/transition", builder,
                    {"target": "@champion"})
    assert champion.status_code == 409
    staging = send(client, "POST", "/api/v1/models/scorecard/versions/1/transition", builder,
                   {"target": "Staging"})
    assert staging.status_code == 200
    assert client.get("/api/v1/models/scorecard/versions/1", headers=builder).json["stage"] == \
        "Staging"


def test_separation_of_duties(client: Any, people: Any, model: Any, conn: Any) -> None:
    admin = people["admin"]
    promotion = promote(client, admin, 1)
    refused = decide(client, admin, promotion)
    assert refused.status_code == 403 and "requested this promotion" in refused.json["detail"]
    assert kind(client, admin, refused.json["receipts"][0]["seq"]) == "decision.refused"
    approved = decide(client, people["risk1"], promotion)
    assert approved.status_code == 200 and approved.json["status"] == "approved"
    assert client.get("/api/v1/models/scorecard/versions/1", headers=admin).json["stage"] == \
        "Production"
    assert decide(client, people["risk2"], promotion).status_code == 409
    assert decide(client, people["builder"], promotion).status_code == 403  # a writer


def test_builder_of_the_version_or_run_may_not_approve(client: Any, people: Any,
                                                        run_cli: Any, admin_token: str) -> None:
    admin = people["admin"]
    experiment = send(client, "POST", "/api/v1/experiments", admin, {"name": "x"}).json["id"]
    run = send(client, "POST", "/api/v1/runs", admin, {"experiment_id": experiment}).json["id"]
    client.put(f"/api/v1/runs/{run}/artifacts/m.bin", headers=admin, data=b"weights")
    send(client, "POST", "/api/v1/models", admin, {"name": "scorecard"})
    send(client, "POST", "/api/v1/models/scorecard/versions", admin,
         {"run_id": run, "artifact_path": "m.bin"})
    promotion = promote(client, people["requester"], 1)
    refused = decide(client, admin, promotion)
    assert refused.status_code == 403 and "registered this model version" in refused.json["detail"]


def test_quorum_needs_distinct_approvers(client: Any, people: Any, model: Any) -> None:
    admin = people["admin"]
    send(client, "POST", "/api/v1/models", admin, {"name": "twokeys", "quorum": 2})
    run = model["runs"][0]
    send(client, "POST", "/api/v1/models/twokeys/versions", admin,
         {"run_id": run, "artifact_path": "model"})
    response = send(client, "POST", "/api/v1/models/twokeys/versions/1/promotions",
                    people["requester"], {"target": "@champion", "justification": "j"})
    promotion = response.json["id"]
    first = decide(client, people["risk1"], promotion)
    assert first.json["status"] == "pending"
    again = decide(client, people["risk1"], promotion)
    assert again.status_code == 403 and "quorum" in again.json["detail"]
    second = decide(client, people["risk2"], promotion)
    assert second.json["status"] == "approved"
    model_json = client.get("/api/v1/models/twokeys", headers=admin).json
    assert model_json["aliases"] == {"champion": 1}


def test_gates_block_approval_unless_an_exception_is_recorded(client: Any, people: Any,
                                                              model: Any) -> None:
    admin = people["admin"]
    policy = {"required_params": ["lr"], "minimums": [{"metric": "auc", "at_least": "0.75"}],
              "fairness": [{"metric": "selection_rate", "attribute": "sex",
                            "min_max_ratio_at_least": "0.8"}]}
    assert send(client, "PUT", "/api/v1/models/scorecard/policy", admin,
                {"policy": policy}).status_code == 200
    passing = promote(client, people["requester"], 1)
    gates = client.get(f"/api/v1/promotions/{passing}", headers=admin).json["gates"]
    assert gates["passed"] is True and len(gates["results"]) == 3
    failing = promote(client, people["requester"], 2, "@champion")
    gates = client.get(f"/api/v1/promotions/{failing}", headers=admin).json["gates"]
    assert gates["passed"] is False
    assert any("auc" in r["detail"] and not r["passed"] for r in gates["results"])
    blocked = decide(client, people["risk1"], failing)
    assert blocked.status_code == 403 and "exception" in blocked.json["detail"]
    excepted = decide(client, people["risk1"], failing,
                      exception={"justification": "challenger model, monitored weekly"})
    assert excepted.json["status"] == "approved"
    decisions = client.get(f"/api/v1/promotions/{failing}", headers=admin).json["decisions"]
    assert decisions[-1]["exception"] == {"justification": "challenger model, monitored weekly"}


def test_rejection_withdrawal_and_invalidation(client: Any, people: Any, model: Any) -> None:
    requester, admin = people["requester"], people["admin"]
    rejected = promote(client, requester, 1)
    assert decide(client, people["risk1"], rejected, "reject").json["status"] == "rejected"
    withdrawn = promote(client, requester, 1)
    response = send(client, "POST", f"/api/v1/promotions/{withdrawn}/withdraw", requester, {})
    assert response.status_code == 200
    assert decide(client, people["risk1"], withdrawn).status_code == 409
    invalidated = promote(client, requester, 1)
    send(client, "POST", "/api/v1/models/scorecard/versions/1/transition", admin,
         {"target": "Archived"})
    status = client.get(f"/api/v1/promotions/{invalidated}", headers=admin).json["status"]
    assert status == "invalidated"


def test_concurrent_decisions_one_wins(app: Any, people: Any, model: Any, client: Any) -> None:
    promotion = promote(client, people["requester"], 1)
    results: list[int] = []
    barrier = threading.Barrier(2)

    def approve(who: str) -> None:
        barrier.wait()
        results.append(decide(app.test_client(), people[who], promotion).status_code)

    threads = [threading.Thread(target=approve, args=(w,)) for w in ("risk1", "risk2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200, 409]


def test_deployments_rollback_and_as_of(client: Any, people: Any, model: Any) -> None:
    requester, admin = people["requester"], people["admin"]
    base = "/api/v1/models/scorecard"
    unapproved = send(client, "POST", f"{base}/deployments", requester,
                      {"version": 1, "environment": "prod-eu"})
    assert unapproved.status_code == 409
    assert send(client, "POST", f"{base}/deployments", requester,
                {"version": 1, "environment": "staging-eu"}).status_code == 201
    instants = [datetime.now(UTC)]
    for version in (1, 2):
        promotion = promote(client, requester, version, "Production")
        decide(client, people["risk1"], promotion)
        time.sleep(0.01)
        deployed = send(client, "POST", f"{base}/deployments", requester, {
            "version": version, "environment": "prod-eu", "promotion_id": promotion,
            "target": {"endpoint": "https://scoring.example/v1"}})
        assert deployed.status_code == 201, deployed.json
        time.sleep(0.01)
        instants.append(datetime.now(UTC))
    rolled = send(client, "POST", f"{base}/rollbacks", requester,
                  {"version": 1, "environment": "prod-eu", "reason": "drift in v2"})
    assert rolled.status_code == 201
    assert kind(client, admin, rolled.json["receipt"]["seq"]) == "deployment.rolled_back"
    assert rolled.json["deployment"]["rollback_of"] is not None
    instants.append(datetime.now(UTC))

    def live(at: datetime) -> Any:
        url = f"{base}/deployed?environment=prod-eu&at={quote(at.isoformat())}"
        return client.get(url, headers=admin)

    nothing = live(instants[0])  # an answer, not an error: 404 means no such model
    assert nothing.status_code == 200, nothing.json
    assert (nothing.json["version"], nothing.json["deployment"], nothing.json["environment"]) == (
        None, None, "prod-eu")
    assert [live(at).json["version"] for at in instants[1:]] == [1, 2, 1]
    answer = live(instants[2]).json
    assert answer["promotion"]["status"] == "approved" and answer["promotion"]["decisions"]
    history = client.get(f"{base}/deployments?environment=prod-eu", headers=admin).json
    assert [d["version"] for d in history["deployments"]] == [1, 2, 1]
    lineage = client.get(f"{base}/versions/1/lineage", headers=admin).json
    assert lineage["runs"][0]["run_id"] == model["runs"][0]
    assert len(lineage["deployments"]) == 3 and lineage["promotions"]


def test_unknown_model_or_version_is_404(client: Any, people: Any) -> None:
    admin = people["admin"]
    assert client.get("/api/v1/models/nope", headers=admin).status_code == 404
    assert send(client, "POST", "/api/v1/models/nope/versions/1/promotions", admin,
                {"target": "Production", "justification": "x"}).status_code == 404


def test_creator_of_the_source_run_may_not_approve(client: Any, people: Any,
                                                   model: Any, run_cli: Any) -> None:
    secret = run_cli("token", "create", "--name", "builder-approver", "--role",
                     "admin").stdout.split()[-1]
    builder_admin = {"Authorization": f"Bearer {secret}"}
    experiment = send(client, "POST", "/api/v1/experiments", builder_admin,
                      {"name": "own"}).json["id"]
    run = send(client, "POST", "/api/v1/runs", builder_admin,
               {"experiment_id": experiment}).json["id"]
    client.put(f"/api/v1/runs/{run}/artifacts/w.bin", headers=builder_admin, data=b"w")
    send(client, "POST", "/api/v1/models/scorecard/versions", people["builder"],
         {"run_id": run, "artifact_path": "w.bin"})
    promotion = promote(client, people["requester"], 3)
    refused = decide(client, builder_admin, promotion)
    assert refused.status_code == 403 and "source run" in refused.json["detail"]


def test_champion_alias_moves_with_approvals(client: Any, people: Any, model: Any) -> None:
    for version in (1, 2):
        promotion = promote(client, people["requester"], version, "@champion")
        gates_ok = {"exception": {"justification": "accepted"}} if version == 2 else {}
        assert decide(client, people["risk1"], promotion, **gates_ok).json["status"] == "approved"
        aliases = client.get("/api/v1/models/scorecard", headers=people["risk1"]).json["aliases"]
        assert aliases == {"champion": version}


def test_a_version_from_a_source_we_do_not_hold_is_unpinned_until_pinned(
        client: Any, people: Any, model: Any) -> None:
    """Issue 19 on /api/v1: registered with `source`, shown `pinned: false`, refused every
    protected target; pinned to files registered with digests, then promoted; whoever pinned
    it may not approve it."""
    builder, risk1 = people["builder"], people["risk1"]
    made = send(client, "POST", "/api/v1/models/scorecard/versions", builder,
                {"source": "gs://lake/scorecard", "run_id": "not-ours"})
    assert made.status_code == 201, made.json
    assert made.json["version"] == 3 and made.json["receipt"]["kind"] == \
        "model_version.created_unpinned"
    shown = client.get("/api/v1/models/scorecard/versions/3", headers=risk1).json
    assert shown["pinned"] is False and shown["run_id"] is None
    assert shown["evidence"] == {"pinned": False, "source": "gs://lake/scorecard",
                                 "run": "not-ours"}
    assert [v["pinned"] for v in client.get("/api/v1/models/scorecard",
                                            headers=risk1).json["versions"]] == \
        [True, True, False]
    both = send(client, "POST", "/api/v1/models/scorecard/versions", builder,
                {"source": "gs://x", "artifact_path": "model"})
    assert both.status_code == 400, both.json
    asked = send(client, "POST", "/api/v1/models/scorecard/versions/3/promotions", builder,
                 {"target": "Production", "justification": "x"})
    assert asked.status_code == 403 and "is unpinned" in asked.json["detail"], asked.json

    # The files, registered with digests in a run of ours, then the pin (by requester).
    run = model["runs"][1]
    send(client, "POST", f"/api/v1/runs/{run}/artifacts/external", builder, {
        "path": "lake/model.bin", "uri": "gs://lake/scorecard/model.bin",
        "sha256": "ab" * 32, "size": 7})
    pinned = send(client, "POST", "/api/v1/models/scorecard/versions/3/pin",
                  people["requester"], {"run_id": run, "artifact_path": "lake"})
    assert pinned.status_code == 200, pinned.json
    assert pinned.json["receipt"]["kind"] == "model_version.pinned"
    assert pinned.json["model_version"]["pinned"] is True
    nothing = send(client, "POST", "/api/v1/models/scorecard/versions/3/pin", builder,
                   {"run_id": run, "artifact_path": "lake"})
    assert nothing.status_code == 409, nothing.json
    promotion = promote(client, people["admin"], 3)
    conflicted = decide(client, people["admin"], promotion)  # requested it
    assert conflicted.status_code == 403
    approved = decide(client, risk1, promotion)
    assert approved.status_code == 200 and approved.json["status"] == "approved", approved.json
    assert client.get("/api/v1/models/scorecard/versions/3", headers=risk1).json["stage"] == \
        "Production"


def test_whoever_pinned_a_version_may_not_approve_it(
        client: Any, people: Any, model: Any) -> None:
    """Pinning chooses the files a version stands for: the admin who pinned it builds it."""
    admin = people["admin"]
    send(client, "POST", "/api/v1/models/scorecard/versions", people["builder"],
         {"source": "s3://lake/m"})
    run = model["runs"][0]
    send(client, "POST", f"/api/v1/runs/{run}/artifacts/external", people["builder"], {
        "path": "lake/m.bin", "uri": "s3://lake/m/m.bin", "sha256": "cd" * 32, "size": 3})
    pinned = send(client, "POST", "/api/v1/models/scorecard/versions/3/pin", admin,
                  {"run_id": run, "artifact_path": "lake"})
    assert pinned.status_code == 200, pinned.json
    promotion = promote(client, people["requester"], 3)
    refused = decide(client, admin, promotion)
    assert refused.status_code == 403, refused.json
    assert "pinned this version" in refused.json["detail"], refused.json
    assert decide(client, people["risk1"], promotion).json["status"] == "approved"
