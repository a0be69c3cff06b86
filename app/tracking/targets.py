"""Protected target names as protection compares them and as reports print them."""

from __future__ import annotations

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold(target: str) -> str:
    """A target as protection compares it: ASCII letters in lower case."""
    return target.translate(_ASCII_LOWER)


def shown(target: str) -> str:
    """'alias:champion' → '@champion'; 'stage:Production' → 'stage Production'."""
    kind, _, value = target.partition(":")
    return f"@{value}" if kind == "alias" else f"stage {value}"
