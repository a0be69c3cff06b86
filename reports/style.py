"""Page geometry, paragraph styles and table helpers shared by every report section."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.platypus import Flowable, KeepTogether, Paragraph, Spacer, Table, TableStyle

from reports.fonts import FONT, FONT_BOLD, FONT_ITALIC, FONT_MONO
from reports.text import (
    CELL_BOLD,
    CELL_FONT,
    CELL_LEADING,
    CELL_SIZE,
    CODE_FONT,
    CODE_LEADING,
    CODE_SIZE,
    Code,
    Text,
    clean,
    code_lines,
    text_lines,
    text_width,
)

__all__ = [
    "BODY_WIDTH",
    "BOTTOM_MARGIN",
    "Code",
    "FLAG_WORDING",
    "MARGIN",
    "PAGE_SIZE",
    "RED",
    "STYLES",
    "Text",
    "UNDEFINED",
    "Cell",
    "block",
    "clean",
    "data_table",
    "empty",
    "esc",
    "figure",
    "flag",
    "gap",
    "heading",
    "kv_table",
    "mono",
    "para",
    "rich",
    "text_width",
]

PAGE_SIZE = A4
MARGIN = 48.0
BOTTOM_MARGIN = 72.0
BODY_WIDTH = PAGE_SIZE[0] - 2 * MARGIN
RED = colors.HexColor("#b00020")
FLAG_COLOUR = colors.HexColor("#a04000")
HEADER_BG = colors.HexColor("#e6eaf0")
ZEBRA_BG = colors.HexColor("#f6f7f9")
GRID = colors.HexColor("#b4bac2")
UNDEFINED = "undefined"
FLAG_WORDING = "flag for review"

Cell: TypeAlias = str | Flowable

_BASE = ParagraphStyle("body", fontName=FONT, fontSize=9, leading=11.5, spaceAfter=4)
STYLES: dict[str, ParagraphStyle] = {
    "body": _BASE,
    "title": ParagraphStyle("title", _BASE, fontName=FONT_BOLD, fontSize=20, leading=24,
                            spaceAfter=10),
    "h1": ParagraphStyle("h1", _BASE, fontName=FONT_BOLD, fontSize=14, leading=17,
                         spaceBefore=10, spaceAfter=6, keepWithNext=1),
    "h2": ParagraphStyle("h2", _BASE, fontName=FONT_BOLD, fontSize=11, leading=14,
                         spaceBefore=8, spaceAfter=4, keepWithNext=1),
    "h3": ParagraphStyle("h3", _BASE, fontName=FONT_BOLD, fontSize=9.5, leading=12,
                         spaceBefore=6, spaceAfter=3, keepWithNext=1),
    "cell": ParagraphStyle("cell", _BASE, fontSize=7.5, leading=9, spaceAfter=0),
    "cellhead": ParagraphStyle("cellhead", _BASE, fontName=FONT_BOLD, fontSize=7.5,
                               leading=9, spaceAfter=0),
    "mono": ParagraphStyle("mono", _BASE, fontName=FONT_MONO, fontSize=7, leading=8.5,
                           spaceAfter=0, wordWrap="CJK"),
    "empty": ParagraphStyle("empty", _BASE, fontName=FONT_ITALIC, textColor=colors.grey),
    "flag": ParagraphStyle("flag", _BASE, fontSize=8.5, leading=10.5, textColor=FLAG_COLOUR,
                           spaceBefore=2, spaceAfter=2),
    "warning": ParagraphStyle("warning", _BASE, fontName=FONT_BOLD, fontSize=12,
                              leading=15, textColor=RED, alignment=TA_CENTER),
    "warningbody": ParagraphStyle("warningbody", _BASE, textColor=RED, alignment=TA_CENTER),
    "caption": ParagraphStyle("caption", _BASE, fontSize=7.5, leading=9, textColor=colors.grey),
    "label": ParagraphStyle("label", _BASE, fontSize=7.5, leading=9, textColor=colors.grey,
                            spaceBefore=5, spaceAfter=2, keepWithNext=1),
    "after": ParagraphStyle("after", _BASE, spaceBefore=4),
    "lead": ParagraphStyle("lead", _BASE, keepWithNext=1),
}


def _markup(text: str) -> str:
    return escape(clean(text)).replace("\n", "<br/>")


def para(text: str, style: str = "body") -> Text:
    """A paragraph of plain (not markup) text in a named style."""
    return Text(text, STYLES[style])


def rich(markup: str, style: str = "body") -> Paragraph:
    """A paragraph of trusted markup; interpolate user text only through ``esc``."""
    return Paragraph(markup, STYLES[style])


def esc(text: str) -> str:
    """User text made safe for ``rich`` markup."""
    return _markup(text)


def mono(text: str) -> Code:
    """Digests, ids and other codes: fixed width, may break anywhere so they never overflow."""
    return Code(text)


def heading(text: str, level: int = 1) -> Text:
    """A section heading (level 1 to 3)."""
    return para(text, f"h{level}")


def empty(text: str) -> Text:
    """An honest statement that something was not logged."""
    return para(text, "empty")


def flag(text: str) -> Text:
    """A finding to look at, always worded as a flag for review."""
    return para(f"{FLAG_WORDING}: {text}", "flag")


def figure(value: str | None) -> str:
    """A decimal figure as stored, or "undefined"."""
    return UNDEFINED if value is None else value


def _cell(value: Cell, font: str, room: float, where: tuple[int, int],
          codes: list[tuple[int, int]]) -> str | Flowable:
    """A table cell as plain (pre-wrapped) text, which tables draw far faster than Paragraphs;
    the positions of fixed-width cells go to ``codes`` (they need the mono font)."""
    if isinstance(value, str):
        return "\n".join(text_lines(value, font, room))
    if isinstance(value, Code):
        codes.append(where)
        return "\n".join(code_lines(value.text, room))
    return value


def _code_fonts(codes: Sequence[tuple[int, int]], rows: int) -> list[tuple[Any, ...]]:
    """FONT commands for the fixed-width cells: one per column that holds only codes (the
    usual digest or id column; per-cell commands are costly), else one per cell."""
    by_column: dict[int, list[int]] = {}
    for column, row in codes:
        by_column.setdefault(column, []).append(row)
    out: list[tuple[Any, ...]] = []
    for column, found in by_column.items():
        if rows > 1 and len(found) == rows - 1 and min(found) == 1:
            out.append(("FONT", (column, 1), (column, -1), CODE_FONT, CODE_SIZE, CODE_LEADING))
        else:
            out += [("FONT", (column, row), (column, row), CODE_FONT, CODE_SIZE, CODE_LEADING)
                    for row in found]
    return out


def _rows(rows: Sequence[Sequence[Cell]], widths: Sequence[float], pad: float, first: int,
          bold_columns: int, codes: list[tuple[int, int]]) -> list[list[str | Flowable]]:
    return [[_cell(c, CELL_BOLD if j < bold_columns else CELL_FONT, widths[j] - 2 * pad,
                   (j, i), codes) for j, c in enumerate(row)]
            for i, row in enumerate(rows, start=first)]


def data_table(header: Sequence[str], rows: Sequence[Sequence[Cell]],
               fractions: Sequence[float], *, highlight: Sequence[int] = ()) -> Table:
    """A full-width table that wraps every cell and repeats its header on each page."""
    widths = [BODY_WIDTH * f / sum(fractions) for f in fractions]
    commands: list[tuple[Any, ...]] = [
        ("FONT", (0, 0), (-1, 0), CELL_BOLD, CELL_SIZE, CELL_LEADING),
        ("FONT", (0, 1), (-1, -1), CELL_FONT, CELL_SIZE, CELL_LEADING),
        ("BACKGROUND", (0, 0), (-1, 0), HEADER_BG),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [None, ZEBRA_BG]),
        ("GRID", (0, 0), (-1, -1), 0.4, GRID),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ]
    for i in highlight:
        commands.append(("BACKGROUND", (0, i + 1), (-1, i + 1), colors.HexColor("#fdeee0")))
    codes: list[tuple[int, int]] = []
    body = _rows([header], widths, 3, 0, len(header), codes)
    body += _rows(rows, widths, 3, 1, 0, codes)
    table = Table(body, colWidths=widths, repeatRows=1, hAlign="LEFT", splitInRow=1)
    table.setStyle(TableStyle(commands + _code_fonts(codes, len(body))))
    return table


def kv_table(pairs: Sequence[tuple[str, Cell]], key_fraction: float = 0.28) -> Table:
    """A two-column key/value table without a header row."""
    widths = [BODY_WIDTH * key_fraction, BODY_WIDTH * (1 - key_fraction)]
    commands: list[tuple[Any, ...]] = [
        ("FONT", (0, 0), (0, -1), CELL_BOLD, CELL_SIZE, CELL_LEADING),
        ("FONT", (1, 0), (1, -1), CELL_FONT, CELL_SIZE, CELL_LEADING),
        ("GRID", (0, 0), (-1, -1), 0.4, GRID),
        ("BACKGROUND", (0, 0), (0, -1), HEADER_BG),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ("LEFTPADDING", (0, 0), (-1, -1), 6),
        ("RIGHTPADDING", (0, 0), (-1, -1), 6),
    ]
    codes: list[tuple[int, int]] = []
    body = _rows(pairs, widths, 6, 0, 1, codes)
    table = Table(body, colWidths=widths, hAlign="LEFT", splitInRow=1)
    table.setStyle(TableStyle(commands + _code_fonts(codes, 0)))
    return table


def block(*flowables: Flowable) -> KeepTogether:
    """Flowables kept on one page when they fit.

    A heading just before a block does not stay with it (ReportLab's keepWithNext skips
    containers), so put such a heading inside the block.
    """
    return KeepTogether(list(flowables))


def gap(height: float = 6) -> Spacer:
    """Vertical space."""
    return Spacer(1, height)
