"""All SQL for the ledger: the head row, entries, Merkle nodes, checkpoints and signing keys."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import postgres
from psycopg.adapt import PyFormat
from psycopg.rows import class_row

from app.ledger.merkle import HASH_SIZE, NodeId

_BYTES_DUMPER = postgres.adapters.get_dumper(bytes, PyFormat.BINARY)
COPY_THRESHOLD = 64  # at or above this many rows an insert goes through COPY
ENTRY_COLUMNS = "seq, canonical, leaf_hash, chain_hash, nodes, kind, actor, recorded_at"


@dataclass
class HeadRow:
    size: int
    chain_hash: bytes
    frontier: bytes


@dataclass
class EntryRow:
    seq: int
    canonical: bytes
    leaf_hash: bytes
    chain_hash: bytes
    nodes: bytes
    kind: str
    actor: str
    recorded_at: datetime


@dataclass
class CheckpointRow:
    tree_size: int
    root_hash: bytes
    key_id: int
    note: str
    signed_at: datetime


@dataclass
class SigningKeyRow:
    verifier_key: str
    name: str
    key_id: int
    public_key: bytes
    activated_at: datetime


def lock_head(conn: psycopg.Connection) -> HeadRow:
    """Lock the head row until the transaction ends: this serialises all appenders."""
    with conn.cursor(row_factory=class_row(HeadRow)) as cur:
        row = cur.execute(
            "SELECT size, chain_hash, frontier FROM ledger_head WHERE id = 1 FOR UPDATE"
        ).fetchone()
    if row is None:
        raise LookupError("ledger_head row is missing; run `mlaudit init`")
    return row


def begin_and_lock_head(conn: psycopg.Connection) -> HeadRow:
    """BEGIN and lock_head in one pipelined round trip, on a connection in autocommit (so
    that psycopg sends no BEGIN of its own): the transaction is then the caller's to end."""
    with conn.cursor(row_factory=class_row(HeadRow)) as cur:
        with conn.pipeline():
            conn.execute("BEGIN", prepare=False)
            cur.execute(
                "SELECT size, chain_hash, frontier FROM ledger_head WHERE id = 1 FOR UPDATE")
        row = cur.fetchone()
    if row is None:
        raise LookupError("ledger_head row is missing; run `mlaudit init`")
    return row


def read_head(conn: psycopg.Connection) -> HeadRow | None:
    with conn.cursor(row_factory=class_row(HeadRow)) as cur:
        return cur.execute(
            "SELECT size, chain_hash, frontier FROM ledger_head WHERE id = 1"
        ).fetchone()


def save_head(conn: psycopg.Connection, head: HeadRow) -> None:
    conn.execute(
        "UPDATE ledger_head SET size = %s, chain_hash = %s, frontier = %s WHERE id = 1",
        (head.size, head.chain_hash, head.frontier),
    )


EntryValues = tuple[int, bytes, bytes, bytes, bytes, str, str, datetime]


def insert_entries_and_save_head(conn: psycopg.Connection, values: Sequence[EntryValues],
                                 head: HeadRow) -> None:
    """insert_entries then save_head, in the caller's transaction. A few entries share one
    pipelined round trip with the head's UPDATE (COPY cannot run in a pipeline, so more go
    as insert_entries sends them). An error still aborts the transaction before COMMIT."""
    if len(values) >= COPY_THRESHOLD:
        insert_entries(conn, values)
        save_head(conn, head)
        return
    with conn.pipeline():
        if values:
            insert_entries(conn, values)
        save_head(conn, head)


def flush_and_commit(conn: psycopg.Connection, values: Sequence[EntryValues],
                     head: HeadRow | None) -> None:
    """insert_entries, save_head (unless head is None) and COMMIT, of a transaction begun by
    begin_and_lock_head: a few entries share one pipelined round trip with the head's UPDATE
    and the COMMIT. An error in any statement skips the rest, COMMIT included, and is raised
    here; the transaction is then left for the caller to roll back."""
    if len(values) >= COPY_THRESHOLD:
        insert_entries(conn, values)
        values = ()
    with conn.pipeline():
        if values:
            insert_entries(conn, values)
        if head is not None:
            save_head(conn, head)
        conn.execute("COMMIT", prepare=False)


