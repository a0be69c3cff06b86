"""The PAdES check without pyHanko (report_signature_light: the standalone verifier's, with
cryptography and pypdf only) agrees with pyHanko's on real signed reports: a genuine one
passes with the same signer and timestamp; a changed byte, an update appended after signing
(a note, a page, a white box drawn over a figure) and a forger's re-signed rewritten page fail."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pki
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from test_report_signatures import _annotated, _extra_page, _flip, _issue, _keys, _services

from app.config import Config
from app.services import report_signature
from app.services import report_signature_light as light
from app.services.report_bundle import render_bundle
from app.services.report_cms import Signed, read_all, verify_signed_data
from app.services.report_verify import all_passed, verify_report

OPERATOR = "Example Bank model risk office"
RSA, SHA = "1.2.840.113549.1.1", "2.16.840.1.101.3.4.2"
ECDSA_SHA256, ECDSA_SHA384 = f"1.2.840.10045.4.3.2 {SHA}.1", f"1.2.840.10045.4.3.3 {SHA}.2"
ED25519_SHA512 = f"1.3.101.112 {SHA}.3"


@pytest.fixture(scope="module")
def operator() -> pki.Issued:
    return pki.issue(OPERATOR)


@pytest.fixture
def signed(config: Config, operator: pki.Issued, tmp_path: Path) -> Iterator[Any]:
    key, cert = operator.write(tmp_path, "operator")
    yield from _services(config, report_signing_key=key, report_signing_cert=cert)


@pytest.fixture
def no_pyhanko(monkeypatch: pytest.MonkeyPatch) -> None:
    """report_signature.check as the standalone verifier runs it: pyHanko does not import."""
    def missing() -> None:
        raise ImportError("No module named 'pyhanko'")

    monkeypatch.setattr(report_signature, "quiet_pyhanko", missing)


def _both(pdf: bytes) -> tuple[tuple[bool | None, str], tuple[bool | None, str]]:
    """(pyHanko's verdict, the light check's)."""
    return report_signature.check(pdf), light.check(pdf)


def white_box(pdf: bytes) -> bytes:
    """An incremental update after the signature that paints page 1 white: no text changes."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    box = writer.add_object(generic.StreamObject(stream_data=b"q 1 g 0 0 612 792 re f Q"))
    contents = page.raw_get("/Contents")
    before = list(contents) if isinstance(contents, generic.ArrayObject) else [contents]
    page[generic.NameObject("/Contents")] = generic.ArrayObject([*before, box])
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_genuine_report_passes_with_pyhankos_verdict(signed: Any) -> None:
    issued = _issue(signed)
    (heavy_ok, heavy), (ok, detail) = _both(issued.pdf)
    assert heavy_ok is True and ok is True, detail
    assert detail == f"{heavy} ({light.NOT_VALIDATED})"  # same signer, fingerprint, timestamp
    assert detail.startswith(f"signed by {OPERATOR!r} (certificate SHA-256 ")


def test_without_pyhanko_verify_report_checks_the_signature_lightly(
        signed: Any, no_pyhanko: None) -> None:
    issued = _issue(signed)
    checks = {c.name: c for c in verify_report(issued.pdf, _keys(signed))}
    assert checks["signature"].ok is True and all_passed(list(checks.values()))
    assert checks["signature"].detail == light.check(issued.pdf)[1]
    boxed = {c.name: c for c in verify_report(white_box(issued.pdf), _keys(signed))}
    assert boxed["figures"].ok and boxed["bytes"].ok  # the text and the rendering are intact
    assert boxed["signature"].ok is False  # the box drawn after signing is not
    assert "bytes appended after the signed range" in boxed["signature"].detail


def test_a_timestamp_is_checked_and_named(config: Config, operator: pki.Issued,
                                          tmp_path: Path) -> None:
    key, cert = operator.write(tmp_path, "operator")
    with pki.time_stamping_authority() as (url, _, _):
        for services in _services(config, report_signing_key=key, report_signing_cert=cert,
                                  report_tsa_url=url):
            pdf = _issue(services).pdf
    (heavy_ok, heavy), (ok, detail) = _both(pdf)
    assert heavy_ok and ok and detail == f"{heavy} ({light.NOT_VALIDATED})"
    assert "; timestamp 20" in detail and "by TSA 'mlaudit test TSA unit'" in detail


def _signed(pdf: bytes) -> Signed:
    (signature,) = light.signature_dictionaries(light.PdfReader(io.BytesIO(pdf)))
    return verify_signed_data(*reversed(light.signed_range(pdf, signature)))


