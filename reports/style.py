"""Paragraph styles and colours of the ReportLab layout; page geometry from reports/doc.py."""

from __future__ import annotations

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.styles import ParagraphStyle

from reports.doc import BODY_WIDTH, BOTTOM_MARGIN, MARGIN, PAGE_SIZE
from reports.glyphs import FONT, FONT_BOLD, FONT_ITALIC, FONT_MONO

__all__ = [
    "BODY_WIDTH",
    "BOTTOM_MARGIN",
    "GRID",
    "HEADER_BG",
    "HIGHLIGHT_BG",
    "MARGIN",
    "PAGE_SIZE",
    "RED",
    "STYLES",
    "WARNING_BG",
    "ZEBRA_BG",
]

RED = colors.HexColor("#b00020")
FLAG_COLOUR = colors.HexColor("#a04000")
HEADER_BG = colors.HexColor("#e6eaf0")
ZEBRA_BG = colors.HexColor("#f6f7f9")
HIGHLIGHT_BG = colors.HexColor("#fdeee0")
WARNING_BG = colors.HexColor("#fdecee")
GRID = colors.HexColor("#b4bac2")

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
