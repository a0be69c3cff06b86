"""The stock mlflow client's artifact calls through the mlflow-artifacts proxy, and its errors."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow.tracking import MlflowClient  # noqa: E402

from app.ledger import dsse  # noqa: E402
from app.ledger.checkpoint import VerifierKey  # noqa: E402
from app.ledger.entry import canonicalize  # noqa: E402
from app.services.verification import verify_database  # noqa: E402

PROXY = "/api/2.0/mlflow-artifacts/artifacts"


def _tree(root: Path) -> None:
    (root / "inner" / "deeper").mkdir(parents=True)
    (root / "a.txt").write_text("alpha")
    (root / "inner" / "b.csv").write_text("x,y\n1,2\n")
    (root / "inner" / "deeper" / "c.bin").write_bytes(bytes(range(256)) * 4)


def test_log_list_and_download_through_the_proxy(
        tracking: str, tmp_path: Path, client: Any, auth: dict[str, str], services: Any) -> None:
    source = tmp_path / "src"
    source.mkdir()
    _tree(source)
    single = tmp_path / "hello.txt"
    single.write_text("hello audit")
    mlflow.set_experiment("artifacts")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(single))
        mlflow.log_artifact(str(single), artifact_path="sub")
        mlflow.log_artifacts(str(source), artifact_path="dd")
        mlflow.log_artifact(str(single))  # the same bytes again: accepted, nothing new
    run_id = run.info.run_id
    ml = MlflowClient()

    root = {(f.path, f.is_dir, f.file_size) for f in ml.list_artifacts(run_id)}
    assert root == {("hello.txt", False, 11), ("sub", True, None), ("dd", True, None)}
    dd = {(f.path, f.is_dir, f.file_size) for f in ml.list_artifacts(run_id, "dd")}
    assert dd == {("dd/a.txt", False, 5), ("dd/inner", True, None)}
    assert [f.path for f in ml.list_artifacts(run_id, "dd/inner/deeper")] == \
        ["dd/inner/deeper/c.bin"]
    assert ml.list_artifacts(run_id, "dd/a.txt") == []  # a file lists as nothing
    assert ml.list_artifacts(run_id, "nowhere") == []

    out = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="dd",
                                                   dst_path=str(tmp_path / "out")))
    assert (out / "a.txt").read_text() == "alpha"
    assert (out / "inner" / "b.csv").read_text() == "x,y\n1,2\n"
    assert (out / "inner" / "deeper" / "c.bin").read_bytes() == bytes(range(256)) * 4
    one = ml.download_artifacts(run_id, "sub/hello.txt", str(tmp_path / "one"))
    assert Path(one).read_text() == "hello audit"

    # Each upload is one artifact.recorded entry with the service's signed DSSE statement.
    listed = client.get(f"/api/v1/runs/{run_id}/artifacts", headers=auth).json["artifacts"]
    assert [a["path"] for a in listed] == ["dd/a.txt", "dd/inner/b.csv",
                                           "dd/inner/deeper/c.bin", "hello.txt",
                                           "sub/hello.txt"]
    key = VerifierKey.from_string(
        client.get("/api/v1/ledger/keys").json["active"])
    for item in listed:
        entry = client.get(f"/api/v1/ledger/entries/{item['seq']}", headers=auth).json
        assert entry["kind"] == "artifact.recorded" and entry["actor"] == "token:ml-writer"
        body = json.loads(base64.b64decode(entry["canonical"]))["body"]
        assert body["sha256"] == item["sha256"] and body["path"] == item["path"]
        record = client.get(f"/api/v1/runs/{run_id}/artifacts/{item['path']}?meta=1",
                            headers=auth).json
        assert hashlib.sha256(canonicalize(record["envelope"])).hexdigest() == \
            body["envelope_sha256"]
        assert dsse.verify_envelope(record["envelope"], [key]) is not None
    with services.pool.connection() as conn:
        assert verify_database(conn).ok


def _run(client: Any, auth: dict[str, str]) -> tuple[str, str]:
    def post(path: str, payload: Any) -> Any:
        return client.post(f"/api/2.0/mlflow/{path}", data=json.dumps(payload), headers=auth,
                           content_type="application/json")
    experiment = post("experiments/create", {"name": "raw"}).json["experiment_id"]
    run = post("runs/create", {"experiment_id": experiment, "start_time": 1}).json["run"]
    return experiment, run["info"]["run_id"]


def _error(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.json["error_code"] == code
    message: str = response.json["message"]
    return message


def test_proxy_errors_use_mlflow_format(client: Any, auth: dict[str, str], app: Any,
                                        run_cli: Any, services: Any, conn: Any) -> None:
    experiment, run_id = _run(client, auth)
    base = f"{PROXY}/{experiment}/{run_id}/artifacts"
    assert client.put(f"{base}/m.bin", data=b"v1", headers=auth).status_code == 200
    assert client.put(f"{base}/m.bin", data=b"v1", headers=auth).json == {}
    changed = client.put(f"{base}/m.bin", data=b"v2", headers=auth)  # the path's revision 2
    assert changed.status_code == 200 and changed.json == {}
    entries = conn.execute("SELECT count(*) FROM ledger_entries").fetchone()[0]
    got = client.get(f"{base}/m.bin", headers=auth)
    assert got.data == b"v2" and got.headers["Content-Disposition"] == "attachment"
    assert got.headers["X-Content-SHA256"] == hashlib.sha256(b"v2").hexdigest()
    _error(client.get(f"{base}/missing.bin", headers=auth), 404, "RESOURCE_DOES_NOT_EXIST")
    _error(client.get(f"{PROXY}/999/{run_id}/artifacts/m.bin", headers=auth), 404,
           "RESOURCE_DOES_NOT_EXIST")  # the experiment in the path must be the run's
    _error(client.put(f"{PROXY}/{experiment}/{'0' * 32}/artifacts/x", data=b"x",
                      headers=auth), 404, "RESOURCE_DOES_NOT_EXIST")
    for bad in ("../x", "a/../../x", "a//b", "a/./b", "a%00b", "a%5Cb", "a/b/", "x" * 1001):
        _error(client.put(f"{base}/{bad}", data=b"x", headers=auth), 400,
               "INVALID_PARAMETER_VALUE")
    for bad in (f"{experiment}/{run_id}/artifacts/../x", "/abs", "a\x00b", "a//b"):
        _error(client.get(PROXY, query_string={"path": bad}, headers=auth), 400,
               "INVALID_PARAMETER_VALUE")
    _error(client.put(f"{base}", data=b"x", headers=auth), 400, "INVALID_PARAMETER_VALUE")
    _error(client.put(f"{PROXY}/{experiment}/models/m-{'0' * 32}/artifacts/MLmodel", data=b"x",
                      headers=auth), 404, "RESOURCE_DOES_NOT_EXIST")
    assert "never deleted" in _error(client.delete(f"{base}/m.bin", headers=auth), 400,
                                     "INVALID_PARAMETER_VALUE")
    assert client.get(PROXY, query_string={"path": f"{base[len(PROXY) + 1:]}/m.bin"},
                      headers=auth).json == {}
    listed = client.get(PROXY, query_string={"path": f"{base[len(PROXY) + 1:]}/"},
                        headers=auth).json
    assert listed == {"files": [{"path": "m.bin", "is_dir": False, "file_size": 2}]}
    assert conn.execute("SELECT count(*) FROM ledger_entries").fetchone()[0] == entries

    auditor = run_cli("token", "create", "--name", "aud", "--role", "auditor").stdout.split()[-1]
    _error(client.put(f"{base}/n.bin", data=b"x", headers={"Authorization": f"Bearer {auditor}"}),
           403, "PERMISSION_DENIED")
    _error(client.put(f"{base}/n.bin", data=b"x"), 401, "UNAUTHENTICATED")
    assert client.get(f"{base}/m.bin", headers={"Authorization": f"Bearer {auditor}"}).data == b"v2"


def test_deleted_runs_take_no_uploads(client: Any, auth: dict[str, str]) -> None:
    experiment, run_id = _run(client, auth)
    base = f"{PROXY}/{experiment}/{run_id}/artifacts"
    client.post("/api/2.0/mlflow/runs/delete", json={"run_id": run_id}, headers=auth)
    assert "active" in _error(client.put(f"{base}/x", data=b"x", headers=auth), 400,
                              "INVALID_PARAMETER_VALUE")
    client.post("/api/2.0/mlflow/runs/restore", json={"run_id": run_id}, headers=auth)
    assert client.put(f"{base}/x", data=b"x", headers=auth).status_code == 200


def test_tampered_bytes_are_refused(client: Any, auth: dict[str, str], services: Any,
                                    caplog: pytest.LogCaptureFixture) -> None:
    experiment, run_id = _run(client, auth)
    url = f"{PROXY}/{experiment}/{run_id}/artifacts/model.bin"
    data = b"model bytes " * 50
    assert client.put(url, data=data, headers=auth).status_code == 200
    stored = services.blobs.path(hashlib.sha256(data).hexdigest())
    stored.chmod(0o600)
    changed = bytearray(stored.read_bytes())
    changed[3] ^= 0x01
    stored.write_bytes(bytes(changed))
    with caplog.at_level(logging.ERROR, logger="app.services.artifacts"):
        refused = client.get(url, headers=auth)
    assert "no longer match" in _error(refused, 409, "RESOURCE_CONFLICT")


def test_probes(client: Any, auth: dict[str, str]) -> None:
    from app import __version__
    from app.api.mlflow import MLFLOW_API_VERSION

    health = client.get("/health")  # the load balancer's probe, like /healthz
    assert health.status_code == 200 and health.get_data(as_text=True) == "OK"
    for path in ("/version", "/api/3.0/mlflow/server-info"):  # a token, like every route
        assert _error(client.get(path), 401, "UNAUTHENTICATED")
    version = client.get("/version", headers=auth)
    assert version.get_data(as_text=True) == MLFLOW_API_VERSION  # the API we implement
    assert version.headers["X-Mlaudit-Version"] == __version__
    info = client.get("/api/3.0/mlflow/server-info", headers=auth).json
    assert info["store_type"] == "SqlStore" and info["mlflow_version"] == MLFLOW_API_VERSION
    assert info["server"] == "mlaudit" and info["server_version"] == __version__
    assert not info["multipart_uploads_enabled"] and not info["multipart_downloads_enabled"]


def test_client_sees_a_changed_file_as_its_latest_revision(tracking: str,
                                                            tmp_path: Path) -> None:
    mlflow.set_experiment("revisions")
    first, second = tmp_path / "a" / "f.txt", tmp_path / "b" / "f.txt"
    first.parent.mkdir()
    second.parent.mkdir()
    first.write_text("one")
    second.write_text("two")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(first))
        mlflow.log_artifact(str(second))  # the same name: the path's next revision
    out = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="f.txt",
                                              dst_path=str(tmp_path / "out"))
    assert Path(out).read_text() == "two"


def test_logged_model_files_live_on_the_source_run(
        tracking: str, tmp_path: Path, client: Any, auth: dict[str, str]) -> None:
    source = tmp_path / "model"
    source.mkdir()
    _tree(source)
    experiment = mlflow.set_experiment("models").experiment_id
    ml = MlflowClient()
    with mlflow.start_run() as run:
        model = ml.create_logged_model(experiment, name="clf", source_run_id=run.info.run_id)
        ml.log_model_artifacts(model.model_id, str(source))
    assert model.artifact_location == f"mlflow-artifacts:/{experiment}/models/" \
        f"{model.model_id}/artifacts"
    names = {(f.path, f.is_dir) for f in ml.list_logged_model_artifacts(model.model_id)}
    assert names == {("a.txt", False), ("inner", True)}
    out = Path(mlflow.artifacts.download_artifacts(f"{model.artifact_location}/inner",
                                                   dst_path=str(tmp_path / "out")))
    assert (out / "deeper" / "c.bin").read_bytes() == bytes(range(256)) * 4
    ours = client.get(f"/api/v1/runs/{run.info.run_id}/artifacts", headers=auth).json
    assert [a["path"] for a in ours["artifacts"]] == [
        f"models/{model.model_id}/{p}" for p in ("a.txt", "inner/b.csv", "inner/deeper/c.bin")]
    elsewhere = ml.create_experiment("elsewhere")
    wrong = client.get(f"{PROXY}/{elsewhere}/models/{model.model_id}/artifacts/a.txt",
                       headers=auth)
    _error(wrong, 404, "RESOURCE_DOES_NOT_EXIST")
    loose = ml.create_logged_model(experiment, name="loose")  # its files: on a holder run
    stored = client.put(f"{PROXY}/{experiment}/models/{loose.model_id}/artifacts/MLmodel",
                        data=b"x", headers=auth)
    assert stored.status_code == 200, stored.json
    holder = client.get(f"/api/v1/runs/{loose.source_run_id}/artifacts", headers=auth).json
    assert [a["path"] for a in holder["artifacts"]] == [f"models/{loose.model_id}/MLmodel"]


def test_scope_grants_apply_to_the_proxy(client: Any, auth: dict[str, str],
                                         run_cli: Any) -> None:
    experiment, run_id = _run(client, auth)
    other = client.post("/api/2.0/mlflow/experiments/create", json={"name": "other"},
                        headers=auth).json["experiment_id"]
    secret = run_cli("token", "create", "--name", "scoped", "--role", "writer").stdout.split()[-1]
    granted = client.post("/api/v1/grants", json={"token_name": "scoped",
                                                  "experiment_id": other}, headers=auth)
    assert granted.status_code in (200, 201), granted.json
    scoped = {"Authorization": f"Bearer {secret}"}
    base = f"{PROXY}/{experiment}/{run_id}/artifacts"
    # out of scope answers as a missing run folder: no existence oracle
    _error(client.put(f"{base}/x", data=b"x", headers=scoped), 404, "RESOURCE_DOES_NOT_EXIST")
    assert client.put(f"{base}/x", data=b"x", headers=auth).status_code == 200
    _error(client.get(f"{base}/x", headers=scoped), 404, "RESOURCE_DOES_NOT_EXIST")
    _error(client.get(PROXY, query_string={"path": base[len(PROXY) + 1:]}, headers=scoped),
           404, "RESOURCE_DOES_NOT_EXIST")
