"""The stock mlflow client against MLflow's behaviour on runs and experiments: a parent run
that was never recorded, artifact_location and user_id, the server version, and the wording of
MLflow's server (on a SQL store) for the errors the tracking routes give."""

from __future__ import annotations

import base64
import getpass
import json
from collections.abc import Callable
from typing import Any

import mlflow
import pytest
from mlflow.entities import Param  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.store.tracking.rest_store import RestStore  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402
from mlflow.utils.rest_utils import MlflowHostCreds  # noqa: E402
from packaging.version import Version  # noqa: E402

from app.api.mlflow import MLFLOW_API_VERSION  # noqa: E402
from app.services import keys as key_service  # noqa: E402
from app.services import reports  # noqa: E402
from app.services.report_bundle import open_bundle  # noqa: E402
from app.services.report_verify import all_passed, verify_report  # noqa: E402
from app.services.verification import verify_database  # noqa: E402
from reports.extract import read_attachment  # noqa: E402
from tests.mlflow.conftest import TokenMaker  # noqa: E402

GHOST = "0123456789abcdef0123456789abcdef"  # a run id no server here ever recorded
MLFLOW = "/api/2.0/mlflow"


def refused(call: Callable[[], Any]) -> MlflowException:
    with pytest.raises(MlflowException) as caught:
        call()
    return caught.value


def run_created(client: Any, auth: dict[str, str], run_id: str) -> dict[str, Any]:
    """The body of the run's `run.created` entry, decoded from its canonical bytes."""
    found = client.get("/api/v1/ledger/entries?limit=1000", headers=auth).json["entries"]
    for entry in (json.loads(base64.b64decode(e["canonical"])) for e in found):
        if entry["kind"] == "run.created" and entry["subject"]["run"] == run_id:
            body: dict[str, Any] = entry["body"]
            return body
    raise AssertionError(f"no run.created entry for {run_id}")


def test_a_parent_never_recorded_is_kept_as_sent(tracking: str, client: Any,
                                                 auth: dict[str, str], services: Any) -> None:
    """MLflow stores the mlflow.parentRunId tag without looking the parent up: so do we, and
    the ledger, verify and the run report cope with a parent that is not there."""
    experiment = mlflow.set_experiment("orphans").experiment_id
    ml = MlflowClient()
    run = ml.create_run(experiment, tags={"mlflow.parentRunId": GHOST})
    run_id = run.info.run_id
    assert ml.get_run(run_id).data.tags["mlflow.parentRunId"] == GHOST
    assert run_created(client, auth, run_id)["parent_run"] == GHOST
    assert client.get(f"/api/v1/runs/{run_id}", headers=auth).json["parent_run_id"] == GHOST
    mlflow.log_metric("loss", 0.5, run_id=run_id)
    ml.set_terminated(run_id)
    child = ml.create_run(experiment, tags={"mlflow.parentRunId": run_id})  # a chain of two
    with services.pool.connection() as conn:
        assert verify_database(conn).ok
        keys = key_service.verifier_keys(conn)
    issued = reports.run_report(services, "token:auditor", child.info.run_id, False)
    assert all_passed(verify_report(issued.pdf, keys))
    evidence = open_bundle(read_attachment(issued.pdf)).evidence.run
    assert [(p.run_id, p.seq) for p in evidence.parents] == [
        (run_id, run_created_seq(client, auth, run_id)), (GHOST, None)]


def run_created_seq(client: Any, auth: dict[str, str], run_id: str) -> int:
    got: int = client.get(f"/api/v1/runs/{run_id}", headers=auth).json["created_seq"]
    return got


def test_a_scoped_token_names_only_parents_it_reaches(
        server: str, client: Any, auth: dict[str, str], make_token: TokenMaker,
        point_mlflow: Any) -> None:
    """To a token scoped to experiments, a parent it cannot see and one that does not exist
    answer alike (404), so the answer tells it nothing of what exists elsewhere."""
    def made(route: str, body: dict[str, Any]) -> dict[str, Any]:
        done: dict[str, Any] = client.post(f"{MLFLOW}/{route}", json=body, headers=auth).json
        return done
    mine = made("experiments/create", {"name": "mine"})["experiment_id"]
    theirs = made("experiments/create", {"name": "theirs"})["experiment_id"]
    hidden = made("runs/create", {"experiment_id": theirs})["run"]["info"]["run_id"]
    secret = make_token("scoped", "writer")
    granted = client.post("/api/v1/grants", json={"token_name": "scoped",
                                                  "experiment_id": mine}, headers=auth)
    assert granted.status_code in (200, 201), granted.json
    point_mlflow(server, secret)
    for parent in (GHOST, hidden):
        error = refused(lambda p=parent: MlflowClient().create_run(
            mine, tags={"mlflow.parentRunId": p}))
        assert error.error_code == "RESOURCE_DOES_NOT_EXIST"
        assert error.message == f"RESOURCE_DOES_NOT_EXIST: Run with id={parent} not found"


