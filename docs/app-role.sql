-- Least-privilege role for the mlaudit service. Run as the schema owner after `mlaudit init`.
-- The service then needs no UPDATE, DELETE or TRUNCATE on any append-only table, and no DDL.
-- Replace the password, and the database name in GRANT CONNECT, with your own.
CREATE ROLE mlaudit_app LOGIN PASSWORD 'change-me';
GRANT CONNECT ON DATABASE mlaudit TO mlaudit_app;
GRANT USAGE ON SCHEMA public TO mlaudit_app;
GRANT SELECT ON mlaudit_schema TO mlaudit_app;
GRANT SELECT, INSERT ON ledger_entries, checkpoints, signing_keys, tokens TO mlaudit_app;
GRANT SELECT, INSERT ON token_revocations TO mlaudit_app;
-- The head row is the one row that moves: appends lock it (SELECT ... FOR UPDATE) and advance it.
GRANT SELECT, UPDATE ON ledger_head TO mlaudit_app;
-- Tracking projections are query copies rebuilt from the ledger: they may change.
GRANT SELECT, INSERT, UPDATE ON experiments, runs TO mlaudit_app;
GRANT SELECT, INSERT ON params, metrics, tag_events, run_inputs, client_keys TO mlaudit_app;
GRANT SELECT, INSERT ON run_input_mlflow TO mlaudit_app;
GRANT SELECT, INSERT, UPDATE ON artifacts TO mlaudit_app;
GRANT SELECT, INSERT, DELETE ON grants TO mlaudit_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON run_tags TO mlaudit_app;
GRANT USAGE ON SEQUENCE experiment_ids TO mlaudit_app;
-- Model registry projections.
GRANT SELECT, INSERT, UPDATE ON registered_models, model_versions, promotions TO mlaudit_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON model_aliases TO mlaudit_app;
GRANT SELECT, INSERT ON model_policies, decisions, deployments TO mlaudit_app;
-- MLflow registry metadata and MLflow 3 logged models (tags may be deleted: projections).
GRANT SELECT, INSERT, UPDATE, DELETE ON model_version_tags, logged_model_tags TO mlaudit_app;
GRANT SELECT, INSERT, UPDATE ON logged_models TO mlaudit_app;
GRANT SELECT, INSERT ON logged_model_params, run_outputs TO mlaudit_app;
-- Issued reports.
GRANT SELECT, INSERT ON reports_issued TO mlaudit_app;
