"""Request JSON parsing: numbers keep their decimal text, and duplicate keys are refused.

Bodies that no store could keep are refused at parse time, as ValueError (Flask answers 400,
and the MLflow routes INVALID_PARAMETER_VALUE): the rules are app/ledger/strict_json.py's.
"""

from __future__ import annotations

from typing import Any

from flask.json.provider import DefaultJSONProvider

from app.ledger.strict_json import strict_loads


class StrictJSONProvider(DefaultJSONProvider):
    """Floats parse as Decimal (metric values are hashed as the decimal text that was sent)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return strict_loads(s, **kwargs)
