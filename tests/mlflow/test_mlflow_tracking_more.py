"""The stock mlflow client: run and experiment lifecycle, renames, dataset inputs, experiment
search, and grouped metrics by the key convention (app/tracking/group_keys.py)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import mlflow
import pandas as pd
import psycopg
import pytest
from mlflow.entities import ViewType  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from app.services.verification import verify_database  # noqa: E402


def entries(client: Any, auth: dict[str, str]) -> list[dict[str, Any]]:
    """The ledger's entries, each decoded from its canonical bytes (kind, subject, body...)."""
    found = client.get("/api/v1/ledger/entries?limit=1000", headers=auth).json["entries"]
    return [json.loads(base64.b64decode(e["canonical"])) for e in found]


def kinds(client: Any, auth: dict[str, str]) -> list[str]:
    return [e["kind"] for e in entries(client, auth)]


def entry_body(client: Any, auth: dict[str, str], kind: str) -> dict[str, Any]:
    [last] = [e for e in entries(client, auth) if e["kind"] == kind][-1:]
    body: dict[str, Any] = last["body"]
    return body


def test_delete_restore_and_rename_runs(tracking: str, client: Any, auth: dict[str, str],
                                        services: Any) -> None:
    experiment = mlflow.set_experiment("lifecycle").experiment_id
    ml = MlflowClient()
    with mlflow.start_run(run_name="keep") as kept:
        mlflow.log_metric("loss", 0.5)
    with mlflow.start_run(run_name="drop") as dropped:
        mlflow.log_metric("loss", 0.25)
    run_id = dropped.info.run_id
    ml.delete_run(run_id)
    ml.delete_run(run_id)  # idempotent: nothing new is recorded
    got = ml.get_run(run_id)
    assert got.info.lifecycle_stage == "deleted" and got.data.metrics == {"loss": 0.25}
    for write in (lambda: ml.log_metric(run_id, "loss", 0.1),
                  lambda: ml.log_param(run_id, "p", "1"),
                  lambda: ml.set_tag(run_id, "t", "v"),
                  lambda: ml.update_run(run_id, name="renamed")):
        with pytest.raises(MlflowException) as refused:
            write()
        assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
        assert "must be in the 'active' state" in refused.value.message
    assert client.get(f"/api/v1/runs/{run_id}", headers=auth).json["lifecycle"] == "deleted"
    native = client.post(f"/api/v1/runs/{run_id}/metrics", headers=auth,
                         json={"metrics": [{"key": "loss", "value": 1}]})
    assert native.status_code == 409 and native.mimetype == "application/problem+json"
    upload = client.put(f"/api/v1/runs/{run_id}/artifacts/x.txt", data=b"x", headers=auth,
                        content_type="application/octet-stream")
    assert upload.status_code == 409 and "'active' state" in upload.json["detail"]

    def ids(view: int) -> set[str]:
        return {r.info.run_id for r in ml.search_runs([experiment], run_view_type=view)}
    assert ids(ViewType.ACTIVE_ONLY) == {kept.info.run_id}
    assert ids(ViewType.DELETED_ONLY) == {run_id}
    assert ids(ViewType.ALL) == {kept.info.run_id, run_id}
    assert kinds(client, auth).count("run.deleted") == 1

    ml.restore_run(run_id)
    assert ml.get_run(run_id).info.lifecycle_stage == "active"
    ml.log_metric(run_id, "loss", 0.125, step=1)
    ml.update_run(run_id, name="renamed")
    got = ml.get_run(run_id)
    assert got.info.run_name == "renamed" and got.data.tags["mlflow.runName"] == "renamed"
    assert entry_body(client, auth, "run.renamed") == {"name": "renamed", "previous": "drop"}
    assert [r.info.run_name for r in ml.search_runs(
        [experiment], "attributes.run_name = 'renamed'")] == ["renamed"]
    assert kinds(client, auth).count("run.restored") == 1
    with services.pool.connection() as conn:
        assert verify_database(conn).ok


