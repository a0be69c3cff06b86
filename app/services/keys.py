"""Signing keys: 0600 key files, the active key, rotation that keeps old keys published."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import psycopg
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.ledger.checkpoint import Signer, VerifierKey
from app.ledger.entry import Draft
from app.ledger.errors import KeyFileError
from app.services.ledger import LedgerWriter, ledger_transaction
from app.storage import ledger as store


def key_path(key_dir: Path, key: VerifierKey) -> Path:
    return key_dir / f"ed25519-{key.key_id:08x}.pem"


def write_private_key(path: Path, private_key: Ed25519PrivateKey) -> None:
    """Create the key file with mode 0600 from the start, never readable by others."""
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise KeyFileError(f"cannot create key file {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def read_private_key(path: Path) -> Ed25519PrivateKey:
    """Load a key file, refusing one that group or others may read."""
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise KeyFileError(f"signing key file {path} does not exist") from exc
    except OSError as exc:
        raise KeyFileError(f"cannot read signing key file {path}: {exc.strerror}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"signing key file {path} is accessible to others; run chmod 600 on it")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(f"signing key file {path} is corrupt or not a PEM key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"signing key file {path} does not hold an Ed25519 key")
    return key


def _activate(writer: LedgerWriter, name: str, key_dir: Path, actor: str) -> Signer:
    """Generate a key, write its file, publish it and record `key.activated`."""
    private_key = Ed25519PrivateKey.generate()
    signer = Signer(name, private_key)
    verifier = signer.verifier_key
    write_private_key(key_path(key_dir, verifier), private_key)
    writer.append([Draft("key.activated", actor, {"key": f"{verifier.key_id:08x}"},
                         {"verifier_key": verifier.to_string()})])
    return signer


def load_signer(conn: psycopg.Connection, name: str, key_dir: Path) -> Signer:
    """The active signer; on a ledger with no key yet, generate the first one."""
    keys = store.list_signing_keys(conn)
    if not keys:
        with ledger_transaction(conn) as writer:
            writer.lock()  # concurrent first starts serialise here
            if not store.list_signing_keys(conn):
                return _activate(writer, name, key_dir, actor="system")
        keys = store.list_signing_keys(conn)
    return _signer_for(key_dir, keys[-1].verifier_key)


# Signers already read, by key directory and verifier key, with the key file's path and stat
# when read: a stat per use instead of reading and parsing the PEM (uploads sign every digest
# statement).
_loaded: dict[tuple[Path, str], tuple[Path, tuple[int, int, int, int], Signer]] = {}


def signer_for(key_dir: Path, verifier_key: str) -> Signer:
    """The signer of a published key (verifier key string) from its key file, as load_signer
    checks it; read once per process while the file stays the same."""
    return _signer_for(key_dir, verifier_key)


def _signer_for(key_dir: Path, verifier_key: str) -> Signer:
    cached = _loaded.get((key_dir, verifier_key))
    if cached is not None:
        path = cached[0]
    else:
        active = VerifierKey.from_string(verifier_key)
        path = key_path(key_dir, active)
    try:
        st = path.stat()
        stamp: tuple[int, int, int, int] | None = (st.st_ino, st.st_mtime_ns, st.st_size,
                                                   st.st_mode)
    except OSError:
        stamp = None  # read_private_key says why
    if stamp is not None and cached is not None and cached[1] == stamp:
        return cached[2]
    active = VerifierKey.from_string(verifier_key)
    signer = Signer(active.name, read_private_key(path))
    if signer.verifier_key != active:
        raise KeyFileError(f"key file {path} does not match key {active.key_id:08x}")
    if stamp is not None:
        _loaded[(key_dir, verifier_key)] = (path, stamp, signer)
    return signer


def rotate(conn: psycopg.Connection, name: str, key_dir: Path, actor: str) -> Signer:
    """Make a new active key; old public keys stay published for old checkpoints."""
    with ledger_transaction(conn) as writer:
        return _activate(writer, name, key_dir, actor)


def verifier_keys(conn: psycopg.Connection) -> list[VerifierKey]:
    """Every key ever used, oldest first."""
    return [VerifierKey.from_string(row.verifier_key) for row in store.list_signing_keys(conn)]
