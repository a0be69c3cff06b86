"""The mlaudit command: tokens, key rotation, and one clear line for every bad setup."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from app.config import Config


def assert_one_line_error(done: Any, *fragments: str) -> None:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("mlaudit: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def test_token_create_prints_the_token_last(app: Any, client: Any, run_cli: Any) -> None:
    done = run_cli("token", "create", "--name", "ci-pipeline", "--role", "writer")
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip().splitlines()[-1]
    assert token.startswith("mla_")
    response = client.get("/api/v1/ledger/entries?limit=1",
                          headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    last = client.get("/api/v1/ledger/entries?after=1&limit=1000",
                      headers={"Authorization": f"Bearer {token}"}).json["entries"][-1]
    assert last["kind"] == "token.created" and last["actor"].startswith("cli:")


def test_token_is_stored_hashed(app: Any, run_cli: Any, conn: Any) -> None:
    token = run_cli("token", "create", "--name", "a", "--role", "auditor").stdout.split()[-1]
    stored = conn.execute("SELECT token_hash FROM tokens WHERE name = 'a'").fetchone()[0]
    assert token.encode() not in bytes(stored) and len(stored) == 32
    dump = conn.execute("SELECT string_agg(t::text, '') FROM tokens t").fetchone()[0]
    assert token not in dump


def test_duplicate_token_name_is_one_line(app: Any, run_cli: Any) -> None:
    run_cli("token", "create", "--name", "dup", "--role", "writer")
    assert_one_line_error(run_cli("token", "create", "--name", "dup", "--role", "writer"),
                          "already exists")


def test_key_rotation_keeps_old_checkpoints_valid(app: Any, services: Any, client: Any,
                                                  auth: dict[str, str], append: Any,
                                                  run_cli: Any) -> None:
    old = services.checkpointer.sign_now()
    done = run_cli("key", "rotate")
    assert done.returncode == 0, done.stderr
    append(3)
    new = services.checkpointer.sign_now()
    assert new.key_id != old.key_id
    published = client.get("/api/v1/ledger/keys").json
    assert len(published["keys"]) == 2 and published["active"] == published["keys"][1]
    report = json.loads(run_cli("verify", "--json").stdout)
    assert report["ok"] and report["checkpoints"] == 2


def test_key_files_are_private(app: Any, config: Config) -> None:
    files = list(config.keys_path.glob("*.pem"))
    assert files and all(f.stat().st_mode & 0o777 == 0o600 for f in files)
    assert config.admin_token_path.stat().st_mode & 0o777 == 0o600


def test_unreachable_database(run_cli: Any) -> None:
    done = run_cli("verify", env={"DATABASE_URL": "postgresql://u@127.0.0.1:1/none"})
    assert_one_line_error(done, "cannot connect to the database")


@pytest.mark.parametrize("url", ["not a url at all", "postgresql://127.0.0.1:5432/x?bogus=1"])
def test_misconfigured_database_url(run_cli: Any, url: str) -> None:
    assert_one_line_error(run_cli("init", env={"DATABASE_URL": url}), "database")


def test_serve_with_unreachable_database(run_cli: Any) -> None:
    done = run_cli("serve", "--port", "0", env={"DATABASE_URL": "postgresql://u@127.0.0.1:1/x",
                                                "MLAUDIT_DATABASE_WAIT": "0"})
    assert_one_line_error(done, "cannot connect to the database")


def test_serve_waits_for_the_database_then_gives_up(run_cli: Any) -> None:
    """The service retries an unreachable database for MLAUDIT_DATABASE_WAIT seconds (a worker
    booting while PostgreSQL restarts must not fail), logging each try, then stops."""
    done = run_cli("serve", "--port", "0", env={"DATABASE_URL": "postgresql://u@127.0.0.1:1/x",
                                                "MLAUDIT_DATABASE_WAIT": "1.5"})
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert sum("not available yet" in line for line in lines) >= 1, done.stderr
    assert lines[-1].startswith("mlaudit: error: cannot connect to the database"), done.stderr


def test_corrupt_key_file(app: Any, config: Config, run_cli: Any) -> None:
    [key] = config.keys_path.glob("*.pem")
    key.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    assert_one_line_error(run_cli("init"), "corrupt", key.name)


def test_world_readable_key_file(app: Any, config: Config, run_cli: Any) -> None:
    [key] = config.keys_path.glob("*.pem")
    os.chmod(key, 0o644)
    assert_one_line_error(run_cli("init"), "chmod 600")


def test_missing_key_file(app: Any, config: Config, run_cli: Any) -> None:
    [key] = config.keys_path.glob("*.pem")
    key.unlink()
    assert_one_line_error(run_cli("init"), "does not exist")


def test_home_that_is_a_file(tmp_path: Path, run_cli: Any) -> None:
    home = tmp_path / "plain-file"
    home.write_text("x")
    assert_one_line_error(run_cli("init", env={"MLAUDIT_HOME": str(home)}),
                          "not a directory")


def test_home_below_a_file_without_database_url(tmp_path: Path, run_cli: Any) -> None:
    (tmp_path / "f").write_text("x")
    done = run_cli("init", env={"MLAUDIT_HOME": str(tmp_path / "f" / "home"), "DATABASE_URL": ""})
    assert_one_line_error(done, "MLAUDIT_HOME")


def test_malformed_number_setting(run_cli: Any) -> None:
    assert_one_line_error(run_cli("init", env={"MLAUDIT_CHECKPOINT_EVERY": "lots"}),
                          "MLAUDIT_CHECKPOINT_EVERY")