def test_resuming_an_ended_run_is_recorded(tracking: str, client: Any,
                                           auth: dict[str, str]) -> None:
    mlflow.set_experiment("resume")
    with mlflow.start_run() as first:
        mlflow.log_metric("loss", 0.5)
    run_id = first.info.run_id
    ended = client.get(f"/api/v1/runs/{run_id}", headers=auth).json
    with mlflow.start_run(run_id=run_id):
        assert mlflow.get_run(run_id).info.status == "RUNNING"
        mlflow.log_metric("loss", 0.25, step=1)
    got = mlflow.get_run(run_id)
    assert got.info.status == "FINISHED" and got.data.metrics["loss"] == 0.25
    body = entry_body(client, auth, "run.reopened")
    assert body == {"previous_status": "FINISHED",
                    "previous_end_time": str(ended["end_time"]),
                    "previous_manifest_sha256": ended["manifest_sha256"]}
    assert kinds(client, auth).count("run.ended") == 2


def test_log_input_round_trips_and_maps_onto_our_inputs(
        tracking: str, client: Any, auth: dict[str, str]) -> None:
    frame = pd.DataFrame({"income": [1.0, 2.5, 3.0], "sex": ["F", "M", "F"]})
    dataset = mlflow.data.from_pandas(frame, source="https://example.com/loans.csv",
                                      name="loans")
    mlflow.set_experiment("inputs")
    with mlflow.start_run() as run:
        mlflow.log_input(dataset, context="training")
    [logged] = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
    sent = dataset.to_dict()
    assert {field: getattr(logged.dataset, field) for field in sent} == sent
    assert {t.key: t.value for t in logged.tags} == {"mlflow.data.context": "training"}
    ours = client.get(f"/api/v1/runs/{run.info.run_id}", headers=auth).json["inputs"]
    [native] = ours
    assert native["name"] == "loans" and native["context"] == "training"
    assert len(native["digest"]) == 64 and native["digest"] != dataset.digest
    assert native["source_uri"] == "https://example.com/loans.csv"
    assert native["row_count"] == 3
    body = entry_body(client, auth, "inputs.logged")
    assert body["datasets"][0]["mlflow"]["digest"] == dataset.digest
    found = MlflowClient().search_runs([run.info.experiment_id],
                                       "datasets.context = 'training'")
    assert [r.info.run_id for r in found] == [run.info.run_id]


