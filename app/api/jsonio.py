"""Request JSON parsing: numbers keep their decimal text, and duplicate keys are refused."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from flask.json.provider import DefaultJSONProvider


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r} in JSON object")
        result[key] = value
    return result


class StrictJSONProvider(DefaultJSONProvider):
    """Floats parse as Decimal (metric values are hashed as the decimal text that was sent)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        kwargs.setdefault("parse_float", Decimal)
        kwargs.setdefault("object_pairs_hook", _no_duplicates)
        return json.loads(s, **kwargs)
