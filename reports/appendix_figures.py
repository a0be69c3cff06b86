"""Appendix A as plain rows: each figure the body rounds, at full precision, with its seq."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from reports.evidence_registry import ModelReportEvidence
from reports.evidence_run import ExperimentReportEvidence, RunEvidence
from reports.figures import figure, full, is_rounded
from reports.group_order import ordered_groups, ordered_summaries

__all__ = ["HEADER", "experiment_figures", "model_figures", "run_figures"]

HEADER = ("Where", "Figure", "Shown", "Full precision", "Seq")
Row = tuple[str, str, str, str, str]


def _row(where: str, name: str, value: str | None, seq: int | None) -> Iterator[Row]:
    if is_rounded(value):
        yield where, name, figure(value), full(value), "" if seq is None else str(seq)


def _run_rows(run: RunEvidence, where: str) -> Iterator[Row]:
    for m in run.metrics:
        yield from _row(where, m.key, m.value, m.seq)
    for s in ordered_summaries(run.group_summaries):
        about = f"{s.metric} by {s.attribute}"
        for g in ordered_groups(s):
            yield from _row(where, f"{about}: {g.group} value", g.value, g.seq)
            yield from _row(where, f"{about}: {g.group} ratio to {s.reference}", g.ratio, g.seq)
            yield from _row(where, f"{about}: {g.group} difference from {s.reference}",
                            g.difference, g.seq)
        seq = s.groups[0].seq if s.groups else None
        yield from _row(where, f"{about}: min/max ratio", s.min_max_ratio, seq)
        yield from _row(where, f"{about}: max difference", s.max_difference, seq)


def run_figures(run: RunEvidence, where: str = "Run") -> list[Row]:
    """Rows (HEADER) for every rounded figure of one run: overall metrics, then per-group
    values, ratios and differences in the stable group order."""
    return list(_run_rows(run, where))


def model_figures(model: ModelReportEvidence) -> list[Row]:
    """Rows for every version's run; a run behind several versions is listed once."""
    seen: dict[str, list[int]] = {}
    for v in model.versions:
        seen.setdefault(v.run.run_id, []).append(v.version)
    rows: list[Row] = []
    for v in model.versions:
        versions: Sequence[int] = seen[v.run.run_id]
        if versions[0] == v.version:
            label = ("Versions " if len(versions) > 1 else "Version ") + \
                ", ".join(map(str, versions))
            rows += _run_rows(v.run, label)
    return rows


def experiment_figures(exp: ExperimentReportEvidence, labels: dict[str, str]) -> list[Row]:
    """Rows for every run of an experiment, each under its printed title (run_labels)."""
    return [row for run in exp.runs for row in _run_rows(run, labels[run.run_id])]
