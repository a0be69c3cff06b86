"""Client signatures cover the request, not only its body, and are carried out once.

The attack (issue 16): a signature covered only the RFC 8785 body, so a signed body could be
sent again, or to another run, and be recorded as signed. Now the signed bytes are the method,
the path and query, a timestamp and the body's SHA-256 (docs/ledger-format.md, "Client request
signatures"); a timestamp out of the replay window is refused, and a signature is spent in the
transaction of the request it signs, so a replay is refused by whichever replica it reaches.
The entries record every signed field, and the signature verifies from the ledger alone.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import create_app
from app.client.http import RequestSigner
from app.ledger import request_signature as rs

V1 = "/api/v1"
HEADER = "MLaudit-Signature"


def ledger_size(conn: Any) -> int:
    return int(conn.execute("SELECT size FROM ledger_head").fetchone()[0])


def send(client: Any, path: str, token: str, body: bytes, signature: str | None,
         method: str = "POST") -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    if signature is not None:
        headers[HEADER] = signature
    return client.open(path, method=method, data=body, headers=headers,
                       content_type="application/json")


@pytest.fixture
def signer(client: Any, auth: dict[str, str], run_cli: Any) -> dict[str, Any]:
    """A writer with a registered key, and two runs of one experiment."""
    secret = run_cli("token", "create", "--name", "ci", "--role", "writer").stdout.split()[-1]
    writer = {"Authorization": f"Bearer {secret}"}
    exp = client.post(f"{V1}/experiments", json={"name": "credit"}, headers=auth).json["id"]
    runs = [client.post(f"{V1}/runs", json={"experiment_id": exp}, headers=writer).json["id"]
            for _ in range(2)]
    key = Ed25519PrivateKey.generate()
    public = base64.b64encode(key.public_key().public_bytes_raw()).decode()
    registered = client.post(f"{V1}/client-keys", json={"public_key": public}, headers=writer)
    assert registered.status_code in (200, 201), registered.json
    return {"token": secret, "runs": runs, "key": key, "signer": RequestSigner(key),
            "key_id": registered.json["key_id"], "key_seq": registered.json["receipt"]["seq"]}


BODY = json.dumps({"metrics": [{"key": "auc", "value": "0.91", "step": 3}]}).encode()


def test_a_body_signed_the_old_way_cannot_be_replayed_to_another_run(
        client: Any, signer: dict[str, Any], conn: Any) -> None:
    """The attack as it was: `keyid=..,sig=..` over the RFC 8785 body, accepted for run A,
    then the same header and body sent to run B (was: 200 both times, both entries recorded
    as signed). A signature without a timestamp is now refused outright."""
    first, second = signer["runs"]
    sig = signer["key"].sign(rfc8785.dumps(json.loads(BODY)))
    header = f"keyid={signer['key_id']},sig={base64.b64encode(sig).decode()}"
    before = ledger_size(conn)
    answers = [send(client, f"{V1}/runs/{run}/metrics", signer["token"], BODY, header)
               for run in (first, second)]
    assert [a.status_code for a in answers] == [401, 401]
    assert {a.mimetype for a in answers} == {"application/problem+json"}
    assert ledger_size(conn) == before


def test_a_signed_body_replayed_to_another_run_is_refused(client: Any, signer: dict[str, Any],
                                                          conn: Any) -> None:
    first, second = signer["runs"]
    header = signer["signer"].header("POST", f"{V1}/runs/{first}/metrics", BODY)
    accepted = send(client, f"{V1}/runs/{first}/metrics", signer["token"], BODY, header)
    assert accepted.status_code == 200, accepted.json
    before = ledger_size(conn)
    replayed = send(client, f"{V1}/runs/{second}/metrics", signer["token"], BODY, header)
    assert replayed.status_code == 401, replayed.json
    assert "does not verify" in replayed.json["detail"]
    assert ledger_size(conn) == before


def test_a_replay_of_the_same_request_is_refused(client: Any, signer: dict[str, Any],
                                                  conn: Any) -> None:
    path = f"{V1}/runs/{signer['runs'][0]}/metrics"
    header = signer["signer"].header("POST", path, BODY)
    assert send(client, path, signer["token"], BODY, header).status_code == 200
    before = ledger_size(conn)
    replayed = send(client, path, signer["token"], BODY, header)
    assert replayed.status_code == 401 and "used already" in replayed.json["detail"]
    assert ledger_size(conn) == before
    fresh = signer["signer"].header("POST", path, BODY, now=time.time() + 1)
    assert send(client, path, signer["token"], BODY, fresh).status_code == 200


@pytest.mark.parametrize("skew", [-rs.WINDOW_SECONDS - 5, rs.WINDOW_SECONDS + 5])
def test_a_stale_timestamp_is_refused(client: Any, signer: dict[str, Any], conn: Any,
                                      skew: int) -> None:
    path = f"{V1}/runs/{signer['runs'][0]}/metrics"
    before = ledger_size(conn)
    stale = signer["signer"].header("POST", path, BODY, now=time.time() + skew)
    refused = send(client, path, signer["token"], BODY, stale)
    assert refused.status_code == 401 and "server's clock" in refused.json["detail"]
    assert ledger_size(conn) == before
    inside = signer["signer"].header("POST", path, BODY, now=time.time() - rs.WINDOW_SECONDS + 30)
    assert send(client, path, signer["token"], BODY, inside).status_code == 200


def test_method_path_query_and_body_are_each_covered(client: Any, signer: dict[str, Any],
                                                     conn: Any) -> None:
    run = signer["runs"][0]
    path = f"{V1}/runs/{run}/params"
    body = json.dumps({"params": {"seed": "42"}}).encode()
    before = ledger_size(conn)
    wrong = [("PUT", path, body), ("POST", f"{path}?dry_run=1", body),
             ("POST", path, body + b" "), ("POST", f"{V1}/runs/{run}/metrics", body)]
    for method, signed_path, signed_body in wrong:
        header = signer["signer"].header(method, signed_path, signed_body)
        assert send(client, path, signer["token"], body, header).status_code == 401
    assert ledger_size(conn) == before


def test_two_replicas_behind_one_database_agree(client: Any, config: Any, signer: dict[str, Any],
                                                conn: Any) -> None:
    """A second app over the same database (another replica) refuses what the first spent,
    and of many concurrent copies of one signed request exactly one is carried out."""
    replica = create_app(config)
    try:
        other = replica.test_client()
        path = f"{V1}/runs/{signer['runs'][0]}/metrics"
        header = signer["signer"].header("POST", path, BODY)
        assert send(client, path, signer["token"], BODY, header).status_code == 200
        assert send(other, path, signer["token"], BODY, header).status_code == 401
        race = signer["signer"].header("POST", path, BODY, now=time.time() + 2)
        before = ledger_size(conn)
        statuses: list[int] = []
        barrier = threading.Barrier(8)

        def attempt(target: Any) -> None:
            barrier.wait()
            statuses.append(send(target, path, signer["token"], BODY, race).status_code)

        threads = [threading.Thread(target=attempt, args=(c,))
                   for c in [client, other] * 4]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(statuses) == [200] + [401] * 7
        assert ledger_size(conn) == before + 1
    finally:
        replica.extensions["mlaudit"].close()


def _entry(client: Any, auth: dict[str, str], seq: int) -> dict[str, Any]:
    entry: dict[str, Any] = client.get(f"{V1}/ledger/entries/{seq}", headers=auth).json["entry"]
    return entry


def test_the_recorded_signature_verifies_from_the_ledger_alone(
        client: Any, auth: dict[str, str], signer: dict[str, Any]) -> None:
    """Every entry of a signed request records what was signed; with the public key from the
    client_key.registered entry, the signature checks without the request."""
    path = f"{V1}/runs/{signer['runs'][0]}/batch"
    body = json.dumps({"params": [{"key": "lr", "value": "0.1"}],
                       "metrics": [{"key": "auc", "value": "0.91"}],
                       "tags": {"team": "risk"}}).encode()
    done = send(client, path, signer["token"], body, signer["signer"].header("POST", path, body))
    assert done.status_code == 200, done.json
    seqs = [r["seq"] for r in done.json["receipts"] if r is not None]
    assert len(seqs) == 3
    key_entry = _entry(client, auth, signer["key_seq"])
    assert key_entry["kind"] == "client_key.registered"
    public = base64.b64decode(key_entry["body"]["public_key"])
    for seq in seqs:
        recorded = _entry(client, auth, seq)["body"]["client_signature"]
        assert set(recorded) == set(rs.FIELDS)
        assert recorded["target"] == path and recorded["method"] == "POST"
        assert recorded["body_sha256"] == rs.body_digest(body)
        assert rs.verify_recorded(recorded, public)
        for field, value in (("target", f"{V1}/runs/other/batch"), ("method", "PUT"),
                             ("timestamp", str(int(recorded["timestamp"]) + 1)),
                             ("body_sha256", "0" * 64)):
            assert not rs.verify_recorded({**recorded, field: value}, public), field


def test_expired_signatures_leave_the_replay_cache(client: Any, signer: dict[str, Any],
                                                   conn: Any) -> None:
    conn.execute("INSERT INTO request_signatures_seen VALUES (%s, now() - interval '1 s')",
                 (b"\x01" * 32,))
    path = f"{V1}/runs/{signer['runs'][0]}/metrics"
    assert send(client, path, signer["token"], BODY,
                signer["signer"].header("POST", path, BODY)).status_code == 200
    rows = conn.execute("SELECT sig_sha256 FROM request_signatures_seen").fetchall()
    assert len(rows) == 1 and bytes(rows[0][0]) != b"\x01" * 32


def test_unsigned_requests_are_unaffected(client: Any, signer: dict[str, Any]) -> None:
    path = f"{V1}/runs/{signer['runs'][0]}/metrics"
    for _ in range(2):
        assert send(client, path, signer["token"], BODY, None).status_code == 200


def test_the_documented_example_is_what_the_code_signs() -> None:
    """docs/ledger-format.md 15.3 cannot drift from the code: recompute every value."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "ledger-format.md").read_text()
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    body = b'{"metrics":[{"key":"auc","value":"0.91","step":3}]}'
    path, when = "/api/v1/runs/5f0c1e3a9b2d4c6e8f7a1b3c5d7e9f01/metrics", 1768469460
    assert when == int(datetime(2026, 1, 15, 9, 31, tzinfo=UTC).timestamp())
    signed = rs.signing_input("POST", rs.canonical_target(path), str(when), rs.body_digest(body))
    header = RequestSigner(key).header("POST", path, body, now=when)
    for value in (RequestSigner(key).key_id, rs.body_digest(body), signed.decode(),
                  f"MLaudit-Signature: {header}", f"POST {path}", body.decode(),
                  rs.canonical_target("/r1/tags/my key")):
        assert value in doc, value
    assert f"**{rs.WINDOW_SECONDS} seconds**" in doc


