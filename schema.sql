-- mlaudit schema, version 4. Applied idempotently by `mlaudit init` and at start-up, and again
-- over an older version (version 2 added the metrics_latest index and dropped the foreign keys
-- of metrics; version 3 added token expiry and revocations; version 4 stopped compressing
-- ledger_entries.canonical with pglz), so every statement must be safe to repeat.
-- The ledger, checkpoint and key tables are append-only: triggers refuse UPDATE, DELETE and
-- TRUNCATE, and are ENABLE ALWAYS so that session_replication_role = replica cannot skip them.

CREATE TABLE IF NOT EXISTS mlaudit_schema (
    version     integer PRIMARY KEY,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

CREATE OR REPLACE FUNCTION mlaudit_refuse_mutation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'mlaudit: % is append-only; % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

-- One row: the chain's head. Appends lock it FOR UPDATE, which serialises every writer in
-- every process; size is the next seq, frontier the Merkle compact range of the tree.
CREATE TABLE IF NOT EXISTS ledger_head (
    id          smallint PRIMARY KEY CHECK (id = 1),
    size        bigint NOT NULL CHECK (size >= 0),
    chain_hash  bytea NOT NULL CHECK (octet_length(chain_hash) = 32),
    frontier    bytea NOT NULL CHECK (octet_length(frontier) % 32 = 0)
);
INSERT INTO ledger_head (id, size, chain_hash, frontier)
VALUES (1, 0, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea, ''::bytea)
ON CONFLICT (id) DO NOTHING;

-- Entries: canonical holds the RFC 8785 bytes verbatim; nodes holds the Merkle subtree hashes
-- that this leaf completes (levels 1.., 32 bytes each), so proofs read O(log n) rows.
-- kind, actor and recorded_at are query copies of fields inside canonical. Entries are
-- inserted just before commit, so every foreign key to ledger_entries is DEFERRABLE INITIALLY
-- DEFERRED.
CREATE TABLE IF NOT EXISTS ledger_entries (
    seq          bigint PRIMARY KEY CHECK (seq >= 0),
    canonical    bytea NOT NULL,
    leaf_hash    bytea NOT NULL CHECK (octet_length(leaf_hash) = 32),
    chain_hash   bytea NOT NULL UNIQUE CHECK (octet_length(chain_hash) = 32),
    nodes        bytea NOT NULL CHECK (octet_length(nodes) % 32 = 0),
    kind         text NOT NULL,
    actor        text NOT NULL,
    recorded_at  timestamptz NOT NULL
);

-- canonical is compressed with lz4 where the server was built with it, and otherwise stored
-- uncompressed (out of line, as EXTERNAL). The default, pglz, spent about 1 ms of a 1000-metric
-- batch's write compressing its 80 KB entry (to about 25 KB); lz4 costs a tenth of that.
-- Only the storage of new rows changes; the bytes read back are the same either way.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_attribute
               WHERE attrelid = 'ledger_entries'::regclass AND attname = 'canonical'
                 AND attcompression <> 'l' AND attstorage <> 'e') THEN
        BEGIN
            ALTER TABLE ledger_entries ALTER COLUMN canonical SET COMPRESSION lz4;
        EXCEPTION WHEN feature_not_supported THEN
            ALTER TABLE ledger_entries ALTER COLUMN canonical SET STORAGE EXTERNAL;
        END;
    END IF;
END
$$;

