"""`mlaudit verify-report`: a real report passes every check; tampering with it is caught.

Reports are computed from ledger entries (app/services/report_evidence.py) and carry them; the
`statements` check replays the bundle's entries through the same code, so a bundle whose
figures were edited and re-rendered fails offline, and a report never shows a projection row
that disagrees with its entry."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pypdf import PdfWriter

from app.cli import load_standalone_verifier
from app.ledger.checkpoint import Signer, VerifierKey
from app.ledger.entry import canonicalize
from app.services import keys as key_service
from app.services import reports, tracking
from app.services.report_bundle import open_bundle, render_bundle
from app.services.report_verify import _differs, all_passed, verify_report
from reports.extract import open_pdf, read_attachment
from reports.furniture import TEMPLATE_VERSION
from reports.textcheck import origin

WHO = "token:ci"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _keys(services: Any) -> list[VerifierKey]:
    with services.pool.connection() as conn:
        return key_service.verifier_keys(conn)


def _verdict(checks: list[Any]) -> dict[str, bool | None]:
    return {c.name: c.ok for c in checks}


def _run(services: Any, name: str) -> str:
    """A run with params, metrics (overall and per group), a dataset, ended."""
    commit = services.committer.run
    experiment, _ = commit(lambda w: tracking.create_experiment(w, WHO, name, "", {}))
    run, _ = commit(lambda w: tracking.create_run(w, WHO, experiment.id, "train", {}, None,
                                                  None, {}))
    commit(lambda w: tracking.log_params(w, WHO, run.id, {"lr": "0.1", "depth": "6"}))
    commit(lambda w: tracking.log_metrics(w, WHO, run.id, [
        tracking.Metric("auc", "0.81", 0, 1000), tracking.Metric("auc", "0.86", 1, 2000),
        tracking.Metric("tpr", "0.7", 0, 1000, {"sex": "F"}, 40),
        tracking.Metric("tpr", "0.75", 0, 1000, {"sex": "M"}, 60)]))
    commit(lambda w: tracking.log_inputs(w, WHO, run.id, [{
        "name": "loans", "digest": "a" * 64, "context": "training", "row_count": 100}]))
    commit(lambda w: tracking.end_run(w, WHO, run.id, "FINISHED", None))
    return str(run.id)


@pytest.fixture
def ledger(services: Any) -> dict[str, Any]:
    """Two real run reports, the second issued after more writes (so over a larger tree)."""
    run = _run(services, "first")
    old = reports.run_report(services, "token:auditor", run, False)
    _run(services, "second")
    new = reports.run_report(services, "token:auditor", run, False)
    return {"run": run, "old": old, "new": new, "keys": _keys(services)}


def _edit(bundle: bytes, change: Any) -> bytes:
    document = json.loads(bundle)
    change(document)
    return canonicalize(document)


def test_a_real_report_passes_every_check(ledger: dict[str, Any]) -> None:
    pdf = ledger["new"].pdf
    checks = verify_report(pdf, ledger["keys"])
    assert _verdict(checks) == {"bundle_hash": True, "entries": True, "checkpoint": True,
                                "statements": True, "figures": True, "bytes": True,
                                "signature": True,
                                "verification": None}
    assert all_passed(checks)
    bundle = open_bundle(read_attachment(pdf))
    assert bundle.format == "mlaudit-evidence/2" and bundle.request == {
        "kind": "run", "subject": ledger["run"], "version": None, "as_of": None}


def test_a_figure_edited_and_rerendered_fails_statements(ledger: dict[str, Any]) -> None:
    """The forged report: the bundle's figure changed, the PDF rendered from it, so footer,
    proofs and pixels all agree; the bundle's own entries say otherwise."""
    forged = _edit(read_attachment(ledger["new"].pdf),
                   lambda d: d["evidence"]["run"]["metrics"][0].update(value="0.99"))
    checks = verify_report(render_bundle(forged), ledger["keys"])
    verdict = _verdict(checks)
    assert verdict["bundle_hash"] and verdict["entries"] and verdict["checkpoint"]
    assert verdict["figures"]
    assert verdict["statements"] is False and not all_passed(checks)
    detail = {c.name: c.detail for c in checks}["statements"]
    assert "first at $.run.metrics[0].value" in detail


@pytest.mark.parametrize("change", [
    lambda d: d["evidence"]["run"].update(status="FAILED"),
    lambda d: d["evidence"]["run"]["params"][0].update(value="0.5"),
    lambda d: d["evidence"]["run"]["group_summaries"][0]["groups"][0].update(n=400),
    lambda d: d["evidence"]["run"]["datasets"][0].update(row_count=1),
    lambda d: d["request"].update(subject="another-run"),
])
def test_any_statement_edited_fails(ledger: dict[str, Any], change: Any) -> None:
    forged = render_bundle(_edit(read_attachment(ledger["new"].pdf), change))
    assert _verdict(verify_report(forged, ledger["keys"]))["statements"] is False


