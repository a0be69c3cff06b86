"""Experiment sections: a comparison table of its runs and a short summary of each run."""

from __future__ import annotations

import math
from collections.abc import Sequence

from reports.doc import (
    Cell,
    Node,
    block,
    data_table,
    empty,
    flag,
    gap,
    heading,
    kv_table,
    mono,
)
from reports.evidence import ExperimentReportEvidence, RunEvidence
from reports.figures import figure
from reports.sections_groups import flag_reasons

__all__ = ["comparison", "run_summaries", "run_title"]

COLUMNS_PER_TABLE = 5
NOT_LOGGED = "not logged"


def _metric_keys(exp: ExperimentReportEvidence) -> tuple[str, ...]:
    if exp.compare_metrics:
        return exp.compare_metrics
    return tuple(sorted({m.key for r in exp.runs for m in r.metrics}))


def _group_keys(exp: ExperimentReportEvidence) -> tuple[tuple[str, str], ...]:
    if exp.compare_groups:
        return exp.compare_groups
    return tuple(sorted({(s.metric, s.attribute) for r in exp.runs for s in r.group_summaries}))


def _run_label(run: RunEvidence) -> Cell:
    return mono(f"{run.name or '(unnamed)'} {run.run_id}")


def _columns(exp: ExperimentReportEvidence) -> list[tuple[str, dict[str, str]]]:
    """(column title, run id -> printed cell) for every chosen metric and group ratio."""
    cols: list[tuple[str, dict[str, str]]] = []
    for key in _metric_keys(exp):
        cols.append((key, {r.run_id: next((figure(m.value) for m in r.metrics if m.key == key),
                                          NOT_LOGGED) for r in exp.runs}))
    for metric, attribute in _group_keys(exp):
        cells: dict[str, str] = {}
        for r in exp.runs:
            s = next((s for s in r.group_summaries
                      if (s.metric, s.attribute) == (metric, attribute)), None)
            cells[r.run_id] = NOT_LOGGED if s is None else figure(s.min_max_ratio)
        cols.append((f"{metric} by {attribute}: min/max ratio", cells))
    return cols


def _flag_count(run: RunEvidence) -> str:
    return str(sum(1 for s in run.group_summaries for g in s.groups if g.flags))


def comparison(exp: ExperimentReportEvidence) -> list[Node]:
    """The runs side by side; wide comparisons are split into tables of a few columns."""
    out: list[Node] = [heading("Comparison of runs")]
    if not exp.runs:
        return out + [empty("The experiment has no runs.")]
    cols = _columns(exp)
    if not cols:
        out.append(empty("No metrics were logged by any run."))
    tables = max(math.ceil(len(cols) / COLUMNS_PER_TABLE), 1)
    per_table = max(math.ceil(len(cols) / tables), 1)
    for start in range(0, tables * per_table, per_table):
        chunk = cols[start:start + per_table]
        header = ["Run", "Status"] + [title for title, _ in chunk] + ["Flagged groups"]
        rows: list[list[Cell]] = [
            [_run_label(r), r.status] + [cells[r.run_id] for _, cells in chunk]
            + [_flag_count(r)]
            for r in exp.runs
        ]
        out += [data_table(header, rows, [2.4, 0.9] + [1.1] * len(chunk) + [0.7]),
                gap(4)]
    return out


def _params(run: RunEvidence) -> str:
    if not run.params:
        return "No parameters were logged."
    return "; ".join(f"{p.key}={p.value}" for p in run.params)


def _datasets(run: RunEvidence) -> Cell:
    if not run.datasets:
        return "No datasets were logged."
    return mono("; ".join(f"{d.name} ({d.context}) {d.digest}" for d in run.datasets))


def run_title(run: RunEvidence) -> str:
    """A run's title, told apart from a run of the same name by its short id and status."""
    return f"Run {run.name or '(unnamed)'} ({run.run_id[:8]}, {run.status})"


def _commit(run: RunEvidence) -> str:
    """The git commit as the pipeline's source, else as the MLflow client's tags give it."""
    source, tags = dict(run.source), {t.key: t.value for t in run.tags}
    for found in (source.get("git_commit"), source.get("git.commit"), tags.get("git_commit"),
                  tags.get("mlflow.source.git.commit")):
        if found:
            return found
    return "not recorded"


def _summary(run: RunEvidence, lead: Sequence[Node]) -> Node:
    parent = run.parents[0].run_id if run.parents else "none"
    commit = _commit(run)
    facts: list[tuple[str, Cell]] = [
        ("Status", f"{run.status}; {run.start_time} to {run.end_time or 'not ended'}"),
        ("Created by", run.created_by),
        ("Parent run", mono(parent)),
        ("Git commit", mono(commit)),
        ("Parameters", _params(run)),
        ("Datasets", _datasets(run)),
        ("Artifacts", f"{len(run.artifacts)} recorded" if run.artifacts
         else "No artifacts were recorded."),
        ("Entries", f"run.created seq {run.created_seq}; {len(run.cited_seqs)} entries cited"),
    ]
    out: list[Node] = [*lead, heading(run_title(run), 2),
                           kv_table(facts, 0.2)]
    for s in run.group_summaries:
        for g in s.groups:
            reasons = flag_reasons(g, s)
            if reasons:
                out.append(flag(f"{s.metric} by {s.attribute}, group {g.group}: "
                                + "; ".join(reasons)))
    return block(*out)


def run_summaries(runs: Sequence[RunEvidence]) -> list[Node]:
    """A short block per run: status, lineage, parameters, datasets and flags."""
    title = heading("Runs in detail (summary)")
    if not runs:
        return [title, empty("The experiment has no runs.")]
    return [_summary(run, [title] if i == 0 else []) for i, run in enumerate(runs)]
