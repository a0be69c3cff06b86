"""LedgerWriter's batch path: streamed appends store exactly the documented bytes and hashes."""

from __future__ import annotations

import gc

import psycopg
import pytest

from app.ledger import entry
from app.ledger.entry import Draft
from app.ledger.errors import EntryError
from app.services.ledger import (
    HASH_BLOCK,
    STREAM_THRESHOLD,
    _CollectorPause,
    ledger_transaction,
)
from app.services.verification import verify_database
from app.storage.ledger import COPY_THRESHOLD


def drafts(count: int, start: int = 0) -> list[Draft]:
    """Well-formed metrics.logged drafts: the writer also stores the metrics rows their
    reducer makes, and verify_database holds those rows to the entries."""
    return [Draft("metrics.logged", "token:ci", {"experiment": "e1", "run": f"r{i % 7}"},
                  {"metrics": [{"key": "é\U0001f600" if i % 97 == 0 else "x",
                                "value": f"0.{i}", "step": str(i), "timestamp": str(i),
                                "group": {"sex": "F"}, "n": str(i)}]})
            for i in range(start, start + count)]


def test_streamed_and_buffered_appends_store_the_documented_entries(database_url: str) -> None:
    count = STREAM_THRESHOLD + 2 * HASH_BLOCK + 3
    with psycopg.connect(database_url, autocommit=True) as conn:
        with ledger_transaction(conn) as writer:
            first = writer.append(drafts(3))
            big = writer.append(drafts(count, 3))
            last = writer.append(drafts(1, 3 + count))
        receipts = first + big + last
        assert gc.isenabled()
        assert [r.seq for r in receipts] == list(range(receipts[0].seq, receipts[0].seq + len(
            receipts)))
        rows = conn.execute("SELECT seq, canonical, leaf_hash, chain_hash, recorded_at "
                            "FROM ledger_entries WHERE seq >= %s ORDER BY seq",
                            (receipts[0].seq,)).fetchall()
        assert len(rows) == len(receipts)
        for receipt, (seq, canonical, leaf, chain, _), draft in zip(
                receipts, rows, drafts(3 + count + 1), strict=True):
            assert (seq, leaf, chain) == (receipt.seq, receipt.leaf_hash, receipt.chain_hash)
            assert canonical == entry.canonical_bytes(draft, seq, receipt.recorded_at)
        stored = conn.execute("SELECT count(*) FROM metrics WHERE seq >= %s",
                              (receipts[0].seq,)).fetchone()[0]
        assert stored == len(receipts)  # one metric per entry, streamed or buffered
        result = verify_database(conn)
        assert result.ok, result.damage
        assert result.entries == receipts[-1].seq + 1


def test_a_bad_draft_in_a_stream_fails_the_whole_append(database_url: str) -> None:
    batch = drafts(STREAM_THRESHOLD + HASH_BLOCK)
    batch[STREAM_THRESHOLD] = Draft("metrics.logged", "token:ci", body={"value": 0.5})
    with psycopg.connect(database_url, autocommit=True) as conn:
        size = conn.execute("SELECT size FROM ledger_head").fetchone()[0]
        with pytest.raises(EntryError, match="floats are never hashed"):
            with ledger_transaction(conn) as writer:
                writer.append(batch)
        assert gc.isenabled()
        assert conn.execute("SELECT size FROM ledger_head").fetchone()[0] == size
        assert conn.execute("SELECT count(*) FROM ledger_entries").fetchone()[0] == size


def test_collector_pause_nests_and_restores() -> None:
    pause = _CollectorPause()
    assert gc.isenabled()
    with pause():
        assert not gc.isenabled()
        with pause():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause is still running
    assert gc.isenabled()
    gc.disable()
    try:
        with pause():
            assert not gc.isenabled()
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()
    with pytest.raises(RuntimeError), pause():
        raise RuntimeError
    assert gc.isenabled()


@pytest.mark.parametrize("count", [1, COPY_THRESHOLD - 1, COPY_THRESHOLD])
def test_flush_stores_the_entries_and_the_head_together(database_url: str, count: int) -> None:
    """Fewer than COPY_THRESHOLD buffered entries share a pipelined round trip with the head's
    UPDATE; more go by COPY first. Either way both are stored, in the transaction."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        with ledger_transaction(conn) as writer:
            receipts = writer.append(drafts(count))
        size = conn.execute("SELECT size FROM ledger_head WHERE id = 1").fetchone()[0]
        assert size == receipts[-1].seq + 1
        stored = conn.execute("SELECT count(*) FROM ledger_entries WHERE seq >= %s",
                              (receipts[0].seq,)).fetchone()[0]
        assert stored == count
        result = verify_database(conn)
        assert result.ok, result.damage


@pytest.mark.parametrize("count", [1, COPY_THRESHOLD - 1, COPY_THRESHOLD])
def test_a_failed_flush_leaves_neither_entries_nor_head(database_url: str, count: int) -> None:
    """An entry refused in the pipelined flush (here a seq already taken) fails the
    transaction: the head's UPDATE sent with it is rolled back too, not committed alone."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        with ledger_transaction(conn) as writer:
            writer.append(drafts(1))
        head = conn.execute("SELECT size, chain_hash FROM ledger_head WHERE id = 1").fetchone()
        entries = conn.execute("SELECT count(*) FROM ledger_entries").fetchone()[0]
        with pytest.raises(psycopg.errors.UniqueViolation):
            with ledger_transaction(conn) as writer:
                writer.append(drafts(count), project=False)
                writer._buffer[-1] = (head[0] - 1, *writer._buffer[-1][1:])
        assert conn.execute("SELECT size, chain_hash FROM ledger_head WHERE id = 1"
                            ).fetchone() == head
        assert conn.execute("SELECT count(*) FROM ledger_entries").fetchone()[0] == entries
