"""Tamper matrix for the metrics projection: a row edited, deleted or forged in SQL is named
by `mlaudit verify` against the metrics.logged entry that made it (or claims to have)."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

from app.services import tracking
from app.storage import tracking as store

# Values whose double is an edge case for the SQL that re-derives value_number.
EDGE_VALUES = ["0", "-0", "1", "-2.5", "0.1", "123456789012345678901234567890", "NaN",
               "Infinity", "-Infinity", "1E+500", "-1E+500", "1E-400", "4.9E-324", "2E-324",
               "1.7976931348623157E+308", "1.7976931348623159E+308", "2.2250738585072014E-308",
               "1E+9999", "1E-9999", "1.5E+10", "1E-7"]


@pytest.fixture
def logged(services: Any, conn: psycopg.Connection) -> dict[str, Any]:
    """One run with single, grouped, edge-valued and COPY-sized metric entries."""
    who = "token:test"

    def commit(unit: Any) -> Any:
        return services.committer.run(unit)

    experiment, _ = commit(lambda w: tracking.create_experiment(w, who, "tamper", "", {}))
    run, _ = commit(lambda w: tracking.create_run(w, who, experiment.id, "r", {}, None, None,
                                                  {}))
    single = commit(lambda w: tracking.log_metrics(
        w, who, run.id, [tracking.Metric("auc", "0.91", 0, 1000)]))
    grouped = commit(lambda w: tracking.log_metrics(w, who, run.id, [
        tracking.Metric("selection_rate", "0.4", 0, 1000, {"sex": "F", "age_band": "40-49"},
                        120),
        tracking.Metric("selection_rate", "0.5", 0, 1000, {"sex": "M", "é\n\"q": "x\\y"}, 80),
    ]))
    edges = commit(lambda w: tracking.log_metrics(w, who, run.id, [
        tracking.Metric("edge", value, i, 1000 + i) for i, value in enumerate(EDGE_VALUES)]))
    big = commit(lambda w: tracking.log_metrics(w, who, run.id, [
        tracking.Metric(f"m{i % 5}", str(i / 7), i, 2000 + i, None, 7 if i % 3 else None)
        for i in range(store.COPY_METRICS + 10)]))  # some with n but no group
    return {"run": run.id, "single": single.seq, "grouped": grouped.seq, "edges": edges.seq,
            "big": big.seq}


def verify(run_cli: Any) -> tuple[int, dict[str, Any]]:
    done = run_cli("verify", "--json")
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


def damage(run_cli: Any) -> dict[str, Any]:
    code, report = verify(run_cli)
    assert code == 1, report
    found = dict(report["damage"])
    assert found["kind"] == "projection_mismatch"
    return found


def test_every_kind_of_value_verifies_clean(logged: dict[str, Any], run_cli: Any) -> None:
    code, report = verify(run_cli)
    assert (code, report["damage"]) == (0, None)


@pytest.mark.parametrize(("column", "value"), [
    ("value", "'0.92'"), ("value_number", "0.92"), ("step", "step + 1"),
    ("timestamp", "timestamp + 1"), ("key", "'auc2'"), ("n", "7"), ("run_id", "'other'"),
])
def test_an_edited_field_names_its_entry(logged: dict[str, Any], conn: psycopg.Connection,
                                         run_cli: Any, column: str, value: str) -> None:
    seq = logged["single"]
    conn.execute(f"UPDATE metrics SET {column} = {value} WHERE seq = %s", (seq,))
    found = damage(run_cli)
    assert found["seq"] == seq
    assert found["detail"] == (f"the metrics row (seq {seq}, position 0) differs from what "
                               f"entry {seq} logged: {column}")


@pytest.mark.parametrize(("change", "column"), [
    ("group_values = '{\"sex\": \"M\", \"age_band\": \"40-49\"}'", "group_values"),
    # keys out of canonical order
    ("group_key = '{\"sex\":\"F\",\"age_band\":\"40-49\"}'", "group_key"),
    ("group_key = '', group_values = NULL", "group_values"),
    ("value_number = 'NaN'", "value_number"),
])
def test_an_edited_group_names_its_entry(logged: dict[str, Any], conn: psycopg.Connection,
                                         run_cli: Any, change: str, column: str) -> None:
    seq = logged["grouped"]
    conn.execute(f"UPDATE metrics SET {change} WHERE seq = %s AND position = 0", (seq,))
    found = damage(run_cli)
    assert found["seq"] == seq
    assert found["detail"].endswith(f"(seq {seq}, position 0) differs from what entry {seq} "
                                    f"logged: {column}")


def test_an_edited_edge_value_is_found(logged: dict[str, Any], conn: psycopg.Connection,
                                       run_cli: Any) -> None:
    seq, position = logged["edges"], EDGE_VALUES.index("1E+500")
    conn.execute("UPDATE metrics SET value_number = 1e308 WHERE seq = %s AND position = %s",
                 (seq, position))
    assert damage(run_cli)["detail"].endswith(f"position {position}) differs from what entry "
                                              f"{seq} logged: value_number")


def test_a_row_moved_to_another_run_is_found(logged: dict[str, Any], services: Any,
                                             conn: psycopg.Connection, run_cli: Any) -> None:
    other, _ = services.committer.run(lambda w: tracking.create_run(
        w, "token:test", store.get_run(conn, logged["run"]).experiment_id, "other", {}, None,
        None, {}))
    conn.execute("UPDATE metrics SET run_id = %s WHERE seq = %s AND position = 3",
                 (other.id, logged["big"]))
    found = damage(run_cli)
    assert found["seq"] == logged["big"]
    assert found["detail"].endswith(f"(seq {logged['big']}, position 3) differs from what entry "
                                    f"{logged['big']} logged: run_id")


def test_a_deleted_row_is_missing(logged: dict[str, Any], conn: psycopg.Connection,
                                  run_cli: Any) -> None:
    seq = logged["big"]
    conn.execute("DELETE FROM metrics WHERE seq = %s AND position = 17", (seq,))
    found = damage(run_cli)
    assert found["seq"] == seq
    assert found["detail"] == (f"entry {seq} logged a metric at position 17 that the metrics "
                               "table does not hold")


@pytest.mark.parametrize("where", ["a metrics entry's next position", "another kind's entry",
                                   "no entry"])
def test_a_forged_row_is_unbacked(logged: dict[str, Any], conn: psycopg.Connection,
                                  run_cli: Any, where: str) -> None:
    seq, position = {"a metrics entry's next position": (logged["single"], 1),
                     "another kind's entry": (logged["single"] - 1, 0),
                     "no entry": (10**9, 0)}[where]
    conn.execute("INSERT INTO metrics (run_id, key, value, value_number, step, timestamp, seq,"
                 " position) VALUES (%s, 'auc', '0.99', 0.99, 0, 1000, %s, %s)",
                 (logged["run"], seq, position))
    found = damage(run_cli)
    assert found["seq"] == seq
    assert "that no metrics.logged entry logged" in found["detail"]
    assert run_cli("verify").stdout.startswith(f"DAMAGED at seq {seq}: projection_mismatch")


def test_chain_damage_is_reported_before_projections(logged: dict[str, Any], bypass: Any,
                                                     conn: psycopg.Connection,
                                                     run_cli: Any) -> None:
    conn.execute("DELETE FROM metrics WHERE seq = %s", (logged["single"],))
    with bypass as tamper:
        tamper.execute("UPDATE ledger_entries SET canonical = set_byte(canonical, 20, "
                       "get_byte(canonical, 20) # 1) WHERE seq = %s", (logged["grouped"],))
    code, report = verify(run_cli)
    assert code == 1
    assert (report["damage"]["kind"], report["damage"]["seq"]) == ("modified", logged["grouped"])


def test_a_version_1_database_is_upgraded(database_url: str, conn: psycopg.Connection) -> None:
    """Version 1 had foreign keys on metrics and no metrics_latest index; start-up applies
    version 2 (and any later one) over it, keeping the data."""
    from app.db import SCHEMA_VERSION, ensure_schema, schema_version

    conn.execute("DROP INDEX metrics_latest")
    conn.execute("ALTER TABLE metrics ADD CONSTRAINT metrics_run_id_fkey "
                 "FOREIGN KEY (run_id) REFERENCES runs (id)")
    conn.execute("ALTER TABLE metrics ADD CONSTRAINT metrics_seq_fkey FOREIGN KEY (seq) "
                 "REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED")
    conn.execute("DELETE FROM mlaudit_schema")
    conn.execute("INSERT INTO mlaudit_schema (version) VALUES (1)")
    assert SCHEMA_VERSION >= 2
    assert ensure_schema(database_url) == SCHEMA_VERSION
    assert schema_version(conn) == SCHEMA_VERSION
    keys = conn.execute("SELECT count(*) FROM pg_constraint WHERE conrelid = 'metrics'::regclass"
                        " AND contype = 'f'").fetchone()
    index = conn.execute("SELECT to_regclass('metrics_latest') IS NOT NULL").fetchone()
    assert (keys, index) == ((0,), (True,))


def test_a_version_3_database_stops_compressing_entries_with_pglz(
        database_url: str, conn: psycopg.Connection) -> None:
    """Version 4 stores ledger_entries.canonical with lz4 where the server has it, else
    uncompressed: pglz cost about 1 ms of every 1000-metric batch."""
    from app.db import ensure_schema

    def storage() -> tuple[str, str]:
        row = conn.execute("SELECT attstorage, attcompression FROM pg_attribute WHERE attrelid ="
                           " 'ledger_entries'::regclass AND attname = 'canonical'").fetchone()
        assert row is not None
        return str(row[0]), str(row[1])

    assert storage() in (("x", "l"), ("e", ""))
    conn.execute("ALTER TABLE ledger_entries ALTER COLUMN canonical SET STORAGE EXTENDED")
    conn.execute("ALTER TABLE ledger_entries ALTER COLUMN canonical SET COMPRESSION default")
    conn.execute("DELETE FROM mlaudit_schema WHERE version = 4")
    assert storage() == ("x", "")
    assert ensure_schema(database_url) == 4
    assert storage() in (("x", "l"), ("e", ""))


def test_without_a_second_connection_the_check_runs_on_the_first(
        logged: dict[str, Any], conn: psycopg.Connection, database_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from app.services import verification
    from app.storage import projections

    def refuse(*_: Any) -> Any:
        raise psycopg.OperationalError("too many connections")

    monkeypatch.setattr(projections, "sibling_in_snapshot", refuse)
    conn.execute("UPDATE metrics SET value = '0.5' WHERE seq = %s", (logged["single"],))
    with psycopg.connect(database_url) as own:
        result = verification.verify_database(own)
        assert (own.isolation_level, own.read_only) == (None, None)  # handed back as given
    assert result.damage is not None
    assert (result.damage.kind, result.damage.seq) == ("projection_mismatch", logged["single"])