def test_experiment_lifecycle_search_and_tags(tracking: str, client: Any,
                                              auth: dict[str, str]) -> None:
    ml = MlflowClient()
    ids = [ml.create_experiment(f"exp-{i}", tags={"team": "risk" if i % 2 else "ops"})
           for i in range(5)]
    other = ml.create_experiment("unrelated")
    found = ml.search_experiments(filter_string="name LIKE 'exp-%'", order_by=["name DESC"])
    assert [e.name for e in found] == [f"exp-{i}" for i in (4, 3, 2, 1, 0)]
    risk = ml.search_experiments(filter_string="tags.team = 'risk' AND name != 'exp-1'")
    assert [e.experiment_id for e in risk] == [ids[3]]
    first = ml.search_experiments(filter_string="attribute.name ILIKE 'EXP-%'",
                                  order_by=["experiment_id ASC"], max_results=2)
    assert [e.experiment_id for e in first] == ids[:2] and first.token
    rest = ml.search_experiments(filter_string="attribute.name ILIKE 'EXP-%'",
                                 order_by=["experiment_id ASC"], max_results=2,
                                 page_token=first.token)
    assert [e.experiment_id for e in rest] == ids[2:4]
    with pytest.raises(MlflowException) as bad:
        ml.search_experiments(filter_string="name = 'a' OR name = 'b'")
    assert bad.value.error_code == "INVALID_PARAMETER_VALUE"

    early, kept = ml.create_run(ids[0]).info.run_id, ml.create_run(ids[0]).info.run_id
    ml.delete_run(early)
    ml.delete_experiment(ids[0])
    assert ml.get_experiment(ids[0]).lifecycle_stage == "deleted"
    assert ml.get_run(kept).info.lifecycle_stage == "deleted"  # carried along, as in MLflow
    with pytest.raises(MlflowException) as inactive:
        ml.log_metric(kept, "auc", 0.8)
    assert inactive.value.error_code == "INVALID_PARAMETER_VALUE"
    active = {e.experiment_id for e in ml.search_experiments()}
    assert ids[0] not in active and other in active and "0" in active
    assert [e.experiment_id for e in ml.search_experiments(view_type=ViewType.DELETED_ONLY)] \
        == [ids[0]]
    with pytest.raises(MlflowException):
        ml.create_run(ids[0])  # an archived experiment takes no new runs
    ml.restore_experiment(ids[0])
    assert ml.get_experiment(ids[0]).lifecycle_stage == "active"
    assert ml.get_run(kept).info.lifecycle_stage == "active"
    assert ml.get_run(early).info.lifecycle_stage == "deleted"  # deleted on its own, before
    ml.log_metric(kept, "auc", 0.8)
    cascaded = [e for e in entries(client, auth) if e["kind"] in ("run.deleted", "run.restored")
                and e["subject"]["run"] == kept]
    assert [e["kind"] for e in cascaded] == ["run.deleted", "run.restored"]
    assert all(isinstance(e["body"]["with_experiment"], int) for e in cascaded)

    ml.rename_experiment(ids[1], "renamed")
    assert ml.get_experiment_by_name("renamed").experiment_id == ids[1]
    assert ml.get_experiment_by_name("exp-1") is None
    with pytest.raises(MlflowException) as taken:
        ml.rename_experiment(ids[2], "renamed")
    assert taken.value.error_code == "RESOURCE_ALREADY_EXISTS"
    ml.set_experiment_tag(ids[2], "stage", "dev")
    ml.delete_experiment_tag(ids[2], "team")
    assert ml.get_experiment(ids[2]).tags == {"stage": "dev"}
    assert {"experiment.archived", "experiment.restored", "experiment.renamed",
            "experiment.tags_set", "experiment.tag_deleted"} <= set(kinds(client, auth))
    ours = client.get(f"/api/v1/experiments/{ids[1]}", headers=auth).json
    assert ours["name"] == "renamed"


