"""CMS SignedData (RFC 5652) as a PAdES signature holds it, verified with cryptography alone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

# The DER reader: just what a CMS signature needs (low tag numbers, definite lengths).


class CmsError(ValueError):
    """The signature is not what this check reads, or it does not verify: the message says."""


@dataclass(frozen=True)
class Tlv:
    """One DER element: its tag byte, its whole encoding and its contents octets."""

    tag: int
    der: bytes
    body: bytes

    @property
    def children(self) -> list[Tlv]:
        return read_all(self.body)


def read(data: bytes, at: int = 0) -> tuple[Tlv, int]:
    """The element starting at ``at`` and where the next one starts."""
    if at + 2 > len(data) or data[at] & 0x1F == 0x1F:
        raise CmsError("the signature is not DER (truncated, or a high tag number)")
    start, length = at + 2, data[at + 1]
    if length & 0x80:
        size = length & 0x7F
        if not 0 < size <= 4:  # 0: BER's indefinite length, not DER
            raise CmsError("the signature is not DER (an indefinite or huge length)")
        length, start = int.from_bytes(data[start:start + size], "big"), start + size
    end = start + length
    if end > len(data):
        raise CmsError("the signature is not DER (truncated)")
    return Tlv(data[at], data[at:end], data[start:end]), end


def read_all(data: bytes) -> list[Tlv]:
    found, at = [], 0
    while at < len(data):
        element, at = read(data, at)
        found.append(element)
    return found


def oid(element: Tlv) -> str:
    if element.tag != 0x06 or not element.body:
        raise CmsError("the signature is not DER (an object identifier expected)")
    arcs, value = [], 0
    for byte in element.body:
        value = value << 7 | byte & 0x7F
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(map(str, [first, arcs[0] - 40 * first, *arcs[1:]]))


def integer(element: Tlv) -> int:
    return int.from_bytes(element.body, "big", signed=True)


def _field(items: list[Tlv], tag: int) -> Tlv | None:
    return next((item for item in items if item.tag == tag), None)


# Object identifiers (RFC 5652, 5035, 3161, 4055, 5758, 8410).
SIGNED_DATA, TST_INFO = "1.2.840.113549.1.7.2", "1.2.840.113549.1.9.16.1.4"
CONTENT_TYPE, MESSAGE_DIGEST = "1.2.840.113549.1.9.3", "1.2.840.113549.1.9.4"
SIGNATURE_TIMESTAMP = "1.2.840.113549.1.9.16.2.14"
SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.47"
HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "2.16.840.1.101.3.4.2.1": hashes.SHA256, "2.16.840.1.101.3.4.2.2": hashes.SHA384,
    "2.16.840.1.101.3.4.2.3": hashes.SHA512}
_RSA = {"1.2.840.113549.1.1.1": None, "1.2.840.113549.1.1.11": hashes.SHA256,
        "1.2.840.113549.1.1.12": hashes.SHA384, "1.2.840.113549.1.1.13": hashes.SHA512}
_ECDSA = {"1.2.840.10045.2.1": None, "1.2.840.10045.4.3.2": hashes.SHA256,
          "1.2.840.10045.4.3.3": hashes.SHA384, "1.2.840.10045.4.3.4": hashes.SHA512}
_PSS, _ED25519 = "1.2.840.113549.1.1.10", "1.3.101.112"


@dataclass(frozen=True)
class Signed:
    """A SignerInfo that verified: its certificate, signature value and unsigned attributes."""

    certificate: x509.Certificate
    signature: bytes
    unsigned: dict[str, list[Tlv]]
    content: bytes
    content_type: str
    algorithm: str
    """The signature algorithm's object identifier, with the digest's: "<sig> <digest>"."""


def _hash(identifier: Tlv) -> hashes.HashAlgorithm:
    name = oid(identifier.children[0])
    if name not in HASHES:
        raise CmsError(f"unsupported digest algorithm {name}")
    return HASHES[name]()


def _attributes(element: Tlv | None) -> dict[str, list[Tlv]]:
    """Attribute type -> its values, for a [0] signedAttrs or [1] unsignedAttrs."""
    found: dict[str, list[Tlv]] = {}
    for attribute in element.children if element is not None else []:
        kind, values = attribute.children[:2]
        found[oid(kind)] = values.children
    return found


def _signer_certificate(sid: Tlv, certificates: list[x509.Certificate]) -> x509.Certificate:
    """The certificate the SignerInfo names (issuerAndSerialNumber, or [0] key identifier)."""
    for cert in certificates:
        if sid.tag == 0x30:
            issuer, serial = sid.children[:2]
            if cert.serial_number == integer(serial) and cert.issuer.public_bytes() == issuer.der:
                return cert
        elif sid.tag == 0x80:
            try:
                ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
            except x509.ExtensionNotFound:
                continue
            if ski.value.digest == sid.body:
                return cert
    raise CmsError("the signer's certificate is not in the signature")


def _pss(parameters: Tlv) -> tuple[hashes.HashAlgorithm, padding.PSS]:
    digest, mgf_digest, salt = None, None, 20
    for item in parameters.children:
        if item.tag == 0xA0:
            digest = _hash(item.children[0])
        elif item.tag == 0xA1:
            mgf_digest = _hash(item.children[0].children[1])
        elif item.tag == 0xA2:
            salt = integer(item.children[0])
    if digest is None or mgf_digest is None:
        raise CmsError("unsupported RSASSA-PSS parameters (SHA-1)")
    return digest, padding.PSS(padding.MGF1(mgf_digest), salt)


def verify_signature(key: object, algorithm: Tlv, digest: hashes.HashAlgorithm,
                     signature: bytes, data: bytes) -> None:
    """InvalidSignature unless ``signature`` over ``data`` verifies with ``key``."""
    name = oid(algorithm.children[0])
    if name in _RSA and isinstance(key, rsa.RSAPublicKey):
        key.verify(signature, data, padding.PKCS1v15(), (_RSA[name] or type(digest))())
    elif name == _PSS and isinstance(key, rsa.RSAPublicKey):
        pss_digest, pss = _pss(algorithm.children[1])
        key.verify(signature, data, pss, pss_digest)
    elif name in _ECDSA and isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(signature, data, ec.ECDSA((_ECDSA[name] or type(digest))()))
    elif name == _ED25519 and isinstance(key, ed25519.Ed25519PublicKey):
        key.verify(signature, data)
    else:
        raise CmsError(f"unsupported signature algorithm {name} for the signer's "
                       f"{type(key).__name__.lstrip('_')}")


def _check_signing_certificate(attributes: dict[str, list[Tlv]],
                               certificate: x509.Certificate) -> None:
    """The signed ESS signing-certificate-v2 attribute (RFC 5035; PAdES requires it), if
    present, names this certificate: the certificates and the signer's identifier are not
    signed, this attribute is."""
    for value in attributes.get(SIGNING_CERTIFICATE_V2, [])[:1]:
        first = value.children[0].children[0].children  # certs[0]: ESSCertIDv2
        algorithm = _hash(first[0]) if first[0].tag == 0x30 else hashes.SHA256()
        cert_hash = first[1] if first[0].tag == 0x30 else first[0]
        der = certificate.public_bytes(serialization.Encoding.DER)
        if cert_hash.body != _digest(algorithm, der):
            raise CmsError("the signed signing-certificate attribute names another "
                           "certificate than the one the signature carries")


def _digest(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    computed = hashes.Hash(algorithm)
    computed.update(data)
    return computed.finalize()


def _open(der: bytes) -> tuple[list[Tlv], list[x509.Certificate], list[Tlv]]:
    """(encapContentInfo, certificates, the one SignerInfo's fields) of a ContentInfo."""
    info, _ = read(der)
    kind, wrapped = info.children[:2]
    if oid(kind) != SIGNED_DATA or wrapped.tag != 0xA0:
        raise CmsError("the signature is not a CMS SignedData")
    items = wrapped.children[0].children
    holder = _field(items, 0xA0)
    certificates = [x509.load_der_x509_certificate(c.der)
                    for c in (holder.children if holder else []) if c.tag == 0x30]
    if items[-1].tag != 0x31 or len(items[-1].children) != 1:
        raise CmsError("the signature does not hold exactly one signer")
    return items[2].children, certificates, items[-1].children[0].children


def verify_signed_data(der: bytes, detached: bytes | None) -> Signed:
    """Verify a ContentInfo holding a SignedData over ``detached`` (or, when None, over its
    own encapsulated content): the messageDigest attribute is the content's digest and the
    signature over the signed attributes verifies with the signer's certificate."""
    encapsulated, certificates, (_, sid, digest_algorithm, *rest) = _open(der)
    signed, at = _field(rest, 0xA0), next((i for i, f in enumerate(rest) if f.tag == 0x04), 0)
    if signed is None or not at:
        raise CmsError("the signature has no signed attributes")
    content = detached if detached is not None else encapsulated[1].children[0].body
    attributes, digest = _attributes(signed), _hash(digest_algorithm)
    if [oid(v) for v in attributes.get(CONTENT_TYPE, [])] != [oid(encapsulated[0])]:
        raise CmsError("the signed content type is not the encapsulated content's")
    if [v.body for v in attributes.get(MESSAGE_DIGEST, [])] != [_digest(digest, content)]:
        raise CmsError("the signed bytes were changed after signing (their digest differs)")
    certificate = _signer_certificate(sid, certificates)
    _check_signing_certificate(attributes, certificate)
    try:  # the signature is over the attributes' DER as a SET OF (RFC 5652, 5.4)
        verify_signature(certificate.public_key(), rest[at - 1], digest, rest[at].body,
                         b"\x31" + signed.der[1:])
    except InvalidSignature:
        raise CmsError("the signature does not verify with the signer's certificate") from None
    return Signed(certificate, rest[at].body, _attributes(_field(rest, 0xA1)), content,
                  oid(encapsulated[0]),
                  f"{oid(rest[at - 1].children[0])} {oid(digest_algorithm.children[0])}")


def timestamp(signed: Signed) -> tuple[datetime, x509.Certificate] | None:
    """(time, TSA certificate) of the signature's RFC 3161 timestamp token, if it has one:
    the token verifies and its message imprint is the digest of the signature value."""
    tokens = signed.unsigned.get(SIGNATURE_TIMESTAMP, [])
    if not tokens:
        return None
    try:
        token = verify_signed_data(tokens[0].der, None)
        if token.content_type != TST_INFO:
            raise CmsError("not a TSTInfo")
        fields = read(token.content)[0].children
        imprint, when = fields[2].children, _field(fields, 0x18)
    except (CmsError, IndexError, ValueError) as exc:
        raise CmsError(f"the signature's timestamp token does not verify ({exc})") from None
    name = oid(imprint[0].children[0])
    if name not in HASHES or when is None or \
            imprint[1].body != _digest(HASHES[name](), signed.signature):
        raise CmsError("the signature's timestamp token is not over this signature")
    text = when.body.decode("ascii").rstrip("Z")
    moment = datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    if "." in text:
        moment = moment.replace(microsecond=int(text.split(".")[1][:6].ljust(6, "0")))
    return moment, token.certificate
