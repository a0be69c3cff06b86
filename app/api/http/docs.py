"""How a view documents itself: @operation(...) on the view, and the helpers output schemas use.

Each adapter declares its operations where its views are defined; app/api/http/openapi.py
walks the app's routes and builds the OpenAPI document from them (a route without an
operation fails the build). Output schemas serialise responses (Schema().dump) and describe
them: every field listed is always present unless required=False; they are open (no
additionalProperties: false), so that a field added later is not a breaking change.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from marshmallow import EXCLUDE, Schema, fields

from app.ledger.entry import format_timestamp

F = TypeVar("F", bound=Callable[..., Any])
ATTRIBUTE = "openapi_operation"  # the view function's attribute holding its Operation
PROBLEM = "application/problem+json"
OBJECT = {"type": "object", "description": "this OpenAPI 3.0.3 document"}
BINARY = {"type": "string", "format": "binary"}


class Out(Schema):
    """An output schema: dumps the fields it names and ignores others on load."""

    class Meta:
        unknown = EXCLUDE


class Base64(fields.String):
    """Bytes as standard base64 text (text already encoded passes as it is)."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if isinstance(value, bytes | bytearray | memoryview):
            return base64.b64encode(bytes(value)).decode("ascii")
        return super()._serialize(value, attr, obj, **kwargs)


class Timestamp(fields.String):
    """An instant as RFC 3339 UTC text, as entries hash it (text passes as it is)."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if isinstance(value, datetime):
            return format_timestamp(value)
        return super()._serialize(value, attr, obj, **kwargs)


def described(description: str) -> dict[str, str]:
    return {"description": description} if description else {}


def text(description: str = "", **kwargs: Any) -> fields.String:
    return fields.String(required=True, metadata=described(description), **kwargs)


def integer(description: str = "", **kwargs: Any) -> fields.Integer:
    return fields.Integer(required=True, metadata=described(description), **kwargs)


def b64(description: str, **kwargs: Any) -> fields.String:
    return Base64(required=True, metadata={"format": "byte", "description": description},
                  **kwargs)


def timestamp(description: str = "RFC 3339 UTC timestamp", **kwargs: Any) -> fields.String:
    return Timestamp(required=True, metadata=described(description), **kwargs)


def string_map() -> fields.Dict:
    return fields.Dict(keys=fields.String(), values=fields.String(), required=True)


def many(schema: type[Schema] | fields.Field[Any]) -> fields.List[Any]:
    inner = fields.Nested(schema) if isinstance(schema, type) else schema
    return fields.List(inner, required=True)


class ProblemSchema(Out):
    """RFC 9457 problem details; a route may add members (e.g. uri and sha256)."""

    type = text("always about:blank")
    title = text("the HTTP reason phrase")
    status = integer("the HTTP status code")
    detail = fields.String(metadata={"description": "what went wrong"})
    instance = text("the request path, percent-encoded (a URI reference)")
    errors = fields.Dict(metadata={"description": "messages per invalid field (400 only)"})
    request_id = fields.String(metadata={"description": "the request's id, as in the "
                                                        "X-Request-ID response header"})


@dataclass(frozen=True)
class ErrorFamily:
    """How an adapter's routes answer errors: the components <name><status> and <name>
    (any other status) answer `schema` as `media`, one description per status."""

    name: str
    schema: type[Schema]
    media: str
    statuses: Mapping[int, str]
    other: str


PROBLEMS = ErrorFamily("Problem", ProblemSchema, PROBLEM, {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    409: "Conflict", 413: "Content Too Large", 415: "Unsupported Media Type",
    429: "Too Many Requests: over MLAUDIT_RATE_LIMIT for this token (MLflow routes "
         "answer {error_code: REQUEST_LIMIT_EXCEEDED, message})",
    503: "Service Unavailable"}, "any other error (e.g. 422, 500)")


def ok(schema: type[Schema] | dict[str, Any], description: str = "OK",
       media: str = "application/json", **extra: Any) -> dict[str, Any]:
    """A documented response: `schema` (an output schema, or plain JSON Schema) as `media`."""
    return {"description": description, "content": {media: {"schema": schema}}, **extra}


@dataclass(frozen=True)
class Operation:
    """What a view documents. responses: the successes, and any error needing more than its
    family's schema; problems: the error statuses it answers beyond those the walk derives
    (a body or query: 400; a body: 413, 415; auth: 401, 403, 429; signed: 400, 401).
    summary may be a function of the route's rule (one view serving several rules)."""

    summary: str | Callable[[str], str]
    responses: dict[int, dict[str, Any]]
    query: type[Schema] | None = None
    body: type[Schema] | None = None
    raw_body: bool = False
    problems: tuple[int, ...] = ()
    signed: bool = False
    description: str = ""
    errors: ErrorFamily = PROBLEMS


def operation(summary: str | Callable[[str], str], responses: dict[int, dict[str, Any]],
              **options: Any) -> Callable[[F], F]:
    """Document the view it decorates (any order among its decorators: the route keeps the
    same function object, and functools.wraps copies the attribute to a wrapper)."""
    found = Operation(summary, responses, **options)

    def decorate(view: F) -> F:
        setattr(view, ATTRIBUTE, found)
        return view

    return decorate


def operation_of(view: Callable[..., Any]) -> Operation | None:
    found: Operation | None = getattr(view, ATTRIBUTE, None)
    return found
