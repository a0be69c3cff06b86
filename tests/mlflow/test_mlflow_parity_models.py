"""MLflow 3.17 parity for logged models without a name or a run, and MLflow's experiment "0",
driven by the stock client against a live server."""

from __future__ import annotations

import json
from typing import Any

import mlflow
import pytest
from mlflow.entities import LoggedModelStatus  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from app.services.verification import verify_database  # noqa: E402

HOLDER_TAG = "mlaudit.logged_model"  # documented in docs/entry-kinds.md


@pytest.fixture
def ml(tracking: str) -> MlflowClient:
    return MlflowClient(tracking, tracking)


def entries(conn: Any, kind: str) -> list[dict[str, Any]]:
    return [json.loads(bytes(c)) for (c,) in conn.execute(
        "SELECT canonical FROM ledger_entries WHERE kind = %s ORDER BY seq", (kind,))]


def ledger_size(conn: Any) -> int:
    return int(conn.execute("SELECT count(*) FROM ledger_entries").fetchone()[0])


def created_entry(conn: Any, model_id: str) -> dict[str, Any]:
    [entry] = [e for e in entries(conn, "logged_model.created")
               if e["subject"]["logged_model"] == model_id]
    return entry


def test_an_unnamed_logged_model_gets_a_name_recorded_in_its_entry(
        ml: MlflowClient, conn: Any) -> None:
    experiment = ml.create_experiment("unnamed")
    model = ml.create_logged_model(experiment)  # MLflow's server generates the name
    assert model.name == f"model-{model.model_id[2:10]}"
    assert model.status == LoggedModelStatus.PENDING and model.experiment_id == experiment
    assert ml.get_logged_model(model.model_id).name == model.name
    found = ml.search_logged_models([experiment], filter_string=f"name = '{model.name}'")
    assert [m.model_id for m in found] == [model.model_id]
    # The name is a fact of the entry (a rebuild reads it, never derives it again).
    assert created_entry(conn, model.model_id)["body"]["name"] == model.name
    other = ml.create_logged_model(experiment, name="")  # empty: as MLflow, generated too
    assert other.name == f"model-{other.model_id[2:10]}" != model.name
    assert verify_database(conn).ok


@pytest.mark.parametrize("name", ["a/b", "a:b", "v1.2", "50%", 'say"', "it's"])
def test_a_logged_model_name_mlflow_refuses_is_refused_in_its_words(
        ml: MlflowClient, name: str) -> None:
    with pytest.raises(MlflowException) as refused:
        ml.create_logged_model(ml.create_experiment(f"bad-{abs(hash(name))}"), name=name)
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    assert f"Invalid model name ({name!r}) provided. Model name must be a non-empty string " \
        "and cannot contain the following characters:" in refused.value.message


def test_a_model_without_a_source_run_holds_files_on_a_holder_run(
        ml: MlflowClient, conn: Any, tmp_path: Any) -> None:
    experiment = ml.create_experiment("holder")
    model = ml.create_logged_model(experiment, name="agent")
    holder = ml.get_run(model.source_run_id)
    assert holder.info.experiment_id == experiment and holder.info.run_name == "agent"
    assert holder.data.tags[HOLDER_TAG] == model.model_id
    assert holder.info.status == "RUNNING"
    files = tmp_path / "files"
    files.mkdir()
    (files / "weights.txt").write_text("w")
    ml.log_model_artifacts(model.model_id, str(files))
    listed = ml.list_logged_model_artifacts(model.model_id)
    assert [(f.path, f.is_dir) for f in listed] == [("weights.txt", False)]
    ml.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    assert ml.get_run(holder.info.run_id).info.status == "FINISHED"
    [created] = [e for e in entries(conn, "run.created")
                 if e["subject"]["run"] == holder.info.run_id]
    assert created_entry(conn, model.model_id)["body"]["source_run"] == holder.info.run_id
    assert created["seq"] < created_entry(conn, model.model_id)["seq"]
    failed = ml.create_logged_model(experiment, name="broken")
    ml.finalize_logged_model(failed.model_id, LoggedModelStatus.FAILED)
    assert ml.get_run(failed.source_run_id).info.status == "FAILED"
    # A run tagged after its model existed is not a holder: finalizing leaves it running.
    own = ml.create_run(experiment).info.run_id
    trained = ml.create_logged_model(experiment, name="trained", source_run_id=own)
    ml.set_tag(own, HOLDER_TAG, trained.model_id)
    ml.finalize_logged_model(trained.model_id, LoggedModelStatus.READY)
    assert ml.get_run(own).info.status == "RUNNING"
    assert verify_database(conn).ok


