"""Tamper matrix for the metrics table: a row edited, moved, deleted or forged in SQL (its
triggers switched off, as only a superuser can) is named by `mlaudit verify` against the
metrics.logged entry that makes it (or that it claims); and a database of an older schema is
upgraded by rebuilding every table from the ledger.

The helpers at the top are shared with test_projection_tamper_registry.py. Each module has the
real app record into a database once. Most tests then tamper with a working copy of it inside
a transaction and run verify's projection check in that same transaction (`mismatch`), which
is rolled back afterwards; the tests that need committed damage (the real `mlaudit verify`,
the chain checked first, the check's second connection, upgrades) get their own copy.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from databases import TEMPLATE, with_dbname
from psycopg import sql

from app import create_app
from app.config import Config, load_config
from app.kinds import TABLES
from app.ledger.verify import Damage
from app.services import tracking, verification
from app.storage import migrate
from app.storage import tracking as store

# --- Shared with test_projection_tamper_registry.py ---------------------------------------------

# pg_trigger.tgenabled -> how a trigger is put back after tampering.
_MODES = {"A": "ENABLE ALWAYS", "O": "ENABLE", "R": "ENABLE REPLICA", "D": "DISABLE"}


@contextmanager
def triggers_off(conn: psycopg.Connection, *tables: str) -> Iterator[psycopg.Connection]:
    """The tables' own triggers (the refusals of UPDATE, DELETE, TRUNCATE and of direct
    changes, the keeping and guard triggers) off around a block, then back as they were."""
    modes = {table: conn.execute(
        "SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = %s::regclass "
        "AND NOT tgisinternal", (table,)).fetchall() for table in tables}
    for table in tables:
        conn.execute(sql.SQL("ALTER TABLE {} DISABLE TRIGGER USER").format(
            sql.Identifier(table)))
    try:
        yield conn
    finally:
        if not conn.autocommit:  # a table with deferred checks pending cannot be altered
            conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table, found in modes.items():
            for name, mode in found:
                conn.execute(sql.SQL("ALTER TABLE {} {} TRIGGER {}").format(
                    sql.Identifier(table), sql.SQL(_MODES[mode]), sql.Identifier(name)))


def tamper(conn: psycopg.Connection, table: str, statement: str, params: Any = None) -> int:
    """One statement on a table with its triggers off; the number of rows it touched."""
    with triggers_off(conn, table):
        return conn.execute(statement, params).rowcount


def mismatch(conn: psycopg.Connection) -> tuple[int, str]:
    """The seq and detail of the projection_mismatch verify reports for what conn's
    transaction sees (its own tampering included)."""
    found = verification.check_projections(conn)
    assert found is not None, "no projection_mismatch"
    return found.seq, verification.describe(found)


def verified(url: str) -> Damage | None:
    """What verify finds in a database: the chain first, then every table, one snapshot."""
    with psycopg.connect(url) as own:
        return verification.verify_database(own).damage


def verify_cli(run_cli: Any) -> tuple[int, dict[str, Any]]:
    """The real `mlaudit verify --json`: its exit code and report."""
    done = run_cli("verify", "--json")
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


@dataclass(frozen=True)
class Recorded:
    """A database the real app recorded into (then closed), its home and the seqs to tamper
    with; never connected to again, it is the template of the tests' copies."""

    url: str
    home: Path
    seqs: dict[str, Any]


def _create(server: str, template: str) -> str:
    name = f"mlaudit_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template)))
    return with_dbname(server, name)


def _name(url: str) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(url)["dbname"])


def _drop(server: str, url: str) -> None:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(_name(url))))


def config_for(url: str, home: Path) -> Config:
    return load_config(environ={}, overrides={
        "database_url": url, "home": home, "checkpoint_interval": 3600.0,
        "checkpoint_every": 1_000_000})


@contextmanager
def recorded_once(server: str, home: Path,
                  record: Callable[[Any, Any, str], dict[str, Any]]) -> Iterator[Recorded]:
    """record(services, test client, admin token) -> seqs, run by the real app on a fresh
    database."""
    url = _create(server, TEMPLATE)
    try:
        config = config_for(url, home)
        application = create_app(config)
        try:
            seqs = record(application.extensions["mlaudit"], application.test_client(),
                          config.admin_token_path.read_text().strip())
        finally:
            application.extensions["mlaudit"].close()
        yield Recorded(url, home, seqs)
    finally:
        _drop(server, url)


