"""Bar charts of grouped metrics drawn on the canvas; every string comes from chart_text.py."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reportlab.lib import colors
from reportlab.platypus import Flowable

from reports.chart_text import (
    HEIGHT,
    LEFT,
    RIGHT,
    VERSION_HEIGHT,
    Label,
    Scale,
    band_of,
    group_labels,
    group_scale,
    number,
    ratio_scale,
    version_labels,
)
from reports.doc import BODY_WIDTH
from reports.evidence import GroupFigureEvidence, GroupSummaryEvidence
from reports.glyphs import text_width

__all__ = ["GroupChart", "VersionChart"]

BAR = colors.HexColor("#6b8cae")
REFERENCE = colors.HexColor("#2f4f6f")
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


def _bar_colour(g: GroupFigureEvidence) -> colors.Color:
    if g.is_reference:
        return REFERENCE
    return FLAGGED if g.flags else BAR


def _draw_bar(c: Any, scale: Scale, g: GroupFigureEvidence, x: float, slot: float) -> None:
    value = number(g.value)
    if value is not None:
        base, tip = scale.y(0.0), scale.y(value)
        c.setFillColor(_bar_colour(g))
        c.rect(x + slot * 0.2, min(base, tip), slot * 0.6, abs(tip - base), stroke=0, fill=1)


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
        groups = summary.groups
        slot = (BODY_WIDTH - RIGHT - LEFT) / max(len(groups), 1)
        for i, g in enumerate(groups):
            _draw_bar(c, scale, g, LEFT + i * slot, slot)
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


def _slot_bars(c: Any, scale: Scale, s: GroupSummaryEvidence, x: float, width: float) -> None:
    bar = width / max(len(s.groups), 1)
    base = scale.y(0.0)
    for i, g in enumerate(s.groups):
        ratio = number(g.ratio)
        if ratio is None:
            continue
        tip = scale.y(ratio)
        c.setFillColor(_bar_colour(g))
        c.rect(x + i * bar + bar * 0.1, min(base, tip), bar * 0.8, abs(tip - base), stroke=0,
               fill=1)


class VersionChart(Flowable):  # type: ignore[misc]  # ReportLab is untyped
    """One grouped metric across versions: per version, each group's ratio to the reference as
    a bar, over the band that version applied."""

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
        for i, (_, s) in enumerate(items):
            _slot_bars(c, scale, s, LEFT + i * slot + slot * 0.1, slot * 0.8)
        _axis(c, scale)
        _labels(c, version_labels(items))
