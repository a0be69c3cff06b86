"""Who may do what: experiment grants and client-signed submissions, each a ledger entry."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from app.kinds import Rows
from app.ledger.entry import Draft, Receipt
from app.ledger.errors import LedgerError
from app.services.ledger import LedgerWriter
from app.services.tokens import Principal
from app.storage import access as store
from app.storage import tokens as token_store
from app.storage import tracking as tracking_store

SIGNATURE_HEADER = "MLaudit-Signature"
_HEADER = re.compile(r"\s*keyid=([0-9a-f]{16})\s*,\s*sig=([A-Za-z0-9+/=_-]{80,100})\s*")


class AccessError(LedgerError):
    """A grant or key request is invalid (unknown token or experiment)."""


class SignatureRejected(LedgerError):
    """A client signature header is malformed, names an unknown key, or does not verify."""


def client_key_id(public_key: bytes) -> str:
    """16 hex digits: the first 8 bytes of SHA-256(public key)."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def grant(writer: LedgerWriter, actor: str, token_name: str, experiment_id: str) -> Receipt | None:
    writer.lock()
    token = token_store.find_by_name(writer.conn, token_name)
    if token is None:
        raise AccessError(f"no token is named {token_name!r}")
    if token.revoked_seq is not None:
        raise AccessError(f"token {token_name!r} is revoked")
    if tracking_store.get_experiment(writer.conn, experiment_id) is None:
        raise AccessError(f"experiment {experiment_id!r} does not exist")
    if store.has_grant(writer.conn, token.id, experiment_id):
        return None
    [receipt] = writer.append([Draft("grant.created", actor, {"token": token.id,
                                                               "experiment": experiment_id},
                                     {"token_name": token_name})])
    return receipt


def revoke(writer: LedgerWriter, actor: str, token_name: str, experiment_id: str) -> Receipt:
    writer.lock()
    token = token_store.find_by_name(writer.conn, token_name)
    if token is None or not store.has_grant(writer.conn, token.id, experiment_id):
        raise AccessError(f"{token_name!r} holds no grant on experiment {experiment_id!r}")
    [receipt] = writer.append([Draft("grant.revoked", actor, {"token": token.id,
                                                               "experiment": experiment_id},
                                     {"token_name": token_name})])
    return receipt


def register_client_key(writer: LedgerWriter, principal: Principal,
                        public_key: bytes) -> tuple[str, Receipt | None]:
    if len(public_key) != 32:
        raise AccessError("an Ed25519 public key is 32 bytes")
    key_id = client_key_id(public_key)
    writer.lock()
    found = store.client_key(writer.conn, key_id)
    if found is not None:
        if found[0] != principal.token_id:
            raise AccessError("that key is registered to another principal")
        return key_id, None
    [receipt] = writer.append([Draft("client_key.registered", principal.actor,
                                     {"token": principal.token_id, "key": key_id},
                                     {"public_key": base64.b64encode(public_key).decode()})])
    return key_id, receipt


@dataclass(frozen=True)
class ClientSignature:
    """A verified detached signature over a request's RFC 8785 body."""

    key_id: str
    signature: str
    request_sha256: str

    def as_json(self) -> dict[str, str]:
        return {"key_id": self.key_id, "sig": self.signature,
                "request_sha256": self.request_sha256}


def verify_request(conn: Any, principal: Principal, header: str,
                   raw_body: bytes) -> ClientSignature:
    """Check `keyid=<16 hex>,sig=<base64>` over RFC 8785 of the body, with the caller's key."""
    match = _HEADER.fullmatch(header)
    if match is None:
        raise SignatureRejected(f"{SIGNATURE_HEADER} must be keyid=<16 hex>,sig=<base64>")
    key_id, encoded = match.groups()
    found = store.client_key(conn, key_id)
    if found is None or found[0] != principal.token_id:
        raise SignatureRejected(f"key {key_id} is not registered to this token")
    try:
        signature = base64.b64decode(encoded.replace("-", "+").replace("_", "/"), validate=True)
        canonical = rfc8785.dumps(json.loads(raw_body or b"null"))
        Ed25519PublicKey.from_public_bytes(found[1]).verify(signature, canonical)
    except (binascii.Error, ValueError, rfc8785.CanonicalizationError, InvalidSignature) as exc:
        raise SignatureRejected("the client signature does not verify") from exc
    return ClientSignature(key_id, base64.b64encode(signature).decode(),
                           hashlib.sha256(canonical).hexdigest())


class SignedWriter:
    """A LedgerWriter whose entries carry the request's client signature in body."""

    def __init__(self, writer: LedgerWriter, signature: ClientSignature) -> None:
        self._writer, self._signature = writer, signature
        self.conn = writer.conn

    def _signed(self, drafts: Sequence[Draft]) -> list[Draft]:
        return [replace(d, body={**d.body, "client_signature": self._signature.as_json()})
                for d in drafts]

    def append(self, drafts: Sequence[Draft], *, project: bool = True) -> list[Receipt]:
        return self._writer.append(self._signed(drafts), project=project)

    def reduce(self, drafts: Sequence[Draft], receipts: Sequence[Receipt]) -> Iterator[Rows]:
        return self._writer.reduce(self._signed(drafts), receipts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._writer, name)