@contextmanager
def copy_of(server: str, recorded: Recorded) -> Iterator[str]:
    """A copy of the recorded database; dropped afterwards."""
    url = _create(server, _name(recorded.url))
    try:
        yield url
    finally:
        _drop(server, url)


@contextmanager
def rolled_back(url: str) -> Iterator[psycopg.Connection]:
    """A superuser connection in a transaction that is rolled back afterwards."""
    with psycopg.connect(url) as conn:
        try:
            yield conn
        finally:
            conn.rollback()


# --- The metrics this module records ------------------------------------------------------------

# Values whose double is an edge case for the column that holds it (value_number).
EDGE_VALUES = ["0", "-0", "1", "-2.5", "0.1", "123456789012345678901234567890", "NaN",
               "Infinity", "-Infinity", "1E+500", "-1E+500", "1E-400", "4.9E-324", "2E-324",
               "1.7976931348623157E+308", "1.7976931348623159E+308", "2.2250738585072014E-308",
               "1E+9999", "1E-9999", "1.5E+10", "1E-7"]


def _record(services: Any, client: Any, admin_token: str) -> dict[str, Any]:
    """One run with single, grouped, edge-valued and COPY-sized metric entries; another run."""
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
    other, _ = commit(lambda w: tracking.create_run(w, who, experiment.id, "other", {}, None,
                                                    None, {}))
    return {"run": run.id, "other": other.id, "single": single.seq, "grouped": grouped.seq,
            "edges": edges.seq, "big": big.seq}