def _signature_value_at(pdf: bytes) -> int:
    """Where the hex digits of the CMS signature value sit in the file (not signed bytes)."""
    value = _signed(pdf).signature
    return pdf.lower().index(value.hex().encode()) + len(value)


def test_a_changed_byte_fails_as_with_pyhanko(signed: Any) -> None:
    pdf = _issue(signed).pdf
    reason = pdf.index(b"/Reason (mlaudit audit report")
    for changed in (_flip(pdf, reason + 10), _flip(pdf, len(pdf) // 3), _flip(pdf, 200)):
        (heavy_ok, _), (ok, detail) = _both(changed)
        assert heavy_ok is False and ok is False
        assert detail == ("signature 1: the signed bytes were changed after signing (their "
                          "digest differs)")
    at = _signature_value_at(pdf)
    other = b"0" if pdf[at:at + 1] != b"0" else b"1"
    forged_value = pdf[:at] + other + pdf[at + 1:]
    (heavy_ok, _), (ok, detail) = _both(forged_value)
    assert heavy_ok is False and ok is False
    assert detail == "signature 1: the signature does not verify with the signer's certificate"


def _renamed(pdf: bytes, operator: pki.Issued) -> bytes:
    """The CMS with the signer's certificate swapped for one a stranger's CA issued for the
    same public key under another name: the certificates and the signer's identifier are not
    signed (the /Contents string is outside the byte range, and they are not signed
    attributes); only the signed signing-certificate attribute ties the signer's."""
    from asn1crypto import cms
    from asn1crypto import x509 as asn1_x509

    stranger = pki.issue("a stranger's CA", ca=True)
    now = datetime.now(UTC)
    other = asn1_x509.Certificate.load(
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(
            NameOID.COMMON_NAME, "Another Bank")])).issuer_name(stranger.cert.subject)
        .public_key(operator.cert.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + timedelta(days=1))
        .sign(stranger.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))
    (signature,) = light.signature_dictionaries(light.PdfReader(io.BytesIO(pdf)))
    _, der = light.signed_range(pdf, signature)
    info = cms.ContentInfo.load(der)
    signed_data = info["content"]
    signed_data["certificates"] = cms.CertificateSet([cms.CertificateChoices(
        name="certificate", value=other)])
    signed_data["signer_infos"][0]["sid"] = cms.SignerIdentifier(
        name="issuer_and_serial_number", value=cms.IssuerAndSerialNumber(
            {"issuer": other.issuer, "serial_number": other.serial_number}))
    a, b = (int(n) for n in signature["/ByteRange"][1:3])
    digits = info.dump(force=True).hex().encode()
    return pdf[:a + 1] + digits.ljust(b - a - 2, b"0") + pdf[b - 1:]


def test_a_certificate_swapped_for_another_name_fails(signed: Any, operator: pki.Issued) -> None:
    renamed = _renamed(_issue(signed).pdf, operator)
    (heavy_ok, heavy), (ok, detail) = _both(renamed)
    assert heavy_ok is False and "Signing certificate attribute does not match" in heavy
    assert ok is False and detail == ("signature 1: the signed signing-certificate attribute "
                                      "names another certificate than the one the signature "
                                      "carries")


@pytest.mark.parametrize("update", [_annotated, _extra_page, white_box])
def test_an_update_after_signing_fails_as_with_pyhanko(signed: Any, update: Any) -> None:
    pdf = _issue(signed).pdf
    changed = update(pdf)
    (heavy_ok, heavy), (ok, detail) = _both(changed)
    assert heavy_ok is False and "an incremental update" in heavy
    assert ok is False and detail == (f"signature 1: the file was changed after signing: "
                                      f"{len(changed) - len(pdf)} bytes appended after the "
                                      "signed range")


def _forged(rendered: bytes, tmp_path: Path, change: Any) -> bytes:
    """The rendered report re-signed by a forger whose signing update also changes page 1."""
    writer = IncrementalPdfFileWriter(io.BytesIO(rendered))
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    change(writer, page)
    writer.update_container(page)
    key, cert = pki.issue("a forger").write(tmp_path, "forger")
    forger = signers.SimpleSigner.load(str(key), str(cert))
    assert forger is not None
    return signers.sign_pdf(writer, signers.PdfSignatureMetadata(
        field_name="sig", subfilter=fields.SigSeedSubFilter.PADES), signer=forger).getvalue()


def _stamp(writer: Any, page: Any) -> None:
    stamp = writer.add_object(generic.StreamObject(stream_data=b"BT 72 72 Td (APPROVED) Tj ET"))
    page[generic.NameObject("/Contents")] = generic.ArrayObject([page.raw_get("/Contents"),
                                                                 stamp])


