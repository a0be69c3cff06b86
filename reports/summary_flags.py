"""The summary's flags for review, gathered over runs: one row per kind of flag, naming the
groups (or artifacts) and where they occur, so the page stays one page for many versions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from reports.client_env import client_environment
from reports.evidence_run import RunEvidence
from reports.figures import figure
from reports.group_order import group_sort_key
from reports.outline import ARTIFACTS, LINEAGE, PER_GROUP

__all__ = ["Labelled", "flag_rows", "numbered", "named"]

Labelled = tuple[str, RunEvidence]  # (label, run): "3" for version 3, or a run's title
_OUTSIDE = ("ratio_out_of_band", "ratio_undefined")
_SMALL = ("small_n", "n_unknown")


def numbered(word: str) -> Callable[[Sequence[str]], str]:
    """Labels that are numbers as ranges: "versions 1-3, 5"."""
    def describe(labels: Sequence[str]) -> str:
        numbers = sorted({int(label) for label in labels})
        parts: list[str] = []
        for n in numbers:
            if parts and parts[-1].split("-")[-1] == str(n - 1):
                parts[-1] = f"{parts[-1].split('-')[0]}-{n}"
            else:
                parts.append(str(n))
        plural = "s" if len(numbers) > 1 else ""
        return f"{word}{plural} {', '.join(parts)}"
    return describe


def named(word: str, most: int = 3) -> Callable[[Sequence[str]], str]:
    """Labels that are names, listed up to ``most``, else counted: "7 runs"."""
    def describe(labels: Sequence[str]) -> str:
        unique = list(dict.fromkeys(labels))
        if len(unique) > most:
            return f"{len(unique)} {word}s"
        return f"{word}{'s' if len(unique) > 1 else ''} {', '.join(unique)}"
    return describe


@dataclass
class _Seen:
    labels: list[str] = field(default_factory=list)
    worst: tuple[Decimal, str, str] | None = None  # (ratio, metric, label)
    undefined: list[str] = field(default_factory=list)  # metrics with an undefined ratio
    smallest: int | None = None
    min_n: int = 0


def _ratio(text: str | None) -> Decimal | None:
    try:
        return None if text is None else Decimal(text)
    except InvalidOperation:
        return None


def _collect(runs: Sequence[Labelled], codes: tuple[str, ...]) -> dict[tuple[str, str], _Seen]:
    seen: dict[tuple[str, str], _Seen] = {}
    for label, run in runs:
        for s in run.group_summaries:
            for g in s.groups:
                if not set(codes) & set(g.flags):
                    continue
                item = seen.setdefault((s.attribute, g.group), _Seen())
                item.labels.append(label)
                ratio = _ratio(g.ratio)
                if ratio is None or not ratio.is_finite():
                    item.undefined.append(s.metric)
                elif item.worst is None or ratio < item.worst[0]:
                    item.worst = (ratio, s.metric, label)
                if g.n is not None and (item.smallest is None or g.n < item.smallest):
                    item.smallest, item.min_n = g.n, s.min_n
                elif g.n is not None and g.n == item.smallest:
                    item.min_n = max(item.min_n, s.min_n)
    return dict(sorted(seen.items(), key=lambda kv: (group_sort_key(kv[0][0]),
                                                     group_sort_key(kv[0][1]))))


def _outside_detail(seen: _Seen, describe: Callable[[Sequence[str]], str]) -> str:
    parts = [describe(seen.labels)]
    if seen.worst is not None:
        ratio, metric, label = seen.worst
        at = f", {describe([label])}" if len(set(seen.labels)) > 1 else ""
        parts.append(f"lowest ratio {figure(str(ratio))} ({metric}{at})")
    if seen.undefined:
        parts.append(f"ratio undefined for {', '.join(sorted(set(seen.undefined)))}")
    return ", ".join(parts)


def _small_detail(seen: _Seen, describe: Callable[[Sequence[str]], str]) -> str:
    n = "n not recorded" if seen.smallest is None else f"n {seen.smallest} < {seen.min_n}"
    return f"{describe(seen.labels)}, {n}"


def _group_rows(runs: Sequence[Labelled], describe: Callable[[Sequence[str]], str],
                where: str) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for codes, what, detail in ((_OUTSIDE, "Groups outside the band", _outside_detail),
                                (_SMALL, "Groups below the minimum n", _small_detail)):
        found = _collect(runs, codes)
        if found:
            rows.append((what, str(len(found)), "; ".join(
                f"{group} ({attribute}): {detail(seen, describe)}"
                for (attribute, group), seen in found.items()), where))
    return rows


def flag_rows(runs: Sequence[Labelled], describe: Callable[[Sequence[str]], str],
              where: str = "") -> list[tuple[str, ...]]:
    """(flag, count, details, where) rows for every flag the runs' bodies raise: groups
    outside the band or below the minimum n (count: groups), artifact signatures that do not
    verify, runs without an environment entry (with or without what the client reported).
    ``where`` qualifies the section titles."""
    suffix = f" ({where})" if where else ""
    rows = _group_rows(runs, describe, PER_GROUP + suffix)
    invalid = [(label, a.path) for label, run in runs for a in run.artifacts
               if a.signature_status == "invalid"]
    if invalid:
        rows.append(("Artifact signatures that do not verify", str(len(invalid)),
                     "; ".join(f"{path} ({describe([label])})" for label, path in invalid),
                     ARTIFACTS + suffix))
    rows += _environment_rows(runs, describe, LINEAGE + suffix)
    return rows


def _environment_rows(runs: Sequence[Labelled], describe: Callable[[Sequence[str]], str],
                      where: str) -> list[tuple[str, ...]]:
    """Runs without an environment entry: those the client said something about (the stock
    MLflow client sends tags, never an environment entry), and those with nothing at all."""
    missing = [(label, run) for label, run in runs if run.environment is None]
    told = [label for label, run in missing if client_environment(run)]
    bare = [label for label, run in missing if not client_environment(run)]
    rows: list[tuple[str, ...]] = []
    if told:
        rows.append(("Environment only as the client reported it", str(len(told)),
                     f"{describe(told)}: source and git tags, no Python version or packages",
                     where))
    if bare:
        rows.append(("No execution environment recorded", str(len(bare)), describe(bare),
                     where))
    return rows
