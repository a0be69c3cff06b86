"""Tests for app.ledger.dsse: in-toto statements in DSSE envelopes signed with Ed25519."""

from __future__ import annotations

import base64
import copy
import hashlib
import json

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.ledger.checkpoint import Signer, VerifierKey
from app.ledger.dsse import (
    ARTIFACT_PREDICATE,
    PAYLOAD_TYPE,
    STATEMENT_TYPE,
    DsseError,
    artifact_predicate,
    pae,
    sign_envelope,
    statement,
    verify_detached,
    verify_envelope,
)
from app.ledger.errors import LedgerError

SEED = bytes(range(32))
OTHER_SEED = bytes(range(32, 64))
DIGEST = hashlib.sha256(b"model weights").hexdigest()
PREDICATE = artifact_predicate(
    run_id="run-42", size=13, recorded_at="2024-05-01T12:00:00.000000Z", actor="alice"
)
# Regression vector: RFC 8785 payload and Ed25519 signature (deterministic) for SEED.
KNOWN_PAYLOAD = (
    '{"_type":"https://in-toto.io/Statement/v1","predicate":{"actor":"alice",'
    '"recordedAt":"2024-05-01T12:00:00.000000Z","runId":"run-42","size":"13"},'
    '"predicateType":"https://mlaudit.dev/artifact-record/v1","subject":[{"digest":'
    f'{{"sha256":"{DIGEST}"}},"name":"models/model.bin"}}]}}'
)
KNOWN_KEYID = "mlaudit.test+e6a3a4cc+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
KNOWN_SIG = (
    "Oc62Czff/EHQS/P1zFUPcNMTSqR/QBVV+lqknWZ6W3p68qsDO3klPDhQxOlFhdWx+3Dkjv0Hp7WLj4KlYQCrDQ=="
)


def make_signer(seed: bytes = SEED, name: str = "mlaudit.test") -> Signer:
    return Signer(name, Ed25519PrivateKey.from_private_bytes(seed))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def raw_envelope(payload_type: str, payload: bytes, seed: bytes = SEED) -> dict[str, object]:
    """An envelope signed directly with the private key, bypassing sign_envelope's checks."""
    signer = make_signer(seed)
    sig = Ed25519PrivateKey.from_private_bytes(seed).sign(pae(payload_type, payload))
    return {
        "payload": b64(payload),
        "payloadType": payload_type,
        "signatures": [{"keyid": signer.verifier_key.to_string(), "sig": b64(sig)}],
    }


@pytest.fixture
def signer() -> Signer:
    return make_signer()


@pytest.fixture
def stmt() -> dict[str, object]:
    return statement("models/model.bin", DIGEST, PREDICATE)


@pytest.fixture
def envelope(stmt: dict[str, object], signer: Signer) -> dict[str, object]:
    return sign_envelope(stmt, signer)


def sig_entry(env: dict[str, object]) -> dict[str, str]:
    sigs = env["signatures"]
    assert isinstance(sigs, list)
    entry = sigs[0]
    assert isinstance(entry, dict)
    return entry


# --- PAE ---------------------------------------------------------------------------------


def test_pae_dsse_protocol_vector() -> None:
    # secure-systems-lab/dsse protocol.md, "Test Vectors".
    got = pae("http://example.com/HelloWorld", b"hello world")
    assert got == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"


def test_pae_in_toto_type_and_empty_body() -> None:
    assert pae(PAYLOAD_TYPE, b"{}") == b"DSSEv1 28 application/vnd.in-toto+json 2 {}"
    assert pae("", b"") == b"DSSEv1 0  0 "


def test_pae_lengths_are_utf8_byte_lengths() -> None:
    assert pae("t\u00e9", "\u00e9".encode()) == b"DSSEv1 3 t\xc3\xa9 2 \xc3\xa9"


def test_pae_body_is_binary_safe() -> None:
    body = bytes(range(256))
    assert pae("x", body) == b"DSSEv1 1 x 256 " + body


# --- Statement ---------------------------------------------------------------------------


def test_statement_shape(stmt: dict[str, object]) -> None:
    assert stmt == {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": "models/model.bin", "digest": {"sha256": DIGEST}}],
        "predicateType": ARTIFACT_PREDICATE,
        "predicate": PREDICATE,
    }
    assert ARTIFACT_PREDICATE == "https://mlaudit.dev/artifact-record/v1"


def test_statement_copies_predicate() -> None:
    predicate: dict[str, object] = {"runId": "r"}
    built = statement("a", DIGEST, predicate)
    predicate["runId"] = "changed"
    assert built["predicate"] == {"runId": "r"}


@pytest.mark.parametrize(
    "digest",
    [DIGEST.upper(), DIGEST[:-1], DIGEST + "0", "g" * 64, "", " " + DIGEST[1:], DIGEST + "\n"],
)
def test_statement_rejects_bad_digest(digest: str) -> None:
    with pytest.raises(DsseError, match="64 lowercase hex"):
        statement("a", digest, {})


