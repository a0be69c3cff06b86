"""Bar charts of grouped metrics drawn on the canvas; every string comes from chart_text.py."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reportlab.lib import colors
from reportlab.platypus import Flowable

from reports.chart_geometry import (
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
    number,
    ratio_scale,
    version_bars,
    version_legend,
)
from reports.chart_legend import FLAG_INDEX, PALETTE, SWATCH, LegendEntry
from reports.chart_text import Label, group_labels, version_labels
from reports.doc import BODY_WIDTH
from reports.evidence import GroupSummaryEvidence
from reports.glyphs import text_width

__all__ = ["GroupChart", "VersionChart"]

GROUP_COLOURS = tuple(colors.HexColor(c) for c in PALETTE)
FLAGGED = colors.HexColor("#d9822b")
BAND_FILL = colors.Color(0.30, 0.65, 0.35, alpha=0.18)
BAND_EDGE = colors.HexColor("#3f8f4a")
_COLOURS = {"black": colors.black, "band": BAND_EDGE, "grey": colors.grey}


def _axis(c: Any, scale: Scale) -> None:
    right = BODY_WIDTH - RIGHT
    c.setStrokeColor(colors.black)
    c.setLineWidth(0.6)
    c.line(LEFT, scale.bottom, LEFT, scale.top)
    c.line(LEFT, scale.y(0.0), right, scale.y(0.0))
    c.setLineWidth(0.5)
    for value in scale.ticks():
        y = scale.y(value)
        c.line(LEFT - 3, y, LEFT, y)


def _labels(c: Any, labels: Sequence[Label]) -> None:
    """Draw exactly these strings, in this order; a patched label sits on a white patch (inside
    the plot) so that band lines never run through it."""
    for label in labels:
        c.setFont(label.font, label.size)
        if label.patch:
            width = text_width(label.text, label.font, label.size)
            c.setFillColor(colors.white)
            c.rect(label.x - width / 2 - 1, label.y - 1.8, width + 2, 7.6, stroke=0, fill=1)
        c.setFillColor(_COLOURS[label.colour])
        if label.align == "centre":
            c.drawCentredString(label.x, label.y, label.text)
        elif label.align == "right":
            c.drawRightString(label.x, label.y, label.text)
        else:
            c.drawString(label.x, label.y, label.text)


def _draw_band(c: Any, scale: Scale, band: tuple[float, float]) -> None:
    right = BODY_WIDTH - RIGHT
    y0, y1 = scale.y(band[0]), scale.y(band[1])
    c.setFillColor(BAND_FILL)
    c.rect(LEFT, y0, right - LEFT, y1 - y0, stroke=0, fill=1)
    c.setStrokeColor(BAND_EDGE)
    c.setLineWidth(0.9)
    c.setDash([3, 2])
    for y in (y0, y1):
        c.line(LEFT, y, right, y)
    c.setDash([])


def _hatched(c: Any, x: float, y: float, width: float, height: float) -> None:
    """Orange diagonal hatching and an orange outline: the mark of a flagged bar."""
    c.saveState()
    path = c.beginPath()
    path.rect(x, y, width, height)
    c.clipPath(path, stroke=0, fill=0)
    c.setStrokeColor(FLAGGED)
    c.setLineWidth(0.8)
    step = 4.5
    offset = -height
    while offset < width:
        c.line(x + offset, y, x + offset + height, y + height)
        offset += step
    c.restoreState()
    c.setStrokeColor(FLAGGED)
    c.setLineWidth(1.4)
    c.rect(x, y, width, height, stroke=1, fill=0)


def _swatch(c: Any, x: float, y: float, width: float, height: float, index: int,
            flagged: bool) -> None:
    if index != FLAG_INDEX:
        c.setFillColor(GROUP_COLOURS[index % len(GROUP_COLOURS)])
        c.rect(x, y, width, height, stroke=0, fill=1)
    if flagged or index == FLAG_INDEX:
        _hatched(c, x, y, width, height)


def _legend(c: Any, entries: Sequence[LegendEntry]) -> None:
    for e in entries:
        _swatch(c, e.x - SWATCH - 3, e.y - 0.5, SWATCH, SWATCH * 0.8, e.colour,
                e.colour == FLAG_INDEX)


def _draw_bar(c: Any, scale: Scale, bar: Bar, share: float) -> None:
    """A bar filling ``share`` of its place, centred, from 0 to its value."""
    if bar.value is None:
        return
    base, tip = scale.y(0.0), scale.y(bar.value)
    width = bar.width * share
    _swatch(c, bar.x + (bar.width - width) / 2, min(base, tip), width, abs(tip - base),
            bar.colour, bar.flagged)


class GroupChart(Flowable):  # type: ignore[misc]  # ReportLab is untyped
    """Bars of each group's value; the shaded band is low..high times the reference value.

    Drawn straight onto the canvas (no reportlab.graphics shape tree), which is several times
    cheaper for the hundreds of charts a model report can hold.
    """

    def __init__(self, summary: GroupSummaryEvidence) -> None:
        super().__init__()
        self.summary = summary
        self.width, self.height = BODY_WIDTH, HEIGHT

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        return self.width, self.height

    def draw(self) -> None:
        c, summary = self.canv, self.summary
        band = band_of(summary)
        scale = group_scale(summary, band)
        if band:
            _draw_band(c, scale, band)
        _axis(c, scale)
        for bar in group_bars(summary):
            _draw_bar(c, scale, bar, 0.6)
        _legend(c, group_legend(summary))
        _labels(c, group_labels(summary))


def _slot_band(c: Any, scale: Scale, s: GroupSummaryEvidence, x: float, width: float) -> None:
    low, high = number(s.band[0]), number(s.band[1])
    if low is None or high is None:
        return
    y0, y1 = scale.y(low), scale.y(high)
    c.setFillColor(BAND_FILL)
    c.rect(x, y0, width, y1 - y0, stroke=0, fill=1)
    c.line(x, y0, x + width, y0)
    c.line(x, y1, x + width, y1)


class VersionChart(Flowable):  # type: ignore[misc]  # ReportLab is untyped
    """One grouped metric across versions: per version, each group's ratio to the reference as
    a bar (same place and colour for a group in every version), over that version's band."""

    def __init__(self, metric: str, items: Sequence[tuple[int, GroupSummaryEvidence]]) -> None:
        super().__init__()
        self.metric, self.items = metric, list(items)
        self.width, self.height = BODY_WIDTH, VERSION_HEIGHT

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        return self.width, self.height

    def draw(self) -> None:
        c, items = self.canv, self.items
        scale = ratio_scale(items)
        slot = (BODY_WIDTH - RIGHT - LEFT) / max(len(items), 1)
        c.setStrokeColor(BAND_EDGE)
        c.setLineWidth(0.6)
        c.setDash([2, 1.5])
        for i, (_, s) in enumerate(items):
            _slot_band(c, scale, s, LEFT + i * slot + 1, slot - 2)
        c.setDash([])
        for bars in version_bars(items):
            for bar in bars:
                _draw_bar(c, scale, bar, 0.8)
        _axis(c, scale)
        _legend(c, version_legend(items))
        _labels(c, version_labels(items))
