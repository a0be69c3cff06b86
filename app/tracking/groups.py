"""Per-group disparity figures for one metric: ratio and difference to a reference group, flags.

Definitions (``compliance_reports.md`` §2): ratio D_g = m_g / m_r, difference Δ_g = m_g − m_r,
min/max ratio = min_g m_g / max_g m_g, max difference = max_g m_g − min_g m_g. Unless a reference
is requested, the reference is the group with the highest value (the four-fifths convention);
the summary always names it. A breach is a "flag for review", never a finding of compliance.

Precision rules (no binary floats anywhere):

* Stored values are parsed exactly as ``Decimal``; accepted spellings are plain decimals
  (``0.6``, ``-1``, ``.5``, ``2E-3``) and ``NaN``, ``Infinity``, ``+Infinity``, ``-Infinity``.
  Finite values must have an adjusted exponent in [-1000, 1000], which bounds output length.
* Ratios and differences are computed in a fixed context: 28 significant digits, ROUND_HALF_EVEN,
  the widest exponent range (so nothing overflows), every error trapped.
* The band flag uses the unrounded 28-digit ratio; the band is inclusive, so a group is
  flagged iff ratio < low or ratio > high.
* For output, ratios and differences are rounded once to 6 decimal places (ROUND_HALF_EVEN) and
  printed by ``format_decimal``: positional notation, no exponent, no trailing zeros, "0" rather
  than "0.000000" or "-0". So 0.2 − 0.1 prints "0.1" and 2/3 prints "0.666667".
* Undefined figures are ``None`` (printed "undefined"), with a note saying why: a NaN or ±Infinity
  operand (a non-finite metric value signals an upstream problem, so no limit is taken), or a zero
  denominator (reference value 0, or a highest value of 0 for the min/max ratio). Differences
  are still given when only the ratio has a zero denominator. Min/max ratio and max difference
  are undefined when any group value is non-finite, since the extremes are then unknown.
* The reference group's own ratio is "1" and difference "0" whenever they are defined.
* The highest-value reference ignores non-finite values; ties go to the smallest group name
  (code-point order) with a note. If no value is finite, the smallest name is used, with a note.
* Flags, in this order: ``ratio_out_of_band``, ``ratio_undefined``, ``small_n`` (n < min_n) and
  ``n_unknown`` (n not recorded), since an unassessable group also needs review.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import (
    MAX_EMAX,
    MIN_EMIN,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)

from app.tracking.decimals import FINITE, NON_FINITE

__all__ = [
    "DEFAULT_BAND",
    "DEFAULT_MIN_N",
    "FLAG_WORDING",
    "PLACES",
    "PRECISION",
    "GroupFigure",
    "GroupSummary",
    "GroupSummaryError",
    "GroupValue",
    "format_decimal",
    "summarize",
]

DEFAULT_BAND = (Decimal("0.8"), Decimal("1.25"))
DEFAULT_MIN_N = 30
PRECISION = 28
PLACES = 6
MAX_ABS_EXPONENT = 1000
FLAG_WORDING = "flag for review"

RATIO_OUT_OF_BAND = "ratio_out_of_band"
RATIO_UNDEFINED = "ratio_undefined"
SMALL_N = "small_n"
N_UNKNOWN = "n_unknown"

_CONTEXT = Context(
    prec=PRECISION,
    rounding=ROUND_HALF_EVEN,
    Emax=MAX_EMAX,
    Emin=MIN_EMIN,
    traps=[InvalidOperation, DivisionByZero, Overflow],
)
_QUANTUM = Decimal(1).scaleb(-PLACES)


class GroupSummaryError(ValueError):
    """The inputs cannot be summarised (no groups, bad values, unknown reference, bad band)."""


@dataclass(frozen=True)
class GroupValue:
    """The latest value of one group of the attribute, as stored."""

    group: str
    value: str
    n: int | None


@dataclass(frozen=True)
class GroupFigure:
    """One group's figures; ratio and difference are None when undefined."""

    group: str
    value: str
    n: int | None
    ratio: str | None
    difference: str | None
    is_reference: bool
    flags: tuple[str, ...]


@dataclass(frozen=True)
class GroupSummary:
    """All groups of one attribute against the named reference, with overall figures."""

    attribute: str
    reference: str
    reference_rule: str
    band: tuple[str, str]
    min_n: int
    groups: tuple[GroupFigure, ...]
    min_max_ratio: str | None
    max_difference: str | None
    flagged: tuple[str, ...]
    notes: tuple[str, ...]