def test_cli_with_the_served_key_file(ledger: dict[str, Any], client: Any, run_cli: Any,
                                      tmp_path: Path) -> None:
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(ledger["new"].pdf)
    served = client.get("/api/v1/ledger/keys")
    assert served.status_code == 200
    keyfile = tmp_path / "keys.json"
    keyfile.write_bytes(served.get_data())
    key_strings = load_standalone_verifier().key_strings
    assert [VerifierKey.from_string(k) for k in key_strings([str(keyfile)])] == ledger["keys"]
    result = run_cli("verify-report", str(pdf), "--key", str(keyfile))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines[:5]] == [
        ["ok", "bundle_hash"], ["ok", "entries"], ["ok", "checkpoint"], ["ok", "statements"],
        ["ok", "figures"]]
    textfile = tmp_path / "keys.txt"
    textfile.write_text("".join(k + "\n" for k in served.get_json()["keys"]))
    result = run_cli("verify-report", str(pdf), "--key", str(textfile), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["ok"] is True
    missing = run_cli("verify-report", str(tmp_path / "nope.pdf"), "--key", str(textfile))
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
    badkey = run_cli("verify-report", str(pdf), "--key", "not-a-key")
    assert badkey.returncode == 2 and len(badkey.stderr.strip().splitlines()) == 1


def test_changed_pdf_byte_fails_figures(ledger: dict[str, Any]) -> None:
    pdf = ledger["new"].pdf
    bundle = read_attachment(pdf)
    forged = render_bundle(_edit(bundle, lambda d: d["evidence"]["run"]["metrics"][0].update(
        value="0.99")))
    index = next(i for i, (a, b) in enumerate(zip(pdf, forged, strict=False)) if a != b)
    tampered = pdf[:index] + bytes([pdf[index] ^ 0x01]) + pdf[index + 1:]
    checks = _verdict(verify_report(tampered, ledger["keys"]))
    assert checks["figures"] is False
    assert checks["entries"] and checks["checkpoint"]


def test_a_report_from_another_reportlab_is_checked_by_its_text(
        ledger: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """A PDF laid out by another ReportLab version (simulated: the cover and the Producer name
    4.4.4) passes on its text; the byte comparison is not made, and the line says why."""
    import reports.page
    import reports.render

    here = reports.page.RENDERER
    for module in (reports.page, reports.render):
        monkeypatch.setattr(module, "RENDERER", "ReportLab 4.4.4")
    other = render_bundle(read_attachment(ledger["new"].pdf))
    monkeypatch.undo()
    checks = verify_report(other, ledger["keys"])
    verdict, detail = _verdict(checks), {c.name: c.detail for c in checks}
    assert verdict["figures"] is True and verdict["bytes"] is None and all_passed(checks)
    assert detail["bytes"] == (f"not compared: rendered with ReportLab 4.4.4; this machine has "
                               f"{here}: the text check above is the one that counts")


HERE = f"mlaudit report template {TEMPLATE_VERSION}; ReportLab 5.1.0"


@pytest.mark.parametrize(("producer", "creator", "said"), [
    (f"mlaudit report template {TEMPLATE_VERSION}; ReportLab 4.4.4", "",
     "rendered with ReportLab 4.4.4; this machine has ReportLab 5.1.0"),
    ("ReportLab 5.1.0", "mlaudit 0.1.0 (report template 0)", "rendered with ReportLab 5.1.0 "
     f"(report template 0); this machine has ReportLab 5.1.0 (report template {TEMPLATE_VERSION})"),
    ("ReportLab 5.1.0", f"mlaudit 0.1.0 (report template {TEMPLATE_VERSION})",
     f"the PDF's Producer is 'ReportLab 5.1.0'; this machine writes {HERE!r}"),
])
def test_why_bytes_are_not_compared(producer: str, creator: str, said: str) -> None:
    writer = PdfWriter()
    writer.add_blank_page(10, 10)
    writer.add_metadata({"/Producer": producer, "/Creator": creator})
    out = io.BytesIO()
    writer.write(out)
    assert _differs(origin(open_pdf(out.getvalue())), "ReportLab 5.1.0", HERE) == said


def test_a_change_outside_the_text_fails_bytes(ledger: dict[str, Any]) -> None:
    """A bar's colour changed: the text is intact, the bytes are not (same ReportLab)."""
    pdf = ledger["new"].pdf
    blue, orange = b".305882 .47451 .654902 rg", b".85098 .509804 .168627 rg"  # group 0, flag
    assert blue in pdf and len(blue) == len(orange)
    tampered = pdf.replace(blue, orange, 1)
    verdict = _verdict(verify_report(tampered, ledger["keys"]))
    assert verdict["figures"] is True and verdict["bytes"] is False


def test_changed_entry_bytes_fail_entries(ledger: dict[str, Any]) -> None:
    bundle = read_attachment(ledger["new"].pdf)
    seq = open_bundle(bundle).entries[-1].seq

    def edit(document: dict[str, Any]) -> None:
        raw = base64.b64decode(document["entries"][-1]["canonical"])
        document["entries"][-1]["canonical"] = _b64(raw.replace(b'"FINISHED"', b'"FAILED"'))

    checks = verify_report(render_bundle(_edit(bundle, edit)), ledger["keys"])
    verdict = _verdict(checks)
    assert verdict["entries"] is False and verdict["figures"] and verdict["bundle_hash"]
    assert f"seq {seq}: inclusion proof does not verify" in checks[1].detail
    assert not all_passed(checks)


def test_a_missing_entry_fails_entries_and_statements(ledger: dict[str, Any]) -> None:
    bundle = _edit(read_attachment(ledger["new"].pdf), lambda d: d["entries"].pop())
    checks = verify_report(render_bundle(bundle), ledger["keys"])
    assert checks[1].ok is False and "cited but not in the bundle" in checks[1].detail
    assert _verdict(checks)["statements"] is False


def test_wrong_key_fails_checkpoint(ledger: dict[str, Any]) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    origin = open_bundle(read_attachment(ledger["new"].pdf)).note.splitlines()[0]
    stranger = Signer(origin, Ed25519PrivateKey.generate()).verifier_key
    checks = _verdict(verify_report(ledger["new"].pdf, [stranger]))
    assert checks["checkpoint"] is False
    assert checks["entries"] and checks["figures"] and checks["statements"]


def test_not_a_pdf(ledger: dict[str, Any]) -> None:
    checks = verify_report(b"%PDF-1.4 nonsense", ledger["keys"])
    assert checks[0].ok is False and all(c.ok is None for c in checks[1:])
    assert not all_passed(checks)


def test_a_report_shows_the_entry_not_a_forged_row(services: Any, client: Any,
                                                   auth: dict[str, str],
                                                   conn: psycopg.Connection) -> None:
    """A params row changed under the service: the report is refused (verify finds it);
    forced, it is flagged and still shows what the entry says."""
    run = _run(services, "forged")
    services.checkpointer.sign_now()
    conn.execute("ALTER TABLE params DISABLE TRIGGER USER")
    conn.execute("UPDATE params SET value = '0.9' WHERE run_id = %s AND key = 'lr'", (run,))
    refused = client.get(f"/api/v1/reports/runs/{run}.pdf", headers=auth)
    assert refused.status_code == 409 and "projection_mismatch" in refused.json["detail"]
    forced = client.get(f"/api/v1/reports/runs/{run}.pdf?force=true", headers=auth)
    assert forced.status_code == 200
    bundle = open_bundle(read_attachment(forced.data))
    assert bundle.evidence.meta.forced
    assert {p.key: p.value for p in bundle.evidence.run.params}["lr"] == "0.1"  # type: ignore[union-attr]
    checks = {c.name: c for c in verify_report(forced.data, _keys(services))}
    assert checks["statements"].ok and "NOT verify" in checks["verification"].detail
    assert "forced" in checks


def test_previous_report_consistency(ledger: dict[str, Any]) -> None:
    older, newer = ledger["old"].pdf, ledger["new"].pdf
    checks = verify_report(newer, ledger["keys"], previous=older)
    assert _verdict(checks)["consistency"] is True and all_passed(checks)
    assert _verdict(verify_report(newer, ledger["keys"], previous=newer))["consistency"]
    backwards = _verdict(verify_report(older, ledger["keys"], previous=newer))
    assert backwards["consistency"] is False


def test_missing_or_forged_consistency_step_fails(ledger: dict[str, Any]) -> None:
    older, bundle = ledger["old"].pdf, read_attachment(ledger["new"].pdf)
    missing = render_bundle(_edit(bundle, lambda d: d.update(consistency=[])))
    checks = verify_report(missing, ledger["keys"], previous=older)
    assert _verdict(checks)["consistency"] is False and not all_passed(checks)

    def forge(document: dict[str, Any]) -> None:
        document["consistency"][0]["proof"][0] = _b64(bytes(32))

    checks = verify_report(render_bundle(_edit(bundle, forge)), ledger["keys"], older)
    assert _verdict(checks)["consistency"] is False

    def other_root(document: dict[str, Any]) -> None:
        document["consistency"][0]["from_root"] = _b64(bytes(32))

    detail = {c.name: c.detail for c in verify_report(
        render_bundle(_edit(bundle, other_root)), ledger["keys"], older)}
    assert "different root" in detail["consistency"]


def test_a_format_1_bundle_is_checked_but_not_recomputed(ledger: dict[str, Any]) -> None:
    """Reports issued before format 2 carry no request: everything else is still checked."""
    def older_format(document: dict[str, Any]) -> None:
        document["format"] = "mlaudit-evidence/1"
        del document["request"], document["envelopes"]

    checks = verify_report(render_bundle(_edit(read_attachment(ledger["new"].pdf),
                                               older_format)), ledger["keys"])
    verdict = _verdict(checks)
    assert verdict["statements"] is None and all_passed(checks)
    assert verdict["entries"] and verdict["checkpoint"] and verdict["figures"]
