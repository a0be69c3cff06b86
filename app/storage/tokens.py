"""All SQL for API tokens: only their SHA-256 is stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row

from app.storage.tracking import RUN_QUERY, RunRow


@dataclass
class TokenRow:
    id: str
    name: str
    role: str
    created_at: datetime
    created_seq: int
    expires_at: datetime | None = None
    revoked_seq: int | None = None
    principal: str | None = None  # the principal's name


_SELECT = ("SELECT t.id, t.name, t.role, t.created_at, t.created_seq, t.expires_at, r.seq "
           "AS revoked_seq, p.name AS principal FROM tokens t "
           "LEFT JOIN token_revocations r ON r.token_id = t.id "
           "LEFT JOIN token_principals tp ON tp.token_id = t.id "
           "LEFT JOIN principals p ON p.id = tp.principal_id")


@dataclass
class PrincipalRow:
    id: str
    name: str
    display_name: str
    kind: str
    created_at: datetime
    seq: int


Found = tuple[TokenRow, PrincipalRow, list[str] | None]
_FIND_PRINCIPAL = (
    "SELECT t.id, t.name, t.role, t.created_at, t.created_seq, t.expires_at, "
    "p.id, p.name, p.display_name, p.kind, p.created_at, p.seq, "
    "CASE WHEN EXISTS (SELECT 1 FROM grant_events e WHERE e.token_id = t.id) THEN "
    "coalesce(array_agg(g.experiment_id) FILTER (WHERE g.experiment_id IS NOT NULL), '{}') "
    "END FROM tokens t JOIN token_principals tp ON tp.token_id = t.id "
    "JOIN principals p ON p.id = tp.principal_id "
    "LEFT JOIN grants g ON g.token_id = t.id WHERE t.token_hash = %s "
    "AND (t.expires_at IS NULL OR t.expires_at > now()) "
    "AND NOT EXISTS (SELECT 1 FROM token_revocations r WHERE r.token_id = t.id) "
    "GROUP BY t.id, p.id")


def find_principal(conn: psycopg.Connection, token_hash: bytes) -> Found | None:
    """The usable token with this hash (not revoked, not expired by the database's clock, and
    belonging to a principal), its principal and the experiments it is granted, in one query
    (every request authenticates, so this is a hot path). The experiments are None for a token
    that never held a grant; a token that ever held one stays scoped, to what it holds now
    (perhaps nothing): its grant events, in the ledger, say so, and revoking its last grant
    does not unscope it."""
    return _found(conn.execute(_FIND_PRINCIPAL, (token_hash,)).fetchone())


def find_principal_and_run(conn: psycopg.Connection, token_hash: bytes, run_id: str
                           ) -> tuple[Found | None, RunRow | None]:
    """find_principal and tracking.get_run(run_id) in one pipelined round trip (a write to a
    run authenticates, then reads the run: the caller drops the run unless the token is
    accepted)."""
    with conn.cursor() as token, conn.cursor(row_factory=class_row(RunRow)) as run:
        with conn.pipeline():
            token.execute(_FIND_PRINCIPAL, (token_hash,))
            run.execute(f"{RUN_QUERY} WHERE id = %s", (run_id,))
        return _found(token.fetchone()), run.fetchone()


def _found(row: tuple[Any, ...] | None) -> Found | None:
    if row is None:
        return None
    return (TokenRow(*row[:6]), PrincipalRow(*row[6:12]),
            None if row[12] is None else list(row[12]))


_PRINCIPAL = "SELECT id, name, display_name, kind, created_at, seq FROM principals"


def principal_by_name(conn: psycopg.Connection, name: str) -> PrincipalRow | None:
    with conn.cursor(row_factory=class_row(PrincipalRow)) as cur:
        return cur.execute(f"{_PRINCIPAL} WHERE name = %s", (name,)).fetchone()


def list_principals(conn: psycopg.Connection) -> list[tuple[PrincipalRow, list[str]]]:
    """Every principal with the names of its tokens (revoked ones included)."""
    rows = conn.execute(
        "SELECT p.id, p.name, p.display_name, p.kind, p.created_at, p.seq, "
        "coalesce(array_agg(t.name ORDER BY t.created_seq) FILTER (WHERE t.name IS NOT NULL), "
        "'{}') FROM principals p LEFT JOIN token_principals tp ON tp.principal_id = p.id "
        "LEFT JOIN tokens t ON t.id = tp.token_id GROUP BY p.id ORDER BY p.seq").fetchall()
    return [(PrincipalRow(*r[:6]), list(r[6])) for r in rows]


def principal_of_actor(conn: psycopg.Connection, actor: str) -> str | None:
    """The principal id an actor `token:<name>[ principal:<name>]` acted for (its token's);
    None for `cli:` and `system` actors."""
    row = conn.execute("SELECT mlaudit_principal_of(%s, NULL)", (actor,)).fetchone()
    return None if row is None else row[0]


def unassigned_tokens(conn: psycopg.Connection) -> list[TokenRow]:
    """Tokens made before principals existed and not yet assigned one."""
    with conn.cursor(row_factory=class_row(TokenRow)) as cur:
        return cur.execute(
            f"{_SELECT} WHERE tp.token_id IS NULL ORDER BY t.created_seq").fetchall()


def list_tokens(conn: psycopg.Connection) -> list[TokenRow]:
    with conn.cursor(row_factory=class_row(TokenRow)) as cur:
        return cur.execute(f"{_SELECT} ORDER BY t.created_seq").fetchall()


def find_by_name(conn: psycopg.Connection, name: str) -> TokenRow | None:
    with conn.cursor(row_factory=class_row(TokenRow)) as cur:
        return cur.execute(f"{_SELECT} WHERE t.name = %s", (name,)).fetchone()


def count_role(conn: psycopg.Connection, role: str) -> int:
    row = conn.execute("SELECT count(*) FROM tokens WHERE role = %s", (role,)).fetchone()
    return int(row[0]) if row else 0
