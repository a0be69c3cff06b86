"""How the MLflow routes document themselves: MLflow's error body, and @operation for its views.

The routes speak MLflow's wire format and errors ({"error_code", "message"} as
application/json), not /api/v1's. Their bodies are not described here: see MLflow's REST API
reference. The HTTP kernel (app/api/http/openapi.py) builds the document from these.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from marshmallow import fields

from app.api.http import docs
from app.api.http.docs import ErrorFamily, Out, described, ok, text

F = TypeVar("F", bound=Callable[..., Any])
PREFIX = "/api/2.0/mlflow/"


class MlflowErrorSchema(Out):
    """MLflow's error body, answered by every MLflow-compatible route instead of a problem."""

    error_code = text("e.g. INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST, UNAUTHENTICATED, "
                      "PERMISSION_DENIED, RESOURCE_CONFLICT, REQUEST_LIMIT_EXCEEDED")
    message = text()


class MlflowArtifactListQuery(Out):
    path = fields.String(metadata=described("the folder, <exp>/<run>/artifacts[/<path>], "
                                            "<exp>/models/<model_id>/artifacts[/<path>] or a "
                                            "version's root <exp>/model-versions/"
                                            "<version_digest>/artifacts[/<path>] (its pinned "
                                            "files only); an empty or unknown folder "
                                            "answers {}"))


# MLflow's error_code for each status (app/api/mlflow/errors.py). 409 is RESOURCE_CONFLICT
# (stored artifact bytes changed).
ERRORS = ErrorFamily("MlflowError", MlflowErrorSchema, "application/json", {
    400: "INVALID_PARAMETER_VALUE", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
    404: "RESOURCE_DOES_NOT_EXIST", 409: "RESOURCE_CONFLICT",
    413: "INVALID_PARAMETER_VALUE: the body is too large", 429: "REQUEST_LIMIT_EXCEEDED"},
    "any other error (e.g. 503)")
MESSAGE = ok({"type": "object", "description": "MLflow's response message (proto JSON)"})
PLAIN_TEXT = ok({"type": "string"}, "plain text", "text/plain")
NOTE = ("MLflow REST API compatibility for the stock mlflow client; errors are MLflow's "
        "{error_code, message}. Bearer token, or Basic auth with token name and secret.")


def endpoint_summary(rule: str) -> str:
    """'MLflow: runs/create' for /api/2.0/mlflow/runs/create."""
    return f"MLflow: {rule.removeprefix(PREFIX)}"


def operation(summary: str | Callable[[str], str] = endpoint_summary,
              responses: dict[int, dict[str, Any]] | None = None,
              problems: tuple[int, ...] = (400, 404), description: str = NOTE,
              **options: Any) -> Callable[[F], F]:
    """The kernel's @operation with MLflow's defaults: its error family, its message as the
    200 body, the route's path as the summary, and 400 and 404 among its errors."""
    return docs.operation(summary, {200: MESSAGE} if responses is None else responses,
                          problems=problems, description=description, errors=ERRORS,
                          **options)
