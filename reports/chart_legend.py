"""The colours of a chart's groups and its legend line: pure, no ReportLab (see charts.py)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from reports.evidence import GroupFigureEvidence, GroupSummaryEvidence
from reports.glyphs import FONT, clean, text_width
from reports.group_order import GroupColours, group_sort_key

__all__ = [
    "FLAG_INDEX",
    "FLAG_LEGEND",
    "LEGEND_SIZE",
    "PALETTE",
    "SWATCH",
    "LegendEntry",
    "chart_colours",
    "legend",
]

PALETTE = ("#4e79a7", "#59a14f", "#b07aa1", "#76b7b2", "#9c755f", "#2f4f6f", "#8cd17d",
           "#bab0ac", "#d4a6c8", "#499894")
"""Group colours by colour index (index % 10); no orange or red: orange means flagged."""
FLAG_INDEX = -1
FLAG_LEGEND = "hatched, orange outline: flagged for review"
LEGEND_SIZE = 6.5
SWATCH = 7.0
_GAP = 10.0


@dataclass(frozen=True)
class LegendEntry:
    """A swatch (colour index, or FLAG_INDEX for the flag marking) and the text after it."""

    text: str
    x: float
    y: float
    colour: int


def chart_colours(summaries: Iterable[GroupSummaryEvidence]) -> GroupColours:
    """Colour indices of every group the summaries show, in natural order per attribute, so a
    group has one colour in every slot of a chart (reports/group_order.py)."""
    names: dict[str, set[str]] = {}
    for s in summaries:
        names.setdefault(s.attribute, set()).update(g.group for g in s.groups)
    return GroupColours({(attribute, group): i for attribute, groups in names.items()
                         for i, group in enumerate(sorted(groups, key=group_sort_key))})


def _groups(colours: GroupColours) -> list[tuple[str, int]]:
    return sorted(((group, i) for (_, group), i in colours.indices.items()),
                  key=lambda item: item[1])


def legend(colours: GroupColours, flagged: Sequence[GroupFigureEvidence], left: float,
           right: float, top: float) -> list[LegendEntry]:
    """One swatch and name per group, then the flag marking when a bar is flagged; wrapped
    onto more lines (downwards from ``top``) when they do not fit between left and right."""
    items = [(clean(group), i) for group, i in _groups(colours)]
    if flagged:
        items.append((FLAG_LEGEND, FLAG_INDEX))
    out: list[LegendEntry] = []
    x, y = left, top
    for text, index in items:
        width = SWATCH + 3 + text_width(text, FONT, LEGEND_SIZE)
        if x > left and x + width > right:
            x, y = left, y - 9
        out.append(LegendEntry(text, x + SWATCH + 3, y, index))
        x += width + _GAP
    return out
