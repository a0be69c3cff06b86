"""Test PKI: certificates made on the spot, and a real RFC 3161 time-stamping server (a thread)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from asn1crypto import keys as asn1_keys
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Issued:
    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    @property
    def asn1(self) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(self.cert.public_bytes(serialization.Encoding.DER))

    def write(self, directory: Path, stem: str) -> tuple[Path, Path]:
        """(key file 0600, certificate file) as PEM."""
        key_file, cert_file = directory / f"{stem}-key.pem", directory / f"{stem}-cert.pem"
        key_file.write_bytes(self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        key_file.chmod(0o600)
        cert_file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        return key_file, cert_file


def issue(common_name: str, issuer: Issued | None = None, *, ca: bool = False,
          time_stamping: bool = False) -> Issued:
    """An RSA key and a certificate for it, self-signed unless an issuer is given."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    builder = (x509.CertificateBuilder().subject_name(name)
               .issuer_name(issuer.cert.subject if issuer else name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(hours=1))
               .not_valid_after(now + timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(not ca, not ca, False, False, False, ca, ca, False,
                                            False), critical=True))
    if time_stamping:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
    signer = issuer.key if issuer else key
    return Issued(key, builder.sign(signer, hashes.SHA256()))


def _handler(stamper: Any) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            request = tsp.TimeStampReq.load(body)
            answer = stamper.request_tsa_response(request).dump()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            self.server.requests += 1  # type: ignore[attr-defined]

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def time_stamping_authority() -> Iterator[tuple[str, Issued, Any]]:
    """(URL, root CA, server) of a local RFC 3161 TSA answering over HTTP; server.requests
    counts the requests it answered. Responses are built by pyHanko's DummyTimeStamper."""
    from pyhanko.sign.timestamps import DummyTimeStamper

    root = issue("mlaudit test TSA root", ca=True)
    unit = issue("mlaudit test TSA unit", root, time_stamping=True)
    key_info = asn1_keys.PrivateKeyInfo.load(unit.key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    stamper = DummyTimeStamper(unit.asn1, key_info, certs_to_embed=[root.asn1])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stamper))
    server.requests = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/tsa", root, server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
