"""Ledger entries: drafts, RFC 8785 canonical bytes, leaf and chain hashes, receipts."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from app.ledger.errors import EntryError
from app.ledger.jcs import MAX_SAFE_INTEGER as MAX_SAFE_INTEGER  # re-exported
from app.ledger.jcs import canonicalize as canonicalize  # re-exported
from app.ledger.jcs import encode_chunks, encode_string, finish, plain
from app.ledger.merkle import CompactRange

FORMAT_VERSION = 1
GENESIS_CHAIN_HASH = bytes(32)
KIND_PATTERN = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
SUBJECT_KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,63}")
TIMESTAMP_PATTERN = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
MAX_ACTOR_LENGTH = 256
MAX_SUBJECT_VALUE_LENGTH = 512

# Actors already checked, with their JSON strings (one per token, so few in practice).
_actors: dict[str, str] = {}


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
_last_stamp: str | None = None  # the last recorded_at that passed _check_stamp


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


def _check_stamp(recorded_at: str) -> None:
    # Every transaction stamps its entries with one new instant, so only the last stamp is
    # worth remembering (a set of them never hit again and held 10,000 strings per process).
    global _last_stamp
    if type(recorded_at) is str and recorded_at == _last_stamp:
        return
    if type(recorded_at) is not str or not TIMESTAMP_PATTERN.fullmatch(recorded_at):
        raise EntryError(f"recorded_at {recorded_at!r} is not YYYY-MM-DDTHH:MM:SS.ffffffZ")
    _last_stamp = recorded_at


def _check_seqs(first: int, count: int) -> None:
    if type(first) is not int or not 0 <= first <= MAX_SAFE_INTEGER - max(count - 1, 0):
        raise EntryError(f"seq {first!r} must be an integer from 0 to 2**53 - 1")


def canonical_bytes(draft: Draft, seq: int, recorded_at: str) -> bytes:
    """Checked canonical bytes of a draft at position seq."""
    return canonical_batch([draft], seq, recorded_at)[0]


def canonical_batch(drafts: Sequence[Draft], first_seq: int, recorded_at: str) -> list[bytes]:
    """Checked canonical bytes of drafts at positions first_seq, first_seq + 1, ...

    The top-level keys are fixed, so the object is assembled in their sorted order (actor,
    body, kind, recorded_at, seq, subject, v) around the C encoder (see app.ledger.jcs for why
    that is exact). A draft outside the fast path's domain is checked by check_draft, which
    names what is wrong, and then canonicalised as a whole object by jcs.canonicalize.
    """
    _check_stamp(recorded_at)
    _check_seqs(first_seq, len(drafts))
    kinds, actors, subject_keys = _valid_kinds, _actors, _valid_subject_keys
    join, chunks, quote = "".join, encode_chunks, encode_string
    out: list[bytes] = []
    seq = first_seq
    for draft in drafts:
        kind, actor, subject, body = draft.kind, draft.actor, draft.subject, draft.body
        if type(body) is not dict and isinstance(body, Mapping):
            body = dict(body)
        data = None
        if (type(kind) is str and kind in kinds and type(actor) is str and actor in actors
                and type(subject) is dict and type(body) is dict and plain(body)):
            for key, value in subject.items():
                if (type(key) is not str or key not in subject_keys or type(value) is not str
                        or len(value) > MAX_SUBJECT_VALUE_LENGTH):
                    break
            else:
                # The usual single key is written directly: it matches SUBJECT_KEY_PATTERN,
                # so it needs no escapes.
                subject_json = (f'{{"{key}":{quote(value)}}}' if len(subject) == 1
                                else join(chunks(subject, 0)))
                text = (
                    f'{{"actor":{actors[actor]},"body":{join(chunks(body, 0))},"kind":"{kind}",'
                    f'"recorded_at":"{recorded_at}","seq":{seq},'
                    f'"subject":{subject_json},"v":{FORMAT_VERSION}}}'
                )
                data = text.encode("ascii") if text.isascii() else finish(text)
        if data is None:
            data = _checked_canonical(draft, seq, recorded_at)
        out.append(data)
        seq += 1
    return out


def _checked_canonical(draft: Draft, seq: int, recorded_at: str) -> bytes:
    """The reference path: check the draft (caching what passed), then canonicalise it whole."""
    check_draft(draft)
    if type(draft.actor) is str and draft.actor not in _actors:
        if len(_actors) > 10_000:
            _actors.clear()
        _actors[draft.actor] = encode_string(draft.actor)
    return canonicalize(entry_object(draft, seq, recorded_at))


def leaf_hash(canonical: bytes) -> bytes:
    """RFC 9162 leaf hash: SHA-256(0x00 || canonical bytes)."""
    return hashlib.sha256(b"\x00" + canonical).digest()


def chain_hash(previous: bytes, leaf: bytes) -> bytes:
    """SHA-256(previous chain hash || leaf hash); the genesis previous is 32 zero bytes."""
    return hashlib.sha256(previous + leaf).digest()


class HashedBlock(NamedTuple):
    """Consecutive entries as columns: canonical bytes, leaf and chain hashes, Merkle nodes."""

    canonicals: list[bytes]
    leaves: list[bytes]
    chains: list[bytes]
    nodes: list[bytes]  # per entry, the perfect-subtree hashes it completes, concatenated


def hash_block(drafts: Sequence[Draft], first_seq: int, recorded_at: str, previous: bytes,
               tree: CompactRange) -> HashedBlock:
    """Canonicalise and hash drafts as the entries first_seq, first_seq + 1, ... after the
    chain hash previous, adding their leaves to tree (a batch of leaf_hash and chain_hash)."""
    canonicals = canonical_batch(drafts, first_seq, recorded_at)
    sha256 = hashlib.sha256
    leaves = [sha256(b"\x00" + canonical).digest() for canonical in canonicals]
    chains: list[bytes] = []
    add = chains.append
    for leaf in leaves:
        previous = sha256(previous + leaf).digest()
        add(previous)
    return HashedBlock(canonicals, leaves, chains, tree.extend(leaves))


def decode(canonical: bytes) -> dict[str, Any]:
    """Parse canonical bytes back into the entry object (raises EntryError when not JSON)."""
    try:
        value = json.loads(canonical)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EntryError(f"entry bytes are not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise EntryError("entry bytes are not a JSON object")
    return value
