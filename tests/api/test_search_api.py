"""GET /api/v1/runs: MLflow's filter grammar and order_by, bound as parameters, with paging."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest


def send(client: Any, method: str, path: str, headers: dict[str, str], payload: Any) -> Any:
    return client.open(path, method=method, headers=headers, data=json.dumps(payload),
                       content_type="application/json")


@pytest.fixture
def runs(client: Any, auth: dict[str, str]) -> dict[str, Any]:
    """Six runs with metrics, params, tags and datasets; start times 1000..6000."""
    experiment = send(client, "POST", "/api/v1/experiments", auth, {"name": "search"}).json["id"]
    ids = {}
    for i, (auc, model, team) in enumerate([(0.70, "xgb", "risk"), (0.85, "xgb", "risk"),
                                            (0.90, "lgbm", "risk"), (0.60, "lgbm", "ops"),
                                            (0.95, "xgb", "ops"), (None, "rf", None)], 1):
        created = send(client, "POST", "/api/v1/runs", auth, {
            "experiment_id": experiment, "name": f"run-{i}", "start_time": i * 1000,
            "tags": {"team": team} if team else {}}).json
        run = created["id"]
        ids[f"run-{i}"] = run
        batch: dict[str, Any] = {"params": [{"key": "model", "value": model}]}
        if auc is not None:
            batch["metrics"] = [{"key": "auc", "value": auc, "step": 0},
                                {"key": "auc", "value": 0.1, "step": -1}]
        send(client, "POST", f"/api/v1/runs/{run}/batch", auth, batch)
    send(client, "POST", f"/api/v1/runs/{ids['run-2']}/inputs", auth, {"datasets": [
        {"name": "loans", "digest": "a" * 64, "context": "training"}]})
    return {"experiment": experiment, "ids": ids}


def names(client: Any, auth: dict[str, str], experiment: str, **query: Any) -> list[str]:
    params = {"experiment_id": experiment, **query}
    response = client.get(f"/api/v1/runs?{urlencode(params, doseq=True)}", headers=auth)
    assert response.status_code == 200, response.json
    return [r["name"] for r in response.json["runs"]]


@pytest.mark.parametrize("flt,expected", [
    ("", ["run-6", "run-5", "run-4", "run-3", "run-2", "run-1"]),
    ("metrics.auc > 0.8", ["run-5", "run-3", "run-2"]),
    ("metrics.auc >= 0.85 and params.model = 'xgb'", ["run-5", "run-2"]),
    ("params.model != 'xgb'", ["run-6", "run-4", "run-3"]),
    ("tags.team = 'risk' AND metrics.auc < 0.9", ["run-2", "run-1"]),
    ("tags.team IS NULL", ["run-6"]),
    ("tags.team IS NOT NULL and params.model LIKE 'lg%'", ["run-4", "run-3"]),
    ("params.model ILIKE 'XG%'", ["run-5", "run-2", "run-1"]),
    ("attributes.run_name = 'run-3'", ["run-3"]),
    ("run_name IN ('run-1')", None),
    ("attributes.start_time >= 5000", ["run-6", "run-5"]),
    ("datasets.name = 'loans'", ["run-2"]),
    ("datasets.context IN ('training', 'test')", ["run-2"]),
    ("params.model = 'x''; DROP TABLE runs; --'", []),
    ("tags.`team` = \"ops\"", ["run-5", "run-4"]),
])
def test_filters(client: Any, auth: dict[str, str], runs: dict[str, Any], flt: str,
                 expected: list[str] | None) -> None:
    url = f"/api/v1/runs?{urlencode({'experiment_id': runs['experiment'], 'filter': flt})}"
    response = client.get(url, headers=auth)
    if expected is None:
        assert response.status_code == 400 and response.mimetype == "application/problem+json"
        return
    assert response.status_code == 200, response.json
    assert [r["name"] for r in response.json["runs"]] == expected


def test_run_id_in_list(client: Any, auth: dict[str, str], runs: dict[str, Any]) -> None:
    ids = runs["ids"]
    flt = f"attributes.run_id IN ('{ids['run-1']}', '{ids['run-4']}')"
    assert names(client, auth, runs["experiment"], filter=flt) == ["run-4", "run-1"]
    flt = f"attributes.run_id NOT IN ('{ids['run-1']}')"
    assert len(names(client, auth, runs["experiment"], filter=flt)) == 5


def test_order_by(client: Any, auth: dict[str, str], runs: dict[str, Any]) -> None:
    experiment = runs["experiment"]
    assert names(client, auth, experiment, order_by="metrics.auc DESC") == [
        "run-5", "run-3", "run-2", "run-1", "run-4", "run-6"]
    assert names(client, auth, experiment, order_by=["params.model", "metrics.auc ASC"]) == [
        "run-4", "run-3", "run-6", "run-1", "run-2", "run-5"]
    assert names(client, auth, experiment, order_by="attributes.start_time") == [
        "run-1", "run-2", "run-3", "run-4", "run-5", "run-6"]


def test_paging(client: Any, auth: dict[str, str], runs: dict[str, Any]) -> None:
    seen, token = [], None
    while True:
        query = {"experiment_id": runs["experiment"], "max_results": 4}
        if token:
            query["page_token"] = token
        page = client.get(f"/api/v1/runs?{urlencode(query)}", headers=auth).json
        seen += [r["name"] for r in page["runs"]]
        token = page["next_page_token"]
        if token is None:
            break
    assert seen == ["run-6", "run-5", "run-4", "run-3", "run-2", "run-1"]


@pytest.mark.parametrize("query", [
    {"filter": "metrics.auc > 0.8 OR params.model = 'x'"},
    {"filter": "metrics.auc > 'high'"},
    {"filter": "foo.bar = 1"},
    {"filter": "params.model = 'unterminated"},
    {"order_by": "nonsense.key"},
    {"page_token": "not-a-token"},
    {"max_results": 0},
    {"colour": "red"},
])
def test_bad_searches_are_400(client: Any, auth: dict[str, str], runs: dict[str, Any],
                              query: dict[str, Any]) -> None:
    url = f"/api/v1/runs?{urlencode({'experiment_id': runs['experiment'], **query})}"
    response = client.get(url, headers=auth)
    assert response.status_code == 400 and response.mimetype == "application/problem+json"
