"""Evidence dataclasses for runs (lineage, parameters, metrics, data, artifacts) and experiments."""

from __future__ import annotations

from dataclasses import dataclass

from reports.evidence_groups import GroupSummaryEvidence
from reports.evidence_meta import ReportMeta

__all__ = [
    "ArtifactEvidence",
    "ArtifactRevisionEvidence",
    "DatasetEvidence",
    "EnvironmentEvidence",
    "ExperimentReportEvidence",
    "GroupCountEvidence",
    "MetricEvidence",
    "ParamEvidence",
    "RunEvidence",
    "RunRef",
    "RunReportEvidence",
    "TagEvidence",
]


@dataclass(frozen=True)
class RunRef:
    """A run named by another one (a parent in the lineage chain).

    Attributes:
        run_id: the run's id.
        name: the run's name ("" if it has none).
        seq: seq of the parent's `run.created` entry; None for a parent that is named but not
            recorded in the ledger (MLflow's `mlflow.parentRunId` tag may name any id), which
            ends the chain.
    """

    run_id: str
    name: str
    seq: int | None


@dataclass(frozen=True)
class ParamEvidence:
    """One logged parameter.

    Attributes:
        key: parameter name.
        value: parameter value, the text that was logged.
        seq: seq of the `params.logged` entry that carried it.
    """

    key: str
    value: str
    seq: int


@dataclass(frozen=True)
class MetricEvidence:
    """The latest overall (ungrouped) value of one metric.

    Attributes:
        key: metric name.
        value: decimal string as stored ("0.8123", "NaN", "Infinity").
        step: the step it was logged at.
        timestamp: RFC 3339 time the client gave for the value.
        seq: seq of the `metrics.logged` entry that carried it.
    """

    key: str
    value: str
    step: int
    timestamp: str
    seq: int


@dataclass(frozen=True)
class TagEvidence:
    """A run tag's current value (`tags.set`), as the client sent it (`mlflow.*` included).

    Attributes:
        key: the tag's key.
        value: its latest value.
        seq: seq of the `tags.set` entry that set that value.
    """

    key: str
    value: str
    seq: int


@dataclass(frozen=True)
class GroupCountEvidence:
    """How many records of a dataset fall in one group of one sensitive attribute.

    Attributes:
        attribute: sensitive attribute, e.g. "sex".
        group: group name, e.g. "female" (or "unknown" for missing demographics).
        count: number of records.
    """

    attribute: str
    group: str
    count: int


@dataclass(frozen=True)
class DatasetEvidence:
    """One dataset input of a run (`inputs.logged`).

    Attributes:
        name: dataset name.
        digest: the dataset digest as logged.
        context: "training", "validation", "test", "evaluation" or "other".
        source_uri: where it came from, or None.
        row_count: number of rows, or None when not logged.
        group_counts: records per group of each sensitive attribute (empty when not logged).
        seq: seq of the `inputs.logged` entry.
    """

    name: str
    digest: str
    context: str
    source_uri: str | None
    row_count: int | None
    group_counts: tuple[GroupCountEvidence, ...]
    seq: int


@dataclass(frozen=True)
class ArtifactRevisionEvidence:
    """An earlier revision of an artifact path, superseded by a later upload (kept, with its
    bytes: 21 CFR 11.10(e), changes do not obscure earlier records).

    Attributes:
        revision: 1 for the path's first upload, then 2, 3, ...
        sha256: hex SHA-256 of that revision's content.
        size: size in bytes.
        seq: seq of its artifact entry.
    """

    revision: int
    sha256: str
    size: int
    seq: int


@dataclass(frozen=True)
class ArtifactEvidence:
    """One artifact of a run (`artifact.recorded` or `artifact.registered`): the latest
    revision of its path, and the earlier ones.

    Attributes:
        path: artifact path within the run.
        sha256: hex SHA-256 of the content (the latest revision).
        size: size in bytes.
        signature_status: "verified" (the DSSE envelope's signature checked at generation
            time), "invalid" (it did not check; flagged for review) or "unsigned".
        signer: key id or verifier key string of the signer, or None.
        envelope_sha256: hex SHA-256 of the DSSE envelope's canonical bytes, or None.
        seq: seq of the artifact entry.
        revisions: how many revisions the path has (this is the last).
        earlier: the earlier revisions, oldest first (bundles made before revisions existed
            omit this and `revisions`).
    """

    path: str
    sha256: str
    size: int
    signature_status: str
    signer: str | None
    envelope_sha256: str | None
    seq: int
    revisions: int = 1
    earlier: tuple[ArtifactRevisionEvidence, ...] = ()


