"""The `figures` check of a report: the PDF shows what the bundle's evidence renders to.

It compares the PDF's extracted text with the evidence (reports.textcheck), so a genuine
report passes whatever ReportLab version, or none, the verifier has. Until reports.textcheck
is in this tree, a re-render compared byte for byte stands in (it needs the renderer, so the
standalone verifier reports the check as not done).
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import TYPE_CHECKING, Any

from app.ledger.errors import LedgerError
from reports.errors import ReportError

if TYPE_CHECKING:
    from app.services.report_bundle import Bundle

__all__ = ["compare_figures"]


def _printed_evidence(attachment: bytes, bundle: Bundle) -> Any:
    """The evidence as the PDF was rendered from it: with the bundle's hash in its meta."""
    meta = dataclasses.replace(bundle.evidence.meta,
                               evidence_sha256=hashlib.sha256(attachment).hexdigest())
    return dataclasses.replace(bundle.evidence, meta=meta)


def compare_figures(pdf: bytes, attachment: bytes, bundle: Bundle) -> tuple[bool | None, str]:
    """(ok, detail): True when the PDF's text is the evidence's, None when not checked."""
    try:
        from reports.textcheck import verify_text
    except ModuleNotFoundError as exc:
        if exc.name != "reports.textcheck":
            raise  # textcheck is there but a module it needs is not: a broken install
        return _rerendered(pdf, attachment, bundle)
    try:
        problem = verify_text(pdf, _printed_evidence(attachment, bundle))
    except (ReportError, ValueError) as exc:
        return False, f"the PDF's text cannot be compared: {exc}"
    if problem is not None:
        return False, problem
    return True, "the PDF's text is what the bundle's evidence renders to"


def _rerendered(pdf: bytes, attachment: bytes, bundle: Bundle) -> tuple[bool | None, str]:
    """The stand-in until reports.textcheck lands: a re-render compared byte for byte."""
    from app.services.report_bundle import render_bundle

    try:
        rendered = render_bundle(attachment, bundle)
    except ModuleNotFoundError:
        return None, "not checked: this verifier has neither reports.textcheck nor the renderer"
    except (ReportError, LedgerError, ValueError) as exc:
        return False, f"the bundle does not render: {exc}"
    if rendered != pdf:
        at = next((i for i, (a, b) in enumerate(zip(rendered, pdf, strict=False)) if a != b),
                  min(len(rendered), len(pdf)))
        return False, (f"the PDF differs from the bundle's rendering at byte {at} "
                       f"({len(pdf)} vs {len(rendered)} bytes)")
    return True, f"re-rendered from the bundle: {len(pdf)} identical bytes"
