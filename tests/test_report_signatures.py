"""Issued reports carry a PAdES signature a PDF viewer (and pyHanko's validator) checks.

The operator's certificate signs every report; without one, `mlaudit init` makes a self-signed
pair. With a TSA configured the signature carries an RFC 3161 timestamp from a real local TSA
(tests/pki.py). The rendered bytes before the signature stay what the bundle renders to."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pki
import pytest
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from test_verify_report import _run

from app import create_app
from app.config import Config
from app.services import keys as key_service
from app.services import reports
from app.services.report_bundle import render_bundle
from app.services.report_signature import base_revision
from app.services.report_verify import all_passed, signature_required, verify_report


@pytest.fixture(scope="module")
def operator() -> pki.Issued:
    return pki.issue("Example Bank model risk office")


@pytest.fixture(scope="module")
def tsa() -> Iterator[tuple[str, pki.Issued, Any]]:
    with pki.time_stamping_authority() as found:
        yield found


def _services(config: Config, **changes: Any) -> Iterator[Any]:
    app = create_app(dataclasses.replace(config, **changes))
    services = app.extensions["mlaudit"]
    try:
        yield services
    finally:
        services.close()


@pytest.fixture
def signed_by_operator(config: Config, operator: pki.Issued, tmp_path: Path) -> Iterator[Any]:
    key, cert = operator.write(tmp_path, "operator")
    yield from _services(config, report_signing_key=key, report_signing_cert=cert)


@pytest.fixture
def timestamped(config: Config, operator: pki.Issued, tsa: Any, tmp_path: Path) -> Iterator[Any]:
    key, cert = operator.write(tmp_path, "operator")
    yield from _services(config, report_signing_key=key, report_signing_cert=cert,
                         report_tsa_url=tsa[0])


def _issue(services: Any) -> reports.Issued:
    return reports.run_report(services, "token:auditor", _run(services, "signed"), False)


def _keys(services: Any) -> list[Any]:
    with services.pool.connection() as conn:
        return key_service.verifier_keys(conn)


def _signature(pdf: bytes) -> Any:
    (signature,) = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    return signature


def _status(pdf: bytes, root: asn1_x509.Certificate, tsa_root: Any = None) -> Any:
    stamps = None if tsa_root is None else ValidationContext(trust_roots=[tsa_root])
    return validate_pdf_signature(_signature(pdf), ValidationContext(trust_roots=[root]),
                                  ts_validation_context=stamps)


def _checks(pdf: bytes, keys: list[Any]) -> dict[str, Any]:
    return {c.name: c for c in verify_report(pdf, keys)}


def test_an_issued_report_validates_against_the_operators_certificate(
        signed_by_operator: Any, operator: pki.Issued) -> None:
    issued = _issue(signed_by_operator)
    status = _status(issued.pdf, operator.asn1)
    assert status.bottom_line and status.intact and status.valid and status.trusted
    assert status.coverage.name == "ENTIRE_FILE" and status.modification_level.name == "NONE"
    assert status.signing_cert.subject.native["common_name"] == "Example Bank model risk office"
    sig = _signature(issued.pdf).sig_object
    assert sig["/SubFilter"] == "/ETSI.CAdES.detached"  # PAdES
    assert sig["/Reason"] == f"mlaudit audit report: evidence bundle SHA-256 {issued.bundle_sha256}"
    assert sig["/Name"] == "Example Bank model risk office"
    assert sig["/Location"] == signed_by_operator.config.origin
    # Another certificate is not the operator's: the same signature is not trusted under it.
    assert not _status(issued.pdf, pki.issue("someone else").asn1).trusted


def test_the_rendered_bytes_come_first_unchanged(signed_by_operator: Any) -> None:
    issued = _issue(signed_by_operator)
    rendered = render_bundle(issued.bundle)
    assert issued.pdf.startswith(rendered) and len(issued.pdf) > len(rendered)
    assert base_revision(issued.pdf) == rendered
    assert base_revision(rendered) == rendered  # unsigned: the whole file


def test_verify_report_passes_on_a_genuine_signed_report(signed_by_operator: Any) -> None:
    issued = _issue(signed_by_operator)
    checks = verify_report(issued.pdf, _keys(signed_by_operator))
    assert all_passed(checks) and all(c.ok for c in checks if c.name != "verification")
    detail = {c.name: c.detail for c in checks}
    assert "Example Bank model risk office" in detail["signature"]
    assert "covering the whole file" in detail["signature"]
    assert detail["bytes"].endswith(f"{len(render_bundle(issued.bundle))} identical bytes")


def test_the_route_serves_the_signed_pdf_and_lookup_knows_it(
        services: Any, client: Any, auth: dict[str, str], config: Config) -> None:
    run = _run(services, "served")
    served = client.get(f"/api/v1/reports/runs/{run}.pdf", headers=auth)
    assert served.status_code == 200
    name = _signature(served.data).sig_object["/Name"]
    assert name == f"mlaudit report signing (self-signed) {config.origin}"
    digest = hashlib.sha256(served.data).hexdigest()
    found = client.get(f"/api/v1/reports/lookup?sha256={digest}", headers=auth).get_json()
    assert found["issued"] is True and found["report_id"] == served.headers["X-Report-Id"]


def test_init_makes_a_self_signed_pair_with_a_0600_key(run_cli: Any, config: Config) -> None:
    first = run_cli("init")
    assert first.returncode == 0, first.stderr
    key, cert = config.report_key_path, config.report_cert_path
    assert "self-signed report-signing certificate" in first.stdout and str(cert) in first.stdout
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    parsed = asn1_x509.Certificate.load(pki.x509.load_pem_x509_certificate(
        cert.read_bytes()).public_bytes(pki.serialization.Encoding.DER))
    assert parsed.subject.native["common_name"] == \
        f"mlaudit report signing (self-signed) {config.origin}"
    again = run_cli("init")
    assert again.returncode == 0 and "self-signed" not in again.stdout
    assert key.read_bytes() and stat.S_IMODE(key.stat().st_mode) == 0o600


def test_without_an_operator_pair_reports_are_signed_self_signed(services: Any,
                                                                 config: Config) -> None:
    issued = _issue(services)
    root = asn1_x509.Certificate.load(pki.x509.load_pem_x509_certificate(
        config.report_cert_path.read_bytes()).public_bytes(pki.serialization.Encoding.DER))
    assert _status(issued.pdf, root).bottom_line
    signature = _checks(issued.pdf, _keys(services))["signature"]
    assert signature.ok and "(self-signed)" in signature.detail


def _flip(pdf: bytes, at: int) -> bytes:
    return pdf[:at] + bytes([pdf[at] ^ 0x01]) + pdf[at + 1:]


def test_a_byte_changed_after_signing_fails(signed_by_operator: Any,
                                            operator: pki.Issued) -> None:
    issued = _issue(signed_by_operator)
    keys = _keys(signed_by_operator)
    reason = issued.pdf.index(b"/Reason (mlaudit audit report")
    in_signature_revision = _flip(issued.pdf, reason + 10)  # the /Reason text, after the render
    status = _status(in_signature_revision, operator.asn1)
    assert not status.intact and not status.bottom_line
    checks = _checks(in_signature_revision, keys)
    assert checks["signature"].ok is False and checks["figures"].ok
    assert "changed after signing" in checks["signature"].detail
    assert not all_passed(list(checks.values()))
    rendered = len(render_bundle(issued.bundle))
    in_rendered_bytes = _flip(issued.pdf, rendered // 2)
    checks = _checks(in_rendered_bytes, keys)
    # a byte in the middle of the rendering need not be text: the byte comparison finds it
    assert checks["signature"].ok is False and checks["bytes"].ok is False


def _annotated(pdf: bytes) -> bytes:
    """A sticky note on page 1, appended as an incremental update after the signature."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    note = writer.add_object(generic.DictionaryObject({
        generic.NameObject("/Type"): generic.NameObject("/Annot"),
        generic.NameObject("/Subtype"): generic.NameObject("/Text"),
        generic.NameObject("/Rect"): generic.ArrayObject(
            [generic.NumberObject(n) for n in (10, 10, 40, 40)]),
        generic.NameObject("/Contents"): generic.TextStringObject("approved")}))
    page[generic.NameObject("/Annots")] = generic.ArrayObject(
        [*page.get("/Annots", generic.ArrayObject()), note])
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _extra_page(pdf: bytes) -> bytes:
    """A blank page object added to the page tree after the signature."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    writer.insert_page(generic.DictionaryObject({
        generic.NameObject("/Type"): generic.NameObject("/Page"),
        generic.NameObject("/MediaBox"): generic.ArrayObject(
            [generic.NumberObject(n) for n in (0, 0, 612, 792)])}))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize("update", [_annotated, _extra_page])
def test_an_update_appended_after_the_signature_is_detected(
        signed_by_operator: Any, operator: pki.Issued, update: Any) -> None:
    issued = _issue(signed_by_operator)
    changed = update(issued.pdf)
    assert changed.startswith(issued.pdf)
    status = _status(changed, operator.asn1)
    assert status.intact and status.coverage.name == "ENTIRE_REVISION"
    assert not status.bottom_line  # pyHanko's verdict: not a permitted change
    checks = _checks(changed, _keys(signed_by_operator))
    assert checks["bytes"].ok  # the rendered revision is untouched...
    assert checks["signature"].ok is False  # ...and the update after it is caught
    assert "an incremental update" in checks["signature"].detail
    assert not all_passed(list(checks.values()))


def test_a_tsa_timestamp_is_present_and_validates(timestamped: Any, operator: pki.Issued,
                                                 tsa: Any) -> None:
    url, tsa_root, server = tsa
    before = server.requests
    issued = _issue(timestamped)
    assert server.requests == before + 1  # one request: no dry run against the TSA
    status = _status(issued.pdf, operator.asn1, tsa_root.asn1)
    assert status.bottom_line
    stamp = status.timestamp_validity
    assert stamp is not None and stamp.intact and stamp.valid and stamp.trusted
    assert stamp.signing_cert.subject.native["common_name"] == "mlaudit test TSA unit"
    untrusted = _status(issued.pdf, operator.asn1, pki.issue("another TSA").asn1)
    assert untrusted.timestamp_validity is not None
    assert not untrusted.timestamp_validity.trusted
    checks = _checks(issued.pdf, _keys(timestamped))
    assert checks["signature"].ok and "by TSA 'mlaudit test TSA unit'" in \
        checks["signature"].detail


def test_an_unreachable_tsa_issues_no_report(config: Config, operator: pki.Issued,
                                             tmp_path: Path) -> None:
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    key, cert = operator.write(tmp_path, "operator")
    for services in _services(config, report_signing_key=key, report_signing_cert=cert,
                              report_tsa_url=f"http://127.0.0.1:{port}/tsa"):
        run = _run(services, "no-tsa")
        with services.pool.connection() as conn:
            before = conn.execute("SELECT count(*) FROM reports_issued").fetchone()
        with pytest.raises(reports.report_signing.ReportSigningError, match="signing"):
            reports.run_report(services, "token:auditor", run, False)
        with services.pool.connection() as conn:
            assert conn.execute("SELECT count(*) FROM reports_issued").fetchone() == before


def test_an_unsigned_report_says_not_signed(services: Any) -> None:
    """Reports issued before signatures: the rendered bytes alone still pass."""
    rendered = render_bundle(_issue(services).bundle)
    checks = verify_report(rendered, _keys(services))
    signature = {c.name: c for c in checks}["signature"]
    assert signature.ok is None and signature.detail == "not signed"
    assert all_passed(checks)


def test_a_bad_operator_pair_stops_init_with_one_line(run_cli: Any, operator: pki.Issued,
                                                      tmp_path: Path) -> None:
    from test_cli import assert_one_line_error

    key, cert = operator.write(tmp_path, "operator")
    pair = {"MLAUDIT_REPORT_SIGNING_KEY": str(key), "MLAUDIT_REPORT_SIGNING_CERT": str(cert)}
    key.chmod(0o644)
    assert_one_line_error(run_cli("init", env=pair), "chmod 600")
    key.chmod(0o600)
    _, other = pki.issue("someone else").write(tmp_path, "other")
    assert_one_line_error(run_cli("init", env={**pair, "MLAUDIT_REPORT_SIGNING_CERT": str(other)}),
                          "does not match")
    assert_one_line_error(run_cli("init", env={"MLAUDIT_REPORT_SIGNING_KEY": str(key)}),
                          "MLAUDIT_REPORT_SIGNING_CERT")
    assert_one_line_error(run_cli("init", env={**pair, "MLAUDIT_REPORT_TSA_URL": "tsa.example"}),
                          "MLAUDIT_REPORT_TSA_URL")
    done = run_cli("init", env=pair)
    assert done.returncode == 0, done.stderr
    assert "self-signed" not in done.stdout


def test_a_page_rewritten_inside_the_signatures_own_revision_fails(
        signed_by_operator: Any, tmp_path: Path) -> None:
    """A forger re-signs the rendered report with their own key, changing page 1 in the same
    update: the signature is intact, the rendered bytes before it too, and still it fails."""
    from pyhanko.sign import fields, signers

    issued = _issue(signed_by_operator)
    writer = IncrementalPdfFileWriter(io.BytesIO(render_bundle(issued.bundle)))
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    stamp = writer.add_object(generic.StreamObject(stream_data=b"BT 72 72 Td (APPROVED) Tj ET"))
    page[generic.NameObject("/Contents")] = generic.ArrayObject(
        [page.raw_get("/Contents"), stamp])
    writer.update_container(page)
    key, cert = pki.issue("a forger").write(tmp_path, "forger")
    forger = signers.SimpleSigner.load(str(key), str(cert))
    assert forger is not None
    forged = signers.sign_pdf(writer, signers.PdfSignatureMetadata(
        field_name="sig", subfilter=fields.SigSeedSubFilter.PADES), signer=forger).getvalue()
    checks = _checks(forged, _keys(signed_by_operator))
    assert checks["bytes"].ok and checks["bundle_hash"].ok  # the rendering itself is intact
    assert checks["figures"].ok is False  # the text check reads the stamped page...
    assert checks["signature"].ok is False  # ...and so does the signature check
    assert "rewrites object" in checks["signature"].detail


def test_a_timestamp_larger_than_the_room_kept_is_measured(
        timestamped: Any, operator: pki.Issued, tsa: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from app.services import report_signing

    monkeypatch.setattr(report_signing, "TSA_TOKEN_ROOM", 0)  # no room for any token
    issued = _issue(timestamped)
    status = _status(issued.pdf, operator.asn1, tsa[1].asn1)
    assert status.bottom_line and status.timestamp_validity is not None


def test_a_stripped_signature_fails_only_when_a_signature_is_required(
        signed_by_operator: Any, run_cli: Any, tmp_path: Path) -> None:
    """Cutting the signature's update off leaves the rendered revision, which verifies as
    "not signed"; `--require-signature` turns that into a failure."""
    issued = _issue(signed_by_operator)
    stripped = base_revision(issued.pdf)
    assert stripped != issued.pdf
    checks = verify_report(stripped, _keys(signed_by_operator))
    assert all_passed(checks)
    required = signature_required(checks)
    assert not all_passed(required)
    assert [c.detail for c in required if c.name == "signature"] == [
        "not signed, and a signature is required"]
    assert all_passed(signature_required(verify_report(issued.pdf, _keys(signed_by_operator))))
    path, keyfile = tmp_path / "stripped.pdf", tmp_path / "keys.txt"
    path.write_bytes(stripped)
    keyfile.write_text("".join(f"{k.to_string()}\n" for k in _keys(signed_by_operator)))
    assert run_cli("verify-report", str(path), "--key", str(keyfile)).returncode == 0
    refused = run_cli("verify-report", str(path), "--key", str(keyfile), "--require-signature")
    assert refused.returncode == 1 and "FAIL signature" in refused.stdout
