-- Least-privilege role for the mlaudit service. Run as the schema owner after `mlaudit init`.
-- The service then writes only by INSERT: ledger entries, and the rows their reducers make
-- (app/kinds/). It cannot UPDATE, DELETE or TRUNCATE anything but the head row (and DELETE
-- the expired rows of the replay cache, which is not part of the ledger), and cannot
-- write the current-state tables at all: the database keeps those from the revisions and
-- events (SECURITY DEFINER triggers owned by the schema owner), and refuses at commit any
-- authority row (token, grant, revocation, key, model, version pin, stage, alias, promotion,
-- decision, deployment, environment, policy) that the entry it names does not say (schema.sql).
-- Replace the password, and the database name in GRANT CONNECT, with your own.
-- tests/test_least_privilege.py holds this list to the registry's tables.
CREATE ROLE mlaudit_app LOGIN PASSWORD 'change-me';
GRANT CONNECT ON DATABASE mlaudit TO mlaudit_app;
GRANT USAGE ON SCHEMA public TO mlaudit_app;
GRANT SELECT ON mlaudit_schema TO mlaudit_app;
GRANT SELECT, INSERT ON ledger_entries, checkpoints TO mlaudit_app;
-- The head row is the one row that moves: appends lock it (SELECT ... FOR UPDATE) and advance it.
GRANT SELECT, UPDATE ON ledger_head TO mlaudit_app;
-- Facts, revisions and events: insert-only.
GRANT SELECT, INSERT ON signing_keys, tokens, principals, token_principals, token_revocations,
    grant_events, client_keys,
    experiment_revisions, run_revisions, run_environments, params, metrics, tag_events,
    artifact_revisions, artifact_envelopes, run_inputs, run_input_mlflow, logged_model_revisions,
    logged_model_params, logged_model_tag_events, run_outputs, registered_model_revisions,
    model_version_revisions, model_version_tag_events, alias_events, model_policies,
    promotion_revisions, decisions, deployments, reports_issued, rules_adopted TO mlaudit_app;
-- Current state, kept by the database: read only.
GRANT SELECT ON experiments, grants, runs, run_tags, artifacts, logged_models, logged_model_tags,
    registered_models, model_versions, model_version_tags, model_aliases, promotions
    TO mlaudit_app;
-- The replay cache of client signatures (outside the projection set, see schema.sql): rows
-- are added as signed requests commit and removed once out of the replay window.
GRANT SELECT, INSERT, DELETE ON request_signatures_seen TO mlaudit_app;
-- Declared environments: revisions insert-only, current state kept by the database.
GRANT SELECT, INSERT ON environment_revisions TO mlaudit_app;
GRANT SELECT ON environments TO mlaudit_app;
-- Experiment ids are names handed out by a sequence, not ledger positions.
GRANT USAGE ON SEQUENCE experiment_ids TO mlaudit_app;