CREATE TABLE IF NOT EXISTS signing_keys (
    verifier_key  text PRIMARY KEY,
    name          text NOT NULL,
    key_id        bigint NOT NULL CHECK (key_id >= 0 AND key_id < 4294967296),
    public_key    bytea NOT NULL CHECK (octet_length(public_key) = 32),
    activated_at  timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS checkpoints (
    tree_size  bigint PRIMARY KEY CHECK (tree_size >= 0),
    root_hash  bytea NOT NULL CHECK (octet_length(root_hash) = 32),
    key_id     bigint NOT NULL,
    note       text NOT NULL,
    signed_at  timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS tokens (
    id           text PRIMARY KEY,
    name         text NOT NULL UNIQUE,
    role         text NOT NULL CHECK (role IN ('admin', 'writer', 'approver', 'auditor')),
    token_hash   bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    created_at   timestamptz NOT NULL,
    created_seq  bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED
);

-- Tracking projections. Each row names the seq of the entry that made it (deferred foreign
-- keys: entries are inserted just before commit) and can be rebuilt from the ledger.
CREATE SEQUENCE IF NOT EXISTS experiment_ids START 1;

CREATE TABLE IF NOT EXISTS experiments (
    id            text PRIMARY KEY,
    name          text NOT NULL UNIQUE,
    description   text NOT NULL DEFAULT '',
    tags          jsonb NOT NULL DEFAULT '{}'::jsonb,
    lifecycle     text NOT NULL DEFAULT 'active' CHECK (lifecycle IN ('active', 'archived')),
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL,
    created_seq   bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    archived_seq  bigint REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE IF NOT EXISTS runs (
    id             text PRIMARY KEY,
    experiment_id  text NOT NULL REFERENCES experiments (id),
    name           text NOT NULL,
    status         text NOT NULL CHECK (status IN ('RUNNING', 'FINISHED', 'FAILED', 'KILLED')),
    source         jsonb NOT NULL DEFAULT '{}'::jsonb,
    parent_run_id  text REFERENCES runs (id),
    start_time     bigint NOT NULL,
    end_time       bigint,
    created_by     text NOT NULL,
    created_seq    bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    ended_seq      bigint REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX IF NOT EXISTS runs_experiment ON runs (experiment_id, start_time DESC, id);

CREATE TABLE IF NOT EXISTS params (
    run_id  text NOT NULL REFERENCES runs (id),
    key     text NOT NULL,
    value   text NOT NULL,
    seq     bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (run_id, key)
);

-- Every logged metric value (the history). group_key is '' for an overall value, else the
-- canonical JSON of the group object; value is the decimal string that was hashed.
CREATE TABLE IF NOT EXISTS metrics (
    run_id        text NOT NULL,
    key           text NOT NULL,
    group_key     text NOT NULL DEFAULT '',
    group_values  jsonb,
    n             bigint,
    value         text NOT NULL,
    value_number  double precision NOT NULL,
    step          bigint NOT NULL,
    timestamp     bigint NOT NULL,
    seq           bigint NOT NULL,
    position      integer NOT NULL,
    PRIMARY KEY (seq, position)
);
-- No foreign keys on metrics: a 1000-metric batch paid 2000 row-by-row checks for them
-- (about a third of its server time). Writes check the run under the head lock, and
-- `mlaudit verify` checks every row against the metrics.logged entry that made it
-- (app/storage/projections.py), which is stronger than either key. Databases made by the
-- first schema lose the two keys here.
ALTER TABLE metrics DROP CONSTRAINT IF EXISTS metrics_run_id_fkey;
ALTER TABLE metrics DROP CONSTRAINT IF EXISTS metrics_seq_fkey;
-- Latest value first per (run, key, group): the order every "latest metric" read uses, so
-- DISTINCT ON and the search's LIMIT 1 subqueries walk the index instead of sorting; history
-- reads use its (run_id, key, group_key) prefix. It replaces the first schema's
-- metrics_history index.
CREATE INDEX IF NOT EXISTS metrics_latest ON metrics
    (run_id, key, group_key, step DESC, timestamp DESC, seq DESC, position DESC);
DROP INDEX IF EXISTS metrics_history;

-- Every tag change, oldest first (value NULL for a deletion), and the current tags.
CREATE TABLE IF NOT EXISTS tag_events (
    run_id  text NOT NULL REFERENCES runs (id),
    key     text NOT NULL,
    value   text,
    seq     bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (run_id, key, seq)
);

CREATE TABLE IF NOT EXISTS run_tags (
    run_id  text NOT NULL REFERENCES runs (id),
    key     text NOT NULL,
    value   text NOT NULL,
    seq     bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (run_id, key)
);

-- Artifacts: content-addressed bytes (stored once per digest) recorded per run path, each
-- with the service's signed DSSE digest statement; or external, registered by URI.
CREATE TABLE IF NOT EXISTS artifacts (
    run_id       text NOT NULL REFERENCES runs (id),
    path         text NOT NULL,
    sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size         bigint NOT NULL CHECK (size >= 0),
    uri          text,
    envelope     jsonb NOT NULL,
    client_signature jsonb,
    seq          bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (run_id, path)
);
CREATE INDEX IF NOT EXISTS artifacts_digest ON artifacts (sha256);

-- Datasets a run used (inputs), with digest, schema and per-group counts.
CREATE TABLE IF NOT EXISTS run_inputs (
    run_id        text NOT NULL REFERENCES runs (id),
    name          text NOT NULL,
    digest        text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
    context       text NOT NULL,
    source_uri    text,
    schema        jsonb,
    row_count     bigint,
    group_counts  jsonb,
    seq           bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (run_id, name, digest, context)
);

-- Where a run ran, and the SHA-256 of its reproducibility manifest when it ended.
ALTER TABLE runs ADD COLUMN IF NOT EXISTS environment jsonb;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS environment_seq bigint
    REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS manifest_sha256 text;

-- Lifecycle changes and renames (MLflow delete/restore/update): the soft state, and the seq of
-- the entry that last set it. A deleted run accepts no writes until restored.
ALTER TABLE runs ADD COLUMN IF NOT EXISTS lifecycle text NOT NULL DEFAULT 'active'
    CHECK (lifecycle IN ('active', 'deleted'));
ALTER TABLE runs ADD COLUMN IF NOT EXISTS lifecycle_seq bigint
    REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS renamed_seq bigint
    REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS reopened_seq bigint
    REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE experiments ADD COLUMN IF NOT EXISTS updated_seq bigint
    REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE experiments ADD COLUMN IF NOT EXISTS updated_at timestamptz;

-- What an MLflow client sent with a dataset input (its short digest, source type, source,
-- schema and profile strings, input tags), kept verbatim beside the run_inputs row.
CREATE TABLE IF NOT EXISTS run_input_mlflow (
    run_id   text NOT NULL REFERENCES runs (id),
    name     text NOT NULL,
    digest   text NOT NULL,
    context  text NOT NULL,
    mlflow   jsonb NOT NULL,
    seq      bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (run_id, name, digest, context)
);

-- Experiment-scoped grants: a writer holding any grant may write only where it is granted.
CREATE TABLE IF NOT EXISTS grants (
    token_id       text NOT NULL REFERENCES tokens (id),
    experiment_id  text NOT NULL REFERENCES experiments (id),
    seq            bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (token_id, experiment_id)
);

-- Ed25519 public keys that principals sign their submissions with.
CREATE TABLE IF NOT EXISTS client_keys (
    key_id      text PRIMARY KEY,
    token_id    text NOT NULL REFERENCES tokens (id),
    public_key  bytea NOT NULL CHECK (octet_length(public_key) = 32),
    seq         bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED
);

-- Model registry: registered models, versions pinned to their evidence, stages and aliases,
-- policies, promotions with decisions, and deployments. Every row names the entry that made it.
CREATE TABLE IF NOT EXISTS registered_models (
    name                  text PRIMARY KEY,
    description           text NOT NULL DEFAULT '',
    owner                 text NOT NULL DEFAULT '',
    tags                  jsonb NOT NULL DEFAULT '{}'::jsonb,
    sensitive_attributes  jsonb NOT NULL DEFAULT '[]'::jsonb,
    protected_targets     jsonb NOT NULL,
    quorum                integer NOT NULL DEFAULT 1 CHECK (quorum BETWEEN 1 AND 10),
    created_by            text NOT NULL,
    created_seq           bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE IF NOT EXISTS model_versions (
    model_name      text NOT NULL REFERENCES registered_models (name),
    version         integer NOT NULL CHECK (version >= 1),
    run_id          text NOT NULL REFERENCES runs (id),
    artifact_path   text NOT NULL,
    evidence        jsonb NOT NULL,
    version_digest  text NOT NULL CHECK (version_digest ~ '^[0-9a-f]{64}$'),
    stage           text NOT NULL DEFAULT 'None'
                    CHECK (stage IN ('None', 'Staging', 'Production', 'Archived')),
    created_by      text NOT NULL,
    created_seq     bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    stage_seq       bigint REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (model_name, version)
);

CREATE TABLE IF NOT EXISTS model_aliases (
    model_name  text NOT NULL REFERENCES registered_models (name),
    alias       text NOT NULL,
    version     integer NOT NULL,
    seq         bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (model_name, alias),
    FOREIGN KEY (model_name, version) REFERENCES model_versions (model_name, version)
);

CREATE TABLE IF NOT EXISTS model_policies (
    model_name  text NOT NULL REFERENCES registered_models (name),
    policy      jsonb NOT NULL,
    set_by      text NOT NULL,
    seq         bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (model_name, seq)
);

CREATE TABLE IF NOT EXISTS promotions (
    id              text PRIMARY KEY,
    model_name      text NOT NULL,
    version         integer NOT NULL,
    target          text NOT NULL,
    justification   text NOT NULL,
    classification  text,
    requested_by    text NOT NULL,
    status          text NOT NULL CHECK (status IN ('pending', 'approved', 'rejected',
                                                    'withdrawn', 'invalidated')),
    gates           jsonb NOT NULL,
    policy_seq      bigint,
    created_seq     bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    closed_seq      bigint REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    FOREIGN KEY (model_name, version) REFERENCES model_versions (model_name, version)
);
CREATE INDEX IF NOT EXISTS promotions_version ON promotions (model_name, version, status);

CREATE TABLE IF NOT EXISTS decisions (
    promotion_id    text NOT NULL REFERENCES promotions (id),
    seq             bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    approver        text NOT NULL,
    role            text NOT NULL,
    outcome         text NOT NULL CHECK (outcome IN ('approve', 'reject', 'refused')),
    comment         text NOT NULL,
    exception       jsonb,
    version_digest  text NOT NULL,
    gates           jsonb NOT NULL,
    PRIMARY KEY (promotion_id, seq)
);

CREATE TABLE IF NOT EXISTS deployments (
    id             text PRIMARY KEY,
    model_name     text NOT NULL,
    version        integer NOT NULL,
    environment    text NOT NULL,
    deployer       text NOT NULL,
    target         jsonb NOT NULL DEFAULT '{}'::jsonb,
    promotion_id   text REFERENCES promotions (id),
    rollback_of    text REFERENCES deployments (id),
    reason         text,
    deployed_at    timestamptz NOT NULL,
    seq            bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    FOREIGN KEY (model_name, version) REFERENCES model_versions (model_name, version)
);
CREATE INDEX IF NOT EXISTS deployments_history ON deployments (model_name, environment, seq);

-- MLflow registry metadata: descriptions and tags that may change after creation (each change
-- an entry; updated_seq names the latest), the source a version was registered from, version
-- tags. Timestamps shown to MLflow clients are the recorded_at of these entries.
ALTER TABLE registered_models ADD COLUMN IF NOT EXISTS updated_seq bigint
    REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE model_versions ADD COLUMN IF NOT EXISTS description text NOT NULL DEFAULT '';
ALTER TABLE model_versions ADD COLUMN IF NOT EXISTS source text;
ALTER TABLE model_versions ADD COLUMN IF NOT EXISTS logged_model_id text;
ALTER TABLE model_versions ADD COLUMN IF NOT EXISTS updated_seq bigint
    REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED;
CREATE TABLE IF NOT EXISTS model_version_tags (
    model_name  text NOT NULL,
    version     integer NOT NULL,
    key         text NOT NULL,
    value       text NOT NULL,
    seq         bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (model_name, version, key),
    FOREIGN KEY (model_name, version) REFERENCES model_versions (model_name, version)
);

-- MLflow 3 logged models. Their files are artifacts of the source run at the run path
-- models/<model_id>/...; timestamps (ms) are the recorded_at of the entries that set them.
CREATE TABLE IF NOT EXISTS logged_models (
    model_id                text PRIMARY KEY CHECK (model_id ~ '^m-[0-9a-f]{32}$'),
    experiment_id           text NOT NULL REFERENCES experiments (id),
    name                    text NOT NULL,
    source_run_id           text REFERENCES runs (id),
    model_type              text,
    status                  text NOT NULL CHECK (status IN ('LOGGED_MODEL_PENDING',
                                'LOGGED_MODEL_READY', 'LOGGED_MODEL_UPLOAD_FAILED')),
    lifecycle               text NOT NULL CHECK (lifecycle IN ('active', 'deleted')),
    created_by              text NOT NULL,
    creation_timestamp      bigint NOT NULL,
    last_updated_timestamp  bigint NOT NULL,
    created_seq             bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    updated_seq             bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX IF NOT EXISTS logged_models_experiment
    ON logged_models (experiment_id, creation_timestamp DESC, model_id);
CREATE INDEX IF NOT EXISTS logged_models_run ON logged_models (source_run_id);

CREATE TABLE IF NOT EXISTS logged_model_params (
    model_id  text NOT NULL REFERENCES logged_models (model_id),
    key       text NOT NULL,
    value     text NOT NULL,
    seq       bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (model_id, key)
);

CREATE TABLE IF NOT EXISTS logged_model_tags (
    model_id  text NOT NULL REFERENCES logged_models (model_id),
    key       text NOT NULL,
    value     text NOT NULL,
    seq       bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (model_id, key)
);

-- Models a run produced (MLflow runs/outputs), with the step it was logged at.
CREATE TABLE IF NOT EXISTS run_outputs (
    run_id    text NOT NULL REFERENCES runs (id),
    model_id  text NOT NULL REFERENCES logged_models (model_id),
    step      bigint NOT NULL,
    seq       bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (run_id, model_id, step)
);

-- Issued PDF reports (each also a `report.issued` entry), looked up by the PDF's SHA-256.
CREATE TABLE IF NOT EXISTS reports_issued (
    report_id      text PRIMARY KEY,
    kind           text,
    subject        text,
    bundle_sha256  text,
    pdf_sha256     text UNIQUE,
    tree_size      bigint,
    issued_to      text,
    seq            bigint REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    issued_at      timestamptz
);

CREATE OR REPLACE TRIGGER ledger_entries_no_update_delete
    BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_mutation();
CREATE OR REPLACE TRIGGER ledger_entries_no_truncate
    BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
CREATE OR REPLACE TRIGGER checkpoints_no_update_delete
    BEFORE UPDATE OR DELETE ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_mutation();
CREATE OR REPLACE TRIGGER checkpoints_no_truncate
    BEFORE TRUNCATE ON checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
CREATE OR REPLACE TRIGGER signing_keys_no_update_delete
    BEFORE UPDATE OR DELETE ON signing_keys
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_mutation();
CREATE OR REPLACE TRIGGER signing_keys_no_truncate
    BEFORE TRUNCATE ON signing_keys
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
-- The head row may move forward but never disappear.
CREATE OR REPLACE TRIGGER ledger_head_no_delete
    BEFORE DELETE ON ledger_head
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_mutation();
CREATE OR REPLACE TRIGGER ledger_head_no_truncate
    BEFORE TRUNCATE ON ledger_head
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();

ALTER TABLE ledger_entries ENABLE ALWAYS TRIGGER ledger_entries_no_update_delete;
ALTER TABLE ledger_entries ENABLE ALWAYS TRIGGER ledger_entries_no_truncate;
ALTER TABLE checkpoints ENABLE ALWAYS TRIGGER checkpoints_no_update_delete;
ALTER TABLE checkpoints ENABLE ALWAYS TRIGGER checkpoints_no_truncate;
ALTER TABLE signing_keys ENABLE ALWAYS TRIGGER signing_keys_no_update_delete;
ALTER TABLE signing_keys ENABLE ALWAYS TRIGGER signing_keys_no_truncate;
ALTER TABLE ledger_head ENABLE ALWAYS TRIGGER ledger_head_no_delete;
ALTER TABLE ledger_head ENABLE ALWAYS TRIGGER ledger_head_no_truncate;
-- Version 3: a token may carry an expiry (fixed when it is created), and revoking one is an
-- insert here plus its `token.revoked` entry; nothing about a token is ever updated.
-- Authentication refuses a revoked or expired token on the very next request.
ALTER TABLE tokens ADD COLUMN IF NOT EXISTS expires_at timestamptz;
CREATE TABLE IF NOT EXISTS token_revocations (
    token_id    text PRIMARY KEY REFERENCES tokens (id),
    revoked_at  timestamptz NOT NULL,
    seq         bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED
);
CREATE OR REPLACE TRIGGER token_revocations_no_update_delete
    BEFORE UPDATE OR DELETE ON token_revocations
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE token_revocations ENABLE ALWAYS TRIGGER token_revocations_no_update_delete;

INSERT INTO mlaudit_schema (version) VALUES (2) ON CONFLICT (version) DO NOTHING;
INSERT INTO mlaudit_schema (version) VALUES (3) ON CONFLICT (version) DO NOTHING;
INSERT INTO mlaudit_schema (version) VALUES (4) ON CONFLICT (version) DO NOTHING;
