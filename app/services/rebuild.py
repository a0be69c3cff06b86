"""`mlaudit rebuild`: every projection replayed from the ledger, by the registry's reducers.

The source is a database or an export directory. Its entries are verified as they are read
(the chain, the tree, every checkpoint with the trusted keys, the head) and copied verbatim
into an empty database, with the query copies (kind, actor, recorded_at) taken from the
canonical bytes; then each entry's reducer rows are stored there in seq order, batch by batch
with COPY, the tables of a batch in the registry's order (each table's rows refer only to
rows of tables before it or of earlier entries). The database's triggers keep the current
tables from the revisions and events, and its guards check the authority rows at commit, as
on the write path. The artifact envelopes (content-addressed, named by entries) are copied.
tests/test_rebuild.py compares a rebuilt database with the one the API wrote, row for row.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from app import kinds
from app.kinds import TABLES, MemoryState
from app.kinds.memory import KEEP
from app.ledger.checkpoint import CheckpointError, VerifierKey, parse_checkpoint
from app.ledger.entry import decode, parse_timestamp
from app.ledger.errors import LedgerError
from app.ledger.verify import Damage, Head, StoredCheckpoint, verify_entries
from app.services.environments import adopt_after_replay
from app.storage import artifacts as artifact_store
from app.storage import ledger as store
from app.storage import projection
from app.storage import tracking as tracking_store

BATCH = 10_000  # entries whose rows are stored per round of COPYs
Progress = Callable[[Iterator[Any], int, str], Iterator[Any]]  # rows, total, what is done


class RebuildError(LedgerError):
    """The rebuild cannot run: the target is not empty, or the source is unusable."""


class SourceDamaged(RebuildError):
    """The source ledger does not verify; nothing is rebuilt from it."""

    def __init__(self, damage: Damage) -> None:
        where = f"seq {damage.seq}" if damage.seq is not None else f"checkpoint {damage.checkpoint}"
        super().__init__(f"the source ledger is damaged at {where}: {damage.kind}: "
                         f"{damage.detail}")
        self.damage = damage


@dataclass(frozen=True)
class Replayed:
    entries: int
    rows: int


@dataclass(frozen=True)
class Source:
    """A ledger to rebuild from: its entries as verify streams them, its checkpoints, head
    and artifact envelopes."""

    rows: Iterable[tuple[int, bytes, bytes, bytes, bytes]]
    checkpoints: Sequence[tuple[store.CheckpointRow, StoredCheckpoint]]
    head: store.HeadRow | None
    envelopes: Iterable[tuple[str, Any]]
    keys: Sequence[VerifierKey]


def replay(conn: psycopg.Connection, entries: Iterable[tuple[int, bytes]]) -> Replayed:
    """Store the rows every entry (seq, canonical bytes) makes, in the caller's transaction;
    the projection tables must be empty. ReduceError names an entry that does not fit."""
    pending: dict[str, list[kinds.Row]] = {}
    ask = projection.earlier(conn)

    def earlier(table: str, key: tuple[Any, ...], before: int) -> dict[str, Any] | None:
        _flush(conn, pending)  # the rows of the entries before `before` are all stored
        return ask(table, key, before)

    # Memory stays bounded: current rows let go of are read back from what is stored.
    state = MemoryState(fold_events=False, limit=KEEP, earlier=earlier)
    count = stored = 0
    for seq, canonical in entries:
        entry = kinds.entry_from_canonical(canonical)
        if entry.seq != seq:
            raise kinds.ReduceError(f"the entry at {seq} says it is entry {entry.seq}")
        state.advance(seq)
        for table, rows in state.apply(kinds.reduce(entry, state)):
            pending.setdefault(table, []).extend(rows)
            stored += len(rows)
        count += 1
        if count % BATCH == 0:
            _flush(conn, pending)
    _flush(conn, pending)
    return Replayed(count, stored)


def _flush(conn: psycopg.Connection, pending: dict[str, list[kinds.Row]]) -> None:
    for table in TABLES:
        rows = pending.pop(table.name, None)
        if rows:
            projection.copy_rows(conn, table.name, rows)


def rebuild(target: psycopg.Connection, source: Source,
            progress: Progress | None = None, total: int = 0,
            legacy_protected: Sequence[str] = ("prod",)) -> Replayed:
    """Copy the verified source ledger into the empty target and replay it, in one
    transaction (nothing is left behind if anything fails)."""
    with target.transaction():
        if store.count_entries(target) or store.read_head(target).size:  # type: ignore[union-attr]
            raise RebuildError("the target database already holds ledger entries; rebuild "
                               "needs an empty one (a new database; the schema is applied)")
        _copy_ledger(target, source, progress, total)
        for row, _ in source.checkpoints:
            store.insert_checkpoint(target, row)
        if source.head is not None:
            store.save_head(target, source.head)
        for digest, envelope in source.envelopes:
            artifact_store.keep_envelope(target, digest, envelope)
        entries: Iterator[tuple[int, bytes]] = store.entry_pages(target)
        if progress is not None:
            entries = progress(entries, total, "replaying")
        done = replay(target, entries)
        # A ledger written before environments were declared: its deployments' environments
        # are adopted by entries appended after it, as the upgrade does.
        adopt_after_replay(target, legacy_protected)
        tracking_store.advance_experiment_ids(target)
    return done


def _copy_ledger(target: psycopg.Connection, source: Source, progress: Progress | None,
                 total: int) -> None:
    """Verify the source's entries while COPYing them into the target."""
    rows: Iterator[Any] = iter(source.rows)
    if progress is not None:
        rows = progress(rows, total, "copying")
    with store.copy_entries(target) as write_rows:
        def passing() -> Iterator[tuple[int, bytes, bytes, bytes, bytes]]:
            for seq, canonical, leaf, chain, nodes in rows:
                yield seq, canonical, leaf, chain, nodes
                try:
                    document = decode(canonical)
                    at = parse_timestamp(document["recorded_at"])
                    write_rows([(seq, canonical, leaf, chain, nodes, document["kind"],
                                 document["actor"], at)])
                except (LedgerError, KeyError, TypeError, ValueError):
                    return  # the verifier has already named it (modified)

        head = None if source.head is None else Head(
            source.head.size, bytes(source.head.chain_hash), bytes(source.head.frontier))
        result = verify_entries(passing(), [c for _, c in source.checkpoints], source.keys, head)
    if result.damage is not None:
        raise SourceDamaged(result.damage)


