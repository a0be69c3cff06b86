"""Opaque page tokens for search results, issued and checked the same way by both adapters."""

from __future__ import annotations

import base64
import json

from app.api.http.errors import ApiError
from app.tracking.limits import MAX_PAGE_TOKEN  # the longest token accepted

MAX_OFFSET = 10**9


def encode_page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_page_token(token: object) -> int:
    """The offset in a page token this server issued: base64url of {"offset": <int>}. Anything
    else (not a string, too long, not base64 or JSON, JSON of another shape, `true` where the
    int goes) is a 400, never a value handed on to SQL."""
    if token is None:
        return 0
    refused = ApiError(400, "Bad Request", "page_token is not a token this server issued")
    if not isinstance(token, str) or len(token) > MAX_PAGE_TOKEN:
        raise refused
    try:
        document = json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError as exc:  # binascii.Error, UnicodeError and JSONDecodeError included
        raise refused from exc
    offset = document.get("offset") if isinstance(document, dict) else None
    if type(offset) is not int or not 0 <= offset <= MAX_OFFSET:  # bool is an int subclass
        raise refused
    return offset
