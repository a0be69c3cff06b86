"""One stable order and colour per (attribute, group), the same in every version and chart.

Groups are printed in natural order of their names (digit runs compared as numbers, so
"5-17" comes before "18-34"; then case-insensitively; then by the exact text), whatever their
values: the reference group keeps its place and is marked, never moved to the front. Summaries
are ordered by attribute, then metric. The colour of a group is its index in the natural order
of all the groups of its attribute found anywhere in the report, so a group keeps its colour
across versions even when another version lacks some groups.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from reports.evidence_groups import GroupFigureEvidence, GroupSummaryEvidence
from reports.evidence_run import RunEvidence

__all__ = [
    "GroupColours",
    "group_colours",
    "group_sort_key",
    "ordered_groups",
    "ordered_summaries",
]

_RUNS = re.compile(r"(\d+)")


def group_sort_key(name: str) -> tuple[tuple[tuple[int, int | str], ...], str, str]:
    """Natural order of group names; ties broken by case-folded, then exact, text."""
    parts = tuple((0, int(p)) if p.isdigit() else (1, p.casefold())
                  for p in _RUNS.split(name) if p)
    return parts, name.casefold(), name


def ordered_groups(summary: GroupSummaryEvidence) -> tuple[GroupFigureEvidence, ...]:
    """The summary's groups in natural order of name (the reference keeps its place)."""
    return tuple(sorted(summary.groups, key=lambda g: group_sort_key(g.group)))


def ordered_summaries(
        summaries: Iterable[GroupSummaryEvidence]) -> tuple[GroupSummaryEvidence, ...]:
    """Summaries by attribute, then metric (natural order of each name)."""
    return tuple(sorted(summaries, key=lambda s: (group_sort_key(s.attribute),
                                                  group_sort_key(s.metric))))


@dataclass(frozen=True)
class GroupColours:
    """Colour indices per (attribute, group): 0, 1, 2 ... in each attribute's natural order.

    Attributes:
        indices: (attribute, group) -> index; a renderer takes index % len(palette).
    """

    indices: Mapping[tuple[str, str], int] = field(default_factory=dict)

    def index(self, attribute: str, group: str) -> int:
        """The group's colour index; a group not seen when the map was made comes after all
        known groups of its attribute (deterministic, never a known group's colour)."""
        found = self.indices.get((attribute, group))
        if found is not None:
            return found
        return sum(1 for a, _ in self.indices if a == attribute)


def _groups_of(run: RunEvidence) -> Iterable[tuple[str, str]]:
    for s in run.group_summaries:
        for g in s.groups:
            yield s.attribute, g.group
    for d in run.datasets:
        for c in d.group_counts:
            yield c.attribute, c.group


def group_colours(runs: Iterable[RunEvidence]) -> GroupColours:
    """Colour indices for every group any of ``runs`` shows (metrics or dataset counts)."""
    by_attribute: dict[str, set[str]] = {}
    for run in runs:
        for attribute, group in _groups_of(run):
            by_attribute.setdefault(attribute, set()).add(group)
    indices = {(attribute, group): i
               for attribute, groups in by_attribute.items()
               for i, group in enumerate(sorted(groups, key=group_sort_key))}
    return GroupColours(indices)
