"""Read back what a rendered report carries: the embedded evidence bundle and the footer hash."""

# Needs pypdf, which rendering does not; hence this module is not imported by reports/__init__.

from __future__ import annotations

import io
import re

from pypdf import PdfReader
from pypdf.errors import PdfReadError

from reports.errors import ReportError
from reports.page import ATTACHMENT_NAME, FOOTER_LABEL

__all__ = ["footer_hash", "footer_hashes", "read_attachment"]

_FOOTER = re.compile(re.escape(FOOTER_LABEL) + r"\s+([0-9a-f]{64})\b")


def _reader(pdf_bytes: bytes) -> PdfReader:
    try:
        return PdfReader(io.BytesIO(pdf_bytes), strict=False)
    except (PdfReadError, ValueError) as exc:
        raise ReportError(f"not a readable PDF: {exc}") from exc


def read_attachment(pdf_bytes: bytes) -> bytes:
    """The embedded evidence bundle's bytes; ReportError unless exactly one is attached."""
    files = _reader(pdf_bytes).attachments.get(ATTACHMENT_NAME, [])
    if len(files) != 1:
        raise ReportError(f"expected one attachment {ATTACHMENT_NAME}, found {len(files)}")
    return bytes(files[0])


def footer_hashes(pdf_bytes: bytes) -> list[str | None]:
    """The evidence hash printed in each page's footer, in page order (None where missing)."""
    out: list[str | None] = []
    for page in _reader(pdf_bytes).pages:
        found = _FOOTER.findall(page.extract_text() or "")
        out.append(found[-1] if found else None)
    return out


def footer_hash(pdf_bytes: bytes) -> str:
    """The hash printed in every footer; ReportError if a page lacks it or pages disagree."""
    hashes = footer_hashes(pdf_bytes)
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
