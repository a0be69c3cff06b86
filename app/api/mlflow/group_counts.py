"""A group's n logged under its companion key (`rate[sex=F;n]`) joins its value in the batch."""

from __future__ import annotations

from decimal import Decimal
from operator import itemgetter
from typing import Final

from app.api.mlflow import compat as mf
from app.services.tracking import Metric
from app.tracking import group_keys
from app.tracking.limits import MAX_N

# The n a companion metric carries until `paired` folds it into its value (never stored).
COMPANION: Final = -1
_N = itemgetter(5)  # Metric.n


def companion(key: str) -> tuple[str, dict[str, str], int]:
    """(base, group, COMPANION) for a companion key; a companion-shaped key that names no
    group (`rate[b=1,a=2;n]`) is refused, so that no plain metric can take that spelling."""
    counted = group_keys.parse_n_key(key)
    if counted is None:
        raise mf.invalid(f"Invalid metric name: '{key}'. A key ending in ';n]' names a group's "
                         "n (as 'selection_rate[sex=F;n]') and this one names no group.")
    return counted.key, dict(counted.group), COMPANION


def _count(metric: Metric) -> int:
    number = Decimal(metric.value)  # normalized decimal text, or NaN/Infinity
    if not number.is_finite() or number != number.to_integral_value() \
            or not 0 <= number <= MAX_N:
        raise mf.invalid(f"Got invalid value {metric.value} for metric "
                         f"'{group_keys.n_key(metric.key, metric.group or {})}': a group's n is "
                         f"an integer from 0 to {MAX_N}")
    return int(number)


_Slot = tuple[str, tuple[tuple[str, str], ...], int, int]  # (key, group, step, timestamp)


def _slot(metric: Metric) -> _Slot:
    return (metric.key, tuple(sorted((metric.group or {}).items())), metric.step,
            metric.timestamp)


def paired(metrics: list[Metric]) -> list[Metric]:
    """Each companion metric's n given to the value of its group at the same step and
    timestamp in the same request (in order, one n per value), as `get_run` and
    `get_metric_history` read them back: re-logging what was read (as `log_model` does)
    records the same value and n. A companion without such a value is refused."""
    if COMPANION not in map(_N, metrics):
        return metrics
    counts: dict[_Slot, list[int]] = {}
    for metric in metrics:
        if metric.n == COMPANION:
            counts.setdefault(_slot(metric), []).append(_count(metric))
    out: list[Metric] = []
    for metric in metrics:
        if metric.n == COMPANION:
            continue
        waiting = counts.get(_slot(metric)) if metric.group else None
        if waiting:
            n = waiting.pop(0)
            if metric.n is not None and metric.n != n:
                raise mf.invalid(f"Metric '{group_keys.spell(metric.key, metric.group, metric.n)}'"
                                 f" at step {metric.step} has n={metric.n} in its key and n={n} "
                                 "under its companion key")
            metric = metric._replace(n=n)
        out.append(metric)
    for (key, group, step, _), left in counts.items():
        if left:
            name = group_keys.n_key(key, dict(group))
            raise mf.invalid(f"Invalid metric '{name}': a group's n is logged with its value, "
                             "in its key ('...;n=<n>]') or beside the value in the same batch, "
                             f"at the same step ({step}) and timestamp")
    return out
