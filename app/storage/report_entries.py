"""All SQL for choosing the entries a report is computed from (app/services/report_evidence.py).

A report replays entries, never reads rows: these queries only pick, from the verified
projections, the seqs whose entries the report needs. Everything an entity's current row is
made of (all its revisions), every fact shown, and of a run's metrics the entries that hold
the latest value of each (key, group).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg import sql

from app.storage.tracking import latest_metrics_for


def _seqs(conn: psycopg.Connection, query: str | sql.Composable, *params: object) -> set[int]:
    return {int(r[0]) for r in conn.execute(query, params).fetchall()}  # type: ignore[arg-type]


def _of(table: str, column: str) -> sql.Composed:
    return sql.SQL("SELECT seq FROM {} WHERE {} = ANY(%s)").format(sql.Identifier(table),
                                                                   sql.Identifier(column))


def run_family(conn: psycopg.Connection, run_ids: Iterable[str]) -> list[str]:
    """The runs and, transitively, their parents (at most 100 deep each)."""
    found: list[str] = []
    wanted = list(dict.fromkeys(run_ids))
    for _ in range(101):
        fresh = [r for r in wanted if r not in found]
        if not fresh:
            break
        found += fresh
        wanted = [r[0] for r in conn.execute(
            "SELECT parent_run_id FROM runs WHERE id = ANY(%s) AND parent_run_id IS NOT NULL",
            (fresh,)).fetchall()]
    return found


def run_seqs(conn: psycopg.Connection, run_ids: Iterable[str]) -> set[int]:
    """What the run evidence of these runs is computed from."""
    runs = run_family(conn, run_ids)
    own = list(dict.fromkeys(run_ids))
    seqs = _seqs(conn, "SELECT seq FROM run_revisions WHERE id = ANY(%s)", runs)
    seqs |= _seqs(conn, "SELECT r.seq FROM experiment_revisions r WHERE r.id IN "
                        "(SELECT experiment_id FROM runs WHERE id = ANY(%s))", runs)
    for table in ("params", "tag_events", "run_inputs", "artifact_revisions",
                  "run_environments"):
        seqs |= _seqs(conn, _of(table, "run_id"), own)
    seqs |= {m.seq for rows in latest_metrics_for(conn, own).values() for m in rows}
    return seqs


def experiment_runs(conn: psycopg.Connection, experiment_id: str) -> list[str]:
    rows = conn.execute("SELECT id FROM runs WHERE experiment_id = %s ORDER BY created_seq",
                        (experiment_id,)).fetchall()
    return [r[0] for r in rows]


def experiment_seqs(conn: psycopg.Connection, experiment_id: str) -> set[int]:
    seqs = _seqs(conn, "SELECT seq FROM experiment_revisions WHERE id = %s", experiment_id)
    return seqs | run_seqs(conn, experiment_runs(conn, experiment_id))


def model_seqs(conn: psycopg.Connection, name: str) -> set[int]:
    """What a model's evidence is computed from: the model, every version, alias, policy,
    promotion, decision and deployment of it, every declared environment, and the versions'
    runs."""
    seqs = set()
    for table, column in (("registered_model_revisions", "name"),
                          ("model_version_revisions", "model_name"),
                          ("alias_events", "model_name"), ("model_policies", "model_name"),
                          ("promotion_revisions", "model_name"),
                          ("deployments", "model_name")):
        seqs |= _seqs(conn, _of(table, column), [name])
    seqs |= _seqs(conn, "SELECT d.seq FROM decisions d JOIN promotions p ON "
                        "p.id = d.promotion_id WHERE p.model_name = %s", name)
    # Every revision of every declared environment: the summary says what is live in each.
    seqs |= _seqs(conn, "SELECT seq FROM environment_revisions")
    runs = [r[0] for r in conn.execute(
        "SELECT DISTINCT run_id FROM model_versions WHERE model_name = %s "
        "AND run_id IS NOT NULL", (name,))]  # (none for an unpinned version)
    seqs |= run_seqs(conn, runs)
    return seqs | people_seqs(conn, seqs)


def people_seqs(conn: psycopg.Connection, seqs: Iterable[int]) -> set[int]:
    """Who acted in these entries, as people: the token.created entry of each acting token,
    the entry that gave it its principal and that principal's principal.created entry
    (separation of duties compares principals; reports print their names)."""
    return _seqs(conn, "SELECT unnest(ARRAY[t.created_seq, tp.seq, p.seq]) FROM tokens t "
                       "JOIN token_principals tp ON tp.token_id = t.id "
                       "JOIN principals p ON p.id = tp.principal_id WHERE t.name IN "
                       "(SELECT substring(e.actor FROM '^token:([^ ]+)') FROM ledger_entries e "
                       "WHERE e.seq = ANY(%s))", sorted(set(seqs)))


def entries(conn: psycopg.Connection, seqs: Iterable[int]) -> list[tuple[int, bytes]]:
    """(seq, canonical bytes) of these entries, by seq."""
    rows = conn.execute("SELECT seq, canonical FROM ledger_entries WHERE seq = ANY(%s) "
                        "ORDER BY seq", (sorted(set(seqs)),)).fetchall()
    return [(int(s), bytes(c)) for s, c in rows]


def envelopes(conn: psycopg.Connection, digests: Iterable[str]) -> dict[str, object]:
    rows = conn.execute("SELECT sha256, envelope FROM artifact_envelopes WHERE sha256 = ANY(%s)",
                        (sorted(set(digests)),)).fetchall()
    return {d: e for d, e in rows}


def run_exists(conn: psycopg.Connection, run_id: str) -> bool:
    return conn.execute("SELECT 1 FROM runs WHERE id = %s", (run_id,)).fetchone() is not None


def issued_sizes(conn: psycopg.Connection, limit: int) -> list[int]:
    """Tree sizes of the checkpoints of the latest issued reports (consistency proofs)."""
    rows = conn.execute(
        "SELECT tree_size FROM reports_issued GROUP BY tree_size "
        "ORDER BY max(issued_at) DESC, tree_size DESC LIMIT %s", (limit,)).fetchall()
    return sorted({int(r[0]) for r in rows})


def issued(conn: psycopg.Connection, sha256: str) -> tuple[Any, ...] | None:
    """(report_id, kind, subject, bundle_sha256, tree_size, issued_to, seq, issued_at) of
    the report whose PDF or bundle has this SHA-256."""
    return conn.execute(
        "SELECT report_id, kind, subject, bundle_sha256, tree_size, issued_to, seq, "
        "issued_at FROM reports_issued WHERE pdf_sha256 = %s OR bundle_sha256 = %s "
        "ORDER BY seq LIMIT 1", (sha256, sha256)).fetchone()
