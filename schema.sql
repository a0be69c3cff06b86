-- mlaudit schema, version 5. Applied idempotently by `mlaudit init` and at start-up, so every
-- statement must be safe to repeat. A database of an earlier version is upgraded by
-- app/storage/migrate.py: it drops the old projections, applies this file and rebuilds every
-- projection from the ledger (`mlaudit rebuild`'s replay).
--
-- The ledger is the only source of truth. ledger_entries holds the entries; every other table
-- is a function of them that `mlaudit verify` checks and `mlaudit rebuild` replays
-- (app/kinds/ declares each table and the reducer of every entry kind):
--   fact, revision and event tables: one row per thing an entry says, never changed;
--   current tables (experiments, runs, run_tags, model_versions, promotions, ...): kept by
--     the triggers of the generated section below from the revisions and events, and by
--     nothing else: the service's role may only read them.
-- Every insert-only table refuses UPDATE, DELETE and TRUNCATE (ENABLE ALWAYS triggers, so
-- session_replication_role = replica cannot skip them); every current table refuses them
-- outside its keeping trigger. The rows that confer authority (tokens, grants, revocations,
-- keys, models' protected targets, version pins, stages, aliases, promotions, decisions,
-- deployments, policies) are refused at commit unless the entry they name says the same.

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

-- Current tables change only inside the trigger that keeps them (nested in a revision's or
-- event's insert); a direct UPDATE or DELETE is refused.
CREATE OR REPLACE FUNCTION mlaudit_refuse_direct_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() < 2 THEN
        RAISE EXCEPTION 'mlaudit: % is kept from the ledger; a direct % is refused',
            TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
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
-- kind, actor and recorded_at are query copies of fields inside canonical, which verify holds
-- equal to it. Entries are inserted just before commit, so every foreign key to
-- ledger_entries is DEFERRABLE INITIALLY DEFERRED.
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

CREATE TABLE IF NOT EXISTS checkpoints (
    tree_size  bigint PRIMARY KEY CHECK (tree_size >= 0),
    root_hash  bytea NOT NULL CHECK (octet_length(root_hash) = 32),
    key_id     bigint NOT NULL,
    note       text NOT NULL,
    signed_at  timestamptz NOT NULL
);

-- Signing keys: one row per `key.activated` entry; the newest (highest seq) is active.
CREATE TABLE IF NOT EXISTS signing_keys (
    verifier_key  text PRIMARY KEY,
    name          text NOT NULL,
    key_id        bigint NOT NULL CHECK (key_id >= 0 AND key_id < 4294967296),
    public_key    bytea NOT NULL CHECK (octet_length(public_key) = 32),
    activated_at  timestamptz NOT NULL,
    seq           bigint NOT NULL UNIQUE REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED
);

-- API tokens (only SHA-256 hashes), their revocations, experiment grants and client keys.
CREATE TABLE IF NOT EXISTS tokens (
    id           text PRIMARY KEY,
    name         text NOT NULL UNIQUE,
    role         text NOT NULL CHECK (role IN ('admin', 'writer', 'approver', 'auditor')),
    token_hash   bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    created_at   timestamptz NOT NULL,
    created_seq  bigint NOT NULL UNIQUE REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    expires_at   timestamptz
);

-- People and service accounts. Separation of duties and quorums compare principals: a person
-- may hold writer and approver tokens and still not approve what they requested or built.
CREATE TABLE IF NOT EXISTS principals (
    id            text PRIMARY KEY,
    name          text NOT NULL UNIQUE,
    display_name  text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('person', 'service')),
    created_at    timestamptz NOT NULL,
    seq           bigint NOT NULL UNIQUE REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED
);

-- The principal each token belongs to, once and for good (token.created, or token.assigned
-- for a token made before principals existed).
CREATE TABLE IF NOT EXISTS token_principals (
    token_id      text PRIMARY KEY REFERENCES tokens (id),
    principal_id  text NOT NULL REFERENCES principals (id),
    seq           bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX IF NOT EXISTS token_principals_by_principal ON token_principals (principal_id);

-- The principal an actor `token:<name>[ principal:<name>]` acts for: its token's, by an entry
-- before `before` when given. NULL for other actors and for tokens not (yet) assigned one.
CREATE OR REPLACE FUNCTION mlaudit_principal_of(actor text, before bigint) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, public AS $$
    SELECT tp.principal_id FROM tokens t JOIN token_principals tp ON tp.token_id = t.id
    WHERE t.name = substring(actor FROM '^token:([^ ]+)') AND (before IS NULL OR tp.seq < before)
$$;

-- Stricter rules, each adopted once by a rules.adopted entry; guards enforce a rule on the
-- entries after its adoption (app/services/rules.py).
CREATE TABLE IF NOT EXISTS rules_adopted (
    rule  text PRIMARY KEY,
    seq   bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE IF NOT EXISTS token_revocations (
    token_id    text PRIMARY KEY REFERENCES tokens (id),
    revoked_at  timestamptz NOT NULL,
    seq         bigint NOT NULL UNIQUE REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED
);

-- Every grant and revocation of a grant (granted false); grants is kept from them.
CREATE TABLE IF NOT EXISTS grant_events (
    token_id       text NOT NULL REFERENCES tokens (id),
    experiment_id  text NOT NULL,
    granted        boolean NOT NULL,
    seq            bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (token_id, experiment_id, seq)
);

CREATE TABLE IF NOT EXISTS client_keys (
    key_id      text PRIMARY KEY,
    token_id    text NOT NULL REFERENCES tokens (id),
    public_key  bytea NOT NULL CHECK (octet_length(public_key) = 32),
    seq         bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED
);

-- Tracking. Experiment ids come from a sequence (they are names, not ledger positions).
CREATE SEQUENCE IF NOT EXISTS experiment_ids START 1;

CREATE TABLE IF NOT EXISTS experiment_revisions (
    id            text NOT NULL,
    name          text NOT NULL,
    description   text NOT NULL,
    tags          jsonb NOT NULL,
    lifecycle     text NOT NULL CHECK (lifecycle IN ('active', 'archived')),
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL,
    created_seq   bigint NOT NULL,
    archived_seq  bigint,
    updated_seq   bigint,
    updated_at    timestamptz,
    seq           bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (id, seq)
);

CREATE TABLE IF NOT EXISTS experiments (
    id            text PRIMARY KEY,
    name          text NOT NULL UNIQUE,
    description   text NOT NULL,
    tags          jsonb NOT NULL,
    lifecycle     text NOT NULL CHECK (lifecycle IN ('active', 'archived')),
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL,
    created_seq   bigint NOT NULL,
    archived_seq  bigint,
    updated_seq   bigint,
    updated_at    timestamptz,
    seq           bigint NOT NULL
);

-- The experiments each token is scoped to, kept from grant_events.
CREATE TABLE IF NOT EXISTS grants (
    token_id       text NOT NULL REFERENCES tokens (id),
    experiment_id  text NOT NULL REFERENCES experiments (id),
    seq            bigint NOT NULL,
    PRIMARY KEY (token_id, experiment_id)
);

CREATE TABLE IF NOT EXISTS run_revisions (
    id               text NOT NULL,
    experiment_id    text NOT NULL,
    name             text NOT NULL,
    status           text NOT NULL CHECK (status IN ('RUNNING', 'FINISHED', 'FAILED', 'KILLED')),
    source           jsonb NOT NULL,
    parent_run_id    text,
    start_time       bigint NOT NULL,
    end_time         bigint,
    created_by       text NOT NULL,
    user_id          text,
    created_seq      bigint NOT NULL,
    ended_seq        bigint,
    manifest_sha256  text,
    lifecycle        text NOT NULL CHECK (lifecycle IN ('active', 'deleted')),
    lifecycle_seq    bigint,
    renamed_seq      bigint,
    reopened_seq     bigint,
    seq              bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (id, seq)
);

CREATE TABLE IF NOT EXISTS runs (
    id               text PRIMARY KEY,
    experiment_id    text NOT NULL REFERENCES experiments (id),
    name             text NOT NULL,
    status           text NOT NULL CHECK (status IN ('RUNNING', 'FINISHED', 'FAILED', 'KILLED')),
    source           jsonb NOT NULL,
    parent_run_id    text,  -- no foreign key: MLflow's parent tag may name no recorded run
    start_time       bigint NOT NULL,
    end_time         bigint,
    created_by       text NOT NULL,
    user_id          text,
    created_seq      bigint NOT NULL,
    ended_seq        bigint,
    manifest_sha256  text,
    lifecycle        text NOT NULL CHECK (lifecycle IN ('active', 'deleted')),
    lifecycle_seq    bigint,
    renamed_seq      bigint,
    reopened_seq     bigint,
    seq              bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_experiment ON runs (experiment_id, start_time DESC, id);

-- Where a run ran (one environment.recorded entry per run).
CREATE TABLE IF NOT EXISTS run_environments (
    run_id       text PRIMARY KEY REFERENCES runs (id),
    environment  jsonb NOT NULL,
    seq          bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE IF NOT EXISTS params (
    run_id  text NOT NULL REFERENCES runs (id),
    key     text NOT NULL,
    value   text NOT NULL,
    seq     bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (run_id, key)
);

-- Every logged metric value (the history). group_key is '' for an overall value, else the
-- canonical JSON of the group object; value is the decimal string that was hashed. No foreign
-- keys: a 1000-metric batch paid 2000 row-by-row checks for them (about a third of its server
-- time); writes check the run under the head lock, and verify checks every row against the
-- metrics.logged entry that made it, which is stronger than either key.
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
-- Latest value first per (run, key, group): the order every "latest metric" read uses, so
-- the search's LIMIT 1 subqueries and the skip scans walk the index instead of sorting.
CREATE INDEX IF NOT EXISTS metrics_latest ON metrics
    (run_id, key, group_key, step DESC, timestamp DESC, seq DESC, position DESC);

-- Every tag change, oldest first (value NULL for a deletion); run_tags is kept from them.
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
    seq     bigint NOT NULL,
    PRIMARY KEY (run_id, key)
);

-- Artifacts: content-addressed bytes (stored once per digest) recorded per run path, or
-- external, registered by URI. The service's signed DSSE digest statement (envelope) is named
-- by the entry's envelope_sha256 and kept, content-addressed, in artifact_envelopes. Other
-- bytes at a recorded path are its next revision: every revision is kept (and its bytes), and
-- artifacts holds the latest of each path.
CREATE TABLE IF NOT EXISTS artifact_revisions (
    run_id            text NOT NULL REFERENCES runs (id),
    path              text NOT NULL,
    sha256            text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size              bigint NOT NULL CHECK (size >= 0),
    uri               text,
    envelope_sha256   text NOT NULL CHECK (envelope_sha256 ~ '^[0-9a-f]{64}$'),
    client_signature  jsonb,
    revision          integer NOT NULL CHECK (revision >= 1),
    seq               bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (run_id, path, seq),
    UNIQUE (run_id, path, revision)
);
-- Which blobs a revision still names (a blob is deleted only when none does).
CREATE INDEX IF NOT EXISTS artifact_revisions_digest ON artifact_revisions (sha256);

CREATE TABLE IF NOT EXISTS artifacts (
    run_id            text NOT NULL REFERENCES runs (id),
    path              text NOT NULL,
    sha256            text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size              bigint NOT NULL CHECK (size >= 0),
    uri               text,
    envelope_sha256   text NOT NULL CHECK (envelope_sha256 ~ '^[0-9a-f]{64}$'),
    client_signature  jsonb,
    revision          integer NOT NULL CHECK (revision >= 1),
    seq               bigint NOT NULL,
    PRIMARY KEY (run_id, path)
);

CREATE TABLE IF NOT EXISTS artifact_envelopes (
    sha256    text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    envelope  jsonb NOT NULL
);

-- Datasets a run used (inputs), with digest, schema and per-group counts; a dataset logged
-- again keeps its first row.
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

-- What an MLflow client sent with a dataset input, kept verbatim beside the run_inputs row.
CREATE TABLE IF NOT EXISTS run_input_mlflow (
    run_id   text NOT NULL REFERENCES runs (id),
    name     text NOT NULL,
    digest   text NOT NULL,
    context  text NOT NULL,
    mlflow   jsonb NOT NULL,
    seq      bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (run_id, name, digest, context)
);

-- MLflow 3 logged models. Their files are artifacts of the source run at the run path
-- models/<model_id>/...; timestamps (ms) are the recorded_at of the entries that set them.
CREATE TABLE IF NOT EXISTS logged_model_revisions (
    model_id                text NOT NULL CHECK (model_id ~ '^m-[0-9a-f]{32}$'),
    experiment_id           text NOT NULL,
    name                    text NOT NULL,
    source_run_id           text,
    model_type              text,
    status                  text NOT NULL CHECK (status IN ('LOGGED_MODEL_PENDING',
                                'LOGGED_MODEL_READY', 'LOGGED_MODEL_UPLOAD_FAILED')),
    lifecycle               text NOT NULL CHECK (lifecycle IN ('active', 'deleted')),
    created_by              text NOT NULL,
    creation_timestamp      bigint NOT NULL,
    last_updated_timestamp  bigint NOT NULL,
    created_seq             bigint NOT NULL,
    updated_seq             bigint NOT NULL,
    seq                     bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (model_id, seq)
);

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
    created_seq             bigint NOT NULL,
    updated_seq             bigint NOT NULL,
    seq                     bigint NOT NULL
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

CREATE TABLE IF NOT EXISTS logged_model_tag_events (
    model_id  text NOT NULL REFERENCES logged_models (model_id),
    key       text NOT NULL,
    value     text,
    seq       bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (model_id, key, seq)
);

CREATE TABLE IF NOT EXISTS logged_model_tags (
    model_id  text NOT NULL REFERENCES logged_models (model_id),
    key       text NOT NULL,
    value     text NOT NULL,
    seq       bigint NOT NULL,
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

-- Model registry: registered models, versions pinned to their evidence, stages and aliases,
-- policies, promotions with decisions, and deployments.
CREATE TABLE IF NOT EXISTS registered_model_revisions (
    name                  text NOT NULL,
    description           text NOT NULL,
    owner                 text NOT NULL,
    tags                  jsonb NOT NULL,
    sensitive_attributes  jsonb NOT NULL,
    protected_targets     jsonb NOT NULL,
    quorum                integer NOT NULL CHECK (quorum BETWEEN 1 AND 10),
    created_by            text NOT NULL,
    created_seq           bigint NOT NULL,
    updated_seq           bigint,
    seq                   bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (name, seq)
);

CREATE TABLE IF NOT EXISTS registered_models (
    name                  text PRIMARY KEY,
    description           text NOT NULL,
    owner                 text NOT NULL,
    tags                  jsonb NOT NULL,
    sensitive_attributes  jsonb NOT NULL,
    protected_targets     jsonb NOT NULL,
    quorum                integer NOT NULL CHECK (quorum BETWEEN 1 AND 10),
    created_by            text NOT NULL,
    created_seq           bigint NOT NULL,
    updated_seq           bigint,
    seq                   bigint NOT NULL
);

CREATE TABLE IF NOT EXISTS model_version_revisions (
    model_name       text NOT NULL,
    version          integer NOT NULL CHECK (version >= 1),
    run_id           text,
    artifact_path    text NOT NULL,
    evidence         jsonb NOT NULL,
    version_digest   text NOT NULL CHECK (version_digest ~ '^[0-9a-f]{64}$'),
    stage            text NOT NULL CHECK (stage IN ('None', 'Staging', 'Production', 'Archived')),
    created_by       text NOT NULL,
    created_seq      bigint NOT NULL,
    stage_seq        bigint,
    description      text NOT NULL,
    source           text,
    logged_model_id  text,
    updated_seq      bigint,
    seq              bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (model_name, version, seq)
);

CREATE TABLE IF NOT EXISTS model_versions (
    model_name       text NOT NULL REFERENCES registered_models (name),
    version          integer NOT NULL CHECK (version >= 1),
    run_id           text REFERENCES runs (id),
    artifact_path    text NOT NULL,
    evidence         jsonb NOT NULL,
    version_digest   text NOT NULL CHECK (version_digest ~ '^[0-9a-f]{64}$'),
    stage            text NOT NULL CHECK (stage IN ('None', 'Staging', 'Production', 'Archived')),
    created_by       text NOT NULL,
    created_seq      bigint NOT NULL,
    stage_seq        bigint,
    description      text NOT NULL,
    source           text,
    logged_model_id  text,
    updated_seq      bigint,
    seq              bigint NOT NULL,
    PRIMARY KEY (model_name, version)
);
-- Uploads look up the versions that seal their run's paths; the mlflow-artifacts proxy finds a
-- version by its digest (a version root): both on every such request.
-- run_id is null while a version is unpinned (registered from a source we do not hold, issue
-- 19); databases made before it get the columns relaxed here.
ALTER TABLE model_version_revisions ALTER COLUMN run_id DROP NOT NULL;
ALTER TABLE model_versions ALTER COLUMN run_id DROP NOT NULL;
CREATE INDEX IF NOT EXISTS model_versions_by_run ON model_versions (run_id);
CREATE INDEX IF NOT EXISTS model_versions_by_digest ON model_versions (version_digest);

CREATE TABLE IF NOT EXISTS model_version_tag_events (
    model_name  text NOT NULL,
    version     integer NOT NULL,
    key         text NOT NULL,
    value       text,
    seq         bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (model_name, version, key, seq),
    FOREIGN KEY (model_name, version) REFERENCES model_versions (model_name, version)
);

CREATE TABLE IF NOT EXISTS model_version_tags (
    model_name  text NOT NULL,
    version     integer NOT NULL,
    key         text NOT NULL,
    value       text NOT NULL,
    seq         bigint NOT NULL,
    PRIMARY KEY (model_name, version, key),
    FOREIGN KEY (model_name, version) REFERENCES model_versions (model_name, version)
);

-- Every move or removal of an alias (version NULL); model_aliases is kept from them.
CREATE TABLE IF NOT EXISTS alias_events (
    model_name    text NOT NULL REFERENCES registered_models (name),
    alias         text NOT NULL,
    version       integer,
    promotion_id  text,
    seq           bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (model_name, alias, seq),
    FOREIGN KEY (model_name, version) REFERENCES model_versions (model_name, version)
);

CREATE TABLE IF NOT EXISTS model_aliases (
    model_name  text NOT NULL REFERENCES registered_models (name),
    alias       text NOT NULL,
    version     integer NOT NULL,
    seq         bigint NOT NULL,
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

CREATE TABLE IF NOT EXISTS promotion_revisions (
    id              text NOT NULL,
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
    created_seq     bigint NOT NULL,
    closed_seq      bigint,
    seq             bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (id, seq)
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
    created_seq     bigint NOT NULL,
    closed_seq      bigint,
    seq             bigint NOT NULL,
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
    principal_id    text REFERENCES principals (id),
    PRIMARY KEY (promotion_id, seq)
);

CREATE TABLE IF NOT EXISTS deployments (
    id             text PRIMARY KEY,
    model_name     text NOT NULL,
    version        integer NOT NULL,
    environment    text NOT NULL,
    deployer       text NOT NULL,
    target         jsonb NOT NULL,
    promotion_id   text REFERENCES promotions (id),
    rollback_of    text REFERENCES deployments (id),
    reason         text,
    deployed_at    timestamptz NOT NULL,
    seq            bigint NOT NULL UNIQUE REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    FOREIGN KEY (model_name, version) REFERENCES model_versions (model_name, version)
);
CREATE INDEX IF NOT EXISTS deployments_history ON deployments (model_name, environment, seq);

-- Environments are declared objects: a deployment names a declared environment, and one to a
-- protected environment needs an approved promotion (as the environment was at the
-- deployment's seq). adopted: declared by the upgrade for an environment that deployments
-- recorded before environments were declared already used (their history stays as it was).
CREATE TABLE IF NOT EXISTS environment_revisions (
    name          text NOT NULL,
    protected     boolean NOT NULL,
    adopted       boolean NOT NULL,
    declared_by   text NOT NULL,
    declared_seq  bigint NOT NULL,
    seq           bigint NOT NULL REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (name, seq)
);

CREATE TABLE IF NOT EXISTS environments (
    name          text PRIMARY KEY,
    protected     boolean NOT NULL,
    adopted       boolean NOT NULL,
    declared_by   text NOT NULL,
    declared_seq  bigint NOT NULL,
    seq           bigint NOT NULL
);

-- Issued PDF reports (each a `report.issued` entry), looked up by the PDF's SHA-256.
CREATE TABLE IF NOT EXISTS reports_issued (
    report_id      text PRIMARY KEY,
    kind           text NOT NULL,
    subject        text NOT NULL,
    bundle_sha256  text NOT NULL,
    pdf_sha256     text NOT NULL UNIQUE,
    tree_size      bigint NOT NULL,
    issued_to      text NOT NULL,
    seq            bigint NOT NULL UNIQUE REFERENCES ledger_entries (seq) DEFERRABLE INITIALLY DEFERRED,
    issued_at      timestamptz NOT NULL
);

-- The ledger's own tables never change; the head row may move forward but never disappear.
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
ALTER TABLE ledger_head ENABLE ALWAYS TRIGGER ledger_head_no_delete;
ALTER TABLE ledger_head ENABLE ALWAYS TRIGGER ledger_head_no_truncate;

-- ---- issue 16, client signatures: the replay cache ------------------------------------------
-- The digests of client request signatures accepted lately, so that a signed request is
-- carried out once: a second request with the same signature is refused, whichever replica
-- it reaches (the primary key decides; a row is inserted in the same transaction as the
-- request's entries, so a request that wrote nothing did not spend its signature).
-- OUTSIDE the projection set, on purpose: it states no fact and confers no authority (every
-- accepted signature is in its entries' body.client_signature already); it is a cache of the
-- last few minutes that forgets rows once their timestamp is out of the replay window
-- (expires_at = the signature's timestamp + twice the window, judged by the database's
-- clock), so verify does not hold it to the ledger and rebuild leaves it alone.
-- app/kinds/tables.py CACHE_TABLES names it; the service may INSERT, SELECT and DELETE it.
CREATE TABLE IF NOT EXISTS request_signatures_seen (
    sig_sha256  bytea PRIMARY KEY CHECK (octet_length(sig_sha256) = 32),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS request_signatures_seen_expiry
    ON request_signatures_seen (expires_at);

-- BEGIN GENERATED by app/storage/schema_gen.py from app/kinds (a test holds them equal)
CREATE OR REPLACE TRIGGER signing_keys_no_update_delete BEFORE UPDATE OR DELETE ON signing_keys
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE signing_keys ENABLE ALWAYS TRIGGER signing_keys_no_update_delete;
CREATE OR REPLACE TRIGGER signing_keys_no_truncate BEFORE TRUNCATE ON signing_keys
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE signing_keys ENABLE ALWAYS TRIGGER signing_keys_no_truncate;

CREATE OR REPLACE TRIGGER tokens_no_update_delete BEFORE UPDATE OR DELETE ON tokens
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE tokens ENABLE ALWAYS TRIGGER tokens_no_update_delete;
CREATE OR REPLACE TRIGGER tokens_no_truncate BEFORE TRUNCATE ON tokens
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE tokens ENABLE ALWAYS TRIGGER tokens_no_truncate;

CREATE INDEX IF NOT EXISTS principals_by_seq ON principals (seq);
CREATE OR REPLACE TRIGGER principals_no_update_delete BEFORE UPDATE OR DELETE ON principals
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE principals ENABLE ALWAYS TRIGGER principals_no_update_delete;
CREATE OR REPLACE TRIGGER principals_no_truncate BEFORE TRUNCATE ON principals
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE principals ENABLE ALWAYS TRIGGER principals_no_truncate;

CREATE INDEX IF NOT EXISTS token_principals_by_seq ON token_principals (seq);
CREATE OR REPLACE TRIGGER token_principals_no_update_delete BEFORE UPDATE OR DELETE ON token_principals
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE token_principals ENABLE ALWAYS TRIGGER token_principals_no_update_delete;
CREATE OR REPLACE TRIGGER token_principals_no_truncate BEFORE TRUNCATE ON token_principals
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE token_principals ENABLE ALWAYS TRIGGER token_principals_no_truncate;

CREATE OR REPLACE TRIGGER token_revocations_no_update_delete BEFORE UPDATE OR DELETE ON token_revocations
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE token_revocations ENABLE ALWAYS TRIGGER token_revocations_no_update_delete;
CREATE OR REPLACE TRIGGER token_revocations_no_truncate BEFORE TRUNCATE ON token_revocations
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE token_revocations ENABLE ALWAYS TRIGGER token_revocations_no_truncate;

CREATE INDEX IF NOT EXISTS client_keys_by_seq ON client_keys (seq);
CREATE OR REPLACE TRIGGER client_keys_no_update_delete BEFORE UPDATE OR DELETE ON client_keys
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE client_keys ENABLE ALWAYS TRIGGER client_keys_no_update_delete;
CREATE OR REPLACE TRIGGER client_keys_no_truncate BEFORE TRUNCATE ON client_keys
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE client_keys ENABLE ALWAYS TRIGGER client_keys_no_truncate;

CREATE INDEX IF NOT EXISTS rules_adopted_by_seq ON rules_adopted (seq);
CREATE OR REPLACE TRIGGER rules_adopted_no_update_delete BEFORE UPDATE OR DELETE ON rules_adopted
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE rules_adopted ENABLE ALWAYS TRIGGER rules_adopted_no_update_delete;
CREATE OR REPLACE TRIGGER rules_adopted_no_truncate BEFORE TRUNCATE ON rules_adopted
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE rules_adopted ENABLE ALWAYS TRIGGER rules_adopted_no_truncate;

CREATE INDEX IF NOT EXISTS experiment_revisions_by_seq ON experiment_revisions (seq);
CREATE OR REPLACE TRIGGER experiment_revisions_no_update_delete BEFORE UPDATE OR DELETE ON experiment_revisions
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE experiment_revisions ENABLE ALWAYS TRIGGER experiment_revisions_no_update_delete;
CREATE OR REPLACE TRIGGER experiment_revisions_no_truncate BEFORE TRUNCATE ON experiment_revisions
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE experiment_revisions ENABLE ALWAYS TRIGGER experiment_revisions_no_truncate;

CREATE INDEX IF NOT EXISTS grant_events_by_seq ON grant_events (seq);
CREATE OR REPLACE TRIGGER grant_events_no_update_delete BEFORE UPDATE OR DELETE ON grant_events
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE grant_events ENABLE ALWAYS TRIGGER grant_events_no_update_delete;
CREATE OR REPLACE TRIGGER grant_events_no_truncate BEFORE TRUNCATE ON grant_events
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE grant_events ENABLE ALWAYS TRIGGER grant_events_no_truncate;

CREATE INDEX IF NOT EXISTS run_revisions_by_seq ON run_revisions (seq);
CREATE OR REPLACE TRIGGER run_revisions_no_update_delete BEFORE UPDATE OR DELETE ON run_revisions
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE run_revisions ENABLE ALWAYS TRIGGER run_revisions_no_update_delete;
CREATE OR REPLACE TRIGGER run_revisions_no_truncate BEFORE TRUNCATE ON run_revisions
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE run_revisions ENABLE ALWAYS TRIGGER run_revisions_no_truncate;

CREATE INDEX IF NOT EXISTS run_environments_by_seq ON run_environments (seq);
CREATE OR REPLACE TRIGGER run_environments_no_update_delete BEFORE UPDATE OR DELETE ON run_environments
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE run_environments ENABLE ALWAYS TRIGGER run_environments_no_update_delete;
CREATE OR REPLACE TRIGGER run_environments_no_truncate BEFORE TRUNCATE ON run_environments
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE run_environments ENABLE ALWAYS TRIGGER run_environments_no_truncate;

CREATE INDEX IF NOT EXISTS params_by_seq ON params (seq);
CREATE OR REPLACE TRIGGER params_no_update_delete BEFORE UPDATE OR DELETE ON params
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE params ENABLE ALWAYS TRIGGER params_no_update_delete;
CREATE OR REPLACE TRIGGER params_no_truncate BEFORE TRUNCATE ON params
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE params ENABLE ALWAYS TRIGGER params_no_truncate;

CREATE OR REPLACE TRIGGER metrics_no_update_delete BEFORE UPDATE OR DELETE ON metrics
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE metrics ENABLE ALWAYS TRIGGER metrics_no_update_delete;
CREATE OR REPLACE TRIGGER metrics_no_truncate BEFORE TRUNCATE ON metrics
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE metrics ENABLE ALWAYS TRIGGER metrics_no_truncate;

CREATE INDEX IF NOT EXISTS tag_events_by_seq ON tag_events (seq);
CREATE OR REPLACE TRIGGER tag_events_no_update_delete BEFORE UPDATE OR DELETE ON tag_events
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE tag_events ENABLE ALWAYS TRIGGER tag_events_no_update_delete;
CREATE OR REPLACE TRIGGER tag_events_no_truncate BEFORE TRUNCATE ON tag_events
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE tag_events ENABLE ALWAYS TRIGGER tag_events_no_truncate;

CREATE INDEX IF NOT EXISTS artifact_revisions_by_seq ON artifact_revisions (seq);
CREATE OR REPLACE TRIGGER artifact_revisions_no_update_delete BEFORE UPDATE OR DELETE ON artifact_revisions
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE artifact_revisions ENABLE ALWAYS TRIGGER artifact_revisions_no_update_delete;
CREATE OR REPLACE TRIGGER artifact_revisions_no_truncate BEFORE TRUNCATE ON artifact_revisions
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE artifact_revisions ENABLE ALWAYS TRIGGER artifact_revisions_no_truncate;

CREATE OR REPLACE TRIGGER artifact_envelopes_no_update_delete BEFORE UPDATE OR DELETE ON artifact_envelopes
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE artifact_envelopes ENABLE ALWAYS TRIGGER artifact_envelopes_no_update_delete;
CREATE OR REPLACE TRIGGER artifact_envelopes_no_truncate BEFORE TRUNCATE ON artifact_envelopes
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE artifact_envelopes ENABLE ALWAYS TRIGGER artifact_envelopes_no_truncate;

CREATE INDEX IF NOT EXISTS run_inputs_by_seq ON run_inputs (seq);
CREATE OR REPLACE TRIGGER run_inputs_no_update_delete BEFORE UPDATE OR DELETE ON run_inputs
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE run_inputs ENABLE ALWAYS TRIGGER run_inputs_no_update_delete;
CREATE OR REPLACE TRIGGER run_inputs_no_truncate BEFORE TRUNCATE ON run_inputs
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE run_inputs ENABLE ALWAYS TRIGGER run_inputs_no_truncate;

CREATE INDEX IF NOT EXISTS run_input_mlflow_by_seq ON run_input_mlflow (seq);
CREATE OR REPLACE TRIGGER run_input_mlflow_no_update_delete BEFORE UPDATE OR DELETE ON run_input_mlflow
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE run_input_mlflow ENABLE ALWAYS TRIGGER run_input_mlflow_no_update_delete;
CREATE OR REPLACE TRIGGER run_input_mlflow_no_truncate BEFORE TRUNCATE ON run_input_mlflow
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE run_input_mlflow ENABLE ALWAYS TRIGGER run_input_mlflow_no_truncate;

CREATE INDEX IF NOT EXISTS logged_model_revisions_by_seq ON logged_model_revisions (seq);
CREATE OR REPLACE TRIGGER logged_model_revisions_no_update_delete BEFORE UPDATE OR DELETE ON logged_model_revisions
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE logged_model_revisions ENABLE ALWAYS TRIGGER logged_model_revisions_no_update_delete;
CREATE OR REPLACE TRIGGER logged_model_revisions_no_truncate BEFORE TRUNCATE ON logged_model_revisions
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE logged_model_revisions ENABLE ALWAYS TRIGGER logged_model_revisions_no_truncate;

CREATE INDEX IF NOT EXISTS logged_model_params_by_seq ON logged_model_params (seq);
CREATE OR REPLACE TRIGGER logged_model_params_no_update_delete BEFORE UPDATE OR DELETE ON logged_model_params
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE logged_model_params ENABLE ALWAYS TRIGGER logged_model_params_no_update_delete;
CREATE OR REPLACE TRIGGER logged_model_params_no_truncate BEFORE TRUNCATE ON logged_model_params
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE logged_model_params ENABLE ALWAYS TRIGGER logged_model_params_no_truncate;

CREATE INDEX IF NOT EXISTS logged_model_tag_events_by_seq ON logged_model_tag_events (seq);
CREATE OR REPLACE TRIGGER logged_model_tag_events_no_update_delete BEFORE UPDATE OR DELETE ON logged_model_tag_events
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE logged_model_tag_events ENABLE ALWAYS TRIGGER logged_model_tag_events_no_update_delete;
CREATE OR REPLACE TRIGGER logged_model_tag_events_no_truncate BEFORE TRUNCATE ON logged_model_tag_events
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE logged_model_tag_events ENABLE ALWAYS TRIGGER logged_model_tag_events_no_truncate;

CREATE INDEX IF NOT EXISTS run_outputs_by_seq ON run_outputs (seq);
CREATE OR REPLACE TRIGGER run_outputs_no_update_delete BEFORE UPDATE OR DELETE ON run_outputs
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE run_outputs ENABLE ALWAYS TRIGGER run_outputs_no_update_delete;
CREATE OR REPLACE TRIGGER run_outputs_no_truncate BEFORE TRUNCATE ON run_outputs
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE run_outputs ENABLE ALWAYS TRIGGER run_outputs_no_truncate;

CREATE INDEX IF NOT EXISTS registered_model_revisions_by_seq ON registered_model_revisions (seq);
CREATE OR REPLACE TRIGGER registered_model_revisions_no_update_delete BEFORE UPDATE OR DELETE ON registered_model_revisions
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE registered_model_revisions ENABLE ALWAYS TRIGGER registered_model_revisions_no_update_delete;
CREATE OR REPLACE TRIGGER registered_model_revisions_no_truncate BEFORE TRUNCATE ON registered_model_revisions
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE registered_model_revisions ENABLE ALWAYS TRIGGER registered_model_revisions_no_truncate;

CREATE INDEX IF NOT EXISTS model_version_revisions_by_seq ON model_version_revisions (seq);
CREATE OR REPLACE TRIGGER model_version_revisions_no_update_delete BEFORE UPDATE OR DELETE ON model_version_revisions
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE model_version_revisions ENABLE ALWAYS TRIGGER model_version_revisions_no_update_delete;
CREATE OR REPLACE TRIGGER model_version_revisions_no_truncate BEFORE TRUNCATE ON model_version_revisions
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE model_version_revisions ENABLE ALWAYS TRIGGER model_version_revisions_no_truncate;

CREATE INDEX IF NOT EXISTS model_version_tag_events_by_seq ON model_version_tag_events (seq);
CREATE OR REPLACE TRIGGER model_version_tag_events_no_update_delete BEFORE UPDATE OR DELETE ON model_version_tag_events
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE model_version_tag_events ENABLE ALWAYS TRIGGER model_version_tag_events_no_update_delete;
CREATE OR REPLACE TRIGGER model_version_tag_events_no_truncate BEFORE TRUNCATE ON model_version_tag_events
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE model_version_tag_events ENABLE ALWAYS TRIGGER model_version_tag_events_no_truncate;

CREATE INDEX IF NOT EXISTS alias_events_by_seq ON alias_events (seq);
CREATE OR REPLACE TRIGGER alias_events_no_update_delete BEFORE UPDATE OR DELETE ON alias_events
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE alias_events ENABLE ALWAYS TRIGGER alias_events_no_update_delete;
CREATE OR REPLACE TRIGGER alias_events_no_truncate BEFORE TRUNCATE ON alias_events
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE alias_events ENABLE ALWAYS TRIGGER alias_events_no_truncate;

CREATE INDEX IF NOT EXISTS model_policies_by_seq ON model_policies (seq);
CREATE OR REPLACE TRIGGER model_policies_no_update_delete BEFORE UPDATE OR DELETE ON model_policies
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE model_policies ENABLE ALWAYS TRIGGER model_policies_no_update_delete;
CREATE OR REPLACE TRIGGER model_policies_no_truncate BEFORE TRUNCATE ON model_policies
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE model_policies ENABLE ALWAYS TRIGGER model_policies_no_truncate;

CREATE INDEX IF NOT EXISTS promotion_revisions_by_seq ON promotion_revisions (seq);
CREATE OR REPLACE TRIGGER promotion_revisions_no_update_delete BEFORE UPDATE OR DELETE ON promotion_revisions
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE promotion_revisions ENABLE ALWAYS TRIGGER promotion_revisions_no_update_delete;
CREATE OR REPLACE TRIGGER promotion_revisions_no_truncate BEFORE TRUNCATE ON promotion_revisions
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE promotion_revisions ENABLE ALWAYS TRIGGER promotion_revisions_no_truncate;

CREATE INDEX IF NOT EXISTS decisions_by_seq ON decisions (seq);
CREATE OR REPLACE TRIGGER decisions_no_update_delete BEFORE UPDATE OR DELETE ON decisions
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE decisions ENABLE ALWAYS TRIGGER decisions_no_update_delete;
CREATE OR REPLACE TRIGGER decisions_no_truncate BEFORE TRUNCATE ON decisions
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE decisions ENABLE ALWAYS TRIGGER decisions_no_truncate;

CREATE INDEX IF NOT EXISTS environment_revisions_by_seq ON environment_revisions (seq);
CREATE OR REPLACE TRIGGER environment_revisions_no_update_delete BEFORE UPDATE OR DELETE ON environment_revisions
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE environment_revisions ENABLE ALWAYS TRIGGER environment_revisions_no_update_delete;
CREATE OR REPLACE TRIGGER environment_revisions_no_truncate BEFORE TRUNCATE ON environment_revisions
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE environment_revisions ENABLE ALWAYS TRIGGER environment_revisions_no_truncate;

CREATE OR REPLACE TRIGGER deployments_no_update_delete BEFORE UPDATE OR DELETE ON deployments
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE deployments ENABLE ALWAYS TRIGGER deployments_no_update_delete;
CREATE OR REPLACE TRIGGER deployments_no_truncate BEFORE TRUNCATE ON deployments
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE deployments ENABLE ALWAYS TRIGGER deployments_no_truncate;

CREATE OR REPLACE TRIGGER reports_issued_no_update_delete BEFORE UPDATE OR DELETE ON reports_issued
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE reports_issued ENABLE ALWAYS TRIGGER reports_issued_no_update_delete;
CREATE OR REPLACE TRIGGER reports_issued_no_truncate BEFORE TRUNCATE ON reports_issued
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE reports_issued ENABLE ALWAYS TRIGGER reports_issued_no_truncate;

CREATE OR REPLACE FUNCTION mlaudit_keep_experiments() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    INSERT INTO experiments AS t (id, name, description, tags, lifecycle, created_by, created_at, created_seq, archived_seq, updated_seq, updated_at, seq)
        VALUES (NEW.id, NEW.name, NEW.description, NEW.tags, NEW.lifecycle, NEW.created_by, NEW.created_at, NEW.created_seq, NEW.archived_seq, NEW.updated_seq, NEW.updated_at, NEW.seq)
        ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, description = EXCLUDED.description, tags = EXCLUDED.tags, lifecycle = EXCLUDED.lifecycle, created_by = EXCLUDED.created_by, created_at = EXCLUDED.created_at, created_seq = EXCLUDED.created_seq, archived_seq = EXCLUDED.archived_seq, updated_seq = EXCLUDED.updated_seq, updated_at = EXCLUDED.updated_at, seq = EXCLUDED.seq
        WHERE t.seq < EXCLUDED.seq;
    RETURN NULL;
END
$$;
CREATE OR REPLACE TRIGGER experiment_revisions_keep AFTER INSERT ON experiment_revisions
    FOR EACH ROW EXECUTE FUNCTION mlaudit_keep_experiments();
ALTER TABLE experiment_revisions ENABLE ALWAYS TRIGGER experiment_revisions_keep;
CREATE OR REPLACE TRIGGER experiments_kept
    BEFORE INSERT OR UPDATE OR DELETE ON experiments
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_direct_change();
ALTER TABLE experiments ENABLE ALWAYS TRIGGER experiments_kept;
CREATE OR REPLACE TRIGGER experiments_no_truncate BEFORE TRUNCATE ON experiments
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE experiments ENABLE ALWAYS TRIGGER experiments_no_truncate;

CREATE OR REPLACE FUNCTION mlaudit_keep_grants() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    IF NOT NEW.granted THEN
        DELETE FROM grants WHERE token_id = NEW.token_id AND experiment_id = NEW.experiment_id AND seq < NEW.seq;
    ELSE
        INSERT INTO grants AS t (token_id, experiment_id, seq)
        VALUES (NEW.token_id, NEW.experiment_id, NEW.seq)
        ON CONFLICT (token_id, experiment_id) DO UPDATE SET seq = EXCLUDED.seq
        WHERE t.seq < EXCLUDED.seq;
    END IF;
    RETURN NULL;
END
$$;
CREATE OR REPLACE TRIGGER grant_events_keep AFTER INSERT ON grant_events
    FOR EACH ROW EXECUTE FUNCTION mlaudit_keep_grants();
ALTER TABLE grant_events ENABLE ALWAYS TRIGGER grant_events_keep;
CREATE OR REPLACE TRIGGER grants_kept
    BEFORE INSERT OR UPDATE OR DELETE ON grants
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_direct_change();
ALTER TABLE grants ENABLE ALWAYS TRIGGER grants_kept;
CREATE OR REPLACE TRIGGER grants_no_truncate BEFORE TRUNCATE ON grants
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE grants ENABLE ALWAYS TRIGGER grants_no_truncate;

CREATE OR REPLACE FUNCTION mlaudit_keep_runs() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    INSERT INTO runs AS t (id, experiment_id, name, status, source, parent_run_id, start_time, end_time, created_by, user_id, created_seq, ended_seq, manifest_sha256, lifecycle, lifecycle_seq, renamed_seq, reopened_seq, seq)
        VALUES (NEW.id, NEW.experiment_id, NEW.name, NEW.status, NEW.source, NEW.parent_run_id, NEW.start_time, NEW.end_time, NEW.created_by, NEW.user_id, NEW.created_seq, NEW.ended_seq, NEW.manifest_sha256, NEW.lifecycle, NEW.lifecycle_seq, NEW.renamed_seq, NEW.reopened_seq, NEW.seq)
        ON CONFLICT (id) DO UPDATE SET experiment_id = EXCLUDED.experiment_id, name = EXCLUDED.name, status = EXCLUDED.status, source = EXCLUDED.source, parent_run_id = EXCLUDED.parent_run_id, start_time = EXCLUDED.start_time, end_time = EXCLUDED.end_time, created_by = EXCLUDED.created_by, user_id = EXCLUDED.user_id, created_seq = EXCLUDED.created_seq, ended_seq = EXCLUDED.ended_seq, manifest_sha256 = EXCLUDED.manifest_sha256, lifecycle = EXCLUDED.lifecycle, lifecycle_seq = EXCLUDED.lifecycle_seq, renamed_seq = EXCLUDED.renamed_seq, reopened_seq = EXCLUDED.reopened_seq, seq = EXCLUDED.seq
        WHERE t.seq < EXCLUDED.seq;
    RETURN NULL;
END
$$;
CREATE OR REPLACE TRIGGER run_revisions_keep AFTER INSERT ON run_revisions
    FOR EACH ROW EXECUTE FUNCTION mlaudit_keep_runs();
ALTER TABLE run_revisions ENABLE ALWAYS TRIGGER run_revisions_keep;
CREATE OR REPLACE TRIGGER runs_kept
    BEFORE INSERT OR UPDATE OR DELETE ON runs
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_direct_change();
ALTER TABLE runs ENABLE ALWAYS TRIGGER runs_kept;
CREATE OR REPLACE TRIGGER runs_no_truncate BEFORE TRUNCATE ON runs
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE runs ENABLE ALWAYS TRIGGER runs_no_truncate;

CREATE OR REPLACE FUNCTION mlaudit_keep_run_tags() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    IF NEW.value IS NULL THEN
        DELETE FROM run_tags WHERE run_id = NEW.run_id AND key = NEW.key AND seq < NEW.seq;
    ELSE
        INSERT INTO run_tags AS t (run_id, key, value, seq)
        VALUES (NEW.run_id, NEW.key, NEW.value, NEW.seq)
        ON CONFLICT (run_id, key) DO UPDATE SET value = EXCLUDED.value, seq = EXCLUDED.seq
        WHERE t.seq < EXCLUDED.seq;
    END IF;
    RETURN NULL;
END
$$;
CREATE OR REPLACE TRIGGER tag_events_keep AFTER INSERT ON tag_events
    FOR EACH ROW EXECUTE FUNCTION mlaudit_keep_run_tags();
ALTER TABLE tag_events ENABLE ALWAYS TRIGGER tag_events_keep;
CREATE OR REPLACE TRIGGER run_tags_kept
    BEFORE INSERT OR UPDATE OR DELETE ON run_tags
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_direct_change();
ALTER TABLE run_tags ENABLE ALWAYS TRIGGER run_tags_kept;
CREATE OR REPLACE TRIGGER run_tags_no_truncate BEFORE TRUNCATE ON run_tags
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE run_tags ENABLE ALWAYS TRIGGER run_tags_no_truncate;

CREATE OR REPLACE FUNCTION mlaudit_keep_artifacts() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    INSERT INTO artifacts AS t (run_id, path, sha256, size, uri, envelope_sha256, client_signature, revision, seq)
        VALUES (NEW.run_id, NEW.path, NEW.sha256, NEW.size, NEW.uri, NEW.envelope_sha256, NEW.client_signature, NEW.revision, NEW.seq)
        ON CONFLICT (run_id, path) DO UPDATE SET sha256 = EXCLUDED.sha256, size = EXCLUDED.size, uri = EXCLUDED.uri, envelope_sha256 = EXCLUDED.envelope_sha256, client_signature = EXCLUDED.client_signature, revision = EXCLUDED.revision, seq = EXCLUDED.seq
        WHERE t.seq < EXCLUDED.seq;
    RETURN NULL;
END
$$;
CREATE OR REPLACE TRIGGER artifact_revisions_keep AFTER INSERT ON artifact_revisions
    FOR EACH ROW EXECUTE FUNCTION mlaudit_keep_artifacts();
ALTER TABLE artifact_revisions ENABLE ALWAYS TRIGGER artifact_revisions_keep;
CREATE OR REPLACE TRIGGER artifacts_kept
    BEFORE INSERT OR UPDATE OR DELETE ON artifacts
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_direct_change();
ALTER TABLE artifacts ENABLE ALWAYS TRIGGER artifacts_kept;
CREATE OR REPLACE TRIGGER artifacts_no_truncate BEFORE TRUNCATE ON artifacts
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE artifacts ENABLE ALWAYS TRIGGER artifacts_no_truncate;

CREATE OR REPLACE FUNCTION mlaudit_keep_logged_models() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    INSERT INTO logged_models AS t (model_id, experiment_id, name, source_run_id, model_type, status, lifecycle, created_by, creation_timestamp, last_updated_timestamp, created_seq, updated_seq, seq)
        VALUES (NEW.model_id, NEW.experiment_id, NEW.name, NEW.source_run_id, NEW.model_type, NEW.status, NEW.lifecycle, NEW.created_by, NEW.creation_timestamp, NEW.last_updated_timestamp, NEW.created_seq, NEW.updated_seq, NEW.seq)
        ON CONFLICT (model_id) DO UPDATE SET experiment_id = EXCLUDED.experiment_id, name = EXCLUDED.name, source_run_id = EXCLUDED.source_run_id, model_type = EXCLUDED.model_type, status = EXCLUDED.status, lifecycle = EXCLUDED.lifecycle, created_by = EXCLUDED.created_by, creation_timestamp = EXCLUDED.creation_timestamp, last_updated_timestamp = EXCLUDED.last_updated_timestamp, created_seq = EXCLUDED.created_seq, updated_seq = EXCLUDED.updated_seq, seq = EXCLUDED.seq
        WHERE t.seq < EXCLUDED.seq;
    RETURN NULL;
END
$$;
CREATE OR REPLACE TRIGGER logged_model_revisions_keep AFTER INSERT ON logged_model_revisions
    FOR EACH ROW EXECUTE FUNCTION mlaudit_keep_logged_models();
ALTER TABLE logged_model_revisions ENABLE ALWAYS TRIGGER logged_model_revisions_keep;
CREATE OR REPLACE TRIGGER logged_models_kept
    BEFORE INSERT OR UPDATE OR DELETE ON logged_models
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_direct_change();
ALTER TABLE logged_models ENABLE ALWAYS TRIGGER logged_models_kept;
CREATE OR REPLACE TRIGGER logged_models_no_truncate BEFORE TRUNCATE ON logged_models
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE logged_models ENABLE ALWAYS TRIGGER logged_models_no_truncate;

CREATE OR REPLACE FUNCTION mlaudit_keep_logged_model_tags() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    IF NEW.value IS NULL THEN
        DELETE FROM logged_model_tags WHERE model_id = NEW.model_id AND key = NEW.key AND seq < NEW.seq;
    ELSE
        INSERT INTO logged_model_tags AS t (model_id, key, value, seq)
        VALUES (NEW.model_id, NEW.key, NEW.value, NEW.seq)
        ON CONFLICT (model_id, key) DO UPDATE SET value = EXCLUDED.value, seq = EXCLUDED.seq
        WHERE t.seq < EXCLUDED.seq;
    END IF;
    RETURN NULL;
END
$$;
CREATE OR REPLACE TRIGGER logged_model_tag_events_keep AFTER INSERT ON logged_model_tag_events
    FOR EACH ROW EXECUTE FUNCTION mlaudit_keep_logged_model_tags();
ALTER TABLE logged_model_tag_events ENABLE ALWAYS TRIGGER logged_model_tag_events_keep;
CREATE OR REPLACE TRIGGER logged_model_tags_kept
    BEFORE INSERT OR UPDATE OR DELETE ON logged_model_tags
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_direct_change();
ALTER TABLE logged_model_tags ENABLE ALWAYS TRIGGER logged_model_tags_kept;
CREATE OR REPLACE TRIGGER logged_model_tags_no_truncate BEFORE TRUNCATE ON logged_model_tags
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE logged_model_tags ENABLE ALWAYS TRIGGER logged_model_tags_no_truncate;

CREATE OR REPLACE FUNCTION mlaudit_keep_registered_models() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    INSERT INTO registered_models AS t (name, description, owner, tags, sensitive_attributes, protected_targets, quorum, created_by, created_seq, updated_seq, seq)
        VALUES (NEW.name, NEW.description, NEW.owner, NEW.tags, NEW.sensitive_attributes, NEW.protected_targets, NEW.quorum, NEW.created_by, NEW.created_seq, NEW.updated_seq, NEW.seq)
        ON CONFLICT (name) DO UPDATE SET description = EXCLUDED.description, owner = EXCLUDED.owner, tags = EXCLUDED.tags, sensitive_attributes = EXCLUDED.sensitive_attributes, protected_targets = EXCLUDED.protected_targets, quorum = EXCLUDED.quorum, created_by = EXCLUDED.created_by, created_seq = EXCLUDED.created_seq, updated_seq = EXCLUDED.updated_seq, seq = EXCLUDED.seq
        WHERE t.seq < EXCLUDED.seq;
    RETURN NULL;
END
$$;
CREATE OR REPLACE TRIGGER registered_model_revisions_keep AFTER INSERT ON registered_model_revisions
    FOR EACH ROW EXECUTE FUNCTION mlaudit_keep_registered_models();
ALTER TABLE registered_model_revisions ENABLE ALWAYS TRIGGER registered_model_revisions_keep;
CREATE OR REPLACE TRIGGER registered_models_kept
    BEFORE INSERT OR UPDATE OR DELETE ON registered_models
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_direct_change();
ALTER TABLE registered_models ENABLE ALWAYS TRIGGER registered_models_kept;
CREATE OR REPLACE TRIGGER registered_models_no_truncate BEFORE TRUNCATE ON registered_models
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE registered_models ENABLE ALWAYS TRIGGER registered_models_no_truncate;

CREATE OR REPLACE FUNCTION mlaudit_keep_model_versions() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    INSERT INTO model_versions AS t (model_name, version, run_id, artifact_path, evidence, version_digest, stage, created_by, created_seq, stage_seq, description, source, logged_model_id, updated_seq, seq)
        VALUES (NEW.model_name, NEW.version, NEW.run_id, NEW.artifact_path, NEW.evidence, NEW.version_digest, NEW.stage, NEW.created_by, NEW.created_seq, NEW.stage_seq, NEW.description, NEW.source, NEW.logged_model_id, NEW.updated_seq, NEW.seq)
        ON CONFLICT (model_name, version) DO UPDATE SET run_id = EXCLUDED.run_id, artifact_path = EXCLUDED.artifact_path, evidence = EXCLUDED.evidence, version_digest = EXCLUDED.version_digest, stage = EXCLUDED.stage, created_by = EXCLUDED.created_by, created_seq = EXCLUDED.created_seq, stage_seq = EXCLUDED.stage_seq, description = EXCLUDED.description, source = EXCLUDED.source, logged_model_id = EXCLUDED.logged_model_id, updated_seq = EXCLUDED.updated_seq, seq = EXCLUDED.seq
        WHERE t.seq < EXCLUDED.seq;
    RETURN NULL;
END
$$;
CREATE OR REPLACE TRIGGER model_version_revisions_keep AFTER INSERT ON model_version_revisions
    FOR EACH ROW EXECUTE FUNCTION mlaudit_keep_model_versions();
ALTER TABLE model_version_revisions ENABLE ALWAYS TRIGGER model_version_revisions_keep;
CREATE OR REPLACE TRIGGER model_versions_kept
    BEFORE INSERT OR UPDATE OR DELETE ON model_versions
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_direct_change();
ALTER TABLE model_versions ENABLE ALWAYS TRIGGER model_versions_kept;
CREATE OR REPLACE TRIGGER model_versions_no_truncate BEFORE TRUNCATE ON model_versions
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE model_versions ENABLE ALWAYS TRIGGER model_versions_no_truncate;

CREATE OR REPLACE FUNCTION mlaudit_keep_model_version_tags() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    IF NEW.value IS NULL THEN
        DELETE FROM model_version_tags WHERE model_name = NEW.model_name AND version = NEW.version AND key = NEW.key AND seq < NEW.seq;
    ELSE
        INSERT INTO model_version_tags AS t (model_name, version, key, value, seq)
        VALUES (NEW.model_name, NEW.version, NEW.key, NEW.value, NEW.seq)
        ON CONFLICT (model_name, version, key) DO UPDATE SET value = EXCLUDED.value, seq = EXCLUDED.seq
        WHERE t.seq < EXCLUDED.seq;
    END IF;
    RETURN NULL;
END
$$;
CREATE OR REPLACE TRIGGER model_version_tag_events_keep AFTER INSERT ON model_version_tag_events
    FOR EACH ROW EXECUTE FUNCTION mlaudit_keep_model_version_tags();
ALTER TABLE model_version_tag_events ENABLE ALWAYS TRIGGER model_version_tag_events_keep;
CREATE OR REPLACE TRIGGER model_version_tags_kept
    BEFORE INSERT OR UPDATE OR DELETE ON model_version_tags
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_direct_change();
ALTER TABLE model_version_tags ENABLE ALWAYS TRIGGER model_version_tags_kept;
CREATE OR REPLACE TRIGGER model_version_tags_no_truncate BEFORE TRUNCATE ON model_version_tags
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE model_version_tags ENABLE ALWAYS TRIGGER model_version_tags_no_truncate;

CREATE OR REPLACE FUNCTION mlaudit_keep_model_aliases() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    IF NEW.version IS NULL THEN
        DELETE FROM model_aliases WHERE model_name = NEW.model_name AND alias = NEW.alias AND seq < NEW.seq;
    ELSE
        INSERT INTO model_aliases AS t (model_name, alias, version, seq)
        VALUES (NEW.model_name, NEW.alias, NEW.version, NEW.seq)
        ON CONFLICT (model_name, alias) DO UPDATE SET version = EXCLUDED.version, seq = EXCLUDED.seq
        WHERE t.seq < EXCLUDED.seq;
    END IF;
    RETURN NULL;
END
$$;
CREATE OR REPLACE TRIGGER alias_events_keep AFTER INSERT ON alias_events
    FOR EACH ROW EXECUTE FUNCTION mlaudit_keep_model_aliases();
ALTER TABLE alias_events ENABLE ALWAYS TRIGGER alias_events_keep;
CREATE OR REPLACE TRIGGER model_aliases_kept
    BEFORE INSERT OR UPDATE OR DELETE ON model_aliases
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_direct_change();
ALTER TABLE model_aliases ENABLE ALWAYS TRIGGER model_aliases_kept;
CREATE OR REPLACE TRIGGER model_aliases_no_truncate BEFORE TRUNCATE ON model_aliases
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE model_aliases ENABLE ALWAYS TRIGGER model_aliases_no_truncate;

CREATE OR REPLACE FUNCTION mlaudit_keep_promotions() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    INSERT INTO promotions AS t (id, model_name, version, target, justification, classification, requested_by, status, gates, policy_seq, created_seq, closed_seq, seq)
        VALUES (NEW.id, NEW.model_name, NEW.version, NEW.target, NEW.justification, NEW.classification, NEW.requested_by, NEW.status, NEW.gates, NEW.policy_seq, NEW.created_seq, NEW.closed_seq, NEW.seq)
        ON CONFLICT (id) DO UPDATE SET model_name = EXCLUDED.model_name, version = EXCLUDED.version, target = EXCLUDED.target, justification = EXCLUDED.justification, classification = EXCLUDED.classification, requested_by = EXCLUDED.requested_by, status = EXCLUDED.status, gates = EXCLUDED.gates, policy_seq = EXCLUDED.policy_seq, created_seq = EXCLUDED.created_seq, closed_seq = EXCLUDED.closed_seq, seq = EXCLUDED.seq
        WHERE t.seq < EXCLUDED.seq;
    RETURN NULL;
END
$$;
CREATE OR REPLACE TRIGGER promotion_revisions_keep AFTER INSERT ON promotion_revisions
    FOR EACH ROW EXECUTE FUNCTION mlaudit_keep_promotions();
ALTER TABLE promotion_revisions ENABLE ALWAYS TRIGGER promotion_revisions_keep;
CREATE OR REPLACE TRIGGER promotions_kept
    BEFORE INSERT OR UPDATE OR DELETE ON promotions
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_direct_change();
ALTER TABLE promotions ENABLE ALWAYS TRIGGER promotions_kept;
CREATE OR REPLACE TRIGGER promotions_no_truncate BEFORE TRUNCATE ON promotions
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE promotions ENABLE ALWAYS TRIGGER promotions_no_truncate;

CREATE OR REPLACE FUNCTION mlaudit_keep_environments() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    INSERT INTO environments AS t (name, protected, adopted, declared_by, declared_seq, seq)
        VALUES (NEW.name, NEW.protected, NEW.adopted, NEW.declared_by, NEW.declared_seq, NEW.seq)
        ON CONFLICT (name) DO UPDATE SET protected = EXCLUDED.protected, adopted = EXCLUDED.adopted, declared_by = EXCLUDED.declared_by, declared_seq = EXCLUDED.declared_seq, seq = EXCLUDED.seq
        WHERE t.seq < EXCLUDED.seq;
    RETURN NULL;
END
$$;
CREATE OR REPLACE TRIGGER environment_revisions_keep AFTER INSERT ON environment_revisions
    FOR EACH ROW EXECUTE FUNCTION mlaudit_keep_environments();
ALTER TABLE environment_revisions ENABLE ALWAYS TRIGGER environment_revisions_keep;
CREATE OR REPLACE TRIGGER environments_kept
    BEFORE INSERT OR UPDATE OR DELETE ON environments
    FOR EACH ROW EXECUTE FUNCTION mlaudit_refuse_direct_change();
ALTER TABLE environments ENABLE ALWAYS TRIGGER environments_kept;
CREATE OR REPLACE TRIGGER environments_no_truncate BEFORE TRUNCATE ON environments
    FOR EACH STATEMENT EXECUTE FUNCTION mlaudit_refuse_mutation();
ALTER TABLE environments ENABLE ALWAYS TRIGGER environments_no_truncate;

CREATE OR REPLACE FUNCTION mlaudit_guard_signing_keys() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    doc jsonb;
    bad text;
BEGIN
    SELECT convert_from(e.canonical, 'UTF8')::jsonb INTO doc FROM ledger_entries e
        WHERE e.seq = NEW.seq;
    bad := CASE doc ->> 'kind'
        WHEN 'key.activated' THEN CASE
            WHEN NEW.verifier_key IS DISTINCT FROM (doc #>> '{body,verifier_key}') THEN 'verifier_key'
            WHEN NEW.name IS DISTINCT FROM ((regexp_match(doc #>> '{body,verifier_key}', '^([^+]+)[+]([0-9a-f]{8})[+](.+)$'))[1]) THEN 'name'
            WHEN NEW.key_id IS DISTINCT FROM (('x' || (regexp_match(doc #>> '{body,verifier_key}', '^([^+]+)[+]([0-9a-f]{8})[+](.+)$'))[2])::bit(32)::bigint) THEN 'key_id'
            WHEN NEW.public_key IS DISTINCT FROM (substring(decode((regexp_match(doc #>> '{body,verifier_key}', '^([^+]+)[+]([0-9a-f]{8})[+](.+)$'))[3], 'base64') FROM 2)) THEN 'public_key'
            WHEN NEW.activated_at IS DISTINCT FROM (doc ->> 'recorded_at')::timestamptz THEN 'activated_at'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            END
        ELSE 'an entry of kind key.activated' END;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'mlaudit: refused: a % row names ledger entry %, which does not say the same (%)',
            TG_TABLE_NAME, NEW.seq, bad USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS signing_keys_guard ON signing_keys;
CREATE CONSTRAINT TRIGGER signing_keys_guard AFTER INSERT ON signing_keys
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION mlaudit_guard_signing_keys();
ALTER TABLE signing_keys ENABLE ALWAYS TRIGGER signing_keys_guard;

CREATE OR REPLACE FUNCTION mlaudit_guard_tokens() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    doc jsonb;
    bad text;
BEGIN
    SELECT convert_from(e.canonical, 'UTF8')::jsonb INTO doc FROM ledger_entries e
        WHERE e.seq = NEW.created_seq;
    bad := CASE doc ->> 'kind'
        WHEN 'token.created' THEN CASE
            WHEN NEW.id IS DISTINCT FROM (doc #>> '{subject,token}') THEN 'id'
            WHEN NEW.name IS DISTINCT FROM (doc #>> '{body,name}') THEN 'name'
            WHEN NEW.role IS DISTINCT FROM (doc #>> '{body,role}') THEN 'role'
            WHEN NEW.token_hash IS DISTINCT FROM decode(doc #>> '{body,token_sha256}', 'hex') THEN 'token_hash'
            WHEN NEW.created_at IS DISTINCT FROM (doc ->> 'recorded_at')::timestamptz THEN 'created_at'
            WHEN NEW.created_seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'created_seq'
            WHEN NEW.expires_at IS DISTINCT FROM (doc #>> '{body,expires_at}')::timestamptz THEN 'expires_at'
            END
        ELSE 'an entry of kind token.created' END;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'mlaudit: refused: a % row names ledger entry %, which does not say the same (%)',
            TG_TABLE_NAME, NEW.created_seq, bad USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS tokens_guard ON tokens;
CREATE CONSTRAINT TRIGGER tokens_guard AFTER INSERT ON tokens
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION mlaudit_guard_tokens();
ALTER TABLE tokens ENABLE ALWAYS TRIGGER tokens_guard;

CREATE OR REPLACE FUNCTION mlaudit_guard_principals() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    doc jsonb;
    bad text;
BEGIN
    SELECT convert_from(e.canonical, 'UTF8')::jsonb INTO doc FROM ledger_entries e
        WHERE e.seq = NEW.seq;
    bad := CASE doc ->> 'kind'
        WHEN 'principal.created' THEN CASE
            WHEN NEW.id IS DISTINCT FROM (doc #>> '{subject,principal}') THEN 'id'
            WHEN NEW.name IS DISTINCT FROM (doc #>> '{body,name}') THEN 'name'
            WHEN NEW.display_name IS DISTINCT FROM (doc #>> '{body,display_name}') THEN 'display_name'
            WHEN NEW.kind IS DISTINCT FROM (doc #>> '{body,kind}') THEN 'kind'
            WHEN NEW.created_at IS DISTINCT FROM (doc ->> 'recorded_at')::timestamptz THEN 'created_at'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            END
        ELSE 'an entry of kind principal.created' END;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'mlaudit: refused: a % row names ledger entry %, which does not say the same (%)',
            TG_TABLE_NAME, NEW.seq, bad USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS principals_guard ON principals;
CREATE CONSTRAINT TRIGGER principals_guard AFTER INSERT ON principals
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION mlaudit_guard_principals();
ALTER TABLE principals ENABLE ALWAYS TRIGGER principals_guard;

CREATE OR REPLACE FUNCTION mlaudit_guard_token_principals() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    doc jsonb;
    bad text;
BEGIN
    SELECT convert_from(e.canonical, 'UTF8')::jsonb INTO doc FROM ledger_entries e
        WHERE e.seq = NEW.seq;
    bad := CASE doc ->> 'kind'
        WHEN 'token.created' THEN CASE
            WHEN NEW.token_id IS DISTINCT FROM (doc #>> '{subject,token}') THEN 'token_id'
            WHEN NEW.principal_id IS DISTINCT FROM (doc #>> '{body,principal}') THEN 'principal_id'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            END
        WHEN 'token.assigned' THEN CASE
            WHEN NEW.token_id IS DISTINCT FROM (doc #>> '{subject,token}') THEN 'token_id'
            WHEN NEW.principal_id IS DISTINCT FROM (doc #>> '{subject,principal}') THEN 'principal_id'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            END
        ELSE 'an entry of kind token.created, token.assigned' END;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'mlaudit: refused: a % row names ledger entry %, which does not say the same (%)',
            TG_TABLE_NAME, NEW.seq, bad USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS token_principals_guard ON token_principals;
CREATE CONSTRAINT TRIGGER token_principals_guard AFTER INSERT ON token_principals
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION mlaudit_guard_token_principals();
ALTER TABLE token_principals ENABLE ALWAYS TRIGGER token_principals_guard;

CREATE OR REPLACE FUNCTION mlaudit_guard_rules_adopted() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    doc jsonb;
    bad text;
BEGIN
    SELECT convert_from(e.canonical, 'UTF8')::jsonb INTO doc FROM ledger_entries e
        WHERE e.seq = NEW.seq;
    bad := CASE doc ->> 'kind'
        WHEN 'rules.adopted' THEN CASE
            WHEN NEW.rule IS DISTINCT FROM (CASE WHEN (doc -> 'body' -> 'rules') ? NEW.rule THEN NEW.rule END) THEN 'rule'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            END
        ELSE 'an entry of kind rules.adopted' END;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'mlaudit: refused: a % row names ledger entry %, which does not say the same (%)',
            TG_TABLE_NAME, NEW.seq, bad USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS rules_adopted_guard ON rules_adopted;
CREATE CONSTRAINT TRIGGER rules_adopted_guard AFTER INSERT ON rules_adopted
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION mlaudit_guard_rules_adopted();
ALTER TABLE rules_adopted ENABLE ALWAYS TRIGGER rules_adopted_guard;

CREATE OR REPLACE FUNCTION mlaudit_guard_token_revocations() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    doc jsonb;
    bad text;
BEGIN
    SELECT convert_from(e.canonical, 'UTF8')::jsonb INTO doc FROM ledger_entries e
        WHERE e.seq = NEW.seq;
    bad := CASE doc ->> 'kind'
        WHEN 'token.revoked' THEN CASE
            WHEN NEW.token_id IS DISTINCT FROM (doc #>> '{subject,token}') THEN 'token_id'
            WHEN NEW.revoked_at IS DISTINCT FROM (doc ->> 'recorded_at')::timestamptz THEN 'revoked_at'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            END
        ELSE 'an entry of kind token.revoked' END;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'mlaudit: refused: a % row names ledger entry %, which does not say the same (%)',
            TG_TABLE_NAME, NEW.seq, bad USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS token_revocations_guard ON token_revocations;
CREATE CONSTRAINT TRIGGER token_revocations_guard AFTER INSERT ON token_revocations
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION mlaudit_guard_token_revocations();
ALTER TABLE token_revocations ENABLE ALWAYS TRIGGER token_revocations_guard;

CREATE OR REPLACE FUNCTION mlaudit_guard_grant_events() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    doc jsonb;
    bad text;
BEGIN
    SELECT convert_from(e.canonical, 'UTF8')::jsonb INTO doc FROM ledger_entries e
        WHERE e.seq = NEW.seq;
    bad := CASE doc ->> 'kind'
        WHEN 'grant.created' THEN CASE
            WHEN NEW.token_id IS DISTINCT FROM (doc #>> '{subject,token}') THEN 'token_id'
            WHEN NEW.experiment_id IS DISTINCT FROM (doc #>> '{subject,experiment}') THEN 'experiment_id'
            WHEN NEW.granted IS DISTINCT FROM true THEN 'granted'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            END
        WHEN 'grant.revoked' THEN CASE
            WHEN NEW.token_id IS DISTINCT FROM (doc #>> '{subject,token}') THEN 'token_id'
            WHEN NEW.experiment_id IS DISTINCT FROM (doc #>> '{subject,experiment}') THEN 'experiment_id'
            WHEN NEW.granted IS DISTINCT FROM false THEN 'granted'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            END
        ELSE 'an entry of kind grant.created, grant.revoked' END;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'mlaudit: refused: a % row names ledger entry %, which does not say the same (%)',
            TG_TABLE_NAME, NEW.seq, bad USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS grant_events_guard ON grant_events;
CREATE CONSTRAINT TRIGGER grant_events_guard AFTER INSERT ON grant_events
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION mlaudit_guard_grant_events();
ALTER TABLE grant_events ENABLE ALWAYS TRIGGER grant_events_guard;

CREATE OR REPLACE FUNCTION mlaudit_guard_client_keys() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    doc jsonb;
    bad text;
BEGIN
    SELECT convert_from(e.canonical, 'UTF8')::jsonb INTO doc FROM ledger_entries e
        WHERE e.seq = NEW.seq;
    bad := CASE doc ->> 'kind'
        WHEN 'client_key.registered' THEN CASE
            WHEN NEW.key_id IS DISTINCT FROM (doc #>> '{subject,key}') THEN 'key_id'
            WHEN NEW.token_id IS DISTINCT FROM (doc #>> '{subject,token}') THEN 'token_id'
            WHEN NEW.public_key IS DISTINCT FROM decode(doc #>> '{body,public_key}', 'base64') THEN 'public_key'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            END
        ELSE 'an entry of kind client_key.registered' END;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'mlaudit: refused: a % row names ledger entry %, which does not say the same (%)',
            TG_TABLE_NAME, NEW.seq, bad USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS client_keys_guard ON client_keys;
CREATE CONSTRAINT TRIGGER client_keys_guard AFTER INSERT ON client_keys
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION mlaudit_guard_client_keys();
ALTER TABLE client_keys ENABLE ALWAYS TRIGGER client_keys_guard;

CREATE OR REPLACE FUNCTION mlaudit_guard_registered_model_revisions() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    doc jsonb;
    prev registered_model_revisions%ROWTYPE;
    earlier boolean;
    bad text;
BEGIN
    SELECT convert_from(e.canonical, 'UTF8')::jsonb INTO doc FROM ledger_entries e
        WHERE e.seq = NEW.seq;
    SELECT * INTO prev FROM registered_model_revisions r WHERE r.name = NEW.name AND r.seq < NEW.seq
        ORDER BY r.seq DESC LIMIT 1;
    earlier := FOUND;
    bad := CASE doc ->> 'kind'
        WHEN 'model.created' THEN CASE
            WHEN earlier THEN 'no earlier revision'
            WHEN NEW.name IS DISTINCT FROM (doc #>> '{subject,model}') THEN 'name'
            WHEN NEW.description IS DISTINCT FROM (doc #>> '{body,description}') THEN 'description'
            WHEN NEW.owner IS DISTINCT FROM (doc #>> '{body,owner}') THEN 'owner'
            WHEN NEW.tags IS DISTINCT FROM nullif(doc #> '{body,tags}', 'null'::jsonb) THEN 'tags'
            WHEN NEW.sensitive_attributes IS DISTINCT FROM nullif(doc #> '{body,sensitive_attributes}', 'null'::jsonb) THEN 'sensitive_attributes'
            WHEN NEW.protected_targets IS DISTINCT FROM nullif(doc #> '{body,protected_targets}', 'null'::jsonb) THEN 'protected_targets'
            WHEN NEW.quorum::text IS DISTINCT FROM (doc #>> '{body,quorum}') THEN 'quorum'
            WHEN NEW.created_by IS DISTINCT FROM (doc ->> 'actor') THEN 'created_by'
            WHEN NEW.created_seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'created_seq'
            WHEN NEW.updated_seq IS DISTINCT FROM NULL THEN 'updated_seq'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            END
        WHEN 'model.description_set' THEN CASE
            WHEN NOT earlier THEN 'an earlier revision'
            WHEN NEW.name IS DISTINCT FROM (doc #>> '{subject,model}') THEN 'name'
            WHEN NEW.description IS DISTINCT FROM (doc #>> '{body,description}') THEN 'description'
            WHEN NEW.owner IS DISTINCT FROM prev.owner THEN 'owner'
            WHEN NEW.tags IS DISTINCT FROM prev.tags THEN 'tags'
            WHEN NEW.sensitive_attributes IS DISTINCT FROM prev.sensitive_attributes THEN 'sensitive_attributes'
            WHEN NEW.protected_targets IS DISTINCT FROM prev.protected_targets THEN 'protected_targets'
            WHEN NEW.quorum IS DISTINCT FROM prev.quorum THEN 'quorum'
            WHEN NEW.created_by IS DISTINCT FROM prev.created_by THEN 'created_by'
            WHEN NEW.created_seq IS DISTINCT FROM prev.created_seq THEN 'created_seq'
            WHEN NEW.updated_seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'updated_seq'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            END
        WHEN 'model.tags_set' THEN CASE
            WHEN NOT earlier THEN 'an earlier revision'
            WHEN NEW.name IS DISTINCT FROM (doc #>> '{subject,model}') THEN 'name'
            WHEN NEW.description IS DISTINCT FROM prev.description THEN 'description'
            WHEN NEW.owner IS DISTINCT FROM prev.owner THEN 'owner'
            WHEN NEW.tags IS DISTINCT FROM (prev.tags || (doc -> 'body' -> 'tags')) THEN 'tags'
            WHEN NEW.sensitive_attributes IS DISTINCT FROM prev.sensitive_attributes THEN 'sensitive_attributes'
            WHEN NEW.protected_targets IS DISTINCT FROM prev.protected_targets THEN 'protected_targets'
            WHEN NEW.quorum IS DISTINCT FROM prev.quorum THEN 'quorum'
            WHEN NEW.created_by IS DISTINCT FROM prev.created_by THEN 'created_by'
            WHEN NEW.created_seq IS DISTINCT FROM prev.created_seq THEN 'created_seq'
            WHEN NEW.updated_seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'updated_seq'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            END
        WHEN 'model.tag_deleted' THEN CASE
            WHEN NOT earlier THEN 'an earlier revision'
            WHEN NEW.name IS DISTINCT FROM (doc #>> '{subject,model}') THEN 'name'
            WHEN NEW.description IS DISTINCT FROM prev.description THEN 'description'
            WHEN NEW.owner IS DISTINCT FROM prev.owner THEN 'owner'
            WHEN NEW.tags IS DISTINCT FROM (prev.tags - (doc #>> '{body,key}')) THEN 'tags'
            WHEN NEW.sensitive_attributes IS DISTINCT FROM prev.sensitive_attributes THEN 'sensitive_attributes'
            WHEN NEW.protected_targets IS DISTINCT FROM prev.protected_targets THEN 'protected_targets'
            WHEN NEW.quorum IS DISTINCT FROM prev.quorum THEN 'quorum'
            WHEN NEW.created_by IS DISTINCT FROM prev.created_by THEN 'created_by'
            WHEN NEW.created_seq IS DISTINCT FROM prev.created_seq THEN 'created_seq'
            WHEN NEW.updated_seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'updated_seq'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            END
        WHEN 'model.protection_set' THEN CASE
            WHEN NOT earlier THEN 'an earlier revision'
            WHEN NEW.name IS DISTINCT FROM (doc #>> '{subject,model}') THEN 'name'
            WHEN NEW.description IS DISTINCT FROM prev.description THEN 'description'
            WHEN NEW.owner IS DISTINCT FROM prev.owner THEN 'owner'
            WHEN NEW.tags IS DISTINCT FROM prev.tags THEN 'tags'
            WHEN NEW.sensitive_attributes IS DISTINCT FROM prev.sensitive_attributes THEN 'sensitive_attributes'
            WHEN NEW.protected_targets IS DISTINCT FROM nullif(doc #> '{body,protected_targets}', 'null'::jsonb) THEN 'protected_targets'
            WHEN NEW.quorum IS DISTINCT FROM prev.quorum THEN 'quorum'
            WHEN NEW.created_by IS DISTINCT FROM prev.created_by THEN 'created_by'
            WHEN NEW.created_seq IS DISTINCT FROM prev.created_seq THEN 'created_seq'
            WHEN NEW.updated_seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'updated_seq'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            END
        WHEN 'model.sensitive_attributes_set' THEN CASE
            WHEN NOT earlier THEN 'an earlier revision'
            WHEN NEW.name IS DISTINCT FROM (doc #>> '{subject,model}') THEN 'name'
            WHEN NEW.description IS DISTINCT FROM prev.description THEN 'description'
            WHEN NEW.owner IS DISTINCT FROM prev.owner THEN 'owner'
            WHEN NEW.tags IS DISTINCT FROM prev.tags THEN 'tags'
            WHEN NEW.sensitive_attributes IS DISTINCT FROM nullif(doc #> '{body,sensitive_attributes}', 'null'::jsonb) THEN 'sensitive_attributes'
            WHEN NEW.protected_targets IS DISTINCT FROM prev.protected_targets THEN 'protected_targets'
            WHEN NEW.quorum IS DISTINCT FROM prev.quorum THEN 'quorum'
            WHEN NEW.created_by IS DISTINCT FROM prev.created_by THEN 'created_by'
            WHEN NEW.created_seq IS DISTINCT FROM prev.created_seq THEN 'created_seq'
            WHEN NEW.updated_seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'updated_seq'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            END
        WHEN 'model_version.created' THEN CASE
            WHEN NOT earlier THEN 'an earlier revision'
            WHEN NEW.name IS DISTINCT FROM (doc #>> '{subject,model}') THEN 'name'
            WHEN NEW.description IS DISTINCT FROM prev.description THEN 'description'
            WHEN NEW.owner IS DISTINCT FROM prev.owner THEN 'owner'
            WHEN NEW.tags IS DISTINCT FROM prev.tags THEN 'tags'
            WHEN NEW.sensitive_attributes IS DISTINCT FROM prev.sensitive_attributes THEN 'sensitive_attributes'
            WHEN NEW.protected_targets IS DISTINCT FROM prev.protected_targets THEN 'protected_targets'
            WHEN NEW.quorum IS DISTINCT FROM prev.quorum THEN 'quorum'
            WHEN NEW.created_by IS DISTINCT FROM prev.created_by THEN 'created_by'
            WHEN NEW.created_seq IS DISTINCT FROM prev.created_seq THEN 'created_seq'
            WHEN NEW.updated_seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'updated_seq'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            END
        WHEN 'model_version.created_unpinned' THEN CASE
            WHEN NOT earlier THEN 'an earlier revision'
            WHEN NEW.name IS DISTINCT FROM (doc #>> '{subject,model}') THEN 'name'
            WHEN NEW.description IS DISTINCT FROM prev.description THEN 'description'
            WHEN NEW.owner IS DISTINCT FROM prev.owner THEN 'owner'
            WHEN NEW.tags IS DISTINCT FROM prev.tags THEN 'tags'
            WHEN NEW.sensitive_attributes IS DISTINCT FROM prev.sensitive_attributes THEN 'sensitive_attributes'
            WHEN NEW.protected_targets IS DISTINCT FROM prev.protected_targets THEN 'protected_targets'
            WHEN NEW.quorum IS DISTINCT FROM prev.quorum THEN 'quorum'
            WHEN NEW.created_by IS DISTINCT FROM prev.created_by THEN 'created_by'
            WHEN NEW.created_seq IS DISTINCT FROM prev.created_seq THEN 'created_seq'
            WHEN NEW.updated_seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'updated_seq'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            END
        ELSE 'an entry of kind model.created, model.description_set, model.tags_set, model.tag_deleted, model.protection_set, model.sensitive_attributes_set, model_version.created, model_version.created_unpinned' END;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'mlaudit: refused: a % row names ledger entry %, which does not say the same (%)',
            TG_TABLE_NAME, NEW.seq, bad USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS registered_model_revisions_guard ON registered_model_revisions;
CREATE CONSTRAINT TRIGGER registered_model_revisions_guard AFTER INSERT ON registered_model_revisions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION mlaudit_guard_registered_model_revisions();
ALTER TABLE registered_model_revisions ENABLE ALWAYS TRIGGER registered_model_revisions_guard;

CREATE OR REPLACE FUNCTION mlaudit_guard_model_version_revisions() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    doc jsonb;
    prev model_version_revisions%ROWTYPE;
    earlier boolean;
    bad text;
BEGIN
    SELECT convert_from(e.canonical, 'UTF8')::jsonb INTO doc FROM ledger_entries e
        WHERE e.seq = NEW.seq;
    SELECT * INTO prev FROM model_version_revisions r WHERE r.model_name = NEW.model_name AND r.version = NEW.version AND r.seq < NEW.seq
        ORDER BY r.seq DESC LIMIT 1;
    earlier := FOUND;
    bad := CASE doc ->> 'kind'
        WHEN 'model_version.created' THEN CASE
            WHEN earlier THEN 'no earlier revision'
            WHEN NEW.model_name IS DISTINCT FROM (doc #>> '{subject,model}') THEN 'model_name'
            WHEN NEW.version::text IS DISTINCT FROM (doc #>> '{subject,version}') THEN 'version'
            WHEN NEW.run_id IS DISTINCT FROM (doc #>> '{subject,run}') THEN 'run_id'
            WHEN NEW.artifact_path IS DISTINCT FROM (doc #>> '{body,evidence,artifact_path}') THEN 'artifact_path'
            WHEN NEW.evidence IS DISTINCT FROM nullif(doc #> '{body,evidence}', 'null'::jsonb) THEN 'evidence'
            WHEN NEW.version_digest IS DISTINCT FROM (doc #>> '{body,version_digest}') THEN 'version_digest'
            WHEN NEW.stage IS DISTINCT FROM 'None' THEN 'stage'
            WHEN NEW.created_by IS DISTINCT FROM (doc ->> 'actor') THEN 'created_by'
            WHEN NEW.created_seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'created_seq'
            WHEN NEW.stage_seq IS DISTINCT FROM NULL THEN 'stage_seq'
            WHEN NEW.description IS DISTINCT FROM '' THEN 'description'
            WHEN NEW.source IS DISTINCT FROM NULL THEN 'source'
            WHEN NEW.logged_model_id IS DISTINCT FROM NULL THEN 'logged_model_id'
            WHEN NEW.updated_seq IS DISTINCT FROM NULL THEN 'updated_seq'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            END
        WHEN 'model_version.created_unpinned' THEN CASE
            WHEN earlier THEN 'no earlier revision'
            WHEN NEW.model_name IS DISTINCT FROM (doc #>> '{subject,model}') THEN 'model_name'
            WHEN NEW.version::text IS DISTINCT FROM (doc #>> '{subject,version}') THEN 'version'
            WHEN NEW.run_id IS DISTINCT FROM NULL THEN 'run_id'
            WHEN NEW.artifact_path IS DISTINCT FROM '' THEN 'artifact_path'
            WHEN NEW.evidence IS DISTINCT FROM (jsonb_build_object('pinned', false, 'source', doc #> '{body,source}', 'run', doc #> '{body,run}')) THEN 'evidence'
            WHEN NEW.version_digest IS DISTINCT FROM (doc #>> '{body,version_digest}') THEN 'version_digest'
            WHEN NEW.stage IS DISTINCT FROM 'None' THEN 'stage'
            WHEN NEW.created_by IS DISTINCT FROM (doc ->> 'actor') THEN 'created_by'
            WHEN NEW.created_seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'created_seq'
            WHEN NEW.stage_seq IS DISTINCT FROM NULL THEN 'stage_seq'
            WHEN NEW.description IS DISTINCT FROM '' THEN 'description'
            WHEN NEW.source IS DISTINCT FROM (doc #>> '{body,source}') THEN 'source'
            WHEN NEW.logged_model_id IS DISTINCT FROM NULL THEN 'logged_model_id'
            WHEN NEW.updated_seq IS DISTINCT FROM NULL THEN 'updated_seq'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            END
        WHEN 'model_version.pinned' THEN CASE
            WHEN NOT earlier THEN 'an earlier revision'
            WHEN NEW.model_name IS DISTINCT FROM (doc #>> '{subject,model}') THEN 'model_name'
            WHEN NEW.version::text IS DISTINCT FROM (doc #>> '{subject,version}') THEN 'version'
            WHEN NEW.run_id IS DISTINCT FROM (doc #>> '{subject,run}') THEN 'run_id'
            WHEN NEW.artifact_path IS DISTINCT FROM (doc #>> '{body,evidence,artifact_path}') THEN 'artifact_path'
            WHEN NEW.evidence IS DISTINCT FROM nullif(doc #> '{body,evidence}', 'null'::jsonb) THEN 'evidence'
            WHEN NEW.version_digest IS DISTINCT FROM (doc #>> '{body,version_digest}') THEN 'version_digest'
            WHEN NEW.stage IS DISTINCT FROM prev.stage THEN 'stage'
            WHEN NEW.created_by IS DISTINCT FROM prev.created_by THEN 'created_by'
            WHEN NEW.created_seq IS DISTINCT FROM prev.created_seq THEN 'created_seq'
            WHEN NEW.stage_seq IS DISTINCT FROM prev.stage_seq THEN 'stage_seq'
            WHEN NEW.description IS DISTINCT FROM prev.description THEN 'description'
            WHEN NEW.source IS DISTINCT FROM prev.source THEN 'source'
            WHEN NEW.logged_model_id IS DISTINCT FROM prev.logged_model_id THEN 'logged_model_id'
            WHEN NEW.updated_seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'updated_seq'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            WHEN prev.run_id IS NOT NULL THEN 'an unpinned version'
            END
        WHEN 'model_version.stage_set' THEN CASE
            WHEN NOT earlier THEN 'an earlier revision'
            WHEN NEW.model_name IS DISTINCT FROM (doc #>> '{subject,model}') THEN 'model_name'
            WHEN NEW.version::text IS DISTINCT FROM (doc #>> '{subject,version}') THEN 'version'
            WHEN NEW.run_id IS DISTINCT FROM prev.run_id THEN 'run_id'
            WHEN NEW.artifact_path IS DISTINCT FROM prev.artifact_path THEN 'artifact_path'
            WHEN NEW.evidence IS DISTINCT FROM prev.evidence THEN 'evidence'
            WHEN NEW.version_digest IS DISTINCT FROM prev.version_digest THEN 'version_digest'
            WHEN NEW.stage IS DISTINCT FROM (doc #>> '{body,stage}') THEN 'stage'
            WHEN NEW.created_by IS DISTINCT FROM prev.created_by THEN 'created_by'
            WHEN NEW.created_seq IS DISTINCT FROM prev.created_seq THEN 'created_seq'
            WHEN NEW.stage_seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'stage_seq'
            WHEN NEW.description IS DISTINCT FROM prev.description THEN 'description'
            WHEN NEW.source IS DISTINCT FROM prev.source THEN 'source'
            WHEN NEW.logged_model_id IS DISTINCT FROM prev.logged_model_id THEN 'logged_model_id'
            WHEN NEW.updated_seq IS DISTINCT FROM prev.updated_seq THEN 'updated_seq'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            WHEN NEW.run_id IS NULL AND EXISTS (SELECT 1 FROM jsonb_array_elements_text((SELECT r.protected_targets FROM registered_model_revisions r WHERE r.name = NEW.model_name AND r.seq < NEW.seq ORDER BY r.seq DESC LIMIT 1)) t (target) WHERE t.target = 'stage:' || NEW.stage OR (EXISTS (SELECT 1 FROM rules_adopted a WHERE a.rule = 'protected-names-ignore-case' AND a.seq < NEW.seq) AND lower((t.target) COLLATE "C") = lower(('stage:' || NEW.stage) COLLATE "C"))) THEN 'a pinned version'
            WHEN EXISTS (SELECT 1 FROM jsonb_array_elements_text((SELECT r.protected_targets FROM registered_model_revisions r WHERE r.name = NEW.model_name AND r.seq < NEW.seq ORDER BY r.seq DESC LIMIT 1)) t (target) WHERE t.target = 'stage:' || NEW.stage OR (EXISTS (SELECT 1 FROM rules_adopted a WHERE a.rule = 'protected-names-ignore-case' AND a.seq < NEW.seq) AND lower((t.target) COLLATE "C") = lower(('stage:' || NEW.stage) COLLATE "C"))) AND NOT EXISTS (SELECT 1 FROM promotions p WHERE p.id = doc #>> '{body,promotion}' AND p.status = 'approved' AND p.model_name = NEW.model_name AND p.version = NEW.version AND p.target = 'stage:' || NEW.stage AND NOT (EXISTS (SELECT 1 FROM rules_adopted a WHERE a.rule = 'approvals-spent-on-leaving' AND a.seq < NEW.seq) AND NOT EXISTS (SELECT 1 FROM deployments d WHERE d.id = doc #>> '{body,deployment}' AND d.rollback_of IS NOT NULL AND d.model_name = NEW.model_name AND d.version = NEW.version AND d.seq < NEW.seq) AND EXISTS (SELECT 1 FROM model_version_revisions r WHERE r.model_name = NEW.model_name AND r.version = NEW.version AND r.stage_seq = r.seq AND r.stage IS DISTINCT FROM NEW.stage AND r.seq > p.closed_seq AND r.seq < NEW.seq))) THEN 'an approved promotion'
            END
        WHEN 'model_version.source_set' THEN CASE
            WHEN NOT earlier THEN 'an earlier revision'
            WHEN NEW.model_name IS DISTINCT FROM (doc #>> '{subject,model}') THEN 'model_name'
            WHEN NEW.version::text IS DISTINCT FROM (doc #>> '{subject,version}') THEN 'version'
            WHEN NEW.run_id IS DISTINCT FROM prev.run_id THEN 'run_id'
            WHEN NEW.artifact_path IS DISTINCT FROM prev.artifact_path THEN 'artifact_path'
            WHEN NEW.evidence IS DISTINCT FROM prev.evidence THEN 'evidence'
            WHEN NEW.version_digest IS DISTINCT FROM prev.version_digest THEN 'version_digest'
            WHEN NEW.stage IS DISTINCT FROM prev.stage THEN 'stage'
            WHEN NEW.created_by IS DISTINCT FROM prev.created_by THEN 'created_by'
            WHEN NEW.created_seq IS DISTINCT FROM prev.created_seq THEN 'created_seq'
            WHEN NEW.stage_seq IS DISTINCT FROM prev.stage_seq THEN 'stage_seq'
            WHEN NEW.description IS DISTINCT FROM prev.description THEN 'description'
            WHEN NEW.source IS DISTINCT FROM (doc #>> '{body,source}') THEN 'source'
            WHEN NEW.logged_model_id IS DISTINCT FROM (coalesce(doc #>> '{body,logged_model}', prev.logged_model_id)) THEN 'logged_model_id'
            WHEN NEW.updated_seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'updated_seq'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            END
        WHEN 'model_version.description_set' THEN CASE
            WHEN NOT earlier THEN 'an earlier revision'
            WHEN NEW.model_name IS DISTINCT FROM (doc #>> '{subject,model}') THEN 'model_name'
            WHEN NEW.version::text IS DISTINCT FROM (doc #>> '{subject,version}') THEN 'version'
            WHEN NEW.run_id IS DISTINCT FROM prev.run_id THEN 'run_id'
            WHEN NEW.artifact_path IS DISTINCT FROM prev.artifact_path THEN 'artifact_path'
            WHEN NEW.evidence IS DISTINCT FROM prev.evidence THEN 'evidence'
            WHEN NEW.version_digest IS DISTINCT FROM prev.version_digest THEN 'version_digest'
            WHEN NEW.stage IS DISTINCT FROM prev.stage THEN 'stage'
            WHEN NEW.created_by IS DISTINCT FROM prev.created_by THEN 'created_by'
            WHEN NEW.created_seq IS DISTINCT FROM prev.created_seq THEN 'created_seq'
            WHEN NEW.stage_seq IS DISTINCT FROM prev.stage_seq THEN 'stage_seq'
            WHEN NEW.description IS DISTINCT FROM (doc #>> '{body,description}') THEN 'description'
            WHEN NEW.source IS DISTINCT FROM prev.source THEN 'source'
            WHEN NEW.logged_model_id IS DISTINCT FROM prev.logged_model_id THEN 'logged_model_id'
            WHEN NEW.updated_seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'updated_seq'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            END
        WHEN 'model_version.tags_set' THEN CASE
            WHEN NOT earlier THEN 'an earlier revision'
            WHEN NEW.model_name IS DISTINCT FROM (doc #>> '{subject,model}') THEN 'model_name'
            WHEN NEW.version::text IS DISTINCT FROM (doc #>> '{subject,version}') THEN 'version'
            WHEN NEW.run_id IS DISTINCT FROM prev.run_id THEN 'run_id'
            WHEN NEW.artifact_path IS DISTINCT FROM prev.artifact_path THEN 'artifact_path'
            WHEN NEW.evidence IS DISTINCT FROM prev.evidence THEN 'evidence'
            WHEN NEW.version_digest IS DISTINCT FROM prev.version_digest THEN 'version_digest'
            WHEN NEW.stage IS DISTINCT FROM prev.stage THEN 'stage'
            WHEN NEW.created_by IS DISTINCT FROM prev.created_by THEN 'created_by'
            WHEN NEW.created_seq IS DISTINCT FROM prev.created_seq THEN 'created_seq'
            WHEN NEW.stage_seq IS DISTINCT FROM prev.stage_seq THEN 'stage_seq'
            WHEN NEW.description IS DISTINCT FROM prev.description THEN 'description'
            WHEN NEW.source IS DISTINCT FROM prev.source THEN 'source'
            WHEN NEW.logged_model_id IS DISTINCT FROM prev.logged_model_id THEN 'logged_model_id'
            WHEN NEW.updated_seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'updated_seq'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            END
        WHEN 'model_version.tag_deleted' THEN CASE
            WHEN NOT earlier THEN 'an earlier revision'
            WHEN NEW.model_name IS DISTINCT FROM (doc #>> '{subject,model}') THEN 'model_name'
            WHEN NEW.version::text IS DISTINCT FROM (doc #>> '{subject,version}') THEN 'version'
            WHEN NEW.run_id IS DISTINCT FROM prev.run_id THEN 'run_id'
            WHEN NEW.artifact_path IS DISTINCT FROM prev.artifact_path THEN 'artifact_path'
            WHEN NEW.evidence IS DISTINCT FROM prev.evidence THEN 'evidence'
            WHEN NEW.version_digest IS DISTINCT FROM prev.version_digest THEN 'version_digest'
            WHEN NEW.stage IS DISTINCT FROM prev.stage THEN 'stage'
            WHEN NEW.created_by IS DISTINCT FROM prev.created_by THEN 'created_by'
            WHEN NEW.created_seq IS DISTINCT FROM prev.created_seq THEN 'created_seq'
            WHEN NEW.stage_seq IS DISTINCT FROM prev.stage_seq THEN 'stage_seq'
            WHEN NEW.description IS DISTINCT FROM prev.description THEN 'description'
            WHEN NEW.source IS DISTINCT FROM prev.source THEN 'source'
            WHEN NEW.logged_model_id IS DISTINCT FROM prev.logged_model_id THEN 'logged_model_id'
            WHEN NEW.updated_seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'updated_seq'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            END
        WHEN 'model_version.demoted' THEN CASE
            WHEN NOT earlier THEN 'an earlier revision'
            WHEN NEW.model_name IS DISTINCT FROM (doc #>> '{subject,model}') THEN 'model_name'
            WHEN NEW.version::text IS DISTINCT FROM (doc #>> '{subject,version}') THEN 'version'
            WHEN NEW.run_id IS DISTINCT FROM prev.run_id THEN 'run_id'
            WHEN NEW.artifact_path IS DISTINCT FROM prev.artifact_path THEN 'artifact_path'
            WHEN NEW.evidence IS DISTINCT FROM prev.evidence THEN 'evidence'
            WHEN NEW.version_digest IS DISTINCT FROM prev.version_digest THEN 'version_digest'
            WHEN NEW.stage IS DISTINCT FROM (doc #>> '{body,stage}') THEN 'stage'
            WHEN NEW.created_by IS DISTINCT FROM prev.created_by THEN 'created_by'
            WHEN NEW.created_seq IS DISTINCT FROM prev.created_seq THEN 'created_seq'
            WHEN NEW.stage_seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'stage_seq'
            WHEN NEW.description IS DISTINCT FROM prev.description THEN 'description'
            WHEN NEW.source IS DISTINCT FROM prev.source THEN 'source'
            WHEN NEW.logged_model_id IS DISTINCT FROM prev.logged_model_id THEN 'logged_model_id'
            WHEN NEW.updated_seq IS DISTINCT FROM prev.updated_seq THEN 'updated_seq'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            WHEN coalesce(btrim(doc #>> '{body,reason}'), '') = '' THEN 'a reason'
            WHEN EXISTS (SELECT 1 FROM jsonb_array_elements_text((SELECT r.protected_targets FROM registered_model_revisions r WHERE r.name = NEW.model_name AND r.seq < NEW.seq ORDER BY r.seq DESC LIMIT 1)) t (target) WHERE t.target = 'stage:' || NEW.stage OR (EXISTS (SELECT 1 FROM rules_adopted a WHERE a.rule = 'protected-names-ignore-case' AND a.seq < NEW.seq) AND lower((t.target) COLLATE "C") = lower(('stage:' || NEW.stage) COLLATE "C"))) THEN 'an unprotected stage'
            END
        ELSE 'an entry of kind model_version.created, model_version.created_unpinned, model_version.pinned, model_version.stage_set, model_version.source_set, model_version.description_set, model_version.tags_set, model_version.tag_deleted, model_version.demoted' END;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'mlaudit: refused: a % row names ledger entry %, which does not say the same (%)',
            TG_TABLE_NAME, NEW.seq, bad USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS model_version_revisions_guard ON model_version_revisions;
CREATE CONSTRAINT TRIGGER model_version_revisions_guard AFTER INSERT ON model_version_revisions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION mlaudit_guard_model_version_revisions();
ALTER TABLE model_version_revisions ENABLE ALWAYS TRIGGER model_version_revisions_guard;

CREATE OR REPLACE FUNCTION mlaudit_guard_alias_events() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    doc jsonb;
    bad text;
BEGIN
    SELECT convert_from(e.canonical, 'UTF8')::jsonb INTO doc FROM ledger_entries e
        WHERE e.seq = NEW.seq;
    bad := CASE doc ->> 'kind'
        WHEN 'model_alias.set' THEN CASE
            WHEN NEW.model_name IS DISTINCT FROM (doc #>> '{subject,model}') THEN 'model_name'
            WHEN NEW.alias IS DISTINCT FROM (doc #>> '{body,alias}') THEN 'alias'
            WHEN NEW.version::text IS DISTINCT FROM (doc #>> '{subject,version}') THEN 'version'
            WHEN NEW.promotion_id IS DISTINCT FROM (doc #>> '{body,promotion}') THEN 'promotion_id'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            WHEN coalesce((SELECT r.run_id IS NULL FROM model_version_revisions r WHERE r.model_name = NEW.model_name AND r.version = NEW.version AND r.seq < NEW.seq ORDER BY r.seq DESC LIMIT 1), false) AND EXISTS (SELECT 1 FROM jsonb_array_elements_text((SELECT r.protected_targets FROM registered_model_revisions r WHERE r.name = NEW.model_name AND r.seq < NEW.seq ORDER BY r.seq DESC LIMIT 1)) t (target) WHERE t.target = 'alias:' || NEW.alias OR (EXISTS (SELECT 1 FROM rules_adopted a WHERE a.rule = 'protected-names-ignore-case' AND a.seq < NEW.seq) AND lower((t.target) COLLATE "C") = lower(('alias:' || NEW.alias) COLLATE "C"))) THEN 'a pinned version'
            WHEN EXISTS (SELECT 1 FROM jsonb_array_elements_text((SELECT r.protected_targets FROM registered_model_revisions r WHERE r.name = NEW.model_name AND r.seq < NEW.seq ORDER BY r.seq DESC LIMIT 1)) t (target) WHERE t.target = 'alias:' || NEW.alias OR (EXISTS (SELECT 1 FROM rules_adopted a WHERE a.rule = 'protected-names-ignore-case' AND a.seq < NEW.seq) AND lower((t.target) COLLATE "C") = lower(('alias:' || NEW.alias) COLLATE "C"))) AND NOT EXISTS (SELECT 1 FROM promotions p WHERE p.id = doc #>> '{body,promotion}' AND p.status = 'approved' AND p.model_name = NEW.model_name AND p.version = NEW.version AND p.target = 'alias:' || NEW.alias AND NOT (EXISTS (SELECT 1 FROM rules_adopted a WHERE a.rule = 'approvals-spent-on-leaving' AND a.seq < NEW.seq) AND NOT EXISTS (SELECT 1 FROM deployments d WHERE d.id = doc #>> '{body,deployment}' AND d.rollback_of IS NOT NULL AND d.model_name = NEW.model_name AND d.version = NEW.version AND d.seq < NEW.seq) AND EXISTS (SELECT 1 FROM alias_events e WHERE e.model_name = NEW.model_name AND e.alias = NEW.alias AND e.seq > p.closed_seq AND e.seq < NEW.seq AND e.version IS DISTINCT FROM NEW.version AND EXISTS (SELECT 1 FROM alias_events b WHERE b.model_name = e.model_name AND b.alias = e.alias AND b.version = NEW.version AND b.seq > p.closed_seq AND b.seq < e.seq)))) THEN 'an approved promotion'
            END
        WHEN 'model_alias.deleted' THEN CASE
            WHEN NEW.model_name IS DISTINCT FROM (doc #>> '{subject,model}') THEN 'model_name'
            WHEN NEW.alias IS DISTINCT FROM (doc #>> '{body,alias}') THEN 'alias'
            WHEN NEW.version IS DISTINCT FROM NULL THEN 'version'
            WHEN NEW.promotion_id IS DISTINCT FROM NULL THEN 'promotion_id'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            WHEN ((SELECT r.protected_targets FROM registered_model_revisions r WHERE r.name = NEW.model_name AND r.seq < NEW.seq ORDER BY r.seq DESC LIMIT 1)) ? ('alias:' || NEW.alias) THEN 'an unprotected alias'
            END
        WHEN 'model_alias.removed' THEN CASE
            WHEN NEW.model_name IS DISTINCT FROM (doc #>> '{subject,model}') THEN 'model_name'
            WHEN NEW.alias IS DISTINCT FROM (doc #>> '{body,alias}') THEN 'alias'
            WHEN NEW.version IS DISTINCT FROM NULL THEN 'version'
            WHEN NEW.promotion_id IS DISTINCT FROM NULL THEN 'promotion_id'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            WHEN coalesce(btrim(doc #>> '{body,reason}'), '') = '' THEN 'a reason'
            END
        ELSE 'an entry of kind model_alias.set, model_alias.deleted, model_alias.removed' END;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'mlaudit: refused: a % row names ledger entry %, which does not say the same (%)',
            TG_TABLE_NAME, NEW.seq, bad USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS alias_events_guard ON alias_events;
CREATE CONSTRAINT TRIGGER alias_events_guard AFTER INSERT ON alias_events
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION mlaudit_guard_alias_events();
ALTER TABLE alias_events ENABLE ALWAYS TRIGGER alias_events_guard;

CREATE OR REPLACE FUNCTION mlaudit_guard_model_policies() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    doc jsonb;
    bad text;
BEGIN
    SELECT convert_from(e.canonical, 'UTF8')::jsonb INTO doc FROM ledger_entries e
        WHERE e.seq = NEW.seq;
    bad := CASE doc ->> 'kind'
        WHEN 'policy.set' THEN CASE
            WHEN NEW.model_name IS DISTINCT FROM (doc #>> '{subject,model}') THEN 'model_name'
            WHEN NEW.policy IS DISTINCT FROM nullif(doc #> '{body,policy}', 'null'::jsonb) THEN 'policy'
            WHEN NEW.set_by IS DISTINCT FROM (doc ->> 'actor') THEN 'set_by'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            END
        ELSE 'an entry of kind policy.set' END;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'mlaudit: refused: a % row names ledger entry %, which does not say the same (%)',
            TG_TABLE_NAME, NEW.seq, bad USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS model_policies_guard ON model_policies;
CREATE CONSTRAINT TRIGGER model_policies_guard AFTER INSERT ON model_policies
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION mlaudit_guard_model_policies();
ALTER TABLE model_policies ENABLE ALWAYS TRIGGER model_policies_guard;

CREATE OR REPLACE FUNCTION mlaudit_guard_promotion_revisions() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    doc jsonb;
    prev promotion_revisions%ROWTYPE;
    earlier boolean;
    bad text;
BEGIN
    SELECT convert_from(e.canonical, 'UTF8')::jsonb INTO doc FROM ledger_entries e
        WHERE e.seq = NEW.seq;
    SELECT * INTO prev FROM promotion_revisions r WHERE r.id = NEW.id AND r.seq < NEW.seq
        ORDER BY r.seq DESC LIMIT 1;
    earlier := FOUND;
    bad := CASE doc ->> 'kind'
        WHEN 'promotion.requested' THEN CASE
            WHEN earlier THEN 'no earlier revision'
            WHEN NEW.id IS DISTINCT FROM (doc #>> '{subject,promotion}') THEN 'id'
            WHEN NEW.model_name IS DISTINCT FROM (doc #>> '{subject,model}') THEN 'model_name'
            WHEN NEW.version::text IS DISTINCT FROM (doc #>> '{subject,version}') THEN 'version'
            WHEN NEW.target IS DISTINCT FROM (doc #>> '{body,target}') THEN 'target'
            WHEN NEW.justification IS DISTINCT FROM (doc #>> '{body,justification}') THEN 'justification'
            WHEN NEW.classification IS DISTINCT FROM (doc #>> '{body,classification}') THEN 'classification'
            WHEN NEW.requested_by IS DISTINCT FROM (doc ->> 'actor') THEN 'requested_by'
            WHEN NEW.status IS DISTINCT FROM 'pending' THEN 'status'
            WHEN NEW.gates IS DISTINCT FROM nullif(doc #> '{body,gates}', 'null'::jsonb) THEN 'gates'
            WHEN NEW.policy_seq::text IS DISTINCT FROM (doc #>> '{body,gates,policy_seq}') THEN 'policy_seq'
            WHEN NEW.created_seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'created_seq'
            WHEN NEW.closed_seq IS DISTINCT FROM NULL THEN 'closed_seq'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            WHEN coalesce((SELECT r.run_id IS NULL FROM model_version_revisions r WHERE r.model_name = NEW.model_name AND r.version = NEW.version AND r.seq < NEW.seq ORDER BY r.seq DESC LIMIT 1), false) THEN 'a pinned version'
            END
        WHEN 'decision.approved' THEN CASE
            WHEN NOT earlier THEN 'an earlier revision'
            WHEN NEW.id IS DISTINCT FROM (doc #>> '{subject,promotion}') THEN 'id'
            WHEN NEW.model_name IS DISTINCT FROM prev.model_name THEN 'model_name'
            WHEN NEW.version IS DISTINCT FROM prev.version THEN 'version'
            WHEN NEW.target IS DISTINCT FROM prev.target THEN 'target'
            WHEN NEW.justification IS DISTINCT FROM prev.justification THEN 'justification'
            WHEN NEW.classification IS DISTINCT FROM prev.classification THEN 'classification'
            WHEN NEW.requested_by IS DISTINCT FROM prev.requested_by THEN 'requested_by'
            WHEN NEW.status IS DISTINCT FROM 'approved' THEN 'status'
            WHEN NEW.gates IS DISTINCT FROM prev.gates THEN 'gates'
            WHEN NEW.policy_seq IS DISTINCT FROM prev.policy_seq THEN 'policy_seq'
            WHEN NEW.created_seq IS DISTINCT FROM prev.created_seq THEN 'created_seq'
            WHEN NEW.closed_seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'closed_seq'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            WHEN prev.status IS DISTINCT FROM 'pending' THEN 'a pending promotion'
            WHEN (SELECT count(DISTINCT coalesce(d.principal_id, d.approver)) FROM decisions d WHERE d.promotion_id = NEW.id AND d.outcome = 'approve' AND d.seq <= NEW.seq) < (SELECT m.quorum FROM registered_models m WHERE m.name = NEW.model_name) THEN 'the quorum'
            END
        WHEN 'decision.rejected' THEN CASE
            WHEN NOT earlier THEN 'an earlier revision'
            WHEN NEW.id IS DISTINCT FROM (doc #>> '{subject,promotion}') THEN 'id'
            WHEN NEW.model_name IS DISTINCT FROM prev.model_name THEN 'model_name'
            WHEN NEW.version IS DISTINCT FROM prev.version THEN 'version'
            WHEN NEW.target IS DISTINCT FROM prev.target THEN 'target'
            WHEN NEW.justification IS DISTINCT FROM prev.justification THEN 'justification'
            WHEN NEW.classification IS DISTINCT FROM prev.classification THEN 'classification'
            WHEN NEW.requested_by IS DISTINCT FROM prev.requested_by THEN 'requested_by'
            WHEN NEW.status IS DISTINCT FROM 'rejected' THEN 'status'
            WHEN NEW.gates IS DISTINCT FROM prev.gates THEN 'gates'
            WHEN NEW.policy_seq IS DISTINCT FROM prev.policy_seq THEN 'policy_seq'
            WHEN NEW.created_seq IS DISTINCT FROM prev.created_seq THEN 'created_seq'
            WHEN NEW.closed_seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'closed_seq'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            WHEN prev.status IS DISTINCT FROM 'pending' THEN 'a pending promotion'
            END
        WHEN 'promotion.withdrawn' THEN CASE
            WHEN NOT earlier THEN 'an earlier revision'
            WHEN NEW.id IS DISTINCT FROM (doc #>> '{subject,promotion}') THEN 'id'
            WHEN NEW.model_name IS DISTINCT FROM prev.model_name THEN 'model_name'
            WHEN NEW.version IS DISTINCT FROM prev.version THEN 'version'
            WHEN NEW.target IS DISTINCT FROM prev.target THEN 'target'
            WHEN NEW.justification IS DISTINCT FROM prev.justification THEN 'justification'
            WHEN NEW.classification IS DISTINCT FROM prev.classification THEN 'classification'
            WHEN NEW.requested_by IS DISTINCT FROM prev.requested_by THEN 'requested_by'
            WHEN NEW.status IS DISTINCT FROM 'withdrawn' THEN 'status'
            WHEN NEW.gates IS DISTINCT FROM prev.gates THEN 'gates'
            WHEN NEW.policy_seq IS DISTINCT FROM prev.policy_seq THEN 'policy_seq'
            WHEN NEW.created_seq IS DISTINCT FROM prev.created_seq THEN 'created_seq'
            WHEN NEW.closed_seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'closed_seq'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            WHEN prev.status IS DISTINCT FROM 'pending' THEN 'a pending promotion'
            END
        WHEN 'promotion.invalidated' THEN CASE
            WHEN NOT earlier THEN 'an earlier revision'
            WHEN NEW.id IS DISTINCT FROM (doc #>> '{subject,promotion}') THEN 'id'
            WHEN NEW.model_name IS DISTINCT FROM prev.model_name THEN 'model_name'
            WHEN NEW.version IS DISTINCT FROM prev.version THEN 'version'
            WHEN NEW.target IS DISTINCT FROM prev.target THEN 'target'
            WHEN NEW.justification IS DISTINCT FROM prev.justification THEN 'justification'
            WHEN NEW.classification IS DISTINCT FROM prev.classification THEN 'classification'
            WHEN NEW.requested_by IS DISTINCT FROM prev.requested_by THEN 'requested_by'
            WHEN NEW.status IS DISTINCT FROM 'invalidated' THEN 'status'
            WHEN NEW.gates IS DISTINCT FROM prev.gates THEN 'gates'
            WHEN NEW.policy_seq IS DISTINCT FROM prev.policy_seq THEN 'policy_seq'
            WHEN NEW.created_seq IS DISTINCT FROM prev.created_seq THEN 'created_seq'
            WHEN NEW.closed_seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'closed_seq'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            WHEN prev.status IS DISTINCT FROM 'pending' THEN 'a pending promotion'
            END
        ELSE 'an entry of kind promotion.requested, decision.approved, decision.rejected, promotion.withdrawn, promotion.invalidated' END;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'mlaudit: refused: a % row names ledger entry %, which does not say the same (%)',
            TG_TABLE_NAME, NEW.seq, bad USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS promotion_revisions_guard ON promotion_revisions;
CREATE CONSTRAINT TRIGGER promotion_revisions_guard AFTER INSERT ON promotion_revisions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION mlaudit_guard_promotion_revisions();
ALTER TABLE promotion_revisions ENABLE ALWAYS TRIGGER promotion_revisions_guard;

CREATE OR REPLACE FUNCTION mlaudit_guard_decisions() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    doc jsonb;
    bad text;
BEGIN
    SELECT convert_from(e.canonical, 'UTF8')::jsonb INTO doc FROM ledger_entries e
        WHERE e.seq = NEW.seq;
    bad := CASE doc ->> 'kind'
        WHEN 'decision.approved' THEN CASE
            WHEN NEW.promotion_id IS DISTINCT FROM (doc #>> '{subject,promotion}') THEN 'promotion_id'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            WHEN NEW.approver IS DISTINCT FROM (doc #>> '{body,approver}') THEN 'approver'
            WHEN NEW.role IS DISTINCT FROM (doc #>> '{body,role}') THEN 'role'
            WHEN NEW.outcome IS DISTINCT FROM (CASE doc ->> 'kind' WHEN 'decision.approved' THEN 'approve' WHEN 'decision.rejected' THEN 'reject' ELSE 'refused' END) THEN 'outcome'
            WHEN NEW.comment IS DISTINCT FROM (doc #>> '{body,comment}') THEN 'comment'
            WHEN NEW.exception IS DISTINCT FROM nullif(doc #> '{body,exception}', 'null'::jsonb) THEN 'exception'
            WHEN NEW.version_digest IS DISTINCT FROM (doc #>> '{body,version_digest}') THEN 'version_digest'
            WHEN NEW.gates IS DISTINCT FROM nullif(doc #> '{body,gates}', 'null'::jsonb) THEN 'gates'
            WHEN NEW.principal_id IS DISTINCT FROM (doc #>> '{body,principal}') THEN 'principal_id'
            WHEN coalesce(NEW.principal_id, mlaudit_principal_of(NEW.approver, NULL), NEW.approver) = (SELECT coalesce(mlaudit_principal_of(p.requested_by, NULL), p.requested_by) FROM promotions p WHERE p.id = NEW.promotion_id) THEN 'an approver who did not request it'
            WHEN coalesce(NEW.principal_id, mlaudit_principal_of(NEW.approver, NULL), NEW.approver) IN (SELECT coalesce(mlaudit_principal_of(v.created_by, NULL), v.created_by) FROM promotions p JOIN model_versions v ON v.model_name = p.model_name AND v.version = p.version WHERE p.id = NEW.promotion_id UNION SELECT coalesce(mlaudit_principal_of(r.created_by, NULL), r.created_by) FROM promotions p JOIN model_versions v ON v.model_name = p.model_name AND v.version = p.version JOIN runs r ON r.id = v.run_id WHERE p.id = NEW.promotion_id) THEN 'an approver who did not build it'
            WHEN EXISTS (SELECT 1 FROM principals x WHERE x.id = NEW.principal_id AND x.kind <> 'person') THEN 'an approver who is a person'
            WHEN NEW.principal_id IS DISTINCT FROM mlaudit_principal_of(NEW.approver, NEW.seq) THEN 'the principal its token belongs to'
            END
        WHEN 'decision.rejected' THEN CASE
            WHEN NEW.promotion_id IS DISTINCT FROM (doc #>> '{subject,promotion}') THEN 'promotion_id'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            WHEN NEW.approver IS DISTINCT FROM (doc #>> '{body,approver}') THEN 'approver'
            WHEN NEW.role IS DISTINCT FROM (doc #>> '{body,role}') THEN 'role'
            WHEN NEW.outcome IS DISTINCT FROM (CASE doc ->> 'kind' WHEN 'decision.approved' THEN 'approve' WHEN 'decision.rejected' THEN 'reject' ELSE 'refused' END) THEN 'outcome'
            WHEN NEW.comment IS DISTINCT FROM (doc #>> '{body,comment}') THEN 'comment'
            WHEN NEW.exception IS DISTINCT FROM nullif(doc #> '{body,exception}', 'null'::jsonb) THEN 'exception'
            WHEN NEW.version_digest IS DISTINCT FROM (doc #>> '{body,version_digest}') THEN 'version_digest'
            WHEN NEW.gates IS DISTINCT FROM nullif(doc #> '{body,gates}', 'null'::jsonb) THEN 'gates'
            WHEN NEW.principal_id IS DISTINCT FROM (doc #>> '{body,principal}') THEN 'principal_id'
            WHEN NEW.principal_id IS DISTINCT FROM mlaudit_principal_of(NEW.approver, NEW.seq) THEN 'the principal its token belongs to'
            END
        WHEN 'decision.refused' THEN CASE
            WHEN NEW.promotion_id IS DISTINCT FROM (doc #>> '{subject,promotion}') THEN 'promotion_id'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            WHEN NEW.approver IS DISTINCT FROM (doc #>> '{body,approver}') THEN 'approver'
            WHEN NEW.role IS DISTINCT FROM (doc #>> '{body,role}') THEN 'role'
            WHEN NEW.outcome IS DISTINCT FROM (CASE doc ->> 'kind' WHEN 'decision.approved' THEN 'approve' WHEN 'decision.rejected' THEN 'reject' ELSE 'refused' END) THEN 'outcome'
            WHEN NEW.comment IS DISTINCT FROM (doc #>> '{body,comment}') THEN 'comment'
            WHEN NEW.exception IS DISTINCT FROM nullif(doc #> '{body,exception}', 'null'::jsonb) THEN 'exception'
            WHEN NEW.version_digest IS DISTINCT FROM (doc #>> '{body,version_digest}') THEN 'version_digest'
            WHEN NEW.gates IS DISTINCT FROM nullif(doc #> '{body,gates}', 'null'::jsonb) THEN 'gates'
            WHEN NEW.principal_id IS DISTINCT FROM (doc #>> '{body,principal}') THEN 'principal_id'
            WHEN NEW.principal_id IS DISTINCT FROM mlaudit_principal_of(NEW.approver, NEW.seq) THEN 'the principal its token belongs to'
            END
        ELSE 'an entry of kind decision.approved, decision.rejected, decision.refused' END;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'mlaudit: refused: a % row names ledger entry %, which does not say the same (%)',
            TG_TABLE_NAME, NEW.seq, bad USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS decisions_guard ON decisions;
CREATE CONSTRAINT TRIGGER decisions_guard AFTER INSERT ON decisions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION mlaudit_guard_decisions();
ALTER TABLE decisions ENABLE ALWAYS TRIGGER decisions_guard;

CREATE OR REPLACE FUNCTION mlaudit_guard_deployments() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    doc jsonb;
    bad text;
BEGIN
    SELECT convert_from(e.canonical, 'UTF8')::jsonb INTO doc FROM ledger_entries e
        WHERE e.seq = NEW.seq;
    bad := CASE doc ->> 'kind'
        WHEN 'deployment.recorded' THEN CASE
            WHEN NEW.id IS DISTINCT FROM (doc #>> '{subject,deployment}') THEN 'id'
            WHEN NEW.model_name IS DISTINCT FROM (doc #>> '{subject,model}') THEN 'model_name'
            WHEN NEW.version::text IS DISTINCT FROM (doc #>> '{body,version}') THEN 'version'
            WHEN NEW.environment IS DISTINCT FROM (doc #>> '{body,environment}') THEN 'environment'
            WHEN NEW.deployer IS DISTINCT FROM (doc ->> 'actor') THEN 'deployer'
            WHEN NEW.target IS DISTINCT FROM nullif(doc #> '{body,target}', 'null'::jsonb) THEN 'target'
            WHEN NEW.promotion_id IS DISTINCT FROM (doc #>> '{body,promotion}') THEN 'promotion_id'
            WHEN NEW.rollback_of IS DISTINCT FROM (doc #>> '{body,rollback_of}') THEN 'rollback_of'
            WHEN NEW.reason IS DISTINCT FROM (doc #>> '{body,reason}') THEN 'reason'
            WHEN NEW.deployed_at IS DISTINCT FROM (doc ->> 'recorded_at')::timestamptz THEN 'deployed_at'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            WHEN NEW.promotion_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM promotions p WHERE p.id = NEW.promotion_id AND p.status = 'approved' AND p.model_name = NEW.model_name AND p.version = NEW.version) THEN 'an approved promotion of the version'
            WHEN NOT EXISTS (SELECT 1 FROM environment_revisions e WHERE e.name = NEW.environment AND (e.seq < NEW.seq OR e.adopted)) THEN 'a declared environment'
            WHEN NEW.promotion_id IS NULL AND coalesce((SELECT e.protected FROM environment_revisions e WHERE e.name = NEW.environment AND e.seq < NEW.seq ORDER BY e.seq DESC LIMIT 1), false) THEN 'an approved promotion for a protected environment'
            END
        WHEN 'deployment.rolled_back' THEN CASE
            WHEN NEW.id IS DISTINCT FROM (doc #>> '{subject,deployment}') THEN 'id'
            WHEN NEW.model_name IS DISTINCT FROM (doc #>> '{subject,model}') THEN 'model_name'
            WHEN NEW.version::text IS DISTINCT FROM (doc #>> '{body,version}') THEN 'version'
            WHEN NEW.environment IS DISTINCT FROM (doc #>> '{body,environment}') THEN 'environment'
            WHEN NEW.deployer IS DISTINCT FROM (doc ->> 'actor') THEN 'deployer'
            WHEN NEW.target IS DISTINCT FROM nullif(doc #> '{body,target}', 'null'::jsonb) THEN 'target'
            WHEN NEW.promotion_id IS DISTINCT FROM (doc #>> '{body,promotion}') THEN 'promotion_id'
            WHEN NEW.rollback_of IS DISTINCT FROM (doc #>> '{body,rollback_of}') THEN 'rollback_of'
            WHEN NEW.reason IS DISTINCT FROM (doc #>> '{body,reason}') THEN 'reason'
            WHEN NEW.deployed_at IS DISTINCT FROM (doc ->> 'recorded_at')::timestamptz THEN 'deployed_at'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            WHEN NEW.promotion_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM promotions p WHERE p.id = NEW.promotion_id AND p.status = 'approved' AND p.model_name = NEW.model_name AND p.version = NEW.version) THEN 'an approved promotion of the version'
            WHEN NOT EXISTS (SELECT 1 FROM environment_revisions e WHERE e.name = NEW.environment AND (e.seq < NEW.seq OR e.adopted)) THEN 'a declared environment'
            WHEN NEW.promotion_id IS NULL AND coalesce((SELECT e.protected FROM environment_revisions e WHERE e.name = NEW.environment AND e.seq < NEW.seq ORDER BY e.seq DESC LIMIT 1), false) THEN 'an approved promotion for a protected environment'
            END
        ELSE 'an entry of kind deployment.recorded, deployment.rolled_back' END;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'mlaudit: refused: a % row names ledger entry %, which does not say the same (%)',
            TG_TABLE_NAME, NEW.seq, bad USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS deployments_guard ON deployments;
CREATE CONSTRAINT TRIGGER deployments_guard AFTER INSERT ON deployments
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION mlaudit_guard_deployments();
ALTER TABLE deployments ENABLE ALWAYS TRIGGER deployments_guard;

CREATE OR REPLACE FUNCTION mlaudit_guard_run_revisions() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    doc jsonb;
    prev run_revisions%ROWTYPE;
    earlier boolean;
    bad text;
BEGIN
    SELECT convert_from(e.canonical, 'UTF8')::jsonb INTO doc FROM ledger_entries e
        WHERE e.seq = NEW.seq;
    SELECT * INTO prev FROM run_revisions r WHERE r.id = NEW.id AND r.seq < NEW.seq
        ORDER BY r.seq DESC LIMIT 1;
    earlier := FOUND;
    bad := CASE doc ->> 'kind'
        WHEN 'run.created' THEN CASE
            WHEN earlier THEN 'no earlier revision'
            WHEN NEW.id IS DISTINCT FROM (doc #>> '{subject,run}') THEN 'id'
            WHEN NEW.experiment_id IS DISTINCT FROM (doc #>> '{subject,experiment}') THEN 'experiment_id'
            WHEN NEW.name IS DISTINCT FROM (doc #>> '{body,name}') THEN 'name'
            WHEN NEW.status IS DISTINCT FROM 'RUNNING' THEN 'status'
            WHEN NEW.source IS DISTINCT FROM nullif(doc #> '{body,source}', 'null'::jsonb) THEN 'source'
            WHEN NEW.parent_run_id IS DISTINCT FROM (doc #>> '{body,parent_run}') THEN 'parent_run_id'
            WHEN NEW.start_time::text IS DISTINCT FROM (doc #>> '{body,start_time}') THEN 'start_time'
            WHEN NEW.end_time IS DISTINCT FROM NULL THEN 'end_time'
            WHEN NEW.created_by IS DISTINCT FROM (doc ->> 'actor') THEN 'created_by'
            WHEN NEW.user_id IS DISTINCT FROM (doc #>> '{body,user_id}') THEN 'user_id'
            WHEN NEW.created_seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'created_seq'
            WHEN NEW.ended_seq IS DISTINCT FROM NULL THEN 'ended_seq'
            WHEN NEW.manifest_sha256 IS DISTINCT FROM NULL THEN 'manifest_sha256'
            WHEN NEW.lifecycle IS DISTINCT FROM 'active' THEN 'lifecycle'
            WHEN NEW.lifecycle_seq IS DISTINCT FROM NULL THEN 'lifecycle_seq'
            WHEN NEW.renamed_seq IS DISTINCT FROM NULL THEN 'renamed_seq'
            WHEN NEW.reopened_seq IS DISTINCT FROM NULL THEN 'reopened_seq'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            END
        WHEN 'run.ended' THEN CASE
            WHEN NOT earlier THEN 'an earlier revision'
            WHEN NEW.id IS DISTINCT FROM (doc #>> '{subject,run}') THEN 'id'
            WHEN NEW.experiment_id IS DISTINCT FROM (doc #>> '{subject,experiment}') THEN 'experiment_id'
            WHEN NEW.name IS DISTINCT FROM prev.name THEN 'name'
            WHEN NEW.status IS DISTINCT FROM (doc #>> '{body,status}') THEN 'status'
            WHEN NEW.source IS DISTINCT FROM prev.source THEN 'source'
            WHEN NEW.parent_run_id IS DISTINCT FROM prev.parent_run_id THEN 'parent_run_id'
            WHEN NEW.start_time IS DISTINCT FROM prev.start_time THEN 'start_time'
            WHEN NEW.end_time::text IS DISTINCT FROM (doc #>> '{body,end_time}') THEN 'end_time'
            WHEN NEW.created_by IS DISTINCT FROM prev.created_by THEN 'created_by'
            WHEN NEW.user_id IS DISTINCT FROM prev.user_id THEN 'user_id'
            WHEN NEW.created_seq IS DISTINCT FROM prev.created_seq THEN 'created_seq'
            WHEN NEW.ended_seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'ended_seq'
            WHEN NEW.manifest_sha256 IS DISTINCT FROM (doc #>> '{body,manifest_sha256}') THEN 'manifest_sha256'
            WHEN NEW.lifecycle IS DISTINCT FROM prev.lifecycle THEN 'lifecycle'
            WHEN NEW.lifecycle_seq IS DISTINCT FROM prev.lifecycle_seq THEN 'lifecycle_seq'
            WHEN NEW.renamed_seq IS DISTINCT FROM prev.renamed_seq THEN 'renamed_seq'
            WHEN NEW.reopened_seq IS DISTINCT FROM prev.reopened_seq THEN 'reopened_seq'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            END
        WHEN 'run.reopened' THEN CASE
            WHEN NOT earlier THEN 'an earlier revision'
            WHEN NEW.id IS DISTINCT FROM (doc #>> '{subject,run}') THEN 'id'
            WHEN NEW.experiment_id IS DISTINCT FROM (doc #>> '{subject,experiment}') THEN 'experiment_id'
            WHEN NEW.name IS DISTINCT FROM prev.name THEN 'name'
            WHEN NEW.status IS DISTINCT FROM 'RUNNING' THEN 'status'
            WHEN NEW.source IS DISTINCT FROM prev.source THEN 'source'
            WHEN NEW.parent_run_id IS DISTINCT FROM prev.parent_run_id THEN 'parent_run_id'
            WHEN NEW.start_time IS DISTINCT FROM prev.start_time THEN 'start_time'
            WHEN NEW.end_time IS DISTINCT FROM NULL THEN 'end_time'
            WHEN NEW.created_by IS DISTINCT FROM prev.created_by THEN 'created_by'
            WHEN NEW.user_id IS DISTINCT FROM prev.user_id THEN 'user_id'
            WHEN NEW.created_seq IS DISTINCT FROM prev.created_seq THEN 'created_seq'
            WHEN NEW.ended_seq IS DISTINCT FROM NULL THEN 'ended_seq'
            WHEN NEW.manifest_sha256 IS DISTINCT FROM NULL THEN 'manifest_sha256'
            WHEN NEW.lifecycle IS DISTINCT FROM prev.lifecycle THEN 'lifecycle'
            WHEN NEW.lifecycle_seq IS DISTINCT FROM prev.lifecycle_seq THEN 'lifecycle_seq'
            WHEN NEW.renamed_seq IS DISTINCT FROM prev.renamed_seq THEN 'renamed_seq'
            WHEN NEW.reopened_seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'reopened_seq'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            END
        WHEN 'run.renamed' THEN CASE
            WHEN NOT earlier THEN 'an earlier revision'
            WHEN NEW.id IS DISTINCT FROM (doc #>> '{subject,run}') THEN 'id'
            WHEN NEW.experiment_id IS DISTINCT FROM (doc #>> '{subject,experiment}') THEN 'experiment_id'
            WHEN NEW.name IS DISTINCT FROM (doc #>> '{body,name}') THEN 'name'
            WHEN NEW.status IS DISTINCT FROM prev.status THEN 'status'
            WHEN NEW.source IS DISTINCT FROM prev.source THEN 'source'
            WHEN NEW.parent_run_id IS DISTINCT FROM prev.parent_run_id THEN 'parent_run_id'
            WHEN NEW.start_time IS DISTINCT FROM prev.start_time THEN 'start_time'
            WHEN NEW.end_time IS DISTINCT FROM prev.end_time THEN 'end_time'
            WHEN NEW.created_by IS DISTINCT FROM prev.created_by THEN 'created_by'
            WHEN NEW.user_id IS DISTINCT FROM prev.user_id THEN 'user_id'
            WHEN NEW.created_seq IS DISTINCT FROM prev.created_seq THEN 'created_seq'
            WHEN NEW.ended_seq IS DISTINCT FROM prev.ended_seq THEN 'ended_seq'
            WHEN NEW.manifest_sha256 IS DISTINCT FROM prev.manifest_sha256 THEN 'manifest_sha256'
            WHEN NEW.lifecycle IS DISTINCT FROM prev.lifecycle THEN 'lifecycle'
            WHEN NEW.lifecycle_seq IS DISTINCT FROM prev.lifecycle_seq THEN 'lifecycle_seq'
            WHEN NEW.renamed_seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'renamed_seq'
            WHEN NEW.reopened_seq IS DISTINCT FROM prev.reopened_seq THEN 'reopened_seq'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            END
        WHEN 'run.deleted' THEN CASE
            WHEN NOT earlier THEN 'an earlier revision'
            WHEN NEW.id IS DISTINCT FROM (doc #>> '{subject,run}') THEN 'id'
            WHEN NEW.experiment_id IS DISTINCT FROM (doc #>> '{subject,experiment}') THEN 'experiment_id'
            WHEN NEW.name IS DISTINCT FROM prev.name THEN 'name'
            WHEN NEW.status IS DISTINCT FROM prev.status THEN 'status'
            WHEN NEW.source IS DISTINCT FROM prev.source THEN 'source'
            WHEN NEW.parent_run_id IS DISTINCT FROM prev.parent_run_id THEN 'parent_run_id'
            WHEN NEW.start_time IS DISTINCT FROM prev.start_time THEN 'start_time'
            WHEN NEW.end_time IS DISTINCT FROM prev.end_time THEN 'end_time'
            WHEN NEW.created_by IS DISTINCT FROM prev.created_by THEN 'created_by'
            WHEN NEW.user_id IS DISTINCT FROM prev.user_id THEN 'user_id'
            WHEN NEW.created_seq IS DISTINCT FROM prev.created_seq THEN 'created_seq'
            WHEN NEW.ended_seq IS DISTINCT FROM prev.ended_seq THEN 'ended_seq'
            WHEN NEW.manifest_sha256 IS DISTINCT FROM prev.manifest_sha256 THEN 'manifest_sha256'
            WHEN NEW.lifecycle IS DISTINCT FROM 'deleted' THEN 'lifecycle'
            WHEN NEW.lifecycle_seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'lifecycle_seq'
            WHEN NEW.renamed_seq IS DISTINCT FROM prev.renamed_seq THEN 'renamed_seq'
            WHEN NEW.reopened_seq IS DISTINCT FROM prev.reopened_seq THEN 'reopened_seq'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            END
        WHEN 'run.restored' THEN CASE
            WHEN NOT earlier THEN 'an earlier revision'
            WHEN NEW.id IS DISTINCT FROM (doc #>> '{subject,run}') THEN 'id'
            WHEN NEW.experiment_id IS DISTINCT FROM (doc #>> '{subject,experiment}') THEN 'experiment_id'
            WHEN NEW.name IS DISTINCT FROM prev.name THEN 'name'
            WHEN NEW.status IS DISTINCT FROM prev.status THEN 'status'
            WHEN NEW.source IS DISTINCT FROM prev.source THEN 'source'
            WHEN NEW.parent_run_id IS DISTINCT FROM prev.parent_run_id THEN 'parent_run_id'
            WHEN NEW.start_time IS DISTINCT FROM prev.start_time THEN 'start_time'
            WHEN NEW.end_time IS DISTINCT FROM prev.end_time THEN 'end_time'
            WHEN NEW.created_by IS DISTINCT FROM prev.created_by THEN 'created_by'
            WHEN NEW.user_id IS DISTINCT FROM prev.user_id THEN 'user_id'
            WHEN NEW.created_seq IS DISTINCT FROM prev.created_seq THEN 'created_seq'
            WHEN NEW.ended_seq IS DISTINCT FROM prev.ended_seq THEN 'ended_seq'
            WHEN NEW.manifest_sha256 IS DISTINCT FROM prev.manifest_sha256 THEN 'manifest_sha256'
            WHEN NEW.lifecycle IS DISTINCT FROM 'active' THEN 'lifecycle'
            WHEN NEW.lifecycle_seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'lifecycle_seq'
            WHEN NEW.renamed_seq IS DISTINCT FROM prev.renamed_seq THEN 'renamed_seq'
            WHEN NEW.reopened_seq IS DISTINCT FROM prev.reopened_seq THEN 'reopened_seq'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            END
        ELSE 'an entry of kind run.created, run.ended, run.reopened, run.renamed, run.deleted, run.restored' END;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'mlaudit: refused: a % row names ledger entry %, which does not say the same (%)',
            TG_TABLE_NAME, NEW.seq, bad USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS run_revisions_guard ON run_revisions;
CREATE CONSTRAINT TRIGGER run_revisions_guard AFTER INSERT ON run_revisions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION mlaudit_guard_run_revisions();
ALTER TABLE run_revisions ENABLE ALWAYS TRIGGER run_revisions_guard;

CREATE OR REPLACE FUNCTION mlaudit_guard_reports_issued() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    doc jsonb;
    bad text;
BEGIN
    SELECT convert_from(e.canonical, 'UTF8')::jsonb INTO doc FROM ledger_entries e
        WHERE e.seq = NEW.seq;
    bad := CASE doc ->> 'kind'
        WHEN 'report.issued' THEN CASE
            WHEN NEW.report_id IS DISTINCT FROM (doc #>> '{subject,report}') THEN 'report_id'
            WHEN NEW.kind IS DISTINCT FROM (doc #>> '{body,kind}') THEN 'kind'
            WHEN NEW.subject IS DISTINCT FROM (doc #>> '{body,subject}') THEN 'subject'
            WHEN NEW.bundle_sha256 IS DISTINCT FROM (doc #>> '{body,bundle_sha256}') THEN 'bundle_sha256'
            WHEN NEW.pdf_sha256 IS DISTINCT FROM (doc #>> '{body,pdf_sha256}') THEN 'pdf_sha256'
            WHEN NEW.tree_size::text IS DISTINCT FROM (doc #>> '{body,tree_size}') THEN 'tree_size'
            WHEN NEW.issued_to IS DISTINCT FROM (doc #>> '{body,issued_to}') THEN 'issued_to'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            WHEN NEW.issued_at IS DISTINCT FROM (doc ->> 'recorded_at')::timestamptz THEN 'issued_at'
            END
        ELSE 'an entry of kind report.issued' END;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'mlaudit: refused: a % row names ledger entry %, which does not say the same (%)',
            TG_TABLE_NAME, NEW.seq, bad USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS reports_issued_guard ON reports_issued;
CREATE CONSTRAINT TRIGGER reports_issued_guard AFTER INSERT ON reports_issued
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION mlaudit_guard_reports_issued();
ALTER TABLE reports_issued ENABLE ALWAYS TRIGGER reports_issued_guard;

CREATE OR REPLACE FUNCTION mlaudit_guard_environment_revisions() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    doc jsonb;
    prev environment_revisions%ROWTYPE;
    earlier boolean;
    bad text;
BEGIN
    SELECT convert_from(e.canonical, 'UTF8')::jsonb INTO doc FROM ledger_entries e
        WHERE e.seq = NEW.seq;
    SELECT * INTO prev FROM environment_revisions r WHERE r.name = NEW.name AND r.seq < NEW.seq
        ORDER BY r.seq DESC LIMIT 1;
    earlier := FOUND;
    bad := CASE doc ->> 'kind'
        WHEN 'environment.declared' THEN CASE
            WHEN earlier THEN 'no earlier revision'
            WHEN NEW.name IS DISTINCT FROM (doc #>> '{subject,environment}') THEN 'name'
            WHEN NEW.protected IS DISTINCT FROM ((doc #>> '{body,protected}')::boolean) THEN 'protected'
            WHEN NEW.declared_by IS DISTINCT FROM (doc ->> 'actor') THEN 'declared_by'
            WHEN NEW.declared_seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'declared_seq'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            WHEN NEW.adopted IS DISTINCT FROM false THEN 'adopted'
            END
        WHEN 'environment.adopted' THEN CASE
            WHEN earlier THEN 'no earlier revision'
            WHEN NEW.name IS DISTINCT FROM (doc #>> '{subject,environment}') THEN 'name'
            WHEN NEW.protected IS DISTINCT FROM ((doc #>> '{body,protected}')::boolean) THEN 'protected'
            WHEN NEW.declared_by IS DISTINCT FROM (doc ->> 'actor') THEN 'declared_by'
            WHEN NEW.declared_seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'declared_seq'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            WHEN NEW.adopted IS DISTINCT FROM true THEN 'adopted'
            END
        WHEN 'environment.protection_set' THEN CASE
            WHEN NOT earlier THEN 'an earlier revision'
            WHEN NEW.name IS DISTINCT FROM (doc #>> '{subject,environment}') THEN 'name'
            WHEN NEW.protected IS DISTINCT FROM ((doc #>> '{body,protected}')::boolean) THEN 'protected'
            WHEN NEW.adopted IS DISTINCT FROM prev.adopted THEN 'adopted'
            WHEN NEW.declared_by IS DISTINCT FROM prev.declared_by THEN 'declared_by'
            WHEN NEW.declared_seq IS DISTINCT FROM prev.declared_seq THEN 'declared_seq'
            WHEN NEW.seq::text IS DISTINCT FROM (doc ->> 'seq') THEN 'seq'
            END
        ELSE 'an entry of kind environment.declared, environment.adopted, environment.protection_set' END;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'mlaudit: refused: a % row names ledger entry %, which does not say the same (%)',
            TG_TABLE_NAME, NEW.seq, bad USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS environment_revisions_guard ON environment_revisions;
CREATE CONSTRAINT TRIGGER environment_revisions_guard AFTER INSERT ON environment_revisions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION mlaudit_guard_environment_revisions();
ALTER TABLE environment_revisions ENABLE ALWAYS TRIGGER environment_revisions_guard;
-- END GENERATED

INSERT INTO mlaudit_schema (version) VALUES (7) ON CONFLICT (version) DO NOTHING;
