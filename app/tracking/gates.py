"""Promotion policy gates per model: required evidence, fairness bounds and metric limits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from app.tracking.decimals import FINITE, stored_decimal
from app.tracking.groups import (
    MAX_ABS_EXPONENT,
    N_UNKNOWN,
    PLACES,
    RATIO_OUT_OF_BAND,
    RATIO_UNDEFINED,
    SMALL_N,
    GroupFigure,
    GroupSummary,
    GroupSummaryError,
    GroupValue,
    format_decimal,
    summarize,
)
from app.tracking.limits import DATASET_CONTEXTS, SHA256_HEX

__all__ = [
    "DATASET_CONTEXTS",
    "POLICY_KEYS",
    "Evaluation",
    "Evidence",
    "GateResult",
    "GroupedValue",
    "PolicyError",
    "evaluate",
    "validate_policy",
]

POLICY_KEYS = (
    "required_params",
    "required_tags",
    "required_dataset_contexts",
    "require_group_metrics",
    "fairness",
    "minimums",
    "maximums",
)
MAX_NAME = 250
MAX_DETAIL_VALUE = 60
_FAIRNESS_KEYS = {"metric", "attribute", "min_max_ratio_at_least", "reference", "band", "min_n"}
_LIMITS = {"minimums": "at_least", "maximums": "at_most"}
# Above any ratio of two stored values (|adjusted exponent| <= MAX_ABS_EXPONENT): the min/max gate
# uses the band [threshold, _UNBOUNDED] so that a flag means exactly "ratio below the threshold".
_UNBOUNDED = Decimal(f"1E+{2 * MAX_ABS_EXPONENT + 2}")


class PolicyError(ValueError):
    """The policy document is invalid; the message names the offending field."""


@dataclass(frozen=True)
class GroupedValue:
    """The latest value of a metric for one group (attribute -> group name), with its n."""

    group: Mapping[str, str]
    value: str
    n: int | None


@dataclass(frozen=True)
class Evidence:
    """What a model version has logged, as the gates see it."""

    params: Mapping[str, str]
    tags: Mapping[str, str]
    datasets: Sequence[tuple[str, str, str]]
    metrics: Mapping[str, str]
    grouped: Mapping[str, Sequence[GroupedValue]]
    sensitive_attributes: Sequence[str]


@dataclass(frozen=True)
class GateResult:
    """One gate's outcome, a one-sentence detail and the figures it used."""

    gate: str
    passed: bool
    detail: str
    figures: Mapping[str, str | None]


@dataclass(frozen=True)
class Evaluation:
    """All gates of a policy; passed iff every gate passed."""

    passed: bool
    results: tuple[GateResult, ...]


# Policy validation


