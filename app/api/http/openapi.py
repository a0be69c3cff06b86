"""The OpenAPI 3.0.3 document, built by walking the app's routes and the operations their views
declare (app/api/http/docs.py); a route whose view declares none fails the build."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from marshmallow import Schema, fields, validate
from werkzeug.routing import Rule

from app.api.http.auth import ALL_ROLES
from app.api.http.docs import BINARY, PROBLEMS, ErrorFamily, Operation, operation_of
from app.ledger.request_signature import WINDOW_SECONDS
from app.services.access import SIGNATURE_HEADER

PARAM = re.compile(r"<(?:(?P<converter>\w+)(?P<args>\(.*?\))?:)?(?P<name>\w+)>")
AttributeFunction = Callable[..., dict[str, Any]]
_HEADERS = {401: {"WWW-Authenticate": {"schema": {"type": "string"}}},
            429: {"Retry-After": {"description": "whole seconds to wait",
                                  "schema": {"type": "integer"}}}}


class RegistryMismatch(LookupError):
    """A route whose view declares no operation, or a route the document cannot express."""


def app_routes(app: Flask) -> list[tuple[str, Rule]]:
    """Every (method, rule) the app serves, HEAD and OPTIONS aside."""
    return sorted(((method, rule) for rule in app.url_map.iter_rules()
                   for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}),
                  key=lambda pair: (pair[1].rule, pair[0]))


def path_parameter(converter: str | None, args: str | None, name: str) -> dict[str, Any]:
    """The OpenAPI path parameter for one Werkzeug converter; an unknown one is an error."""
    base = {"in": "path", "name": name, "required": True}
    if args:
        raise RegistryMismatch(f"converter arguments in <{converter}{args}:{name}> are not "
                               "documented yet")
    if converter == "int":
        return {**base, "schema": {"type": "integer", "minimum": 0}}
    if converter == "path":
        return {**base, "schema": {"type": "string", "minLength": 1, "pattern": "^[^/]"},
                "description": "may contain '/' (Werkzeug path converter), sent as is or as "
                               "%2F; it cannot start with '/'"}
    if converter in (None, "default", "string"):
        return {**base, "schema": {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}}
    raise RegistryMismatch(f"converter {converter!r} in <{converter}:{name}> is not documented")


def path_template(rule: str) -> tuple[str, list[dict[str, Any]]]:
    """'/runs/<run_id>/tags/<path:key>' -> ('/runs/{run_id}/tags/{key}', path parameters)."""
    params = [path_parameter(m["converter"], m["args"], m["name"]) for m in PARAM.finditer(rule)]
    return PARAM.sub(lambda m: "{" + m["name"] + "}", rule), params


def operations(app: Flask) -> list[tuple[str, Rule, Operation]]:
    """Every served (method, rule) with its view's operation; fails naming every route
    whose view declares none."""
    found, missing = [], []
    for method, rule in app_routes(app):
        op = operation_of(app.view_functions[rule.endpoint])
        if op is None:
            missing.append(f"{method} {rule.rule}")
        else:
            found.append((method, rule, op))
    if missing:
        raise RegistryMismatch(f"routes whose view declares no @operation: {missing}")
    return found


def _problem_statuses(op: Operation, roles: frozenset[str] | None) -> list[int]:
    """The error statuses an operation can answer, derived where the code allows."""
    found = set(op.problems)
    if op.query or op.body:
        found.add(400)
    if op.body:
        found |= {413, 415}
    if op.raw_body:
        found.add(413)
    if op.signed:
        found |= {400, 401}
    if roles is not None:
        found |= {401, 429}  # 429 only when MLAUDIT_RATE_LIMIT is set
        if roles != ALL_ROLES:
            found.add(403)
    return sorted(found)


def _request_body(op: Operation) -> dict[str, Any] | None:
    if op.body is not None:
        return {"required": True, "content": {"application/json": {"schema": op.body}}}
    if op.raw_body:
        return {"required": True, "description": "the artifact's bytes, any content type",
                "content": {"application/octet-stream": {"schema": BINARY}}}
    return None


def _description(op: Operation, roles: frozenset[str] | None) -> str:
    if roles is None:
        who = "No authentication."
    elif roles == ALL_ROLES:
        who = "Any role."
    else:
        who = f"Roles: {', '.join(sorted(roles))}."
    return f"{op.description} {who}".strip()


def operation(app: Flask, method: str, rule: Rule, op: Operation) -> dict[str, Any]:
    """The OpenAPI operation for one route (apispec resolves the marshmallow schemas)."""
    roles: frozenset[str] | None = getattr(app.view_functions[rule.endpoint],
                                           "required_roles", None)
    parameters: list[dict[str, Any] | str] = [*path_template(rule.rule)[1]]
    if op.query is not None:
        parameters.append({"in": "query", "schema": op.query})
    if op.signed:
        parameters.append("ClientSignatureHeader")
    responses: dict[Any, Any] = {str(s): r for s, r in sorted(op.responses.items())}
    for status in _problem_statuses(op, roles):
        responses.setdefault(str(status), f"{op.errors.name}{status}")
    if op.query is not None:  # a query string can be longer than the server's request line
        responses.setdefault("414", "UriTooLong")
    responses["default"] = op.errors.name
    summary = op.summary(rule.rule) if callable(op.summary) else op.summary
    found: dict[str, Any] = {
        "operationId": rule.endpoint.replace(".", "_") + ("" if method == "GET" else
                                                          f"_{method.lower()}"),
        "summary": summary, "description": _description(op, roles),
        "tags": [rule.endpoint.split(".")[0]],
        "parameters": parameters, "responses": responses}
    body = _request_body(op)
    if body is not None:
        found["requestBody"] = body
    if roles is None:
        found["security"] = []
    return found


def build_spec(app: Flask, *, title: str, version: str, description: str,
               attribute_functions: Iterable[AttributeFunction] = ()) -> dict[str, Any]:
    """The whole document: one operation per served route, each from its view.
    attribute_functions convert an adapter's own marshmallow fields (apispec's converter)."""
    found = operations(app)
    spec = _new_spec(title, version, description, attribute_functions)
    families = {op.errors.name: op.errors for _, _, op in found}
    for family in sorted({PROBLEMS.name: PROBLEMS, **families}.values(), key=lambda f: f.name):
        _error_family(spec, family)
    for method, rule, op in found:
        template, _ = path_template(rule.rule)
        spec.path(path=template,
                  operations={method.lower(): operation(app, method, rule, op)})
    return spec.to_dict()


def _new_spec(title: str, version: str, description: str,
              attribute_functions: Iterable[AttributeFunction]) -> APISpec:
    plugin = MarshmallowPlugin(schema_name_resolver=_schema_name)
    spec = APISpec(title=title, version=version, openapi_version="3.0.3", plugins=[plugin],
                   info={"description": description}, security=[{"bearerAuth": []}])
    assert plugin.converter is not None
    for function in (*attribute_functions, _dict_sizes, _anchored_pattern):
        plugin.converter.add_attribute_function(function)  # type: ignore[no-untyped-call]
    plugin.converter.add_parameter_attribute_function(_query_value)
    _components(spec)
    return spec


def _schema_name(schema: type[Schema] | Schema) -> str:
    cls = schema if isinstance(schema, type) else type(schema)
    return cls.__name__.removesuffix("Schema")


def _dict_sizes(self: Any, field: fields.Field[Any], ret: dict[str, Any],
                **kwargs: Any) -> dict[str, Any]:
    """A Length validator on a Dict counts the object's members."""
    if isinstance(field, fields.Dict):
        sizes = {"minLength": "minProperties", "maxLength": "maxProperties"}
        return {new: ret.pop(old) for old, new in sizes.items() if old in ret}
    return {}


