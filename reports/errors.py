"""The one error the report package raises: the evidence cannot be rendered as given."""

from __future__ import annotations

__all__ = ["ReportError"]


class ReportError(ValueError):
    """The evidence is inconsistent or malformed; the message names the offending field."""