@pytest.fixture(scope="module")
def recorded(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    with recorded_once(pg_server, tmp_path_factory.mktemp("home"), _record) as found:
        yield found


@pytest.fixture(scope="module")
def working_copy(pg_server: str, recorded: Recorded) -> Iterator[str]:
    with copy_of(pg_server, recorded) as url:
        yield url


@pytest.fixture
def tampering(working_copy: str) -> Iterator[psycopg.Connection]:
    with rolled_back(working_copy) as conn:
        yield conn


@pytest.fixture
def database_url(pg_server: str, recorded: Recorded) -> Iterator[str]:
    """Each test that commits its damage gets its own copy (conn and run_cli use it)."""
    with copy_of(pg_server, recorded) as url:
        yield url


@pytest.fixture
def config(recorded: Recorded, database_url: str) -> Config:
    return config_for(database_url, recorded.home)


@pytest.fixture
def logged(recorded: Recorded) -> dict[str, Any]:
    return recorded.seqs


def test_every_kind_of_value_verifies_clean(logged: dict[str, Any], run_cli: Any,
                                            tampering: psycopg.Connection) -> None:
    assert verification.check_projections(tampering) is None
    code, report = verify_cli(run_cli)
    assert (code, report["damage"]) == (0, None)


@pytest.mark.parametrize(("column", "value"), [
    ("value", "'0.92'"), ("value_number", "0.92"), ("step", "step + 1"),
    ("timestamp", "timestamp + 1"), ("key", "'auc2'"), ("n", "7"), ("run_id", "'other'"),
])
def test_an_edited_field_names_its_entry(logged: dict[str, Any], tampering: psycopg.Connection,
                                         column: str, value: str) -> None:
    seq = logged["single"]
    assert tamper(tampering, "metrics", f"UPDATE metrics SET {column} = {value} "
                  "WHERE seq = %s", (seq,)) == 1
    assert mismatch(tampering) == (
        seq, f"the metrics row 0 differs from what entry {seq} makes: {column}")


@pytest.mark.parametrize(("change", "column"), [
    ("group_values = '{\"sex\": \"M\", \"age_band\": \"40-49\"}'", "group_values"),
    # keys out of canonical order
    ("group_key = '{\"sex\":\"F\",\"age_band\":\"40-49\"}'", "group_key"),
    # both: the first in the table's column order is named
    ("group_key = '', group_values = NULL", "group_key"),
    ("value_number = 'NaN'", "value_number"),
])
def test_an_edited_group_names_its_entry(logged: dict[str, Any], tampering: psycopg.Connection,
                                         change: str, column: str) -> None:
    seq = logged["grouped"]
    assert tamper(tampering, "metrics", f"UPDATE metrics SET {change} WHERE seq = %s AND "
                  "position = 0", (seq,)) == 1
    assert mismatch(tampering) == (
        seq, f"the metrics row 0 differs from what entry {seq} makes: {column}")


def test_an_edited_edge_value_is_found(logged: dict[str, Any],
                                       tampering: psycopg.Connection) -> None:
    seq, position = logged["edges"], EDGE_VALUES.index("1E+500")  # stored as Infinity
    assert tamper(tampering, "metrics", "UPDATE metrics SET value_number = 1e308 "
                  "WHERE seq = %s AND position = %s", (seq, position)) == 1
    assert mismatch(tampering) == (
        seq, f"the metrics row {position} differs from what entry {seq} makes: value_number")


def test_a_row_moved_to_another_run_is_found(logged: dict[str, Any],
                                             tampering: psycopg.Connection) -> None:
    seq = logged["big"]
    assert tamper(tampering, "metrics", "UPDATE metrics SET run_id = %s WHERE seq = %s AND "
                  "position = 3", (logged["other"], seq)) == 1
    assert mismatch(tampering) == (
        seq, f"the metrics row 3 differs from what entry {seq} makes: run_id")


def test_the_lowest_position_is_reported(logged: dict[str, Any],
                                         tampering: psycopg.Connection) -> None:
    seq = logged["big"]
    tamper(tampering, "metrics", "DELETE FROM metrics WHERE seq = %s AND position = 40",
           (seq,))
    tamper(tampering, "metrics", "UPDATE metrics SET step = step + 1 WHERE seq = %s AND "
           "position IN (12, 17)", (seq,))
    assert mismatch(tampering) == (
        seq, f"the metrics row 12 differs from what entry {seq} makes: step")


def test_a_deleted_row_is_missing(logged: dict[str, Any], conn: psycopg.Connection,
                                  database_url: str) -> None:
    seq = logged["big"]
    assert tamper(conn, "metrics", "DELETE FROM metrics WHERE seq = %s AND position = 17",
                  (seq,)) == 1
    found = verified(database_url)
    assert found is not None
    assert (found.kind, found.seq, found.detail) == (
        "projection_mismatch", seq,
        f"entry {seq} makes the metrics row 17, which the table does not hold")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):  # the refusal is back on
        conn.execute("DELETE FROM metrics WHERE seq = %s", (seq,))


@pytest.mark.parametrize("where", ["a metrics entry's next position", "another kind's entry",
                                   "no entry"])
def test_a_forged_row_is_unbacked(logged: dict[str, Any], tampering: psycopg.Connection,
                                  where: str) -> None:
    seq, position = {"a metrics entry's next position": (logged["single"], 1),
                     "another kind's entry": (logged["single"] - 1, 0),  # run.created
                     "no entry": (10**9, 0)}[where]
    tamper(tampering, "metrics", "INSERT INTO metrics (run_id, key, value, value_number, step, "
           "timestamp, seq, position) VALUES (%s, 'auc', '0.99', 0.99, 0, 1000, %s, %s)",
           (logged["run"], seq, position))
    assert mismatch(tampering) == (
        seq, f"the metrics row {position} names entry {seq}, which does not make it")


def test_mlaudit_verify_reports_the_damage(logged: dict[str, Any], conn: psycopg.Connection,
                                           run_cli: Any) -> None:
    seq = logged["single"]
    tamper(conn, "metrics", "INSERT INTO metrics (run_id, key, value, value_number, step, "
           "timestamp, seq, position) VALUES (%s, 'auc', '0.99', 0.99, 0, 1000, %s, 1)",
           (logged["run"], seq))
    detail = f"the metrics row 1 names entry {seq}, which does not make it"
    code, report = verify_cli(run_cli)
    assert (code, report["damage"]["kind"], report["damage"]["seq"],
            report["damage"]["detail"]) == (1, "projection_mismatch", seq, detail)
    done = run_cli("verify")
    assert (done.returncode, done.stdout) == (
        1, f"DAMAGED at seq {seq}: projection_mismatch: {detail}\n")


