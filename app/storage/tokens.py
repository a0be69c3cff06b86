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
    expires_at: datetime | None = None
    revoked_seq: int | None = None


_SELECT = ("SELECT t.id, t.name, t.role, t.created_at, t.created_seq, t.expires_at, r.seq "
           "AS revoked_seq FROM tokens t LEFT JOIN token_revocations r ON r.token_id = t.id")


def find_principal(conn: psycopg.Connection,
                   token_hash: bytes) -> tuple[TokenRow, list[str] | None] | None:
    """The usable token with this hash (not revoked, not expired by the database's clock) and
    the experiments it is granted, in one query (every request authenticates, so this is a
    hot path). The experiments are None for a token that never held a grant; a token that
    ever held one stays scoped, to what it holds now (perhaps nothing): its grant events, in
    the ledger, say so, and revoking its last grant does not unscope it."""
    row = conn.execute(
        "SELECT t.id, t.name, t.role, t.created_at, t.created_seq, t.expires_at, "
        "CASE WHEN EXISTS (SELECT 1 FROM grant_events e WHERE e.token_id = t.id) THEN "
        "coalesce(array_agg(g.experiment_id) FILTER (WHERE g.experiment_id IS NOT NULL), '{}') "
        "END FROM tokens t LEFT JOIN grants g ON g.token_id = t.id WHERE t.token_hash = %s "
        "AND (t.expires_at IS NULL OR t.expires_at > now()) "
        "AND NOT EXISTS (SELECT 1 FROM token_revocations r WHERE r.token_id = t.id) "
        "GROUP BY t.id", (token_hash,)).fetchone()
    if row is None:
        return None
    return TokenRow(*row[:6]), None if row[6] is None else list(row[6])


def list_tokens(conn: psycopg.Connection) -> list[TokenRow]:
    with conn.cursor(row_factory=class_row(TokenRow)) as cur:
        return cur.execute(f"{_SELECT} ORDER BY t.created_seq").fetchall()


def find_by_name(conn: psycopg.Connection, name: str) -> TokenRow | None:
    with conn.cursor(row_factory=class_row(TokenRow)) as cur:
        return cur.execute(f"{_SELECT} WHERE t.name = %s", (name,)).fetchone()


def count_role(conn: psycopg.Connection, role: str) -> int:
    row = conn.execute("SELECT count(*) FROM tokens WHERE role = %s", (role,)).fetchone()
    return int(row[0]) if row else 0
