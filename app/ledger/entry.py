"""Ledger entries: drafts, RFC 8785 canonical bytes, leaf and chain hashes, receipts."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import rfc8785

from app.ledger.errors import EntryError

FORMAT_VERSION = 1
GENESIS_CHAIN_HASH = bytes(32)
MAX_SAFE_INTEGER = 2**53 - 1
KIND_PATTERN = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
SUBJECT_KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,63}")
TIMESTAMP_PATTERN = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
MAX_ACTOR_LENGTH = 256
MAX_SUBJECT_VALUE_LENGTH = 512

_json_encode = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")
).encode


def _refuse(value: object) -> object:
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _fast_encoder() -> Any:
    """The stdlib's C encoder made once (JSONEncoder.encode builds one per call)."""
    from json import encoder

    make_encoder = getattr(encoder, "c_make_encoder", None)
    encode_string = getattr(encoder, "c_encode_basestring", None)
    if make_encoder is None or encode_string is None:
        return _json_encode
    make = make_encoder(None, _refuse, encode_string, None, ":", ",", True, False, False)
    return lambda value: "".join(make(value, 0))


_encode = _fast_encoder()
_actors: dict[str, str] = {}


def _encoded_actor(actor: str) -> str:
    """Actors repeat (one per token): their JSON strings are worth keeping."""
    found = _actors.get(actor)
    if found is None:
        if len(_actors) > 10_000:
            _actors.clear()
        found = _actors[actor] = _encode(actor)
    return found


@dataclass(frozen=True)
class Draft:
    """What a caller wants recorded; seq and recorded_at are assigned when it is appended."""

    kind: str
    actor: str
    subject: Mapping[str, str] = field(default_factory=dict)
    body: Mapping[str, Any] = field(default_factory=dict)


class Receipt(NamedTuple):
    """What a write returns: proof that the entry holds position seq in the chain."""

    seq: int
    leaf_hash: bytes
    chain_hash: bytes
    kind: str
    recorded_at: str


def format_timestamp(instant: datetime) -> str:
    """RFC 3339 UTC with exactly six fractional digits and a Z, as hashed in every entry."""
    if instant.tzinfo is None:
        raise EntryError("recorded_at must be timezone-aware")
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(text: str) -> datetime:
    """Inverse of format_timestamp."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _check_value(value: object, path: str) -> None:
    """Reject what must never be hashed: floats, unsafe integers, non-string keys."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return
    if kind is int:
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:  # type: ignore[operator]
            return
        raise EntryError(f"{path}: integer beyond ±(2**53 - 1); encode it as a decimal string")
    if kind is dict:
        for key, item in value.items():  # type: ignore[attr-defined]
            if type(key) is not str:
                raise EntryError(f"{path}: object keys must be strings")
            _check_value(item, f"{path}.{key}")
        return
    if kind is list:
        for index, item in enumerate(value):  # type: ignore[arg-type]
            _check_value(item, f"{path}[{index}]")
        return
    if kind is float:
        raise EntryError(f"{path}: floats are never hashed; encode the number as a decimal string")
    raise EntryError(f"{path}: {kind.__name__} is not a JSON value")


# Names already checked, one set per rule (each a small, fixed set in practice).
_valid_kinds: set[str] = set()
_valid_subject_keys: set[str] = set()
_valid_stamps: set[str] = set()


def _check_name(name: object, pattern: re.Pattern[str], what: str, valid: set[str]) -> None:
    if name in valid:
        return
    if type(name) is not str or not pattern.fullmatch(name):
        raise EntryError(f"{what} {name!r} must match {pattern.pattern}")
    if len(valid) > 10_000:
        valid.clear()
    valid.add(name)


def check_draft(draft: Draft) -> None:
    """Validate a draft's shape before it is given a position."""
    try:
        _check_draft(draft)
    except RecursionError as exc:
        raise EntryError("body is nested too deeply") from exc


