"""In-toto Statement v1 artifact digest statements, signed as DSSE envelopes with Ed25519.

The envelope's ``keyid`` is the signer's full C2SP verifier key string,
``<name>+<hex8 key ID>+<base64(0x01 || public key)>``, exactly as ``GET /api/v1/ledger/keys``
publishes it, so a verifier finds the key by string equality. Per DSSE the keyid is an
unauthenticated hint: it only narrows which keys are tried; trust comes from the signature.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from app.ledger.checkpoint import MAX_SIGNATURES, Signer, VerifierKey
from app.ledger.entry import MAX_SAFE_INTEGER, canonicalize
from app.ledger.errors import EntryError, LedgerError

__all__ = [
    "ARTIFACT_PREDICATE",
    "DsseError",
    "PAYLOAD_TYPE",
    "STATEMENT_TYPE",
    "artifact_predicate",
    "pae",
    "sign_envelope",
    "statement",
    "verify_detached",
    "verify_envelope",
]

ARTIFACT_PREDICATE = "https://mlaudit.dev/artifact-record/v1"
"""predicateType of mlaudit's artifact record statements."""

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"

_SHA256_HEX = re.compile("[0-9a-f]{64}")


class DsseError(LedgerError, ValueError):
    """A statement or DSSE envelope is malformed, or its signature does not verify."""


def statement(name: str, sha256_hex: str, predicate: Mapping[str, object]) -> dict[str, object]:
    """Build an in-toto Statement v1 with one subject, name and its SHA-256 digest."""
    if not isinstance(name, str) or not name:
        raise DsseError("subject name must be a non-empty string")
    if not isinstance(sha256_hex, str) or not _SHA256_HEX.fullmatch(sha256_hex):
        raise DsseError("sha256 digest must be 64 lowercase hex digits")
    if not isinstance(predicate, Mapping):
        raise DsseError("predicate must be a JSON object")
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": name, "digest": {"sha256": sha256_hex}}],
        "predicateType": ARTIFACT_PREDICATE,
        "predicate": dict(predicate),
    }


def artifact_predicate(
    *, run_id: str, size: int, recorded_at: str, actor: str, uri: str | None = None
) -> dict[str, object]:
    """Build the artifact-record predicate; size becomes a decimal string, uri is optional."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise DsseError("artifact size must be a non-negative int")
    predicate: dict[str, object] = {
        "runId": run_id,
        "size": str(size),
        "recordedAt": recorded_at,
        "actor": actor,
    }
    if uri is not None:
        predicate["uri"] = uri
    return predicate


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding; lengths are byte lengths in ASCII decimal."""
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(type_bytes), type_bytes, len(payload), payload)


