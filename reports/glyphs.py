"""Glyph widths of the base-14 fonts the reports draw with, and text cleaning: no ReportLab.

The tables are the WinAnsi widths (1/1000 em) of ReportLab's standard-font metrics, stored here
so that chart labels and footers can be fitted (and checked) without ReportLab installed;
tests/pdf_reports/test_textcheck.py compares them with ReportLab's own.
"""

from __future__ import annotations

from functools import lru_cache

__all__ = ["WIDTHS", "clean", "fit", "text_width"]

_HELVETICA = (
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722,
    722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722,
    667, 944, 667, 667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556,
    556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500,
    500, 334, 260, 334, 584, 350, 556, 350, 222, 556, 333, 1000, 556, 556, 333, 1000, 667, 333,
    1000, 350, 611, 350, 350, 222, 222, 333, 333, 350, 556, 1000, 333, 1000, 500, 333, 944, 350,
    500, 667, 278, 333, 556, 556, 556, 556, 260, 556, 333, 737, 370, 556, 584, 333, 737, 333,
    400, 584, 333, 333, 333, 556, 537, 278, 333, 333, 365, 556, 834, 834, 834, 611, 667, 667,
    667, 667, 667, 667, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278, 722, 722, 778, 778,
    778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611, 556, 556, 556, 556, 556, 556,
    889, 500, 556, 556, 556, 556, 278, 278, 278, 278, 556, 556, 556, 556, 556, 556, 556, 584,
    611, 556, 556, 556, 556, 500, 556, 500
)
_HELVETICA_BOLD = (
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, 975, 722, 722, 722,
    722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778, 667, 778, 722, 667, 611, 722,
    667, 944, 667, 667, 611, 333, 278, 333, 584, 556, 333, 556, 611, 556, 611, 556, 333, 611,
    611, 278, 278, 556, 278, 889, 611, 611, 611, 611, 389, 556, 333, 611, 556, 778, 556, 556,
    500, 389, 280, 389, 584, 350, 556, 350, 278, 556, 500, 1000, 556, 556, 333, 1000, 667, 333,
    1000, 350, 611, 350, 350, 278, 278, 500, 500, 350, 556, 1000, 333, 1000, 556, 333, 944, 350,
    500, 667, 278, 333, 556, 556, 556, 556, 280, 556, 333, 737, 370, 556, 584, 333, 737, 333,
    400, 584, 333, 333, 333, 611, 556, 278, 333, 333, 365, 556, 834, 834, 834, 611, 722, 722,
    722, 722, 722, 722, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278, 722, 722, 778, 778,
    778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611, 556, 556, 556, 556, 556, 556,
    889, 556, 556, 556, 556, 556, 278, 278, 278, 278, 611, 611, 611, 611, 611, 611, 611, 584,
    611, 611, 611, 611, 611, 556, 611, 556
)
_COURIER = (0,) * 32 + (600,) * 224  # fixed width; no glyph for the control codes

WIDTHS: dict[str, tuple[int, ...]] = {
    "Helvetica": _HELVETICA,
    "Helvetica-Oblique": _HELVETICA,
    "Helvetica-Bold": _HELVETICA_BOLD,
    "Helvetica-BoldOblique": _HELVETICA_BOLD,
    "Courier": _COURIER,
    "Courier-Bold": _COURIER,
}


def _visible(ch: str) -> str:
    """Keep what the standard PDF fonts can draw; name anything else by its code point."""
    if ch == "\n":
        return ch
    if ch == "\t":
        return " "
    if ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0:
        return f"[U+{ord(ch):04X}]"
    try:
        ch.encode("cp1252")
    except UnicodeEncodeError:
        return f"[U+{ord(ch):04X}]"
    return ch


def clean(text: str) -> str:
    """Text safe for the base-14 fonts: unencodable characters are shown as [U+XXXX]."""
    if text.isascii() and (text.isprintable() or text.replace("\n", "").isprintable()):
        return text  # the common case, without a call per character
    return "".join(_visible(ch) for ch in text)


@lru_cache(maxsize=16384)
def _units(text: str, font: str) -> int:
    widths = WIDTHS[font]
    return sum(widths[b] for b in text.encode("cp1252", errors="replace"))


def text_width(text: str, font: str, size: float) -> float:
    """Width in points of (cleaned) ``text`` in a base-14 font, as ReportLab's stringWidth."""
    return _units(text, font) * size / 1000


def fit(text: str, font: str, size: float, room: float) -> str:
    """``text`` cleaned and shortened with an ellipsis until it fits ``room`` points."""
    text = clean(text)
    while len(text) > 1 and text_width(text, font, size) > room:
        text = text[:-2] + "\u2026"
    return text
