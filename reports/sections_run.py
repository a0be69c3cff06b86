"""Run sections: lineage (source, parents, data, environment), parameters, metrics, artifacts."""

from __future__ import annotations

from reports.doc import (
    Cell,
    Node,
    data_table,
    empty,
    flag,
    heading,
    kv_table,
    mono,
    para,
)
from reports.evidence import ArtifactEvidence, DatasetEvidence, RunEvidence

__all__ = [
    "artifacts", "client_environment", "group_counts", "lineage", "metrics", "parameters",
    "run_facts", "signature", "tags",
]

CLIENT_KEYS = ("mlflow.user", "mlflow.source.name", "mlflow.source.type",
               "mlflow.source.git.commit", "mlflow.source.git.repoURL",
               "mlflow.source.git.branch")
"""Run tags the MLflow client sends about where and by whom a run was made."""
CLIENT_PREFIXES = ("mlflow.source.", "mlflow.docker.", "mlflow.project.")
CLIENT_OMITTED = ("mlflow.source.git.diff",)  # a whole diff: in the tags table, not here


def run_facts(run: RunEvidence) -> list[tuple[str, Cell]]:
    """Identity and status of a run, as key/value rows."""
    return [
        ("Run id", mono(run.run_id)),
        ("Name", run.name or "(none)"),
        ("Experiment", f"{run.experiment_name} ({run.experiment_id})"),
        ("Status", run.status),
        ("Created by", run.created_by),
        ("Started", run.start_time),
        ("Ended", run.end_time or "not ended"),
        ("Manifest SHA-256", mono(run.manifest_sha256) if run.manifest_sha256 else "not recorded"),
        ("Entries", f"run.created seq {run.created_seq}; " + (
            "not ended" if run.ended_seq is None else f"run.ended seq {run.ended_seq}")),
    ]


def _source(run: RunEvidence) -> list[Node]:
    if not run.source:
        return [empty("No code source was recorded.")]
    rows: list[list[Cell]] = [[key, mono(value)] for key, value in run.source]
    return [data_table(["Source", "Value"], rows, [1, 3])]


def _parents(run: RunEvidence) -> list[Node]:
    if not run.parents:
        return [empty("This run has no parent run.")]
    rows: list[list[Cell]] = [
        [str(depth), mono(p.run_id), p.name or "(none)", str(p.seq)]
        for depth, p in enumerate(run.parents, start=1)
    ]
    return [data_table(["Level", "Parent run id", "Name", "Seq"], rows, [0.6, 3, 2, 0.6])]


def group_counts(ds: DatasetEvidence) -> str:
    """Records per group of a dataset, as one line."""
    if not ds.group_counts:
        return "not logged"
    return "; ".join(f"{c.attribute}={c.group}: {c.count}" for c in ds.group_counts)


def _datasets(run: RunEvidence) -> list[Node]:
    if not run.datasets:
        return [empty("No datasets were logged.")]
    rows: list[list[Cell]] = [
        [ds.name, ds.context, mono(ds.digest),
         "not logged" if ds.row_count is None else str(ds.row_count),
         group_counts(ds), str(ds.seq)]
        for ds in run.datasets
    ]
    header = ["Dataset", "Context", "Digest", "Rows", "Records per group", "Seq"]
    return [data_table(header, rows, [1.3, 0.9, 2.2, 0.7, 2.4, 0.5])]


def client_environment(run: RunEvidence) -> list[tuple[str, str]]:
    """(tag, value) of what the client reported about where the run was made: the user,
    source, git and container tags (the stock MLflow client sends no environment entry)."""
    return [(t.key, t.value) for t in run.tags
            if (t.key in CLIENT_KEYS or t.key.startswith(CLIENT_PREFIXES))
            and t.key not in CLIENT_OMITTED]


def _reported(run: RunEvidence) -> list[Node]:
    found = client_environment(run)
    if not found:
        return [empty("No execution environment was recorded: no environment entry, and the "
                      "client sent no user, source, git or container tags.")]
    return [para("No environment entry was recorded (the stock MLflow client sends none); "
                 "as reported by the client in the run's tags:", "lead"),
            kv_table([(key, mono(value)) for key, value in found])]


