"""All SQL for API tokens: only their SHA-256 is stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.rows import class_row


@dataclass
class TokenRow:
    id: str
    name: str
    role: str
    created_at: datetime
    created_seq: int


_SELECT = "SELECT id, name, role, created_at, created_seq FROM tokens"


def insert_token(conn: psycopg.Connection, row: TokenRow, token_hash: bytes) -> None:
    conn.execute(
        "INSERT INTO tokens (id, name, role, token_hash, created_at, created_seq) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        (row.id, row.name, row.role, token_hash, row.created_at, row.created_seq),
    )


def find_principal(conn: psycopg.Connection,
                   token_hash: bytes) -> tuple[TokenRow, list[str]] | None:
    """The token with this hash and the experiments it is granted, in one query (every request
    authenticates, so this is a hot path)."""
    row = conn.execute(
        "SELECT t.id, t.name, t.role, t.created_at, t.created_seq, "
        "coalesce(array_agg(g.experiment_id) FILTER (WHERE g.experiment_id IS NOT NULL), '{}') "
        "FROM tokens t LEFT JOIN grants g ON g.token_id = t.id WHERE t.token_hash = %s "
        "GROUP BY t.id", (token_hash,)).fetchone()
    return None if row is None else (TokenRow(*row[:5]), list(row[5]))


def find_by_name(conn: psycopg.Connection, name: str) -> TokenRow | None:
    with conn.cursor(row_factory=class_row(TokenRow)) as cur:
        return cur.execute(f"{_SELECT} WHERE name = %s", (name,)).fetchone()


def count_role(conn: psycopg.Connection, role: str) -> int:
    row = conn.execute("SELECT count(*) FROM tokens WHERE role = %s", (role,)).fetchone()
    return int(row[0]) if row else 0
