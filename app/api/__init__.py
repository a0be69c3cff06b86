"""HTTP adapters: the kernel (http/), /api/v1 (v1/) and MLflow (mlflow/), siblings."""
