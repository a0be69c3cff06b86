"""Per-group metrics: one table, chart and list of flags per metric and sensitive attribute."""

from __future__ import annotations

import re
from collections.abc import Sequence

from reports.doc import (
    FLAG_WORDING,
    Cell,
    Node,
    block,
    data_table,
    empty,
    flag,
    gap,
    group_chart,
    heading,
    para,
)
from reports.evidence import GroupFigureEvidence, GroupSummaryEvidence, RunEvidence
from reports.figures import figure
from reports.group_order import ordered_groups
from reports.summary_data import when

__all__ = ["FLAG_TEXT", "GROUP_COLUMNS", "HATCH_NOTE", "flag_reasons", "group_metrics",
           "policy_line", "rounded_text"]

FLAG_TEXT = {
    "ratio_out_of_band": "ratio outside the band",
    "ratio_undefined": "ratio undefined",
    "small_n": "small group",
    "n_unknown": "n not recorded",
}
GROUP_COLUMNS = (1.4, 0.7, 1.15, 1.15, 1.15, 2.1, 0.6)
"""Group, n, value, ratio, difference, flags, seq: every rounded figure and a seq of up to
six digits fit their column on one line."""
HATCH_NOTE = "Hatched bars with an orange outline are flagged for review."
_DECIMAL = re.compile(r"(?<![\w:.-])-?\d+\.\d+(?![\d.])")
_RULES = {"highest_value": "the group with the highest value", "requested": "named in the policy"}


def rounded_text(text: str) -> str:
    """Free text from the evidence (a note) with every decimal in it shown by the rounding
    rule; times ("12:18.269757") and dotted versions ("1.5.2") are left alone."""
    return _DECIMAL.sub(lambda m: figure(m.group()), text)


def flag_reasons(g: GroupFigureEvidence, summary: GroupSummaryEvidence) -> list[str]:
    """Plain-words reasons a group is flagged for review (empty when it is not)."""
    reasons: list[str] = []
    for code in g.flags:
        if code == "ratio_out_of_band":
            reasons.append(f"ratio {figure(g.ratio)} outside the band {summary.band[0]} to "
                           f"{summary.band[1]}")
        elif code == "small_n":
            reasons.append(f"n {g.n} below the minimum {summary.min_n}")
        else:
            reasons.append(FLAG_TEXT.get(code, code))
    return reasons


def policy_line(s: GroupSummaryEvidence, with_reference: bool = True) -> str:
    """The reference group, the band applied with who set it and when, and the small-n rule."""
    rule = _RULES.get(s.reference_rule, s.reference_rule)
    if s.band_set_at is None:
        named = s.band_set_by not in ("", "default")
        who = "the built-in default" + (f" ({s.band_set_by})" if named else "")
    else:
        who = f"{s.band_set_by} at {when(s.band_set_at)} (seq {s.band_seq})"
    reference = f"Reference group: {s.reference} ({rule}). " if with_reference else \
        f"Reference group: {rule}. "
    return (f"{reference}Band applied: ratio to the reference "
            f"from {s.band[0]} to {s.band[1]} inclusive, set by {who}. Groups with n below "
            f"{s.min_n} are flagged for review.")


def _row(g: GroupFigureEvidence) -> list[Cell]:
    flags = f"{FLAG_WORDING}: " + ", ".join(FLAG_TEXT.get(c, c) for c in g.flags) if g.flags else ""
    return [
        g.group + (" (reference)" if g.is_reference else ""),
        "not recorded" if g.n is None else str(g.n),
        figure(g.value),
        figure(g.ratio),
        figure(g.difference),
        flags,
        str(g.seq),
    ]


def _summary(s: GroupSummaryEvidence, level: int, chart: bool) -> list[Node]:
    header = ["Group", "n", "Value", "Ratio to ref.", "Difference", "Flags", "Seq"]
    groups = ordered_groups(s)
    rows = [_row(g) for g in groups]
    flagged = [i for i, g in enumerate(groups) if g.flags]
    table = data_table(header, rows, GROUP_COLUMNS, highlight=flagged)
    overall = (f"Min/max ratio: {figure(s.min_max_ratio)}. "
               f"Max difference: {figure(s.max_difference)}.")
    out: list[Node] = [
        heading(f"{s.metric} by {s.attribute}", level), para(policy_line(s), "lead"), table,
        para(overall, "after"),
    ]
    for g in groups:
        reasons = flag_reasons(g, s)
        if reasons:
            out.append(flag(f"group {g.group}: " + "; ".join(reasons)))
    out += [para(f"Note: {rounded_text(note)}", "caption") for note in s.notes]
    if not chart:
        return out + [gap(6)]
    out += [block(group_chart(s), para(
        f"Bars: {s.metric} per group, in the order of the table, each in its group's colour "
        f"(legend above) and labelled with its value, ratio to the reference, name and n; "
        f"\"(ref)\" marks the reference group. {HATCH_NOTE} Shaded band: {s.band[0]} to "
        f"{s.band[1]} times the reference value.", "caption")), gap(6)]
    return out


def group_metrics(run: RunEvidence, attributes: Sequence[str] = (),
                  level: int = 1, charts: bool = True) -> list[Node]:
    """Every per-group summary of the run; says so honestly when an attribute has none.

    ``charts=False`` leaves out the per-metric bar charts (a model report draws one chart per
    grouped metric across all its versions instead)."""
    out: list[Node] = [heading("Per-group metrics", level)]
    if not run.group_summaries:
        return out + [empty("No per-group metrics were logged.")]
    covered = {s.attribute for s in run.group_summaries}
    for attribute in attributes:
        if attribute not in covered:
            out.append(empty(f"No per-group metrics were logged for the sensitive attribute "
                             f"{attribute}."))
    for s in run.group_summaries:
        out += _summary(s, level + 1, charts)
    return out