def _name(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise PolicyError(f"{where}: must be a string")
    if not value.strip() or value != value.strip():
        raise PolicyError(f"{where}: must be non-empty without surrounding spaces")
    if len(value) > MAX_NAME:
        raise PolicyError(f"{where}: must be at most {MAX_NAME} characters")
    return value


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise PolicyError(f"{where}: must be a list")
    return list(value)


def _names(value: object, where: str) -> list[str]:
    names = {_name(item, f"{where}[{i}]") for i, item in enumerate(_list(value, where))}
    return sorted(names)


def _contexts(value: object, where: str) -> list[str]:
    contexts = _names(value, where)
    for context in contexts:
        if context not in DATASET_CONTEXTS:
            raise PolicyError(f"{where}: unknown context {context!r}; use {DATASET_CONTEXTS}")
    return contexts


def _decimal_text(value: object, where: str) -> str:
    """A threshold's decimal text: a string as given, or a JSON number as its JSON text said
    it (the API parses fractions as Decimal, never float). A float is refused: its repr is
    not what the client wrote, and a float is never hashed."""
    if isinstance(value, str):
        return value
    if isinstance(value, Decimal) or (isinstance(value, int) and not isinstance(value, bool)):
        return str(value)
    raise PolicyError(f'{where}: must be a decimal string such as "0.8" or a JSON number, '
                      f"not {value!r}")


def _threshold(value: object, where: str) -> Decimal:
    value = _decimal_text(value, where)
    if not FINITE.fullmatch(value):
        raise PolicyError(f"{where}: {value!r} is not a finite decimal string")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise PolicyError(f"{where}: {value!r} has an exponent out of range") from None
    if not number.is_zero() and abs(number.adjusted()) > MAX_ABS_EXPONENT:
        limit = MAX_ABS_EXPONENT
        raise PolicyError(f"{where}: {value!r} is outside 1E-{limit}..1E+{limit}")
    return Decimal(0) if number.is_zero() else number


def _ratio_threshold(value: object, where: str) -> Decimal:
    number = _threshold(value, where)
    _, _, places = format_decimal(number).partition(".")
    if len(places) > PLACES:
        raise PolicyError(f"{where}: at most {PLACES} decimal places, as ratios are shown")
    return number


def _object(
    value: object, where: str, allowed: set[str], required: tuple[str, ...]
) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise PolicyError(f"{where}: must be an object")
    unknown = sorted(str(key) for key in value if key not in allowed)
    if unknown:
        raise PolicyError(f"{where}: unknown key(s) {', '.join(unknown)}")
    missing = [key for key in required if key not in value]
    if missing:
        raise PolicyError(f"{where}: missing {', '.join(missing)}")
    return dict(value)


def _band(value: object, where: str) -> list[str]:
    items = _list(value, where)
    if len(items) != 2:
        raise PolicyError(f"{where}: must be [low, high]")
    low = _ratio_threshold(items[0], f"{where}[0]")
    high = _ratio_threshold(items[1], f"{where}[1]")
    if low <= 0 or low > high:
        raise PolicyError(f"{where}: must satisfy 0 < low <= high, got {items[0]}..{items[1]}")
    return [format_decimal(low), format_decimal(high)]


def _min_n(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PolicyError(f"{where}: must be a non-negative integer")
    return value


def _fairness_entry(value: object, where: str) -> dict[str, Any]:
    item = _object(value, where, _FAIRNESS_KEYS, ("metric", "attribute"))
    out: dict[str, Any] = {
        "metric": _name(item["metric"], f"{where}.metric"),
        "attribute": _name(item["attribute"], f"{where}.attribute"),
    }
    ratio_form = "min_max_ratio_at_least" in item
    if ratio_form and ("reference" in item or "band" in item):
        raise PolicyError(f"{where}: use min_max_ratio_at_least or reference with band, not both")
    if ratio_form:
        key = f"{where}.min_max_ratio_at_least"
        threshold = _ratio_threshold(item["min_max_ratio_at_least"], key)
        if not 0 < threshold <= 1:
            raise PolicyError(f"{key}: must be greater than 0 and at most 1")
        out["min_max_ratio_at_least"] = format_decimal(threshold)
    elif "reference" in item and "band" in item:
        out["reference"] = _name(item["reference"], f"{where}.reference")
        out["band"] = _band(item["band"], f"{where}.band")
    else:
        raise PolicyError(f"{where}: needs min_max_ratio_at_least, or reference with band")
    if "min_n" in item:
        out["min_n"] = _min_n(item["min_n"], f"{where}.min_n")
    return out


def _fairness_id(entry: Mapping[str, Any]) -> str:
    if "min_max_ratio_at_least" in entry:
        kind = "min_max_ratio"
    else:
        kind = f"ratio_to:{entry['reference']}"
    return f"fairness:{entry['metric']}/{entry['attribute']}/{kind}"


def _fairness(value: object, where: str) -> list[dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {}
    for i, item in enumerate(_list(value, where)):
        entry = _fairness_entry(item, f"{where}[{i}]")
        gate = _fairness_id(entry)
        if gate in entries:
            raise PolicyError(f"{where}[{i}]: duplicate gate {gate}")
        entries[gate] = entry
    return [entries[gate] for gate in sorted(entries)]


def _limits(value: object, where: str, bound: str) -> list[dict[str, str]]:
    entries: dict[str, dict[str, str]] = {}
    for i, raw in enumerate(_list(value, where)):
        item = _object(raw, f"{where}[{i}]", {"metric", bound}, ("metric", bound))
        metric = _name(item["metric"], f"{where}[{i}].metric")
        if metric in entries:
            raise PolicyError(f"{where}[{i}]: duplicate metric {metric!r}")
        threshold = _threshold(item[bound], f"{where}[{i}].{bound}")
        entries[metric] = {"metric": metric, bound: format_decimal(threshold)}
    return [entries[metric] for metric in sorted(entries)]


def validate_policy(document: Mapping[str, Any]) -> dict[str, Any]:
    """The normalised policy (every key, sorted lists, decimal strings) or PolicyError."""
    if not isinstance(document, Mapping):
        raise PolicyError("policy: must be a JSON object")
    unknown = sorted(str(key) for key in document if key not in POLICY_KEYS)
    if unknown:
        raise PolicyError(f"policy: unknown key(s) {', '.join(unknown)}")
    get = document.get
    policy: dict[str, Any] = {
        "required_params": _names(get("required_params", []), "required_params"),
        "required_tags": _names(get("required_tags", []), "required_tags"),
        "required_dataset_contexts": _contexts(
            get("required_dataset_contexts", []), "required_dataset_contexts"
        ),
        "require_group_metrics": _names(get("require_group_metrics", []), "require_group_metrics"),
        "fairness": _fairness(get("fairness", []), "fairness"),
    }
    for key, bound in _LIMITS.items():
        policy[key] = _limits(get(key, []), key, bound)
    return policy


# Evaluation helpers


def _result(
    gate: str, subject: str, clauses: Sequence[str], passed: bool, figures: Mapping[str, str | None]
) -> GateResult:
    verdict = "passes" if passed else "fails"
    detail = f"{subject}: {'; '.join(clauses)}, so the gate {verdict}"
    return GateResult(gate=gate, passed=passed, detail=detail, figures=dict(figures))


def _shown(value: str) -> str:
    if len(value) <= MAX_DETAIL_VALUE:
        return value
    return value[: MAX_DETAIL_VALUE - 1] + "…"


def _joined(items: Sequence[str]) -> str | None:
    return ", ".join(items) if items else None


# Required evidence


def _required_value(kind: str, name: str, values: Mapping[str, str]) -> GateResult:
    value = values.get(name)
    figures = {"name": name, "value": value}
    if value is None:
        clauses = ["not logged"]
    elif not value.strip():
        clauses = ["logged with an empty value"]
    else:
        clauses = [f"logged with value {_shown(value)}"]
    passed = bool(value and value.strip())
    return _result(f"required_{kind}:{name}", f"{kind} {name}", clauses, passed, figures)


def _required_dataset(context: str, datasets: Sequence[tuple[str, str, str]]) -> GateResult:
    found = sorted((name, digest) for name, digest, ctx in datasets if ctx == context)
    valid = [(name, digest) for name, digest in found if SHA256_HEX.fullmatch(digest)]
    invalid = [name for name, digest in found if not SHA256_HEX.fullmatch(digest)]
    figures = {
        "context": context,
        "datasets": _joined([name for name, _ in valid]),
        "digests": _joined([digest for _, digest in valid]),
        "without_digest": _joined(invalid),
    }
    if valid:
        listed = ", ".join(f"{name} (sha256 {digest})" for name, digest in valid)
        clauses = [f"logged {listed}"]
    elif invalid:
        clauses = [f"{', '.join(invalid)} logged without a 64-hex SHA-256 digest"]
    else:
        clauses = ["no dataset logged with that context"]
    return _result(
        f"required_dataset:{context}", f"dataset context {context}", clauses, bool(valid), figures
    )


def _single_attribute(values: Sequence[GroupedValue], attribute: str) -> list[GroupValue]:
    """Values whose group is exactly one attribute, ``attribute`` (no intersections)."""
    return [
        GroupValue(group=v.group[attribute], value=v.value, n=v.n)
        for v in values
        if len(v.group) == 1 and attribute in v.group
    ]


def _group_counts(metric: str, evidence: Evidence) -> dict[str, int]:
    values = evidence.grouped.get(metric, ())
    return {
        attribute: len({v.group for v in _single_attribute(values, attribute)})
        for attribute in sorted(set(evidence.sensitive_attributes))
    }


def _group_metrics(metric: str, evidence: Evidence) -> GateResult:
    counts = _group_counts(metric, evidence)
    missing = [attribute for attribute, count in counts.items() if count < 2]
    figures: dict[str, str | None] = {"metric": metric, "missing": _joined(missing)}
    figures.update({f"groups:{attribute}": str(count) for attribute, count in counts.items()})
    if not counts:
        clauses = ["the model declares no sensitive attributes"]
    elif missing:
        listed = ", ".join(f"{attribute} ({counts[attribute]})" for attribute in missing)
        clauses = [f"fewer than two groups for {listed}"]
    else:
        listed = ", ".join(f"{attribute} ({count} groups)" for attribute, count in counts.items())
        clauses = [f"group values for {listed}"]
    passed = bool(counts) and not missing
    return _result(f"group_metrics:{metric}", metric, clauses, passed, figures)


# Fairness bounds


def _entry_figures(entry: Mapping[str, Any]) -> dict[str, str | None]:
    figures: dict[str, str | None] = {"metric": entry["metric"], "attribute": entry["attribute"]}
    if "min_max_ratio_at_least" in entry:
        figures["at_least"] = entry["min_max_ratio_at_least"]
    else:
        figures["reference"] = entry["reference"]
        figures["band_low"], figures["band_high"] = entry["band"]
    if "min_n" in entry:
        figures["min_n"] = str(entry["min_n"])
    return figures


def _summary_figures(summary: GroupSummary) -> dict[str, str | None]:
    figures: dict[str, str | None] = {
        "reference": summary.reference,
        "min_max_ratio": summary.min_max_ratio,
        "max_difference": summary.max_difference,
    }
    for figure in summary.groups:
        figures[f"value:{figure.group}"] = figure.value
        figures[f"ratio:{figure.group}"] = figure.ratio
        figures[f"n:{figure.group}"] = None if figure.n is None else str(figure.n)
    return figures


def _precheck(entry: Mapping[str, Any], values: Sequence[GroupValue]) -> str | None:
    """Why the groups cannot be assessed at all, or None."""
    names = sorted({v.group for v in values})
    if len(names) < 2:
        found = f" ({', '.join(names)})" if names else ""
        return f"needs at least two groups, found {len(names)}{found}"
    reference = entry.get("reference")
    if reference is not None and reference not in names:
        return f"reference group {reference} has no value (groups: {', '.join(names)})"
    return None


def _summarize(entry: Mapping[str, Any], values: Sequence[GroupValue]) -> GroupSummary:
    min_n = entry.get("min_n", 0)
    if "min_max_ratio_at_least" in entry:
        band = (Decimal(entry["min_max_ratio_at_least"]), _UNBOUNDED)
        return summarize(entry["attribute"], values, band=band, min_n=min_n)
    low, high = (Decimal(limit) for limit in entry["band"])
    return summarize(entry["attribute"], values, entry["reference"], (low, high), min_n)


def _ratios(figures: Sequence[GroupFigure]) -> str:
    return ", ".join(f"{f.group} {'undefined' if f.ratio is None else f.ratio}" for f in figures)


def _min_max_clause(threshold: str, summary: GroupSummary) -> tuple[bool, str]:
    """Judge the min/max ratio exactly: a group is flagged iff its unrounded ratio to the
    highest group is below the threshold, and the lowest such ratio is the min/max ratio."""
    ratio = summary.min_max_ratio
    if ratio is None:
        notes = [note for note in summary.notes if note.startswith("min/max ratio")]
        return False, notes[0] if notes else "min/max ratio is undefined"
    low = [f for f in summary.groups if RATIO_OUT_OF_BAND in f.flags]
    to_highest = f"ratio to the highest group {summary.reference}: {_ratios(low)}"
    if Decimal(ratio) < Decimal(threshold):
        return False, f"min/max ratio {ratio} is below {threshold} ({to_highest})"
    if low:
        return False, (
            f"min/max ratio {ratio} is below {threshold} before rounding to "
            f"{PLACES} places ({to_highest})"
        )
    return True, f"min/max ratio {ratio} is at least {threshold}"


def _band_clauses(entry: Mapping[str, Any], summary: GroupSummary) -> tuple[bool, list[str]]:
    low, high = entry["band"]
    ref = summary.reference
    out = [f for f in summary.groups if RATIO_OUT_OF_BAND in f.flags]
    undefined = [f for f in summary.groups if RATIO_UNDEFINED in f.flags]
    clauses: list[str] = []
    if out:
        shown = ", ".join(f"{f.group} ({f.ratio})" for f in out)
        clauses.append(f"ratio to {ref} is outside {low} to {high} for {shown}")
    if undefined:
        shown = ", ".join(f"{f.group} (value {f.value})" for f in undefined)
        clauses.append(f"ratio to {ref} is undefined for {shown}")
    if clauses:
        return False, clauses
    return True, [f"every ratio to {ref} is within {low} to {high} ({_ratios(summary.groups)})"]


def _n_clause(entry: Mapping[str, Any], summary: GroupSummary) -> str | None:
    if "min_n" not in entry:
        return None
    small = [f"{f.group} ({f.n})" for f in summary.groups if SMALL_N in f.flags]
    unknown = [f.group for f in summary.groups if N_UNKNOWN in f.flags]
    parts = [f"n below min_n {entry['min_n']} for {', '.join(small)}"] if small else []
    if unknown:
        parts.append(f"n not recorded for {', '.join(unknown)}")
    return "; ".join(parts) or None


def _judge(entry: Mapping[str, Any], summary: GroupSummary) -> tuple[bool, list[str]]:
    if "min_max_ratio_at_least" in entry:
        passed, clause = _min_max_clause(entry["min_max_ratio_at_least"], summary)
        clauses = [clause]
    else:
        passed, clauses = _band_clauses(entry, summary)
    n_clause = _n_clause(entry, summary)
    if n_clause is not None:
        clauses.append(n_clause)
    return passed and n_clause is None, clauses


def _fairness_gate(entry: Mapping[str, Any], evidence: Evidence) -> GateResult:
    gate, subject = _fairness_id(entry), f"{entry['metric']} across {entry['attribute']}"
    values = _single_attribute(evidence.grouped.get(entry["metric"], ()), entry["attribute"])
    figures = _entry_figures(entry)
    problem = _precheck(entry, values)
    if problem is not None:
        return _result(gate, subject, [problem], False, figures)
    try:
        summary = _summarize(entry, values)
    except GroupSummaryError as exc:
        return _result(gate, subject, [f"cannot be assessed ({exc})"], False, figures)
    figures.update(_summary_figures(summary))
    passed, clauses = _judge(entry, summary)
    return _result(gate, subject, clauses, passed, figures)


# Minimum and maximum metric values


def _limit_clause(raw: str | None, bound: str, threshold: str) -> tuple[bool, str]:
    word = "minimum" if bound == "at_least" else "maximum"
    if raw is None:
        return False, f"no value logged (the {word} is {threshold})"
    value = stored_decimal(raw)
    if value is None:
        return False, f"value {_shown(raw)!r} is not a decimal string (the {word} is {threshold})"
    if value.is_nan():
        return False, f"value {raw} cannot be compared with the {word} {threshold}"
    limit = Decimal(threshold)
    if bound == "at_least":
        passed = value >= limit
        return passed, f"{raw} is {'at least' if passed else 'below'} the minimum {threshold}"
    passed = value <= limit
    return passed, f"{raw} is {'at most' if passed else 'above'} the maximum {threshold}"


def _limit_gate(entry: Mapping[str, str], bound: str, metrics: Mapping[str, str]) -> GateResult:
    metric, threshold = entry["metric"], entry[bound]
    raw = metrics.get(metric)
    passed, clause = _limit_clause(raw, bound, threshold)
    kind = "minimum" if bound == "at_least" else "maximum"
    figures = {"metric": metric, "value": raw, bound: threshold}
    return _result(f"{kind}:{metric}", metric, [clause], passed, figures)


def evaluate(policy: Mapping[str, Any], evidence: Evidence) -> Evaluation:
    """Validate ``policy`` and run every gate on ``evidence``, in policy order."""
    p = validate_policy(policy)
    results = [_required_value("param", name, evidence.params) for name in p["required_params"]]
    results += [_required_value("tag", name, evidence.tags) for name in p["required_tags"]]
    results += [_required_dataset(c, evidence.datasets) for c in p["required_dataset_contexts"]]
    results += [_group_metrics(metric, evidence) for metric in p["require_group_metrics"]]
    results += [_fairness_gate(entry, evidence) for entry in p["fairness"]]
    for key, bound in _LIMITS.items():
        results += [_limit_gate(entry, bound, evidence.metrics) for entry in p[key]]
    return Evaluation(passed=all(r.passed for r in results), results=tuple(results))
