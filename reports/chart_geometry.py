"""Chart geometry: scales, bands, bars and legends of the per-group charts; pure, no ReportLab.

chart_text.py places every string on this geometry; charts.py draws both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from reports.chart_legend import LegendEntry, chart_colours, legend
from reports.doc import BODY_WIDTH
from reports.evidence import GroupFigureEvidence, GroupSummaryEvidence
from reports.group_order import GroupColours, ordered_groups

__all__ = [
    "BAR_LINES",
    "BOTTOM",
    "HEIGHT",
    "LEFT",
    "RIGHT",
    "TOP",
    "VERSION_HEIGHT",
    "Bar",
    "Scale",
    "band_of",
    "group_bars",
    "group_legend",
    "group_scale",
    "labelled",
    "number",
    "ratio_scale",
    "version_bars",
    "version_legend",
]

HEIGHT = 175.0
VERSION_HEIGHT = 185.0
LABEL_ROOM = 16.0
LEGEND_ROOM = 12.0
LEFT, RIGHT, TOP, BOTTOM = 44.0, 70.0, 4.0, 34.0
BAR_LINES = 3
"""Lines under each bar of a version chart: group (with " (ref)"), n, ratio."""
MIN_LABELLED_BAR = 18.0
"""Narrower bars (many versions and groups) are not labelled one by one; the caption says so."""

@dataclass(frozen=True)
class Scale:
    """Maps metric values to y coordinates in the plot area; ticks every ``step``."""

    low: float
    high: float
    step: float
    bottom: float
    top: float

    def y(self, value: float) -> float:
        span = self.high - self.low or 1.0
        return self.bottom + (value - self.low) / span * (self.top - self.bottom)

    def ticks(self) -> list[float]:
        count = round((self.high - self.low) / self.step)
        return [self.low + i * self.step for i in range(count + 1)]


def _nice_step(span: float) -> float:
    """A round tick step (1, 2, 2.5 or 5 times a power of ten) giving at most five intervals."""
    raw = span / 5 if span > 0 else 1.0
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)



def number(text: str | None) -> float | None:
    """A finite float for drawing only (figures are printed from their decimal text)."""
    if text is None:
        return None
    try:
        value = float(Decimal(text))
    except (InvalidOperation, ValueError):
        return None
    return value if math.isfinite(value) else None


def band_of(summary: GroupSummaryEvidence) -> tuple[float, float] | None:
    """The band in metric units (low x reference .. high x reference), when it is defined."""
    ref = next((g for g in summary.groups if g.is_reference), None)
    ref_value = number(ref.value) if ref else None
    low, high = number(summary.band[0]), number(summary.band[1])
    if ref_value is None or low is None or high is None or ref_value <= 0:
        return None
    return low * ref_value, high * ref_value


def _fitted(values: list[float], bottom: float, top: float) -> Scale:
    high_value, low_value = max(values + [0.0]), min(values + [0.0])
    step = _nice_step(high_value - low_value)
    low = math.floor(low_value / step) * step
    high = max(math.ceil(high_value / step) * step, low + step)
    return Scale(low, high, step, bottom, top)


@dataclass(frozen=True)
class Bar:
    """One bar: its left edge and width, the value it reaches, colour index, flagged or not."""

    x: float
    width: float
    value: float | None
    colour: int
    flagged: bool
    group: GroupFigureEvidence


def _legend_rows(entries: Sequence[LegendEntry]) -> int:
    return len({e.y for e in entries})


def group_legend(summary: GroupSummaryEvidence) -> list[LegendEntry]:
    """The legend line of a group chart: one swatch per group, the flag marking if used."""
    flagged = [g for g in summary.groups if g.flags]
    return legend(chart_colours([summary]), flagged, LEFT, BODY_WIDTH - RIGHT, HEIGHT - 8)


def group_scale(summary: GroupSummaryEvidence, band: tuple[float, float] | None) -> Scale:
    """The value axis of a group chart; the space above the top tick holds the bar labels."""
    values = [v for v in (number(g.value) for g in summary.groups) if v is not None]
    legend_room = LEGEND_ROOM + 9 * (_legend_rows(group_legend(summary)) - 1)
    return _fitted(values + list(band or ()), BOTTOM,
                   HEIGHT - TOP - LABEL_ROOM - legend_room)


def _version_colours(items: Sequence[tuple[int, GroupSummaryEvidence]]) -> GroupColours:
    return chart_colours(s for _, s in items)


def version_legend(items: Sequence[tuple[int, GroupSummaryEvidence]]) -> list[LegendEntry]:
    """The legend line of a version chart: every group of any version, the flag marking."""
    flagged = [g for _, s in items for g in s.groups if g.flags]
    return legend(_version_colours(items), flagged, LEFT, BODY_WIDTH - RIGHT,
                  VERSION_HEIGHT - 8)


def _bar_room(items: Sequence[tuple[int, GroupSummaryEvidence]]) -> float:
    """Width of one group's place in a version's slot (every slot has a place per group)."""
    slot = (BODY_WIDTH - RIGHT - LEFT) / max(len(items), 1)
    return slot * 0.9 / max(len(_version_colours(items).indices), 1)


def labelled(items: Sequence[tuple[int, GroupSummaryEvidence]]) -> bool:
    """Whether the bars of a version chart are wide enough to be labelled one by one."""
    return _bar_room(items) >= MIN_LABELLED_BAR


def ratio_scale(items: Sequence[tuple[int, GroupSummaryEvidence]]) -> Scale:
    """The ratio axis of a version chart (1, every ratio and every band edge on it)."""
    values = [1.0] + [v for _, s in items for v in (number(g.ratio) for g in s.groups)
                      if v is not None]
    values += [v for _, s in items for v in (number(s.band[0]), number(s.band[1]))
               if v is not None]
    bottom = 18.0 + (BAR_LINES * 7.0 if labelled(items) else 0.0)
    legend_room = LEGEND_ROOM + 9 * (_legend_rows(version_legend(items)) - 1)
    return _fitted(values, bottom, VERSION_HEIGHT - TOP - 6 - legend_room)


def group_bars(summary: GroupSummaryEvidence) -> list[Bar]:
    """The bars of a group chart, in the natural order of the groups (the reference in its
    place), coloured by the group's colour index."""
    colours = chart_colours([summary])
    groups = ordered_groups(summary)
    slot = (BODY_WIDTH - RIGHT - LEFT) / max(len(groups), 1)
    return [Bar(LEFT + i * slot, slot, number(g.value),
                colours.index(summary.attribute, g.group), bool(g.flags), g)
            for i, g in enumerate(groups)]


def version_bars(items: Sequence[tuple[int, GroupSummaryEvidence]]) -> list[list[Bar]]:
    """Per version, the bars of its groups' ratios: each group always at the same place in
    its version's slot and in the same colour (its colour index)."""
    colours = _version_colours(items)
    slot = (BODY_WIDTH - RIGHT - LEFT) / max(len(items), 1)
    room = _bar_room(items)
    out: list[list[Bar]] = []
    for i, (_, s) in enumerate(items):
        start = LEFT + i * slot + slot * 0.05
        out.append([Bar(start + colours.index(s.attribute, g.group) * room, room,
                        number(g.ratio), colours.index(s.attribute, g.group), bool(g.flags), g)
                    for g in ordered_groups(s)])
    return out
