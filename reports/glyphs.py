"""Glyph widths and coverage of the embedded report fonts, and text cleaning: no ReportLab.

The widths and the code points come from reports/glyph_widths.py (data generated from the
pinned DejaVu files), so that chart labels and footers can be fitted, and checked, without
ReportLab or the font files installed. tests/pdf_reports/test_textcheck.py compares them with
what ReportLab reads from the fonts.
"""

from __future__ import annotations

import base64
import struct
import zlib
from functools import cache, lru_cache

from reports import glyph_widths as data

__all__ = [
    "FONT", "FONT_BOLD", "FONT_ITALIC", "FONT_MONO", "FONTS", "clean", "covered", "fit",
    "text_width", "widths",
]

FONT, FONT_BOLD, FONT_ITALIC = "DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique"
FONT_MONO = "DejaVuSansMono"
FONTS = (FONT, FONT_BOLD, FONT_ITALIC, FONT_MONO)


@cache
def _tables() -> tuple[frozenset[int], dict[str, dict[int, float]]]:
    """The code points every font draws, and each font's widths in 1/1000 em."""
    if data.FONT_ORDER != FONTS:
        raise AssertionError("reports/glyph_widths.py was generated for other fonts")
    blob = zlib.decompress(base64.b64decode("".join(data.BLOB)))
    n = data.COUNT
    points = struct.unpack_from(f"<{n}I", blob)
    scale = 1000 / data.UNITS_PER_EM
    tables = {}
    for i, font in enumerate(FONTS):
        units = struct.unpack_from(f"<{n}H", blob, 4 * n + 2 * n * i)
        tables[font] = {cp: u * scale for cp, u in zip(points, units, strict=True)}
    return frozenset(points), tables


def widths(font: str) -> dict[int, float]:
    """Code point -> advance width (1/1000 em) of one report font."""
    return _tables()[1][font]


def covered(ch: str) -> bool:
    """True when every report font has a glyph for ``ch`` (else it is printed as U+XXXX)."""
    return ord(ch) in _tables()[0]


def _visible(ch: str) -> str:
    """Keep what the embedded fonts can draw; name anything else by its code point."""
    if ch == "\n":
        return ch
    if ch == "\t":
        return " "
    if ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 or not covered(ch):
        return f"[U+{ord(ch):04X}]"
    return ch


def clean(text: str) -> str:
    """Text safe for the report fonts: characters they lack are shown as [U+XXXX]."""
    if text.isascii() and (text.isprintable() or text.replace("\n", "").isprintable()):
        return text  # the common case, without a call per character
    return "".join(_visible(ch) for ch in text)


@lru_cache(maxsize=16384)
def _units(text: str, font: str) -> float:
    table = widths(font)
    default = data.DEFAULT_UNITS[font] * 1000 / data.UNITS_PER_EM
    return float(sum(table.get(ord(ch), default) for ch in text))


def text_width(text: str, font: str, size: float) -> float:
    """Width in points of (cleaned) ``text`` in a report font, as ReportLab's stringWidth."""
    return _units(text, font) * size / 1000


def fit(text: str, font: str, size: float, room: float) -> str:
    """``text`` cleaned and shortened with an ellipsis until it fits ``room`` points."""
    text = clean(text)
    while len(text) > 1 and text_width(text, font, size) > room:
        text = text[:-2] + "\u2026"
    return text
