"""Text without Paragraph: wrapping to widths (reports/glyphs.py) and two flowables.

ReportLab's Paragraph parses markup and breaks lines in pure Python; for the plain text that
fills most of a report (cells, headings, statements) these simpler pieces are several times
cheaper and draw the same glyphs.
"""

from __future__ import annotations

from collections.abc import Sequence

from reportlab.lib.enums import TA_CENTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.platypus import Flowable

from reports.glyphs import FONT, FONT_BOLD, FONT_MONO, clean, text_width

__all__ = [
    "CELL_BOLD",
    "CELL_FONT",
    "CELL_LEADING",
    "CELL_SIZE",
    "CODE_FONT",
    "CODE_LEADING",
    "CODE_SIZE",
    "Code",
    "Text",
    "clean",
    "code_lines",
    "text_lines",
    "text_width",
]


CELL_FONT, CELL_BOLD, CELL_SIZE, CELL_LEADING = FONT, FONT_BOLD, 7.5, 9.0
CODE_FONT, CODE_SIZE, CODE_LEADING = FONT_MONO, 7.0, 8.5
_CODE_ADVANCE = text_width("0", CODE_FONT, CODE_SIZE)  # the mono font: one advance for all


def _chunks(line: str, per_line: int) -> list[str]:
    return [line[i:i + per_line] for i in range(0, len(line), per_line)] or [""]


def code_lines(text: str, room: float) -> list[str]:
    """Fixed-width text broken anywhere into lines that fit ``room`` points."""
    per_line = max(int(room // _CODE_ADVANCE), 1)
    return [chunk for line in clean(text).split("\n") for chunk in _chunks(line, per_line)]


def _break_word(word: str, font: str, room: float, size: float = CELL_SIZE) -> list[str]:
    """A word too long for a line, cut into pieces that fit (at least one character each)."""
    pieces = []
    while len(word) > 1 and text_width(word, font, size) > room:
        low, high = 1, len(word) - 1  # the longest prefix that fits, by bisection
        while low < high:
            mid = (low + high + 1) // 2
            if text_width(word[:mid], font, size) <= room:
                low = mid
            else:
                high = mid - 1
        pieces.append(word[:low])
        word = word[low:]
    return pieces + [word]


def text_lines(text: str, font: str, room: float, size: float = CELL_SIZE) -> list[str]:
    """Proportional text greedily wrapped at spaces (long words cut) to fit ``room`` points."""
    text = clean(text)
    if "\n" not in text and text_width(text, font, size) <= room:
        return [text]
    lines: list[str] = []
    for raw in text.split("\n"):
        line = ""
        for word in raw.split(" "):
            candidate = f"{line} {word}" if line else word
            if text_width(candidate, font, size) <= room:
                line = candidate
                continue
            if line:
                lines.append(line)
            *full, line = _break_word(word, font, room, size)
            lines += full
        lines.append(line)
    return lines


class Text(Flowable):  # type: ignore[misc]  # ReportLab is untyped
    """Plain text in one paragraph style, wrapped at spaces: a Paragraph without the markup
    parser and its line breaker, which are most of a report's cost for body text."""

    def __init__(self, text: str, style: ParagraphStyle, lines: Sequence[str] | None = None,
                 first: bool = True, last: bool = True) -> None:
        super().__init__()
        self.text, self.style = text, style
        self._lines: list[str] = list(lines) if lines is not None else []
        # Space before only on the first part of a split, space after only on the last.
        self.spaceBefore = style.spaceBefore if first else 0
        self.spaceAfter = style.spaceAfter if last else 0
        self._first, self._last = first, last

    def _wrapped(self, width: float) -> list[str]:
        return text_lines(self.text, self.style.fontName, width, self.style.fontSize)

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        self._lines = self._wrapped(avail_width)
        self.width, self.height = avail_width, len(self._lines) * self.style.leading
        return self.width, self.height

    def split(self, avail_width: float, avail_height: float) -> list[Flowable]:
        lines = self._wrapped(avail_width)
        fit = int(avail_height // self.style.leading)
        if fit < 1 or fit >= len(lines):
            return [] if fit < 1 else [self]
        return [Text("\n".join(lines[:fit]), self.style, lines[:fit], self._first, False),
                Text("\n".join(lines[fit:]), self.style, lines[fit:], False, self._last)]

    def draw(self) -> None:
        canv, style = self.canv, self.style
        canv.setFont(style.fontName, style.fontSize)
        canv.setFillColor(style.textColor)
        y = self.height - style.fontSize
        for line in self._lines:
            if style.alignment == TA_CENTER:
                canv.drawCentredString(self.width / 2, y, line)
            else:
                canv.drawString(0, y, line)
            y -= style.leading


class Code(Flowable):  # type: ignore[misc]  # ReportLab is untyped
    """Fixed-width text (digests, ids, notes) that breaks anywhere, drawn without Paragraph.

    In a table it becomes a plain multi-line cell; on its own it wraps to the frame and splits
    across pages.
    """

    def __init__(self, text: str, lines: Sequence[str] | None = None) -> None:
        super().__init__()
        self.text = text
        self._lines: list[str] = list(lines) if lines is not None else []

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        self._lines = code_lines(self.text, avail_width)
        self.width, self.height = avail_width, len(self._lines) * CODE_LEADING
        return self.width, self.height

    def split(self, avail_width: float, avail_height: float) -> list[Flowable]:
        lines = code_lines(self.text, avail_width)
        fit = int(avail_height // CODE_LEADING)
        if fit < 1 or fit >= len(lines):
            return [] if fit < 1 else [self]
        return [Code("\n".join(lines[:fit]), lines[:fit]),
                Code("\n".join(lines[fit:]), lines[fit:])]

    def draw(self) -> None:
        text = self.canv.beginText(0, self.height - CODE_SIZE)
        text.setFont(CODE_FONT, CODE_SIZE, CODE_LEADING)
        for line in self._lines:
            text.textLine(line)
        self.canv.drawText(text)
