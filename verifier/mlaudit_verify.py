#!/usr/bin/env python3
"""Check an mlaudit ledger export offline, with no database and no mlaudit code.

    python mlaudit_verify.py DIR [--json] [--key KEY_OR_FILE ...] [--checkpoint NOTE_FILE ...]

This file stands alone on purpose: it needs Python 3.11+ and the packages `cryptography` and
`rfc8785`, nothing else. It implements the mlaudit ledger format (docs/ledger-format.md:
entries, hashes, the RFC 9162 Merkle tree, C2SP signed checkpoints) and the export layout
(docs/verifying.md). It stops at the first damage and names it, with the same words as
`mlaudit verify`. Exit status: 0 no damage, 1 damage found, 2 the input cannot be checked.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

EXPORT_FORMAT = "mlaudit-export/1"
MANIFEST, ENTRIES, KEYS, CHECKPOINTS = "manifest.json", "entries.jsonl", "keys.txt", "checkpoints"

# Kinds of damage: the words of `mlaudit verify` (docs/ledger-format.md, 11.2).
MODIFIED, MISSING, INSERTED, REORDERED = "modified", "missing", "inserted", "reordered"
TRUNCATED, BAD_SIGNATURE, BAD_CHECKPOINT = "truncated", "bad_signature", "bad_checkpoint"
HEAD_MISMATCH = "head_mismatch"

GENESIS_CHAIN = bytes(32)                    # chain_hash(-1)
EMPTY_ROOT = hashlib.sha256(b"").digest()    # the root of an empty tree
MAX_TREE_SIZE = 2**63 - 1
MAX_SIGNATURES = 100
SIGNATURE_PREFIX = "\u2014 "                 # em dash and space start a signature line
WHITE_SPACE = frozenset("\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
                        "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
CONTROL = re.compile("[\x00-\x09\x0b-\x1f]")
DECIMAL = re.compile("0|[1-9][0-9]{0,18}")
HEX8 = re.compile("[0-9a-f]{8}")


class Unusable(Exception):
    """The input cannot be checked at all (exit status 2)."""


class NoteError(Exception):
    """A signed note does not open with the trusted keys."""


@dataclass(frozen=True)
class Damage:
    """The first thing found wrong: what, and where (entry seq, checkpoint size or file)."""

    kind: str
    detail: str
    seq: int | None = None
    checkpoint: int | None = None
    file: str | None = None


class Damaged(Exception):
    def __init__(self, kind: str, detail: str, seq: int | None = None,
                 checkpoint: int | None = None, file: str | None = None) -> None:
        super().__init__(detail)
        self.damage = Damage(kind, detail, seq, checkpoint, file)


def sha256(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str) -> bytes | None:
    """Strict standard base64 with padding (RFC 4648, section 4); None when invalid."""
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        return None


# --- Verifier keys and signed notes (docs/ledger-format.md, section 8) -----------------------

@dataclass(frozen=True)
class Key:
    name: str
    key_id: int
    public_key: bytes


def valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not WHITE_SPACE.intersection(name)


def key_id(name: str, public_key: bytes) -> int:
    """The first 4 bytes, big-endian, of H(name ‖ 0x0A ‖ 0x01 ‖ public key)."""
    return int.from_bytes(sha256(name.encode("utf-8"), b"\n\x01", public_key)[:4], "big")


def parse_key(text: str) -> Key:
    """A verifier key string: <name>+<key id, 8 hex>+<base64(0x01 ‖ public key)>."""
    name, _, rest = text.partition("+")
    hex_id, _, encoded = rest.partition("+")  # the base64 may itself contain "+"
    blob = b64decode(encoded)
    if not valid_name(name) or not HEX8.fullmatch(hex_id) or blob is None:
        raise ValueError("malformed verifier key")
    if len(blob) != 33 or blob[0] != 0x01:
        raise ValueError("not an Ed25519 verifier key")
    if key_id(name, blob[1:]) != int(hex_id, 16):
        raise ValueError("the key id does not match the name and public key")
    return Key(name, int(hex_id, 16), blob[1:])


KeyIndex = dict[tuple[str, int], Key | None]


def index_keys(keys: Sequence[Key]) -> KeyIndex:
    """Trusted keys by (name, key id); two different keys with one pair verify nothing."""
    index: KeyIndex = {}
    for key in keys:
        if index.setdefault((key.name, key.key_id), key) != key:
            index[(key.name, key.key_id)] = None
    return index


def split_note(data: bytes) -> tuple[bytes, list[tuple[str, int, bytes]]]:
    """The body, and (key name, key id, signature) for each signature line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise NoteError("the note is not UTF-8") from None
    if CONTROL.search(text) or not text.endswith("\n"):
        raise NoteError("the note has a control character or does not end in a newline")
    split = text.rfind("\n\n")
    if split < 0:
        raise NoteError("the note has no blank line before its signatures")
    lines = text[split + 2 : -1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"the note has more than {MAX_SIGNATURES} signatures")
    return text[: split + 1].encode("utf-8"), [parse_signature_line(line) for line in lines]


