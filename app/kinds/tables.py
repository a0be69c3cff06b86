"""Every table the ledger decides, with its columns in the database's order (schema.sql).

A test introspects the database and holds this list equal to it, table for table and column
for column, so a table added to schema.sql without a place here fails at once.
"""

from __future__ import annotations

from app.kinds.core import (
    BIGINT,
    BOOLEAN,
    BYTEA,
    EVENT,
    FACT,
    FLOAT8,
    INTEGER,
    JSONB,
    MATERIALIZED,
    REVISION,
    STORE,
    TEXT,
    TIMESTAMPTZ,
    Table,
)

T, B, INT_, J, TS, BY, BO, F = TEXT, BIGINT, INTEGER, JSONB, TIMESTAMPTZ, BYTEA, BOOLEAN, FLOAT8

_EXPERIMENT = (("id", T), ("name", T), ("description", T), ("tags", J), ("lifecycle", T),
               ("created_by", T), ("created_at", TS), ("created_seq", B), ("archived_seq", B),
               ("updated_seq", B), ("updated_at", TS), ("seq", B))
_RUN = (("id", T), ("experiment_id", T), ("name", T), ("status", T), ("source", J),
        ("parent_run_id", T), ("start_time", B), ("end_time", B), ("created_by", T),
        ("user_id", T), ("created_seq", B), ("ended_seq", B), ("manifest_sha256", T),
        ("lifecycle", T), ("lifecycle_seq", B), ("renamed_seq", B), ("reopened_seq", B),
        ("seq", B))
_MODEL = (("name", T), ("description", T), ("owner", T), ("tags", J),
          ("sensitive_attributes", J), ("protected_targets", J), ("quorum", INT_),
          ("created_by", T), ("created_seq", B), ("updated_seq", B), ("seq", B))
_VERSION = (("model_name", T), ("version", INT_), ("run_id", T), ("artifact_path", T),
            ("evidence", J), ("version_digest", T), ("stage", T), ("created_by", T),
            ("created_seq", B), ("stage_seq", B), ("description", T), ("source", T),
            ("logged_model_id", T), ("updated_seq", B), ("seq", B))
_PROMOTION = (("id", T), ("model_name", T), ("version", INT_), ("target", T),
              ("justification", T), ("classification", T), ("requested_by", T), ("status", T),
              ("gates", J), ("policy_seq", B), ("created_seq", B), ("closed_seq", B),
              ("seq", B))
# Declared environments (app/kinds/protection.py).
_ENVIRONMENT = (("name", T), ("protected", BO), ("adopted", BO), ("declared_by", T),
                ("declared_seq", B), ("seq", B))
_LOGGED_MODEL = (("model_id", T), ("experiment_id", T), ("name", T), ("source_run_id", T),
                 ("model_type", T), ("status", T), ("lifecycle", T), ("created_by", T),
                 ("creation_timestamp", B), ("last_updated_timestamp", B), ("created_seq", B),
                 ("updated_seq", B), ("seq", B))

# A run path's artifact (app/kinds/tracking.py): revision counts from 1, one per entry.
_ARTIFACT = (("run_id", T), ("path", T), ("sha256", T), ("size", B), ("uri", T),
             ("envelope_sha256", T), ("client_signature", J), ("revision", INT_), ("seq", B))


def _entity(name: str, columns: tuple[tuple[str, str], ...],
            key: tuple[str, ...]) -> tuple[Table, Table]:
    """An entity: its revisions (insert-only) and its current rows (kept from them)."""
    revisions = f"{name[:-1] if name.endswith('s') else name}_revisions"
    return (Table(revisions, REVISION, columns, (*key, "seq"), within=key),
            Table(name, MATERIALIZED, columns, key, source=revisions))


