"""The metric parser: one metric's fields as every path that takes metrics accepts them.

The /api/v1 schema (app/api/v1/tracking_schemas.py) states these rules with the same limits,
its fast path and MLflow's (app/api/mlflow/runs.py) call these functions, and `mlaudit record`
checks a run file with them; the value's grammar is app/tracking/decimals.py.
"""

from __future__ import annotations

from typing import Any, Final, cast

from app.tracking.decimals import normalize_metric_value
from app.tracking.limits import MAX_INT64, MAX_N, group_ok, key_ok

MIN_STEP: Final = -MAX_INT64 - 1
NATIVE_FIELDS: Final = frozenset(("key", "value", "step", "timestamp", "group", "n"))
Fields = tuple[str, str, int, int, "dict[str, str] | None", "int | None"]


def step_ok(step: object) -> bool:
    """A step: any signed 64-bit integer (bool is not one)."""
    return type(step) is int and MIN_STEP <= step <= MAX_INT64


def timestamp_ok(timestamp: object) -> bool:
    """A timestamp: milliseconds since the epoch, a non-negative 64-bit integer."""
    return type(timestamp) is int and 0 <= timestamp <= MAX_INT64


def n_ok(n: object) -> bool:
    """A group's sample size, when given: 0 to MAX_N."""
    return n is None or (type(n) is int and 0 <= n <= MAX_N)


def value_or_none(raw: object) -> str | None:
    """The value's decimal text, or None when it is not a metric value."""
    try:
        return normalize_metric_value(raw)
    except ValueError:
        return None


def native_metric(item: Any, now: int) -> Fields | None:
    """An /api/v1 metric {key, value, step?, timestamp?, group?, n?} as (key, value, step,
    timestamp, group, n), a missing timestamp being `now`; None when anything is off (the
    schema then says what)."""
    if type(item) is not dict or not item.keys() <= NATIVE_FIELDS or "value" not in item:
        return None
    key, step, timestamp = item.get("key"), item.get("step", 0), item.get("timestamp")
    group, n = item.get("group"), item.get("n")
    if timestamp is None:
        timestamp = now
    if not (key_ok(key) and step_ok(step) and timestamp_ok(timestamp) and n_ok(n)):
        return None
    if group is not None and not group_ok(group):
        return None
    value = value_or_none(item["value"])
    return None if value is None else cast(Fields, (key, value, step, timestamp, group, n))
