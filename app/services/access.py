"""Who may do what: experiment grants and client-signed submissions, each a ledger entry."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from app.kinds import Rows
from app.ledger import request_signature as rs
from app.ledger.entry import Draft, Receipt
from app.ledger.errors import LedgerError
from app.services.ledger import LedgerWriter
from app.services.tokens import Principal
from app.storage import access as store
from app.storage import tokens as token_store
from app.storage import tracking as tracking_store

SIGNATURE_HEADER = "MLaudit-Signature"
T = TypeVar("T")
_HEADER = re.compile(r"\s*keyid=([0-9a-f]{16})\s*,\s*t=(0|[1-9][0-9]{0,11})\s*,"
                     r"\s*sig=([A-Za-z0-9+/=_-]{80,100})\s*")


class AccessError(LedgerError):
    """A grant or key request is invalid (unknown token or experiment)."""


class SignatureRejected(LedgerError):
    """A client signature header is malformed, names an unknown key, or does not verify."""


def client_key_id(public_key: bytes) -> str:
    """16 hex digits: the first 8 bytes of SHA-256(public key)."""
    return rs.key_id(public_key)


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
class SignedRequest:
    """What the server knows of a request a client signature may cover."""

    method: str
    path: str  # percent-decoded, as routed (with the application's mount point)
    query: str  # the query string as sent
    body: bytes


@dataclass(frozen=True)
class ClientSignature:
    """A verified signature over a request (app.ledger.request_signature): every field the
    signed bytes are made of, so an entry that records it can be checked from the ledger."""

    key_id: str
    signature: str  # base64
    method: str
    target: str
    timestamp: str
    body_sha256: str

    def as_json(self) -> dict[str, str]:
        return {"scheme": rs.SCHEME, "key_id": self.key_id, "sig": self.signature,
                "method": self.method, "target": self.target, "timestamp": self.timestamp,
                "body_sha256": self.body_sha256}

    def expires_at(self) -> int:
        """When the replay cache may forget it (Unix seconds): twice the window after its
        timestamp, so a replica whose clock is up to a window off still finds it."""
        return int(self.timestamp) + 2 * rs.WINDOW_SECONDS


def verify_request(conn: Any, principal: Principal, header: str, sent: SignedRequest,
                   now: float) -> ClientSignature:
    """Check `keyid=<16 hex>,t=<seconds>,sig=<base64>` over the request's method, target,
    timestamp and body SHA-256, with the caller's key, within the replay window of `now`."""
    match = _HEADER.fullmatch(header)
    if match is None:
        raise SignatureRejected(f"{SIGNATURE_HEADER} must be keyid=<16 hex>,t=<Unix seconds>,"
                                "sig=<base64 Ed25519 signature> (docs/ledger-format.md)")
    key_id, timestamp, encoded = match.groups()
    if abs(now - int(timestamp)) > rs.WINDOW_SECONDS:
        raise SignatureRejected(f"the signature's timestamp {timestamp} is more than "
                                f"{rs.WINDOW_SECONDS} s from the server's clock ({int(now)}); "
                                "sign each request when it is sent")
    found = store.client_key(conn, key_id)
    if found is None or found[0] != principal.token_id:
        raise SignatureRejected(f"key {key_id} is not registered to this token")
    body_sha256 = rs.body_digest(sent.body)
    try:
        signature = base64.b64decode(encoded.replace("-", "+").replace("_", "/"), validate=True)
        target = rs.canonical_target(sent.path, sent.query)
        message = rs.signing_input(sent.method, target, timestamp, body_sha256)
    except (binascii.Error, rs.SignatureFormatError) as exc:
        raise SignatureRejected(f"the client signature does not verify: {exc}") from exc
    if not rs.verifies(found[1], signature, message):
        raise SignatureRejected("the client signature does not verify (it covers the method, "
                                "path and query, timestamp and body SHA-256)")
    return ClientSignature(key_id, base64.b64encode(signature).decode(), sent.method, target,
                           timestamp, body_sha256)


def spend(conn: Any, signature: ClientSignature) -> None:
    """Use the signature up, in the unit's transaction; SignatureRejected if it was used."""
    digest = hashlib.sha256(base64.b64decode(signature.signature)).digest()
    if not store.spend_signature(conn, digest, signature.expires_at()):
        raise SignatureRejected("this signature was used already: a signed request is "
                                "carried out once (sign each request anew)")


class SignedWriter:
    """A LedgerWriter whose entries carry the request's client signature in body; made by
    `signed`, after the signature was spent in the same transaction."""

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


def signed(signature: ClientSignature,
           unit: Callable[[SignedWriter], T]) -> Callable[[LedgerWriter], T]:
    """A unit that spends the signature, then runs with its entries carrying it. The head is
    locked first, as every append locks it, so that two replicas spending one signature
    queue on the head row rather than deadlock on it and the cache row."""
    def run(writer: LedgerWriter) -> T:
        writer.lock()
        spend(writer.conn, signature)
        return unit(SignedWriter(writer, signature))
    return run
