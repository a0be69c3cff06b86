"""Marshmallow schemas guarding every query string and body of /api/v1 (unknown fields raise)."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from app.api.http.errors import ApiError

MAX_PAGE = 1000
DEFAULT_PAGE = 100
MAX_SEQ = 2**62


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class EntryListQuery(_Strict):
    after = fields.Integer(load_default=-1, validate=validate.Range(-1, MAX_SEQ), strict=False)
    limit = fields.Integer(load_default=DEFAULT_PAGE, validate=validate.Range(1, MAX_PAGE))


class EntryQuery(_Strict):
    tree_size = fields.Integer(load_default=None, validate=validate.Range(1, MAX_SEQ))


class ConsistencyQuery(_Strict):
    from_ = fields.Integer(required=True, data_key="from", validate=validate.Range(1, MAX_SEQ))
    to = fields.Integer(load_default=None, validate=validate.Range(1, MAX_SEQ))


def load(schema: Schema, data: Any) -> dict[str, Any]:
    """Validate or raise a 400 problem naming each bad field."""
    try:
        loaded: dict[str, Any] = schema.load(data)
    except ValidationError as exc:
        raise ApiError(400, "Bad Request", "invalid input", errors=exc.messages) from exc
    return loaded
