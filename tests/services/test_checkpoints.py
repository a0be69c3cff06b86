"""Checkpoints are signed on demand, every N entries, and every T seconds while writes happen."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from app import build_services
from app.config import load_config
from app.ledger import merkle
from app.ledger.entry import Draft
from app.services import incremental, keys
from app.services.checkpoints import TreeMismatchError, make_checkpoint
from app.storage import ledger as store


def wait_for(condition: Callable[[], bool], limit: float = 20.0) -> bool:
    """Poll until condition holds; the limit only stops a hung test, nothing is timed."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def sizes(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        return [c.tree_size for c in store.list_checkpoints(conn)]


@pytest.fixture
def make_services(database_url: str, tmp_path: Path) -> Any:
    started: list[Any] = []

    def make(**overrides: Any) -> Any:
        config = load_config(environ={}, overrides={
            "database_url": database_url, "home": tmp_path, **overrides})
        services = build_services(config)
        started.append(services)
        return services

    yield make
    for services in started:
        services.close()


def write(services: Any, n: int) -> None:
    for i in range(n):
        services.committer.run(lambda w, i=i: w.append([Draft("test.appended", "t",
                                                              {"item": str(i)})]))


def test_every_n_entries(make_services: Any, database_url: str) -> None:
    services = make_services(checkpoint_every=5, checkpoint_interval=3600.0)
    write(services, 4)  # 5 start-up entries + 4 = 9 >= 5
    assert wait_for(lambda: bool(sizes(database_url)))
    assert sizes(database_url)[0] >= 5


def test_every_t_seconds_while_writes_happen(make_services: Any, database_url: str) -> None:
    services = make_services(checkpoint_every=1_000_000, checkpoint_interval=0.2)
    write(services, 1)  # 5 start-up entries + 1
    assert wait_for(lambda: 6 in sizes(database_url))
    write(services, 2)
    assert wait_for(lambda: 8 in sizes(database_url))
    settled = sizes(database_url)
    time.sleep(0.6)  # no writes: no new checkpoints (this waits, it does not time anything)
    assert sizes(database_url) == settled


def test_on_demand_is_idempotent_per_size(make_services: Any) -> None:
    services = make_services(checkpoint_interval=3600.0)
    first = services.checkpointer.sign_now()
    again = services.checkpointer.sign_now()
    assert first.note == again.note and first.tree_size == 5  # the 5 start-up entries


def test_checkpoint_root_matches_the_tree(make_services: Any, database_url: str) -> None:
    services = make_services(checkpoint_interval=3600.0)
    write(services, 9)
    row = services.checkpointer.sign_now()
    with psycopg.connect(database_url) as conn:
        leaves = [bytes(r.leaf_hash) for r in store.list_entries(conn, -1, 100)]
    assert row.root_hash == merkle.root_from_leaves(leaves)


def test_head_disagreeing_with_tree_is_not_signed(make_services: Any, database_url: str,
                                                  bypass: Any) -> None:
    services = make_services(checkpoint_interval=3600.0)
    write(services, 1)
    with bypass as conn:
        conn.execute("UPDATE ledger_head SET frontier = %s", (bytes(64),))  # size 6 = 2 hashes
    assert services.checkpointer.refused is None
    # The service verifies before it signs: it refuses, and remembers why (/readyz says so).
    with pytest.raises(incremental.Unverified, match="head_mismatch: the head's Merkle "
                                                     "frontier differs from the entries'"):
        services.checkpointer.sign_now()
    assert "head_mismatch" in services.checkpointer.refused
    # A caller that signs the head directly is refused too.
    config = services.config
    with psycopg.connect(database_url) as conn:
        signer = keys.load_signer(conn, config.origin, config.keys_path)
        with pytest.raises(TreeMismatchError, match="disagrees"):
            make_checkpoint(conn, signer, config.origin)
    assert sizes(database_url) == []


def test_a_large_backlog_is_verified_in_a_helper_process(
        make_services: Any, database_url: str, bypass: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Beside: what a thread would check, a process checks, in the same snapshot; its verdict,
    either way, comes back (a signature, or the refusal naming what disagrees)."""
    monkeypatch.setattr(incremental, "BESIDE_AT", 1)
    services = make_services(checkpoint_interval=3600.0)
    write(services, 3)
    row = services.checkpointer.sign_now()
    assert sizes(database_url) == [row.tree_size]
    write(services, 2)
    with bypass as conn:
        conn.execute("UPDATE ledger_head SET frontier = %s", (bytes(64),))
    with pytest.raises(incremental.Unverified, match="head_mismatch"):
        services.checkpointer.sign_now()
    assert "head_mismatch" in services.checkpointer.refused


def test_the_helper_process_runs_below_the_requests_priority_and_once() -> None:
    """The check is background work: on busy cores the request threads come first; and each
    check has a new process, so what one held is given back."""
    beside = incremental.Beside()
    try:
        ours = os.nice(0)
        assert beside.executor().submit(os.nice, 0).result() == min(
            ours + incremental.BACKGROUND_NICE, 19)
        assert os.nice(0) == ours  # this process is left as it was
        first = beside.executor().submit(os.getpid).result()
        assert beside.executor().submit(os.getpid).result() not in (first, os.getpid())
    finally:
        beside.close()
