"""What a rendered report carries for a reader to find again; no ReportLab: verifiers use it."""

from __future__ import annotations

ATTACHMENT_NAME = "evidence-bundle.json"
FOOTER_LABEL = "Evidence SHA-256"
FAILURE_LINE = "LEDGER VERIFICATION FAILED \u2014 see Integrity"
TEMPLATE_VERSION = "2"
"""Bumped whenever the layout changes, so that re-rendering names the template it needs."""
