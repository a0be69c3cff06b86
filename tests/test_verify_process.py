"""A large ledger's projections are replayed in a process of their own, beside the chain check:
the verdicts are the same as in a thread."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from app.services import tracking, verification


@pytest.fixture
def in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verification, "PROCESS_AT", 0)


def _run(services: Any) -> str:
    who = "token:t"
    experiment, _ = services.committer.run(lambda w: tracking.create_experiment(w, who, "p", "",
                                                                                {}))
    run, _ = services.committer.run(lambda w: tracking.create_run(
        w, who, experiment.id, "r", {}, None, None, {"k": "v"}))
    services.committer.run(lambda w: tracking.log_params(w, who, run.id, {"a": "1"}))
    return str(run.id)


def test_a_clean_ledger_verifies_in_a_process(services: Any, in_process: None,
                                              conn: psycopg.Connection) -> None:
    _run(services)
    result = verification.verify_database(conn)
    assert result.ok and result.entries > 3


def test_damage_found_in_the_process_is_reported(services: Any, in_process: None,
                                                 conn: psycopg.Connection) -> None:
    run = _run(services)
    conn.execute("ALTER TABLE params DISABLE TRIGGER USER")
    conn.execute("UPDATE params SET value = '2' WHERE run_id = %s", (run,))
    damage = verification.verify_database(conn).damage
    assert damage is not None and damage.kind == "projection_mismatch"
    assert damage.detail.endswith("differs from what entry "
                                  f"{damage.seq} makes: value")


def test_chain_damage_stops_the_process(services: Any, in_process: None, bypass: Any,
                                        conn: psycopg.Connection) -> None:
    _run(services)
    with bypass as tamper:
        tamper.execute("UPDATE ledger_entries SET canonical = canonical || ' ' WHERE seq = 3")
    damage = verification.verify_database(conn).damage
    assert damage is not None and (damage.kind, damage.seq) == ("modified", 3)


def test_damage_in_each_share_is_reported_from_its_process(
        services: Any, in_process: None, conn: psycopg.Connection) -> None:
    run = _run(services)
    services.committer.run(lambda w: tracking.log_metrics(
        w, "token:t", run, [tracking.Metric("loss", "0.5", 0, 1, None, None)]))
    conn.execute("ALTER TABLE metrics DISABLE TRIGGER USER")
    conn.execute("UPDATE metrics SET value = '0.25', value_number = 0.25 WHERE run_id = %s",
                 (run,))
    damage = verification.verify_database(conn).damage
    assert damage is not None and damage.detail.startswith("the metrics row")
    conn.execute("ALTER TABLE params DISABLE TRIGGER USER")
    conn.execute("UPDATE params SET value = '2' WHERE run_id = %s", (run,))
    damage = verification.verify_database(conn).damage  # params (seq 3) before metrics (4)
    assert damage is not None and damage.detail.startswith("the params row")
