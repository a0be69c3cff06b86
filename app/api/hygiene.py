"""Request hygiene that holds for every route, checked before the route runs.

PostgreSQL text cannot hold NUL, so a NUL in the path or query string (%00) could only ever
end as a database error; it is refused up front as 400 (problem+json on /api/v1, MLflow's
format on the MLflow routes, through each blueprint's error handlers). Bodies get the same
rule from app.api.jsonio.
"""

from __future__ import annotations

from flask import request
from werkzeug.exceptions import BadRequest


def refuse_nul() -> None:
    if "\x00" in request.path or b"%00" in request.query_string:
        raise BadRequest("the path or query string contains NUL (%00), which cannot be stored")