def test_statement_rejects_empty_name_and_non_mapping_predicate() -> None:
    with pytest.raises(DsseError):
        statement("", DIGEST, {})
    with pytest.raises(DsseError):
        statement("a", DIGEST, ["x"])  # type: ignore[arg-type]


def test_artifact_predicate_fields() -> None:
    assert PREDICATE == {
        "runId": "run-42",
        "size": "13",
        "recordedAt": "2024-05-01T12:00:00.000000Z",
        "actor": "alice",
    }
    external = artifact_predicate(
        run_id="r", size=2**70, recorded_at="t", actor="a", uri="s3://bucket/key"
    )
    assert external["size"] == str(2**70)
    assert external["uri"] == "s3://bucket/key"


@pytest.mark.parametrize("size", [-1, True, 1.0])
def test_artifact_predicate_rejects_bad_size(size: object) -> None:
    with pytest.raises(DsseError):
        artifact_predicate(run_id="r", size=size, recorded_at="t", actor="a")  # type: ignore[arg-type]


def test_error_hierarchy() -> None:
    assert issubclass(DsseError, LedgerError)
    assert issubclass(DsseError, ValueError)


# --- Signing -----------------------------------------------------------------------------


def test_envelope_shape(
    envelope: dict[str, object], stmt: dict[str, object], signer: Signer
) -> None:
    assert set(envelope) == {"payload", "payloadType", "signatures"}
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    payload = base64.b64decode(str(envelope["payload"]), validate=True)
    assert payload == rfc8785.dumps(json.loads(json.dumps(stmt)))
    entry = sig_entry(envelope)
    assert set(entry) == {"keyid", "sig"}
    assert entry["keyid"] == signer.verifier_key.to_string()
    assert VerifierKey.from_string(entry["keyid"]) == signer.verifier_key


def test_signature_is_ed25519_over_pae(envelope: dict[str, object]) -> None:
    payload = base64.b64decode(str(envelope["payload"]))
    message = b"DSSEv1 28 application/vnd.in-toto+json %d " % len(payload) + payload
    sig = base64.b64decode(sig_entry(envelope)["sig"])
    public = Ed25519PrivateKey.from_private_bytes(SEED).public_key()
    public.verify(sig, message)  # raises InvalidSignature on failure


def test_known_answer(envelope: dict[str, object]) -> None:
    assert base64.b64decode(str(envelope["payload"])).decode() == KNOWN_PAYLOAD
    assert sig_entry(envelope) == {"keyid": KNOWN_KEYID, "sig": KNOWN_SIG}


def test_deterministic_for_fixed_key(stmt: dict[str, object]) -> None:
    first = sign_envelope(stmt, make_signer())
    again = sign_envelope(copy.deepcopy(stmt), make_signer())
    assert json.dumps(first) == json.dumps(again)
    other = sign_envelope(stmt, make_signer(OTHER_SEED))
    assert sig_entry(other)["sig"] != sig_entry(first)["sig"]


def test_sign_rejects_non_canonical_or_non_statement(signer: Signer) -> None:
    with pytest.raises(DsseError, match="canonical"):
        sign_envelope(statement("a", DIGEST, {"score": 0.5}), signer)
    with pytest.raises(DsseError, match="2\\*\\*53"):
        sign_envelope(statement("a", DIGEST, {"n": 2**53}), signer)
    with pytest.raises(DsseError, match="keys must be strings"):
        sign_envelope(statement("a", DIGEST, {"n": {1: "x"}}), signer)
    with pytest.raises(DsseError, match="_type"):
        sign_envelope({"subject": []}, signer)


# --- Verification ------------------------------------------------------------------------


def test_round_trip(envelope: dict[str, object], stmt: dict[str, object], signer: Signer) -> None:
    assert verify_envelope(envelope, [signer.verifier_key]) == stmt


def test_round_trip_through_json_and_non_ascii(signer: Signer) -> None:
    stmt = statement("mod\u00e8le/\u6a21\u578b.bin", DIGEST, {"actor": "j\u00fcrgen"})
    wire = json.dumps(sign_envelope(stmt, signer))
    assert verify_envelope(json.loads(wire), [signer.verifier_key]) == stmt


def test_key_found_among_several_by_keyid(envelope: dict[str, object], signer: Signer) -> None:
    keys = [make_signer(OTHER_SEED, "old").verifier_key, signer.verifier_key]
    assert verify_envelope(envelope, keys)["predicateType"] == ARTIFACT_PREDICATE


def test_missing_keyid_tries_every_key(envelope: dict[str, object], signer: Signer) -> None:
    del sig_entry(envelope)["keyid"]
    keys = [make_signer(OTHER_SEED).verifier_key, signer.verifier_key]
    assert verify_envelope(envelope, keys)["_type"] == STATEMENT_TYPE


def test_url_safe_base64_accepted(envelope: dict[str, object], signer: Signer) -> None:
    url_safe = str.maketrans("+/", "-_")
    entry = sig_entry(envelope)
    changed = (str(envelope["payload"]) + entry["sig"]).translate(url_safe)
    assert changed != str(envelope["payload"]) + entry["sig"]  # the test exercises something
    envelope["payload"] = str(envelope["payload"]).translate(url_safe)
    entry["sig"] = entry["sig"].translate(url_safe)
    assert verify_envelope(envelope, [signer.verifier_key])["subject"]