@dataclass(frozen=True)
class _Parsed:
    group: str
    value: str
    n: int | None
    number: Decimal


def format_decimal(d: Decimal) -> str:
    """Print ``d`` positionally, without exponent, trailing zeros or a negative zero."""
    if d.is_nan():
        return "NaN"
    if d.is_infinite():
        return "-Infinity" if d.is_signed() else "Infinity"
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "0") else text


def _rounded(d: Decimal) -> str:
    """Round a computed finite figure to PLACES decimal places (half-even) and print it."""
    exponent = d.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -PLACES:
        d = d.quantize(_QUANTUM, context=_CONTEXT)
    return format_decimal(d)


def _parse_number(group: str, value: object) -> Decimal:
    if not isinstance(value, str):
        raise GroupSummaryError(f"group {group!r}: value must be a decimal string")
    if value in NON_FINITE:
        return NON_FINITE[value]
    if not FINITE.fullmatch(value):
        raise GroupSummaryError(f"group {group!r}: {value!r} is not a decimal string")
    try:
        number = Decimal(value)
    except InvalidOperation:
        number = Decimal("Infinity")  # an exponent beyond what decimal can hold
    if number.is_zero():
        return Decimal(0)
    if not number.is_finite() or abs(number.adjusted()) > MAX_ABS_EXPONENT:
        raise GroupSummaryError(
            f"group {group!r}: {value!r} is outside 1E-{MAX_ABS_EXPONENT}..1E+{MAX_ABS_EXPONENT}"
        )
    return number


def _parse_values(values: Sequence[GroupValue]) -> list[_Parsed]:
    if not values:
        raise GroupSummaryError("no group values to summarise")
    parsed: dict[str, _Parsed] = {}
    for item in values:
        if not isinstance(item.group, str):
            raise GroupSummaryError(f"group name {item.group!r} is not a string")
        if item.group in parsed:
            raise GroupSummaryError(f"duplicate group {item.group!r}")
        n = item.n
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
            raise GroupSummaryError(f"group {item.group!r}: n must be a non-negative integer")
        number = _parse_number(item.group, item.value)
        parsed[item.group] = _Parsed(item.group, item.value, n, number)
    return [parsed[name] for name in sorted(parsed)]


def _check_band(band: tuple[Decimal, Decimal]) -> tuple[Decimal, Decimal]:
    low, high = band
    if not (isinstance(low, Decimal) and isinstance(high, Decimal)):
        raise GroupSummaryError("band limits must be Decimal values")
    if not (low.is_finite() and high.is_finite()):
        raise GroupSummaryError("band limits must be finite")
    if low <= 0 or low > high:
        raise GroupSummaryError(f"band must satisfy 0 < low <= high, got {low}..{high}")
    return low, high


def _check_min_n(min_n: int) -> None:
    if isinstance(min_n, bool) or not isinstance(min_n, int) or min_n < 0:
        raise GroupSummaryError("min_n must be a non-negative integer")


def _highest(groups: list[_Parsed]) -> tuple[_Parsed, list[str]]:
    """The highest finite value, ties to the smallest name; notes explain any choice made."""
    notes: list[str] = []
    skipped = [g.group for g in groups if not g.number.is_finite()]
    finite = [g for g in groups if g.number.is_finite()]
    if not finite:
        notes.append(f"no group has a finite value; reference {groups[0].group!r} chosen by name")
        return groups[0], notes
    if skipped:
        notes.append(f"non-finite groups not considered for the reference: {', '.join(skipped)}")
    top = max(g.number for g in finite)
    tied = [g for g in finite if g.number == top]
    if len(tied) > 1:
        names = ", ".join(g.group for g in tied)
        notes.append(
            f"groups {names} tie for the highest value; {tied[0].group!r} is the reference"
        )
    return tied[0], notes


def _reference(
    attribute: str, groups: list[_Parsed], requested: str | None
) -> tuple[_Parsed, str, list[str]]:
    if requested is None:
        chosen, notes = _highest(groups)
        return chosen, "highest_value", notes
    for g in groups:
        if g.group == requested:
            return g, "requested", []
    available = ", ".join(g.group for g in groups)
    raise GroupSummaryError(
        f"reference group {requested!r} is not among the groups of {attribute!r}: {available}"
    )


def _reference_notes(ref: _Parsed) -> list[str]:
    if not ref.number.is_finite():
        return [
            f"reference {ref.group!r} has value {format_decimal(ref.number)}: "
            "all ratios and differences are undefined"
        ]
    if ref.number.is_zero():
        return [
            f"reference {ref.group!r} has value 0: ratios are undefined (zero denominator); "
            "differences are still given"
        ]
    return []