def test_grouped_metrics_by_key_convention(tracking: str, client: Any,
                                           auth: dict[str, str]) -> None:
    mlflow.set_experiment("fairness")
    ml = MlflowClient()
    with mlflow.start_run() as run:
        mlflow.log_metric("selection_rate[sex=F;n=412]", 0.30, step=1)
        mlflow.log_metric("selection_rate[sex=F;n=415]", 0.32, step=2)
        mlflow.log_metrics({"selection_rate[sex=M;n=380]": 0.40, "selection_rate": 0.35,
                            "selection_rate[sex=F,age_band=40-49]": 0.2,  # not canonical
                            "selection_rate[age_band=40-49,sex=F]": 0.25}, step=2)
    with mlflow.start_run() as second:
        mlflow.log_metric("selection_rate[sex=M]", 0.5)
    run_id = run.info.run_id
    metrics = ml.get_run(run_id).data.metrics
    assert metrics == {"selection_rate[sex=F]": 0.32, "selection_rate[sex=F;n]": 415,
                       "selection_rate[sex=M]": 0.40, "selection_rate[sex=M;n]": 380,
                       "selection_rate": 0.35, "selection_rate[sex=F,age_band=40-49]": 0.2,
                       "selection_rate[age_band=40-49,sex=F]": 0.25}
    history = ml.get_metric_history(run_id, "selection_rate[sex=F]")
    assert [(m.key, m.step, m.value) for m in history] == [
        ("selection_rate[sex=F]", 1, 0.30), ("selection_rate[sex=F]", 2, 0.32)]
    assert [m.value for m in ml.get_metric_history(run_id, "selection_rate")] == [0.35]
    assert [m.value for m in ml.get_metric_history(
        run_id, "selection_rate[sex=F,age_band=40-49]")] == [0.2]

    found = ml.search_runs([run.info.experiment_id], "metrics.`selection_rate[sex=M]` > 0.45")
    assert [r.info.run_id for r in found] == [second.info.run_id]
    ordered = ml.search_runs([run.info.experiment_id],
                             order_by=["metrics.`selection_rate[sex=M]` ASC"])
    assert [r.info.run_id for r in ordered] == [run_id, second.info.run_id]

    groups = client.get(f"/api/v1/runs/{run_id}/metrics/selection_rate/groups?attribute=sex",
                        headers=auth).json
    assert {g["group"]: (g["value"], g["n"]) for g in groups["groups"]} == {
        "F": ("0.32", 415), "M": ("0.4", 380)}
    ours = client.get(f"/api/v1/runs/{run_id}", headers=auth).json["metrics"]
    [plain] = [m for m in ours if m["key"] == "selection_rate[sex=F,age_band=40-49]"]
    assert plain["value"] == "0.2" and "group" not in plain
    grouped = [m for m in ours if m.get("group") == {"age_band": "40-49", "sex": "F"}]
    assert [m["value"] for m in grouped] == ["0.25"]


def test_raw_errors(client: Any, auth: dict[str, str]) -> None:
    def post(path: str, payload: Any) -> Any:
        return client.post(f"/api/2.0/mlflow/{path}", data=json.dumps(payload), headers=auth,
                           content_type="application/json")
    experiment = post("experiments/create", {"name": "raw"}).json["experiment_id"]
    run_id = post("runs/create", {"experiment_id": experiment}).json["run"]["info"]["run_id"]
    for path, payload, status in (
            ("runs/delete", {"run_id": "f" * 32}, 404),
            ("runs/restore", {}, 400),
            ("runs/log-inputs", {"run_id": run_id, "datasets": [{"dataset": {"name": "d"}}]},
             400),
            ("runs/log-inputs", {"run_id": run_id, "datasets": "x"}, 400),
            ("runs/log-inputs", {"run_id": run_id, "datasets": [{"dataset": {
                "name": "d", "digest": "x" * 37, "source_type": "s", "source": "{}"}}]}, 400),
            ("runs/log-metric", {"run_id": run_id, "key": "a{b}", "value": 1,
                                 "timestamp": 1}, 400),
            ("runs/log-metric", {"run_id": run_id, "key": "../r[a=b]", "value": 1,
                                 "timestamp": 1}, 400),
            ("runs/update", {"run_id": run_id, "run_name": "x" * 251}, 400),
            ("experiments/delete", {"experiment_id": "999"}, 404),
            ("experiments/update", {"experiment_id": experiment, "new_name": "n" * 501}, 400),
            ("experiments/set-experiment-tag", {"experiment_id": experiment, "key": "../k",
                                                "value": "v"}, 400),
            ("experiments/delete-experiment-tag", {"experiment_id": experiment, "key": "nope"},
             404),
            ("experiments/search", {"filter": "tags.x > 'a'"}, 400),
            ("experiments/search", {"filter": "creation_time > 'a'"}, 400),
            ("experiments/search", {"order_by": ["tags.x"]}, 400),
            ("experiments/search", {"view_type": "NOPE"}, 400),
            ("experiments/search", {"page_token": "%%%"}, 400)):
        response = post(path, payload)
        assert response.status_code == status, (path, payload, response.json)
        assert response.json["error_code"] and response.json["message"]
    kept = post("runs/log-metric", {"run_id": run_id, "key": "rate[b=1,a=2]", "value": 1,
                                    "timestamp": 1})
    assert kept.status_code == 200  # malformed grouped key: a plain metric, not an error
    got = client.get(f"/api/2.0/mlflow/runs/get?run_id={run_id}", headers=auth).json
    assert got["run"]["data"]["metrics"][0]["key"] == "rate[b=1,a=2]"
    assert got["run"]["info"]["lifecycle_stage"] == "active"
    searched = client.get("/api/2.0/mlflow/experiments/search?filter=name%20%3D%20%27raw%27"
                          "&order_by=creation_time%20DESC", headers=auth).json
    assert [e["name"] for e in searched["experiments"]] == ["raw"]


