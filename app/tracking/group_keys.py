"""The MLflow metric-key convention for per-group metrics: `selection_rate[sex=F;n=412]`.

MLflow metrics have no group dimension, so a group travels inside the key:

    grouped-key = base "[" pair *( "," pair ) [ ";n=" count ] "]"
    pair        = attribute "=" value
    base        = an MLflow metric key (1-250 of letters, digits, _ - . / : space; path-stable)
    attribute   = 1-64 of A-Z a-z 0-9 _ . -        (as the native API's group attributes)
    value       = 1-64 of letters, digits, _ . - + : / < >   (no space, no , ; = [ ])
    count       = "0" or a decimal without leading zeros, at most 2**53 - 1

Attributes are distinct and in ascending code-point order (1 to 8 of them), so every group
has exactly one spelling. The whole key is at most 250 characters, MLflow's limit. The
optional `;n=` carries the group's sample size in the same metric, so value and n land in one
ledger entry (a companion metric could arrive in another request, or never). Logging the key
without `;n=` records the value with n unknown.

A group's identity is (base, attributes), and it reads back under one stable key, without
its n, whatever n each value was logged with: `selection_rate[sex=F]` (`spell(key, group)`).
Beside it a read-only companion, `selection_rate[sex=F;n]` (`n_key`), reads back the n of
the value it stands beside: in a run's latest metrics, the n of the latest value (absent when
that value's n is unknown); in a history, each value's n at the value's step and timestamp
(values logged without n are left out). Search filters and orders on either key. Both are
reads of the same ledger entries; no companion is ever stored. What reads back can be logged
back (mlflow's `log_model` re-logs every metric it reads): a metric logged under a companion
key is its group's n and joins the group's value logged in the same request at the same step
and timestamp, as if spelled `;n=`; alone it is refused, and so is a key in the companion's
shape (`base[...;n]`, `companion_shaped`) that names no group, so no plain metric takes it.
A read key spelled with a count (`selection_rate[sex=F;n=412]`, the read-back of earlier
versions) names its group in get_metric_history and search, the count ignored, as before.

A key that uses the convention's characters but does not follow the grammar is not an error:
it is an ordinary metric under its literal key (see `plain_key_ok`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from app.tracking.limits import (
    ATTRIBUTE_PATTERN,
    KEY_PATTERN,
    MAX_GROUP_ATTRIBUTES,
    MAX_KEY,
    MAX_N,
    path_stable,
)

_VALUE = re.compile(r"[\w.\-+:/<>]{1,64}")
_COUNT = re.compile(r"0|[1-9][0-9]{0,15}")
_SHAPE = re.compile(r"(?P<base>[^\[\]]+)\[(?P<group>[^\[\];]*)(?:;n=(?P<n>[^\[\];]*))?\]")
_MARKS = frozenset("[]=,;")
_PLAIN = re.compile(rf"[/\w.\- :\[\]=,;+<>]{{1,{MAX_KEY}}}")
_COMPANION = re.compile(r"[^\[\]]+\[[^\[\]]*;n\]")
N_SUFFIX = ";n]"


@dataclass(frozen=True)
class GroupedKey:
    """A parsed grouped key: the metric key, its group {attribute: value}, and n if given."""

    key: str
    group: Mapping[str, str]
    n: int | None = None


def base_key_ok(key: str) -> bool:
    """MLflow's own rule for a metric key: characters, length and a path-stable form."""
    return KEY_PATTERN.fullmatch(key) is not None and path_stable(key)


def uses_convention(key: str) -> bool:
    """Whether the key contains any character the convention gives meaning to."""
    return any(ch in _MARKS for ch in key)


def plain_key_ok(key: str) -> bool:
    """A key stored as is: MLflow's rule, widened to the convention's characters so that a
    malformed grouped key is kept (as a plain metric) instead of being refused."""
    return _PLAIN.fullmatch(key) is not None and path_stable(key)


def companion_shaped(key: str) -> bool:
    """Whether the key has the shape of a companion n key (`base[...;n]`): never logged."""
    return key.endswith(N_SUFFIX) and _COMPANION.fullmatch(key) is not None


def parse(key: str) -> GroupedKey | None:
    """The grouped key `key` spells, or None when it is not one (plain or malformed)."""
    if "[" not in key or len(key) > MAX_KEY:
        return None
    shape = _SHAPE.fullmatch(key)
    if shape is None or not base_key_ok(shape["base"]):
        return None
    group: dict[str, str] = {}
    for pair in shape["group"].split(","):
        attribute, sep, value = pair.partition("=")
        if not sep or not ATTRIBUTE_PATTERN.fullmatch(attribute) or not _VALUE.fullmatch(value):
            return None
        if group and attribute <= list(group)[-1]:
            return None  # duplicate or out of order: not the one canonical spelling
        group[attribute] = value
    if len(group) > MAX_GROUP_ATTRIBUTES:
        return None
    n: int | None = None
    if shape["n"] is not None:
        if not _COUNT.fullmatch(shape["n"]) or int(shape["n"]) > MAX_N:
            return None
        n = int(shape["n"])
    return GroupedKey(shape["base"], group, n)


def spell(key: str, group: Mapping[str, str] | None, n: int | None = None) -> str:
    """The convention key for a metric (the key itself when it has no group): with n, the
    spelling a client logs; without, the stable key a group reads back under.

    A group recorded through the native API whose values fall outside the grammar is still
    spelled this way; such a key reads back but does not parse (it names no plain metric).
    """
    if not group:
        return key
    pairs = ",".join(f"{attribute}={group[attribute]}" for attribute in sorted(group))
    return f"{key}[{pairs}{'' if n is None else f';n={n}'}]"


def n_key(key: str, group: Mapping[str, str]) -> str:
    """The read-only companion key that reads back a group's n: `rate[sex=F;n]`."""
    return spell(key, group)[:-1] + N_SUFFIX


def parse_n_key(key: str) -> GroupedKey | None:
    """The group (n None) whose n a companion key reads back, or None for any other key."""
    if not key.endswith(N_SUFFIX):
        return None
    grouped = parse(key[: -len(N_SUFFIX)] + "]")
    return grouped if grouped is not None and grouped.n is None else None


@dataclass(frozen=True)
class ReadKey:
    """What a read key names: a plain metric (group None), a group's value, or its n."""

    key: str
    group: Mapping[str, str] | None = None
    n_of: bool = False


def read_key(key: str) -> ReadKey:
    """What a key in get_metric_history or a search names (a count in the key is ignored)."""
    grouped = parse(key)
    if grouped is not None:
        return ReadKey(grouped.key, grouped.group)
    counted = parse_n_key(key)
    if counted is not None:
        return ReadKey(counted.key, counted.group, n_of=True)
    return ReadKey(key)
