"""Strict JSON reading: what the ledger can hash exactly and a store can keep.

Fractions parse as Decimal (their decimal text is what is hashed, never a binary float),
duplicate keys are refused (RFC 8785 canonical JSON has one member per name), and so are the
escaped NUL character (PostgreSQL text cannot hold it), lone surrogate escapes (\\ud800 without
its pair: not Unicode text at all) and nesting deep enough to exhaust Python's recursion limit.
Every refusal is a ValueError. The HTTP kernel reads request bodies with it, and client
commands read the files they send.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

# Escapes preceded by an even number of backslashes (an odd count escapes the backslash
# itself): \u0000, and a surrogate escape that is not half of a high-low pair.
_ESCAPED_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
_LONE_SURROGATE = re.compile(
    r"(?<!\\)(?:\\\\)*(?:\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2})")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r} in JSON object")
        result[key] = value
    return result


def strict_loads(s: str | bytes, **kwargs: Any) -> Any:
    """json.loads with Decimal fractions, no duplicate keys, no NUL and bounded nesting."""
    kwargs.setdefault("parse_float", Decimal)
    kwargs.setdefault("object_pairs_hook", _no_duplicates)
    if isinstance(s, bytes | bytearray):
        s = s.decode("utf-8")  # UnicodeDecodeError is a ValueError
    if "u0000" in s and _ESCAPED_NUL.search(s):
        raise ValueError("a JSON string contains NUL (\\u0000), which cannot be stored")
    if ("\\ud" in s or "\\uD" in s) and _LONE_SURROGATE.search(s):
        raise ValueError("a JSON string contains a lone surrogate escape, which is not text")
    try:
        return json.loads(s, **kwargs)
    except RecursionError:
        raise ValueError("the JSON document is nested too deeply") from None
    except ArithmeticError:  # decimal.InvalidOperation: an exponent beyond what Decimal holds
        raise ValueError("a JSON number's exponent is out of range") from None
