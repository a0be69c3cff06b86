"""All SQL for declared environments, and for what is live in them."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg.rows import class_row


@dataclass
class EnvironmentRow:
    name: str
    protected: bool
    adopted: bool
    declared_by: str
    declared_seq: int
    seq: int


_ENVIRONMENT = ("SELECT name, protected, adopted, declared_by, declared_seq, seq "
                "FROM environments")


def get_environment(conn: psycopg.Connection, name: str) -> EnvironmentRow | None:
    with conn.cursor(row_factory=class_row(EnvironmentRow)) as cur:
        return cur.execute(f"{_ENVIRONMENT} WHERE name = %s", (name,)).fetchone()


def list_environments(conn: psycopg.Connection) -> list[EnvironmentRow]:
    with conn.cursor(row_factory=class_row(EnvironmentRow)) as cur:
        return cur.execute(f"{_ENVIRONMENT} ORDER BY name").fetchall()


def same_but_case(conn: psycopg.Connection, name: str) -> str | None:
    """A declared environment whose name differs from this one only in letter case."""
    row = conn.execute("SELECT name FROM environments WHERE lower(name) = lower(%s) "
                       "AND name <> %s ORDER BY name LIMIT 1", (name, name)).fetchone()
    return None if row is None else str(row[0])


def undeclared_in_use(conn: psycopg.Connection) -> list[str]:
    """Environments deployments name that no entry declared (recorded before environments
    were declared objects)."""
    rows = conn.execute("SELECT DISTINCT d.environment FROM deployments d WHERE NOT EXISTS "
                        "(SELECT 1 FROM environments e WHERE e.name = d.environment) "
                        "ORDER BY 1").fetchall()
    return [str(r[0]) for r in rows]


def live_versions(conn: psycopg.Connection, model_name: str) -> dict[str, int]:
    """Per protected environment, the model's version its latest deployment put live."""
    rows = conn.execute(
        "SELECT DISTINCT ON (d.environment) d.environment, d.version FROM deployments d "
        "JOIN environments e ON e.name = d.environment AND e.protected "
        "WHERE d.model_name = %s ORDER BY d.environment, d.seq DESC", (model_name,)).fetchall()
    return {str(env): int(version) for env, version in rows}
