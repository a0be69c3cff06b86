"""The summary page every report opens with: a Summary (reports/summary.py) as nodes."""

from __future__ import annotations

from reports.doc import (
    Node,
    WarningBox,
    block,
    data_table,
    empty,
    gap,
    heading,
    kv_table,
    page_break,
    para,
)
from reports.evidence import ReportMeta
from reports.furniture import FAILURE_LINE, TEMPLATE_VERSION
from reports.summary_data import Block, Summary

__all__ = ["DISCLAIMER", "KIND_NAMES", "summary_page"]

KIND_NAMES = {"model": "Model report", "run": "Run report", "experiment": "Experiment report"}
DISCLAIMER = ("A flag for review calls for a reviewer's judgement; this report makes no legal "
              "or regulatory determination.")
# Column weights by header title; any other column weighs 1. A column whose cells are all
# short (_SHORT characters or fewer) weighs at most 1.1.
_WEIGHTS = {
    "Seq": 0.45, "Version": 0.72, "Count": 0.5, "Step": 0.45, "Protection": 0.8,
    "Target": 1.45, "Status": 2.3, "By": 1.8, "When": 1.1, "Gate": 2.8, "Finding": 1.4,
    "Granted by": 1.3, "Failing gates": 2.0, "Justification": 2.4, "Details": 3.4,
    "Where": 1.3, "Flag for review": 1.4, "Holds now": 1.1, "Run": 2.2, "Metric": 1.6,
}
_SHORT = 12


def _weights(b: Block) -> list[float]:
    out = []
    for i, title in enumerate(b.header):
        weight = 3.0 if title.startswith("Live") else _WEIGHTS.get(title, 1.0)
        if max((len(row[i]) for row in b.rows), default=0) <= _SHORT:
            weight = min(weight, 1.1)
        out.append(weight)
    return out


def _warning(meta: ReportMeta) -> WarningBox:
    """The red box on page 1 of a report made despite a failed ledger check."""
    return WarningBox((
        para(FAILURE_LINE, "warning"),
        para(f"Verification at generation time found: {meta.ledger_problem}", "warningbody"),
        para("An administrator forced this report. Figures may rest on altered or missing "
             "ledger entries; do not rely on them without an independent check.",
             "warningbody"),
    ))


def _block(b: Block) -> Node:
    title = heading(b.title + (f" (see {b.where})" if b.where else ""), 3)
    if not b.rows:
        return block(title, empty(b.empty) if b.tone != "ok" else para(b.empty))
    table = data_table(b.header, b.rows, _weights(b),
                       highlight=b.highlight)
    return block(title, table)


def _about(meta: ReportMeta, renderer: str) -> str:
    """The old cover's facts in one line; hashes and keys are in the integrity appendix."""
    return (f"{KIND_NAMES[meta.kind]} {meta.report_id} as of {meta.as_of}; mlaudit "
            f"{meta.generator_version}, template {TEMPLATE_VERSION}, {renderer}.")


def summary_page(summary: Summary, meta: ReportMeta, renderer: str) -> list[Node]:
    """Title, the integrity verdict, key facts, the summary's blocks, the rounding rule and the
    report's own facts, on one page (a page break follows)."""
    out: list[Node] = [para(meta.title, "title")]
    if meta.failed:
        out += [_warning(meta), gap(4)]
    verdict = "body" if summary.integrity.ok else "warningbody"
    out += [para(summary.integrity.text, verdict),
            kv_table(summary.facts, 0.2)]
    out += [_block(b) for b in summary.blocks]
    return out + [gap(2), para(f"{summary.rule} {DISCLAIMER}", "caption"),
                  para(_about(meta, renderer), "caption"), page_break()]

