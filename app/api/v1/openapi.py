"""GET /api/v1/openapi.json: the OpenAPI 3.0.3 document, built from the views' operations."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify
from marshmallow import fields

from app.api.http import openapi as kernel
from app.api.http.auth import require
from app.api.http.docs import OBJECT, ok, operation
from app.api.v1 import tracking_schemas as ts
from app.api.v1.artifacts import ArtifactPath
from app.tracking.limits import MAX_KEY, MAX_PARAM_VALUE
from app.tracking.paths import MAX_PATH

bp = Blueprint("openapi", __name__, url_prefix="/api/v1")
EXTENSION = "mlaudit.openapi"

SCOPE_NOTE = (
    "Scopes: a token that was ever granted an experiment is scoped, to the experiments it holds "
    "grants on now (none, once its last grant is revoked: it then reaches nothing). Admin "
    "tokens and tokens never granted one reach every experiment. To a scoped token, an object "
    "outside its experiments (or a missing one) answers exactly as a missing object does: 404 "
    "(MLflow: RESOURCE_DOES_NOT_EXIST) with the same message, before anything else about the "
    "request is checked; lists and searches leave such objects out. A run, logged model or "
    "dataset lies in its experiment, a model version in its run's experiment, a registered "
    "model in every experiment its versions come from (a model without versions in none), a "
    "promotion or deployment with its model, a report with its subject.")
DESCRIPTION = (
    "A tamper-evident audit ledger for machine learning. Errors are RFC 9457 "
    "application/problem+json (on the MLflow-compatible routes, MLflow's {error_code, "
    "message} as application/json). Every response carries an X-Request-ID header: the "
    "request's own, if it sent a valid one (1-64 of A-Z a-z 0-9 . _ : -), else a new one. "
    "Promotion gate policies (PUT /api/v1/models/{name}/policy) are documented with examples "
    "in docs/policies.md of the mlaudit source. " + SCOPE_NOTE)

# Field conversions apispec cannot infer from /api/v1's own fields and validators.

KEY_DOC = (f"1-{MAX_KEY} letters, digits, _ - . / : or space; a relative path without '..' "
           "or '//'")
PARAM_ITEM = {"type": "object", "required": ["key", "value"], "additionalProperties": False,
              "properties": {"key": {"type": "string", "minLength": 1, "maxLength": MAX_KEY,
                                     "description": KEY_DOC},
                             "value": {"type": "string", "maxLength": MAX_PARAM_VALUE}}}


def custom_fields(self: Any, field: fields.Field[Any], ret: dict[str, Any],
                  **kwargs: Any) -> dict[str, Any]:
    """Types of /api/v1's own fields, and the param items of a batch body."""
    if isinstance(field, ts.NoFloatJson):
        return {"description": "any JSON value whose numbers are all integers"}
    if isinstance(field, ts.MetricValue):
        return {"anyOf": [{"type": "number"}, {"type": "string"}],
                "description": "a number or decimal string ('NaN', 'Infinity', '-Infinity' too)"}
    if isinstance(field, ts.Key):
        return {"minLength": 1, "maxLength": MAX_KEY, "description": KEY_DOC}
    if isinstance(field, ArtifactPath):
        return {"minLength": 1, "maxLength": MAX_PATH,
                "description": "a relative '/'-separated path without empty, '.' or '..' "
                               "segments, backslash or control characters"}
    if isinstance(field.parent, ts.BatchBody) and field.name == "params":
        return {"items": PARAM_ITEM, "description": "unique keys"}
    return {}


def build_spec(app: Flask) -> dict[str, Any]:
    """The whole document; every served route's view must declare its operation."""
    from app import __version__

    return kernel.build_spec(app, title="mlaudit", version=__version__,
                             description=DESCRIPTION, attribute_functions=[custom_fields])


@bp.get("/openapi.json")
@operation("This OpenAPI document", {200: ok(OBJECT)})
@require()
def openapi_document() -> Response:
    """The document, built on first use and kept for the app's lifetime."""
    if EXTENSION not in current_app.extensions:
        current_app.extensions[EXTENSION] = build_spec(current_app)
    return jsonify(current_app.extensions[EXTENSION])
