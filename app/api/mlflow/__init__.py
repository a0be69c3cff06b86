"""The MLflow REST adapter (/api/2.0/mlflow, mlflow-artifacts) over the services."""
