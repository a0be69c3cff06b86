"""Client request signatures (docs/ledger-format.md, "Client request signatures"): the exact
bytes a client signs with Ed25519, built from fields every signed entry records, so that a
verifier holding only the ledger can check them.

    mlaudit-request-signature/v1 LF
    <METHOD> LF
    <target> LF
    <timestamp> LF
    <body-sha256> LF

target is the canonical path (percent-decoded, then percent-encoded with `PATH_SAFE` left as
is) followed by `?` and the query string exactly as sent when there is one; timestamp is the
client's clock in whole seconds since the Unix epoch; body-sha256 is the lowercase hex SHA-256
of the request body's bytes exactly as sent (of no bytes when there is no body).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

SCHEME: Final = "mlaudit-request-signature/v1"
WINDOW_SECONDS: Final = 300
"""How far a signature's timestamp may be from the server's clock, either way (5 minutes)."""
PATH_SAFE: Final = "/:@!$&'()*+,;=-._~"  # RFC 3986 pchar (unreserved, sub-delims, : @) and /
FIELDS: Final = ("scheme", "key_id", "sig", "method", "target", "timestamp", "body_sha256")
"""The members of an entry's body.client_signature: what was signed, by which key, and how."""

_METHOD = re.compile(r"[A-Z]{1,16}")
_TIMESTAMP = re.compile(r"0|[1-9][0-9]{0,11}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_QUERY = re.compile(r"[\x21-\x7e]*")  # what a query string is on the wire: printable ASCII


class SignatureFormatError(ValueError):
    """A field of a client signature cannot be part of a signed string."""


def canonical_target(path: str, query: str = "") -> str:
    """The target a signature covers: the percent-decoded path (what the server routes on)
    encoded one way, and the query string as sent. A client signs this for the URL it calls
    (`canonical_target(unquote(path), query)`); the server rebuilds it from the request."""
    if not _QUERY.fullmatch(query):
        raise SignatureFormatError("the query string must be printable ASCII, as sent")
    try:
        target = quote(path, safe=PATH_SAFE, errors="strict")
    except UnicodeEncodeError as exc:
        raise SignatureFormatError("the path is not UTF-8 text") from exc
    return f"{target}?{query}" if query else target


def signing_input(method: str, target: str, timestamp: str, body_sha256: str) -> bytes:
    """The bytes an Ed25519 client signature is over (one LF after each of five lines)."""
    if not _METHOD.fullmatch(method):
        raise SignatureFormatError("the method must be 1-16 capital letters")
    if not target.startswith("/") or not all(0x21 <= ord(c) <= 0x7e for c in target):
        raise SignatureFormatError("the target must be an encoded path starting with /")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise SignatureFormatError("the timestamp must be whole seconds since the epoch")
    if not _SHA256.fullmatch(body_sha256):
        raise SignatureFormatError("body_sha256 must be 64 lowercase hex digits")
    return "\n".join((SCHEME, method, target, timestamp, body_sha256, "")).encode("ascii")


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def key_id(public_key: bytes) -> str:
    """16 hex digits: the first 8 bytes of SHA-256(public key), as registered."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def verifies(public_key: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def verify_recorded(recorded: Mapping[str, Any], public_key: bytes) -> bool:
    """Check an entry's body.client_signature with the public key its client_key.registered
    entry holds: rebuild the signed bytes from the recorded fields alone."""
    if recorded.get("scheme") != SCHEME or recorded.get("key_id") != key_id(public_key):
        return False
    try:
        message = signing_input(recorded["method"], recorded["target"],
                                recorded["timestamp"], recorded["body_sha256"])
        signature = base64.b64decode(recorded["sig"], validate=True)
    except (KeyError, TypeError, SignatureFormatError, binascii.Error):
        return False
    return verifies(public_key, signature, message)