def test_chain_damage_is_reported_before_projections(logged: dict[str, Any], bypass: Any,
                                                     conn: psycopg.Connection,
                                                     run_cli: Any) -> None:
    tamper(conn, "metrics", "DELETE FROM metrics WHERE seq = %s", (logged["single"],))
    with bypass as ledger:
        ledger.execute("UPDATE ledger_entries SET canonical = set_byte(canonical, 20, "
                       "get_byte(canonical, 20) # 1) WHERE seq = %s", (logged["grouped"],))
    code, report = verify_cli(run_cli)
    assert code == 1
    assert (report["damage"]["kind"], report["damage"]["seq"]) == ("modified", logged["grouped"])


def test_without_a_second_connection_the_check_runs_on_the_first(
        logged: dict[str, Any], conn: psycopg.Connection, database_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from app.storage import projections

    def refuse(*_: Any) -> Any:
        raise psycopg.OperationalError("too many connections")

    monkeypatch.setattr(projections, "sibling_in_snapshot", refuse)
    seq = logged["single"]
    tamper(conn, "metrics", "UPDATE metrics SET value = '0.5' WHERE seq = %s", (seq,))
    with psycopg.connect(database_url) as own:
        result = verification.verify_database(own)
        assert (own.isolation_level, own.read_only) == (None, None)  # handed back as given
    assert result.damage is not None
    assert (result.damage.kind, result.damage.seq, result.damage.detail) == (
        "projection_mismatch", seq,
        f"the metrics row 0 differs from what entry {seq} makes: value")


# --- Older schemas ------------------------------------------------------------------------------

def as_of_version(conn: psycopg.Connection, version: int) -> None:
    """Make this database what an older version left, as far as the upgrade reads it: the
    same ledger, none of the tables version 5 added (revisions, events, artifact_envelopes),
    artifact envelopes held in the artifacts table, and the older version number."""
    for table in reversed(TABLES):
        if table.name not in migrate.OLD_PROJECTIONS:
            conn.execute(sql.SQL("DROP TABLE {} CASCADE").format(sql.Identifier(table.name)))
    conn.execute("ALTER TABLE artifacts DROP COLUMN envelope_sha256, "
                 "ADD COLUMN envelope jsonb NOT NULL")  # this module records no artifacts
    conn.execute("DELETE FROM mlaudit_schema")
    conn.execute("INSERT INTO mlaudit_schema (version) VALUES (%s)", (version,))


def test_a_version_1_database_is_upgraded(logged: dict[str, Any], database_url: str,
                                          conn: psycopg.Connection) -> None:
    """Version 1 had foreign keys on metrics and no metrics_latest index. Start-up drops the
    old projections, applies the current version and replays the ledger: the metrics come back from
    their entries, without the keys, with the index, and everything verifies clean."""
    from app.db import SCHEMA_VERSION, ensure_schema, schema_version

    count = "SELECT count(*) FROM metrics"
    conn.execute("DROP INDEX metrics_latest")
    conn.execute("ALTER TABLE metrics ADD CONSTRAINT metrics_run_id_fkey "
                 "FOREIGN KEY (run_id) REFERENCES runs (id)")
    conn.execute("ALTER TABLE metrics ADD CONSTRAINT metrics_seq_fkey FOREIGN KEY (seq) "
                 "REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED")
    as_of_version(conn, 1)
    assert SCHEMA_VERSION == 7
    assert ensure_schema(database_url, ("prod",)) == SCHEMA_VERSION
    assert schema_version(conn) == SCHEMA_VERSION
    keys = conn.execute("SELECT count(*) FROM pg_constraint WHERE conrelid = 'metrics'::regclass"
                        " AND contype = 'f'").fetchone()
    index = conn.execute("SELECT to_regclass('metrics_latest') IS NOT NULL").fetchone()
    rows = (1 + 2 + len(EDGE_VALUES) + store.COPY_METRICS + 10,)
    assert (keys, index, conn.execute(count).fetchone()) == ((0,), (True,), rows)
    assert verified(database_url) is None


def test_a_version_3_database_stops_compressing_entries_with_pglz(
        logged: dict[str, Any], database_url: str, conn: psycopg.Connection) -> None:
    """Since version 4, ledger_entries.canonical is stored with lz4 where the server has it,
    else uncompressed: pglz cost about 1 ms of every 1000-metric batch. The upgrade from
    version 3 changes it too, and keeps the ledger."""
    from app.db import ensure_schema

    def storage() -> tuple[str, str]:
        row = conn.execute("SELECT attstorage, attcompression FROM pg_attribute WHERE attrelid ="
                           " 'ledger_entries'::regclass AND attname = 'canonical'").fetchone()
        assert row is not None
        return str(row[0]), str(row[1])

    assert storage() in (("x", "l"), ("e", ""))
    conn.execute("ALTER TABLE ledger_entries ALTER COLUMN canonical SET STORAGE EXTENDED")
    conn.execute("ALTER TABLE ledger_entries ALTER COLUMN canonical SET COMPRESSION default")
    as_of_version(conn, 3)
    assert storage() == ("x", "")
    assert ensure_schema(database_url, ("prod",)) == 7
    assert storage() in (("x", "l"), ("e", ""))
    assert verified(database_url) is None


def test_a_version_5_database_is_upgraded(database_url: str, conn: psycopg.Connection) -> None:
    """Version 5 had no principals. The upgrade keeps the ledger and the artifact envelopes,
    drops every projection, applies the current schema and replays: every table is back and
    verifies clean."""
    from app.db import SCHEMA_VERSION, ensure_schema, schema_version

    before = {t.name: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
        sql.Identifier(t.name))).fetchone() for t in TABLES}
    conn.execute("DROP TABLE token_principals, principals CASCADE")
    conn.execute("ALTER TABLE decisions DROP COLUMN principal_id")
    conn.execute("DELETE FROM mlaudit_schema")
    conn.execute("INSERT INTO mlaudit_schema (version) VALUES (5)")
    assert ensure_schema(database_url, ("prod",)) == SCHEMA_VERSION == 7
    assert schema_version(conn) == SCHEMA_VERSION
    after = {t.name: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
        sql.Identifier(t.name))).fetchone() for t in TABLES}
    assert after == before
    assert verified(database_url) is None


