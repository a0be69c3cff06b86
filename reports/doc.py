"""The document model a report is written in: plain frozen nodes, no ReportLab (see layout.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

from reports.evidence import GroupSummaryEvidence

__all__ = [
    "BODY_WIDTH",
    "BOTTOM_MARGIN",
    "FLAG_WORDING",
    "MARGIN",
    "PAGE_SIZE",
    "Cell",
    "Code",
    "Gap",
    "GroupChartNode",
    "Heading",
    "Keep",
    "KeyValue",
    "Node",
    "PageBreak",
    "Para",
    "Table",
    "VersionChartNode",
    "WarningBox",
    "block",
    "data_table",
    "empty",
    "flag",
    "gap",
    "group_chart",
    "heading",
    "kv_table",
    "mono",
    "page_break",
    "para",
    "version_chart",
]

PAGE_SIZE = (595.2755905511812, 841.8897637795277)  # A4 in points, as ReportLab's A4
MARGIN = 48.0
BOTTOM_MARGIN = 72.0
BODY_WIDTH = PAGE_SIZE[0] - 2 * MARGIN
FLAG_WORDING = "flag for review"


@dataclass(frozen=True)
class Heading:
    """A section heading, level 1 to 3."""

    text: str
    level: int = 1


@dataclass(frozen=True)
class Para:
    """Plain text (never markup) in a named paragraph style (reports/style.py STYLES)."""

    text: str
    style: str = "body"


@dataclass(frozen=True)
class Code:
    """A fixed-width value (digest, id, note) that may break anywhere; also a table cell."""

    text: str


Cell: TypeAlias = str | Code


@dataclass(frozen=True)
class Table:
    """A full-width table with a header row repeated on every page it continues on."""

    header: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    fractions: tuple[float, ...]
    highlight: tuple[int, ...] = ()


@dataclass(frozen=True)
class KeyValue:
    """A two-column key/value table without a header row."""

    pairs: tuple[tuple[str, Cell], ...]
    key_fraction: float = 0.28


@dataclass(frozen=True)
class WarningBox:
    """Paragraphs in a red box (the cover of a report made despite a failed ledger check)."""

    children: tuple[Para, ...]


@dataclass(frozen=True)
class Keep:
    """Nodes kept on one page when they fit."""

    children: tuple[Node, ...]


@dataclass(frozen=True)
class Gap:
    """Vertical space, in points."""

    height: float = 6


@dataclass(frozen=True)
class PageBreak:
    """The next node starts a new page."""


@dataclass(frozen=True)
class GroupChartNode:
    """Bars of one per-group summary, with its band (reports/chart_text.py, charts.py)."""

    summary: GroupSummaryEvidence


@dataclass(frozen=True)
class VersionChartNode:
    """One grouped metric across versions: (version number, its summary) per slot."""

    metric: str
    items: tuple[tuple[int, GroupSummaryEvidence], ...]


Node: TypeAlias = (Heading | Para | Code | Table | KeyValue | WarningBox | Keep | Gap | PageBreak
                   | GroupChartNode | VersionChartNode)


def para(text: str, style: str = "body") -> Para:
    """A paragraph of plain (not markup) text in a named style."""
    return Para(text, style)


def mono(text: str) -> Code:
    """Digests, ids and other codes: fixed width, may break anywhere so they never overflow."""
    return Code(text)


def heading(text: str, level: int = 1) -> Heading:
    """A section heading (level 1 to 3)."""
    return Heading(text, level)


def empty(text: str) -> Para:
    """An honest statement that something was not logged."""
    return Para(text, "empty")


def flag(text: str) -> Para:
    """A finding to look at, always worded as a flag for review."""
    return Para(f"{FLAG_WORDING}: {text}", "flag")


def data_table(header: Sequence[str], rows: Sequence[Sequence[Cell]],
               fractions: Sequence[float], *, highlight: Sequence[int] = ()) -> Table:
    """A full-width table that wraps every cell and repeats its header on each page."""
    return Table(tuple(header), tuple(tuple(r) for r in rows), tuple(fractions),
                 tuple(highlight))


def kv_table(pairs: Sequence[tuple[str, Cell]], key_fraction: float = 0.28) -> KeyValue:
    """A two-column key/value table without a header row."""
    return KeyValue(tuple(pairs), key_fraction)


def block(*nodes: Node) -> Keep:
    """Nodes kept on one page when they fit.

    A heading just before a block does not stay with it (ReportLab's keepWithNext skips
    containers), so put such a heading inside the block.
    """
    return Keep(nodes)


def gap(height: float = 6) -> Gap:
    """Vertical space."""
    return Gap(height)


def page_break() -> PageBreak:
    """Start a new page."""
    return PageBreak()


def group_chart(summary: GroupSummaryEvidence) -> GroupChartNode:
    """The chart of one per-group summary."""
    return GroupChartNode(summary)


def version_chart(metric: str,
                  items: Sequence[tuple[int, GroupSummaryEvidence]]) -> VersionChartNode:
    """The cross-version chart of one grouped metric (items: version number and its summary)."""
    return VersionChartNode(metric, tuple(items))
