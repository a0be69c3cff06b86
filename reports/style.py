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

__all__ = [
    "BODY_WIDTH",
    "BOTTOM_MARGIN",
    "FLAG_WORDING",
    "MARGIN",
    "PAGE_SIZE",
    "RED",
    "STYLES",
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

_BASE = ParagraphStyle("body", fontName="Helvetica", fontSize=9, leading=11.5, spaceAfter=4)
STYLES: dict[str, ParagraphStyle] = {
    "body": _BASE,
    "title": ParagraphStyle("title", _BASE, fontName="Helvetica-Bold", fontSize=20, leading=24,
                            spaceAfter=10),
    "h1": ParagraphStyle("h1", _BASE, fontName="Helvetica-Bold", fontSize=14, leading=17,
                         spaceBefore=10, spaceAfter=6, keepWithNext=1),
    "h2": ParagraphStyle("h2", _BASE, fontName="Helvetica-Bold", fontSize=11, leading=14,
                         spaceBefore=8, spaceAfter=4, keepWithNext=1),
    "h3": ParagraphStyle("h3", _BASE, fontName="Helvetica-Bold", fontSize=9.5, leading=12,
                         spaceBefore=6, spaceAfter=3, keepWithNext=1),
    "cell": ParagraphStyle("cell", _BASE, fontSize=7.5, leading=9, spaceAfter=0),
    "cellhead": ParagraphStyle("cellhead", _BASE, fontName="Helvetica-Bold", fontSize=7.5,
                               leading=9, spaceAfter=0),
    "mono": ParagraphStyle("mono", _BASE, fontName="Courier", fontSize=7, leading=8.5,
                           spaceAfter=0, wordWrap="CJK"),
    "empty": ParagraphStyle("empty", _BASE, fontName="Helvetica-Oblique", textColor=colors.grey),
    "flag": ParagraphStyle("flag", _BASE, fontSize=8.5, leading=10.5, textColor=FLAG_COLOUR,
                           spaceBefore=2, spaceAfter=2),
    "warning": ParagraphStyle("warning", _BASE, fontName="Helvetica-Bold", fontSize=12,
                              leading=15, textColor=RED, alignment=TA_CENTER),
    "warningbody": ParagraphStyle("warningbody", _BASE, textColor=RED, alignment=TA_CENTER),
    "caption": ParagraphStyle("caption", _BASE, fontSize=7.5, leading=9, textColor=colors.grey),
    "label": ParagraphStyle("label", _BASE, fontSize=7.5, leading=9, textColor=colors.grey,
                            spaceBefore=5, spaceAfter=2, keepWithNext=1),
    "after": ParagraphStyle("after", _BASE, spaceBefore=4),
    "lead": ParagraphStyle("lead", _BASE, keepWithNext=1),
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
    return "".join(_visible(ch) for ch in text)


def _markup(text: str) -> str:
    return escape(clean(text)).replace("\n", "<br/>")


def para(text: str, style: str = "body") -> Paragraph:
    """A paragraph of plain (not markup) text in a named style."""
    return Paragraph(_markup(text), STYLES[style])


def rich(markup: str, style: str = "body") -> Paragraph:
    """A paragraph of trusted markup; interpolate user text only through ``esc``."""
    return Paragraph(markup, STYLES[style])


def esc(text: str) -> str:
    """User text made safe for ``rich`` markup."""
    return _markup(text)


def mono(text: str) -> Paragraph:
    """Digests, ids and other codes: fixed width, may break anywhere so they never overflow."""
    return Paragraph(_markup(text), STYLES["mono"])


def heading(text: str, level: int = 1) -> Paragraph:
    """A section heading (level 1 to 3)."""
    return para(text, f"h{level}")


def empty(text: str) -> Paragraph:
    """An honest statement that something was not logged."""
    return para(text, "empty")


def flag(text: str) -> Paragraph:
    """A finding to look at, always worded as a flag for review."""
    return para(f"{FLAG_WORDING}: {text}", "flag")


def figure(value: str | None) -> str:
    """A decimal figure as stored, or "undefined"."""
    return UNDEFINED if value is None else value


def _cell(value: Cell, header: bool) -> Flowable:
    if isinstance(value, str):
        return para(value, "cellhead" if header else "cell")
    return value


def data_table(header: Sequence[str], rows: Sequence[Sequence[Cell]],
               fractions: Sequence[float], *, highlight: Sequence[int] = ()) -> Table:
    """A full-width table that wraps every cell and repeats its header on each page."""
    widths = [BODY_WIDTH * f / sum(fractions) for f in fractions]
    body = [[_cell(h, True) for h in header]]
    body += [[_cell(c, False) for c in row] for row in rows]
    table = Table(body, colWidths=widths, repeatRows=1, hAlign="LEFT", splitInRow=1)
    commands: list[tuple[Any, ...]] = [
        ("BACKGROUND", (0, 0), (-1, 0), HEADER_BG),
        ("GRID", (0, 0), (-1, -1), 0.4, GRID),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ]
    for i in range(2, len(body), 2):
        commands.append(("BACKGROUND", (0, i), (-1, i), ZEBRA_BG))
    for i in highlight:
        commands.append(("BACKGROUND", (0, i + 1), (-1, i + 1), colors.HexColor("#fdeee0")))
    table.setStyle(TableStyle(commands))
    return table


def kv_table(pairs: Sequence[tuple[str, Cell]], key_fraction: float = 0.28) -> Table:
    """A two-column key/value table without a header row."""
    widths = [BODY_WIDTH * key_fraction, BODY_WIDTH * (1 - key_fraction)]
    body = [[para(k, "cellhead"), _cell(v, False)] for k, v in pairs]
    table = Table(body, colWidths=widths, hAlign="LEFT", splitInRow=1)
    table.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.4, GRID),
        ("BACKGROUND", (0, 0), (0, -1), HEADER_BG),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]))
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