def test_a_version_6_database_is_upgraded(logged: dict[str, Any], database_url: str,
                                          conn: psycopg.Connection) -> None:
    """Version 6 had no user_id on runs, a foreign key from a run to its parent, and no
    unpinned versions (run_id NOT NULL). The upgrade applies the current schema and replays
    the ledger into tables with the column, without the key, and with run_id nullable."""
    from app.db import SCHEMA_VERSION, ensure_schema, schema_version

    for table in ("runs", "run_revisions"):
        conn.execute(sql.SQL("ALTER TABLE {} DROP COLUMN user_id").format(sql.Identifier(table)))
    conn.execute("ALTER TABLE runs ADD CONSTRAINT runs_parent_run_id_fkey "
                 "FOREIGN KEY (parent_run_id) REFERENCES runs (id)")
    conn.execute("ALTER TABLE model_versions ALTER COLUMN run_id SET NOT NULL")
    conn.execute("ALTER TABLE model_version_revisions ALTER COLUMN run_id SET NOT NULL")
    conn.execute("DELETE FROM mlaudit_schema")
    conn.execute("INSERT INTO mlaudit_schema (version) VALUES (6)")
    assert ensure_schema(database_url, ("prod",)) == SCHEMA_VERSION == 7
    assert schema_version(conn) == SCHEMA_VERSION
    keys = conn.execute("SELECT count(*) FROM pg_constraint WHERE conname = "
                        "'runs_parent_run_id_fkey'").fetchone()
    column = conn.execute("SELECT count(*) FROM information_schema.columns WHERE "
                          "table_name = 'runs' AND column_name = 'user_id'").fetchone()
    assert keys == (0,) and column == (1,)
    nullable = conn.execute("SELECT is_nullable FROM information_schema.columns WHERE "
                            "table_name IN ('model_versions', 'model_version_revisions') "
                            "AND column_name = 'run_id'").fetchall()
    assert nullable == [("YES",), ("YES",)]
    assert verified(database_url) is None
