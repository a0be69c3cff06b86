"""/api/v1/ledger over the Flask test client: auth, paging, proofs that verify offline."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import pytest

from app.db import SCHEMA_VERSION
from app.ledger import merkle
from app.ledger.checkpoint import VerifierKey, open_note

PUBLIC = {"/healthz", "/readyz", "/api/v1/ledger/keys", "/health"}
MLFLOW = ("/api/2.0/", "/api/3.0/", "/version")  # MLflow's error format: tests/mlflow


def b64d(text: str) -> bytes:
    return base64.b64decode(text)


def published_keys(client: Any) -> list[VerifierKey]:
    return [VerifierKey.from_string(k) for k in client.get("/api/v1/ledger/keys").json["keys"]]


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.json
    assert body["status"] == status and body["title"]
    return body


def test_probes_need_no_token(client: Any) -> None:
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").json == {"status": "ready", "schema_version": SCHEMA_VERSION}


def test_every_other_route_needs_a_token(app: Any, client: Any) -> None:
    rules = [r for r in app.url_map.iter_rules()
             if r.rule not in PUBLIC and not r.rule.startswith(MLFLOW)]
    assert rules
    for rule in rules:
        path = re.sub(r"<(?:int:)?[a-z_]+>", "1", re.sub(r"<path:[a-z_]+>", "a/b", rule.rule))
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            assert_problem(client.open(path, method=method), 401)
            response = client.open(path, method=method,
                                   headers={"Authorization": "Bearer mla_not-a-token"})
            assert_problem(response, 401)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_public_keys(client: Any) -> None:
    body = client.get("/api/v1/ledger/keys").json
    assert body["active"] == body["keys"][-1]
    key = published_keys(client)[0]
    assert key.name == "mlaudit.local/ledger" and len(key.public_key) == 32


def test_entries_are_keyset_paged(client: Any, auth: dict[str, str], append: Any) -> None:
    append(5)  # 5 entries exist from start-up: the key, the Default experiment, the rule
    # adopted, the admin's principal and token
    first = client.get("/api/v1/ledger/entries?limit=4", headers=auth).json
    assert [e["seq"] for e in first["entries"]] == [0, 1, 2, 3] and first["next"] == 3
    assert [e["kind"] for e in first["entries"][:3]] == [
        "key.activated", "experiment.created", "rules.adopted"]
    rest = client.get(f"/api/v1/ledger/entries?after={first['next']}&limit=10",
                      headers=auth).json
    assert [e["seq"] for e in rest["entries"]] == [4, 5, 6, 7, 8, 9] and rest["next"] is None
    for item in first["entries"] + rest["entries"]:
        canonical = b64d(item["canonical"])
        assert b64d(item["leaf_hash"]) == hashlib.sha256(b"\x00" + canonical).digest()


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=x", "after=-2", "color=red"])
def test_bad_paging_is_a_problem(client: Any, auth: dict[str, str], query: str) -> None:
    body = assert_problem(client.get(f"/api/v1/ledger/entries?{query}", headers=auth), 400)
    assert body["errors"]


def test_entry_carries_a_verifiable_inclusion_proof(client: Any, auth: dict[str, str],
                                                    append: Any) -> None:
    append(18)
    body = client.get("/api/v1/ledger/entries/13", headers=auth).json
    proof, checkpoint = body["inclusion_proof"], body["checkpoint"]
    assert body["entry"]["seq"] == 13 and proof["tree_size"] == 23  # 5 from start-up + 18
    note, signers = open_note(checkpoint["note"], published_keys(client))
    assert note.tree_size == 23 and note.root_hash == b64d(checkpoint["root_hash"])
    merkle.verify_inclusion(13, 23, b64d(body["leaf_hash"]),
                            [b64d(h) for h in proof["hashes"]], note.root_hash)


def test_inclusion_against_an_older_checkpoint(client: Any, auth: dict[str, str],
                                               services: Any, append: Any) -> None:
    append(5)
    old = services.checkpointer.sign_now()
    append(9)
    services.checkpointer.sign_now()
    body = client.get(f"/api/v1/ledger/entries/3?tree_size={old.tree_size}", headers=auth).json
    assert body["inclusion_proof"]["tree_size"] == old.tree_size
    merkle.verify_inclusion(3, old.tree_size, b64d(body["leaf_hash"]),
                            [b64d(h) for h in body["inclusion_proof"]["hashes"]], old.root_hash)
    missing = client.get("/api/v1/ledger/entries/3?tree_size=9999", headers=auth)
    assert_problem(missing, 404)


def test_unknown_entry_is_404(client: Any, auth: dict[str, str]) -> None:
    assert_problem(client.get("/api/v1/ledger/entries/99999", headers=auth), 404)
    assert_problem(client.get("/api/v1/ledger/checkpoints/99999", headers=auth), 404)
    assert_problem(client.get("/api/v1/nothing-here", headers=auth), 404)


def test_checkpoints_latest_and_by_size(client: Any, auth: dict[str, str], services: Any,
                                        append: Any) -> None:
    append(1)
    row = services.checkpointer.sign_now()
    latest = client.get("/api/v1/ledger/checkpoints/latest", headers=auth).json
    assert latest["tree_size"] == row.tree_size == 6  # 5 from start-up + 1
    assert b64d(latest["root_hash"]) == row.root_hash
    by_size = client.get("/api/v1/ledger/checkpoints/6", headers=auth).json
    assert by_size["note"] == latest["note"]
    open_note(latest["note"], published_keys(client))


def test_consistency_between_checkpoints_verifies(client: Any, auth: dict[str, str],
                                                  services: Any, append: Any) -> None:
    append(4)
    first = services.checkpointer.sign_now()
    append(11)
    second = services.checkpointer.sign_now()
    body = client.get(f"/api/v1/ledger/consistency?from={first.tree_size}&to={second.tree_size}",
                      headers=auth).json
    assert b64d(body["from_root"]) == first.root_hash and b64d(body["to_root"]) == second.root_hash
    merkle.verify_consistency(first.tree_size, second.tree_size, first.root_hash,
                              second.root_hash, [b64d(h) for h in body["hashes"]])
    default_to = client.get(f"/api/v1/ledger/consistency?from={first.tree_size}",
                            headers=auth).json
    assert default_to["to"] == second.tree_size


@pytest.mark.parametrize("query,status", [
    ("", 400), ("from=0", 400), ("from=x", 400), ("from=5&to=3", 404), ("from=1&to=999", 404),
])
def test_bad_consistency_queries(client: Any, auth: dict[str, str], query: str,
                                 status: int) -> None:
    assert_problem(client.get(f"/api/v1/ledger/consistency?{query}", headers=auth), status)


def test_a_checkpoint_that_does_not_cover_the_entry_is_404(client: Any, auth: dict[str, str],
                                                           services: Any, append: Any) -> None:
    old = services.checkpointer.sign_now()
    append(3)
    response = client.get(f"/api/v1/ledger/entries/6?tree_size={old.tree_size}", headers=auth)
    assert "does not cover" in assert_problem(response, 404)["detail"]