def _check_draft(draft: Draft) -> None:
    _check_name(draft.kind, KIND_PATTERN, "kind", _valid_kinds)
    actor = draft.actor
    if type(actor) is not str or not actor or len(actor) > MAX_ACTOR_LENGTH:
        raise EntryError("actor must be a non-empty string of at most 256 characters")
    for key, value in draft.subject.items():
        _check_name(key, SUBJECT_KEY_PATTERN, "subject key", _valid_subject_keys)
        if type(value) is not str or len(value) > MAX_SUBJECT_VALUE_LENGTH:
            raise EntryError(f"subject {key!r} must be a string of at most 512 characters")
    body = draft.body
    if type(body) is not dict:
        body = dict(body)
    for key, value in body.items():
        if type(key) is not str:
            raise EntryError("body: object keys must be strings")
        if type(value) is not str:  # the common case needs no recursion
            _check_value(value, f"body.{key}")


def entry_object(draft: Draft, seq: int, recorded_at: str) -> dict[str, Any]:
    """The JSON object whose canonical bytes form the entry (field names are a public contract)."""
    return {
        "v": FORMAT_VERSION,
        "seq": seq,
        "kind": draft.kind,
        "recorded_at": recorded_at,
        "actor": draft.actor,
        "subject": dict(draft.subject),
        "body": dict(draft.body),
    }


def canonicalize(value: Mapping[str, Any]) -> bytes:
    """RFC 8785 bytes of a float-free JSON object.

    For ASCII output, sorted-key compact json is byte-identical to RFC 8785 (same escapes,
    same integer form, UTF-16 and code-point key order agree), and about five times faster;
    anything else goes through the rfc8785 package.
    """
    try:
        text = _json_encode(value)
    except (TypeError, ValueError) as exc:
        raise EntryError(f"not canonicalisable: {exc}") from exc
    if text.isascii():
        return text.encode("ascii")
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, UnicodeEncodeError) as exc:
        raise EntryError(f"not canonicalisable: {exc}") from exc


def canonical_bytes(draft: Draft, seq: int, recorded_at: str) -> bytes:
    """Checked canonical bytes of a draft at position seq.

    The top-level keys are fixed, so the object is assembled in their sorted order (actor,
    body, kind, recorded_at, seq, subject, v); only body and subject go through the encoder.
    Non-ASCII output takes the rfc8785 path, like canonicalize().
    """
    check_draft(draft)
    if recorded_at not in _valid_stamps:
        if type(recorded_at) is not str or not TIMESTAMP_PATTERN.fullmatch(recorded_at):
            raise EntryError(f"recorded_at {recorded_at!r} is not YYYY-MM-DDTHH:MM:SS.ffffffZ")
        if len(_valid_stamps) > 10_000:
            _valid_stamps.clear()
        _valid_stamps.add(recorded_at)
    body = draft.body if type(draft.body) is dict else dict(draft.body)
    subject = draft.subject if type(draft.subject) is dict else dict(draft.subject)
    if type(seq) is not int or not 0 <= seq <= MAX_SAFE_INTEGER:
        raise EntryError(f"seq {seq!r} must be an integer from 0 to 2**53 - 1")
    try:
        text = (
            f'{{"actor":{_encoded_actor(draft.actor)},"body":{_encode(body)},'
            f'"kind":"{draft.kind}","recorded_at":"{recorded_at}","seq":{seq},'
            f'"subject":{_encode(subject)},"v":{FORMAT_VERSION}}}'
        )
    except (TypeError, ValueError, RecursionError) as exc:
        raise EntryError(f"not canonicalisable: {exc}") from exc
    if text.isascii():
        return text.encode("ascii")
    return canonicalize(entry_object(draft, seq, recorded_at))


def leaf_hash(canonical: bytes) -> bytes:
    """RFC 9162 leaf hash: SHA-256(0x00 || canonical bytes)."""
    return hashlib.sha256(b"\x00" + canonical).digest()


def chain_hash(previous: bytes, leaf: bytes) -> bytes:
    """SHA-256(previous chain hash || leaf hash); the genesis previous is 32 zero bytes."""
    return hashlib.sha256(previous + leaf).digest()


def decode(canonical: bytes) -> dict[str, Any]:
    """Parse canonical bytes back into the entry object (raises EntryError when not JSON)."""
    try:
        value = json.loads(canonical)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EntryError(f"entry bytes are not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise EntryError("entry bytes are not a JSON object")
    return value
