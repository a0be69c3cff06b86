"""MLflow's experiment "0" is made once, by the service at start-up, with its entry: under
concurrent first starts (gunicorn workers) and on ledgers from before it existed."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg

from app import build_services
from app.config import load_config
from app.ledger.entry import Draft
from app.services.ledger import ledger_transaction
from app.services.verification import verify_database

WORKERS = 4


def boot(database_url: str, home: Path) -> Any:
    config = load_config(environ={}, overrides={
        "database_url": database_url, "home": home, "checkpoint_interval": 3600.0})
    return build_services(config, start_checkpointer=False)


def default_entries(database_url: str) -> list[dict[str, Any]]:
    with psycopg.connect(database_url) as conn:
        found = [json.loads(bytes(c)) for (c,) in conn.execute(
            "SELECT canonical FROM ledger_entries WHERE kind = 'experiment.created' "
            "ORDER BY seq")]
    return [e for e in found if e["subject"]["experiment"] == "0"]


def write_experiment(database_url: str, experiment_id: str, name: str, actor: str) -> None:
    """An entry as an older mlaudit wrote it, before any start-up of this version."""
    with psycopg.connect(database_url) as conn, ledger_transaction(conn) as writer:
        writer.append([Draft("experiment.created", actor, {"experiment": experiment_id},
                             {"name": name, "description": "", "tags": {}})])


def test_concurrent_first_starts_make_experiment_0_once(database_url: str,
                                                         tmp_path: Path) -> None:
    assert default_entries(database_url) == []
    ready = threading.Barrier(WORKERS)

    def start(_: int) -> Any:
        ready.wait()
        return boot(database_url, tmp_path)

    with ThreadPoolExecutor(WORKERS) as pool:
        started = list(pool.map(start, range(WORKERS)))
    for services in started:
        services.close()
    [made] = default_entries(database_url)
    assert made["actor"] == "system" and made["body"]["name"] == "Default"
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert verify_database(conn).ok


def test_a_ledger_without_experiment_0_gets_it_at_the_next_start(database_url: str,
                                                                  tmp_path: Path) -> None:
    write_experiment(database_url, "1", "older", "token:ci")
    boot(database_url, tmp_path).close()
    boot(database_url, tmp_path).close()
    [made] = default_entries(database_url)
    assert made["actor"] == "system" and made["seq"] > 0
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert conn.execute("SELECT id, name FROM experiments ORDER BY id").fetchall() == [
            ("0", "Default"), ("1", "older")]
        assert verify_database(conn).ok


def test_a_ledger_with_experiment_0_keeps_its_entry(database_url: str, tmp_path: Path) -> None:
    """Made on first use by an older version (its actor the token that asked): not again."""
    write_experiment(database_url, "0", "Default", "token:ci")
    boot(database_url, tmp_path).close()
    [kept] = default_entries(database_url)
    assert kept["actor"] == "token:ci" and kept["seq"] == 0
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert verify_database(conn).ok
