"""`mlaudit export`: the whole ledger as files that verifier/mlaudit_verify.py checks offline.

The layout is a public contract, described in docs/verifying.md:

    DIR/entries.jsonl            one JSON object per entry, in seq order
    DIR/checkpoints/<size>.note  each stored checkpoint's signed note, verbatim
    DIR/keys.txt                 every published verifier key, one per line, oldest first
    DIR/envelopes.jsonl          the artifact envelopes entries name by SHA-256 (for rebuild)
    DIR/manifest.json            format, counts, the head row, origin and SHA-256 of each file

Everything is read in one REPEATABLE READ snapshot; entries are streamed (bounded memory).
Each file is written under a temporary name and renamed; the manifest is written last, so
a directory without manifest.json is an incomplete export.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import psycopg
from psycopg import IsolationLevel

from app.db import DatabaseError
from app.ledger.entry import format_timestamp
from app.ledger.errors import LedgerError
from app.storage import artifacts as artifact_store
from app.storage import ledger as store

EXPORT_FORMAT = "mlaudit-export/1"
MANIFEST, ENTRIES, KEYS, CHECKPOINTS = "manifest.json", "entries.jsonl", "keys.txt", "checkpoints"
ENVELOPES = "envelopes.jsonl"


class ExportError(LedgerError):
    """The export directory cannot be used."""


@dataclass(frozen=True)
class ExportSummary:
    entries: int
    checkpoints: int
    keys: int


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def export_ledger(conn: psycopg.Connection, out: Path, origin: str,
                  force: bool = False) -> ExportSummary:
    """Write the ledger to `out`; a non-empty `out` is refused unless force."""
    _prepare(out, force)
    try:
        return _export(conn, out, origin)
    except psycopg.Error as exc:
        raise DatabaseError(f"export stopped: {str(exc).strip().splitlines()[0]}") from exc
    except OSError as exc:
        raise ExportError(f"cannot write the export: {exc}") from exc


def _prepare(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ExportError(f"{out} is not empty; pass --force to overwrite an export there")
    try:
        (out / CHECKPOINTS).mkdir(parents=True, exist_ok=True)
        (out / MANIFEST).unlink(missing_ok=True)  # no manifest until this export is complete
    except OSError as exc:
        raise ExportError(f"cannot prepare {out}: {exc.strerror}") from exc


def _export(conn: psycopg.Connection, out: Path, origin: str) -> ExportSummary:
    conn.isolation_level = IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    with conn.transaction():
        head = store.read_head(conn)
        checkpoints = store.list_checkpoints(conn)
        keys = [row.verifier_key for row in store.list_signing_keys(conn)]
        count, entries_digest = _write_lines(out / ENTRIES, _entry_lines(conn), sync=True)
        _, envelopes_digest = _write_lines(out / ENVELOPES, (
            json.dumps({"sha256": d, "envelope": e}, separators=(",", ":"),
                       sort_keys=True).encode() + b"\n"
            for d, e in artifact_store.all_envelopes(conn)))
    digests = {ENTRIES: entries_digest,
               KEYS: _write(out / KEYS, "".join(f"{key}\n" for key in keys).encode()),
               ENVELOPES: envelopes_digest}
    digests.update(_write_notes(out, checkpoints))
    manifest: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "exported_at": format_timestamp(datetime.now(UTC)),
        "entries": count,
        "head": None if head is None else {"size": head.size,
                                           "chain_hash": _b64(bytes(head.chain_hash)),
                                           "frontier": _b64(bytes(head.frontier))},
        "checkpoints_signed_at": {str(c.tree_size): format_timestamp(c.signed_at)
                                  for c in checkpoints},
        "origin": origin,
        "sha256": digests,
    }
    _write(out / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode(), sync=True)
    return ExportSummary(count, len(checkpoints), len(keys))


def _entry_lines(conn: psycopg.Connection) -> Iterator[bytes]:
    """Every entry as a line of entries.jsonl, streamed."""
    for seq, canonical, leaf, chain, nodes in store.stream_entries(conn):
        yield json.dumps({"seq": seq, "canonical": _b64(canonical), "leaf_hash": _b64(leaf),
                          "chain_hash": _b64(chain), "nodes": _b64(nodes)},
                         separators=(",", ":")).encode() + b"\n"


def _write_lines(path: Path, lines: Iterable[bytes], sync: bool = False) -> tuple[int, str]:
    """Stream the lines to the file; return their count and the file's SHA-256."""
    digest, count = hashlib.sha256(), 0
    with _atomic(path, sync) as out:
        for line in lines:
            out.write(line)
            digest.update(line)
            count += 1
    return count, digest.hexdigest()


def _write_notes(out: Path, checkpoints: list[store.CheckpointRow]) -> dict[str, str]:
    """One file per checkpoint; notes left by an earlier export in the directory are removed."""
    digests = {}
    for row in checkpoints:
        name = f"{CHECKPOINTS}/{row.tree_size}.note"
        digests[name] = _write(out / name, row.note.encode("utf-8"))
    for stale in (out / CHECKPOINTS).glob("*.note"):
        if f"{CHECKPOINTS}/{stale.name}" not in digests:
            stale.unlink()
    return digests


def _write(path: Path, data: bytes, sync: bool = False) -> str:
    with _atomic(path, sync) as out:
        out.write(data)
    return hashlib.sha256(data).hexdigest()


@contextmanager
def _atomic(path: Path, sync: bool) -> Iterator[IO[bytes]]:
    """Write to a temporary name in the same directory, then rename over `path`."""
    temp = path.with_name(f".{path.name}.tmp")
    try:
        with temp.open("wb") as out:
            yield out
            if sync:
                out.flush()
                os.fsync(out.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
