"""Upgrading a database of schema version 1 to 6 to version 7: projections rebuilt from the ledger.

Version 7 adds the client-claimed `user_id` of runs (MLflow's), drops the foreign key of a
run's parent (MLflow's `mlflow.parentRunId` may name a run that was never recorded), keeps
every revision of an artifact path (artifact_revisions; artifacts holds the latest of each
path), and lets a model version be unpinned (registered from a source mlaudit does not hold:
no run, until pinned) and guards it (issue 19).

Version 6 adds principals (people and service accounts) and the principal of each token and
decision.

Version 5 keeps current state only in tables the database maintains from insert-only
revisions and events, and stores artifact envelopes content-addressed. Rather than transform
each old table, the upgrade keeps the ledger (entries, checkpoints, head), keeps the artifact
envelopes (they are named by their entries' envelope_sha256 but not held in them), drops every
other table, applies schema.sql and replays every entry through the reducers (the rebuild's
replay): the projections are then exactly what the ledger says.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from app.kinds.core import STORE
from app.kinds.tables import TABLES
from app.ledger.jcs import canonicalize
from app.storage.tracking import advance_experiment_ids

# Every table a version 2-4 database has besides the ledger's own.
OLD_PROJECTIONS = (
    "signing_keys", "tokens", "token_revocations", "grants", "client_keys", "experiments",
    "runs", "params", "metrics", "tag_events", "run_tags", "artifacts", "run_inputs",
    "run_input_mlflow", "registered_models", "model_versions", "model_aliases",
    "model_policies", "promotions", "decisions", "deployments", "model_version_tags",
    "logged_models", "logged_model_params", "logged_model_tags", "run_outputs",
    "reports_issued")


def keep_envelopes(conn: psycopg.Connection) -> int:
    """Copy the old artifacts table's envelopes into artifact_envelopes, each under the
    SHA-256 of its RFC 8785 bytes (the digest its entry names)."""
    conn.execute("CREATE TABLE IF NOT EXISTS artifact_envelopes (sha256 text PRIMARY KEY "
                 "CHECK (sha256 ~ '^[0-9a-f]{64}$'), envelope jsonb NOT NULL)")
    kept = 0
    for (envelope,) in conn.execute("SELECT envelope FROM artifacts").fetchall():
        digest = hashlib.sha256(canonicalize(envelope)).hexdigest()
        conn.execute("INSERT INTO artifact_envelopes (sha256, envelope) VALUES (%s, %s) "
                     "ON CONFLICT DO NOTHING", (digest, Jsonb(envelope)))
        kept += 1
    return kept


def drop_projections(conn: psycopg.Connection) -> None:
    """Every projection an older version may have: version 2-4's, and every table the registry
    knows but the content-addressed stores (artifact envelopes), which are kept."""
    kept = {t.name for t in TABLES if t.role == STORE}
    names = [*OLD_PROJECTIONS, *(t.name for t in reversed(TABLES) if t.name not in kept)]
    for table in dict.fromkeys(names):
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(table)))


def upgrade(conn: psycopg.Connection, apply_schema: Callable[[], None],
            replay: Callable[[psycopg.Connection], object], current: int,
            adopt: Callable[[psycopg.Connection], object] | None = None) -> None:
    """In the caller's transaction (holding the schema lock): keep the envelopes (held in the
    artifacts table before version 5), drop the old projections, apply schema.sql, replay the
    ledger, adopt the environments its deployments used (entries appended after them, before
    the deferred guards look), and move the experiment id sequence past every numeric id the
    ledger gave out. Tokens from before version 6 get their principals when the service next
    starts."""
    if current < 5:
        keep_envelopes(conn)
    drop_projections(conn)
    apply_schema()
    replay(conn)
    if adopt is not None:
        adopt(conn)
    advance_experiment_ids(conn)
