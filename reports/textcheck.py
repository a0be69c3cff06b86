"""The text check: a PDF's extracted text against the text its evidence's story must print.

Pure (pypdf to open the file, reports/pdftext.py to read its text, no ReportLab), so it gives
the same verdict whatever renderer version made the PDF. Whitespace is ignored (line breaking
depends on the renderer); everything else must match: no text missing, none added, in drawing
order. Two layout effects are allowed: a table's header row repeated before one of its rows
(ReportLab repeats it where the table continues: at the top of a page, and where it splits a
row too tall for the space left), and an item (a paragraph, or the cells of one table row)
split across a page break, each cell of a split row continuing on the next page. A PDF that
draws text or images in a way reports never do fails (reports/pdftext.py names what).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from pypdf import PdfReader
from pypdf.errors import PyPdfError

from reports.chart_text import group_labels, version_labels
from reports.doc import (
    Code,
    GroupChartNode,
    Heading,
    Keep,
    KeyValue,
    Node,
    Para,
    Table,
    VersionChartNode,
    WarningBox,
)
from reports.errors import ReportError
from reports.extract import Source, open_pdf, read_attachment
from reports.furniture import TEMPLATE_VERSION, furniture
from reports.glyphs import clean
from reports.pdftext import page_texts
from reports.stories import Evidence, story

__all__ = [
    "Expected", "Item", "Origin", "expected_text", "origin", "renderer_of", "squeeze",
    "verify_text",
]

_RENDERER = re.compile(r"ReportLab [0-9][0-9A-Za-z.+]*[0-9A-Za-z+]")
_TEMPLATE = re.compile(r"report template (\w+)")
_PLACEHOLDER = "0" * 64
_BUDGET = 20000  # tries when fitting a row's cells to a page end


def squeeze(text: str) -> str:
    """``text`` with every whitespace character removed."""
    return "".join(text.split())


@dataclass(frozen=True)
class Item:
    """Strings drawn together, in order: one paragraph, code, chart label, or the cells of
    one table row (``table`` numbers the table; ``header`` marks its header row)."""

    cells: tuple[str, ...]
    table: int | None = None
    header: bool = False


@dataclass(frozen=True)
class Expected:
    """The token stream a report must print, and each table's header (whitespace removed)."""

    items: tuple[Item, ...]
    headers: dict[int, str]

    def text(self) -> str:
        """Everything, whitespace removed (headers once)."""
        return "".join(squeeze(c) for item in self.items for c in item.cells)


def _cell(value: str | Code) -> str:
    return clean(value.text if isinstance(value, Code) else value)


def _items(nodes: Iterable[Node], tables: list[int]) -> Iterable[Item]:
    for node in nodes:
        if isinstance(node, Heading | Para | Code):
            yield Item((clean(node.text),))
        elif isinstance(node, Keep):
            yield from _items(node.children, tables)
        elif isinstance(node, Table):
            tables.append(len(tables))
            yield Item(tuple(clean(h) for h in node.header), tables[-1], header=True)
            yield from (Item(tuple(_cell(c) for c in row), tables[-1]) for row in node.rows)
        elif isinstance(node, KeyValue):
            yield from (Item((clean(k), _cell(v))) for k, v in node.pairs)
        elif isinstance(node, WarningBox):
            yield from (Item((clean(p.text),)) for p in node.children)
        elif isinstance(node, GroupChartNode):
            yield from (Item((label.text,)) for label in group_labels(node.summary))
        elif isinstance(node, VersionChartNode):
            yield from (Item((label.text,)) for label in version_labels(node.items))


def expected_text(evidence: Evidence, *, bundle_size: int, renderer: str) -> Expected:
    """The token stream of the story render.py lays out for ``evidence`` (ReportError if the
    evidence cannot be rendered); ``renderer`` as the cover names it, e.g. "ReportLab 5.1.0"."""
    items = tuple(_items(story(evidence, bundle_size, renderer), []))
    headers = {i.table: "".join(squeeze(c) for c in i.cells)
               for i in items if i.header and i.table is not None}
    return Expected(items, headers)


def renderer_of(producer: str | None) -> str | None:
    """The renderer a PDF's Producer names ("mlaudit report template 2; ReportLab 5.1.0")."""
    found = _RENDERER.search(producer or "")
    return found.group(0) if found else None


@dataclass(frozen=True)
class Origin:
    """What a PDF's document information says made it."""

    producer: str
    renderer: str | None
    template: str | None


def origin(reader: PdfReader) -> Origin:
    """The Producer, the renderer it names, and the report template (from the Producer, or
    the Creator of reports made before the Producer named it)."""
    info = reader.metadata
    producer = str(info.get("/Producer", "")) if info is not None else ""
    creator = str(info.get("/Creator", "")) if info is not None else ""
    template = _TEMPLATE.search(producer) or _TEMPLATE.search(creator)
    return Origin(producer, renderer_of(producer), template.group(1) if template else None)


@dataclass
class _Cursor:
    """Where matching stands: the next item, and what is left of it if a page ended in it."""

    k: int = 0
    rest: tuple[str, ...] | None = None


def _split(cells: Sequence[str], tail: str) -> tuple[str, ...] | None:
    """What is left of each cell when ``tail`` (the rest of a page) is made of a prefix of each
    cell in turn: how a row split across a page break is drawn. None if it is not."""
    budget = [_BUDGET]

    def fit(i: int, at: int) -> tuple[str, ...] | None:
        budget[0] -= 1
        if i == len(cells):
            return () if at == len(tail) and budget[0] >= 0 else None
        cell, most = cells[i], 0
        while most < len(cell) and at + most < len(tail) and cell[most] == tail[at + most]:
            most += 1
        for length in range(most, -1, -1):
            found = fit(i + 1, at + length) if budget[0] > 0 else None
            if found is not None:
                return (cell[length:], *found)
        return None

    return fit(0, 0)


