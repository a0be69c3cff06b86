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
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import BaseDocTemplate, Flowable, Frame, PageTemplate

from reports.errors import ReportError
from reports.evidence import ReportMeta
from reports.style import BOTTOM_MARGIN, MARGIN, PAGE_SIZE, RED, clean

__all__ = [
    "ATTACHMENT_NAME",
    "FAILURE_LINE",
    "FOOTER_LABEL",
    "REPORTLAB_VERSION",
    "TEMPLATE_VERSION",
    "build_pdf",
]

ATTACHMENT_NAME = "evidence-bundle.json"
FOOTER_LABEL = "Evidence SHA-256"
FAILURE_LINE = "LEDGER VERIFICATION FAILED \u2014 see Integrity"
TEMPLATE_VERSION = "1"
"""Bumped whenever the layout changes, so that re-rendering names the template it needs."""

StoryFactory = Callable[[], list[Flowable]]

# Some ReportLab code paths (graphics, PDF comments) read the global flag rather than the
# document's, so the output would depend on the caller's settings; pin it for the process.
rl_config.invariant = 1


def _footer(canv: Any, meta: ReportMeta, total: int | None) -> None:
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
    page = f"page {canv.getPageNumber()} of {total if total is not None else '?'}"
    canv.drawRightString(width - MARGIN, BOTTOM_MARGIN - 48, page)
    room = width - 2 * MARGIN - stringWidth(page, "Helvetica", 7.5) - 12
    canv.drawString(MARGIN, BOTTOM_MARGIN - 48, _fit(f"Report {meta.report_id}", room))
    canv.restoreState()


def _fit(text: str, room: float) -> str:
    """Shorten ``text`` with an ellipsis until it fits ``room`` points in the footer font."""
    text = clean(text)
    while text and stringWidth(text, "Helvetica", 7.5) > room:
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
        pageCompression=0,
        lang="en",
    )


def _render(story: list[Flowable], meta: ReportMeta, bundle: bytes,
            total: int | None) -> tuple[bytes, int]:
    buffer = io.BytesIO()
    doc = _document(buffer, meta)

    def on_page(canv: Any, _doc: Any) -> None:
        if canv.getPageNumber() == 1:
            _attach(canv, bundle, meta.evidence_sha256)
        _footer(canv, meta, total)

    frame = Frame(doc.leftMargin, doc.bottomMargin, doc.width, doc.height, id="body",
                  leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)
    doc.addPageTemplates([PageTemplate(id="report", frames=[frame], onPage=on_page)])
    doc.build(story)
    return buffer.getvalue(), int(doc.page)


def build_pdf(story: StoryFactory, meta: ReportMeta, bundle: bytes) -> bytes:
    """Lay the story out twice (the first pass counts pages for "page N of M") and return bytes."""
    if hashlib.sha256(bundle).hexdigest() != meta.evidence_sha256:
        raise ReportError("meta.evidence_sha256 is not the SHA-256 of the bundle bytes")
    _, pages = _render(story(), meta, bundle, None)
    pdf, again = _render(story(), meta, bundle, pages)
    if again != pages:
        raise ReportError(f"layout is unstable: {pages} pages, then {again}")
    return pdf