@pytest.fixture
def app_role_url(database_url: str, conn: Any) -> Iterator[str]:
    """A login role holding exactly the grants of docs/app-role.sql."""
    import uuid
    from pathlib import Path

    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    role = f"mlaudit_app_{uuid.uuid4().hex[:8]}"
    dbname = conninfo_to_dict(database_url)["dbname"]
    script = (Path(__file__).resolve().parents[2] / "docs" / "app-role.sql").read_text()
    conn.execute(script.replace("mlaudit_app", role).replace("DATABASE mlaudit",
                                                             f'DATABASE "{dbname}"'))
    params = conninfo_to_dict(database_url)
    params.update(user=role, password="change-me")
    yield make_conninfo(**params)
    conn.execute(f'DROP OWNED BY "{role}"')
    conn.execute(f'DROP ROLE "{role}"')


def test_lifecycle_routes_run_as_the_least_privilege_role(app_role_url: str, tmp_path: Any,
                                                          conn: Any) -> None:
    from app import create_app
    from app.config import load_config

    config = load_config(environ={}, overrides={
        "database_url": app_role_url, "home": tmp_path, "checkpoint_interval": 3600.0})
    app = create_app(config)
    try:
        client = app.test_client()
        auth = {"Authorization": f"Bearer {config.admin_token_path.read_text().strip()}"}

        def post(path: str, payload: Any) -> Any:
            response = client.post(f"/api/2.0/mlflow/{path}", json=payload, headers=auth)
            assert response.status_code == 200, (path, response.json)
            return response.json
        experiment = post("experiments/create", {"name": "least"})["experiment_id"]
        run_id = post("runs/create", {"experiment_id": experiment})["run"]["info"]["run_id"]
        post("runs/log-metric", {"run_id": run_id, "key": "rate[sex=F;n=3]", "value": 0.5,
                                 "timestamp": 1})
        post("runs/log-inputs", {"run_id": run_id, "datasets": [{
            "tags": [{"key": "mlflow.data.context", "value": "training"}],
            "dataset": {"name": "d", "digest": "abc", "source_type": "code", "source": "{}"}}]})
        post("runs/update", {"run_id": run_id, "run_name": "renamed"})
        post("runs/delete", {"run_id": run_id})
        post("runs/restore", {"run_id": run_id})
        post("experiments/update", {"experiment_id": experiment, "new_name": "least-2"})
        post("experiments/set-experiment-tag", {"experiment_id": experiment, "key": "k",
                                                "value": "v"})
        post("experiments/delete-experiment-tag", {"experiment_id": experiment, "key": "k"})
        put = client.put(f"/api/2.0/mlflow-artifacts/artifacts/{experiment}/{run_id}/"
                         "artifacts/a.txt", data=b"a", headers=auth)
        assert put.status_code == 200, put.json
        post("experiments/delete", {"experiment_id": experiment})
        post("experiments/restore", {"experiment_id": experiment})
        searched = client.post("/api/2.0/mlflow/experiments/search", headers=auth,
                               json={"filter": "name = 'least-2'"}).json
        assert [e["name"] for e in searched["experiments"]] == ["least-2"]
    finally:
        app.extensions["mlaudit"].close()
    with psycopg.connect(app_role_url, autocommit=True) as restricted:
        assert verify_database(restricted).ok
