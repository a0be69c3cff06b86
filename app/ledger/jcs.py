"""RFC 8785 (JCS) canonical JSON: the stdlib's C encoder where it provably agrees, else rfc8785.

Why the fast path is exact. Take a value made only of exact `dict` (with `str` keys), `list`,
`str`, `bool`, `None` and `int` within ±(2**53 - 1), nested at most MAX_FAST_DEPTH deep. For
such a value, compact sorted-key `json` output with ensure_ascii=False equals RFC 8785 output:

- Literals (§3.2.2.1, §3.2.2.3): `null`, `true`, `false`; a safe integer is an integral
  double below 10**21, which ECMAScript writes as plain decimal digits, as int.__repr__ does.
- Strings (§3.2.2.2): JSON.stringify escapes `"` and `\\` and U+0000-U+001F, using `\\b \\t
  \\n \\f \\r` and otherwise `\\u00xx` with lowercase hex, and writes every other code point
  raw (including `/`, DEL, U+2028 and U+2029). The stdlib's c_encode_basestring does the same.
  A lone surrogate cannot be UTF-8 encoded: those inputs go to rfc8785, which refuses them.
- Structure: `,` and `:` with no whitespace, as the separators below.
- Property order (§3.2.3): RFC 8785 sorts keys by UTF-16 code units, Python by code points.
  Without code points at or above U+10000 each code point is one code unit of the same value,
  so the orders agree; output containing such a code point anywhere goes to rfc8785.

Everything else (floats, larger integers, non-string keys, tuples, subclasses, other
mappings, deeper nesting) goes to the rfc8785 package, which formats it or refuses it.
"""

from __future__ import annotations

import re
from json import encoder as _json_encoder
from typing import Any

import rfc8785

from app.ledger.errors import EntryError

MAX_SAFE_INTEGER = 2**53 - 1
MAX_FAST_DEPTH = 64  # deeper values take the reference path (no recursion limits to reason about)
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def _refuse(value: object) -> object:
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _chunk_encoder() -> Any:
    """The stdlib's C encoder made once (JSONEncoder.encode builds one per call)."""
    make_encoder = getattr(_json_encoder, "c_make_encoder", None)
    encode_string = getattr(_json_encoder, "c_encode_basestring", None)
    if make_encoder is None or encode_string is None:  # pragma: no cover (CPython has both)
        slow = _json_encoder.JSONEncoder(
            ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":"))
        return lambda value, _level: slow.iterencode(value)
    return make_encoder(None, _refuse, encode_string, None, ":", ",", True, False, False)


# encode_chunks(value, 0): sorted-key compact JSON text in pieces, to join; and the joined text.
# Both are exact only for values plain() accepts.
encode_chunks = _chunk_encoder()


def encode(value: object) -> str:
    return "".join(encode_chunks(value, 0))


# encode_string(text): one JSON string with RFC 8785's escapes (quotes included).
encode_string: Any = getattr(_json_encoder, "c_encode_basestring", None) or (
    _json_encoder.py_encode_basestring)


def plain(value: object, depth: int = 0) -> bool:
    """True when value is in the fast path's domain (see the module docstring)."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER  # type: ignore[operator]
    if depth >= MAX_FAST_DEPTH:
        return False
    if kind is dict:
        for key, item in value.items():  # type: ignore[attr-defined]
            if type(key) is not str or (type(item) is not str and not plain(item, depth + 1)):
                return False
        return True
    if kind is list:
        for item in value:  # type: ignore[attr-defined]
            if type(item) is not str and not plain(item, depth + 1):
                return False
        return True
    return False


def finish(text: str) -> bytes | None:
    """UTF-8 bytes of fast-path text, or None when the reference path must decide."""
    if text.isascii():  # O(1) in CPython
        return text.encode("ascii")
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: rfc8785 refuses it
        return None
    return None if _ASTRAL.search(text) else data


def canonicalize(value: object) -> bytes:
    """RFC 8785 bytes of a JSON value, byte for byte what rfc8785.dumps returns.

    Raises EntryError where rfc8785 refuses the value (lone surrogates, integers beyond
    ±(2**53 - 1), NaN, non-string keys, unsupported types) or it is nested too deeply.
    """
    if plain(value):
        data = finish(encode(value))
        if data is not None:
            return data
    try:
        return rfc8785.dumps(value)  # type: ignore[arg-type]
    except (rfc8785.CanonicalizationError, UnicodeEncodeError) as exc:
        raise EntryError(f"not canonicalisable: {exc}") from exc
    except RecursionError as exc:
        raise EntryError("not canonicalisable: nested too deeply") from exc
