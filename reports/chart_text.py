"""Every string a per-group chart draws, in drawing order: pure, no ReportLab.

charts.py draws the bars and bands (reports/chart_geometry.py) and then exactly these labels;
textcheck.py expects them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from reports.chart_geometry import (
    BOTTOM,
    HEIGHT,
    LEFT,
    RIGHT,
    VERSION_HEIGHT,
    Bar,
    Scale,
    band_of,
    group_bars,
    group_legend,
    group_scale,
    labelled,
    number,
    ratio_scale,
    version_bars,
    version_legend,
)
from reports.chart_legend import LEGEND_SIZE, LegendEntry
from reports.doc import BODY_WIDTH
from reports.evidence import GroupFigureEvidence, GroupSummaryEvidence
from reports.figures import figure
from reports.glyphs import FONT, FONT_BOLD, FONT_ITALIC, fit

__all__ = [
    "HEIGHT",
    "VERSION_HEIGHT",
    "Label",
    "group_labels",
    "labelled",
    "n_of",
    "name_of",
    "ratio_of",
    "version_labels",
]

SIZE = 6.5
NO_BAND = "band not drawn: reference value undefined"
REF = " (ref)"


@dataclass(frozen=True)
class Label:
    """One string a chart draws: where, how aligned, in which font and colour, on a patch."""

    text: str
    x: float
    y: float
    font: str = FONT
    size: float = SIZE
    align: Literal["left", "centre", "right"] = "left"
    colour: Literal["black", "band", "grey"] = "black"
    patch: bool = False


def _tick_label(value: float, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step)) + (1 if step / 10.0 ** math.floor(
        math.log10(step)) == 2.5 else 0))
    return f"{value:.{decimals}f}"


def _ticks(scale: Scale) -> list[Label]:
    return [Label(_tick_label(v, scale.step), LEFT - 5, scale.y(v) - 2.5, align="right")
            for v in scale.ticks()]


def _edge(text: str, y: float) -> Label:
    return Label(fit(f"{text} x ref", FONT, SIZE, RIGHT - 4), BODY_WIDTH - RIGHT + 3,
                 y - 2.5, colour="band")


def _centred(text: str, x: float, y: float, room: float, bold: bool = False,
             patch: bool = True) -> Label:
    return Label(fit(text, FONT, SIZE, room), x, y,
                 FONT_BOLD if bold else FONT, align="centre", patch=patch)


def _legend_labels(entries: Sequence[LegendEntry]) -> list[Label]:
    return [Label(e.text, e.x, e.y, size=LEGEND_SIZE) for e in entries]


def name_of(g: GroupFigureEvidence) -> str:
    """A bar's group name, the reference marked."""
    return g.group + (REF if g.is_reference else "")


def ratio_of(g: GroupFigureEvidence) -> str:
    """A version chart bar's ratio, the reference marked."""
    return figure(g.ratio) + (REF if g.is_reference else "")


def n_of(g: GroupFigureEvidence) -> str:
    """A bar's n, as recorded."""
    return "n unknown" if g.n is None else f"n={g.n}"


def _group(scale: Scale, bar: Bar) -> list[Label]:
    g, centre, room = bar.group, bar.x + bar.width / 2, bar.width - 2
    label_top = scale.y(0.0) + 3
    if bar.value is not None:
        label_top = max(scale.y(0.0), scale.y(bar.value)) + 3
    shown = figure(g.value) if bar.value is not None else f"{figure(g.value)} (not drawn)"
    return [_centred(f"ratio {figure(g.ratio)}", centre, label_top, room),
            _centred(shown, centre, label_top + 8, room),
            _centred(name_of(g), centre, BOTTOM - 10, room, bold=True, patch=False),
            _centred(n_of(g), centre, BOTTOM - 18, room, patch=False)]


def group_labels(summary: GroupSummaryEvidence) -> list[Label]:
    """Legend, band edges, ticks, then per group (natural order) its ratio, value, name and n;
    in drawing order."""
    band = band_of(summary)
    scale = group_scale(summary, band)
    out = _legend_labels(group_legend(summary))
    if band:
        out += [_edge(summary.band[0], scale.y(band[0])), _edge(summary.band[1], scale.y(band[1]))]
    out += _ticks(scale)
    for bar in group_bars(summary):
        out += _group(scale, bar)
    if band is None:
        out.append(Label(NO_BAND, LEFT + 4, scale.top + 4, FONT_ITALIC, 7, colour="grey"))
    return out


def _bar_lines(scale: Scale, bar: Bar) -> list[Label]:
    """Group, n and ratio under one bar of a version chart (narrow: "(ref)" goes with the
    ratio, which is 1 for the reference)."""
    g, centre, room = bar.group, bar.x + bar.width / 2, bar.width - 1
    top = scale.bottom - 8
    return [_centred(g.group, centre, top, room, bold=True, patch=False),
            _centred(n_of(g), centre, top - 7, room, patch=False),
            _centred(ratio_of(g), centre, top - 14, room, patch=False)]


def version_labels(items: Sequence[tuple[int, GroupSummaryEvidence]]) -> list[Label]:
    """Legend, ticks, per version its name and (when wide enough) each bar's group, n and
    ratio, then "ratio 1 = ref" and a shared band's edges; in drawing order."""
    scale = ratio_scale(items)
    slot = (BODY_WIDTH - RIGHT - LEFT) / max(len(items), 1)
    out = _legend_labels(version_legend(items)) + _ticks(scale)
    every = max(1, math.ceil(24 / slot))
    each = labelled(items)
    for i, ((version, _), bars) in enumerate(zip(items, version_bars(items), strict=True)):
        if i % every == 0:
            out.append(Label(f"v{version}", LEFT + (i + 0.5) * slot, 4.0, FONT_BOLD,
                             align="centre"))
        if each:
            out += [label for bar in bars for label in _bar_lines(scale, bar)]
    out.append(Label("ratio 1 = ref", BODY_WIDTH - RIGHT + 3, scale.y(1.0) - 2.5))
    bands = {s.band for _, s in items}
    if len(bands) == 1:  # one band for every version: name its edges once, at the right
        for edge in next(iter(bands)):
            value = number(edge)
            if value is not None and abs(value - 1.0) * (scale.top - scale.bottom) > \
                    8 * (scale.high - scale.low):
                out.append(_edge(edge, scale.y(value)))
    return out