def _b64decode(text: object, what: str) -> bytes:
    """Decode standard or URL-safe padded base64 strictly (DSSE verifiers must accept both)."""
    if not isinstance(text, str) or not text.isascii():
        raise DsseError(f"{what} is not a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        pass
    try:
        return base64.b64decode(text, altchars=b"-_", validate=True)
    except binascii.Error as exc:
        raise DsseError(f"{what} is not valid base64") from exc


def _check_statement(value: object) -> dict[str, Any]:
    """Check value has the shape of an in-toto Statement v1 and return it."""
    if not isinstance(value, dict):
        raise DsseError("statement must be a JSON object")
    if value.get("_type") != STATEMENT_TYPE:
        raise DsseError(f"statement _type must be {STATEMENT_TYPE}")
    subjects = value.get("subject")
    if not isinstance(subjects, list) or not subjects:
        raise DsseError("statement subject must be a non-empty list")
    for subject in subjects:
        if not isinstance(subject, dict) or not isinstance(subject.get("digest"), dict):
            raise DsseError("every statement subject needs a digest object")
    if not isinstance(value.get("predicateType"), str):
        raise DsseError("statement predicateType must be a string")
    if "predicate" in value and not isinstance(value["predicate"], dict):
        raise DsseError("statement predicate must be a JSON object")
    return value


def _check_json(value: object, path: str) -> None:
    """Reject what RFC 8785 via canonicalize() must not see: floats, unsafe ints, non-JSON."""
    if value is None or isinstance(value, str | bool):
        return
    if isinstance(value, int):
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return
        raise DsseError(f"{path}: integer beyond +-(2**53 - 1); use a decimal string")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise DsseError(f"{path}: object keys must be strings")
            _check_json(item, f"{path}.{key}")
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check_json(item, f"{path}[{index}]")
        return
    raise DsseError(f"{path}: {type(value).__name__} is not canonical JSON (floats never are)")


def sign_envelope(statement: Mapping[str, object], signer: Signer) -> dict[str, object]:
    """Sign the RFC 8785 bytes of statement and return the DSSE JSON envelope."""
    stmt = _check_statement(dict(statement))
    try:
        _check_json(stmt, "statement")
        payload = canonicalize(stmt)
    except RecursionError as exc:
        raise DsseError("statement is nested too deeply") from exc
    except EntryError as exc:
        raise DsseError(f"statement is not canonical JSON: {exc}") from exc
    # checkpoint.Signer.sign() only produces signed-note lines; DSSE needs the raw signature.
    signature = signer.sign_raw(pae(PAYLOAD_TYPE, payload))
    return {
        "payload": base64.b64encode(payload).decode("ascii"),
        "payloadType": PAYLOAD_TYPE,
        "signatures": [
            {
                "keyid": signer.verifier_key.to_string(),
                "sig": base64.b64encode(signature).decode("ascii"),
            }
        ],
    }


def _signatures(envelope: Mapping[str, object]) -> list[tuple[str | None, bytes]]:
    """Return the (keyid, raw signature) pairs of an envelope."""
    entries = envelope.get("signatures")
    if not isinstance(entries, list) or not entries:
        raise DsseError("envelope needs a non-empty signatures list")
    if len(entries) > MAX_SIGNATURES:
        raise DsseError(f"envelope has more than {MAX_SIGNATURES} signatures")
    pairs: list[tuple[str | None, bytes]] = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise DsseError("envelope signature must be a JSON object")
        keyid = entry.get("keyid")
        if keyid is not None and not isinstance(keyid, str):
            raise DsseError("envelope signature keyid must be a string")
        pairs.append((keyid or None, _b64decode(entry.get("sig"), "signature")))
    return pairs


def _candidates(keyid: str | None, keys: list[VerifierKey]) -> list[VerifierKey]:
    """Narrow keys by the keyid hint; no hint means every key is tried."""
    if keyid is None:
        return keys
    return [key for key in keys if key.to_string() == keyid]


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise DsseError(f"duplicate key {key!r} in payload")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise DsseError(f"payload contains non-JSON number {name}")


def _parse_payload(payload: bytes) -> dict[str, Any]:
    """Parse the payload as strict JSON (UTF-8, no duplicate keys, no NaN) and check it."""
    try:
        value = json.loads(
            payload.decode("utf-8"),
            object_pairs_hook=_reject_duplicates,
            parse_constant=_reject_constant,
        )
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise DsseError(f"payload is not JSON: {exc}") from exc
    return _check_statement(value)


def verify_envelope(
    envelope: Mapping[str, object], keys: Iterable[VerifierKey]
) -> dict[str, object]:
    """Verify a DSSE envelope against known keys (one valid signature suffices); return the
    in-toto statement it carries. Raises DsseError if nothing verifies or it is malformed."""
    if not isinstance(envelope, Mapping):
        raise DsseError("envelope must be a JSON object")
    payload_type = envelope.get("payloadType")
    if not isinstance(payload_type, str):
        raise DsseError("envelope payloadType must be a string")
    payload = _b64decode(envelope.get("payload"), "payload")
    message, known = pae(payload_type, payload), list(keys)
    matched = False
    for keyid, signature in _signatures(envelope):
        for key in _candidates(keyid, known):
            matched = True
            if key.verify(message, signature):
                if payload_type != PAYLOAD_TYPE:
                    raise DsseError(f"unsupported payloadType {payload_type!r}")
                return _parse_payload(payload)
    if not matched:
        raise DsseError("envelope has no signature from a known key")
    raise DsseError("no envelope signature verifies")


def verify_detached(message: bytes, signature: bytes, key: VerifierKey) -> bool:
    """Report whether signature is a valid plain Ed25519 signature of message by key."""
    if not isinstance(message, bytes) or not isinstance(signature, bytes):
        return False
    return key.verify(message, signature)
