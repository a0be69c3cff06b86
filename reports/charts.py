"""Bar chart of one grouped metric, with the ratio band drawn around the reference value."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from reportlab.graphics.shapes import Drawing, Line, Rect, String
from reportlab.lib import colors
from reportlab.pdfbase.pdfmetrics import stringWidth

from reports.evidence import GroupFigureEvidence, GroupSummaryEvidence
from reports.style import BODY_WIDTH, UNDEFINED, clean

__all__ = ["group_chart"]

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
    while len(text) > 1 and stringWidth(text, "Helvetica", size) > room:
        text = text[:-2] + "\u2026"
    return text


def _axis(d: Drawing, scale: _Scale) -> None:
    right = BODY_WIDTH - RIGHT
    d.add(Line(LEFT, scale.bottom, LEFT, scale.top, strokeWidth=0.6))
    d.add(Line(LEFT, scale.y(0.0), right, scale.y(0.0), strokeWidth=0.6))
    for value in scale.ticks():
        y = scale.y(value)
        d.add(Line(LEFT - 3, y, LEFT, y, strokeWidth=0.5))
        d.add(String(LEFT - 5, y - 2.5, _tick_label(value, scale.step), fontName="Helvetica",
                     fontSize=6.5, textAnchor="end"))


def _label(d: Drawing, x: float, y: float, text: str, room: float, bold: bool = False) -> None:
    """A centred label on a white patch, so band lines never run through it."""
    font = "Helvetica-Bold" if bold else "Helvetica"
    text = _fit(text, 6.5, room)
    width = stringWidth(text, font, 6.5)
    d.add(Rect(x - width / 2 - 1, y - 1.8, width + 2, 7.6, fillColor=colors.white,
               strokeColor=None))
    d.add(String(x, y, text, fontName=font, fontSize=6.5, textAnchor="middle"))


def _draw_band(d: Drawing, scale: _Scale, band: tuple[float, float],
               summary: GroupSummaryEvidence) -> None:
    right = BODY_WIDTH - RIGHT
    y0, y1 = scale.y(band[0]), scale.y(band[1])
    d.add(Rect(LEFT, y0, right - LEFT, y1 - y0, fillColor=BAND_FILL, strokeColor=None))
    for y, label in ((y0, summary.band[0]), (y1, summary.band[1])):
        d.add(Line(LEFT, y, right, y, strokeColor=BAND_EDGE, strokeWidth=0.9,
                   strokeDashArray=[3, 2]))
        d.add(String(right + 3, y - 2.5, _fit(f"{label} x ref", 6.5, RIGHT - 4),
                     fontName="Helvetica", fontSize=6.5, fillColor=BAND_EDGE))


def _bar_colour(g: GroupFigureEvidence) -> colors.Color:
    if g.is_reference:
        return REFERENCE
    return FLAGGED if g.flags else BAR


def _draw_group(d: Drawing, scale: _Scale, g: GroupFigureEvidence, x: float, slot: float) -> None:
    value = _number(g.value)
    centre = x + slot / 2
    label_top = scale.y(0.0) + 3
    if value is not None:
        base, tip = scale.y(0.0), scale.y(value)
        d.add(Rect(x + slot * 0.2, min(base, tip), slot * 0.6, abs(tip - base),
                   fillColor=_bar_colour(g), strokeColor=None))
        label_top = max(base, tip) + 3
    shown = g.value if value is not None else f"{g.value} (not drawn)"
    ratio = UNDEFINED if g.ratio is None else g.ratio
    for i, text in enumerate((f"ratio {ratio}", shown)):
        _label(d, centre, label_top + i * 8, text, slot - 2)
    name = g.group + (" (ref)" if g.is_reference else "")
    n = "n unknown" if g.n is None else f"n={g.n}"
    _label(d, centre, BOTTOM - 10, name, slot - 2, bold=True)
    _label(d, centre, BOTTOM - 18, n, slot - 2)


def group_chart(summary: GroupSummaryEvidence) -> Drawing:
    """Bars of each group's value; the shaded band is low..high times the reference value."""
    d = Drawing(BODY_WIDTH, HEIGHT)
    band = _band(summary)
    scale = _scale(summary, band)
    if band:
        _draw_band(d, scale, band, summary)
    _axis(d, scale)
    groups = summary.groups
    slot = (BODY_WIDTH - RIGHT - LEFT) / max(len(groups), 1)
    for i, g in enumerate(groups):
        _draw_group(d, scale, g, LEFT + i * slot, slot)
    if band is None:
        d.add(String(LEFT + 4, HEIGHT - 10, "band not drawn: reference value undefined",
                     fontName="Helvetica-Oblique", fontSize=7, fillColor=colors.grey))
    return d
