"""All SQL for experiment grants and principals' client signing keys."""

from __future__ import annotations

import psycopg


def has_grant(conn: psycopg.Connection, token_id: str, experiment_id: str) -> bool:
    row = conn.execute("SELECT 1 FROM grants WHERE token_id = %s AND experiment_id = %s",
                       (token_id, experiment_id)).fetchone()
    return row is not None


def list_grants(conn: psycopg.Connection) -> list[tuple[str, str, str, int]]:
    """(token name, token id, experiment id, seq) of every grant."""
    rows = conn.execute("SELECT t.name, g.token_id, g.experiment_id, g.seq FROM grants g "
                        "JOIN tokens t ON t.id = g.token_id ORDER BY g.seq")
    return [(n, t, e, int(s)) for n, t, e, s in rows.fetchall()]


def client_key(conn: psycopg.Connection, key_id: str) -> tuple[str, bytes] | None:
    """(owning token id, public key) of a registered client key."""
    row = conn.execute("SELECT token_id, public_key FROM client_keys WHERE key_id = %s",
                       (key_id,)).fetchone()
    return None if row is None else (row[0], bytes(row[1]))


def client_keys_of(conn: psycopg.Connection, token_id: str) -> list[tuple[str, bytes, int]]:
    rows = conn.execute("SELECT key_id, public_key, seq FROM client_keys WHERE token_id = %s "
                        "ORDER BY seq", (token_id,))
    return [(k, bytes(p), int(s)) for k, p, s in rows.fetchall()]


def spend_signature(conn: psycopg.Connection, sig_sha256: bytes, expires_at: int) -> bool:
    """Record a client signature as used, in the caller's transaction; False if it already
    was (a replay). Rows whose expiry (Unix seconds) has passed by the database's clock are
    removed first, so the cache holds only the replay window's signatures."""
    conn.execute("DELETE FROM request_signatures_seen WHERE expires_at < now()")
    row = conn.execute("INSERT INTO request_signatures_seen (sig_sha256, expires_at) "
                       "VALUES (%s, to_timestamp(%s)) ON CONFLICT DO NOTHING RETURNING 1",
                       (sig_sha256, expires_at)).fetchone()
    return row is not None