def _ratio_and_difference(g: _Parsed, ref: _Parsed) -> tuple[Decimal | None, Decimal | None]:
    if not (g.number.is_finite() and ref.number.is_finite()):
        return None, None
    if g is ref:
        return (None if ref.number.is_zero() else Decimal(1)), Decimal(0)
    difference = _CONTEXT.subtract(g.number, ref.number)
    if ref.number.is_zero():
        return None, difference
    return _CONTEXT.divide(g.number, ref.number), difference


def _flags(
    ratio: Decimal | None, n: int | None, band: tuple[Decimal, Decimal], min_n: int
) -> tuple[str, ...]:
    low, high = band
    flags: list[str] = []
    if ratio is None:
        flags.append(RATIO_UNDEFINED)
    elif ratio < low or ratio > high:
        flags.append(RATIO_OUT_OF_BAND)
    if n is None:
        flags.append(N_UNKNOWN)
    elif n < min_n:
        flags.append(SMALL_N)
    return tuple(flags)


def _flag_note(figure: GroupFigure, band: tuple[str, str], min_n: int) -> str:
    reasons: list[str] = []
    if RATIO_OUT_OF_BAND in figure.flags:
        reasons.append(f"ratio {figure.ratio} outside the band {band[0]} to {band[1]}")
    if RATIO_UNDEFINED in figure.flags:
        reasons.append("ratio undefined")
    if SMALL_N in figure.flags:
        reasons.append(f"n {figure.n} below {min_n}")
    if N_UNKNOWN in figure.flags:
        reasons.append("n not recorded")
    return f"group {figure.group!r}: {FLAG_WORDING} ({'; '.join(reasons)})"


def _figure(
    g: _Parsed, ref: _Parsed, band: tuple[Decimal, Decimal], min_n: int
) -> tuple[GroupFigure, list[str]]:
    ratio, difference = _ratio_and_difference(g, ref)
    notes: list[str] = []
    if not g.number.is_finite() and g is not ref:
        shown = format_decimal(g.number)
        notes.append(f"group {g.group!r} has value {shown}: its ratio and difference are undefined")
    figure = GroupFigure(
        group=g.group,
        value=g.value,
        n=g.n,
        ratio=None if ratio is None else _rounded(ratio),
        difference=None if difference is None else _rounded(difference),
        is_reference=g is ref,
        flags=_flags(ratio, g.n, band, min_n),
    )
    return figure, notes


def _overall(groups: list[_Parsed]) -> tuple[str | None, str | None, list[str]]:
    """Min/max ratio and max difference across all groups, with notes when undefined."""
    non_finite = [g.group for g in groups if not g.number.is_finite()]
    if non_finite:
        note = "min/max ratio and max difference are undefined: non-finite values in "
        return None, None, [note + ", ".join(non_finite)]
    low = min(g.number for g in groups)
    high = max(g.number for g in groups)
    difference = _rounded(_CONTEXT.subtract(high, low))
    if high.is_zero():
        return None, difference, ["min/max ratio is undefined: the highest value is 0"]
    return _rounded(_CONTEXT.divide(low, high)), difference, []


def summarize(
    attribute: str,
    values: Sequence[GroupValue],
    reference: str | None = None,
    band: tuple[Decimal, Decimal] = DEFAULT_BAND,
    min_n: int = DEFAULT_MIN_N,
) -> GroupSummary:
    """Figures for every group of ``attribute`` against the requested or highest-value group."""
    low, high = _check_band(band)
    _check_min_n(min_n)
    groups = _parse_values(values)
    ref, rule, notes = _reference(attribute, groups, reference)
    notes += _reference_notes(ref)
    shown_band = (format_decimal(low), format_decimal(high))
    figures: list[GroupFigure] = []
    for g in groups:
        figure, figure_notes = _figure(g, ref, (low, high), min_n)
        figures.append(figure)
        notes += figure_notes
    min_max_ratio, max_difference, overall_notes = _overall(groups)
    notes += overall_notes
    notes += [_flag_note(f, shown_band, min_n) for f in figures if f.flags]
    return GroupSummary(
        attribute=attribute,
        reference=ref.group,
        reference_rule=rule,
        band=shown_band,
        min_n=min_n,
        groups=tuple(figures),
        min_max_ratio=min_max_ratio,
        max_difference=max_difference,
        flagged=tuple(f.group for f in figures if f.flags),
        notes=tuple(notes),
    )
