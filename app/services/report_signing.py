"""PAdES signatures on issued reports: the report-signing certificate, its key, and signing."""

from __future__ import annotations

import fcntl
import io
import logging
import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID

from app.config import Config
from app.ledger.errors import LedgerError
from app.services.report_signature import quiet_pyhanko

log = logging.getLogger(__name__)
FIELD_NAME = "mlaudit-report-signature"
SELF_SIGNED_DAYS = 3650
RSA_BITS = 3072
TSA_TIMEOUT = 10.0  # seconds a timestamp request may take
TSA_TOKEN_ROOM = 8192  # bytes for a timestamp token and its certificates (a larger one: measured)
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}


class ReportSigningError(LedgerError):
    """The report-signing key or certificate is unusable, or signing failed."""


@dataclass(frozen=True)
class SigningFiles:
    key: Path
    cert: Path
    supplied: bool  # by the operator (MLAUDIT_REPORT_SIGNING_KEY/CERT), not made here


def files_of(config: Config) -> SigningFiles:
    return SigningFiles(config.report_key_path, config.report_cert_path,
                        config.report_signing_supplied)


def prepare(config: Config) -> ReportSigner:
    """At start: make the self-signed pair if the operator supplied none (saying so), then
    load the signer, so a bad key or certificate stops the start."""
    files = files_of(config)
    if ensure_self_signed(files, config.origin):
        message = (f"mlaudit: made a self-signed report-signing certificate {files.cert} "
                   f"(key {files.key}, mode 0600); set MLAUDIT_REPORT_SIGNING_KEY and "
                   "MLAUDIT_REPORT_SIGNING_CERT to sign reports with your own")
        print(message)  # the command line's (and a first start's) own words
        log.info("%s", message.removeprefix("mlaudit: "))  # the service's log
    return signer_for(files)


def common_name(cert: Any) -> str:
    """The certificate's subject CN (what a viewer shows as the signer), else its whole name."""
    return str(cert.subject.native.get("common_name") or cert.subject.human_friendly)


def reason(bundle_sha256: str) -> str:
    """The signature's stated meaning, shown by a viewer as its "reason"."""
    return f"mlaudit audit report: evidence bundle SHA-256 {bundle_sha256}"


def self_signed_subject(origin: str) -> str:
    return f"mlaudit report signing (self-signed) {origin}"


def ensure_self_signed(files: SigningFiles, origin: str) -> bool:
    """Make the self-signed pair when the operator supplied none and none exists yet; True if
    made. The key file is created 0600 from the start; concurrent first starts (workers)
    serialise on a lock file, so exactly one pair is made."""
    if files.supplied or files.key.exists():
        return False
    try:
        files.key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(files.key.parent / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if files.key.exists():
                return False
            key, cert = _self_signed(origin)
            files.cert.write_bytes(cert)
            fd = os.open(files.key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(key)
    except OSError as exc:
        raise ReportSigningError(f"cannot create {files.key}: {exc.strerror}") from exc
    return True


def _self_signed(origin: str) -> tuple[bytes, bytes]:
    """(PKCS #8 key, certificate) as PEM: CN "mlaudit report signing (self-signed) <origin>"."""
    # RSA, not ECDSA: pyHanko declares a P-256 signature as ISO/TS 32002, which makes the file
    # PDF 2.0, and the report is PDF/A-3 (PDF 1.7). RSA keeps it at 1.7 + the PAdES extension.
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self_signed_subject(origin))])
    now = datetime.now(UTC).replace(microsecond=0)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=SELF_SIGNED_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False,
                                         False), critical=True)
            .sign(key, hashes.SHA256()))
    return (key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()),
            cert.public_bytes(serialization.Encoding.PEM))


def _read(path: Path, what: str) -> tuple[bytes, os.stat_result]:
    try:
        return path.read_bytes(), path.stat()
    except OSError as exc:
        raise ReportSigningError(f"cannot read the report-signing {what} {path}: "
                                 f"{exc.strerror}") from exc


def _private_key(path: Path) -> Any:
    data, st = _read(path, "key")
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ReportSigningError(f"report-signing key {path} is accessible to others; "
                                 "run chmod 600 on it")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ReportSigningError(f"report-signing key {path} is not an unencrypted PEM "
                                 "private key") from exc
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
                      | ed25519.Ed25519PrivateKey):
        raise ReportSigningError(f"report-signing key {path} is not an RSA, EC or Ed25519 key")
    return key


