"""Artifacts over HTTP: streamed, content-addressed uploads with signed digest statements."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app import create_app
from app.config import Config
from app.ledger import dsse
from app.ledger.checkpoint import VerifierKey
from app.ledger.entry import canonicalize

URI = "s3://models/credit/model.pkl"


@pytest.fixture
def writer(run_cli: Any, app: Any) -> dict[str, str]:
    token = run_cli("token", "create", "--name", "ci", "--role", "writer").stdout.split()[-1]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def auditor(run_cli: Any, app: Any) -> dict[str, str]:
    token = run_cli("token", "create", "--name", "aud", "--role", "auditor").stdout.split()[-1]
    return {"Authorization": f"Bearer {token}"}


def post(client: Any, path: str, headers: dict[str, str], payload: Any) -> Any:
    return client.post(path, headers=headers, data=json.dumps(payload),
                       content_type="application/json")


def make_run(client: Any, headers: dict[str, str]) -> str:
    experiment = post(client, "/api/v1/experiments", headers, {"name": "credit-scoring"}).json
    created = post(client, "/api/v1/runs", headers, {"experiment_id": experiment["id"]})
    assert created.status_code == 201, created.json
    run_id: str = created.json["id"]
    return run_id


@pytest.fixture
def run(client: Any, writer: dict[str, str]) -> str:
    return make_run(client, writer)


def url(run_id: str, path: str = "") -> str:
    return f"/api/v1/runs/{run_id}/artifacts" + (f"/{path}" if path else "")


def put(client: Any, run_id: str, path: str, data: bytes, headers: dict[str, str]) -> Any:
    return client.put(url(run_id, path), headers=headers, data=data,
                      content_type="application/octet-stream")


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.json
    return body


def entry(client: Any, auth: dict[str, str], receipt: dict[str, Any]) -> dict[str, Any]:
    """The ledger entry behind a receipt, checked against the receipt's leaf hash."""
    found = client.get(f"/api/v1/ledger/entries/{receipt['seq']}", headers=auth).json
    canonical = base64.b64decode(found["canonical"])
    leaf = hashlib.sha256(b"\x00" + canonical).digest()
    assert base64.b64encode(leaf).decode() == receipt["leaf_hash"]
    result: dict[str, Any] = json.loads(canonical)
    return result


def service_keys(client: Any) -> list[VerifierKey]:
    return [VerifierKey.from_string(k) for k in client.get("/api/v1/ledger/keys").json["keys"]]


def counts(conn: psycopg.Connection) -> tuple[int, int]:
    """(ledger entries, artifact rows)."""
    row = conn.execute("SELECT (SELECT count(*) FROM ledger_entries),"
                       " (SELECT count(*) FROM artifacts)").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def blob_files(config: Config) -> list[Path]:
    """Every file in the blob store, partial uploads included."""
    return sorted(p for p in config.artifacts_path.rglob("*") if p.is_file())


def blob_path(config: Config, sha256: str) -> Path:
    return config.artifacts_path / "sha256" / sha256[:2] / sha256[2:4] / sha256


def test_upload_records_digest_and_signed_statement(
        client: Any, writer: dict[str, str], auth: dict[str, str], run: str) -> None:
    data = b"weights\x00" * 1000
    digest = hashlib.sha256(data).hexdigest()
    response = put(client, run, "models/model.bin", data, writer)
    assert response.status_code == 201, response.json
    body = response.json
    assert (body["sha256"], body["size"], body["uri"]) == (digest, len(data), None)
    assert body["unchanged"] is False and body["seq"] == body["receipt"]["seq"]
    recorded = entry(client, auth, body["receipt"])
    assert recorded["kind"] == "artifact.recorded" and recorded["actor"] == "token:ci"
    assert recorded["subject"]["run"] == run
    envelope = body["envelope"]
    assert recorded["body"] == {
        "path": "models/model.bin", "sha256": digest, "size": str(len(data)),
        "envelope_sha256": hashlib.sha256(canonicalize(envelope)).hexdigest()}
    statement = dsse.verify_envelope(envelope, service_keys(client))
    assert statement["subject"] == [{"name": "models/model.bin", "digest": {"sha256": digest}}]
    predicate: Any = statement["predicate"]
    assert (predicate["runId"], predicate["size"], predicate["actor"]) == (
        run, str(len(data)), "token:ci")
    meta = client.get(url(run, "models/model.bin") + "?meta=1", headers=auth)
    assert meta.status_code == 200 and meta.json["envelope"] == envelope
    got = client.get(url(run, "models/model.bin"), headers=auth)
    assert got.status_code == 200 and got.data == data
    assert got.mimetype == "application/octet-stream"
    assert got.headers["X-Content-SHA256"] == digest and got.headers["ETag"] == f'"{digest}"'


