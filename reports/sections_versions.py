"""Model report sections that compare versions: one table per concern, rows per version."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from reports.chart_text import labelled
from reports.client_env import client_environment
from reports.doc import (
    Cell,
    Node,
    block,
    data_table,
    empty,
    flag,
    heading,
    mono,
    para,
    version_chart,
)
from reports.evidence import (
    GroupSummaryEvidence,
    ModelReportEvidence,
    RunEvidence,
    VersionEvidence,
)
from reports.figures import figure
from reports.group_order import ordered_groups
from reports.sections_groups import HATCH_NOTE, flag_reasons, policy_line
from reports.sections_run import (
    ARTIFACT_COLUMNS,
    ARTIFACT_HEADER,
    artifact_cells,
    group_counts,
    signer_lines,
)

__all__ = ["FULL_DETAIL_VERSIONS", "focus_versions", "version_tables"]

FULL_DETAIL_VERSIONS = 3
"""Up to this many versions, every version gets its full per-group tables and charts."""

Row = list[Cell]


def _live(model: ModelReportEvidence) -> set[int]:
    """Versions live in some environment after the last deployment or rollback there."""
    last: dict[str, tuple[str, int, int]] = {}
    for e in model.deployments:
        if e.environment not in last or (e.deployed_at, e.seq) > last[e.environment][:2]:
            last[e.environment] = (e.deployed_at, e.seq, e.version)
    return {version for _, _, version in last.values()}


def focus_versions(model: ModelReportEvidence) -> list[VersionEvidence]:
    """The versions shown with full per-group detail: all of a small report, else the versions
    live in an environment plus the newest one."""
    if len(model.versions) <= FULL_DETAIL_VERSIONS:
        return list(model.versions)
    wanted = _live(model) | {max(v.version for v in model.versions)}
    return [v for v in model.versions if v.version in wanted]


def _per_version(model: ModelReportEvidence,
                 rows: Callable[[RunEvidence], list[Row]]) -> list[Row]:
    return [[str(v.version), *row] for v in model.versions for row in rows(v.run)]


def _lineage_rows(run: RunEvidence) -> list[Row]:
    parents = "; ".join(p.run_id for p in run.parents) or "none"
    source = "; ".join(f"{k}={v}" for k, v in run.source) or "not recorded"
    ended = "not ended" if run.ended_seq is None else f"{run.end_time}, seq {run.ended_seq}"
    return [[mono(run.run_id), run.name or "(none)", run.status, mono(parents), mono(source),
             ended, str(run.created_seq)]]


def _dataset_rows(run: RunEvidence) -> list[Row]:
    if not run.datasets:
        return [["No datasets were logged.", "", "", "", "", ""]]
    return [[ds.name, ds.context, mono(ds.digest),
             "not logged" if ds.row_count is None else str(ds.row_count), group_counts(ds),
             str(ds.seq)] for ds in run.datasets]


def _environment_rows(run: RunEvidence) -> list[Row]:
    env = run.environment
    if env is None:
        reported = "; ".join(f"{k}={v}" for k, v in client_environment(run))
        return [[f"No environment entry; the client reported: {reported}" if reported
                 else "No execution environment was recorded.", "", "", "", ""]]
    packages = ", ".join(f"{name} {version}" for name, version in env.packages)
    return [[f"Python {env.python_version}; {env.os} / {env.architecture}"
             + (f"; {env.hardware}" if env.hardware else ""),
             mono(env.container_image_digest or "not recorded"),
             mono(env.lockfile_sha256 or "not recorded"), packages or "none listed",
             str(env.seq)]]


def _lineage(model: ModelReportEvidence) -> list[Node]:
    out: list[Node] = [
        heading("Lineage"),
        para("Each version's run: identity, parent runs and code source. The seq is that of "
             "the run.created entry.", "lead"),
        data_table(["Ver.", "Run id", "Name", "Status", "Parent runs", "Code source", "Ended",
                    "Seq"], _per_version(model, _lineage_rows),
                   [0.5, 1.5, 0.9, 0.8, 1.5, 2.2, 1.3, 0.6]),
        heading("Datasets", 2),
        data_table(["Ver.", "Dataset", "Context", "Digest", "Rows", "Records per group", "Seq"],
                   _per_version(model, _dataset_rows), [0.5, 1.1, 0.8, 2.1, 0.7, 2.5, 0.6]),
    ]
    if any(v.run.environment is not None for v in model.versions):
        out += [heading("Environment", 2), data_table(
            ["Ver.", "Platform", "Container image", "Lockfile SHA-256", "Packages", "Seq"],
            _per_version(model, _environment_rows), [0.5, 1.8, 1.9, 1.9, 1.6, 0.6])]
    return out


def _parameters(model: ModelReportEvidence) -> list[Node]:
    out: list[Node] = [heading("Parameters")]
    rows = _per_version(model, lambda run: [[p.key, mono(p.value), str(p.seq)]
                                            for p in run.params])
    bare = [str(v.version) for v in model.versions if not v.run.params]
    if rows:
        out.append(data_table(["Ver.", "Parameter", "Value", "Seq"], rows, [0.5, 2, 4, 0.6]))
    if bare:
        out.append(empty(f"No parameters were logged for version(s) {', '.join(bare)}."))
    return out


def _metrics(model: ModelReportEvidence) -> list[Node]:
    out: list[Node] = [heading("Overall metrics")]
    rows = _per_version(model, lambda run: [[m.key, figure(m.value), str(m.step), m.timestamp,
                                             str(m.seq)] for m in run.metrics])
    bare = [str(v.version) for v in model.versions if not v.run.metrics]
    if rows:
        out.append(data_table(["Ver.", "Metric", "Value", "Step", "Logged at", "Seq"], rows,
                              [0.5, 2.2, 1.4, 0.6, 2, 0.6]))
    if bare:
        out.append(empty(f"No metrics were logged for version(s) {', '.join(bare)}."))
    return out


def _pairs(model: ModelReportEvidence) -> list[tuple[str, str]]:
    seen: dict[tuple[str, str], None] = {}
    for v in model.versions:
        for s in v.run.group_summaries:
            seen.setdefault((s.metric, s.attribute), None)
    return list(seen)


def _find(run: RunEvidence, pair: tuple[str, str]) -> GroupSummaryEvidence | None:
    return next((s for s in run.group_summaries if (s.metric, s.attribute) == pair), None)


def _flags_cell(s: GroupSummaryEvidence) -> str:
    found = ["group " + g.group + ": " + "; ".join(flag_reasons(g, s))
             for g in ordered_groups(s) if g.flags]
    return "flag for review: " + " | ".join(found) if found else "none"


def _summary_row(v: VersionEvidence, s: GroupSummaryEvidence | None) -> Row:
    if s is None:
        return [str(v.version), "not logged", "", "", "", "", ""]
    seqs = ", ".join(str(q) for q in sorted({g.seq for g in s.groups}))
    return [str(v.version), s.reference, str(len(s.groups)), figure(s.min_max_ratio),
            figure(s.max_difference), _flags_cell(s), seqs]


def _policy_lines(found: Sequence[tuple[VersionEvidence, GroupSummaryEvidence]]) -> list[str]:
    """One line when every version applied the same band; else one line per version."""
    bands = {policy_line(s, with_reference=False) for _, s in found}
    if len(bands) == 1:
        return [f"All versions: {next(iter(bands))}"]
    return [f"Version {v.version}: {policy_line(s, with_reference=False)}" for v, s in found]


def _pair_section(model: ModelReportEvidence, pair: tuple[str, str]) -> list[Node]:
    metric, attribute = pair
    found = [(v, s) for v in model.versions if (s := _find(v.run, pair)) is not None]
    rows = [_summary_row(v, _find(v.run, pair)) for v in model.versions]
    flagged = [i for i, v in enumerate(model.versions)
               if (s := _find(v.run, pair)) is not None and any(g.flags for g in s.groups)]
    out: list[Node] = [heading(f"{metric} by {attribute}", 2)]
    out += [para(line, "lead") for line in _policy_lines(found)]
    out.append(data_table(["Ver.", "Reference", "Groups", "Min/max ratio", "Max difference",
                           "Flags", "Seq"], rows, [0.5, 1.1, 0.7, 1.0, 1.0, 3.3, 0.6],
                          highlight=flagged))
    items = [(v.version, s) for v, s in found]
    each = ("each labelled with its group (\"(ref)\" marks the reference), n and ratio"
            if labelled(items) else "too many to label one by one: the table above and the "
            "evidence bundle give each group's figures")
    out += [version_chart(metric, items), para(
        f"Bars: each group's ratio to its version's reference group for {metric}, per version "
        f"(v1, v2 ...); a group has the same place and colour in every version (legend above), "
        f"{each}. {HATCH_NOTE} Shaded: the band applied to that version.", "caption")]
    return [block(*out)]  # on one page when it fits, so the chart stays with its table


def _groups(model: ModelReportEvidence, focus: Sequence[VersionEvidence]) -> list[Node]:
    out: list[Node] = [heading("Per-group metrics")]
    pairs = _pairs(model)
    if not pairs:
        return out + [empty("No per-group metrics were logged for any version.")]
    covered = {attribute for _, attribute in pairs}
    for attribute in model.sensitive_attributes:
        if attribute not in covered:
            out.append(empty(f"No per-group metrics were logged for the sensitive attribute "
                             f"{attribute} in any version."))
    shown = ", ".join(str(v.version) for v in focus)
    out.append(para(
        "One table per metric and sensitive attribute, one row per version. Every group's n, "
        f"value, ratio and difference are printed for version(s) {shown or 'none'} in the "
        "sections that follow; for the other versions they are in the evidence bundle and in "
        "the run report of the version's run.", "lead"))
    for pair in pairs:
        out += _pair_section(model, pair)
    return out


def _artifact_rows(run: RunEvidence) -> list[Row]:
    return [artifact_cells(a) for a in run.artifacts]


def _artifacts(model: ModelReportEvidence) -> list[Node]:
    out: list[Node] = [heading("Artifacts")]
    rows = _per_version(model, _artifact_rows)
    bare = [str(v.version) for v in model.versions if not v.run.artifacts]
    if rows:
        out += [data_table(["Ver.", *ARTIFACT_HEADER], rows, [0.45, *ARTIFACT_COLUMNS]),
                *signer_lines([a for v in model.versions for a in v.run.artifacts])]
    if bare:
        out.append(empty(f"No artifacts were recorded for version(s) {', '.join(bare)}."))
    out += [flag(f"Version {u.version}: unpinned: files not held or digested (registered "
                 f"from {u.source}); no files are pinned.") for u in model.unpinned]
    for v in model.versions:
        for a in v.run.artifacts:
            if a.signature_status == "invalid":
                out.append(flag(f"version {v.version}, artifact {a.path}: its signature did "
                                "not verify"))
    return out


def version_tables(model: ModelReportEvidence,
                   focus: Sequence[VersionEvidence]) -> Iterator[Node]:
    """Lineage, parameters, overall metrics, per-group summaries and artifacts of all versions."""
    if not model.versions:
        return
    yield from _lineage(model)
    yield from _parameters(model)
    yield from _metrics(model)
    yield from _groups(model, focus)
    yield from _artifacts(model)