def _anchored_pattern(self: Any, field: fields.Field[Any], ret: dict[str, Any],
                      **kwargs: Any) -> dict[str, Any]:
    """marshmallow's Regexp matches at the start only (re.match); JSON Schema searches."""
    regexes = [v.regex for v in field.validators if isinstance(v, validate.Regexp)]
    if not regexes:
        return {}
    pattern = regexes[0].pattern
    if not isinstance(pattern, str):
        return {}
    if pattern.endswith("\\Z"):
        pattern = pattern[:-2] + "$"
    return {"pattern": pattern if pattern.startswith("^") else f"^(?:{pattern})"}


def _query_value(self: Any, field: fields.Field[Any], ret: dict[str, Any],
                 **kwargs: Any) -> dict[str, Any]:
    """A query string has no null: drop nullable and a null default from query parameters."""
    schema = ret.get("schema", {})
    schema.pop("nullable", None)
    if "default" in schema and schema["default"] is None:
        del schema["default"]
    return {}


def _error_family(spec: APISpec, family: ErrorFamily) -> None:
    """The components <name> (schema and default response) and <name><status>."""
    spec.components.schema(family.name, schema=family.schema)
    content = {family.media: {"schema": {"$ref": f"#/components/schemas/{family.name}"}}}
    for status, title in family.statuses.items():
        response: dict[str, Any] = {"description": title, "content": content}
        if status in _HEADERS:
            response["headers"] = _HEADERS[status]
        spec.components.response(f"{family.name}{status}", response)
    spec.components.response(family.name, {"description": family.other, "content": content})


def _components(spec: APISpec) -> None:
    spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    spec.components.response("UriTooLong", {
        "description": "URI Too Long: the request line is longer than the HTTP server in front "
                       "of the app accepts (werkzeug's, under `mlaudit serve`: 65,536 bytes), "
                       "so the server answers with its own page and the app never sees the "
                       "request. gunicorn answers such a request 400, also with its own page "
                       "(limit_request_line).",
        "content": {"text/html": {"schema": {"type": "string"}}}})
    spec.components.parameter("ClientSignatureHeader", "header", {
        "name": SIGNATURE_HEADER, "required": False,
        "schema": {"type": "string", "pattern": r"^\s*keyid=[0-9a-f]{16}\s*,\s*t=[0-9]{1,12}"
                                                r"\s*,\s*sig=\S+\s*$"},
        "description": "Optional client signature with a key registered at /api/v1/client-keys: "
                       "Ed25519 over the method, path and query, timestamp `t` (Unix seconds, "
                       f"within {WINDOW_SECONDS} s of the server's clock) and body SHA-256 "
                       "(docs/ledger-format.md, Client request signatures); recorded in every "
                       "entry the request makes, and usable once. A bad, stale or replayed one "
                       "is 401; on a request with a body that is not JSON it is 400."})
