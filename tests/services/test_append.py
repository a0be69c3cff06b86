"""Appending: facts and entries commit together, group commit, concurrency without forks."""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Any

import psycopg
import pytest
from databases import APP_ROLE

from app.ledger.entry import Draft
from app.ledger.errors import EntryError
from app.services.ledger import ledger_transaction
from app.services.verification import verify_database
from app.storage import ledger as store

WORKER = """
import sys
from app import db
from app.ledger.entry import Draft
from app.services.ledger import ledger_transaction
url, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
with db.connect(url) as conn:
    for i in range(count):
        with ledger_transaction(conn) as writer:
            writer.append([Draft("test.appended", "proc:" + name, {"item": str(i)})])
"""


def head_size(conn: psycopg.Connection) -> int:
    head = store.read_head(conn)
    assert head is not None
    return head.size


def verify_ok(database_url: str) -> Any:
    with psycopg.connect(database_url) as connection:
        result = verify_database(connection)
    assert result.damage is None, result.damage
    return result


def test_receipts_are_gapless_and_verify(services: Any, append: Any, database_url: str) -> None:
    receipts = append(5)
    seqs = [r.seq for r in receipts]
    assert seqs == list(range(seqs[0], seqs[0] + 5))
    assert len({r.chain_hash for r in receipts}) == 5
    assert verify_ok(database_url).entries == seqs[-1] + 1


def test_fact_and_entry_roll_back_together(services: Any, conn: psycopg.Connection) -> None:
    conn.execute("CREATE TABLE facts (id int PRIMARY KEY)")
    conn.execute(f"GRANT SELECT, INSERT ON facts TO {APP_ROLE}")  # type: ignore[arg-type]
    before = head_size(conn)

    def unit(writer: Any) -> None:
        writer.conn.execute("INSERT INTO facts VALUES (1)")
        writer.append([Draft("fact.recorded", "token:test")])
        raise RuntimeError("the request failed after writing")

    with pytest.raises(RuntimeError):
        services.committer.run(unit)
    assert conn.execute("SELECT count(*) FROM facts").fetchone()[0] == 0
    assert head_size(conn) == before
    assert conn.execute("SELECT count(*) FROM ledger_entries").fetchone()[0] == before


def test_bad_draft_writes_nothing(services: Any, conn: psycopg.Connection) -> None:
    before = head_size(conn)
    good = Draft("test.appended", "token:test")
    bad = Draft("test.appended", "token:test", body={"value": 0.5})
    with pytest.raises(EntryError, match="floats are never hashed"):
        services.committer.run(lambda writer: writer.append([good, bad]))
    assert head_size(conn) == before


def test_a_failing_unit_does_not_spoil_its_group(services: Any, database_url: str) -> None:
    """Many threads at once: the failing units fail alone, the rest commit."""
    errors: list[BaseException] = []
    receipts: list[Any] = []
    barrier = threading.Barrier(12)

    def worker(i: int) -> None:
        barrier.wait()

        def unit(writer: Any) -> Any:
            got = writer.append([Draft("test.appended", "token:test", {"item": str(i)})])
            if i % 3 == 0:
                raise ValueError(f"unit {i} fails")
            return got

        try:
            receipts.extend(services.committer.run(unit))
        except ValueError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 4 and len(receipts) == 8
    result = verify_ok(database_url)
    assert sorted(r.seq for r in receipts) == list(range(result.entries - 8, result.entries))


def test_units_queued_while_the_leader_waits_for_the_head_join_its_transaction(
        services: Any, database_url: str) -> None:
    """Another process holds the head (as a second gunicorn worker's commit does): the units
    that queue meanwhile go into the waiting leader's transaction, not a later one."""
    transactions: dict[int, int] = {}
    leader_waiting = threading.Event()

    def unit(i: int) -> Any:
        def run(writer: Any) -> Any:
            got = writer.append([Draft("test.appended", "token:test", {"item": str(i)})])
            transactions[i] = writer.conn.execute("SELECT txid_current()").fetchone()[0]
            return got
        return run

    with psycopg.connect(database_url) as holder:
        holder.execute("SELECT size FROM ledger_head WHERE id = 1 FOR UPDATE")
        leader = threading.Thread(target=services.committer.run, args=(unit(0),))
        leader.start()
        with psycopg.connect(database_url, autocommit=True) as watch:
            for _ in range(600):  # until the leader's connection waits on the row lock
                waiting = watch.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query LIKE %s", ("%ledger_head%FOR UPDATE%",)).fetchone()[0]
                if waiting:
                    leader_waiting.set()
                    break
                threading.Event().wait(0.05)
        assert leader_waiting.is_set()
        others = [threading.Thread(target=services.committer.run, args=(unit(i),))
                  for i in range(1, 6)]
        for thread in others:
            thread.start()
        for _ in range(600):  # all five queued behind the leader
            if len(services.committer._queue) == 5:
                break
            threading.Event().wait(0.01)
        assert len(services.committer._queue) == 5
        holder.rollback()
    for thread in [leader, *others]:
        thread.join(60)
    assert sorted(transactions) == list(range(6))
    assert len(set(transactions.values())) == 1  # one transaction, one commit
    verify_ok(database_url)


def test_threads_and_processes_never_fork_or_gap(services: Any, database_url: str) -> None:
    per_thread, per_process = 25, 60
    before = verify_ok(database_url).entries
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, database_url, f"p{n}",
                               str(per_process)]) for n in range(2)]
    got: list[int] = []

    def worker(i: int) -> None:
        for j in range(per_thread):
            draft = Draft("test.appended", f"thread:{i}", {"item": str(j)})
            [receipt] = services.committer.run(lambda w, d=draft: w.append([d]))
            got.append(receipt.seq)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    result = verify_ok(database_url)
    assert result.entries == before + 16 * per_thread + 2 * per_process
    assert len(set(got)) == len(got) == 16 * per_thread


def test_writer_outside_committer(database_url: str, services: Any) -> None:
    with psycopg.connect(database_url) as connection:
        with ledger_transaction(connection) as writer:
            first = writer.append([Draft("a.b", "x"), Draft("a.b", "y")])
            second = writer.append([Draft("a.c", "z")])
        assert [r.seq for r in first + second] == [first[0].seq + i for i in range(3)]
    verify_ok(database_url)
