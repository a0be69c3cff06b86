"""Grants scope writers to experiments; client-signed requests are verified and recorded."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.client.http import RequestSigner


def token(run_cli: Any, name: str, role: str) -> dict[str, str]:
    secret = run_cli("token", "create", "--name", name, "--role", role).stdout.split()[-1]
    return {"Authorization": f"Bearer {secret}"}


def send(client: Any, method: str, path: str, headers: dict[str, str],
         payload: Any = None) -> Any:
    return client.open(path, method=method, headers=headers,
                       data=None if payload is None else json.dumps(payload),
                       content_type="application/json")


@pytest.fixture
def setup(client: Any, auth: dict[str, str], run_cli: Any) -> dict[str, Any]:
    """Two experiments with a run each; a scoped writer granted on the first only."""
    ids, runs = [], []
    for name in ("granted", "other"):
        experiment = send(client, "POST", "/api/v1/experiments", auth, {"name": name}).json["id"]
        ids.append(experiment)
        runs.append(send(client, "POST", "/api/v1/runs", auth,
                         {"experiment_id": experiment}).json["id"])
    scoped = token(run_cli, "scoped", "writer")
    granted = send(client, "POST", "/api/v1/grants", auth,
                   {"token_name": "scoped", "experiment_id": ids[0]})
    assert granted.status_code == 200, granted.json
    return {"experiments": ids, "runs": runs, "scoped": scoped,
            "free": token(run_cli, "free", "writer"),
            "auditor": token(run_cli, "auditor", "auditor"), "grant": granted.json}


def test_grant_is_a_ledger_entry(client: Any, auth: dict[str, str],
                                 setup: dict[str, Any]) -> None:
    seq = setup["grant"]["receipt"]["seq"]
    assert client.get(f"/api/v1/ledger/entries/{seq}", headers=auth).json["kind"] == \
        "grant.created"
    listed = client.get("/api/v1/grants", headers=auth).json["grants"]
    assert [(g["token_name"], g["experiment_id"]) for g in listed] == [
        ("scoped", setup["experiments"][0])]


def test_scoped_writer_reaches_only_its_experiment(client: Any,
                                                   setup: dict[str, Any]) -> None:
    scoped, (mine, theirs) = setup["scoped"], setup["runs"]
    params = {"params": {"a": "1"}}
    assert send(client, "POST", f"/api/v1/runs/{mine}/params", scoped, params).status_code == 200
    # out of scope answers as missing (404), never 403: no existence oracle
    assert send(client, "POST", f"/api/v1/runs/{theirs}/params", scoped, params).status_code == 404
    assert send(client, "POST", "/api/v1/runs", scoped,
                {"experiment_id": setup["experiments"][1]}).status_code == 404
    assert send(client, "POST", "/api/v1/experiments", scoped, {"name": "new"}).status_code == 403
    assert client.get(f"/api/v1/runs/{theirs}", headers=scoped).status_code == 404
    listed = client.get("/api/v1/experiments", headers=scoped).json["experiments"]
    assert [e["id"] for e in listed] == [setup["experiments"][0]]
    free = setup["free"]
    assert send(client, "POST", f"/api/v1/runs/{theirs}/params", free, params).status_code == 200


def test_revoking_a_grant_takes_effect(client: Any, auth: dict[str, str],
                                       setup: dict[str, Any]) -> None:
    experiment, other = setup["experiments"]
    send(client, "POST", "/api/v1/grants", auth, {"token_name": "scoped", "experiment_id": other})
    revoked = send(client, "DELETE", f"/api/v1/grants/scoped/{experiment}", auth)
    assert revoked.status_code == 200
    run = setup["runs"][0]
    denied = send(client, "POST", f"/api/v1/runs/{run}/params", setup["scoped"],
                  {"params": {"a": "1"}})
    assert denied.status_code == 404


def test_only_admins_grant(client: Any, setup: dict[str, Any]) -> None:
    body = {"token_name": "free", "experiment_id": setup["experiments"][0]}
    assert send(client, "POST", "/api/v1/grants", setup["free"], body).status_code == 403
    assert send(client, "POST", "/api/v1/grants", setup["auditor"], body).status_code == 403


def signed(private: Ed25519PrivateKey, key_id: str, payload: Any, path: str = "/",
           method: str = "POST") -> dict[str, str]:
    header = RequestSigner(private).header(method, path, json.dumps(payload).encode())
    assert header.startswith(f"keyid={key_id},")
    return {"MLaudit-Signature": header}


def test_client_signed_submission(client: Any, auth: dict[str, str], setup: dict[str, Any],
                                  conn: Any) -> None:
    writer, run = setup["free"], setup["runs"][1]
    private = Ed25519PrivateKey.generate()
    public = base64.b64encode(private.public_key().public_bytes_raw()).decode()
    key_id = send(client, "POST", "/api/v1/client-keys", writer, {"public_key": public}).json[
        "key_id"]
    payload = {"metrics": [{"key": "auc", "value": 0.91, "step": 3}]}
    path = f"/api/v1/runs/{run}/metrics"
    accepted = send(client, "POST", path, {**writer, **signed(private, key_id, payload, path)},
                    payload)
    assert accepted.status_code == 200, accepted.json
    entry = client.get(f"/api/v1/ledger/entries/{accepted.json['receipt']['seq']}",
                       headers=auth).json["entry"]
    assert entry["body"]["client_signature"]["key_id"] == key_id
    forged = dict(payload, metrics=[{"key": "auc", "value": 0.99, "step": 3}])
    before = conn.execute("SELECT size FROM ledger_head").fetchone()[0]
    rejected = send(client, "POST", path, {**writer, **signed(private, key_id, payload, path)},
                    forged)
    assert rejected.status_code == 401 and rejected.mimetype == "application/problem+json"
    assert conn.execute("SELECT size FROM ledger_head").fetchone()[0] == before
    other = Ed25519PrivateKey.generate()
    other_header = RequestSigner(other).header("POST", path, json.dumps(payload).encode())
    other_header = other_header.split(",", 1)[1]  # t=..,sig=.. by a key not registered
    wrong_key = send(client, "POST", path,
                     {**writer, "MLaudit-Signature": f"keyid={key_id},{other_header}"}, payload)
    assert wrong_key.status_code == 401
    garbled = send(client, "POST", path, {**writer, "MLaudit-Signature": "sig=nope"}, payload)
    assert garbled.status_code == 401


def test_someone_elses_key_is_refused(client: Any, setup: dict[str, Any]) -> None:
    private = Ed25519PrivateKey.generate()
    public = base64.b64encode(private.public_key().public_bytes_raw()).decode()
    key_id = send(client, "POST", "/api/v1/client-keys", setup["free"],
                  {"public_key": public}).json["key_id"]
    payload = {"params": {"x": "1"}}
    run = setup["runs"][0]
    path = f"/api/v1/runs/{run}/params"
    response = send(client, "POST", path, {**setup["scoped"], **signed(private, key_id, payload,
                                                                        path)}, payload)
    assert response.status_code == 401


def test_scoped_writer_and_artifacts(client: Any, setup: dict[str, Any]) -> None:
    scoped, (mine, theirs) = setup["scoped"], setup["runs"]
    assert client.put(f"/api/v1/runs/{mine}/artifacts/a.txt", headers=scoped,
                      data=b"ok").status_code == 201
    assert client.put(f"/api/v1/runs/{theirs}/artifacts/a.txt", headers=scoped,
                      data=b"no").status_code == 404
    assert client.get(f"/api/v1/runs/{theirs}/artifacts", headers=scoped).status_code == 404