def test_same_bytes_at_two_paths_are_stored_once(
        client: Any, writer: dict[str, str], config: Config, run: str) -> None:
    data = os.urandom(4096)
    assert put(client, run, "a/one.bin", data, writer).status_code == 201
    assert put(client, run, "b/two.bin", data, writer).status_code == 201
    assert blob_files(config) == [blob_path(config, hashlib.sha256(data).hexdigest())]


def test_same_path_same_bytes_is_idempotent(client: Any, writer: dict[str, str], run: str,
                                            conn: psycopg.Connection) -> None:
    first = put(client, run, "model.bin", b"v1", writer).json
    before = counts(conn)
    again = put(client, run, "model.bin", b"v1", writer)
    assert again.status_code == 200
    assert again.json["unchanged"] is True and again.json["receipt"] is None
    assert again.json["seq"] == first["seq"] and counts(conn) == before


def revisions_of(client: Any, run_id: str, path: str, headers: dict[str, str]) -> Any:
    return client.get(f"/api/v1/runs/{run_id}/artifact-revisions", headers=headers,
                      query_string={"path": path})


def test_other_bytes_at_a_recorded_path_are_its_next_revision(
        client: Any, writer: dict[str, str], auth: dict[str, str], config: Config, run: str,
        conn: psycopg.Connection) -> None:
    """A second upload of other bytes is revision 2: its own entry naming revision 1's digest,
    revision 1 and its bytes kept, reads serve the latest; the latest again changes nothing."""
    first = put(client, run, "table.json", b"v1", writer)
    second = put(client, run, "table.json", b"v2", writer)
    assert (first.status_code, second.status_code) == (201, 201), second.json
    v1, v2 = (hashlib.sha256(data).hexdigest() for data in (b"v1", b"v2"))
    assert (first.json["revision"], second.json["revision"]) == (1, 2)
    body = entry(client, auth, second.json["receipt"])["body"]
    assert (body["revision"], body["supersedes"], body["sha256"]) == ("2", v1, v2)
    assert "revision" not in entry(client, auth, first.json["receipt"])["body"]
    before = counts(conn)
    again = put(client, run, "table.json", b"v2", writer)
    assert again.status_code == 200 and again.json["unchanged"] is True
    assert again.json["revision"] == 2 and counts(conn) == before

    assert client.get(url(run, "table.json"), headers=auth).data == b"v2"
    meta = client.get(url(run, "table.json") + "?meta=1", headers=auth).json
    assert (meta["revision"], meta["sha256"], meta["seq"]) == (2, v2, second.json["seq"])
    old = client.get(url(run, "table.json") + "?revision=1", headers=auth)
    assert old.data == b"v1" and old.headers["X-Content-SHA256"] == v1
    assert blob_path(config, v1).exists()  # the earlier bytes are kept
    problem(client.get(url(run, "table.json") + "?revision=3", headers=auth), 404)
    problem(client.get(url(run, "table.json") + "?revision=0", headers=auth), 400)
    [item] = client.get(url(run), headers=auth).json["artifacts"]
    assert (item["sha256"], item["size"], item["revisions"]) == (v2, 2, 2)

    listed = revisions_of(client, run, "table.json", auth)
    assert listed.status_code == 200, listed.json
    assert listed.json == {"run_id": run, "path": "table.json", "revisions": [
        {"revision": 1, "sha256": v1, "size": 2, "uri": None, "seq": first.json["seq"],
         "envelope_sha256": hashlib.sha256(canonicalize(first.json["envelope"])).hexdigest()},
        {"revision": 2, "sha256": v2, "size": 2, "uri": None, "seq": second.json["seq"],
         "envelope_sha256": hashlib.sha256(canonicalize(second.json["envelope"])).hexdigest()}]}
    assert "no artifact" in problem(revisions_of(client, run, "missing", auth), 404)["detail"]
    assert "does not exist" in problem(revisions_of(client, "0" * 32, "x", auth), 404)["detail"]
    problem(revisions_of(client, run, "../x", auth), 400)
    problem(client.get(f"/api/v1/runs/{run}/artifact-revisions", headers=auth), 400)


