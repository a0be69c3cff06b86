"""Run sections: lineage (source, parents, data, environment), parameters, metrics, artifacts."""

from __future__ import annotations

from collections.abc import Sequence

from reports.client_env import client_environment
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
from reports.figures import figure

__all__ = [
    "ARTIFACT_COLUMNS", "ARTIFACT_HEADER", "artifact_cells", "artifacts", "group_counts",
    "lineage", "metrics", "parameters", "revision_lines", "run_facts", "short_digest",
    "signature", "signer_lines", "tags",
]

SHORT_DIGEST = 12
"""Hex digits of a digest printed in the body; the full digest is in the evidence bundle."""
ARTIFACT_HEADER = ("Path", "Bytes", "SHA-256 (first 12 hex)", "Signature", "Seq")
ARTIFACT_COLUMNS = (2.6, 0.8, 1.7, 1.6, 0.6)


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
        [str(depth), mono(p.run_id), p.name or "(none)", str(p.seq)] if p.seq is not None
        else [str(depth), mono(p.run_id), "not recorded in this ledger", "none"]
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
        [m.key, figure(m.value), str(m.step), m.timestamp, str(m.seq)] for m in run.metrics
    ]
    return out + [data_table(["Metric", "Value", "Step", "Logged at", "Seq"], rows,
                             [2.2, 1.4, 0.6, 2, 0.6])]


def short_digest(digest: str) -> str:
    """The first 12 hex digits of a digest and an ellipsis (the whole one when shorter)."""
    return digest if len(digest) <= SHORT_DIGEST else digest[:SHORT_DIGEST] + "\u2026"


def _key_id(signer: str) -> str:
    """The key id of a C2SP verifier key string (name+keyid+key), else the signer shortened."""
    parts = signer.split("+", 2)  # the key itself is base64 and may hold "+"
    return parts[1] if len(parts) == 3 else short_digest(signer)


def signature(a: ArtifactEvidence) -> str:
    """Signature status in words with the signer's key id; invalid is a flag for review."""
    if a.signature_status == "verified":
        return f"verified, key {_key_id(a.signer)}" if a.signer else "verified"
    if a.signature_status == "invalid":
        return "INVALID - flag for review"
    return a.signature_status


def artifact_cells(a: ArtifactEvidence) -> list[Cell]:
    """Path, size, short digest, signature and seq of one artifact (ARTIFACT_HEADER)."""
    return [mono(a.path), str(a.size), mono(short_digest(a.sha256)), signature(a), str(a.seq)]


def signer_lines(found: list[ArtifactEvidence]) -> list[Node]:
    """Once under an artifact table: who signed (key id and key name), where the full digests,
    DSSE envelope digests and keys are."""
    signers = sorted({a.signer for a in found if a.signer})
    named = "; ".join(f"{_key_id(s)} ({s.split('+')[0]})" if s.count("+") >= 2 else _key_id(s)
                      for s in signers)
    said = f"Artifact signatures by key id {named}. " if signers else ""
    return [para(f"{said}Full SHA-256 digests, DSSE envelope digests and the signing keys "
                 "are in the evidence bundle and the integrity appendix.", "caption")]


def revision_lines(found: Sequence[ArtifactEvidence]) -> list[Node]:
    """Under an artifact table: each path uploaded more than once, the revision shown (the
    latest) and the earlier ones, which stay recorded with their bytes."""
    out: list[Node] = []
    for a in found:
        if a.revisions > 1:
            earlier = "; ".join(f"{r.revision}: {short_digest(r.sha256)}, {r.size} bytes, "
                                f"seq {r.seq}" for r in a.earlier)
            out.append(para(f"{a.path}: revision {a.revisions} of {a.revisions} is shown. "
                            f"Earlier revisions, kept with their bytes: {earlier}.", "caption"))
    return out


def artifacts(run: RunEvidence, level: int = 1) -> list[Node]:
    """Artifacts with short digests and signature status; invalid signatures are flagged."""
    out: list[Node] = [heading("Artifacts", level)]
    if not run.artifacts:
        return out + [empty("No artifacts were recorded.")]
    rows = [artifact_cells(a) for a in run.artifacts]
    out += [data_table(ARTIFACT_HEADER, rows, ARTIFACT_COLUMNS),
            *signer_lines(list(run.artifacts)), *revision_lines(run.artifacts)]
    for a in run.artifacts:
        if a.signature_status == "invalid":
            out.append(flag(f"artifact {a.path}: its signature did not verify"))
    return out