def test_artifact_location_is_refused_with_the_reason(tracking: str) -> None:
    """Honouring an s3:// location would send the client's uploads around the digest-checked
    store; leaving it unset (what set_experiment and create_experiment send) is accepted."""
    ml = MlflowClient()
    error = refused(lambda: ml.create_experiment("elsewhere",
                                                 artifact_location="s3://bucket/path"))
    assert error.error_code == "INVALID_PARAMETER_VALUE"
    assert ("Invalid value \"s3://bucket/path\" for parameter 'artifact_location' supplied: "
            in error.message) and "digest-checked store" in error.message
    assert ml.get_experiment_by_name("elsewhere") is None  # nothing was recorded
    made = ml.get_experiment(ml.create_experiment("here"))
    assert made.artifact_location == f"mlflow-artifacts:/{made.experiment_id}"


def test_user_id_is_the_clients_claim_beside_the_actor(tracking: str, client: Any,
                                                      auth: dict[str, str]) -> None:
    experiment = mlflow.set_experiment("users").experiment_id
    ml = MlflowClient()
    claimed = ml.create_run(experiment, tags={"mlflow.user": "ana"})  # user_id = "ana"
    assert claimed.info.user_id == "ana"
    assert ml.get_run(claimed.info.run_id).info.user_id == "ana"
    body = run_created(client, auth, claimed.info.run_id)
    assert body["user_id"] == "ana"
    ours = client.get(f"/api/v1/runs/{claimed.info.run_id}", headers=auth).json
    assert ours["created_by"] == "token:ml-writer"  # who is authenticated, unchanged
    with mlflow.start_run() as fluent:  # the fluent API claims the OS user
        pass
    assert ml.get_run(fluent.info.run_id).info.user_id == getpass.getuser()
    found = ml.search_runs([experiment], filter_string="attributes.user_id = 'ana'")
    assert [r.info.run_id for r in found] == [claimed.info.run_id]


def test_user_id_longer_than_mlflows_column_is_refused(client: Any,
                                                      writer_auth: dict[str, str]) -> None:
    response = client.post(f"{MLFLOW}/runs/create", headers=writer_auth,
                           json={"experiment_id": "0", "user_id": "u" * 257})
    assert response.status_code == 400
    assert response.json["message"] == "'user_id' exceeds the maximum length of 256 characters"


def test_version_is_the_mlflow_api_implemented(tracking: str, writer: str) -> None:
    """The client compares /version before version-gated calls (span logging needs 3.4)."""
    RestStore._get_server_version.cache_clear()
    found = RestStore._get_server_version(MlflowHostCreds(tracking, token=writer))
    assert found == Version(MLFLOW_API_VERSION) and found >= Version("3.4")
    RestStore._get_server_version.cache_clear()


@pytest.fixture
def writer_auth(writer: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {writer}"}


@pytest.fixture
def run_id(tracking: str) -> str:
    experiment = mlflow.set_experiment("errors").experiment_id
    run = MlflowClient().create_run(experiment)
    return str(run.info.run_id)


def message(call: Callable[[], Any]) -> str:
    """The server's message as the client shows it (the client prefixes the error code)."""
    error = refused(call)
    assert error.error_code in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST",
                                "RESOURCE_ALREADY_EXISTS")
    return error.message.split(": ", 1)[1]


def test_client_errors_in_mlflows_words(run_id: str) -> None:
    """Each refusal the stock client meets, in the words of MLflow's server on a SQL store."""
    ml = MlflowClient()
    experiment = ml.get_run(run_id).info.experiment_id
    ml.log_param(run_id, "lr", "0.1")
    # The client recognises this text and appends its own advice (PARAM_VALIDATION_MSG).
    changed = message(lambda: ml.log_param(run_id, "lr", "0.2"))
    assert changed.startswith(
        "Changing param values is not allowed. Param with key='lr' was already logged with "
        f"value='0.1' for run ID='{run_id}'. Attempted logging new value '0.2'.\n")
    assert "repeated calls" in changed
    assert message(lambda: mlflow.log_params({"lr": "0.3", "depth": "2"}, run_id=run_id)) \
        .startswith("Changing param values is not allowed. Params were already logged='[{'key':"
                    f" 'lr', 'old_value': '0.1', 'new_value': '0.3'}}]' for run ID='{run_id}'.")
    assert message(lambda: ml.create_experiment("errors")) .startswith(
        "Experiment(name=errors) already exists. Error: ")
    for missing in (lambda: ml.get_run(GHOST), lambda: ml.log_metric(GHOST, "m", 1.0),
                    lambda: ml.log_batch(GHOST, params=[Param("p", "1")]),
                    lambda: ml.set_tag(GHOST, "t", "v")):
        assert message(missing) == f"Run with id={GHOST} not found"
    assert message(lambda: ml.get_experiment("987654")) == "No Experiment with id=987654 exists"
    assert message(lambda: ml.create_run("987654")) == "No Experiment with id=987654 exists"
    assert message(lambda: ml.delete_tag(run_id, "absent")) == (
        f"No tag with name: absent in run with id {run_id}")
    ml.delete_run(run_id)
    state = f"The run {run_id} must be in the 'active' state. Current state is deleted."
    for write in (lambda: ml.log_metric(run_id, "m", 1.0), lambda: ml.log_param(run_id, "p", "1"),
                  lambda: ml.set_tag(run_id, "t", "v"),
                  lambda: ml.log_batch(run_id, params=[Param("q", "1")]),
                  lambda: ml.update_run(run_id, name="renamed")):
        assert message(write).startswith(state)  # log_param's client appends its advice
    ml.delete_experiment(experiment)
    assert message(lambda: ml.create_run(experiment)) == (
        f"The experiment {experiment} must be in the 'active' state. Current state is deleted.")