def _environment(run: RunEvidence) -> list[Node]:
    env = run.environment
    if env is None:
        return _reported(run)
    packages = ", ".join(f"{name} {version}" for name, version in env.packages)
    return [kv_table([
        ("Python", env.python_version),
        ("OS / architecture", f"{env.os} / {env.architecture}"),
        ("Hardware", env.hardware or "not recorded"),
        ("Container image", mono(env.container_image_digest or "not recorded")),
        ("Lockfile SHA-256", mono(env.lockfile_sha256 or "not recorded")),
        ("Packages", packages or "none listed"),
        ("Seq", str(env.seq)),
    ])]


def lineage(run: RunEvidence, level: int = 1) -> list[Node]:
    """Run identity, code source, parent runs, datasets and environment."""
    return [
        heading("Lineage", level), kv_table(run_facts(run)),
        heading("Code source", level + 1), *_source(run),
        *tags(run, level + 1),
        heading("Parent runs", level + 1), *_parents(run),
        heading("Datasets", level + 1), *_datasets(run),
        heading("Environment", level + 1), *_environment(run),
    ]


def tags(run: RunEvidence, level: int = 1) -> list[Node]:
    """Every current tag of the run, `mlflow.*` included as the client sent them, by key."""
    out: list[Node] = [heading("Tags", level)]
    if not run.tags:
        return out + [empty("No tags were set.")]
    rows: list[list[Cell]] = [[mono(t.key), mono(t.value), str(t.seq)] for t in run.tags]
    return out + [data_table(["Tag", "Value", "Seq"], rows, [2.2, 3.8, 0.6])]


def parameters(run: RunEvidence, level: int = 1) -> list[Node]:
    """Logged parameters, or an honest statement that none were."""
    out: list[Node] = [heading("Parameters", level)]
    if not run.params:
        return out + [empty("No parameters were logged.")]
    rows: list[list[Cell]] = [[p.key, mono(p.value), str(p.seq)] for p in run.params]
    return out + [data_table(["Parameter", "Value", "Seq"], rows, [2, 4, 0.6])]


def metrics(run: RunEvidence, level: int = 1) -> list[Node]:
    """Latest overall metric values, or an honest statement that none were logged."""
    out: list[Node] = [heading("Overall metrics", level)]
    if not run.metrics:
        return out + [empty("No metrics were logged.")]
    rows: list[list[Cell]] = [
        [m.key, m.value, str(m.step), m.timestamp, str(m.seq)] for m in run.metrics
    ]
    return out + [data_table(["Metric", "Value", "Step", "Logged at", "Seq"], rows,
                             [2.2, 1.4, 0.6, 2, 0.6])]


def signature(a: ArtifactEvidence) -> str:
    """Signature status in words; an invalid signature is a flag for review."""
    if a.signature_status == "verified":
        return f"verified ({a.signer})" if a.signer else "verified"
    if a.signature_status == "invalid":
        return "INVALID - flag for review"
    return a.signature_status


def artifacts(run: RunEvidence, level: int = 1) -> list[Node]:
    """Artifacts with digests and signature status; invalid signatures are flagged."""
    out: list[Node] = [heading("Artifacts", level)]
    if not run.artifacts:
        return out + [empty("No artifacts were recorded.")]
    rows: list[list[Cell]] = [
        [mono(a.path), mono(a.sha256), str(a.size), signature(a),
         mono(a.envelope_sha256 or "none"), str(a.seq)]
        for a in run.artifacts
    ]
    header = ["Path", "SHA-256", "Bytes", "Signature", "DSSE envelope SHA-256", "Seq"]
    out.append(data_table(header, rows, [1.6, 2.3, 0.7, 1.3, 2.3, 0.5]))
    for a in run.artifacts:
        if a.signature_status == "invalid":
            out.append(flag(f"artifact {a.path}: its signature did not verify"))
    return out
