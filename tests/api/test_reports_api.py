"""PDF audit reports over HTTP: evidence bundle, proofs, issuance in the ledger, roles, damage.

Lookup of an unknown SHA-256 answers 200 {"issued": false} (not 404), so a client can tell
"not issued here" from a wrong URL.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from app.ledger import merkle
from app.ledger.checkpoint import VerifierKey
from app.services.report_bundle import open_bundle, render_bundle
from app.services.report_signature import base_revision
from app.services.report_verify import all_passed, verify_report
from reports.extract import footer_hash, read_attachment


def send(client: Any, method: str, path: str, headers: dict[str, str], payload: Any = None
         ) -> Any:
    return client.open(path, method=method, headers=headers,
                       data=None if payload is None else json.dumps(payload),
                       content_type="application/json")


def text_of(pdf: bytes) -> str:
    return re.sub(r"\s+", " ", " ".join(p.extract_text() or ""
                                        for p in PdfReader(io.BytesIO(pdf)).pages))


def squeezed(pdf: bytes) -> str:
    return "".join(text_of(pdf).split())


@pytest.fixture
def people(run_cli: Any, admin_token: str) -> dict[str, dict[str, str]]:
    def token(name: str, role: str) -> dict[str, str]:
        secret = run_cli("token", "create", "--name", name, "--role", role).stdout.split()[-1]
        return {"Authorization": f"Bearer {secret}"}

    return {"admin": {"Authorization": f"Bearer {admin_token}"},
            "builder": token("builder", "writer"), "risk1": token("risk1", "approver"),
            "auditor": token("auditor", "auditor"), "scoped": token("scoped", "auditor")}


@pytest.fixture
def data(client: Any, people: dict[str, dict[str, str]]) -> dict[str, Any]:
    builder, admin = people["builder"], people["admin"]
    experiment = send(client, "POST", "/api/v1/experiments", builder, {"name": "credit"}).json
    run = send(client, "POST", "/api/v1/runs", builder,
               {"experiment_id": experiment["id"], "name": "train-1"}).json["id"]
    logged = send(client, "POST", f"/api/v1/runs/{run}/batch", builder, {
        "params": [{"key": "learning_rate", "value": "0.0375"}],
        "metrics": [{"key": "auc", "value": "0.81"},
                    {"key": "selection_rate", "value": "0.6", "group": {"sex": "M"}, "n": 90},
                    {"key": "selection_rate", "value": "0.45", "group": {"sex": "F"}, "n": 80}]})
    assert logged.status_code == 200, logged.json
    inputs = send(client, "POST", f"/api/v1/runs/{run}/inputs", builder, {"datasets": [
        {"name": "loans", "digest": "ab" * 32, "context": "training",
         "row_count": 170, "group_counts": {"sex": {"M": 90, "F": 80}}}]})
    assert inputs.status_code == 200, inputs.json
    put = client.put(f"/api/v1/runs/{run}/artifacts/model/model.bin", headers=builder,
                     data=b"model bytes")
    assert put.status_code == 201, put.json
    other = send(client, "POST", "/api/v1/experiments", builder, {"name": "other"}).json
    granted = send(client, "POST", "/api/v1/grants", admin,
                   {"token_name": "scoped", "experiment_id": other["id"]})
    assert granted.status_code == 200, granted.json
    return {"experiment": experiment["id"], "run": run,
            "artifact_sha256": hashlib.sha256(b"model bytes").hexdigest()}


def test_run_report_end_to_end(client: Any, people: Any, data: dict[str, Any]) -> None:
    auditor = people["auditor"]
    response = client.get(f"/api/v1/reports/runs/{data['run']}.pdf", headers=auditor)
    assert response.status_code == 200, response.data[:500]
    pdf = response.data
    assert pdf.startswith(b"%PDF")
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    bundle = read_attachment(pdf)
    digest = hashlib.sha256(bundle).hexdigest()
    assert digest == response.headers["X-Evidence-SHA256"] == footer_hash(pdf)
    assert render_bundle(bundle) == base_revision(pdf)  # then the PAdES signature's update
    text, flat = text_of(pdf), squeezed(pdf)
    assert "0.0375" in text
    assert "0.75" in text  # F / M selection rate ratio
    assert data["artifact_sha256"] in flat

    opened = open_bundle(bundle)
    assert opened.entries and opened.evidence.run.cited_seqs  # type: ignore[union-attr]
    assert {e.seq for e in opened.entries} >= set(opened.evidence.run.cited_seqs)  # type: ignore[union-attr]
    for entry in opened.entries:
        merkle.verify_inclusion(entry.seq, opened.tree_size, merkle.leaf_hash(entry.canonical),
                                entry.proof, opened.root_hash)
    assert opened.evidence.run.artifacts[0].signature_status == "verified"  # type: ignore[union-attr]

    sha = hashlib.sha256(pdf).hexdigest()
    found = client.get(f"/api/v1/reports/lookup?sha256={sha}", headers=auditor).json
    assert found["issued"] is True and found["issued_to"] == "token:auditor"
    assert found["report_id"] == response.headers["X-Report-Id"] and found["issued_at"]
    entry = client.get(f"/api/v1/ledger/entries/{found['seq']}", headers=auditor).json
    assert entry["kind"] == "report.issued"
    assert json.dumps(entry).count(sha) >= 1
    unknown = client.get(f"/api/v1/reports/lookup?sha256={'0' * 64}", headers=auditor)
    assert unknown.status_code == 200 and unknown.json["issued"] is False

    # A second report proves its checkpoint consistent with the first one's.
    again = client.get(f"/api/v1/reports/runs/{data['run']}.pdf", headers=auditor)
    steps = open_bundle(read_attachment(again.data)).consistency
    assert steps and steps[0].from_size == opened.tree_size
    later = open_bundle(read_attachment(again.data))
    merkle.verify_consistency(steps[0].from_size, later.tree_size, opened.root_hash,
                              later.root_hash, steps[0].proof)


def test_a_revised_artifact_shows_its_latest_digest_and_every_earlier_one(
        client: Any, people: Any, data: dict[str, Any]) -> None:
    """21 CFR 11.10(e): a change must not obscure what was recorded before. The report shows
    the latest digest, says how many revisions, and its bundle proves every one."""
    put = client.put(f"/api/v1/runs/{data['run']}/artifacts/model/model.bin",
                     headers=people["builder"], data=b"retrained model bytes")
    assert put.status_code == 201 and put.json["revision"] == 2, put.json
    first = client.get(f"/api/v1/runs/{data['run']}/artifact-revisions?path=model/model.bin",
                       headers=people["auditor"]).json["revisions"][0]
    response = client.get(f"/api/v1/reports/runs/{data['run']}.pdf", headers=people["auditor"])
    assert response.status_code == 200, response.data[:500]
    opened = open_bundle(read_attachment(response.data))
    [artifact] = opened.evidence.run.artifacts  # type: ignore[union-attr]
    assert (artifact.sha256, artifact.seq, artifact.revisions) == (put.json["sha256"],
                                                                   put.json["seq"], 2)
    assert [(r.revision, r.sha256, r.size, r.seq) for r in artifact.earlier] == [
        (1, data["artifact_sha256"], len(b"model bytes"), first["seq"])]
    assert {first["seq"], put.json["seq"]} <= {e.seq for e in opened.entries}
    assert first["envelope_sha256"] in opened.envelopes
    text = text_of(response.data)
    assert "model/model.bin: revision 2 of 2 is shown" in text
    assert f"1: {data['artifact_sha256'][:12]}" in text
    keys = [VerifierKey.from_string(k) for k in key_strings_of(client)]
    checks = verify_report(response.data, keys)
    assert all_passed(checks), [c for c in checks if c.ok is not True]


def key_strings_of(client: Any) -> list[str]:
    keys: list[str] = client.get("/api/v1/ledger/keys").json["keys"]
    return keys


def test_roles_and_scope(client: Any, people: Any, data: dict[str, Any]) -> None:
    run, experiment = data["run"], data["experiment"]
    assert client.get(f"/api/v1/reports/runs/{run}.pdf",
                      headers=people["builder"]).status_code == 403
    assert client.get(f"/api/v1/reports/runs/{run}.pdf",  # out of scope: as missing
                      headers=people["scoped"]).status_code == 404
    assert client.get(f"/api/v1/reports/experiments/{experiment}.pdf",
                      headers=people["scoped"]).status_code == 404
    assert client.get(f"/api/v1/reports/runs/{run}.pdf?force=true",
                      headers=people["auditor"]).status_code == 403
    assert client.get("/api/v1/reports/runs/nope.pdf",
                      headers=people["auditor"]).status_code == 404


def test_experiment_report(client: Any, people: Any, data: dict[str, Any]) -> None:
    response = client.get(f"/api/v1/reports/experiments/{data['experiment']}.pdf",
                          headers=people["admin"])
    assert response.status_code == 200, response.data[:500]
    assert render_bundle(read_attachment(response.data)) == base_revision(response.data)
    assert "credit" in text_of(response.data)


def test_model_report(client: Any, people: Any, data: dict[str, Any]) -> None:
    builder, admin = people["builder"], people["admin"]
    created = send(client, "POST", "/api/v1/models", builder, {
        "name": "scorecard", "sensitive_attributes": ["sex"], "owner": "risk-team"})
    assert created.status_code == 201, created.json
    version = send(client, "POST", "/api/v1/models/scorecard/versions", builder,
                   {"run_id": data["run"], "artifact_path": "model"})
    assert version.status_code == 201, version.json
    promotion = send(client, "POST", "/api/v1/models/scorecard/versions/1/promotions", builder,
                     {"target": "Production", "justification": "passed validation"})
    assert promotion.status_code == 201, promotion.json
    decided = send(client, "POST", f"/api/v1/promotions/{promotion.json['id']}/decisions",
                   people["risk1"], {"decision": "approve", "comment": "reviewed"})
    assert decided.status_code == 200, decided.json
    send(client, "POST", "/api/v1/environments", admin, {"name": "prod-eu"})
    deployed = send(client, "POST", "/api/v1/models/scorecard/deployments", builder, {
        "version": 1, "environment": "prod-eu", "promotion_id": promotion.json["id"]})
    assert deployed.status_code == 201, deployed.json
    response = client.get("/api/v1/reports/models/scorecard.pdf", headers=people["auditor"])
    assert response.status_code == 200, response.data[:500]
    text = text_of(response.data)
    assert "risk1" in text and "prod-eu" in text
    assert "approved by 0" not in text and "No approvals were recorded" not in text
    assert render_bundle(read_attachment(response.data)) == base_revision(response.data)
    one = client.get("/api/v1/reports/models/scorecard.pdf?version=1&as_of=2000-01-01T00:00:00Z",
                     headers=admin)
    assert one.status_code == 200, one.data[:500]
    assert client.get("/api/v1/reports/models/scorecard.pdf",
                      headers=people["scoped"]).status_code == 404


def test_damaged_ledger(client: Any, people: Any, data: dict[str, Any], bypass: Any,
                        services: Any) -> None:
    services.checkpointer.sign_now()  # a forced report stands on the last verified checkpoint
    with bypass as conn:
        conn.execute("UPDATE ledger_entries SET canonical = overlay(canonical placing "
                     "'\\x58'::bytea from 3 for 1) WHERE seq = 5")
    url = f"/api/v1/reports/runs/{data['run']}.pdf"
    refused = client.get(url, headers=people["auditor"])
    assert refused.status_code == 409
    assert refused.mimetype == "application/problem+json"
    assert refused.json["seq"] == 5 and "seq 5" in refused.json["detail"]
    forced = client.get(url + "?force=true", headers=people["admin"])
    assert forced.status_code == 200, forced.data[:500]
    text = text_of(forced.data)
    assert "seq 5" in text
    assert open_bundle(read_attachment(forced.data)).evidence.meta.forced


def test_cli_report(run_cli: Any, server: str, people: Any, data: dict[str, Any],
                    tmp_path: Path) -> None:
    out = tmp_path / "run.pdf"
    secret = people["auditor"]["Authorization"].split()[-1]
    env = {"MLAUDIT_URL": server, "MLAUDIT_TOKEN": secret}
    done = run_cli("report", "run", data["run"], "-o", str(out), env=env)
    assert done.returncode == 0, done.stderr
    pdf = out.read_bytes()
    assert pdf.startswith(b"%PDF") and str(out) in done.stdout
    assert hashlib.sha256(read_attachment(pdf)).hexdigest() in done.stdout
    refused = run_cli("report", "run", data["run"], "-o", str(out), "--force", env=env)
    assert refused.returncode != 0 and "403" in refused.stderr


def test_a_model_report_shows_unpinned_versions(client: Any, people: Any,
                                                data: dict[str, Any], conn: Any) -> None:
    """Issue 19: a version registered from a source mlaudit does not hold says, where the
    versions and their pinned files are listed, that it is unpinned; once pinned, the report
    shows its files and says when and by whom it was pinned; the bundle verifies."""
    from app.services import keys as key_service
    from app.services.report_verify import all_passed, verify_report

    builder = people["builder"]
    send(client, "POST", "/api/v1/models", builder, {"name": "lake"})
    for source in ("s3://lake/v1", "s3://lake/v2"):
        made = send(client, "POST", "/api/v1/models/lake/versions", builder, {"source": source})
        assert made.status_code == 201, made.json
    before = client.get("/api/v1/reports/models/lake.pdf", headers=people["auditor"])
    assert before.status_code == 200, before.data[:500]
    text = text_of(before.data)
    assert text.count("unpinned: files not held or digested") >= 2, text
    assert "registered from s3://lake/v1" in text and "s3://lake/v2" in text
    assert "1 (unpinned), 2 (unpinned)" in text and "Unpinned versions" in text

    send(client, "POST", f"/api/v1/runs/{data['run']}/artifacts/external", builder, {
        "path": "lake/model.bin", "uri": "s3://lake/v2/model.bin", "sha256": "ef" * 32,
        "size": 5})
    pinned = send(client, "POST", "/api/v1/models/lake/versions/2/pin", people["admin"],
                  {"run_id": data["run"], "artifact_path": "lake"})
    assert pinned.status_code == 200, pinned.json
    after = client.get("/api/v1/reports/models/lake.pdf", headers=people["auditor"])
    text, flat = text_of(after.data), squeezed(after.data)
    assert "Version 1 is unpinned: files not held or digested" in text
    assert "Version 2 was registered unpinned from s3://lake/v2 and pinned" in text
    assert "ef" * 32 in flat
    evidence = open_bundle(read_attachment(after.data)).evidence
    assert [u.version for u in evidence.unpinned] == [1]  # type: ignore[union-attr]
    assert [v.version for v in evidence.versions] == [2]  # type: ignore[union-attr]
    keys = key_service.verifier_keys(conn)
    assert all_passed(verify_report(after.data, keys))
    assert all_passed(verify_report(before.data, keys))
