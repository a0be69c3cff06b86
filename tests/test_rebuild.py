"""`mlaudit rebuild`: a database replayed from the ledger alone is the database the API wrote.

The source went through the whole write surface (both APIs, registry, promotions,
deployments, reports). It is rebuilt into an empty database, from the database and from an
export directory, and every table is compared with the source row for row."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from databases import with_dbname
from ledger_surface import config_for, drop_database, surface_database
from psycopg import sql

from app.kinds import TABLES
from app.services.verification import verify_database

COMPARED = [t.name for t in TABLES] + ["ledger_entries", "checkpoints", "ledger_head"]


@pytest.fixture(scope="module")
def surface(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with surface_database(pg_server, tmp_path_factory.mktemp("home")) as (url, _):
        yield url


@pytest.fixture
def empty(pg_server: str) -> Iterator[str]:
    name = f"mlaudit_rebuilt_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_dbname(pg_server, name)
    yield url
    drop_database(pg_server, url)


def cli(home: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MLAUDIT_")}
    environ.update({"DATABASE_URL": url, "MLAUDIT_HOME": str(home)})
    return subprocess.run([sys.executable, "-m", "app.cli", *args], env=environ,
                          capture_output=True, text=True, timeout=300)


def rows(url: str, table: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        columns = [r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
            "ORDER BY ordinal_position", (table,))]
        order = sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c))
                                   for c in columns)
        return conn.execute(sql.SQL("SELECT * FROM {} ORDER BY {}").format(
            sql.Identifier(table), order)).fetchall()


def assert_same(source: str, rebuilt: str) -> None:
    for table in COMPARED:
        found, wanted = rows(rebuilt, table), rows(source, table)
        assert found == wanted, f"{table}: {len(found)} rows rebuilt, {len(wanted)} written"
    query = "SELECT last_value FROM experiment_ids"
    with psycopg.connect(source) as a, psycopg.connect(rebuilt, autocommit=True) as b:
        assert b.execute(query).fetchone()[0] >= a.execute(query).fetchone()[0]  # type: ignore[index]
        assert verify_database(b).damage is None


def test_a_database_rebuilt_from_the_database_is_the_same(surface: str, empty: str,
                                                          tmp_path: Path) -> None:
    done = cli(tmp_path, empty, "rebuild", "--from", surface)
    assert done.returncode == 0, done.stderr
    assert "projection rows from" in done.stderr
    assert_same(surface, empty)


def test_a_database_rebuilt_from_an_export_is_the_same(surface: str, empty: str,
                                                       tmp_path: Path) -> None:
    out = tmp_path / "export"
    exported = cli(tmp_path, surface, "export", "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    done = cli(tmp_path, empty, "rebuild", "--from", str(out))
    assert done.returncode == 0, done.stderr
    assert_same(surface, empty)


def test_rebuild_refuses_a_database_that_holds_entries(surface: str, tmp_path: Path,
                                                       pg_server: str) -> None:
    config = config_for(surface, tmp_path)
    done = cli(tmp_path, config.database_url or "", "rebuild", "--from", surface)
    assert done.returncode == 2
    assert "already holds ledger entries" in done.stderr


def test_rebuild_refuses_a_damaged_source(surface: str, empty: str, tmp_path: Path) -> None:
    out = tmp_path / "export"
    assert cli(tmp_path, surface, "export", "--out", str(out)).returncode == 0
    lines = (out / "entries.jsonl").read_text().splitlines()
    lines[5] = lines[5].replace('"canonical":"', '"canonical":"AA', 1)
    (out / "entries.jsonl").write_text("\n".join(lines) + "\n")
    done = cli(tmp_path, empty, "rebuild", "--from", str(out))
    assert done.returncode == 2
    assert "the source ledger is damaged at seq 5: modified" in done.stderr
    with psycopg.connect(empty) as conn:
        assert conn.execute("SELECT count(*) FROM ledger_entries").fetchone() == (0,)
