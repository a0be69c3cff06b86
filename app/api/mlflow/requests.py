"""Reading MLflow's requests: JSON bodies and query strings, with MLflow's error wording.

MLflow's server takes POST bodies as JSON (Content-Type application/json required) and GET
parameters from the query string; its refusals say "Missing value for required parameter
'<name>'." and answer INVALID_PARAMETER_VALUE (400).
"""

from __future__ import annotations

from typing import Any

from flask import request
from werkzeug.exceptions import HTTPException

from app.api.mlflow.errors import invalid, missing_value
from app.tracking.limits import MAX_INT64


def body_run_id() -> str | None:
    """The body's run_id (or run_uuid) if the body is a JSON object naming one, else None
    (the view then reports what is wrong with the body)."""
    try:  # not silent: body() then reads the same cached parse
        data = request.get_json(force=True, silent=False, cache=True)
    except (HTTPException, ValueError):
        return None
    return run_id_in(data) if isinstance(data, dict) else None


def run_id_in(data: dict[str, Any]) -> str | None:
    """The run a body names: run_id, or run_uuid (older clients); None if neither is usable."""
    run_id = data.get("run_id") or data.get("run_uuid")
    return run_id if isinstance(run_id, str) and run_id else None


def body() -> dict[str, Any]:
    """The JSON object of a request. POST and PUT must say application/json, as MLflow's
    server requires (mlflow/server/validation.py), even when the body is empty."""
    if request.method in ("POST", "PUT"):
        if request.content_type is None:
            raise invalid("Bad Request. Content-Type header is missing.")
        if request.mimetype != "application/json":
            raise invalid("Bad Request. Content-Type must be one of ['application/json'].")
    if not request.data:
        return {}
    try:
        data = request.get_json(force=True, silent=False)
    except HTTPException as exc:
        raise invalid("the body must be JSON") from exc
    except ValueError as exc:
        raise invalid(f"the body must be JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise invalid("the body must be a JSON object")
    return data


def args() -> dict[str, Any]:
    """GET query string (first value per key) merged under any JSON body."""
    found: dict[str, Any] = dict(request.args.items())
    if request.method != "GET":
        found.update(body())
    return found


def text(data: dict[str, Any], key: str, *, required: bool = True,
         default: str | None = None) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise missing_value(key)
        return default
    if not isinstance(value, str):
        raise invalid(f"parameter '{key}' must be a string")
    return value


def integer(data: dict[str, Any], key: str, default: int | None = None, *,
            minimum: int = -MAX_INT64 - 1, maximum: int = MAX_INT64) -> int | None:
    value = data.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise invalid(f"parameter '{key}' must be an integer")
    try:
        number = int(value) if isinstance(value, (int, str)) else None
    except ValueError:
        number = None
    if number is None or not minimum <= number <= maximum:
        raise invalid(f"parameter '{key}' must be an integer in [{minimum}, {maximum}]")
    return number


def key_values(data: dict[str, Any], field: str) -> list[tuple[str, str]]:
    items = data.get(field) or []
    if not isinstance(items, list):
        raise invalid(f"'{field}' must be a list of {{key, value}} objects")
    out: list[tuple[str, str]] = []
    for item in items:
        if not isinstance(item, dict):
            raise invalid(f"'{field}' must be a list of {{key, value}} objects")
        key = text(item, "key")
        value = item.get("value", "")
        if not isinstance(value, str):
            value = str(value)
        out.append((str(key), value))
    return out
