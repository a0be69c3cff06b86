"""The unmodified mlflow client (mlflow-skinny 3.x) against a live mlaudit server."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import mlflow
import pytest
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from app.services.verification import verify_database  # noqa: E402


def test_the_stock_client_round_trips_through_the_ledger(
        tracking: str, client: Any, auth: dict[str, str], services: Any) -> None:
    experiment = mlflow.set_experiment("mlflow-compat")
    assert experiment.experiment_id != "0" and experiment.name == "mlflow-compat"
    assert mlflow.get_experiment_by_name("mlflow-compat").experiment_id == \
        experiment.experiment_id
    assert mlflow.get_experiment(experiment.experiment_id).name == "mlflow-compat"
    assert mlflow.get_experiment_by_name("no-such-experiment") is None
    other = mlflow.create_experiment("second", tags={"team": "risk"})
    assert mlflow.get_experiment(other).tags == {"team": "risk"}
    with pytest.raises(MlflowException) as taken:
        mlflow.create_experiment("second")
    assert taken.value.error_code == "RESOURCE_ALREADY_EXISTS"

    with mlflow.start_run(run_name="outer") as run:
        run_id = run.info.run_id
        mlflow.log_param("lr", 0.1)
        mlflow.log_param("lr", 0.1)  # same value again is fine
        mlflow.log_params({"depth": 3, "optimizer": "adam"})
        mlflow.log_metric("loss", 0.5, step=1)
        mlflow.log_metric("loss", 0.25, step=2)
        mlflow.log_metric("odd", float("nan"))
        mlflow.log_metrics({"acc": 0.75, "f1": 0.625}, step=2)
        mlflow.set_tag("stage", "dev")
        mlflow.set_tags({"owner": "ana", "tmp": "x"})
        mlflow.delete_tag("tmp")
        with pytest.raises(MlflowException) as changed:
            mlflow.log_param("lr", 0.2)
        assert changed.value.error_code == "INVALID_PARAMETER_VALUE"
        with mlflow.start_run(run_name="inner", nested=True) as child:
            child_id = child.info.run_id
            mlflow.log_metric("loss", 0.9)
    ml = MlflowClient()
    from mlflow.entities import Metric, Param, RunTag
    ml.log_batch(run_id, metrics=[Metric("batch_m", 1.5, 1_700_000_000_000, 4)],
                 params=[Param("batch_p", "x")], tags=[RunTag("batch_t", "y")])

    got = mlflow.get_run(run_id)
    assert got.info.status == "FINISHED" and got.info.end_time
    assert got.info.run_name == "outer" and got.info.experiment_id == experiment.experiment_id
    assert got.info.artifact_uri == \
        f"mlflow-artifacts:/{experiment.experiment_id}/{run_id}/artifacts"
    assert got.data.params == {"lr": "0.1", "depth": "3", "optimizer": "adam", "batch_p": "x"}
    metrics = got.data.metrics
    assert metrics["loss"] == 0.25 and metrics["acc"] == 0.75 and metrics["batch_m"] == 1.5
    assert math.isnan(metrics["odd"])
    assert got.data.tags["stage"] == "dev" and got.data.tags["owner"] == "ana"
    assert "tmp" not in got.data.tags and got.data.tags["batch_t"] == "y"
    assert got.data.tags["mlflow.runName"] == "outer" and "mlflow.user" in got.data.tags
    child_run = mlflow.get_run(child_id)
    assert child_run.data.tags["mlflow.parentRunId"] == run_id
    assert child_run.info.status == "FINISHED"

    history = ml.get_metric_history(run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(1, 0.5), (2, 0.25)]

    found = mlflow.search_runs([experiment.experiment_id], filter_string="metrics.loss < 0.8",
                               order_by=["metrics.loss ASC"], output_format="list")
    assert [r.info.run_id for r in found] == [run_id]
    ordered = ml.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"],
                             max_results=1)
    assert [r.info.run_id for r in ordered] == [child_id] and ordered.token
    page2 = ml.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"],
                           max_results=1, page_token=ordered.token)
    assert [r.info.run_id for r in page2] == [run_id] and not page2.token
    by_param = ml.search_runs([experiment.experiment_id], "params.optimizer = 'adam'")
    assert [r.info.run_id for r in by_param] == [run_id]
    with pytest.raises(MlflowException) as bad:
        ml.search_runs([experiment.experiment_id], "metrics.loss < 1 OR params.a = 'b'")
    assert bad.value.error_code == "INVALID_PARAMETER_VALUE"

    # Our own API sees the same run, and the ledger holds the writes and verifies.
    ours = client.get(f"/api/v1/runs/{run_id}", headers=auth).json
    assert ours["params"]["lr"] == "0.1" and ours["status"] == "FINISHED"
    assert ours["parent_run_id"] is None and ours["tags"]["owner"] == "ana"
    assert {m["key"]: m["value"] for m in ours["metrics"]}["loss"] == "0.25"
    assert client.get(f"/api/v1/runs/{child_id}", headers=auth).json["parent_run_id"] == run_id
    entry = client.get(f"/api/v1/ledger/entries/{ours['created_seq']}", headers=auth).json
    assert "run.created" in json.dumps(entry) and "token:ml-writer" in json.dumps(entry)
    with services.pool.connection() as conn:
        assert verify_database(conn).ok


def test_default_experiment_and_basic_auth(tracking: str, writer: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    with mlflow.start_run() as run:  # no experiment set: experiment "0"
        mlflow.log_metric("m", 1)
    got = mlflow.get_run(run.info.run_id)
    assert got.info.experiment_id == "0" and got.data.tags["mlflow.runName"] == \
        got.info.run_name
    assert mlflow.get_experiment("0").name == "Default"
    assert mlflow.get_experiment_by_name("Default").experiment_id == "0"
    with pytest.raises(MlflowException) as taken:  # the service's unique-name rule holds for it
        MlflowClient().create_experiment("Default")
    assert taken.value.error_code == "RESOURCE_ALREADY_EXISTS"
    assert "Experiment(name=Default) already exists" in str(taken.value)
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ml-writer")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", writer)
    assert mlflow.get_run(run.info.run_id).info.run_id == run.info.run_id
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "someone-else")
    with pytest.raises(MlflowException) as refused:
        mlflow.get_run(run.info.run_id)
    assert refused.value.error_code == "UNAUTHENTICATED"


def test_errors_use_mlflow_format(client: Any, auth: dict[str, str], app: Any) -> None:
    rules = sorted((method, rule.rule) for rule in app.url_map.iter_rules()
                   if rule.rule.startswith(("/api/2.0/", "/api/3.0/", "/version"))
                   for method in rule.methods - {"HEAD", "OPTIONS"})
    assert len(rules) >= 15
    basic = base64.b64encode(b"admin:mla_wrong").decode()
    for method, path in rules:
        for headers in ({}, {"Authorization": "Bearer mla_nope"},
                        {"Authorization": f"Basic {basic}"}):
            response = client.open(path, method=method, data="{}", headers=headers,
                                   content_type="application/json")
            assert response.status_code == 401, (method, path)
            assert response.json["error_code"] == "UNAUTHENTICATED", (method, path)
            assert "message" in response.json
    def post(path: str, payload: Any) -> Any:
        return client.post(f"/api/2.0/mlflow/{path}", data=json.dumps(payload), headers=auth,
                           content_type="application/json")
    missing = client.get("/api/2.0/mlflow/runs/get?run_id=abc", headers=auth)
    assert missing.status_code == 404
    assert missing.json["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    exp = post("experiments/create", {"name": "e"}).json["experiment_id"]
    run = post("runs/create", {"experiment_id": exp, "start_time": 1}).json["run"]["info"]
    for payload in ({"run_id": run["run_id"], "key": "m", "value": "abc", "timestamp": 1},
                    {"run_id": run["run_id"], "key": "m", "value": 1},
                    {"run_id": run["run_id"], "key": "../x", "value": 1, "timestamp": 1},
                    {"run_id": run["run_id"], "key": "m", "value": 1, "timestamp": "x"}):
        bad = post("runs/log-metric", payload)
        assert bad.status_code == 400 and bad.json["error_code"] == "INVALID_PARAMETER_VALUE"
    dup = post("runs/log-batch", {"run_id": run["run_id"],
                                  "params": [{"key": "a", "value": "1"},
                                             {"key": "a", "value": "1"}]})
    assert dup.status_code == 400
    garbage = client.post("/api/2.0/mlflow/runs/log-batch", data="{", headers=auth,
                          content_type="application/json")
    assert garbage.status_code == 400 and garbage.json["error_code"]
    assert post("runs/search", {"filter": "metrics.x <"}).status_code == 400
    assert post("runs/search", {"page_token": "%%%"}).status_code == 400
    assert client.get("/api/2.0/mlflow/metrics/get-history?run_id=" + run["run_id"] +
                      "&metric_key=m&max_results=0", headers=auth).status_code == 400


def test_log_batch_accepts_every_metric_shape_and_refuses_bad_ones(
        client: Any, auth: dict[str, str]) -> None:
    """A batch's metrics arrive as JSON numbers or proto-JSON strings; odd shapes take the
    slow path and must end up the same, bad ones must refuse the whole batch."""
    def post(path: str, payload: Any) -> Any:
        return client.post(f"/api/2.0/mlflow/{path}", data=json.dumps(payload), headers=auth,
                           content_type="application/json")

    exp = post("experiments/create", {"name": "shapes"}).json["experiment_id"]
    run = post("runs/create", {"experiment_id": exp, "start_time": 1}).json["run"]["info"]
    run_id = run["run_id"]
    metrics = [{"key": "a", "value": 1.5, "timestamp": "1700", "step": "3"},
               {"key": "b", "value": "NaN", "timestamp": 5, "step": -2},
               {"key": "c", "value": 2, "timestamp": 6, "step": "-4"},
               {"key": "d", "value": 0.25, "timestamp": 7},
               {"key": "selection_rate[sex=F;n=10]", "value": 0.5, "timestamp": 8}]
    assert post("runs/log-batch", {"run_id": run_id, "metrics": metrics}).status_code == 200
    logged = client.get(f"/api/2.0/mlflow/runs/get?run_id={run_id}", headers=auth).json
    got = {m["key"]: (m["value"], m["step"], m["timestamp"])
           for m in logged["run"]["data"]["metrics"]}
    assert got["a"] == (1.5, 3, 1700) and got["b"][0] == "NaN" and got["b"][1] == -2
    assert got["c"] == (2, -4, 6) and got["d"] == (0.25, 0, 7)
    assert got["selection_rate[sex=F]"] == (0.5, 0, 8)
    assert got["selection_rate[sex=F;n]"] == (10, 0, 8)
    native = client.get(f"/api/v1/runs/{run_id}", headers=auth).json["metrics"]
    assert {"key": "selection_rate", "group": {"sex": "F"}, "n": 10}.items() <= \
        [m for m in native if m["key"] == "selection_rate"][0].items()

    def entries() -> int:
        return len(client.get("/api/v1/ledger/entries?limit=1000", headers=auth).json["entries"])

    before = entries()
    for bad in ({"key": "x", "value": "abc", "timestamp": 1},
                {"key": "x", "value": 1},
                {"key": "x", "value": 1, "timestamp": -1},
                {"key": "x", "value": True, "timestamp": 1},
                {"key": "../x", "value": 1, "timestamp": 1},
                "not a metric"):
        refused = post("runs/log-batch", {"run_id": run_id, "metrics": [metrics[0], bad]})
        assert refused.status_code == 400, bad
        assert refused.json["error_code"] == "INVALID_PARAMETER_VALUE", bad
    assert entries() == before  # nothing of a refused batch was written

    assert post("runs/delete", {"run_id": run_id}).status_code == 200
    gone = post("runs/log-batch", {"run_id": run_id, "metrics": metrics[:1]})
    assert gone.status_code == 400 and "active" in gone.json["message"]
    missing = post("runs/log-metric", {"run_id": "nope", "key": "a", "value": 1,
                                       "timestamp": 1})
    assert missing.status_code == 404 and missing.json["error_code"] == "RESOURCE_DOES_NOT_EXIST"
