"""The decimal grammar of metric values: what a request may send, and how stored text reads.

A metric value is kept as decimal text, never a binary float (it is hashed): a finite decimal
as sent, or 'NaN', 'Infinity', '-Infinity'. `normalize_metric_value` is the one parser of a
value off the wire (both APIs, the client, every fast path); `stored_decimal` reads it back.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Final

FINITE: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
NON_FINITE: Final = {
    "NaN": Decimal("NaN"),
    "Infinity": Decimal("Infinity"),
    "+Infinity": Decimal("Infinity"),
    "-Infinity": Decimal("-Infinity"),
}
MAX_NESTING: Final = 32  # the depth of a JSON value taken whole (a dataset's schema)
_SPECIAL = {"nan": "NaN", "infinity": "Infinity", "inf": "Infinity",
            "-infinity": "-Infinity", "-inf": "-Infinity", "+infinity": "Infinity"}


def normalize_metric_value(raw: object) -> str:
    """A metric value as a decimal string: 'NaN', 'Infinity', '-Infinity' or a finite decimal.

    A JSON fraction arrives as a Decimal (the APIs parse fractions so): its text, as sent."""
    if isinstance(raw, Decimal):  # the common case first: a batch's values
        if raw.is_finite():
            return str(raw)
        raw = str(raw)
    elif isinstance(raw, bool):
        raise ValueError("a metric value must be a number")
    elif isinstance(raw, int):
        return str(raw)
    elif isinstance(raw, float):
        raw = repr(raw)
    if not isinstance(raw, str):
        raise ValueError("a metric value must be a number or a decimal string")
    text = raw.strip()
    if text.lower() in _SPECIAL:
        return _SPECIAL[text.lower()]
    try:
        number = Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"{raw!r} is not a number") from exc
    if not number.is_finite():
        raise ValueError(f"{raw!r} is not a number")
    return str(number)


def stored_decimal(value: object) -> Decimal | None:
    """A stored metric value as Decimal (NaN and ±Infinity included); None if unreadable."""
    if not isinstance(value, str):
        return None
    if value in NON_FINITE:
        return NON_FINITE[value]
    if not FINITE.fullmatch(value):
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        return None


def fraction_problem(value: object, depth: int = 0) -> str | None:
    """Why a JSON value kept whole cannot be hashed exactly, or None: a non-integer number
    (write fractions as strings), or nesting deeper than MAX_NESTING."""
    if depth > MAX_NESTING:
        return "nested too deeply"
    if isinstance(value, dict | list):
        for item in value.values() if isinstance(value, dict) else value:
            problem = fraction_problem(item, depth + 1)
            if problem is not None:
                return problem
        return None
    if value is None or isinstance(value, str | bool | int):
        return None
    return "numbers must be integers; write fractions as strings"
