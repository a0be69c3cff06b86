"""The summary page's plain data, and the pieces every report kind's summary shares."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from reports.evidence_meta import ReportMeta
from reports.evidence_run import RunEvidence
from reports.figures import ROUNDING_RULE
from reports.outline import INTEGRITY

__all__ = [
    "VERIFY_COMMAND",
    "Block",
    "Summary",
    "Tone",
    "Verdict",
    "as_text",
    "instant",
    "integrity_verdict",
    "run_labels",
    "when",
]

Tone = Literal["neutral", "ok", "flag", "fail"]
VERIFY_COMMAND = "mlaudit-verify report FILE.pdf --key KEY"


@dataclass(frozen=True)
class Block:
    """One block of the summary page: a titled table, or a sentence when it has no rows.

    Attributes:
        title: the block's title.
        header: column titles.
        rows: the rows, each as many strings as the header.
        empty: the sentence to print when there are no rows.
        where: the section of the body that holds the details ("" for none).
        tone: how to mark the block: "flag" (orange) when it lists anything to review.
        highlight: indices of rows to mark as flags.
    """

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    empty: str
    where: str
    tone: Tone = "neutral"
    highlight: tuple[int, ...] = ()


@dataclass(frozen=True)
class Verdict:
    """The integrity verdict line: ok, and the sentence to print (red when not ok)."""

    ok: bool
    text: str


@dataclass(frozen=True)
class Summary:
    """A one-page summary: title, key facts, the integrity verdict, then blocks in order.

    Attributes:
        title: the page title, e.g. "Summary: model credit-risk".
        facts: (label, value) pairs printed as a key-value table.
        integrity: the verdict line, printed right under the title.
        blocks: the blocks, top to bottom.
        rule: the rounding rule sentence, printed once at the foot of the page.
    """

    title: str
    facts: tuple[tuple[str, str], ...]
    integrity: Verdict
    blocks: tuple[Block, ...]
    rule: str = ROUNDING_RULE


def instant(text: str) -> datetime | None:
    """An RFC 3339 time as an aware datetime, or None when it does not parse."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def when(text: str | None) -> str:
    """An RFC 3339 UTC time for people, to the second: "2026-03-06 15:30:00 UTC" (the
    fraction is in the entry); other forms as given."""
    if not text:
        return "—"
    if text.endswith("Z") and "T" in text:
        return text[:-1].split(".")[0].replace("T", " ") + " UTC"
    return text


def integrity_verdict(meta: ReportMeta) -> Verdict:
    """What ledger verification found when the report was made, and how to check it."""
    size = meta.checkpoint.tree_size
    if meta.failed:
        forced = " An administrator forced this report." if meta.forced else ""
        return Verdict(False, (
            f"LEDGER VERIFICATION FAILED when this report was made: {meta.ledger_problem}."
            f"{forced} Its statements may rest on altered entries; see {INTEGRITY}."))
    found = f" ({meta.ledger_summary})" if meta.ledger_summary else ""
    return Verdict(True, (
        f"The ledger verified when this report was made{found}. Every entry the report cites "
        f"is proved against the signed checkpoint at tree size {size}. Check it yourself with "
        f"`{VERIFY_COMMAND}` (see {INTEGRITY})."))


def run_labels(runs: Sequence[RunEvidence]) -> dict[str, str]:
    """A printed title per run id: its name, or with its short id and status when another run
    has the same name (so no two runs print alike)."""
    names = [r.name for r in runs]
    return {r.run_id: (r.name if r.name and names.count(r.name) == 1
                       else f"{r.name or 'unnamed'} ({r.run_id[:8]}, {r.status})")
            for r in runs}


def as_text(summary: Summary) -> str:
    """The summary as plain text, one line per fact, sentence and row (for golden tests and
    for comparing with the text a PDF viewer extracts)."""
    lines = [summary.title, *(f"{k}: {v}" for k, v in summary.facts), summary.integrity.text]
    for b in summary.blocks:
        lines.append(f"{b.title}" + (f" (see {b.where})" if b.where else ""))
        lines += [" | ".join(b.header), *(" | ".join(r) for r in b.rows)] if b.rows else [b.empty]
    return "\n".join([*lines, summary.rule]) + "\n"