def test_mlaudit_record_signs_every_write(server: str, client: Any, auth: dict[str, str],
                                          run_cli: Any, tmp_path: Path) -> None:
    """`mlaudit record --signing-key` registers the key and signs each JSON write anew; each
    entry it makes (uploads are hashed by the server, not signed) verifies offline."""
    secret = run_cli("token", "create", "--name", "ci", "--role", "writer").stdout.split()[-1]
    key = Ed25519PrivateKey.generate()
    (tmp_path / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (tmp_path / "run.yaml").write_text("params: {lr: 0.1}\nmetrics: [{key: auc, value: 0.91}]\n"
                                       "tags: {team: risk}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLAUDIT_")}
    env.update({"MLAUDIT_HOME": str(tmp_path / "home"), "MLAUDIT_URL": server,
                "MLAUDIT_TOKEN": secret, "PYTHONPATH": str(Path(__file__).parents[1])})
    done = subprocess.run([sys.executable, "-m", "app.cli", "record", "run.yaml", "--experiment",
                           "signed", "--signing-key", "key.pem", "--json"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    receipts = json.loads(done.stdout)["receipts"]
    public = key.public_key().public_bytes_raw()
    kinds = set()
    for receipt in receipts:
        entry = _entry(client, auth, receipt["seq"])
        kinds.add(entry["kind"])
        assert rs.verify_recorded(entry["body"]["client_signature"], public), entry["kind"]
    assert {"run.created", "params.logged", "metrics.logged", "run.ended"} <= kinds


def test_an_unusable_signing_key_is_one_line_before_any_request(tmp_path: Path) -> None:
    (tmp_path / "run.yaml").write_text("params: {lr: 0.1}\n")
    (tmp_path / "key.pem").write_text("not a key\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLAUDIT_")}
    env.update({"MLAUDIT_HOME": str(tmp_path / "home"), "MLAUDIT_URL": "http://127.0.0.1:9",
                "MLAUDIT_TOKEN": "x", "MLAUDIT_SIGNING_KEY": "key.pem",
                "PYTHONPATH": str(Path(__file__).parents[1])})
    done = subprocess.run([sys.executable, "-m", "app.cli", "record", "run.yaml", "--experiment",
                           "e"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot read the signing key key.pem" in lines[0], lines


HEADERS = st.one_of(
    # what a client can send at all: no CR or LF inside a header value
    st.text(st.characters(blacklist_characters="\r\n"), max_size=200),
    st.builds(lambda k, t, s: f"keyid={k},t={t},sig={s}",
              st.text("0123456789abcdefg", min_size=15, max_size=17),
              st.one_of(st.integers(min_value=-(10**15), max_value=10**15).map(str),
                        st.text("0123456789 +-_", max_size=14)),
              st.text("ABCDEFabcdef0123456789+/=_-", min_size=78, max_size=102)))


@settings(max_examples=40, deadline=5000, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(header=HEADERS)
def test_hostile_signature_headers_are_401s(client: Any, signer: dict[str, Any],
                                            header: str) -> None:
    path = f"{V1}/runs/{signer['runs'][0]}/metrics"
    response = client.open(path, method="POST", data=BODY, content_type="application/json",
                           headers={"Authorization": f"Bearer {signer['token']}",
                                    HEADER: header.encode("utf-8", "surrogatepass")
                                    .decode("latin-1")})
    assert response.status_code == 401, (header, response.data)
    assert response.mimetype == "application/problem+json"
