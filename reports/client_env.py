"""What the MLflow client reported about where a run was made, from the run's tags."""

from __future__ import annotations

from reports.evidence_run import RunEvidence

__all__ = ["CLIENT_KEYS", "CLIENT_OMITTED", "CLIENT_PREFIXES", "client_environment"]

CLIENT_KEYS = ("mlflow.user", "mlflow.source.name", "mlflow.source.type",
               "mlflow.source.git.commit", "mlflow.source.git.repoURL",
               "mlflow.source.git.branch")
"""Run tags the MLflow client sends about where and by whom a run was made."""
CLIENT_PREFIXES = ("mlflow.source.", "mlflow.docker.", "mlflow.project.")
CLIENT_OMITTED = ("mlflow.source.git.diff",)  # a whole diff: in the tags table, not here


def client_environment(run: RunEvidence) -> list[tuple[str, str]]:
    """(tag, value) of what the client reported about where the run was made: the user,
    source, git and container tags (the stock MLflow client sends no environment entry)."""
    return [(t.key, t.value) for t in run.tags
            if (t.key in CLIENT_KEYS or t.key.startswith(CLIENT_PREFIXES))
            and t.key not in CLIENT_OMITTED]