def insert_entries(conn: psycopg.Connection, values: Sequence[EntryValues]) -> None:
    """Insert entries in the caller's transaction (COPY for large batches).

    Each value is (seq, canonical, leaf_hash, chain_hash, nodes, kind, actor, recorded_at).
    """
    with conn.cursor() as cur:
        if len(values) == 1:
            cur.execute(
                f"INSERT INTO ledger_entries ({ENTRY_COLUMNS}) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                values[0],
            )
            return
        if len(values) < COPY_THRESHOLD:
            cur.executemany(
                f"INSERT INTO ledger_entries ({ENTRY_COLUMNS}) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                values,
            )
            return
    with copy_entries(conn) as write_rows:
        write_rows(values)


@contextmanager
def copy_entries(
    conn: psycopg.Connection,
) -> Iterator[Callable[[Iterable[EntryValues]], None]]:
    """A COPY into ledger_entries; the block passes rows to the yielded function, in batches."""
    with conn.cursor() as cur:
        # Typed by oid, bytea would get psycopg's pure-Python DB-API dumper; register the
        # C dumper for bytes on this cursor so that it serves the bytea oid as well.
        cur.adapters.register_dumper(bytes, _BYTES_DUMPER)
        statement = f"COPY ledger_entries ({ENTRY_COLUMNS}) FROM STDIN (FORMAT BINARY)"
        with cur.copy(statement) as copy:
            copy.set_types(
                ["int8", "bytea", "bytea", "bytea", "bytea", "text", "text", "timestamptz"]
            )
            write_row = copy.write_row

            def write_rows(rows: Iterable[EntryValues]) -> None:
                for row in rows:
                    write_row(row)

            yield write_rows


def get_entry(conn: psycopg.Connection, seq: int) -> EntryRow | None:
    with conn.cursor(row_factory=class_row(EntryRow)) as cur:
        return cur.execute(
            f"SELECT {ENTRY_COLUMNS} FROM ledger_entries WHERE seq = %s", (seq,)
        ).fetchone()


def list_entries(conn: psycopg.Connection, after: int, limit: int) -> list[EntryRow]:
    """Keyset page: entries with seq > after, in seq order."""
    with conn.cursor(row_factory=class_row(EntryRow)) as cur:
        return cur.execute(
            f"SELECT {ENTRY_COLUMNS} FROM ledger_entries WHERE seq > %s ORDER BY seq LIMIT %s",
            (after, limit),
        ).fetchall()


StreamRow = tuple[int, bytes, bytes, bytes, bytes]