def test_create_external_model_in_the_default_experiment(ml: MlflowClient, conn: Any) -> None:
    model = mlflow.create_external_model()  # no experiment set: "0", no name: generated
    assert model.experiment_id == "0" and model.name == f"model-{model.model_id[2:10]}"
    assert model.status == LoggedModelStatus.READY
    assert model.tags["mlflow.model.isExternal"] == "true"
    assert [f.path for f in ml.list_logged_model_artifacts(model.model_id)] == ["MLmodel"]
    named = mlflow.create_external_model(name="scorer", params={"k": "v"})
    assert ml.get_logged_model(named.model_id).name == "scorer"
    assert ml.get_logged_model(named.model_id).params == {"k": "v"}
    assert verify_database(conn).ok


def test_set_active_model_by_name_twice_is_the_same_model(ml: MlflowClient, conn: Any) -> None:
    first = mlflow.set_active_model(name="agent-v1")
    assert mlflow.get_active_model_id() == first.model_id
    again = mlflow.set_active_model(name="agent-v1")
    assert again.model_id == first.model_id
    found = ml.search_logged_models(["0"], filter_string="name = 'agent-v1'")
    assert [m.model_id for m in found] == [first.model_id]
    assert ml.get_logged_model(first.model_id).status == LoggedModelStatus.READY
    other = mlflow.set_active_model(name="agent-v2")
    assert other.model_id != first.model_id
    assert len(entries(conn, "logged_model.created")) == 2


def test_log_model_with_no_run_and_no_experiment_set(ml: MlflowClient, conn: Any) -> None:
    import numpy as np
    import sklearn.linear_model as linear
    features = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0]])
    fitted = linear.LinearRegression().fit(features, np.array([1.0, 2.0, 4.0]))
    info = mlflow.sklearn.log_model(fitted, name="clf", serialization_format="cloudpickle",
                                    pip_requirements=["scikit-learn"])
    logged = ml.get_logged_model(info.model_id)
    assert logged.experiment_id == "0" and logged.name == "clf"
    assert logged.status == LoggedModelStatus.READY
    loaded = mlflow.sklearn.load_model(f"models:/{info.model_id}")
    assert list(loaded.predict(features)) == list(fitted.predict(features))
    assert verify_database(conn).ok


def test_logged_models_in_experiment_0_on_a_fresh_server(
        client: Any, writer: str, conn: Any) -> None:
    """Start-up made "0" with one entry, by the service: the first request finds it."""
    [default] = [e for e in entries(conn, "experiment.created")
                 if e["subject"]["experiment"] == "0"]
    assert default["actor"] == "system" and default["body"]["name"] == "Default"
    response = client.post("/api/2.0/mlflow/logged-models",
                           headers={"Authorization": f"Bearer {writer}"},
                           data=json.dumps({"experiment_id": "0", "name": "first"}),
                           content_type="application/json")
    assert response.status_code == 200, response.json
    assert response.json["model"]["info"]["experiment_id"] == "0"


def test_reading_experiment_0_writes_nothing(
        client: Any, make_token: Any, conn: Any) -> None:
    auditor = {"Authorization": f"Bearer {make_token('examiner', 'auditor')}"}
    before = ledger_size(conn)
    for path in ("experiments/get?experiment_id=0", "experiments/get-by-name?"
                 "experiment_name=Default", "experiments/search?max_results=10"):
        response = client.get(f"/api/2.0/mlflow/{path}", headers=auditor)
        assert response.status_code == 200, (path, response.json)
    assert client.get("/api/2.0/mlflow/experiments/get?experiment_id=0",
                      headers=auditor).json["experiment"]["name"] == "Default"
    assert ledger_size(conn) == before


def test_a_renamed_default_experiment_is_not_found_by_its_old_name(
        ml: MlflowClient) -> None:
    """As MLflow: "Default" names experiment "0" only while it is called that."""
    ml.rename_experiment("0", "Renamed")
    assert ml.get_experiment_by_name("Default") is None  # the client's answer to a 404
    assert ml.get_experiment("0").name == "Renamed"
