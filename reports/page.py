"""Deterministic PDF assembly: page frame, footer on every page, evidence bundle attachment."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from typing import Any

from reportlab import Version as REPORTLAB_VERSION
from reportlab import rl_config
from reportlab.lib import colors
from reportlab.pdfbase.pdfdoc import PDFArray, PDFDictionary, PDFName, PDFStream, PDFString
from reportlab.pdfgen.canvas import PATH_OPS, Canvas
from reportlab.platypus import BaseDocTemplate, Flowable, Frame, PageTemplate

from reports.errors import ReportError
from reports.evidence import ReportMeta
from reports.markers import ATTACHMENT_NAME, FAILURE_LINE, FOOTER_LABEL, TEMPLATE_VERSION
from reports.style import BOTTOM_MARGIN, MARGIN, PAGE_SIZE, RED, clean, text_width

__all__ = [
    "ATTACHMENT_NAME",
    "FAILURE_LINE",
    "FOOTER_LABEL",
    "REPORTLAB_VERSION",
    "TEMPLATE_VERSION",
    "build_pdf",
]

StoryFactory = Callable[[], list[Flowable]]
_BASE14 = frozenset({"Helvetica", "Helvetica-Bold", "Helvetica-Oblique", "Courier",
                     "Courier-Bold", "Times-Roman", "Times-Bold"})

# Some ReportLab code paths (graphics, PDF comments) read the global flag rather than the
# document's, so the output would depend on the caller's settings; pin it for the process.
rl_config.invariant = 1


def _footer(canv: Any, meta: ReportMeta, total: int) -> None:
    """Hash, page number and (for a failed ledger check) the red warning, on every page."""
    width = PAGE_SIZE[0]
    canv.saveState()
    canv.setStrokeColor(colors.HexColor("#b4bac2"))
    canv.setLineWidth(0.5)
    canv.line(MARGIN, BOTTOM_MARGIN - 10, width - MARGIN, BOTTOM_MARGIN - 10)
    if meta.failed:
        canv.setFillColor(RED)
        canv.setFont("Helvetica-Bold", 8.5)
        canv.drawString(MARGIN, BOTTOM_MARGIN - 24, FAILURE_LINE)
    canv.setFillColor(colors.black)
    canv.setFont("Courier", 7)
    canv.drawString(MARGIN, BOTTOM_MARGIN - 36, f"{FOOTER_LABEL} {meta.evidence_sha256}")
    canv.setFont("Helvetica", 7.5)
    page = f"page {canv.getPageNumber()} of {total}"
    canv.drawRightString(width - MARGIN, BOTTOM_MARGIN - 48, page)
    room = width - 2 * MARGIN - text_width(page, "Helvetica", 7.5) - 12
    canv.drawString(MARGIN, BOTTOM_MARGIN - 48, _fit(f"Report {meta.report_id}", room))
    canv.restoreState()


def _fit(text: str, room: float) -> str:
    """Shorten ``text`` with an ellipsis until it fits ``room`` points in the footer font."""
    text = clean(text)
    while text and text_width(text, "Helvetica", 7.5) > room:
        text = text[:-2] + "\u2026"
    return text


def _attach(canv: Any, bundle: bytes, sha256_hex: str) -> None:
    """Embed the bundle as a file attachment and fix the document id to the bundle hash."""
    doc = canv._doc
    stream = PDFStream(
        PDFDictionary({
            "Type": PDFName("EmbeddedFile"),
            # PDFName leaves "/" unescaped; a MIME subtype name needs it as #2F.
            "Subtype": "/application#2Fjson",
            "Params": PDFDictionary({"Size": len(bundle)}),
        }),
        bundle,
    )
    ref = doc.Reference(stream)
    spec = PDFDictionary({
        "Type": PDFName("Filespec"),
        "F": PDFString(ATTACHMENT_NAME),
        "UF": PDFString(ATTACHMENT_NAME),
        "Desc": PDFString("mlaudit evidence bundle (RFC 8785 canonical JSON)"),
        "AFRelationship": PDFName("Data"),
        "EF": PDFDictionary({"F": ref, "UF": ref}),
    })
    names = PDFArray([PDFString(ATTACHMENT_NAME), doc.Reference(spec)])
    doc.Catalog.Names = PDFDictionary({"EmbeddedFiles": PDFDictionary({"Names": names})})
    doc.Catalog.setPageMode("UseAttachments")
    # The id is normally an MD5 over metadata; tie it to the evidence instead (still fixed).
    ident = f"<{sha256_hex[:32]}>".encode("ascii")
    doc._ID = b"\n[" + ident + ident + b"]\n"


def _document(buffer: io.BytesIO, meta: ReportMeta) -> BaseDocTemplate:
    return BaseDocTemplate(
        buffer,
        pagesize=PAGE_SIZE,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=BOTTOM_MARGIN,
        title=clean(meta.title),
        author="mlaudit",
        subject=f"mlaudit {meta.kind} report {clean(meta.report_id)}",
        creator=f"mlaudit {clean(meta.generator_version)} (report template {TEMPLATE_VERSION})",
        producer=f"ReportLab {REPORTLAB_VERSION}",
        keywords=[f"evidence-sha256:{meta.evidence_sha256}"],
        invariant=1,
        # Uncompressed on purpose: verify-report re-renders and compares bytes, and zlib builds
        # (zlib, zlib-ng) differ in their output, so compressed bytes would depend on the machine.
        pageCompression=0,
        lang="en",
    )


def _num(value: float) -> str:
    """A coordinate for the content stream, to 1/100 point, without trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