@dataclass(frozen=True)
class EnvironmentEvidence:
    """The execution environment of a run (`environment.recorded`).

    Attributes:
        python_version: e.g. "3.11.9".
        os: operating system description.
        architecture: e.g. "x86_64".
        hardware: hardware description ("" when not given).
        container_image_digest: image digest, or None.
        lockfile_sha256: hex SHA-256 of the lockfile, or None.
        packages: (name, version) pairs in the order to print.
        seq: seq of the `environment.recorded` entry.
    """

    python_version: str
    os: str
    architecture: str
    hardware: str
    container_image_digest: str | None
    lockfile_sha256: str | None
    packages: tuple[tuple[str, str], ...]
    seq: int


@dataclass(frozen=True)
class RunEvidence:
    """Everything a report shows about one run.

    Attributes:
        run_id: the run's id.
        name: the run's name ("" if it has none).
        experiment_id: the experiment's id.
        experiment_name: the experiment's name.
        status: "RUNNING", "FINISHED", "FAILED" or "KILLED".
        created_by: the actor of the `run.created` entry (for the separation-of-duties check).
        created_by_person: `principal:<name>` of that actor's token, else the actor.
        start_time: RFC 3339 start time.
        end_time: RFC 3339 end time, or None while running.
        source: (key, value) pairs of the code source (git_commit, repository, pipeline_id, ...).
        parents: the parent chain, nearest parent first; empty for a top-level run.
        params: logged parameters in the order to print.
        metrics: latest overall metric values in the order to print.
        group_summaries: per-group summaries, one per (metric, sensitive attribute).
        datasets: dataset inputs.
        artifacts: artifacts with digests and signature status.
        environment: the execution environment, or None when not recorded.
        manifest_sha256: hex SHA-256 of the reproducibility manifest at run end, or None.
        created_seq: seq of the `run.created` entry.
        ended_seq: seq of the `run.ended` entry, or None while running.
        cited_seqs: seqs of every entry about this run held in the evidence bundle; every seq
            shown for this run must be among them.
        tags: the run's current tags, sorted by key (deleted tags left out).
        created_by_name: the printed name of who created it (principal display name, else
            the token's name; "" in older bundles).
    """

    run_id: str
    name: str
    experiment_id: str
    experiment_name: str
    status: str
    created_by: str
    start_time: str
    end_time: str | None
    source: tuple[tuple[str, str], ...]
    parents: tuple[RunRef, ...]
    params: tuple[ParamEvidence, ...]
    metrics: tuple[MetricEvidence, ...]
    group_summaries: tuple[GroupSummaryEvidence, ...]
    datasets: tuple[DatasetEvidence, ...]
    artifacts: tuple[ArtifactEvidence, ...]
    environment: EnvironmentEvidence | None
    manifest_sha256: str | None
    created_seq: int
    ended_seq: int | None
    cited_seqs: tuple[int, ...]
    created_by_person: str = ""
    tags: tuple[TagEvidence, ...] = ()
    created_by_name: str = ""


@dataclass(frozen=True)
class RunReportEvidence:
    """The input of a run report.

    Attributes:
        meta: report header and integrity facts (kind "run").
        run: the run.
    """

    meta: ReportMeta
    run: RunEvidence


@dataclass(frozen=True)
class ExperimentReportEvidence:
    """The input of an experiment report: its runs compared on chosen metrics.

    Attributes:
        meta: report header and integrity facts (kind "experiment").
        experiment_id: the experiment's id.
        name: the experiment's name.
        description: its description ("" if none).
        created_seq: seq of the `experiment.created` entry.
        runs: the runs, in the order of the comparison table.
        compare_metrics: overall metric keys for the comparison table's columns.
        compare_groups: (metric, attribute) pairs whose min/max ratio gets a column.
    """

    meta: ReportMeta
    experiment_id: str
    name: str
    description: str
    created_seq: int
    runs: tuple[RunEvidence, ...]
    compare_metrics: tuple[str, ...]
    compare_groups: tuple[tuple[str, str], ...]
