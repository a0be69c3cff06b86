"""The MLflow REST adapter (/api/2.0/mlflow, mlflow-artifacts) over the services."""

# The MLflow release whose REST API these routes implement (the stock client of that version
# drives tests/mlflow/): GET /version answers it, as MLflow's server answers its own, so the
# client's version-gated features (span logging needs >= 3.4) see it; server-info says it too.
MLFLOW_API_VERSION = "3.17.2"
