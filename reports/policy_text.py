"""A gate policy (docs/policies.md) and its gates as sentences a reader understands.

`policy_sentences` reads the normalised policy a `policy.set` entry holds (the service can put
its result in PolicyEvidence.clauses); `gate_sentence` names a gate result the same way from
its id and figures. Thresholds are printed exactly as committed, never rounded.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reports.evidence_registry import GateEvidence, PolicyEvidence
from reports.figures import threshold

__all__ = [
    "AT_LEAST",
    "AT_MOST",
    "EMPTY_POLICY",
    "NO_POLICY",
    "fairness_sentence",
    "gate_sentence",
    "policy_lines",
    "policy_sentences",
]

AT_LEAST, AT_MOST = "≥", "≤"
NO_POLICY = "no policy set"
EMPTY_POLICY = "a policy with no gates is set: nothing is judged"


def _names(items: Sequence[Any]) -> str:
    return ", ".join(str(i) for i in items)


def _required(what: str, rule: str) -> Callable[[Sequence[Any]], str]:
    return lambda items: f"{what}: {_names(items)} ({rule})"


_LISTS: dict[str, Callable[[Sequence[Any]], str]] = {
    "required_params": _required("required parameters", "each logged with a non-blank value"),
    "required_tags": _required("required run tags", "each set to a non-blank value"),
    "required_dataset_contexts": _required(
        "required datasets", "one of each context, logged with a SHA-256 digest"),
    "require_group_metrics": _required(
        "per-group metrics required",
        "values for at least two groups of every sensitive attribute"),
}


def _min_n(entry: Mapping[str, Any]) -> str:
    if entry.get("min_n") is None:
        return "no minimum group size"
    return f"every group needs a recorded n {AT_LEAST} {entry['min_n']}"


def fairness_sentence(entry: Mapping[str, Any]) -> str:
    """One fairness bound: "selection_rate: min/max ratio across sex ≥ 0.80; every group needs
    a recorded n ≥ 30", or the reference-and-band form."""
    metric, attribute = entry.get("metric", "?"), entry.get("attribute", "?")
    if entry.get("min_max_ratio_at_least") is not None:
        bound = threshold(str(entry["min_max_ratio_at_least"]), ratio=True)
        rule = f"min/max ratio across {attribute} {AT_LEAST} {bound}"
    else:
        low, high = (threshold(str(b), ratio=True) for b in entry.get("band") or ("?", "?"))
        rule = (f"ratio of every {attribute} group to {entry.get('reference', '?')} "
                f"within {low}–{high}")
    return f"{metric}: {rule}; {_min_n(entry)}"


def _limit(entry: Mapping[str, Any], bound: str) -> str:
    sign = AT_LEAST if bound == "at_least" else AT_MOST
    return f"{entry.get('metric', '?')} {sign} {entry.get(bound, '?')} (latest overall value)"


_ITEMS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "fairness": fairness_sentence,
    "minimums": lambda e: _limit(e, "at_least"),
    "maximums": lambda e: _limit(e, "at_most"),
}
# The gates' order (app/tracking/gates.py POLICY_KEYS), so sentences follow the gate table.
_ORDER = ("required_params", "required_tags", "required_dataset_contexts",
          "require_group_metrics", "fairness", "minimums", "maximums")


def _key_sentences(key: str, value: Any) -> list[str]:
    if key in _LISTS and isinstance(value, list):
        return [_LISTS[key](value)] if value else []
    if key in _ITEMS and isinstance(value, list):
        return [_ITEMS[key](item) if isinstance(item, Mapping)
                else f"{key}: {json.dumps(item, sort_keys=True)}" for item in value]
    # A key this renderer does not know (a later policy format): shown, never hidden.
    return [f"{key}: {json.dumps(value, sort_keys=True, ensure_ascii=False)}"]


def policy_sentences(policy: Mapping[str, Any] | None) -> tuple[str, ...]:
    """Every clause of a normalised policy as one sentence, in gate order; NO_POLICY for none,
    EMPTY_POLICY for a policy with no gates."""
    if policy is None:
        return (NO_POLICY,)
    keys = [k for k in _ORDER if k in policy] + sorted(k for k in policy if k not in _ORDER)
    out = [s for k in keys for s in _key_sentences(k, policy[k])]
    return tuple(out) or (EMPTY_POLICY,)


def policy_lines(policy: PolicyEvidence | None) -> tuple[str, ...]:
    """The lines to print for the policy in force: its clauses, or NO_POLICY."""
    if policy is None:
        return (NO_POLICY,)
    return policy.clauses or (EMPTY_POLICY,)


def _figures(gate: GateEvidence) -> dict[str, str]:
    return {k: v for k, v in gate.figures if v is not None}


def _fairness_gate(rest: str, f: Mapping[str, str]) -> str:
    metric, _, tail = rest.partition("/")
    attribute, _, form = tail.partition("/")
    entry: dict[str, Any] = {"metric": metric, "attribute": attribute}
    if form == "min_max_ratio":
        entry["min_max_ratio_at_least"] = f.get("at_least", "?")
    else:
        entry["reference"] = f.get("reference", form.removeprefix("ratio_to:"))
        entry["band"] = (f.get("band_low", "?"), f.get("band_high", "?"))
    if "min_n" in f:
        entry["min_n"] = f["min_n"]
    return fairness_sentence(entry)


_GATES: dict[str, Callable[[str, Mapping[str, str]], str]] = {
    "required_param": lambda name, f: f"parameter {name} logged with a non-blank value",
    "required_tag": lambda name, f: f"run tag {name} set to a non-blank value",
    "required_dataset": lambda ctx, f: f"a {ctx} dataset logged with a SHA-256 digest",
    "group_metrics": lambda m, f: (f"{m}: values for at least two groups of every sensitive "
                                   "attribute"),
    "fairness": _fairness_gate,
    "minimum": lambda m, f: _limit({"metric": m, "at_least": f.get("at_least", "?")},
                                   "at_least"),
    "maximum": lambda m, f: _limit({"metric": m, "at_most": f.get("at_most", "?")}, "at_most"),
}


def gate_sentence(gate: GateEvidence) -> str:
    """What a gate requires, from its id ("fairness:selection_rate/sex/min_max_ratio") and the
    thresholds in its figures; an id of another form is returned as it is."""
    kind, sep, rest = gate.gate.partition(":")
    if not sep or kind not in _GATES:
        return gate.gate
    return _GATES[kind](rest, _figures(gate))
