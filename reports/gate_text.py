"""A gate result's figures for people: named, rounded by the display rule, thresholds exact."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from reports.evidence_registry import GateEvidence
from reports.figures import UNDEFINED, figure, threshold

__all__ = ["gate_figures", "gate_figures_text", "gate_finding"]

# Figures that are measured values (rounded for display), by key or by "prefix:" of the key.
_MEASURED = {"value", "min_max_ratio", "max_difference"}
_MEASURED_PREFIX = {"value": "value", "ratio": "ratio to reference"}
_THRESHOLDS = {"at_least": "at least", "at_most": "at most", "band_low": "band from",
               "band_high": "band to"}
_RATIO_THRESHOLDS = {"band_low", "band_high"}
_NAMES = {"min_max_ratio": "min/max ratio", "max_difference": "max difference",
          "without_digest": "without a digest", "min_n": "minimum n"}


def _one(key: str, value: str | None, gate: str) -> tuple[str, str]:
    if key == "value" and not gate.startswith(("minimum:", "maximum:")):
        return "value", "not logged" if value is None else value  # a parameter's or tag's text
    prefix, sep, group = key.partition(":")
    if sep and prefix in _MEASURED_PREFIX:
        return f"{_MEASURED_PREFIX[prefix]} {group}", figure(value)
    if sep and prefix == "n":
        return f"n {group}", "not recorded" if value is None else value
    if sep and prefix == "groups":
        return f"groups of {group}", value or "0"
    if value is None:
        return _NAMES.get(key, key.replace("_", " ")), UNDEFINED if key in _MEASURED else "none"
    if key in _MEASURED:
        return _NAMES.get(key, key.replace("_", " ")), figure(value)
    if key in _THRESHOLDS:
        ratio = key in _RATIO_THRESHOLDS or (key == "at_least" and gate.startswith("fairness"))
        return _THRESHOLDS[key], threshold(value, ratio=ratio)
    return _NAMES.get(key, key.replace("_", " ")), value


def gate_figures(gate: GateEvidence) -> tuple[tuple[str, str], ...]:
    """(label, shown value) per figure, in the evaluation's order; a measured value missing
    reads "undefined", a missing list "none", an unrecorded n "not recorded"."""
    return tuple(_one(k, v, gate.gate) for k, v in gate.figures)


def gate_figures_text(gate: GateEvidence) -> str:
    """The figures on one line: "min/max ratio 0.6613; at least 0.80; n female 480"."""
    return "; ".join(f"{label} {value}" for label, value in gate_figures(gate))


def _number(text: str | None) -> Decimal | None:
    try:
        found = None if text is None else Decimal(text)
    except InvalidOperation:
        return None
    return found if found is not None and found.is_finite() else None


def _band_finding(f: dict[str, str | None]) -> list[str]:
    """The groups a reference-and-band gate fails on: ratio outside the band or undefined,
    or n below the minimum."""
    low, high = _number(f.get("band_low")), _number(f.get("band_high"))
    min_n = _number(f.get("min_n"))
    out = []
    for key, value in f.items():
        prefix, _, group = key.partition(":")
        ratio = _number(value)
        if prefix == "ratio" and (ratio is None or (low is not None and ratio < low)
                                  or (high is not None and ratio > high)):
            out.append(f"{group} ratio {figure(value)}")
        n = _number(value)
        if prefix == "n" and min_n is not None and (n is None or n < min_n):
            out.append(f"{group} n {value or 'not recorded'} < {f['min_n']}")
    return out


def _bound_finding(f: dict[str, str | None], key: str, sign: str, ratio: bool) -> list[str]:
    bound = f.get(key)
    if bound is None:
        return []
    measured = f.get("min_max_ratio" if ratio else "value")
    shown = "not logged" if measured is None else figure(measured)
    name = "min/max ratio" if ratio else "value"
    return [f"{name} {shown}, needs {sign} {threshold(bound, ratio=ratio)}"]


def gate_finding(gate: GateEvidence) -> str:
    """Why a gate failed, short and rounded: "female ratio 0.7013", "value 0.71, needs ≥ 0.75";
    the evaluation's own detail when the figures do not say."""
    f = dict(gate.figures)
    kind = gate.gate.partition(":")[0]
    if kind == "fairness" and "min_max_ratio" in gate.gate.rsplit("/", 1)[-1]:
        found = _bound_finding(f, "at_least", "≥", True) + _band_finding(f)
    elif kind == "fairness":
        found = _band_finding(f)
    elif kind == "minimum":
        found = _bound_finding(f, "at_least", "≥", False)
    elif kind == "maximum":
        found = _bound_finding(f, "at_most", "≤", False)
    else:
        found = []
    return "; ".join(found) or gate.detail