def _word(text: str, at: int) -> tuple[int, str]:
    """The whitespace-free offset and the word of ``text`` holding its ``at``-th non-space."""
    start = 0
    for word in text.split():
        if at < start + len(word):
            return start, word
        start += len(word)
    return start, ""


def _quote(text: str) -> str:
    return '"' + (text if len(text) <= 60 else text[:57] + "...") + '"'


def _mismatch(page: int, found: str, items: Sequence[Item], cursor: _Cursor) -> str:
    """One line naming the first word that differs, as expected and as printed."""
    cells: list[str] = []
    if cursor.k < len(items):
        cells = list(cursor.rest if cursor.rest is not None else items[cursor.k].cells)
    cells += [c for item in items[cursor.k + 1:cursor.k + 40] for c in item.cells]
    offset = 0
    for cell in cells:
        wanted = squeeze(cell)
        here = found[offset:offset + len(wanted)]
        if here != wanted:
            d = next((i for i, (a, b) in enumerate(zip(wanted, here, strict=False)) if a != b),
                     len(here))
            start, word = _word(cell, d)
            shown = found[offset + start:offset + start + len(word)]
            if not shown:
                return f"page {page}: expected {_quote(word)} but the page ends there"
            return f"page {page}: expected {_quote(word)} but the PDF says {_quote(shown)}"
        offset += len(wanted)
    return f"page {page}: the text is not in the expected order near {_quote(found[:40])}"


def _header(expected: Expected, item: Item) -> str:
    """The header a body row of a table may follow again (ReportLab repeats it where the
    table continues: at the top of a page, or where a row is split); else ""."""
    if item.header or item.table is None:
        return ""
    return expected.headers.get(item.table, "")


def _match_page(page: int, text: str, expected: Expected, cursor: _Cursor) -> str | None:
    """Consume one page's text (footer removed); a message on the first difference."""
    items, pos, repeated = expected.items, 0, -1
    while cursor.k < len(items) and pos < len(text):
        now = cursor.rest if cursor.rest is not None else items[cursor.k].cells
        cells = tuple(squeeze(c) for c in now)
        whole = "".join(cells)
        if text.startswith(whole, pos):
            pos += len(whole)
            cursor.k, cursor.rest = cursor.k + 1, None
            continue
        header = _header(expected, items[cursor.k])
        if header and repeated != cursor.k and text.startswith(header, pos):
            pos, repeated = pos + len(header), cursor.k  # at most once before each row
            continue
        rest = _split(cells, text[pos:])
        if rest is None:
            return _mismatch(page, text[pos:], items, cursor)
        cursor.rest, pos = rest, len(text)
    if pos < len(text):
        return f"page {page}: unexpected text {_quote(text[pos:pos + 40])}"
    return None


def _body(text: str, footer: str) -> str | None:
    """The page's text without its footer; None if the footer is not where page.py draws it."""
    if text.endswith(footer):
        return text[:len(text) - len(footer)]
    if text.startswith(footer):
        return text[len(footer):]
    return None


def _match(pages: Sequence[str], evidence: Evidence, expected: Expected) -> str | None:
    cursor = _Cursor()
    for number, raw in enumerate(pages, start=1):
        footer = squeeze("".join(furniture(evidence.meta, number, len(pages))))
        body = _body(squeeze(raw), footer)
        if body is None:
            return f"page {number}: the footer does not read {_quote(footer)}"
        problem = _match_page(number, body, expected, cursor)
        if problem:
            return problem
    items = expected.items
    if cursor.k < len(items):
        first = cursor.rest if cursor.rest is not None else items[cursor.k].cells
        left = [c for c in (*first, *(c for i in items[cursor.k + 1:] for c in i.cells))
                if squeeze(c)]
        if left:
            return f"page {len(pages)}: the report ends before {_quote(left[0])}"
    return None


def _with_hash(evidence: Evidence, attachment: bytes) -> Evidence:
    """Evidence as rendered: a bundle's placeholder hash replaced by the attachment's."""
    if evidence.meta.evidence_sha256 != _PLACEHOLDER:
        return evidence
    meta = replace(evidence.meta, evidence_sha256=hashlib.sha256(attachment).hexdigest())
    return replace(evidence, meta=meta)


def verify_text(pdf: Source, evidence: Evidence) -> str | None:
    """None when the PDF (its bytes, or a reader already open on them) prints exactly the
    text the evidence's story must print (whitespace aside, footers included), else one line
    naming the page and the first difference.

    ``evidence`` may carry the bundle's placeholder hash (64 zeros): the hash of the PDF's
    attached bundle is used instead, as render_bundle does."""
    try:
        reader = pdf if isinstance(pdf, PdfReader) else open_pdf(pdf)
        attachment = read_attachment(reader)
        made = origin(reader)
        if made.renderer is None:
            return "the PDF's Producer does not name the renderer that laid it out"
        if made.template not in (None, TEMPLATE_VERSION):
            return (f"the PDF was made with report template {made.template}; this check "
                    f"reads template {TEMPLATE_VERSION}")
        evidence = _with_hash(evidence, attachment)
        expected = expected_text(evidence, bundle_size=len(attachment), renderer=made.renderer)
        pages = page_texts(reader)
    except ReportError as exc:
        return str(exc)
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return f"the PDF's text cannot be read: {type(exc).__name__}: {exc}"
    return _match(pages, evidence, expected)
