"""Read back what a rendered report carries: the embedded evidence bundle and the footer hash."""

# Needs pypdf, which rendering does not; hence this module is not imported by reports/__init__.

from __future__ import annotations

import io
import re
from typing import Any

from pypdf import PdfReader
from pypdf.errors import PdfReadError

from reports.errors import ReportError
from reports.markers import ATTACHMENT_NAME, FOOTER_LABEL

__all__ = ["Source", "footer_hash", "footer_hashes", "open_pdf", "read_attachment"]

_FOOTER = re.compile(re.escape(FOOTER_LABEL) + r"\s+([0-9a-f]{64})\b")
# How page.py's footer draws the hash: one literal string shown with Tj.
_FOOTER_OP = re.compile(rb"\(" + re.escape(FOOTER_LABEL.encode("ascii"))
                        + rb" ([0-9a-f]{64})\) Tj")

Source = bytes | PdfReader
"""PDF bytes, or a reader from open_pdf() so that one file is parsed once."""


def open_pdf(pdf_bytes: bytes) -> PdfReader:
    """Parse a PDF once for several reads; ReportError if it is not a readable PDF."""
    try:
        return PdfReader(io.BytesIO(pdf_bytes), strict=False)
    except (PdfReadError, ValueError) as exc:
        raise ReportError(f"not a readable PDF: {exc}") from exc


def _reader(pdf: Source) -> PdfReader:
    return pdf if isinstance(pdf, PdfReader) else open_pdf(pdf)


def read_attachment(pdf: Source) -> bytes:
    """The embedded evidence bundle's bytes; ReportError unless exactly one is attached."""
    try:
        files = _reader(pdf).attachments.get(ATTACHMENT_NAME, [])
    except (PdfReadError, ValueError, KeyError) as exc:
        raise ReportError(f"not a readable PDF: {exc}") from exc
    if len(files) != 1:
        raise ReportError(f"expected one attachment {ATTACHMENT_NAME}, found {len(files)}")
    return bytes(files[0])


def _page_hash(page: Any) -> str | None:
    """The footer hash of one page: found in its content stream where page.py drew it, else
    (a PDF from elsewhere, or rewritten) by full text extraction."""
    try:
        contents = page.get_contents()
        raw = contents.get_data() if contents is not None else b""
    except (PdfReadError, ValueError, KeyError):
        raw = b""
    found = _FOOTER_OP.findall(raw)
    if found:
        return str(found[-1].decode("ascii"))
    text = _FOOTER.findall(page.extract_text() or "")
    return str(text[-1]) if text else None


def footer_hashes(pdf: Source) -> list[str | None]:
    """The evidence hash printed in each page's footer, in page order (None where missing)."""
    try:
        return [_page_hash(page) for page in _reader(pdf).pages]
    except (PdfReadError, ValueError, KeyError) as exc:
        raise ReportError(f"not a readable PDF: {exc}") from exc


def footer_hash(pdf: Source) -> str:
    """The hash printed in every footer; ReportError if a page lacks it or pages disagree."""
    hashes = footer_hashes(pdf)
    if not hashes:
        raise ReportError("the PDF has no pages")
    missing = [i for i, h in enumerate(hashes, start=1) if h is None]
    if missing:
        raise ReportError(f"page {missing[0]} has no evidence hash in its footer")
    if len(set(hashes)) != 1:
        raise ReportError("pages print different evidence hashes")
    first = hashes[0]
    assert first is not None
    return first
