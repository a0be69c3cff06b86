"""MLflow 3 logged models and run outputs, through the stock MlflowClient against a live server."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow.entities import LoggedModelOutput, LoggedModelStatus  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from app import create_app  # noqa: E402
from app.config import load_config  # noqa: E402
from app.services.verification import verify_database  # noqa: E402

V1 = "/api/v1"


@pytest.fixture
def ml(server: str, writer: str, point_mlflow: Any) -> MlflowClient:
    point_mlflow(server, writer)
    return MlflowClient(server, server)


def raw(client: Any, method: str, path: str, secret: str, payload: Any = None) -> Any:
    return client.open(f"/api/2.0/mlflow/{path}", method=method,
                       headers={"Authorization": f"Bearer {secret}"},
                       data=None if payload is None else json.dumps(payload),
                       content_type="application/json")


def test_logged_models_lifecycle_params_tags_and_outputs(
        ml: MlflowClient, client: Any, writer: str, conn: Any) -> None:
    experiment = ml.create_experiment("models")
    run = ml.create_run(experiment)
    run_id = run.info.run_id
    model = ml.create_logged_model(experiment, name="model", source_run_id=run_id,
                                   tags={"mlflow.source.type": "LOCAL"},
                                   params={"C": "0.5"}, model_type="sklearn")
    assert re.fullmatch(r"m-[0-9a-f]{32}", model.model_id)
    assert model.artifact_location == \
        f"mlflow-artifacts:/{experiment}/models/{model.model_id}/artifacts"
    assert model.status == LoggedModelStatus.PENDING and model.source_run_id == run_id
    assert model.params == {"C": "0.5"} and model.tags == {"mlflow.source.type": "LOCAL"}
    assert model.model_type == "sklearn" and model.creation_timestamp > 1_700_000_000_000

    ml.log_model_params(model.model_id, {"max_iter": "200", "C": "0.5"})
    with pytest.raises(MlflowException) as changed:
        ml.log_model_params(model.model_id, {"C": "9"})
    assert changed.value.error_code == "INVALID_PARAMETER_VALUE"
    ml.set_logged_model_tags(model.model_id, {"team": "risk", "tmp": "x"})
    ml.delete_logged_model_tag(model.model_id, "tmp")
    with pytest.raises(MlflowException) as no_tag:
        ml.delete_logged_model_tag(model.model_id, "tmp")
    assert no_tag.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    ready = ml.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    assert ready.status == LoggedModelStatus.READY
    got = ml.get_logged_model(model.model_id)
    assert got.params == {"C": "0.5", "max_iter": "200"}
    assert got.tags == {"mlflow.source.type": "LOCAL", "team": "risk"}
    assert got.last_updated_timestamp >= got.creation_timestamp

    ml.log_outputs(run_id, [LoggedModelOutput(model.model_id, 3)])
    ml.log_outputs(run_id, [LoggedModelOutput(model.model_id, 3)])  # a replay adds nothing
    outputs = ml.get_run(run_id).outputs.model_outputs
    assert [(o.model_id, o.step) for o in outputs] == [(model.model_id, 3)]
    assert ml.get_run(ml.create_run(experiment).info.run_id).outputs.model_outputs == []

    assert verify_database(conn).ok
    kinds = [k for (k,) in conn.execute("SELECT kind FROM ledger_entries "
                                        "WHERE kind LIKE 'logged_model.%%' OR "
                                        "kind = 'run.outputs_logged' ORDER BY seq")]
    assert kinds == ["logged_model.created", "logged_model.params_logged",
                     "logged_model.tags_set", "logged_model.tag_deleted",
                     "logged_model.status_set", "run.outputs_logged"]

    ml.delete_logged_model(model.model_id)  # soft: gone from get and search, kept in ledger
    with pytest.raises(MlflowException) as gone:
        ml.get_logged_model(model.model_id)
    assert gone.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    kept = client.get(f"/api/2.0/mlflow/logged-models/{model.model_id}?allow_deleted=true",
                      headers={"Authorization": f"Bearer {writer}"})
    assert kept.status_code == 200 and kept.json["model"]["info"]["model_id"] == model.model_id
    assert ml.search_logged_models([experiment]) == []


def test_search_logged_models_filters_order_and_paging(
        ml: MlflowClient, client: Any, writer: str) -> None:
    experiment = ml.create_experiment("search")
    runs = [ml.create_run(experiment).info.run_id for _ in range(2)]
    made = [ml.create_logged_model(experiment, name=name, source_run_id=run,
                                   params={"depth": str(i)}, model_type="t")
            for i, (name, run) in enumerate((("model", runs[0]), ("model", runs[1]),
                                             ("other", runs[1])))]
    ids = [m.model_id for m in made]
    named = ml.search_logged_models([experiment], filter_string="name = 'model'")
    assert sorted(m.model_id for m in named) == sorted(ids[:2])
    by_run = ml.search_logged_models([experiment], filter_string=f"source_run_id = '{runs[1]}'")
    assert sorted(m.model_id for m in by_run) == sorted(ids[1:])
    both = ml.search_logged_models(
        [experiment], filter_string=f"name = 'model' AND source_run_id = '{runs[1]}'")
    assert [m.model_id for m in both] == [ids[1]]
    assert [m.model_id for m in ml.search_logged_models(
        [experiment], filter_string="params.depth = '2'")] == [ids[2]]
    ordered = ml.search_logged_models([experiment], order_by=[{"field_name": "name",
                                                                "ascending": False}])
    assert ordered[0].model_id == ids[2]
    first = ml.search_logged_models([experiment], max_results=2,
                                    order_by=[{"field_name": "creation_timestamp"}])
    assert len(first) == 2 and first.token
    second = ml.search_logged_models([experiment], max_results=2, page_token=first.token,
                                     order_by=[{"field_name": "creation_timestamp"}])
    assert len(second) == 1 and not second.token
    assert {m.model_id for m in [*first, *second]} == set(ids)
    assert ml.search_logged_models([ml.create_experiment("empty")]) == []
    for bad in ("name = 'a' OR name = 'b'", "colour = 'red'", "name >"):
        with pytest.raises(MlflowException) as invalid:
            ml.search_logged_models([experiment], filter_string=bad)
        assert invalid.value.error_code == "INVALID_PARAMETER_VALUE", bad
    assert raw(client, "POST", "logged-models/search", writer, {}).status_code == 400


def test_registering_a_logged_model_pins_its_files(
        ml: MlflowClient, client: Any, writer: str, conn: Any) -> None:
    experiment = ml.create_experiment("register")
    run_id = ml.create_run(experiment).info.run_id
    model = ml.create_logged_model(experiment, name="model", source_run_id=run_id)
    for name in ("MLmodel", "model.pkl"):  # where the artifact proxy records them
        put = client.put(f"{V1}/runs/{run_id}/artifacts/models/{model.model_id}/{name}",
                         data=f"{name} bytes".encode(),
                         headers={"Authorization": f"Bearer {writer}"})
        assert put.status_code == 201, put.json
    ml.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    version = mlflow.register_model(f"models:/{model.model_id}", "from-logged")
    assert version.version == "1" and version.run_id == run_id
    assert version.source == f"models:/{model.model_id}"
    got = raw(client, "GET", "model-versions/get?name=from-logged&version=1", writer)
    assert got.json["model_version"]["model_id"] == model.model_id  # the client drops it
    # the version's own root (its pinned files only; tests/test_sealed_versions.py)
    digest = client.get(f"{V1}/models/from-logged/versions/1", headers={
        "Authorization": f"Bearer {writer}"}).json["version_digest"]
    assert ml.get_model_version_download_uri("from-logged", "1") == \
        f"mlflow-artifacts:/{experiment}/model-versions/{digest}/artifacts"
    tags = ml.get_logged_model(model.model_id).tags  # the client writes mlflow.modelVersions
    assert json.loads(tags["mlflow.modelVersions"]) == [{"name": "from-logged", "version": "1"}]
    ours = client.get(f"{V1}/models/from-logged/versions/1",
                      headers={"Authorization": f"Bearer {writer}"}).json
    assert sorted(a["path"] for a in ours["evidence"]["artifacts"]) == \
        [f"models/{model.model_id}/MLmodel", f"models/{model.model_id}/model.pkl"]

    # runs:/<run>/<name> without an MLmodel there resolves through logged-models/search.
    ml.log_outputs(run_id, [LoggedModelOutput(model.model_id, 0)])
    again = mlflow.register_model(f"runs:/{run_id}/model", "from-run-path")
    assert again.source == f"models:/{model.model_id}" and again.run_id == run_id

    orphan = ml.create_logged_model(experiment, name="orphan")  # a holder run, no files yet
    bad = raw(client, "POST", "model-versions/create", writer,
              {"name": "from-logged", "source": f"models:/{orphan.model_id}",
               "model_id": orphan.model_id})
    assert bad.status_code == 400 and bad.json["error_code"] == "INVALID_PARAMETER_VALUE"
    empty = ml.create_logged_model(experiment, name="empty", source_run_id=run_id)
    no_files = raw(client, "POST", "model-versions/create", writer,
                   {"name": "from-logged", "source": f"models:/{empty.model_id}",
                    "model_id": empty.model_id})
    assert no_files.status_code == 400, no_files.json
    assert verify_database(conn).ok


def test_logged_model_errors(ml: MlflowClient, client: Any, writer: str) -> None:
    experiment = ml.create_experiment("errors")
    other = ml.create_experiment("elsewhere")
    run_id = ml.create_run(other).info.run_id
    missing = "m-" + "0" * 32
    for method, path, payload in (("GET", f"logged-models/{missing}", None),
                                  ("PATCH", f"logged-models/{missing}",
                                   {"status": "LOGGED_MODEL_READY"}),
                                  ("DELETE", f"logged-models/{missing}", None),
                                  ("PATCH", f"logged-models/{missing}/tags", {"tags": []}),
                                  ("POST", f"logged-models/{missing}/params", {"params": []}),
                                  ("DELETE", f"logged-models/{missing}/tags/k", None),
                                  ("POST", "logged-models", {"experiment_id": "999",
                                                             "name": "x"}),
                                  ("POST", "runs/outputs", {"run_id": run_id,
                                                            "models": [{"model_id": missing,
                                                                        "step": 0}]})):
        response = raw(client, method, path, writer, payload)
        assert response.status_code == 404, (method, path, response.json)
        assert response.json["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    nul = raw(client, "GET", "logged-models/m-%00", writer)  # refused before routing
    assert nul.status_code == 400 and nul.json["error_code"] == "INVALID_PARAMETER_VALUE"
    model_id = ml.create_logged_model(experiment, name="m").model_id
    for method, path, payload in (
            ("POST", "logged-models", {"experiment_id": experiment, "name": "a\u0000"}),
            ("POST", "logged-models/search", {"experiment_ids": ["\u0000"]}),
            ("POST", "logged-models/search", {"experiment_ids": [experiment],
                                              "filter": "name = '\u0000'"}),
            ("PATCH", f"logged-models/{model_id}/tags", {"tags": [{"key": "k",
                                                                   "value": "\ud800"}]}),
            ("POST", "logged-models", {"name": "x"}),
            ("POST", "logged-models", {"experiment_id": experiment, "name": "x",
                                       "source_run_id": run_id}),
            ("POST", "logged-models", {"experiment_id": experiment, "name": "x",
                                       "params": [{"key": "../k", "value": "v"}]}),
            ("PATCH", f"logged-models/{model_id}", {"status": "DONE"}),
            ("PATCH", f"logged-models/{model_id}", {"status": "LOGGED_MODEL_PENDING"}),
            ("POST", "runs/outputs", {"run_id": run_id, "models": "x"})):
        response = raw(client, method, path, writer, payload)
        assert response.status_code == 400, (method, path, response.json)
        assert response.json["error_code"] == "INVALID_PARAMETER_VALUE"


@pytest.fixture
def restricted_app(database_url: str, conn: Any, tmp_path: Any) -> Iterator[Any]:
    """The app connected as the least-privilege role of docs/app-role.sql."""
    role = f"mlaudit_app_{uuid.uuid4().hex[:8]}"
    params = conninfo_to_dict(database_url)
    script = (Path(__file__).resolve().parents[2] / "docs" / "app-role.sql").read_text()
    conn.execute(script.replace("mlaudit_app", role).replace(
        "DATABASE mlaudit", f'DATABASE "{params["dbname"]}"'))
    params.update(user=role, password="change-me")
    app = create_app(load_config(environ={}, overrides={
        "database_url": make_conninfo(**params), "home": tmp_path / "restricted",
        "checkpoint_interval": 3600.0}))
    yield app
    app.extensions["mlaudit"].close()
    conn.execute(f'DROP OWNED BY "{role}"')
    conn.execute(f'DROP ROLE "{role}"')


def test_every_registry_and_logged_model_write_runs_as_the_app_role(restricted_app: Any) -> None:
    client = restricted_app.test_client()
    token = restricted_app.extensions["mlaudit"].config.admin_token_path.read_text().strip()

    def call(method: str, path: str, payload: Any = None) -> Any:
        response = raw(client, method, path, token, payload)
        assert response.status_code == 200, (path, response.json)
        return response.json

    experiment = call("POST", "experiments/create", {"name": "least"})["experiment_id"]
    run_id = call("POST", "runs/create", {"experiment_id": experiment})["run"]["info"]["run_id"]
    model_id = call("POST", "logged-models", {
        "experiment_id": experiment, "name": "model", "source_run_id": run_id,
        "params": [{"key": "a", "value": "1"}]})["model"]["info"]["model_id"]
    call("POST", f"logged-models/{model_id}/params", {"params": [{"key": "b", "value": "2"}]})
    call("PATCH", f"logged-models/{model_id}/tags", {"tags": [{"key": "t", "value": "v"}]})
    call("DELETE", f"logged-models/{model_id}/tags/t")
    put = client.put(f"{V1}/runs/{run_id}/artifacts/models/{model_id}/MLmodel", data=b"x",
                     headers={"Authorization": f"Bearer {token}"})
    assert put.status_code == 201, put.json
    call("PATCH", f"logged-models/{model_id}", {"status": "LOGGED_MODEL_READY"})
    call("POST", "runs/outputs", {"run_id": run_id, "models": [{"model_id": model_id,
                                                                "step": 0}]})
    call("POST", "registered-models/create", {"name": "least", "tags": [{"key": "k",
                                                                          "value": "v"}]})
    call("PATCH", "registered-models/update", {"name": "least", "description": "d"})
    call("POST", "registered-models/set-tag", {"name": "least", "key": "x", "value": "y"})
    call("DELETE", "registered-models/delete-tag", {"name": "least", "key": "x"})
    call("POST", "model-versions/create", {"name": "least", "source": f"models:/{model_id}",
                                           "model_id": model_id,
                                           "tags": [{"key": "k", "value": "v"}]})
    call("PATCH", "model-versions/update", {"name": "least", "version": "1",
                                            "description": "d"})
    call("POST", "model-versions/set-tag", {"name": "least", "version": "1", "key": "x",
                                            "value": "y"})
    call("DELETE", "model-versions/delete-tag", {"name": "least", "version": "1", "key": "x"})
    call("POST", "registered-models/alias", {"name": "least", "alias": "b", "version": "1"})
    call("DELETE", "registered-models/alias", {"name": "least", "alias": "b"})
    call("POST", "model-versions/transition-stage", {"name": "least", "version": "1",
                                                     "stage": "Staging",
                                                     "archive_existing_versions": True})
    call("GET", "registered-models/search")
    call("GET", "model-versions/search")
    call("POST", "logged-models/search", {"experiment_ids": [experiment]})
    assert call("GET", f"runs/get?run_id={run_id}")["run"]["outputs"] == {
        "model_outputs": [{"model_id": model_id, "step": 0}]}
    call("DELETE", f"logged-models/{model_id}")


def test_log_model_register_and_load_by_stage_and_model_id(ml: MlflowClient) -> None:
    import numpy as np
    import sklearn.linear_model as linear
    features = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.5]])
    model = linear.LinearRegression().fit(features, np.array([1.0, 2.0, 4.0, 5.5]))
    mlflow.set_experiment("log-model")
    with mlflow.start_run() as run:
        mlflow.log_param("fit_intercept", "true")
        info = mlflow.sklearn.log_model(model, name="model", registered_model_name="reg",
                                        serialization_format="cloudpickle",
                                        pip_requirements=["scikit-learn"])
    logged = ml.get_logged_model(info.model_id)
    assert logged.source_run_id == run.info.run_id and logged.status == LoggedModelStatus.READY
    assert logged.params == {"fit_intercept": "true"}
    assert [(o.model_id, o.step) for o in ml.get_run(run.info.run_id).outputs.model_outputs] \
        == [(info.model_id, 0)]
    ml.transition_model_version_stage("reg", "1", "Staging")
    for uri in ("models:/reg/Staging", "models:/reg/1", f"models:/{info.model_id}"):
        loaded = mlflow.sklearn.load_model(uri)
        assert list(loaded.predict(features)) == list(model.predict(features)), uri