def parse_signature_line(line: str) -> tuple[str, int, bytes]:
    name, _, encoded = line.removeprefix(SIGNATURE_PREFIX).partition(" ")
    blob = b64decode(encoded)
    if not line.startswith(SIGNATURE_PREFIX) or not valid_name(name) or not blob or len(blob) < 5:
        raise NoteError("malformed signature line")
    return name, int.from_bytes(blob[:4], "big"), blob[4:]


def check_signatures(body: bytes, signatures: list[tuple[str, int, bytes]],
                     keys: KeyIndex) -> None:
    """Every signature by a trusted key must verify, and there must be at least one."""
    verified = False
    for name, kid, signature in signatures:
        if (name, kid) not in keys:
            continue  # signatures by keys we do not trust are ignored
        key = keys[(name, kid)]
        if key is None or not ed25519_ok(key.public_key, body, signature):
            raise NoteError(f"invalid signature by key {name}+{kid:08x}")
        verified = True
    if not verified:
        raise NoteError("no signature by a trusted key")


def ed25519_ok(public_key: bytes, message: bytes, signature: bytes) -> bool:
    if len(signature) != 64:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True)
class Note:
    origin: str
    size: int
    root: bytes


def parse_body(body: bytes) -> Note:
    """A checkpoint body: origin, tree size and base64 root, one per line (extensions ignored)."""
    lines = body.decode("utf-8")[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError("the checkpoint needs origin, tree size and root lines")
    origin, size, root_text = lines[:3]
    if not DECIMAL.fullmatch(size) or int(size) > MAX_TREE_SIZE:
        raise NoteError(f"invalid tree size {size!r}")
    root = b64decode(root_text)
    if root is None or len(root) != 32 or b64(root) != root_text:
        raise NoteError("the root hash is not canonical base64 of 32 bytes")
    return Note(origin, int(size), root)


def open_note(data: bytes, keys: KeyIndex) -> Note:
    body, signatures = split_note(data)
    check_signatures(body, signatures, keys)
    return parse_body(body)


# --- The Merkle tree (section 6.5: a compact range) ------------------------------------------

class CompactRange:
    """The roots of the perfect subtrees covering leaves 0..size-1, largest first."""

    def __init__(self) -> None:
        self.size = 0
        self.hashes: list[bytes] = []

    def append(self, leaf: bytes) -> list[bytes]:
        """Add a leaf hash; return the subtree hashes it completes, lowest level first."""
        n, node, completed = self.size, leaf, []
        self.size += 1
        while n & 1:
            node = sha256(b"\x01", self.hashes.pop(), node)
            completed.append(node)
            n >>= 1
        self.hashes.append(node)
        return completed

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        root = self.hashes[-1]
        for node in reversed(self.hashes[:-1]):
            root = sha256(b"\x01", node, root)
        return root


# --- Checking entries in order (section 11.1) ------------------------------------------------

@dataclass(frozen=True)
class Record:
    """One line of entries.jsonl, decoded."""

    seq: int
    canonical: bytes
    leaf_hash: bytes
    chain_hash: bytes
    nodes: bytes


@dataclass(frozen=True)
class Checkpoint:
    """A signed note to hold against the entries once there are `size` of them."""

    size: int
    note: bytes
    label: str        # "checkpoint 32", or "kept checkpoint 32 (FILE)"
    kept: bool = False


@dataclass(frozen=True)
class Head:
    size: int
    chain_hash: bytes


@dataclass
class Result:
    entries: int
    checkpoints: int
    kept_checkpoints: int
    root_hash: bytes
    chain_hash: bytes
    damage: Damage | None


def parse_entry(canonical: bytes, seq: int) -> dict[str, Any]:
    """The entry object in the bytes: a JSON object with an integer seq and no fractions."""
    def refuse(text: str) -> None:
        raise ValueError(f"number {text} is not an integer")
    try:
        entry = json.loads(canonical, parse_float=refuse, parse_constant=refuse)
    except (ValueError, RecursionError) as exc:
        raise Damaged(MODIFIED, f"entry bytes are not a valid entry: {exc}", seq) from None
    if not isinstance(entry, dict) or type(entry.get("seq")) is not int:
        raise Damaged(MODIFIED, "entry bytes are not a valid entry: no integer seq", seq)
    return entry


def check_canonical(entry: dict[str, Any], canonical: bytes, seq: int) -> None:
    """The bytes must be exactly what RFC 8785 makes of the entry they encode."""
    try:
        again = rfc8785.dumps(entry)
    except rfc8785.CanonicalizationError:
        again = None
    if again != canonical:
        raise Damaged(MODIFIED, "entry bytes are not RFC 8785 canonical JSON", seq)


class Ledger:
    """Takes entries in seq order and raises Damaged at the first problem."""

    def __init__(self, checkpoints: Sequence[Checkpoint], keys: Sequence[Key], origin: str):
        self.keys, self.origin = index_keys(keys), origin
        self.pending: dict[int, list[Checkpoint]] = {}
        for checkpoint in sorted(checkpoints, key=lambda c: c.kept):  # stored ones first
            self.pending.setdefault(checkpoint.size, []).append(checkpoint)
        self.range = CompactRange()
        self.entries, self.checkpoints, self.kept = 0, 0, 0
        self.chain = self.previous_chain = GENESIS_CHAIN

    def add(self, record: Record) -> None:
        seq, leaf = record.seq, record.leaf_hash  # the reader made sure seq == self.entries
        if sha256(b"\x00", record.canonical) != leaf:
            raise Damaged(MODIFIED, "canonical bytes do not match the leaf hash", seq)
        entry = parse_entry(record.canonical, seq)
        self.check_position(seq, entry["seq"], leaf, record.chain_hash)
        check_canonical(entry, record.canonical, seq)
        chain = sha256(self.chain, leaf)
        if chain != record.chain_hash:
            raise Damaged(MODIFIED, "chain hash does not follow from the previous entry", seq)
        if b"".join(self.range.append(leaf)) != record.nodes:
            raise Damaged(MODIFIED, "stored Merkle nodes do not match the entries", seq)
        self.previous_chain, self.chain = self.chain, chain
        self.entries = seq + 1
        self.check_checkpoints(self.entries)

    def check_position(self, seq: int, claimed: int, leaf: bytes, chain: bytes) -> None:
        """The seq inside the bytes must be the entry's position."""
        if claimed == seq:
            return
        if claimed == seq - 1 and sha256(self.previous_chain, leaf) == chain:
            # This is the genuine entry seq-1, chained onto seq-2: the one before it is foreign.
            raise Damaged(INSERTED, f"entry {seq - 1} was inserted; the genuine entry "
                          f"{seq - 1} now sits at {seq}", seq - 1)
        raise Damaged(REORDERED, f"the entry at {seq} holds entry {claimed}", seq)

    def check_checkpoints(self, size: int) -> None:
        for checkpoint in self.pending.pop(size, []):
            self.check_note(checkpoint)

    def check_note(self, checkpoint: Checkpoint) -> None:
        size, label = checkpoint.size, checkpoint.label
        try:
            note = open_note(checkpoint.note, self.keys)
        except NoteError as exc:
            raise Damaged(BAD_SIGNATURE, f"{label}: {exc}", checkpoint=size) from None
        if note.origin != self.origin:
            raise Damaged(BAD_CHECKPOINT, f"{label}: its origin {note.origin!r} is not "
                          f"{self.origin!r}", checkpoint=size)
        if note.size != size:
            raise Damaged(BAD_CHECKPOINT, f"{label}: the signed note is for size {note.size}",
                          checkpoint=size)
        if note.root != self.range.root():
            raise Damaged(BAD_CHECKPOINT, f"{label}: the entries give a different root: "
                          "history below it was rewritten", checkpoint=size)
        if checkpoint.kept:
            self.kept += 1
        else:
            self.checkpoints += 1

    def finish(self, head: Head | None, listed: int) -> None:
        """After the last entry: truncation, the head, and the manifest's entry count."""
        count, beyond = self.entries, max(self.pending, default=-1)
        if beyond > count:
            raise Damaged(TRUNCATED, f"the ledger ends at {count} entries but checkpoint "
                          f"{beyond} was signed over more", count, beyond)
        if head is not None and head.size > count:
            raise Damaged(TRUNCATED, f"the head records {head.size} entries, only {count} "
                          "remain", count)
        if head is not None and head.size < count:
            raise Damaged(INSERTED, f"entries beyond the head ({head.size}) were added",
                          head.size)
        if head is not None and head.chain_hash != self.chain:
            raise Damaged(HEAD_MISMATCH, "the head's chain hash differs from the last entry's",
                          max(count - 1, 0))
        if listed != count:
            kind = TRUNCATED if listed > count else INSERTED
            raise Damaged(kind, f"the manifest lists {listed} entries, {ENTRIES} holds "
                          f"{count}", min(listed, count), file=ENTRIES)

    def result(self, damage: Damage | None) -> Result:
        return Result(self.entries, self.checkpoints, self.kept, self.range.root(), self.chain,
                      damage)


# --- Reading the export ----------------------------------------------------------------------

@dataclass(frozen=True)
class Manifest:
    origin: str
    entries: int
    head: Head | None
    digests: dict[str, str]


def load_manifest(directory: Path) -> Manifest:
    try:
        data = json.loads((directory / MANIFEST).read_bytes())
    except OSError as exc:
        raise Unusable(f"cannot read {MANIFEST} in {directory}: {exc.strerror}") from None
    except ValueError:
        raise Unusable(f"{MANIFEST} is not JSON") from None
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise Unusable(f"{directory} is not an {EXPORT_FORMAT} export")
    origin, entries, head, digests = (data.get(k) for k in ("origin", "entries", "head", "sha256"))
    if (not isinstance(origin, str) or type(entries) is not int or not isinstance(digests, dict)
            or not all(isinstance(v, str) for v in digests.values())):
        raise Unusable(f"{MANIFEST} lacks a valid origin, entries or sha256")
    return Manifest(origin, entries, parse_head(head), digests)


def parse_head(head: object) -> Head | None:
    if head is None:
        return None
    chain = b64decode(head.get("chain_hash", "")) if isinstance(head, dict) else None
    size = head.get("size") if isinstance(head, dict) else None
    if chain is None or len(chain) != 32 or type(size) is not int:
        raise Unusable(f"{MANIFEST} has an invalid head")
    return Head(size, chain)


def key_file_strings(text: str) -> list[str]:
    """The key strings in a key file: the JSON GET /api/v1/ledger/keys serves
    ({"keys": [...], ...}), or plain text with one verifier key per line."""
    stripped = text.strip()
    if not stripped.startswith("{"):
        return stripped.split()
    try:
        document = json.loads(stripped)
    except ValueError as exc:
        raise Unusable(f"the key file is not valid JSON: {exc}") from None
    found = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(found, list) or not all(isinstance(k, str) for k in found):
        raise Unusable('the key file\'s JSON has no "keys" list of strings')
    return list(found)


def key_strings(values: Sequence[str]) -> list[str]:
    """--key values, each a verifier key string or a file of them (either form above): the
    valid key strings. This one parser serves every verifier of mlaudit (exports, reports)."""
    found = []
    for value in values:
        path = Path(value)
        if path.is_file():
            try:
                strings = key_file_strings(path.read_text("utf-8"))
            except (OSError, UnicodeDecodeError) as exc:
                raise Unusable(f"cannot read the key file {value}: {exc}") from None
            if not strings:
                raise Unusable(f"the key file {value} holds no verifier key")
        else:
            strings = [value]
        for line in strings:
            try:
                parse_key(line)
            except ValueError as exc:
                raise Unusable(f"--key {line!r} is not a verifier key: {exc}") from None
        found += strings
    return found


def read_keys(values: Sequence[str]) -> list[Key]:
    """--key values: a verifier key string, or a file of them."""
    return [parse_key(line) for line in key_strings(values)]


def keys_file(directory: Path) -> list[Key]:
    """keys.txt of the export; a line that is not a key is skipped, as `mlaudit verify` does."""
    try:
        lines = (directory / KEYS).read_text("utf-8").split()
    except (OSError, UnicodeDecodeError):
        raise Unusable(f"cannot read {KEYS}; give the keys with --key") from None
    keys = []
    for line in lines:
        try:
            keys.append(parse_key(line))
        except ValueError:
            continue
    return keys


def stored_checkpoints(directory: Path) -> list[Checkpoint]:
    found = []
    for path in sorted((directory / CHECKPOINTS).glob("*.note")):
        if not DECIMAL.fullmatch(path.stem):
            raise Unusable(f"{CHECKPOINTS}/{path.name} is not named <tree size>.note")
        size = int(path.stem)
        found.append(Checkpoint(size, path.read_bytes(), f"checkpoint {size}"))
    return sorted(found, key=lambda c: c.size)


def kept_checkpoint(name: str) -> Checkpoint:
    """A checkpoint the auditor kept: the note text, or the API's JSON object holding it."""
    try:
        data = Path(name).read_bytes()
        if data.lstrip().startswith(b"{"):
            data = json.loads(data)["note"].encode("utf-8")
        size = parse_body(split_note(data)[0]).size
    except (OSError, ValueError, KeyError, TypeError, AttributeError, NoteError) as exc:
        raise Unusable(f"--checkpoint {name}: not a readable checkpoint note ({exc})") from None
    return Checkpoint(size, data, f"kept checkpoint {size} ({name})", kept=True)


def parse_record(line: bytes, number: int, position: int) -> Record:
    """One line of entries.jsonl; a line that is not a record is damage at its position."""
    try:
        obj = json.loads(line)
    except ValueError:
        obj = None
    if isinstance(obj, dict) and type(obj.get("seq")) is int:
        fields = [obj.get(name) for name in ("canonical", "leaf_hash", "chain_hash", "nodes")]
        canonical, leaf, chain, nodes = (b64decode(f) if isinstance(f, str) else None
                                         for f in fields)
        if canonical is not None and leaf is not None and chain is not None and nodes is not None:
            return Record(obj["seq"], canonical, leaf, chain, nodes)
    raise Damaged(MODIFIED, f"line {number} of {ENTRIES} is not an entry record", position,
                  file=ENTRIES)


def seqs_after(path: Path, line_number: int) -> Iterator[int]:
    """The seq of every record after a line (bounded memory: the file is read again)."""
    with path.open("rb") as lines:
        for number, line in enumerate(lines, 1):
            try:
                seq = json.loads(line).get("seq") if number > line_number else None
            except (ValueError, AttributeError):
                continue
            if type(seq) is int:
                yield seq


def out_of_place(path: Path, number: int, position: int, seq: int) -> Damaged:
    """Line `number`, at `position`, holds entry `seq`: lines were deleted, moved or repeated."""
    if seq < position:
        return Damaged(INSERTED, f"line {number} repeats entry {seq} at position {position}",
                       position)
    if any(position <= later < seq for later in seqs_after(path, number)):
        return Damaged(REORDERED, f"the entry at {position} holds entry {seq}", position)
    return Damaged(MISSING, f"entries {position}..{seq - 1} are missing", position)


def check_entries(directory: Path, ledger: Ledger) -> str:
    """Feed entries.jsonl to the ledger line by line; return the file's SHA-256 (hex)."""
    path, digest = directory / ENTRIES, hashlib.sha256()
    if not path.is_file():
        raise Unusable(f"{ENTRIES} is missing from {directory}")
    with path.open("rb") as lines:
        for number, line in enumerate(lines, 1):
            digest.update(line)
            record = parse_record(line, number, ledger.entries)
            if record.seq != ledger.entries:
                raise out_of_place(path, number, ledger.entries, record.seq)
            ledger.add(record)
    return digest.hexdigest()


def check_digests(directory: Path, manifest: Manifest, entries_digest: str) -> None:
    """Every file of the export must be listed in the manifest with its SHA-256, and exist."""
    notes = sorted((directory / CHECKPOINTS).glob("*.note"), key=lambda p: int(p.stem))
    names = [ENTRIES, KEYS, *(f"{CHECKPOINTS}/{p.name}" for p in notes)]
    for name in [*names, *sorted(set(manifest.digests) - set(names))]:
        listed, path = manifest.digests.get(name), directory / name
        if listed is None:
            raise Damaged(MODIFIED, f"{name} is not listed in the manifest", file=name)
        if not path.is_file():
            raise Damaged(MODIFIED, f"{name} is listed in the manifest but absent", file=name)
        found = entries_digest if name == ENTRIES else hashlib.sha256(path.read_bytes()).hexdigest()
        if found != listed:
            raise Damaged(MODIFIED, f"{name}: its SHA-256 differs from the manifest's", file=name)


def verify_export(directory: Path, keys: Sequence[str] = (), kept: Sequence[str] = (),
                  origin: str | None = None) -> Result:
    """Check the whole export; the Result names the first damage, if any."""
    manifest = load_manifest(directory)
    trusted = read_keys(keys) if keys else keys_file(directory)
    checkpoints = stored_checkpoints(directory) + [kept_checkpoint(name) for name in kept]
    ledger = Ledger(checkpoints, trusted, origin or manifest.origin)
    try:
        ledger.check_checkpoints(0)
        digest = check_entries(directory, ledger)
        ledger.finish(manifest.head, manifest.entries)
        check_digests(directory, manifest, digest)
    except Damaged as found:
        return ledger.result(found.damage)
    return ledger.result(None)


# --- Command line ----------------------------------------------------------------------------

def report_json(result: Result) -> str:
    damage = result.damage
    return json.dumps({
        "ok": damage is None, "entries": result.entries, "checkpoints": result.checkpoints,
        "kept_checkpoints": result.kept_checkpoints, "root_hash": b64(result.root_hash),
        "chain_hash": b64(result.chain_hash),
        "damage": None if damage is None else {
            "kind": damage.kind, "seq": damage.seq, "checkpoint": damage.checkpoint,
            "file": damage.file, "detail": damage.detail},
    })


def report_line(result: Result) -> str:
    damage = result.damage
    if damage is None:
        kept = (f" ({result.kept_checkpoints:,} kept checkpoints consistent)"
                if result.kept_checkpoints else "")
        return (f"OK: {result.entries:,} entries and {result.checkpoints:,} checkpoints "
                f"verified{kept}; root {b64(result.root_hash)}")
    where = (f"at seq {damage.seq}" if damage.seq is not None else
             f"at checkpoint {damage.checkpoint}" if damage.checkpoint is not None else
             f"in {damage.file}")
    return f"DAMAGED {where}: {damage.kind}: {damage.detail}"


def parser(prog: str | None) -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog=prog, description="Check an mlaudit ledger export "
                                  "offline. Exit 0: no damage; 1: damage; 2: unusable input.")
    top.add_argument("directory", metavar="DIR", help="the export directory")
    top.add_argument("--json", action="store_true", help="one line of JSON on stdout")
    top.add_argument("--key", action="append", default=[], metavar="KEY_OR_FILE",
                     help="trust only this verifier key (or a file of them: one per line, or "
                     "the JSON of GET /api/v1/ledger/keys) instead of the export's keys.txt; "
                     "repeatable")
    top.add_argument("--checkpoint", action="append", default=[], metavar="NOTE_FILE",
                     help="a checkpoint you kept earlier: the export must agree with it; "
                     "repeatable")
    top.add_argument("--origin", help="the ledger's origin, if you obtained it independently "
                     "(default: the manifest's)")
    return top


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    args = parser(prog).parse_args(argv)
    try:
        result = verify_export(Path(args.directory), args.key, args.checkpoint, args.origin)
    except (Unusable, OSError) as exc:
        print(f"{prog or 'mlaudit_verify'}: error: {exc}", file=sys.stderr)
        return 2
    print(report_json(result) if args.json else report_line(result))
    return 0 if result.damage is None else 1


if __name__ == "__main__":
    sys.exit(main())