TABLES: tuple[Table, ...] = (
    # Keys and access.
    Table("signing_keys", FACT, (("verifier_key", T), ("name", T), ("key_id", B),
                                 ("public_key", BY), ("activated_at", TS), ("seq", B)),
          ("verifier_key",)),
    Table("tokens", FACT, (("id", T), ("name", T), ("role", T), ("token_hash", BY),
                           ("created_at", TS), ("created_seq", B), ("expires_at", TS)), ("id",)),
    # People and service accounts; each token belongs to one principal (separation of duties
    # compares principals, never tokens).
    Table("principals", FACT, (("id", T), ("name", T), ("display_name", T), ("kind", T),
                               ("created_at", TS), ("seq", B)), ("id",)),
    Table("token_principals", FACT, (("token_id", T), ("principal_id", T), ("seq", B)),
          ("token_id",)),
    Table("token_revocations", FACT, (("token_id", T), ("revoked_at", TS), ("seq", B)),
          ("token_id",)),
    Table("client_keys", FACT, (("key_id", T), ("token_id", T), ("public_key", BY),
                                ("seq", B)), ("key_id",)),
    # Stricter rules the database enforces from the entry that adopted them on (history
    # written before stays as it was accepted).
    Table("rules_adopted", FACT, (("rule", T), ("seq", B)), ("rule",)),
    # Tracking.
    *_entity("experiments", _EXPERIMENT, ("id",)),
    Table("grant_events", EVENT, (("token_id", T), ("experiment_id", T), ("granted", BO),
                                  ("seq", B)), ("token_id", "experiment_id", "seq"),
          within=("token_id", "experiment_id"), present="granted"),
    Table("grants", MATERIALIZED, (("token_id", T), ("experiment_id", T), ("seq", B)),
          ("token_id", "experiment_id"), source="grant_events"),
    *_entity("runs", _RUN, ("id",)),
    Table("run_environments", FACT, (("run_id", T), ("environment", J), ("seq", B)),
          ("run_id",)),
    Table("params", FACT, (("run_id", T), ("key", T), ("value", T), ("seq", B)),
          ("run_id", "key"), within=("key",)),
    Table("metrics", FACT, (("run_id", T), ("key", T), ("group_key", T), ("group_values", J),
                            ("n", B), ("value", T), ("value_number", F), ("step", B),
                            ("timestamp", B), ("seq", B), ("position", INT_)),
          ("seq", "position"), within=("position",)),
    Table("tag_events", EVENT, (("run_id", T), ("key", T), ("value", T), ("seq", B)),
          ("run_id", "key", "seq"), within=("key",), present="value"),
    Table("run_tags", MATERIALIZED, (("run_id", T), ("key", T), ("value", T), ("seq", B)),
          ("run_id", "key"), source="tag_events"),
    # An artifact path's revisions: a new upload to a recorded path is its next revision.
    *_entity("artifacts", _ARTIFACT, ("run_id", "path")),
    Table("artifact_envelopes", STORE, (("sha256", T), ("envelope", J)), ("sha256",)),
    Table("run_inputs", FACT, (("run_id", T), ("name", T), ("digest", T), ("context", T),
                               ("source_uri", T), ("schema", J), ("row_count", B),
                               ("group_counts", J), ("seq", B)),
          ("run_id", "name", "digest", "context"), within=("name", "digest", "context"),
          first_wins=("run_id", "name", "digest", "context")),
    Table("run_input_mlflow", FACT, (("run_id", T), ("name", T), ("digest", T), ("context", T),
                                     ("mlflow", J), ("seq", B)),
          ("run_id", "name", "digest", "context"), within=("name", "digest", "context"),
          first_wins=("run_id", "name", "digest", "context")),
    *_entity("logged_models", _LOGGED_MODEL, ("model_id",)),
    Table("logged_model_params", FACT, (("model_id", T), ("key", T), ("value", T), ("seq", B)),
          ("model_id", "key"), within=("key",)),
    Table("logged_model_tag_events", EVENT, (("model_id", T), ("key", T), ("value", T),
                                             ("seq", B)), ("model_id", "key", "seq"),
          within=("key",), present="value"),
    Table("logged_model_tags", MATERIALIZED, (("model_id", T), ("key", T), ("value", T),
                                              ("seq", B)), ("model_id", "key"),
          source="logged_model_tag_events"),
    Table("run_outputs", FACT, (("run_id", T), ("model_id", T), ("step", B), ("seq", B)),
          ("run_id", "model_id", "step"), within=("model_id", "step"),
          first_wins=("run_id", "model_id", "step")),
    # Model registry.
    *_entity("registered_models", _MODEL, ("name",)),
    *_entity("model_versions", _VERSION, ("model_name", "version")),
    Table("model_version_tag_events", EVENT, (("model_name", T), ("version", INT_), ("key", T),
                                              ("value", T), ("seq", B)),
          ("model_name", "version", "key", "seq"), within=("key",), present="value"),
    Table("model_version_tags", MATERIALIZED, (("model_name", T), ("version", INT_), ("key", T),
                                               ("value", T), ("seq", B)),
          ("model_name", "version", "key"), source="model_version_tag_events"),
    Table("alias_events", EVENT, (("model_name", T), ("alias", T), ("version", INT_),
                                  ("promotion_id", T), ("seq", B)),
          ("model_name", "alias", "seq"), within=("alias",), present="version"),
    Table("model_aliases", MATERIALIZED, (("model_name", T), ("alias", T), ("version", INT_),
                                          ("seq", B)), ("model_name", "alias"),
          source="alias_events"),
    Table("model_policies", FACT, (("model_name", T), ("policy", J), ("set_by", T),
                                   ("seq", B)), ("model_name", "seq")),
    *_entity("promotions", _PROMOTION, ("id",)),
    Table("decisions", FACT, (("promotion_id", T), ("seq", B), ("approver", T), ("role", T),
                              ("outcome", T), ("comment", T), ("exception", J),
                              ("version_digest", T), ("gates", J), ("principal_id", T)),
          ("promotion_id", "seq")),
    *_entity("environments", _ENVIRONMENT, ("name",)),
    Table("deployments", FACT, (("id", T), ("model_name", T), ("version", INT_),
                                ("environment", T), ("deployer", T), ("target", J),
                                ("promotion_id", T), ("rollback_of", T), ("reason", T),
                                ("deployed_at", TS), ("seq", B)), ("id",)),
    Table("reports_issued", FACT, (("report_id", T), ("kind", T), ("subject", T),
                                   ("bundle_sha256", T), ("pdf_sha256", T), ("tree_size", B),
                                   ("issued_to", T), ("seq", B), ("issued_at", TS)),
          ("report_id",)),
)
TABLES = tuple(Table(t.name, t.role, t.columns, t.key, t.within, t.first_wins, t.source,
                     t.present, rank) for rank, t in enumerate(TABLES))
BY_NAME = {t.name: t for t in TABLES}

# Tables of the ledger itself (verified by the chain check), and of the schema's version.
LEDGER_TABLES = ("mlaudit_schema", "ledger_head", "ledger_entries", "checkpoints")

# Caches outside the projection set: no entry makes their rows and verify does not hold them
# to the ledger; they state no fact and confer no authority (schema.sql says why each exists).
CACHE_TABLES = ("request_signatures_seen",)


def table(name: str) -> Table:
    return BY_NAME[name]


def kept_from(source: str) -> Table:
    """The materialized table kept from a revision or event table."""
    return next(t for t in TABLES if t.source == source)