def stream_entries(conn: psycopg.Connection, batch: int = 5000) -> Iterator[StreamRow]:
    """Every entry in seq order through a server-side cursor: memory stays bounded.

    A reader thread fetches the next batch while the caller works on this one (at most
    three batches are held), so the database and the verifier run side by side.
    """
    batches: queue.Queue[list[StreamRow] | BaseException | None] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def read() -> None:
        try:
            with conn.cursor(name="mlaudit_verify_stream", binary=True) as cur:
                cur.execute("SELECT seq, canonical, leaf_hash, chain_hash, nodes "
                            "FROM ledger_entries ORDER BY seq")
                while not stop.is_set():
                    rows = cur.fetchmany(batch)
                    if not rows:
                        break
                    batches.put(rows)
            batches.put(None)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            batches.put(exc)

    reader = threading.Thread(target=read, name="mlaudit-stream", daemon=True)
    reader.start()
    try:
        while (item := batches.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield from item
    finally:
        stop.set()
        while reader.is_alive():  # unblock a reader waiting on a full queue
            try:
                batches.get_nowait()
            except queue.Empty:
                reader.join(0.05)


def entry_pages(conn: psycopg.Connection, after: int = -1,
                page: int = 5000) -> Iterator[tuple[int, bytes]]:
    """(seq, canonical) of every entry after a seq, read a page at a time by seq (each page is
    fetched whole, so the caller may use the connection between them, e.g. to COPY)."""
    while True:
        rows = conn.execute("SELECT seq, canonical FROM ledger_entries WHERE seq > %s "
                            "ORDER BY seq LIMIT %s", (after, page)).fetchall()
        for seq, canonical in rows:
            yield int(seq), bytes(canonical)
        if len(rows) < page:
            return
        after = int(rows[-1][0])


def entry_hashes(conn: psycopg.Connection, since: int) -> Iterator[StreamRow]:
    """(seq, canonical, leaf_hash, chain_hash, nodes) of the entries from since on, by seq."""
    with conn.cursor(name="mlaudit_since", binary=True) as cur:
        cur.itersize = 2000
        cur.execute("SELECT seq, canonical, leaf_hash, chain_hash, nodes FROM ledger_entries "
                    "WHERE seq >= %s ORDER BY seq", (since,))
        yield from cur


def count_entries(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM ledger_entries").fetchone()
    return int(row[0]) if row else 0


def node_seq(node: NodeId) -> tuple[int, int]:
    """Where a perfect subtree's hash is stored: (entry seq, byte offset in its nodes or -1)."""
    level, index = node
    if level == 0:
        return index, -1
    return ((index + 1) << level) - 1, (level - 1) * HASH_SIZE


def get_nodes(conn: psycopg.Connection, wanted: Sequence[NodeId]) -> Mapping[NodeId, bytes]:
    """Hashes of perfect subtrees, read in one query from the entries that completed them."""
    places = {node: node_seq(node) for node in wanted}
    seqs = sorted({seq for seq, _ in places.values()})
    rows = conn.execute(
        "SELECT seq, leaf_hash, nodes FROM ledger_entries WHERE seq = ANY(%s)", (seqs,)
    ).fetchall()
    by_seq = {seq: (leaf, nodes) for seq, leaf, nodes in rows}
    found: dict[NodeId, bytes] = {}
    for node, (seq, offset) in places.items():
        if seq not in by_seq:
            raise LookupError(f"entry {seq} is missing; the Merkle tree cannot be read")
        leaf, nodes = by_seq[seq]
        value = bytes(leaf) if offset < 0 else bytes(nodes[offset : offset + HASH_SIZE])
        if len(value) != HASH_SIZE:
            raise LookupError(f"entry {seq} lacks Merkle node {node}")
        found[node] = value
    return found


def insert_checkpoint(conn: psycopg.Connection, row: CheckpointRow) -> bool:
    """Store a checkpoint; False when one of that tree size already exists."""
    cur = conn.execute(
        "INSERT INTO checkpoints (tree_size, root_hash, key_id, note, signed_at) "
        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (tree_size) DO NOTHING",
        (row.tree_size, row.root_hash, row.key_id, row.note, row.signed_at),
    )
    return cur.rowcount == 1


_CHECKPOINT_SELECT = "SELECT tree_size, root_hash, key_id, note, signed_at FROM checkpoints"


def get_checkpoint(conn: psycopg.Connection, tree_size: int) -> CheckpointRow | None:
    with conn.cursor(row_factory=class_row(CheckpointRow)) as cur:
        return cur.execute(f"{_CHECKPOINT_SELECT} WHERE tree_size = %s", (tree_size,)).fetchone()


def latest_checkpoint(conn: psycopg.Connection) -> CheckpointRow | None:
    with conn.cursor(row_factory=class_row(CheckpointRow)) as cur:
        return cur.execute(f"{_CHECKPOINT_SELECT} ORDER BY tree_size DESC LIMIT 1").fetchone()


def latest_checkpoint_at_most(conn: psycopg.Connection, size: int) -> CheckpointRow | None:
    with conn.cursor(row_factory=class_row(CheckpointRow)) as cur:
        return cur.execute(f"{_CHECKPOINT_SELECT} WHERE tree_size <= %s "
                           "ORDER BY tree_size DESC LIMIT 1", (size,)).fetchone()


def list_checkpoints(conn: psycopg.Connection) -> list[CheckpointRow]:
    with conn.cursor(row_factory=class_row(CheckpointRow)) as cur:
        return cur.execute(f"{_CHECKPOINT_SELECT} ORDER BY tree_size").fetchall()


def list_signing_keys(conn: psycopg.Connection) -> list[SigningKeyRow]:
    """All keys ever used, oldest first; the last one is the active key."""
    with conn.cursor(row_factory=class_row(SigningKeyRow)) as cur:
        return cur.execute(
            "SELECT verifier_key, name, key_id, public_key, activated_at FROM signing_keys "
            "ORDER BY seq"
        ).fetchall()


@dataclass
class LedgerStats:
    size: int
    checkpoint_size: int | None
    checkpoint_signed_at: datetime | None


def ledger_stats(conn: psycopg.Connection) -> LedgerStats | None:
    """The head's size and the latest checkpoint, in one cheap query (for /metrics)."""
    with conn.cursor(row_factory=class_row(LedgerStats)) as cur:
        return cur.execute(
            "SELECT h.size, c.tree_size AS checkpoint_size, c.signed_at AS checkpoint_signed_at "
            "FROM ledger_head h LEFT JOIN LATERAL (SELECT tree_size, signed_at FROM checkpoints "
            "ORDER BY tree_size DESC LIMIT 1) c ON true WHERE h.id = 1"
        ).fetchone()


def rules_adopted(conn: psycopg.Connection) -> set[str]:
    """The names of the rules the database has adopted (rules.adopted entries)."""
    return {r[0] for r in conn.execute("SELECT rule FROM rules_adopted").fetchall()}