SEE_DOCS = " See the API docs for more information about request parameters."


@pytest.mark.parametrize(("route", "value", "expected"), [
    ("runs/search", 0, "It must be a positive integer"),
    ("runs/search", 50_001, "It must be at most 50000"),
    ("experiments/search", 50_001, "It must be at most 50000")])
def test_search_limits_in_mlflows_words(client: Any, writer_auth: dict[str, str], route: str,
                                        value: int, expected: str) -> None:
    response = client.post(f"{MLFLOW}/{route}", headers=writer_auth,
                           json={"experiment_ids": ["0"], "max_results": value})
    assert (response.status_code, response.json["message"]) == (
        400, f"Invalid value {value} for parameter 'max_results' supplied. {expected}")


@pytest.mark.parametrize(("route", "body", "expected"), [
    ("runs/log-metric", {"key": "m", "value": "abc", "timestamp": 1},
     "Invalid value \"abc\" for parameter 'value' supplied:  Hint: Value was of type 'str'."
     + SEE_DOCS),
    ("runs/log-metric", {"key": "m", "timestamp": 1},
     "Missing value for required parameter 'value'." + SEE_DOCS),
    ("runs/log-metric", {"key": "m", "value": 1},
     "Missing value for required parameter 'timestamp'." + SEE_DOCS),
    ("runs/log-metric", {"value": 1, "timestamp": 1},
     "Missing value for required parameter 'key'." + SEE_DOCS),
    ("runs/log-metric", {"key": "a@b", "value": 1, "timestamp": 1},
     "Invalid value \"a@b\" for parameter 'name' supplied: Names may only contain "
     "alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and "
     "slashes (/)."),
    ("runs/log-parameter", {"key": "a/../b", "value": "1"},
     "Invalid value \"a/../b\" for parameter 'key' supplied: Names may be treated as files in "
     "certain cases, and must not resolve to other names when treated as such. This name "
     "would resolve to 'b'"),
    ("runs/log-batch", {"metrics": [{"key": "m", "value": 1, "timestamp": 1},
                                    {"key": "m", "value": "x", "timestamp": 1}]},
     "Invalid value \"x\" for parameter 'metrics[1].value' supplied:  Hint: Value was of type "
     "'str'." + SEE_DOCS),
    ("runs/log-batch", {"metrics": [{"key": "m", "timestamp": 1}]},
     "Missing value for required parameter 'metrics[0].value'." + SEE_DOCS),
    ("runs/log-batch", {"params": [{"key": "ok", "value": "1"}, {"key": "b@d", "value": "1"}]},
     "Invalid value \"b@d\" for parameter 'params[1].key' supplied: Names may only contain "
     "alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and "
     "slashes (/)."),
    ("runs/log-batch", {"params": [{"key": "p", "value": "1"}, {"key": "p", "value": "2"}]},
     "Duplicate parameter keys have been submitted: ['p']. Please ensure the request contains "
     "only one param value per param key."),
    ("runs/log-batch", {"tags": [{"key": f"t{i}", "value": "v"} for i in range(101)]},
     "A batch logging request can contain at most 100 tags. Got 101 tags. Please split up "
     "tags across multiple requests and try again."),
    ("runs/create", {"run_name": "a", "tags": [{"key": "mlflow.runName", "value": "b"}]},
     "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different "
     "values (run_name='a', mlflow.runName='b')."),
    ("experiments/create", {},
     "Missing value for required parameter 'name'." + SEE_DOCS),
    ("experiments/create", {"name": "n" * 501},
     "'name' exceeds the maximum length of 500 characters"),
])
def test_raw_errors_in_mlflows_words(client: Any, writer_auth: dict[str, str], run_id: str,
                                     route: str, body: dict[str, Any], expected: str) -> None:
    """What the client checks before sending, sent as raw HTTP: status, code and message."""
    sent = {"run_id": run_id, **body} if route.startswith("runs/log") else body
    response = client.post(f"{MLFLOW}/{route}", headers=writer_auth, json=sent)
    assert (response.status_code, response.json["error_code"]) == (
        400, "INVALID_PARAMETER_VALUE")
    assert response.json["message"] == expected