def database_source(conn: psycopg.Connection, keys: Sequence[VerifierKey] | None) -> Source:
    """The ledger of a database (read in one snapshot by the caller's open transaction)."""
    checkpoints = [(row, StoredCheckpoint(row.tree_size, bytes(row.root_hash), row.note))
                   for row in store.list_checkpoints(conn)]
    if keys is None:
        keys = [VerifierKey.from_string(r.verifier_key) for r in store.list_signing_keys(conn)]
    return Source(store.stream_entries(conn), checkpoints, store.read_head(conn),
                  artifact_store.all_envelopes(conn), keys)


def export_source(path: Path, keys: Sequence[VerifierKey] | None) -> Source:
    """The ledger of an export directory (docs/verifying.md section 10)."""
    try:
        manifest = json.loads((path / "manifest.json").read_text())
        lines = (path / "entries.jsonl").open("rb")
    except (OSError, ValueError) as exc:
        raise RebuildError(f"{path} is not an mlaudit export: {exc}") from exc
    signed_at = manifest.get("checkpoints_signed_at") or {}
    checkpoints = []
    for note_file in sorted((path / "checkpoints").glob("*.note"), key=lambda p: int(p.stem)):
        note = note_file.read_text()
        try:
            body = parse_checkpoint(note[: note.index("\n\n") + 1].encode("utf-8"))
        except (CheckpointError, ValueError) as exc:
            raise RebuildError(f"{note_file} is not a checkpoint note: {exc}") from exc
        key_id = int.from_bytes(base64.b64decode(note.rsplit(" ", 1)[1])[:4], "big")
        at = signed_at.get(str(body.tree_size), manifest.get("exported_at"))
        checkpoints.append((store.CheckpointRow(body.tree_size, body.root_hash, key_id, note,
                                                parse_timestamp(at)),
                            StoredCheckpoint(body.tree_size, body.root_hash, note)))
    if keys is None:
        keys = [VerifierKey.from_string(k) for k in (path / "keys.txt").read_text().split()]
    head = manifest.get("head")
    head_row = None if head is None else store.HeadRow(
        int(head["size"]), base64.b64decode(head["chain_hash"]), _frontier(head))
    return Source(_export_rows(lines), checkpoints, head_row, _export_envelopes(path), keys)


def _frontier(head: dict[str, Any]) -> bytes:
    if "frontier" not in head:
        raise RebuildError("the export's manifest has no head frontier; export it again with "
                           "this version of mlaudit")
    return base64.b64decode(head["frontier"])


def _export_rows(lines: Any) -> Iterator[tuple[int, bytes, bytes, bytes, bytes]]:
    with lines:
        for number, line in enumerate(lines):
            try:
                item = json.loads(line)
                yield (int(item["seq"]), base64.b64decode(item["canonical"], validate=True),
                       base64.b64decode(item["leaf_hash"], validate=True),
                       base64.b64decode(item["chain_hash"], validate=True),
                       base64.b64decode(item["nodes"], validate=True))
            except (ValueError, KeyError, TypeError) as exc:  # binascii.Error is a ValueError
                raise SourceDamaged(Damage(  # entries.jsonl holds seq 0, 1, ... in order
                    "modified", f"line {number + 1} of entries.jsonl does not parse: {exc}",
                    seq=number)) from exc


def _export_envelopes(path: Path) -> Iterator[tuple[str, Any]]:
    file = path / "envelopes.jsonl"
    if not file.exists():
        return
    with file.open("rb") as lines:
        for line in lines:
            item = json.loads(line)
            yield item["sha256"], item["envelope"]

