"""C2SP tlog-checkpoint notes, signed as C2SP signed notes with Ed25519 keys."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from app.ledger.errors import LedgerError

__all__ = [
    "ALG_ED25519",
    "Checkpoint",
    "CheckpointError",
    "InvalidKeyError",
    "MAX_SIGNATURES",
    "MalformedNoteError",
    "SignatureError",
    "Signer",
    "UnknownKeyError",
    "VerifierKey",
    "key_id",
    "open_note",
    "parse_checkpoint",
    "sign_checkpoint",
    "verify_note",
]

ALG_ED25519 = 0x01
"""Signature type identifier byte for Ed25519 (c2sp.org/signed-note)."""

MAX_SIGNATURES = 100
"""Most signature lines accepted in one note (the spec requires at least 16)."""

HASH_SIZE = 32
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64
MAX_TREE_SIZE = 2**63 - 1  # Go's sumdb/tlog parses tree sizes as int64.

_SIG_PREFIX = "\u2014 "  # em dash, space
# Go's unicode.IsSpace, i.e. the Unicode White_Space property (sumdb/note isValidName).
_SPACES = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f]")
_DECIMAL = re.compile("0|[1-9][0-9]{0,18}")
_HEX8 = re.compile("[0-9a-f]{8}")


class CheckpointError(LedgerError, ValueError):
    """Base class for every checkpoint and signed-note error."""


class MalformedNoteError(CheckpointError):
    """The note, its signature block, or the checkpoint body is syntactically invalid."""


class SignatureError(CheckpointError):
    """A signature by a known key failed to verify; the whole note is rejected."""


class UnknownKeyError(CheckpointError):
    """No signature in the note is from a known verifier key."""


class InvalidKeyError(CheckpointError):
    """A key name, public key or verifier key string is invalid."""


def _is_valid_name(name: str) -> bool:
    """Report whether name is a valid key name per sumdb/note and c2sp.org/signed-note."""
    if not name or "+" in name or any(ch in _SPACES for ch in name):
        return False
    return _is_utf8_encodable(name)


def _is_utf8_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _b64decode(text: str) -> bytes | None:
    """Decode standard padded base64 strictly (like Go's StdEncoding); None if invalid."""
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:  # binascii.Error, or non-ASCII input
        return None


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _decode_text(data: bytes) -> str:
    """Check data is valid note text (UTF-8, no control chars but newline, final newline)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedNoteError("note is not valid UTF-8") from exc
    if _CONTROL.search(text):
        raise MalformedNoteError("note contains a control character other than newline")
    if not text.endswith("\n"):
        raise MalformedNoteError("note text does not end in a newline")
    return text


def _check_line(value: str, what: str) -> None:
    """Check value can be one non-empty line of checkpoint text."""
    if not value:
        raise MalformedNoteError(f"checkpoint {what} must be non-empty")
    if "\n" in value or _CONTROL.search(value) or not _is_utf8_encodable(value):
        raise MalformedNoteError(f"checkpoint {what} contains a forbidden character")


def key_id(name: str, public_key: bytes) -> int:
    """Return the Ed25519 key ID: SHA-256(name || 0x0A || 0x01 || public key)[:4], big-endian."""
    if not _is_valid_name(name):
        raise InvalidKeyError(f"invalid key name {name!r}")
    if len(public_key) != PUBLIC_KEY_SIZE:
        raise InvalidKeyError(f"Ed25519 public key must be {PUBLIC_KEY_SIZE} bytes")
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_key)
    return int.from_bytes(digest.digest()[:4], "big")


@dataclass(frozen=True)
class Checkpoint:
    """A transparency log checkpoint: origin, tree size, root hash and extension lines."""

    origin: str
    tree_size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "origin")
        if isinstance(self.tree_size, bool) or not isinstance(self.tree_size, int):
            raise MalformedNoteError("checkpoint tree size must be an int")
        if not 0 <= self.tree_size <= MAX_TREE_SIZE:
            raise MalformedNoteError(f"checkpoint tree size out of range: {self.tree_size}")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != HASH_SIZE:
            raise MalformedNoteError(f"checkpoint root hash must be {HASH_SIZE} bytes")
        for line in self.extensions:
            _check_line(line, "extension line")

    def body(self) -> bytes:
        """Return the exact note text: origin, size, base64 root hash, extensions, each + LF."""
        lines = [self.origin, str(self.tree_size), _b64encode(self.root_hash), *self.extensions]
        return "".join(line + "\n" for line in lines).encode("utf-8")


@dataclass(frozen=True)
class VerifierKey:
    """An Ed25519 note verifier key: key name, 32-bit key ID and raw 32-byte public key."""

    name: str
    key_id: int
    public_key: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.public_key, bytes):
            raise InvalidKeyError("public key must be bytes")
        if self.key_id != key_id(self.name, self.public_key):
            raise InvalidKeyError(f"key ID {self.key_id:#x} does not match name and public key")

    def to_string(self) -> str:
        """Encode as "<name>+<hex8 key ID>+<base64(0x01 || public key)>"."""
        blob = bytes([ALG_ED25519]) + self.public_key
        return f"{self.name}+{self.key_id:08x}+{_b64encode(blob)}"

    @classmethod
    def from_string(cls, s: str) -> VerifierKey:
        """Parse a verifier key string, checking the name, algorithm, length and key ID."""
        name, _, rest = s.partition("+")
        hex_id, _, key64 = rest.partition("+")  # base64 may itself contain "+"
        blob = _b64decode(key64)
        if not _HEX8.fullmatch(hex_id) or not _is_valid_name(name) or not blob:
            raise InvalidKeyError(f"malformed verifier key {s!r}")
        if blob[0] != ALG_ED25519:
            raise InvalidKeyError(f"unsupported verifier key algorithm {blob[0]:#04x}")
        if len(blob) != 1 + PUBLIC_KEY_SIZE:
            raise InvalidKeyError("Ed25519 verifier key has the wrong length")
        return cls(name=name, key_id=int(hex_id, 16), public_key=blob[1:])

    @classmethod
    def from_public_key(cls, name: str, public_key: bytes) -> VerifierKey:
        """Build the verifier key for name and a raw 32-byte Ed25519 public key."""
        return cls(name=name, key_id=key_id(name, public_key), public_key=public_key)

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Report whether signature (without the key ID prefix) is valid for message."""
        if len(signature) != SIGNATURE_SIZE:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


class Signer:
    """Signs note text with a named Ed25519 private key."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        if not _is_valid_name(name):
            raise InvalidKeyError(f"invalid key name {name!r}")
        self._name = name
        self._private_key = private_key
        public_key = private_key.public_key().public_bytes_raw()
        self._verifier_key = VerifierKey.from_public_key(name, public_key)

    def __repr__(self) -> str:
        return f"Signer({self._name!r}, key_id={self._verifier_key.key_id:08x})"

    @property
    def name(self) -> str:
        """The key name used in signature lines."""
        return self._name

    @property
    def verifier_key(self) -> VerifierKey:
        """The public verifier key matching this signer."""
        return self._verifier_key

    def sign_raw(self, message: bytes) -> bytes:
        """A plain 64-byte Ed25519 signature over message (for DSSE envelopes)."""
        return self._private_key.sign(message)

    def sign(self, body: bytes) -> bytes:
        """Sign note text and return one UTF-8 signature line, "\u2014 name base64\\n"."""
        _decode_text(body)
        signature = self._private_key.sign(body)
        blob = self._verifier_key.key_id.to_bytes(4, "big") + signature
        return f"{_SIG_PREFIX}{self._name} {_b64encode(blob)}\n".encode()


def sign_checkpoint(checkpoint: Checkpoint, signers: Sequence[Signer]) -> str:
    """Return the signed note text for checkpoint, with one signature line per signer."""
    if not signers:
        raise MalformedNoteError("a signed note needs at least one signature")
    if len(signers) > MAX_SIGNATURES:
        raise MalformedNoteError(f"a signed note may have at most {MAX_SIGNATURES} signatures")
    body = checkpoint.body()
    lines = b"".join(signer.sign(body) for signer in signers)
    return (body + b"\n" + lines).decode("utf-8")


def _parse_tree_size(line: str) -> int:
    if not _DECIMAL.fullmatch(line):
        raise MalformedNoteError(f"invalid checkpoint tree size {line!r}")
    size = int(line)
    if size > MAX_TREE_SIZE:
        raise MalformedNoteError(f"checkpoint tree size out of range: {line}")
    return size


def _parse_root_hash(line: str) -> bytes:
    root = _b64decode(line)
    if root is None or len(root) != HASH_SIZE:
        raise MalformedNoteError(f"checkpoint root hash is not base64 of {HASH_SIZE} bytes")
    if _b64encode(root) != line:  # keep parse_checkpoint(b).body() == b
        raise MalformedNoteError("checkpoint root hash is not canonical base64")
    return root


def parse_checkpoint(body: bytes) -> Checkpoint:
    """Parse checkpoint note text (ending in newline, without the blank line or signatures)."""
    lines = _decode_text(body)[:-1].split("\n")
    if len(lines) < 3:
        raise MalformedNoteError("checkpoint needs origin, tree size and root hash lines")
    origin, size_line, hash_line, *extensions = lines
    return Checkpoint(
        origin=origin,
        tree_size=_parse_tree_size(size_line),
        root_hash=_parse_root_hash(hash_line),
        extensions=tuple(extensions),
    )


def _parse_signature_line(line: str) -> tuple[str, int, bytes]:
    """Split "\u2014 name base64" into name, key ID and raw signature."""
    if not line.startswith(_SIG_PREFIX):
        raise MalformedNoteError("signature line does not start with an em dash and space")
    name, _, sig64 = line[len(_SIG_PREFIX) :].partition(" ")
    blob = _b64decode(sig64)
    if not _is_valid_name(name) or blob is None or len(blob) < 5:
        raise MalformedNoteError("malformed signature line")
    return name, int.from_bytes(blob[:4], "big"), blob[4:]


def _split_note(note: str | bytes) -> tuple[bytes, list[tuple[str, int, bytes]]]:
    """Split a signed note into its text and parsed signature lines."""
    if isinstance(note, str):
        if not _is_utf8_encodable(note):
            raise MalformedNoteError("note is not valid UTF-8")
        note = note.encode("utf-8")
    _decode_text(note)
    split = note.rfind(b"\n\n")
    if split < 0:
        raise MalformedNoteError("note has no blank line before its signatures")
    body, block = note[: split + 1], note[split + 2 :].decode("utf-8")
    lines = block[:-1].split("\n") if block else []
    if not lines:
        raise MalformedNoteError("note has no signatures")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNoteError(f"note has more than {MAX_SIGNATURES} signatures")
    return body, [_parse_signature_line(line) for line in lines]


def _index_verifiers(verifiers: Iterable[VerifierKey]) -> dict[tuple[str, int], VerifierKey]:
    index: dict[tuple[str, int], VerifierKey] = {}
    for key in verifiers:
        known = index.setdefault((key.name, key.key_id), key)
        if known != key:
            raise CheckpointError(f"ambiguous verifier keys for {key.name}+{key.key_id:08x}")
    return index


def verify_note(
    note: str | bytes, verifiers: Iterable[VerifierKey]
) -> tuple[bytes, list[VerifierKey]]:
    """Verify a signed note; return its text and the known keys whose signatures verified."""
    index = _index_verifiers(verifiers)
    body, signatures = _split_note(note)
    verified: list[VerifierKey] = []
    for name, kid, signature in signatures:
        key = index.get((name, kid))
        if key is None:
            continue  # signatures from unknown keys are ignored
        if not key.verify(body, signature):
            raise SignatureError(f"invalid signature for key {name}+{kid:08x}")
        if key not in verified:
            verified.append(key)
    if not verified:
        raise UnknownKeyError("note has no signature from a known key")
    return body, verified


def open_note(
    note: str | bytes, verifiers: Iterable[VerifierKey]
) -> tuple[Checkpoint, list[VerifierKey]]:
    """Verify a signed checkpoint note and parse it; return it and the keys that verified."""
    body, verified = verify_note(note, verifiers)
    return parse_checkpoint(body), verified
