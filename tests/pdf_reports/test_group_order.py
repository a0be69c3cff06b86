"""A stable order and colour per (attribute, group), the reference group kept in place."""

from __future__ import annotations

import dataclasses

from report_factory import make_run, make_summary

from reports.group_order import group_colours, group_sort_key, ordered_groups, ordered_summaries


def test_groups_sort_naturally() -> None:
    names = ["55+", "18-34", "5-17", "35-54", "Female", "female", "male"]
    assert sorted(names, key=group_sort_key) == [
        "5-17", "18-34", "35-54", "55+", "Female", "female", "male"]


def test_the_reference_group_keeps_its_place() -> None:
    """The highest value is the reference; it is not moved to the front."""
    summary = make_summary("selection_rate", "sex", {
        "nonbinary": ("0.41", 40), "male": ("0.65", 500), "female": ("0.62", 480)}, 5)
    assert summary.reference == "male"
    assert [g.group for g in ordered_groups(summary)] == ["female", "male", "nonbinary"]


def test_summaries_are_ordered_by_attribute_then_metric() -> None:
    run = make_run(0)
    order = [(s.attribute, s.metric) for s in ordered_summaries(reversed(run.group_summaries))]
    assert order == [("age_band", "selection_rate"), ("age_band", "true_positive_rate"),
                     ("sex", "selection_rate"), ("sex", "true_positive_rate")]


def test_colours_are_stable_across_versions() -> None:
    """A group keeps its colour when another version lacks a group or has another reference."""
    full_run = make_run(1)
    first = full_run.group_summaries[0]
    missing = dataclasses.replace(first, groups=first.groups[1:])  # no "female" in this run
    other = dataclasses.replace(make_run(2), group_summaries=(missing,), datasets=())
    colours = group_colours([other, full_run])
    assert colours == group_colours([full_run, other])
    assert [colours.index("sex", g) for g in ("female", "male", "nonbinary")] == [0, 1, 2]
    assert [colours.index("age_band", g) for g in ("18-34", "35-54", "55+")] == [0, 1, 2]
    assert colours.index("sex", "unseen") == 3
    only_other = group_colours([other])
    assert only_other.index("sex", "male") == 0  # computed over what the report shows
