"""All SQL for recorded artifacts (the artifacts projection)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb


@dataclass
class ArtifactRow:
    run_id: str
    path: str
    sha256: str
    size: int
    uri: str | None
    envelope: dict[str, Any]
    client_signature: dict[str, Any] | None
    seq: int


@dataclass
class ArtifactItem:
    """One line of a listing: the record without its envelopes."""

    path: str
    sha256: str
    size: int
    uri: str | None
    seq: int


_ARTIFACT = ("SELECT run_id, path, sha256, size, uri, envelope, client_signature, seq "
             "FROM artifacts")


def get_artifact(conn: psycopg.Connection, run_id: str, path: str) -> ArtifactRow | None:
    with conn.cursor(row_factory=class_row(ArtifactRow)) as cur:
        return cur.execute(f"{_ARTIFACT} WHERE run_id = %s AND path = %s",
                           (run_id, path)).fetchone()


def insert_artifact(conn: psycopg.Connection, row: ArtifactRow) -> None:
    conn.execute(
        "INSERT INTO artifacts (run_id, path, sha256, size, uri, envelope, client_signature, seq)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (row.run_id, row.path, row.sha256, row.size, row.uri, Jsonb(row.envelope),
         None if row.client_signature is None else Jsonb(row.client_signature), row.seq))


def list_artifacts(conn: psycopg.Connection, run_id: str, prefix: str, after: str,
                   limit: int) -> list[ArtifactItem]:
    """Keyset page, in path order, of a run's artifacts whose path starts with prefix."""
    with conn.cursor(row_factory=class_row(ArtifactItem)) as cur:
        return cur.execute(
            "SELECT path, sha256, size, uri, seq FROM artifacts WHERE run_id = %s "
            "AND starts_with(path, %s) AND path > %s ORDER BY path LIMIT %s",
            (run_id, prefix, after, limit)).fetchall()


def blob_referenced(conn: psycopg.Connection, sha256: str) -> bool:
    """Whether any stored (not external) artifact names these bytes."""
    return conn.execute("SELECT 1 FROM artifacts WHERE sha256 = %s AND uri IS NULL LIMIT 1",
                        (sha256,)).fetchone() is not None