def test_an_external_artifact_takes_revisions_too(
        client: Any, writer: dict[str, str], auth: dict[str, str], run: str) -> None:
    stored = put(client, run, "model.pkl", b"local", writer)
    moved = post(client, url(run, "external"), writer, {
        "path": "model.pkl", "uri": URI, "sha256": "ab" * 32, "size": 3})
    assert moved.status_code == 201 and moved.json["revision"] == 2, moved.json
    body = entry(client, auth, moved.json["receipt"])["body"]
    assert body["supersedes"] == stored.json["sha256"] and body["uri"] == URI
    assert problem(client.get(url(run, "model.pkl"), headers=auth), 404)["uri"] == URI
    assert client.get(url(run, "model.pkl") + "?revision=1", headers=auth).data == b"local"


def test_tampered_bytes_are_refused_and_logged(
        client: Any, writer: dict[str, str], auth: dict[str, str], config: Config, run: str,
        caplog: pytest.LogCaptureFixture) -> None:
    data = b"model bytes " * 100
    put(client, run, "model.bin", data, writer)
    stored = blob_path(config, hashlib.sha256(data).hexdigest())
    stored.chmod(0o600)
    changed = bytearray(stored.read_bytes())
    changed[5] ^= 0x01
    stored.write_bytes(bytes(changed))
    with caplog.at_level(logging.ERROR, logger="app.services.artifacts"):
        refused = client.get(url(run, "model.bin"), headers=auth)
    assert "no longer match" in problem(refused, 409)["detail"]
    assert any("no longer match" in r.getMessage() for r in caplog.records)
    stored.unlink()
    assert "missing" in problem(client.get(url(run, "model.bin"), headers=auth), 409)["detail"]


@pytest.mark.parametrize("path", [
    "../x", "%2e%2e/x", "a/../../x", "..", "a/./b", "a//b", "a\\b", "a%5Cb", "a/b/", "a%00b",
    "a%1Fb", "x" * 1001,
])
def test_unsafe_paths_are_400_and_write_nothing(client: Any, writer: dict[str, str],
                                                config: Config, run: str,
                                                conn: psycopg.Connection, path: str) -> None:
    before = counts(conn)
    refused = problem(put(client, run, path, b"payload", writer), 400)
    # %00 is refused before routing, for every route (app/api/http/hygiene.py)
    assert "path" in refused.get("errors", {}) or (path == "a%00b" and "NUL" in refused["detail"])
    assert counts(conn) == before and blob_files(config) == []
    problem(client.get(url(run, path), headers=writer), 400)


@pytest.mark.parametrize("path", ["/abs", "%2Fabs", "//abs"])
def test_absolute_paths_do_not_route(client: Any, writer: dict[str, str], config: Config,
                                     run: str, conn: psycopg.Connection, path: str) -> None:
    """The 'path' converter never matches a leading '/': refused by routing, nothing written."""
    before = counts(conn)
    assert put(client, run, path, b"payload", writer).status_code == 404
    assert client.get(url(run, path), headers=writer).status_code in (404, 405)
    assert counts(conn) == before and blob_files(config) == []


def test_unknown_run_is_404_and_stores_nothing(client: Any, writer: dict[str, str],
                                               config: Config, conn: psycopg.Connection) -> None:
    before = counts(conn)
    problem(put(client, "no-such-run", "model.bin", b"bytes", writer), 404)
    assert counts(conn) == before and blob_files(config) == []
    problem(client.get(url("no-such-run"), headers=writer), 404)
    problem(client.get(url("no-such-run", "model.bin"), headers=writer), 404)


@pytest.fixture
def small_client(config: Config) -> Iterator[Any]:
    """An app whose upload limit is 64 KiB."""
    application = create_app(dataclasses.replace(config, max_upload_bytes=64 * 1024))
    yield application.test_client()
    application.extensions["mlaudit"].close()


def test_oversize_upload_is_413_and_writes_nothing(small_client: Any, config: Config,
                                                   conn: psycopg.Connection) -> None:
    admin = {"Authorization": f"Bearer {config.admin_token_path.read_text().strip()}"}
    run_id = make_run(small_client, admin)
    before, data = counts(conn), b"x" * (64 * 1024 + 1)
    problem(put(small_client, run_id, "big.bin", data, admin), 413)
    streamed = small_client.put(url(run_id, "big.bin"), headers=admin,
                                input_stream=io.BytesIO(data),
                                environ_overrides={"wsgi.input_terminated": True})
    problem(streamed, 413)
    assert counts(conn) == before and blob_files(config) == []
    assert put(small_client, run_id, "ok.bin", data[:-1], admin).status_code == 201


