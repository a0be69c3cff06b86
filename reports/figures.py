"""Figures for people: decimal strings from the evidence rounded for display, never via float.

The rule, stated once in every report (ROUNDING_RULE):

- a decimal value is shown to 4 significant digits, rounded half to even (Decimal, no float);
- a value whose integer part has more than 4 digits is rounded to a whole number instead, so
  no integer digit is replaced by a zero that would read as exact (123456.7 -> "123457");
- trailing zeros are printed only when they are significant: an exact value is shown as it
  is ("0.8", "1"), a rounded one with all 4 digits ("0.80001" -> "0.8000");
- positional notation is used from 10^-6 up to (not including) 10^15; outside that range, where
  a positional number would be a row of zeros, the value reads "1.235 × 10^18";
- integers (counts, n) are never rounded; a missing figure reads "undefined"; stored non-finite
  values ("NaN", "Infinity", "-Infinity") and any text that is not a decimal are shown verbatim.

Policy thresholds are exact commitments, so they are never rounded (`threshold`).
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation, localcontext

__all__ = [
    "FULL_PRECISION_APPENDIX",
    "ROUNDING_RULE",
    "SIGNIFICANT_DIGITS",
    "UNDEFINED",
    "count",
    "figure",
    "full",
    "is_rounded",
    "threshold",
]

SIGNIFICANT_DIGITS = 4
UNDEFINED = "undefined"
FULL_PRECISION_APPENDIX = "A"
ROUNDING_RULE = (
    f"Figures are shown to {SIGNIFICANT_DIGITS} significant digits (rounded half to even; whole "
    f"numbers above 9999 to the nearest unit); full precision is in Appendix "
    f"{FULL_PRECISION_APPENDIX} and in the evidence bundle.")
# Values from 10^_WHOLE_FROM (10000) up are rounded to whole numbers.
_WHOLE_FROM = SIGNIFICANT_DIGITS
# Positional notation for rounded values with 10^_MIN_EXP <= |value| < 10^_MAX_EXP.
_MIN_EXP, _MAX_EXP = -6, 15
_FINITE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# Enough precision for a 15-digit whole number; exponents as wide as the service accepts.
_CONTEXT = Context(prec=40, rounding=ROUND_HALF_EVEN, Emin=-999999, Emax=999999)


def _parse(value: str) -> Decimal | None:
    """A finite decimal string as Decimal, or None (non-finite or not a decimal)."""
    if not _FINITE.fullmatch(value):
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        return None


def _round(d: Decimal) -> Decimal:
    """``d`` (finite, non-zero) rounded to the display rule, with its significant zeros."""
    with localcontext(_CONTEXT):
        if _WHOLE_FROM <= d.adjusted() < _MAX_EXP:
            whole = d.quantize(Decimal(1))
            if whole.adjusted() < _MAX_EXP:  # else it rounded up to 10^15: significant digits
                return whole
        exp = d.adjusted() - (SIGNIFICANT_DIGITS - 1)
        rounded = d.quantize(Decimal(1).scaleb(exp))
        if rounded.adjusted() > d.adjusted():  # 9.9996 -> 10.000: one digit too many
            rounded = d.quantize(Decimal(1).scaleb(exp + 1))
        return rounded


def _positional(d: Decimal) -> str:
    text = format(d, "f")
    return "0" if text.lstrip("-").strip("0.") == "" else text


def _scientific(d: Decimal) -> str:
    with localcontext(_CONTEXT):
        exponent = d.adjusted()
        mantissa = d.scaleb(-exponent)
    return f"{format(mantissa, 'f')} × 10^{exponent}"


def figure(value: str | None) -> str:
    """A decimal string from the evidence as a reader sees it (the module's rule)."""
    if value is None:
        return UNDEFINED
    d = _parse(value)
    if d is None:
        return value
    if d.is_zero():
        return "0"
    rounded = _round(d)
    shown = d.normalize(_CONTEXT) if rounded == d else rounded
    if _MIN_EXP <= rounded.adjusted() < _MAX_EXP:
        return _positional(shown)
    return _scientific(shown)


def is_rounded(value: str | None) -> bool:
    """Whether `figure` changes the value, so the appendix must give it in full."""
    if value is None:
        return False
    d = _parse(value)
    return d is not None and not d.is_zero() and _round(d) != d


def full(value: str | None) -> str:
    """The value at full precision, as stored (for the appendix), or "undefined"."""
    return UNDEFINED if value is None else value


def count(n: int | None, missing: str = "not recorded") -> str:
    """An integer (count, n, size) unchanged; ``missing`` when it was not recorded."""
    return missing if n is None else str(n)


def threshold(value: str, ratio: bool = False) -> str:
    """A policy threshold exactly as committed, never rounded; a ratio threshold gets at least
    two decimal places ("0.8" -> "0.80"), which adds no digit that was not there."""
    d = _parse(value)
    if d is None or not ratio:
        return value
    exponent = d.as_tuple().exponent
    if isinstance(exponent, int) and exponent <= -2:
        return format(d, "f")
    with localcontext(_CONTEXT):
        return format(d.quantize(Decimal("0.01")), "f")
