"""The trust file: what this host holds the database to, kept outside the database.

`$MLAUDIT_HOME/trust.json` (MLAUDIT_TRUST_FILE; mode 0600) holds the ledger's origin, the
verifier keys this host trusts, and the latest checkpoint it signed or verified:

    {"format": "mlaudit-trust/1", "origin": "...", "keys": ["name+id+key", ...],
     "checkpoint": {"tree_size": N, "root_hash": "<base64>", "note": "<signed note>"}}

`mlaudit init` writes it on first use (the keys the new ledger publishes, trusted on first
use); the service moves its checkpoint forward each time it signs one (only forward: a kept
checkpoint is never replaced by a smaller one); `mlaudit key rotate` adds the new key.
`mlaudit verify` and the self-check then check checkpoint signatures with these keys only, and
hold the database to the kept checkpoint: a database rewritten, even re-signed with a key
swapped into signing_keys, or rolled back to an older backup, is reported. A host that did
not rotate learns a new key with `mlaudit trust add-key KEY` (or a copy of the file).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.ledger.checkpoint import CheckpointError, VerifierKey
from app.ledger.errors import LedgerError
from app.services.rollback import KeptCheckpoint, parse_kept

FORMAT = "mlaudit-trust/1"


class TrustFileError(LedgerError):
    """The trust file cannot be read or written, or is not a trust file."""


@dataclass(frozen=True)
class Trust:
    origin: str
    keys: tuple[str, ...]
    checkpoint: KeptCheckpoint | None

    def verifier_keys(self) -> list[VerifierKey]:
        return [VerifierKey.from_string(k) for k in self.keys]

    def to_json(self) -> dict[str, Any]:
        kept = None
        if self.checkpoint is not None:
            note = self.checkpoint.note.decode()
            body = note[: note.index("\n\n")].split("\n")
            kept = {"tree_size": self.checkpoint.tree_size, "root_hash": body[2], "note": note}
        return {"format": FORMAT, "origin": self.origin, "keys": list(self.keys),
                "checkpoint": kept}


def load(path: Path) -> Trust | None:
    """The trust file at path, or None when there is none."""
    try:
        data = path.read_bytes()
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise TrustFileError(f"cannot read the trust file {path}: {exc.strerror}") from exc
    if mode & 0o077:
        raise TrustFileError(f"the trust file {path} is accessible to others; chmod 600 it")
    try:
        document = json.loads(data)
        if document.get("format") != FORMAT:
            raise ValueError(f"not {FORMAT}")
        keys = tuple(str(k) for k in document["keys"])
        for key in keys:
            VerifierKey.from_string(key)
        kept = document.get("checkpoint")
        checkpoint = (None if kept is None else
                      parse_kept(kept["note"].encode("utf-8"), f"{path} (kept checkpoint)"))
        return Trust(str(document["origin"]), keys, checkpoint)
    except (ValueError, KeyError, TypeError, AttributeError, CheckpointError,
            LedgerError) as exc:
        raise TrustFileError(f"{path} is not a trust file: {exc}") from exc


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock beside the file: workers and the CLI update it one at a time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise TrustFileError(f"cannot lock the trust file {path}: {exc.strerror}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _write(path: Path, trust: Trust) -> None:
    data = (json.dumps(trust.to_json(), indent=2) + "\n").encode()
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except OSError as exc:
        raise TrustFileError(f"cannot write the trust file {path}: {exc.strerror}") from exc
    finally:
        temp.unlink(missing_ok=True)


def update(path: Path, origin: str, keys: Sequence[str] = (),
           note: str | None = None) -> Trust:
    """Create the file, or add keys to it and move its checkpoint forward to note (a signed
    checkpoint note this host made or verified). A note for a smaller tree is ignored."""
    with _locked(path):
        found = load(path)
        known = list(found.keys) if found else []
        known += [k for k in keys if k not in known]
        kept = found.checkpoint if found else None
        if note is not None:
            offered = parse_kept(note.encode("utf-8"), "the signed checkpoint")
            if kept is None or offered.tree_size >= kept.tree_size:
                kept = offered
        trust = Trust(found.origin if found else origin, tuple(known), kept)
        if trust != found:
            _write(path, trust)
        return trust


def root_of(kept: KeptCheckpoint) -> bytes:
    note = kept.note.decode()
    return base64.b64decode(note[: note.index("\n\n")].split("\n")[2])