def test_unknown_key_rejected(envelope: dict[str, object]) -> None:
    with pytest.raises(DsseError, match="known key"):
        verify_envelope(envelope, [make_signer(OTHER_SEED).verifier_key])
    with pytest.raises(DsseError, match="known key"):
        verify_envelope(envelope, [])


def test_unknown_key_without_keyid_rejected(envelope: dict[str, object]) -> None:
    del sig_entry(envelope)["keyid"]
    with pytest.raises(DsseError):
        verify_envelope(envelope, [make_signer(OTHER_SEED).verifier_key])


def test_tampered_payload_rejected(envelope: dict[str, object], signer: Signer) -> None:
    stmt = json.loads(base64.b64decode(str(envelope["payload"])))
    stmt["subject"][0]["digest"]["sha256"] = "0" * 64
    envelope["payload"] = b64(rfc8785.dumps(stmt))
    with pytest.raises(DsseError, match="no envelope signature verifies"):
        verify_envelope(envelope, [signer.verifier_key])


def test_tampered_signature_rejected(envelope: dict[str, object], signer: Signer) -> None:
    entry = sig_entry(envelope)
    sig = bytearray(base64.b64decode(entry["sig"]))
    sig[0] ^= 1
    entry["sig"] = b64(bytes(sig))
    with pytest.raises(DsseError, match="no envelope signature verifies"):
        verify_envelope(envelope, [signer.verifier_key])
    entry["sig"] = b64(bytes(sig[:32]))
    with pytest.raises(DsseError):
        verify_envelope(envelope, [signer.verifier_key])


def test_tampered_payload_type_rejected(envelope: dict[str, object], signer: Signer) -> None:
    envelope["payloadType"] = "application/json"
    with pytest.raises(DsseError, match="no envelope signature verifies"):
        verify_envelope(envelope, [signer.verifier_key])


def test_validly_signed_wrong_payload_type_rejected(
    envelope: dict[str, object], signer: Signer
) -> None:
    payload = base64.b64decode(str(envelope["payload"]))
    forged = raw_envelope("application/json", payload)
    with pytest.raises(DsseError, match="unsupported payloadType"):
        verify_envelope(forged, [signer.verifier_key])


@pytest.mark.parametrize(
    "payload",
    [b"not json", b"\xff\xfe", b'{"a":NaN}', b"[1,2]", b'{"_type":"x"}', b'{"a":1,"a":2}'],
)
def test_signed_payload_not_a_statement_rejected(payload: bytes, signer: Signer) -> None:
    with pytest.raises(DsseError):
        verify_envelope(raw_envelope(PAYLOAD_TYPE, payload), [signer.verifier_key])


def test_valid_signature_among_bad_ones_accepted(
    envelope: dict[str, object], signer: Signer
) -> None:
    good = sig_entry(envelope)
    stranger = {"keyid": make_signer(OTHER_SEED).verifier_key.to_string(), "sig": b64(bytes(64))}
    broken = {"keyid": good["keyid"], "sig": b64(bytes(64))}
    envelope["signatures"] = [stranger, broken, good]
    assert verify_envelope(envelope, [signer.verifier_key])["subject"]


@pytest.mark.parametrize(
    "change",
    [
        {"payload": "not base64!"},
        {"payload": 12},
        {"payloadType": None},
        {"signatures": []},
        {"signatures": "x"},
        {"signatures": ["x"]},
        {"signatures": [{"keyid": 1, "sig": "AA=="}]},
        {"signatures": [{"keyid": "k", "sig": "%%%"}]},
        {"signatures": [{"keyid": "k"}]},
        {"signatures": [{"sig": "AA=="}] * 101},
    ],
)
def test_malformed_envelope_rejected(
    change: dict[str, object], envelope: dict[str, object], signer: Signer
) -> None:
    envelope.update(change)
    with pytest.raises(DsseError):
        verify_envelope(envelope, [signer.verifier_key])


def test_envelope_not_a_mapping_rejected(signer: Signer) -> None:
    with pytest.raises(DsseError):
        verify_envelope(["x"], [signer.verifier_key])  # type: ignore[arg-type]


# --- Detached signatures -----------------------------------------------------------------


def test_verify_detached(signer: Signer) -> None:
    key = Ed25519PrivateKey.from_private_bytes(SEED)
    message = b"client-side digest statement"
    sig = key.sign(message)
    assert verify_detached(message, sig, signer.verifier_key)
    assert not verify_detached(message + b"!", sig, signer.verifier_key)
    assert not verify_detached(message, sig[:-1], signer.verifier_key)
    assert not verify_detached(message, sig, make_signer(OTHER_SEED).verifier_key)
    assert not verify_detached(message, "x" * 64, signer.verifier_key)  # type: ignore[arg-type]