def _certificates(path: Path) -> list[x509.Certificate]:
    data, _ = _read(path, "certificate")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise ReportSigningError(f"report-signing certificate {path} is not PEM") from exc
    return certs


class ReportSigner:
    """The operator's (or the self-signed) certificate and key, loaded once."""

    def __init__(self, files: SigningFiles) -> None:
        quiet_pyhanko()
        from asn1crypto import x509 as asn1_x509
        from pyhanko_certvalidator.registry import SimpleCertificateStore

        key, certs = _private_key(files.key), _certificates(files.cert)
        der = [c.public_bytes(serialization.Encoding.DER) for c in certs]
        public = serialization.PublicFormat.SubjectPublicKeyInfo
        if key.public_key().public_bytes(serialization.Encoding.DER, public) != \
                certs[0].public_key().public_bytes(serialization.Encoding.DER, public):
            raise ReportSigningError(f"report-signing key {files.key} does not match the "
                                     f"first certificate in {files.cert}")
        chain = [asn1_x509.Certificate.load(d) for d in der]
        self.certificate = chain[0]
        self.signer_name = common_name(chain[0])
        self.cert_bytes = sum(len(d) for d in der)
        self._signer = _loaded_signer(key, chain[0], SimpleCertificateStore.from_certs(chain))  # type: ignore[no-untyped-call]

    def sign(self, pdf: bytes, bundle_sha256: str, location: str | None,
             tsa_url: str | None) -> bytes:
        """pdf with a PAdES signature appended as an incremental update (B-T with a TSA)."""
        quiet_pyhanko()
        from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
        from pyhanko.sign import fields, signers
        from pyhanko.sign.general import SigningError
        from pyhanko.sign.timestamps import HTTPTimeStamper

        meta = signers.PdfSignatureMetadata(
            field_name=FIELD_NAME, reason=reason(bundle_sha256), location=location,
            name=self.signer_name, md_algorithm="sha256",
            subfilter=fields.SigSeedSubFilter.PADES)
        stamper = HTTPTimeStamper(tsa_url, timeout=TSA_TIMEOUT) if tsa_url else None
        # Room for the CMS object (the certificates, the signature, attributes, and a TSA's
        # token with its own certificates), in hex digits as the file holds it. A fixed size
        # spares pyHanko a dry-run signature (and a second TSA request) to measure it.
        reserved = 2 * (2048 + self.cert_bytes + (TSA_TOKEN_ROOM if stamper else 0))
        try:
            try:
                out = signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), meta,
                                       signer=self._signer, timestamper=stamper,
                                       bytes_reserved=reserved)
            except SigningError as exc:
                if "larger than expected" not in str(exc):
                    raise
                # An unusually large timestamp token: let pyHanko measure it this once.
                out = signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), meta,
                                       signer=self._signer, timestamper=stamper)
        except Exception as exc:  # pyHanko and the TSA client raise many kinds
            raise ReportSigningError(f"signing the report failed: {exc}") from exc
        return bytes(out.getvalue())


def _loaded_signer(key: Any, cert: Any, registry: Any) -> Any:
    """A pyHanko SimpleSigner that signs with the key loaded once: SimpleSigner re-parses
    (and for RSA re-validates, ~0.1 s) its key on every signature."""
    from asn1crypto import keys as asn1_keys
    from pyhanko.sign import signers

    class Loaded(signers.SimpleSigner):
        def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
            algorithm = _HASHES[digest_algorithm.lower()]()
            if isinstance(key, rsa.RSAPrivateKey):
                return bytes(key.sign(data, padding.PKCS1v15(), algorithm))
            if isinstance(key, ec.EllipticCurvePrivateKey):
                return bytes(key.sign(data, ec.ECDSA(algorithm)))
            return bytes(key.sign(data))

    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return Loaded(cert, asn1_keys.PrivateKeyInfo.load(der), registry)


_loaded: dict[tuple[Path, Path], tuple[tuple[Any, ...], ReportSigner]] = {}


def signer_for(files: SigningFiles) -> ReportSigner:
    """The signer for these files, read again only when a file changes."""
    try:
        stamp = tuple((s.st_ino, s.st_mtime_ns, s.st_size, s.st_mode)
                      for s in (files.key.stat(), files.cert.stat()))
    except OSError:
        stamp = ()  # ReportSigner says why
    cached = _loaded.get((files.key, files.cert))
    if stamp and cached is not None and cached[0] == stamp:
        return cached[1]
    signer = ReportSigner(files)
    if stamp:
        _loaded[(files.key, files.cert)] = (stamp, signer)
    return signer
