"""Chart geometry and every string a chart draws, in drawing order: pure, no ReportLab.

charts.py draws the bars and bands and then exactly these labels; textcheck.py expects them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from reports.doc import BODY_WIDTH, UNDEFINED
from reports.evidence import GroupSummaryEvidence
from reports.glyphs import FONT, FONT_BOLD, FONT_ITALIC, fit

__all__ = [
    "BOTTOM",
    "HEIGHT",
    "LEFT",
    "RIGHT",
    "VERSION_HEIGHT",
    "Label",
    "Scale",
    "band_of",
    "group_labels",
    "group_scale",
    "number",
    "ratio_scale",
    "version_labels",
]

HEIGHT = 165.0
VERSION_HEIGHT = 150.0
LABEL_ROOM = 16.0
LEFT, RIGHT, TOP, BOTTOM = 44.0, 70.0, 4.0, 34.0
SIZE = 6.5
NO_BAND = "band not drawn: reference value undefined"


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


def _tick_label(value: float, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step)) + (1 if step / 10.0 ** math.floor(
        math.log10(step)) == 2.5 else 0))
    return f"{value:.{decimals}f}"


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


def group_scale(summary: GroupSummaryEvidence, band: tuple[float, float] | None) -> Scale:
    """The value axis of a group chart; the space above the top tick holds the bar labels."""
    values = [v for v in (number(g.value) for g in summary.groups) if v is not None]
    return _fitted(values + list(band or ()), BOTTOM, HEIGHT - TOP - LABEL_ROOM)


def ratio_scale(items: Sequence[tuple[int, GroupSummaryEvidence]]) -> Scale:
    """The ratio axis of a version chart (1, every ratio and every band edge on it)."""
    values = [1.0] + [v for _, s in items for v in (number(g.ratio) for g in s.groups)
                      if v is not None]
    values += [v for _, s in items for v in (number(s.band[0]), number(s.band[1]))
               if v is not None]
    return _fitted(values, 18.0, VERSION_HEIGHT - TOP - 6)


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


def _group(scale: Scale, summary: GroupSummaryEvidence, i: int, slot: float) -> list[Label]:
    g = summary.groups[i]
    value = number(g.value)
    centre = LEFT + i * slot + slot / 2
    label_top = scale.y(0.0) + 3
    if value is not None:
        label_top = max(scale.y(0.0), scale.y(value)) + 3
    shown = g.value if value is not None else f"{g.value} (not drawn)"
    ratio = UNDEFINED if g.ratio is None else g.ratio
    name = g.group + (" (ref)" if g.is_reference else "")
    n = "n unknown" if g.n is None else f"n={g.n}"
    return [_centred(f"ratio {ratio}", centre, label_top, slot - 2),
            _centred(shown, centre, label_top + 8, slot - 2),
            _centred(name, centre, BOTTOM - 10, slot - 2, bold=True, patch=False),
            _centred(n, centre, BOTTOM - 18, slot - 2, patch=False)]


def group_labels(summary: GroupSummaryEvidence) -> list[Label]:
    """Band edges, ticks, then per group its ratio, value, name and n; in drawing order."""
    band = band_of(summary)
    scale = group_scale(summary, band)
    out: list[Label] = []
    if band:
        out += [_edge(summary.band[0], scale.y(band[0])), _edge(summary.band[1], scale.y(band[1]))]
    out += _ticks(scale)
    slot = (BODY_WIDTH - RIGHT - LEFT) / max(len(summary.groups), 1)
    for i in range(len(summary.groups)):
        out += _group(scale, summary, i, slot)
    if band is None:
        out.append(Label(NO_BAND, LEFT + 4, HEIGHT - 10, FONT_ITALIC, 7, colour="grey"))
    return out


def version_labels(items: Sequence[tuple[int, GroupSummaryEvidence]]) -> list[Label]:
    """Ticks, version names (about 24 points apart), "ratio 1 = ref" and a shared band's edges."""
    scale = ratio_scale(items)
    slot = (BODY_WIDTH - RIGHT - LEFT) / max(len(items), 1)
    out = _ticks(scale)
    every = max(1, math.ceil(24 / slot))
    out += [Label(f"v{version}", LEFT + (i + 0.5) * slot, scale.bottom - 10, align="centre")
            for i, (version, _) in enumerate(items) if i % every == 0]
    out.append(Label("ratio 1 = ref", BODY_WIDTH - RIGHT + 3, scale.y(1.0) - 2.5))
    bands = {s.band for _, s in items}
    if len(bands) == 1:  # one band for every version: name its edges once, at the right
        for edge in next(iter(bands)):
            value = number(edge)
            if value is not None and abs(value - 1.0) * (scale.top - scale.bottom) > \
                    8 * (scale.high - scale.low):
                out.append(_edge(edge, scale.y(value)))
    return out
