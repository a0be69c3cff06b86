"""Token expiry and revocation: a ledger entry each, and in force on the very next request."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from app.services import tokens
from app.services.tokens import TokenError

EXPIRES_IN = 3  # seconds: ample for the first request, short for the test to wait out


def make(services: Any, name: str, role: str = "writer",
         expires_at: datetime | None = None) -> str:
    secret, _ = services.committer.run(
        lambda w: tokens.create_token(w, name, role, "token:admin", expires_at))
    return str(secret)


def revoke(services: Any, name: str, reason: str = "") -> Any:
    return services.committer.run(lambda w: tokens.revoke_token(w, name, "token:admin", reason))


def entry(client: Any, auth: dict[str, str], seq: int) -> dict[str, Any]:
    return dict(client.get(f"/api/v1/ledger/entries/{seq}", headers=auth).json["entry"])


def test_a_revoked_token_is_refused_on_the_next_request_by_both_apis(
        client: Any, services: Any, auth: dict[str, str]) -> None:
    secret = make(services, "ci")
    bearer = {"Authorization": f"Bearer {secret}"}
    assert client.post("/api/v1/experiments", json={"name": "e"}, headers=bearer).status_code \
        == 201
    assert client.get("/api/2.0/mlflow/experiments/search?max_results=5",
                      headers=bearer).status_code == 200
    receipt = revoke(services, "ci", reason="leaked in a build log")
    refused = client.post("/api/v1/experiments", json={"name": "f"}, headers=bearer)
    assert refused.status_code == 401 and refused.mimetype == "application/problem+json"
    mlflow = client.get("/api/2.0/mlflow/experiments/search?max_results=5", headers=bearer)
    assert mlflow.status_code == 401 and mlflow.json["error_code"] == "UNAUTHENTICATED"
    written = entry(client, auth, receipt.seq)
    assert written["kind"] == "token.revoked" and written["actor"] == "token:admin"
    assert written["body"] == {"name": "ci", "reason": "leaked in a build log"}
    with pytest.raises(TokenError, match="already revoked"):
        revoke(services, "ci")
    with pytest.raises(TokenError, match="no token"):
        revoke(services, "nobody")


def test_a_revocation_cannot_be_undone_in_sql(
        services: Any, conn: psycopg.Connection) -> None:
    make(services, "ci")
    revoke(services, "ci")
    for statement in ("DELETE FROM token_revocations",
                      "UPDATE token_revocations SET token_id = token_id"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(statement)


def test_an_expired_token_is_refused_and_its_expiry_is_in_the_ledger(
        client: Any, services: Any, auth: dict[str, str], conn: psycopg.Connection) -> None:
    # The expiry is fixed in the token's entry (tokens refuses UPDATE): make one that expires
    # soon, use it, then let the database's clock (the one authentication reads) pass it.
    soon = datetime.now(UTC) + timedelta(seconds=EXPIRES_IN)
    secret = make(services, "temp", expires_at=soon)
    bearer = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/experiments", headers=bearer).status_code == 200
    seq, created_at = conn.execute(
        "SELECT created_seq, created_at FROM tokens WHERE name = 'temp'").fetchone()
    written = entry(client, auth, seq)
    assert written["body"]["expires_at"] == soon.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ") == written["recorded_at"]
    deadline = time.monotonic() + EXPIRES_IN + 60  # only stops a hung test
    while not conn.execute("SELECT now() > %s", (soon,)).fetchone()[0]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert client.get("/api/v1/experiments", headers=bearer).status_code == 401
    with pytest.raises(TokenError, match="future"):
        make(services, "past", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    with pytest.raises(TokenError, match="time zone"):
        make(services, "naive", expires_at=datetime.now() + timedelta(days=1))


def test_a_revoked_token_gets_no_new_grants(client: Any, services: Any,
                                            auth: dict[str, str]) -> None:
    make(services, "ci")
    experiment = client.post("/api/v1/experiments", json={"name": "e"}, headers=auth).json["id"]
    revoke(services, "ci")
    refused = client.post("/api/v1/grants", json={"token_name": "ci",
                                                  "experiment_id": experiment}, headers=auth)
    assert refused.status_code in (400, 409) and "revoked" in refused.json["detail"]


def test_the_cli_creates_expiring_tokens_and_revokes_them(
        run_cli: Any, client: Any, auth: dict[str, str]) -> None:
    made = run_cli("token", "create", "--name", "nightly", "--role", "writer",
                   "--expires-in-days", "7")
    assert made.returncode == 0 and "valid until" in made.stderr, made.stderr
    bearer = {"Authorization": f"Bearer {made.stdout.split()[-1]}"}
    assert client.get("/api/v1/experiments", headers=bearer).status_code == 200
    done = run_cli("token", "revoke", "nightly", "--reason", "rotated")
    assert done.returncode == 0, done.stderr
    assert client.get("/api/v1/experiments", headers=bearer).status_code == 401
    again = run_cli("token", "revoke", "nightly")
    assert again.returncode == 2 and "already revoked" in again.stderr
    assert run_cli("token", "create", "--name", "x", "--role", "writer",
                   "--expires-in-days", "0").returncode == 2


def test_admins_list_and_revoke_tokens_over_the_api(client: Any, services: Any,
                                                    auth: dict[str, str]) -> None:
    secret = make(services, "ci", expires_at=datetime.now(UTC) + timedelta(days=1))
    bearer = {"Authorization": f"Bearer {secret}"}
    listed = {t["name"]: t for t in client.get("/api/v1/tokens", headers=auth).json["tokens"]}
    assert listed["ci"]["role"] == "writer" and listed["ci"]["revoked_seq"] is None
    assert listed["ci"]["expires_at"].endswith("Z") and "token_sha256" not in listed["ci"]
    assert client.post("/api/v1/tokens/ci/revoke", json={}, headers=bearer).status_code == 403
    done = client.post("/api/v1/tokens/ci/revoke", json={"reason": "left the team"},
                       headers=auth)
    assert done.status_code == 200, done.json
    assert entry(client, auth, done.json["receipt"]["seq"])["kind"] == "token.revoked"
    assert client.get("/api/v1/experiments", headers=bearer).status_code == 401
    listed = {t["name"]: t for t in client.get("/api/v1/tokens", headers=auth).json["tokens"]}
    assert listed["ci"]["revoked_seq"] == done.json["receipt"]["seq"]
    again = client.post("/api/v1/tokens/ci/revoke", json={}, headers=auth)
    assert again.status_code == 409 and "already revoked" in again.json["detail"]
    assert client.post("/api/v1/tokens/nobody/revoke", json={}, headers=auth).status_code == 404
