"""The seqs a report cites, checked against the runs' citations and the checkpoint's tree size."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from functools import cache
from typing import Any

from reports.errors import ReportError
from reports.evidence import (
    ExperimentReportEvidence,
    GateEvidence,
    ModelReportEvidence,
    ReportMeta,
    RunEvidence,
)

__all__ = ["experiment_citations", "model_citations", "run_citations", "shown_seqs"]


def _shown_for_run(run: RunEvidence) -> set[int]:
    """Seqs printed next to this run's own items (parents included)."""
    seqs = {run.created_seq}
    if run.ended_seq is not None:
        seqs.add(run.ended_seq)
    seqs.update(p.seq for p in run.parents if p.seq is not None)  # None: never recorded
    seqs.update(p.seq for p in run.params)
    seqs.update(m.seq for m in run.metrics)
    seqs.update(g.seq for s in run.group_summaries for g in s.groups)
    seqs.update(d.seq for d in run.datasets)
    seqs.update(a.seq for a in run.artifacts)
    seqs.update(r.seq for a in run.artifacts for r in a.earlier)
    seqs.update(t.seq for t in run.tags)
    if run.environment is not None:
        seqs.add(run.environment.seq)
    return seqs


def _policy_seqs(run: RunEvidence) -> set[int]:
    return {s.band_seq for s in run.group_summaries if s.band_seq is not None}


def _run(run: RunEvidence) -> set[int]:
    missing = sorted(_shown_for_run(run) - set(run.cited_seqs))
    if missing:
        shown = ", ".join(str(s) for s in missing)
        raise ReportError(f"run {run.run_id}: seq {shown} shown but not in cited_seqs")
    return set(run.cited_seqs) | _policy_seqs(run)


def _check_tree(meta: ReportMeta, seqs: set[int]) -> list[int]:
    outside = sorted(s for s in seqs if not 0 <= s < meta.checkpoint.tree_size)
    if outside:
        raise ReportError(f"seq {outside[0]} is not covered by the checkpoint "
                          f"(tree size {meta.checkpoint.tree_size})")
    return sorted(seqs)


def _gates(gates: Iterable[GateEvidence]) -> set[int]:
    return {g.seq for g in gates}


def run_citations(meta: ReportMeta, run: RunEvidence) -> list[int]:
    """Every seq a run report cites, sorted; raises ReportError on an uncited one."""
    return _check_tree(meta, _run(run))


def model_citations(model: ModelReportEvidence) -> list[int]:
    """Every seq a model report cites, sorted; raises ReportError on an uncited one."""
    seqs = {model.created_seq}
    if model.policy is not None:
        seqs.add(model.policy.seq)
    for v in model.versions:
        seqs |= _run(v.run) | {v.seq}
        if v.pinned_seq is not None:
            seqs.add(v.pinned_seq)
        for p in v.promotions:
            seqs |= {p.seq} | _gates(p.request_gates)
            for d in p.decisions:
                seqs |= {d.seq} | _gates(d.gates)
    seqs.update(u.seq for u in model.unpinned)
    seqs.update(d.seq for d in model.deployments)
    seqs.update(e.seq for e in model.environments)
    seqs.update(d.seq for d in model.demotions)
    seqs.update(d.seq for e in model.live for d in (e.at_as_of, e.now) if d is not None)
    seqs.update(e.protection_seq for e in model.live if e.protection_seq is not None)
    return _check_tree(model.meta, seqs)


def experiment_citations(exp: ExperimentReportEvidence) -> list[int]:
    """Every seq an experiment report cites, sorted; raises ReportError on an uncited one."""
    seqs = {exp.created_seq}
    for run in exp.runs:
        seqs |= _run(run)
    return _check_tree(exp.meta, seqs)


_SEQ, _CITED, _NESTED = 0, 1, 2


@cache
def _plan(cls: type) -> tuple[tuple[str, int], ...]:
    """How to walk one dataclass: (field, what it holds), meta left out; made once per class."""
    plan = []
    for f in dataclasses.fields(cls):
        if f.name == "meta":
            continue
        kind = _SEQ if f.name == "seq" or f.name.endswith("_seq") else \
            _CITED if f.name == "cited_seqs" else _NESTED
        plan.append((f.name, kind))
    return tuple(plan)


def _walk(obj: Any, out: set[int]) -> None:
    if isinstance(obj, tuple | list):
        for item in obj:
            _walk(item, out)
        return
    cls: Any = type(obj)
    if hasattr(cls, "__dataclass_fields__") and not isinstance(obj, type):
        for name, kind in _plan(cls):
            value = getattr(obj, name)
            if kind == _SEQ and type(value) is int:
                out.add(value)
            elif kind == _CITED:
                out.update(int(s) for s in value)
            elif isinstance(value, tuple | list) or hasattr(type(value), "__dataclass_fields__"):
                _walk(value, out)


def shown_seqs(evidence: Any) -> list[int]:
    """Every seq an evidence tree shows or cites (fields seq / *_seq, cited_seqs; meta
    excluded), sorted and distinct: what a bundle must prove."""
    found: set[int] = set()
    _walk(evidence, found)
    return sorted(found)