class _FooterCanvas(Canvas):  # type: ignore[misc]  # ReportLab is untyped
    """A canvas that holds every page back until the page count is known.

    showPage() keeps the finished page's state; save() then stamps each page's footer with
    "page N of M" and writes the pages out in order. One layout pass instead of two.
    """

    footer: Callable[[Canvas, int], None] = staticmethod(lambda canv, total: None)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held: list[dict[str, Any]] = []

    def showPage(self) -> None:  # noqa: N802 (ReportLab's name)
        # _startPage gives the next page fresh accumulators, so a shallow copy is enough.
        self._held.append(dict(self.__dict__))
        self._startPage()

    # ReportLab builds a text object per string (and a width that drawString never uses).
    # For plain ASCII in a base-14 font, _show writes the same operators in one line; anything
    # else (other characters, modes, spacing) still goes through ReportLab.

    def _plain(self, text: str, **options: Any) -> bool:
        return (not any(options.values()) and self._fontname in _BASE14 and text.isascii()
                and text.isprintable())

    def _show(self, x: float, y: float, text: str) -> None:
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        self._code.append(f"BT 1 0 0 1 {_num(x)} {_num(y)} Tm ({escaped}) Tj T* ET")

    # The two shapes tables and charts draw by the thousand, with the same operators as
    # ReportLab's but numbers written by _num instead of its pure-Python fp_str.

    def line(self, x1: float, y1: float, x2: float, y2: float) -> None:
        self._code.append(f"n {_num(x1)} {_num(y1)} m {_num(x2)} {_num(y2)} l S")

    def rect(self, x: float, y: float, width: float, height: float, stroke: int = 1,
             fill: int = 0) -> None:
        self._code.append(f"n {_num(x)} {_num(y)} {_num(width)} {_num(height)} re "
                          + PATH_OPS[stroke, fill, self._fillMode])

    def drawString(self, x: float, y: float, text: str,  # noqa: N802 (ReportLab's name)
                   *args: Any, **options: Any) -> None:
        if not args and self._plain(text, **options) and self.bottomup:
            self._show(x, y, text)
        else:
            super().drawString(x, y, text, *args, **options)

    def drawRightString(self, x: float, y: float, text: str,  # noqa: N802
                        *args: Any, **options: Any) -> None:
        if not args and self._plain(text, **options) and self.bottomup:
            self._show(x - text_width(text, self._fontname, self._fontsize), y, text)
        else:
            super().drawRightString(x, y, text, *args, **options)

    def drawCentredString(self, x: float, y: float, text: str,  # noqa: N802
                          *args: Any, **options: Any) -> None:
        if not args and self._plain(text, **options) and self.bottomup:
            self._show(x - 0.5 * text_width(text, self._fontname, self._fontsize), y, text)
        else:
            super().drawCentredString(x, y, text, *args, **options)

    def save(self) -> None:
        total = len(self._held)
        for state in self._held:
            self.__dict__.update(state)
            type(self).footer(self, total)
            super().showPage()
        super().save()


def _canvas_maker(meta: ReportMeta) -> type[_FooterCanvas]:
    """A canvas class whose footer names this report."""

    def footer(canv: Canvas, total: int) -> None:
        _footer(canv, meta, total)

    return type("ReportCanvas", (_FooterCanvas,), {"footer": staticmethod(footer)})


def build_pdf(story: StoryFactory, meta: ReportMeta, bundle: bytes) -> bytes:
    """Lay the story out once; footers ("page N of M") are stamped when the count is known."""
    if hashlib.sha256(bundle).hexdigest() != meta.evidence_sha256:
        raise ReportError("meta.evidence_sha256 is not the SHA-256 of the bundle bytes")
    buffer = io.BytesIO()
    doc = _document(buffer, meta)

    def on_page(canv: Any, _doc: Any) -> None:
        if canv.getPageNumber() == 1:
            _attach(canv, bundle, meta.evidence_sha256)

    frame = Frame(doc.leftMargin, doc.bottomMargin, doc.width, doc.height, id="body",
                  leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)
    doc.addPageTemplates([PageTemplate(id="report", frames=[frame], onPage=on_page)])
    doc.build(story(), canvasmaker=_canvas_maker(meta))
    return buffer.getvalue()
