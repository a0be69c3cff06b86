"""Bar chart of one grouped metric, with the ratio band drawn around the reference value."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from reportlab.lib import colors
from reportlab.platypus import Flowable

from reports.evidence import GroupFigureEvidence, GroupSummaryEvidence
from reports.fonts import FONT, FONT_BOLD, FONT_ITALIC
from reports.style import BODY_WIDTH, UNDEFINED, clean, text_width

__all__ = ["GroupChart", "VersionChart", "group_chart", "version_chart"]

HEIGHT = 165.0
LABEL_ROOM = 16.0
LEFT, RIGHT, TOP, BOTTOM = 44.0, 70.0, 4.0, 34.0
BAR = colors.HexColor("#6b8cae")
REFERENCE = colors.HexColor("#2f4f6f")
FLAGGED = colors.HexColor("#d9822b")
BAND_FILL = colors.Color(0.30, 0.65, 0.35, alpha=0.18)
BAND_EDGE = colors.HexColor("#3f8f4a")


@dataclass(frozen=True)
class _Scale:
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


def _tick_label(value: float, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step)) + (1 if step / 10.0 ** math.floor(
        math.log10(step)) == 2.5 else 0))
    return f"{value:.{decimals}f}"


def _number(text: str | None) -> float | None:
    """A finite float for drawing only (figures are printed from their decimal text)."""
    if text is None:
        return None
    try:
        value = float(Decimal(text))
    except (InvalidOperation, ValueError):
        return None
    return value if math.isfinite(value) else None


def _band(summary: GroupSummaryEvidence) -> tuple[float, float] | None:
    """The band in metric units (low x reference .. high x reference), when it is defined."""
    ref = next((g for g in summary.groups if g.is_reference), None)
    ref_value = _number(ref.value) if ref else None
    low, high = _number(summary.band[0]), _number(summary.band[1])
    if ref_value is None or low is None or high is None or ref_value <= 0:
        return None
    return low * ref_value, high * ref_value


def _scale(summary: GroupSummaryEvidence, band: tuple[float, float] | None) -> _Scale:
    values = [v for v in (_number(g.value) for g in summary.groups) if v is not None]
    if band:
        values += list(band)
    top, bottom = max(values + [0.0]), min(values + [0.0])
    step = _nice_step(top - bottom)
    low = math.floor(bottom / step) * step
    high = max(math.ceil(top / step) * step, low + step)
    # The space above the top tick is kept for the labels of the tallest bar.
    return _Scale(low, high, step, BOTTOM, HEIGHT - TOP - LABEL_ROOM)


def _fit(text: str, size: float, room: float) -> str:
    text = clean(text)
    while len(text) > 1 and text_width(text, FONT, size) > room:
        text = text[:-2] + "\u2026"
    return text


def _axis(c: Any, scale: _Scale) -> None:
    right = BODY_WIDTH - RIGHT
    c.setLineWidth(0.6)
    c.line(LEFT, scale.bottom, LEFT, scale.top)
    c.line(LEFT, scale.y(0.0), right, scale.y(0.0))
    c.setLineWidth(0.5)
    c.setFont(FONT, 6.5)
    for value in scale.ticks():
        y = scale.y(value)
        c.line(LEFT - 3, y, LEFT, y)
        c.drawRightString(LEFT - 5, y - 2.5, _tick_label(value, scale.step))


def _label(c: Any, x: float, y: float, text: str, room: float, bold: bool = False,
           patch: bool = True) -> None:
    """A centred label, on a white patch (inside the plot) so band lines never run through it."""
    font = FONT_BOLD if bold else FONT
    text = _fit(text, 6.5, room)
    if patch:
        width = text_width(text, font, 6.5)
        c.setFillColor(colors.white)
        c.rect(x - width / 2 - 1, y - 1.8, width + 2, 7.6, stroke=0, fill=1)
    c.setFillColor(colors.black)
    c.setFont(font, 6.5)
    c.drawCentredString(x, y, text)


def _draw_band(c: Any, scale: _Scale, band: tuple[float, float],
               summary: GroupSummaryEvidence) -> None:
    right = BODY_WIDTH - RIGHT
    y0, y1 = scale.y(band[0]), scale.y(band[1])
    c.setFillColor(BAND_FILL)
    c.rect(LEFT, y0, right - LEFT, y1 - y0, stroke=0, fill=1)
    c.setStrokeColor(BAND_EDGE)
    c.setFillColor(BAND_EDGE)
    c.setLineWidth(0.9)
    c.setDash([3, 2])
    c.setFont(FONT, 6.5)
    for y, label in ((y0, summary.band[0]), (y1, summary.band[1])):
        c.line(LEFT, y, right, y)
        c.drawString(right + 3, y - 2.5, _fit(f"{label} x ref", 6.5, RIGHT - 4))
    c.setDash([])
    c.setStrokeColor(colors.black)
    c.setFillColor(colors.black)


def _bar_colour(g: GroupFigureEvidence) -> colors.Color:
    if g.is_reference:
        return REFERENCE
    return FLAGGED if g.flags else BAR


def _draw_group(c: Any, scale: _Scale, g: GroupFigureEvidence, x: float, slot: float) -> None:
    value = _number(g.value)
    centre = x + slot / 2
    label_top = scale.y(0.0) + 3
    if value is not None:
        base, tip = scale.y(0.0), scale.y(value)
        c.setFillColor(_bar_colour(g))
        c.rect(x + slot * 0.2, min(base, tip), slot * 0.6, abs(tip - base), stroke=0, fill=1)
        label_top = max(base, tip) + 3
    shown = g.value if value is not None else f"{g.value} (not drawn)"
    ratio = UNDEFINED if g.ratio is None else g.ratio
    for i, text in enumerate((f"ratio {ratio}", shown)):
        _label(c, centre, label_top + i * 8, text, slot - 2)
    name = g.group + (" (ref)" if g.is_reference else "")
    n = "n unknown" if g.n is None else f"n={g.n}"
    _label(c, centre, BOTTOM - 10, name, slot - 2, bold=True, patch=False)
    _label(c, centre, BOTTOM - 18, n, slot - 2, patch=False)


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
        band = _band(summary)
        scale = _scale(summary, band)
        if band:
            _draw_band(c, scale, band, summary)
        _axis(c, scale)
        groups = summary.groups
        slot = (BODY_WIDTH - RIGHT - LEFT) / max(len(groups), 1)
        for i, g in enumerate(groups):
            _draw_group(c, scale, g, LEFT + i * slot, slot)
        if band is None:
            c.setFillColor(colors.grey)
            c.setFont(FONT_ITALIC, 7)
            c.drawString(LEFT + 4, HEIGHT - 10, "band not drawn: reference value undefined")


def group_chart(summary: GroupSummaryEvidence) -> GroupChart:
    """The chart of one per-group summary, as a flowable."""
    return GroupChart(summary)


VERSION_HEIGHT = 150.0


def _ratio_scale(items: Sequence[tuple[int, GroupSummaryEvidence]]) -> _Scale:
    values = [1.0] + [v for _, s in items for v in (_number(g.ratio) for g in s.groups)
                      if v is not None]
    values += [v for _, s in items for v in (_number(s.band[0]), _number(s.band[1]))
               if v is not None]
    top, bottom = max(values + [0.0]), min(values + [0.0])
    step = _nice_step(top - bottom)
    low = math.floor(bottom / step) * step
    high = max(math.ceil(top / step) * step, low + step)
    return _Scale(low, high, step, 18.0, VERSION_HEIGHT - TOP - 6)


def _slot_band(c: Any, scale: _Scale, s: GroupSummaryEvidence, x: float, width: float) -> None:
    low, high = _number(s.band[0]), _number(s.band[1])
    if low is None or high is None:
        return
    y0, y1 = scale.y(low), scale.y(high)
    c.setFillColor(BAND_FILL)
    c.rect(x, y0, width, y1 - y0, stroke=0, fill=1)
    c.line(x, y0, x + width, y0)
    c.line(x, y1, x + width, y1)


def _slot_bars(c: Any, scale: _Scale, s: GroupSummaryEvidence, x: float, width: float) -> None:
    bar = width / max(len(s.groups), 1)
    base = scale.y(0.0)
    for i, g in enumerate(s.groups):
        ratio = _number(g.ratio)
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
        scale = _ratio_scale(items)
        slot = (BODY_WIDTH - RIGHT - LEFT) / max(len(items), 1)
        c.setStrokeColor(BAND_EDGE)
        c.setLineWidth(0.6)
        c.setDash([2, 1.5])
        for i, (_, s) in enumerate(items):
            _slot_band(c, scale, s, LEFT + i * slot + 1, slot - 2)
        c.setDash([])
        c.setStrokeColor(colors.black)
        for i, (_, s) in enumerate(items):
            _slot_bars(c, scale, s, LEFT + i * slot + slot * 0.1, slot * 0.8)
        _axis(c, scale)
        c.setFillColor(colors.black)
        c.setFont(FONT, 6.5)
        every = max(1, math.ceil(24 / slot))  # keep version labels about 24 points apart
        for i, (version, _) in enumerate(items):
            if i % every == 0:
                c.drawCentredString(LEFT + (i + 0.5) * slot, scale.bottom - 10, f"v{version}")
        c.drawString(BODY_WIDTH - RIGHT + 3, scale.y(1.0) - 2.5, "ratio 1 = ref")
        bands = {s.band for _, s in items}
        if len(bands) == 1:  # one band for every version: name its edges once, at the right
            c.setFillColor(BAND_EDGE)
            for edge in next(iter(bands)):
                value = _number(edge)
                if value is not None and abs(value - 1.0) * (scale.top - scale.bottom) > \
                        8 * (scale.high - scale.low):
                    c.drawString(BODY_WIDTH - RIGHT + 3, scale.y(value) - 2.5,
                                 _fit(f"{edge} x ref", 6.5, RIGHT - 4))


def version_chart(metric: str, items: Sequence[tuple[int, GroupSummaryEvidence]]) -> VersionChart:
    """The cross-version chart of one grouped metric (items: version number and its summary)."""
    return VersionChart(metric, items)
