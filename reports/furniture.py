"""Page furniture: the lines page.py draws on every page and textcheck.py strips; pure."""

from __future__ import annotations

from reports.doc import MARGIN, PAGE_SIZE
from reports.evidence import ReportMeta
from reports.glyphs import FONT, clean, fit, text_width

__all__ = [
    "ATTACHMENT_NAME",
    "FAILURE_LINE",
    "FOOTER_FONT",
    "FOOTER_LABEL",
    "FOOTER_SIZE",
    "TEMPLATE_VERSION",
    "furniture",
    "producer",
]

ATTACHMENT_NAME = "evidence-bundle.json"
FOOTER_LABEL = "Evidence SHA-256"
FAILURE_LINE = "LEDGER VERIFICATION FAILED \u2014 see Integrity"
FOOTER_FONT, FOOTER_SIZE = FONT, 7.5
TEMPLATE_VERSION = "3"  # 3: embedded DejaVu fonts, PDF/A-3b; summary-first structure
"""Bumped whenever the layout changes, so that re-rendering names the template it needs."""


def furniture(meta: ReportMeta, page_number: int, total_pages: int) -> list[str]:
    """The footer of one page in drawing order: the failure line (a report forced despite a
    failed ledger check), the evidence hash, "page N of M", and the report id (shortened with
    an ellipsis to fit beside the page number)."""
    page = f"page {page_number} of {total_pages}"
    room = PAGE_SIZE[0] - 2 * MARGIN - text_width(page, FOOTER_FONT, FOOTER_SIZE) - 12
    lines = [FAILURE_LINE] if meta.failed else []
    return lines + [f"{FOOTER_LABEL} {clean(meta.evidence_sha256)}", page,
                    fit(f"Report {meta.report_id}", FOOTER_FONT, FOOTER_SIZE, room)]


def producer(renderer: str) -> str:
    """The PDF's Producer: the template and the renderer that laid the pages out."""
    return f"mlaudit report template {TEMPLATE_VERSION}; {renderer}"