def _crop(writer: Any, page: Any) -> None:
    page[generic.NameObject("/MediaBox")] = generic.ArrayObject(
        [generic.NumberObject(n) for n in (0, 400, 612, 792)])


def _white_square(writer: Any, page: Any) -> None:
    """A visible annotation (an opaque white square) over the page's top half."""
    square = writer.add_object(generic.DictionaryObject({
        generic.NameObject("/Type"): generic.NameObject("/Annot"),
        generic.NameObject("/Subtype"): generic.NameObject("/Square"),
        generic.NameObject("/Rect"): generic.ArrayObject(
            [generic.NumberObject(n) for n in (0, 400, 612, 792)]),
        generic.NameObject("/IC"): generic.ArrayObject([generic.NumberObject(1)] * 3),
        generic.NameObject("/C"): generic.ArrayObject([generic.NumberObject(1)] * 3)}))
    page[generic.NameObject("/Annots")] = generic.ArrayObject([square])


@pytest.mark.parametrize(("change", "what"), [
    (_stamp, "its content stream"), (_crop, "its /MediaBox"),
    (_white_square, "an annotation that is not an invisible signature field")])
def test_a_forger_resigning_a_rewritten_page_fails(signed: Any, tmp_path: Path, change: Any,
                                                   what: str) -> None:
    forged = _forged(render_bundle(_issue(signed).bundle), tmp_path, change)
    ok, detail = light.check(forged)
    assert ok is False and detail == f"the signature's revision rewrites page 1 ({what})"
    heavy_ok, heavy = report_signature.check(forged)
    # pyHanko's own rule lets a signing update add an annotation to a page (its widget);
    # verify-report adds the light check's page comparison, so both refuse a visible one.
    assert heavy_ok is False
    assert change is not _white_square or heavy == detail


def test_a_report_with_no_signature_is_not_signed(signed: Any) -> None:
    rendered = render_bundle(_issue(signed).bundle)
    for pdf in (rendered, b"%PDF-1.7 /ByteRange [0 1 2 3] not a PDF", b""):
        assert _both(pdf) == ((None, "not signed"), (None, "not signed"))


def _pair(tmp_path: Path, name: str, key: Any) -> tuple[str, str]:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False,
                                         False), critical=True)
            .sign(key, None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()))
    key_file, cert_file = tmp_path / f"{name}-key.pem", tmp_path / f"{name}-cert.pem"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(key_file), str(cert_file)


def test_every_signature_algorithm_a_report_may_carry(signed: Any, tmp_path: Path) -> None:
    """RSA PKCS #1 v1.5 and PSS, ECDSA P-256 and P-384, Ed25519; SHA-256, -384 and -512."""
    rendered = render_bundle(_issue(signed).bundle)
    rsa_key = pki.issue("rsa").key
    cases = [("rsa", rsa_key, "sha384", False, f"{RSA}.12 {SHA}.2"),
             ("rsa-pss", rsa_key, "sha256", True, f"{RSA}.10 {SHA}.1"),
             ("p256", ec.generate_private_key(ec.SECP256R1()), "sha256", False, ECDSA_SHA256),
             ("p384", ec.generate_private_key(ec.SECP384R1()), "sha384", False, ECDSA_SHA384),
             ("ed25519", ed25519.Ed25519PrivateKey.generate(), "sha512", False, ED25519_SHA512)]
    for name, key, digest, pss, algorithm in cases:
        signer = signers.SimpleSigner.load(*_pair(tmp_path, name, key), prefer_pss=pss)
        assert signer is not None
        pdf = signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(rendered)),
                               signers.PdfSignatureMetadata(
                                   field_name="sig", md_algorithm=digest,
                                   subfilter=fields.SigSeedSubFilter.PADES),
                               signer=signer).getvalue()
        (heavy_ok, heavy), (ok, detail) = _both(pdf)
        assert heavy_ok is True and ok is True, (name, heavy, detail)
        assert detail == f"{heavy} ({light.NOT_VALIDATED})"
        assert _signed(pdf).algorithm == algorithm, name
        (heavy_ok, _), (ok, detail) = _both(_flip(pdf, 300))
        assert heavy_ok is False and ok is False and "digest differs" in detail


def test_the_der_reader_refuses_what_is_not_der() -> None:
    from app.services.report_cms import CmsError, oid, read

    assert oid(read(bytes.fromhex("06092a864886f70d010702"))[0]) == "1.2.840.113549.1.7.2"
    assert [e.body for e in read_all(bytes.fromhex("0401aa0400"))] == [b"\xaa", b""]
    for bad in ("30800000", "3005020101", "1f0100", "3085ffffffffff"):
        with pytest.raises(CmsError, match="not DER"):
            read_all(bytes.fromhex(bad))