def test_multi_mib_upload_streams(client: Any, writer: dict[str, str], auth: dict[str, str],
                                  run: str) -> None:
    data = os.urandom(5 * 1024 * 1024 + 123)
    response = client.put(url(run, "data/train.parquet"), headers=writer,
                          input_stream=io.BytesIO(data),
                          environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 201, response.json
    assert response.json["sha256"] == hashlib.sha256(data).hexdigest()
    assert response.json["size"] == len(data)
    got = client.get(url(run, "data/train.parquet"), headers=auth)
    assert got.content_length == len(data) and got.data == data


def signed_external(path: str, sha256: str, size: int, uri: str) -> dict[str, Any]:
    """A registration body signed as documented: Ed25519 over DSSE PAE of RFC 8785 bytes."""
    private = Ed25519PrivateKey.generate()
    key = VerifierKey.from_public_key("ci.example/signer", private.public_key().public_bytes_raw())
    statement = {"_type": "https://in-toto.io/Statement/v1",
                 "subject": [{"name": path, "digest": {"sha256": sha256}}],
                 "predicateType": "https://mlaudit.dev/artifact-record/v1",
                 "predicate": {"size": str(size), "uri": uri}}
    payload = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
    payload_type = b"application/vnd.in-toto+json"
    message = b"DSSEv1 %d %b %d %b" % (len(payload_type), payload_type, len(payload), payload)
    signature = base64.b64encode(private.sign(message)).decode()
    return {"path": path, "uri": uri, "sha256": sha256, "size": size,
            "signature": {"key": key.to_string(), "sig": signature}}


def test_external_artifact_with_client_signature(client: Any, writer: dict[str, str],
                                                 auth: dict[str, str], run: str) -> None:
    digest = hashlib.sha256(b"elsewhere").hexdigest()
    registration = signed_external("model/model.pkl", digest, 9, URI)
    response = post(client, url(run, "external"), writer, registration)
    assert response.status_code == 201, response.json
    body = response.json
    recorded = entry(client, auth, body["receipt"])
    assert recorded["kind"] == "artifact.registered"
    assert recorded["body"]["uri"] == URI and recorded["body"]["size"] == "9"
    assert recorded["body"]["client_key"] == registration["signature"]["key"]
    assert recorded["body"]["client_sig"] == registration["signature"]["sig"]
    client_key = VerifierKey.from_string(registration["signature"]["key"])
    vouched = dsse.verify_envelope(body["client_signature"], [client_key])
    assert vouched["subject"] == [{"name": "model/model.pkl", "digest": {"sha256": digest}}]
    statement: Any = dsse.verify_envelope(body["envelope"], service_keys(client))
    assert statement["predicate"]["uri"] == URI
    fetched = client.get(url(run, "model/model.pkl"), headers=auth)
    assert URI in problem(fetched, 404)["detail"]
    assert client.get(url(run, "model/model.pkl") + "?meta=1", headers=auth).json["uri"] == URI
    again = post(client, url(run, "external"), writer, registration)
    assert again.status_code == 200 and again.json["receipt"] is None


def test_external_artifact_bad_signature_is_401_and_writes_nothing(
        client: Any, writer: dict[str, str], run: str, conn: psycopg.Connection) -> None:
    digest = hashlib.sha256(b"elsewhere").hexdigest()
    registration = signed_external("model.pkl", digest, 9, URI)
    before = counts(conn)
    for field, value in (("size", 10), ("uri", URI + ".bak"), ("path", "other.pkl")):
        problem(post(client, url(run, "external"), writer, {**registration, field: value}), 401)
    assert counts(conn) == before
    unsigned = {k: v for k, v in registration.items() if k != "signature"}
    created = post(client, url(run, "external"), writer, unsigned)
    assert created.status_code == 201 and created.json["client_signature"] is None


@pytest.mark.parametrize("change", [
    {"extra": 1}, {"sha256": "AB" * 32}, {"size": -1}, {"size": "9"}, {"uri": "no scheme"},
    {"path": "../x"}, {"signature": {"key": "not-a-key", "sig": "AAAA"}},
])
def test_external_body_is_validated(client: Any, writer: dict[str, str], run: str,
                                    change: dict[str, Any]) -> None:
    registration = {"path": "m.pkl", "uri": URI, "sha256": "ab" * 32, "size": 9, **change}
    problem(post(client, url(run, "external"), writer, registration), 400)


def test_listing_under_a_prefix(client: Any, writer: dict[str, str], auth: dict[str, str],
                                run: str) -> None:
    for path in ("models/a.bin", "models/sub/b.bin", "modelsx/c.bin", "readme.txt"):
        put(client, run, path, path.encode(), writer)
    for prefix in ("models", "models/"):
        listed = client.get(url(run) + f"?path={prefix}", headers=auth).json
        assert [a["path"] for a in listed["artifacts"]] == ["models/a.bin", "models/sub/b.bin"]
        assert listed["next"] is None
    first = client.get(url(run) + "?limit=3", headers=auth).json
    rest = client.get(url(run) + f"?limit=3&after={first['next']}", headers=auth).json
    assert [a["path"] for a in first["artifacts"] + rest["artifacts"]] == [
        "models/a.bin", "models/sub/b.bin", "modelsx/c.bin", "readme.txt"]
    item = first["artifacts"][0]
    assert set(item) == {"path", "sha256", "size", "uri", "seq", "revisions"}
    assert item["sha256"] == hashlib.sha256(b"models/a.bin").hexdigest()
    problem(client.get(url(run) + "?path=../x", headers=auth), 400)
    problem(client.get(url(run) + "?bogus=1", headers=auth), 400)


def test_routes_do_not_collide(client: Any, writer: dict[str, str], run: str) -> None:
    """An artifact may be named 'external' (PUT/GET); POST .../external registers by URI."""
    assert put(client, run, "external", b"named external", writer).status_code == 201
    assert put(client, run, "external/x", b"nested", writer).status_code == 201
    assert client.get(url(run, "external"), headers=writer).data == b"named external"
    listed = client.get(url(run), headers=writer).json["artifacts"]
    assert [a["path"] for a in listed] == ["external", "external/x"]
    digest = hashlib.sha256(b"remote").hexdigest()
    registered = post(client, url(run, "external"), writer,
                      {"path": "remote.bin", "uri": URI, "sha256": digest, "size": 6})
    assert registered.status_code == 201 and registered.json["uri"] == URI
    assert client.post(url(run, "model.bin"), headers=writer).status_code == 405


def test_roles(client: Any, auditor: dict[str, str], writer: dict[str, str], run: str,
               conn: psycopg.Connection) -> None:
    before = counts(conn)
    problem(put(client, run, "model.bin", b"bytes", auditor), 403)
    registration = {"path": "m.pkl", "uri": URI, "sha256": "ab" * 32, "size": 9}
    problem(post(client, url(run, "external"), auditor, registration), 403)
    problem(put(client, run, "model.bin", b"bytes", {}), 401)
    assert counts(conn) == before
    put(client, run, "model.bin", b"bytes", writer)
    assert client.get(url(run), headers=auditor).json["artifacts"][0]["path"] == "model.bin"
    assert client.get(url(run, "model.bin"), headers=auditor).data == b"bytes"


def test_a_version_6_database_keeps_its_artifacts_as_revision_1(
        client: Any, writer: dict[str, str], auth: dict[str, str], run: str,
        conn: psycopg.Connection, database_url: str) -> None:
    """Version 6 kept one artifacts row per path (no revisions). The upgrade rebuilds both
    tables from the entries: each recorded path is its revision 1, and it verifies clean."""
    from app.db import SCHEMA_VERSION, ensure_schema
    from app.services.verification import verify_database

    first = put(client, run, "model.bin", b"v1", writer).json
    with conn.transaction():
        conn.execute("DROP TABLE artifact_revisions, artifacts CASCADE")
        conn.execute(
            "CREATE TABLE artifacts (run_id text NOT NULL REFERENCES runs (id), path text NOT "
            "NULL, sha256 text NOT NULL, size bigint NOT NULL, uri text, envelope_sha256 text "
            "NOT NULL, client_signature jsonb, seq bigint NOT NULL, PRIMARY KEY (run_id, path))")
        conn.execute("INSERT INTO artifacts VALUES (%s, 'model.bin', %s, 2, NULL, %s, NULL, %s)",
                     (run, first["sha256"], hashlib.sha256(canonicalize(
                         first["envelope"])).hexdigest(), first["seq"]))
        conn.execute("DELETE FROM mlaudit_schema")
        conn.execute("INSERT INTO mlaudit_schema (version) VALUES (6)")
    assert ensure_schema(database_url, ("prod",)) == SCHEMA_VERSION == 7
    assert conn.execute("SELECT revision, seq FROM artifact_revisions").fetchall() == [
        (1, first["seq"])]
    assert verify_database(conn).ok
