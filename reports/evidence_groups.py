"""Evidence dataclasses for per-group metrics: one metric across the groups of one attribute."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GroupFigureEvidence", "GroupSummaryEvidence"]


@dataclass(frozen=True)
class GroupFigureEvidence:
    """One group's row of a per-group summary (app/tracking/groups.py `GroupFigure`).

    Attributes:
        group: the group's name, e.g. "female".
        value: the group's metric value, decimal string as stored.
        n: the group's sample size, or None when it was not recorded.
        ratio: value / reference value as a decimal string, None when undefined.
        difference: value - reference value as a decimal string, None when undefined.
        is_reference: this group is the reference group.
        flags: flag codes in order: "ratio_out_of_band", "ratio_undefined", "small_n",
            "n_unknown"; each is printed as a flag for review.
        seq: seq of the `metrics.logged` entry that carried the value.
    """

    group: str
    value: str
    n: int | None
    ratio: str | None
    difference: str | None
    is_reference: bool
    flags: tuple[str, ...]
    seq: int


@dataclass(frozen=True)
class GroupSummaryEvidence:
    """One metric across the groups of one sensitive attribute, against a named reference.

    Attributes:
        metric: metric name, e.g. "selection_rate".
        attribute: sensitive attribute, e.g. "sex".
        reference: the reference group's name.
        reference_rule: how the reference was chosen, e.g. "highest value" or "named in policy".
        band: (low, high) ratio band as decimal strings, inclusive, e.g. ("0.8", "1.25").
        band_set_by: who set the policy that applied the band ("default" when no policy did).
        band_set_at: RFC 3339 time the band was set, or None for the built-in default.
        band_seq: seq of the `policy.set` entry that set the band, or None for the default.
        min_n: groups with fewer samples are flagged for review.
        groups: one row per group, in the order to print.
        min_max_ratio: smallest value / largest value, None when undefined.
        max_difference: largest value - smallest value, None when undefined.
        notes: why figures are undefined, ties, and other remarks, printed verbatim.
    """

    metric: str
    attribute: str
    reference: str
    reference_rule: str
    band: tuple[str, str]
    band_set_by: str
    band_set_at: str | None
    band_seq: int | None
    min_n: int
    groups: tuple[GroupFigureEvidence, ...]
    min_max_ratio: str | None
    max_difference: str | None
    notes: tuple[str, ...]
