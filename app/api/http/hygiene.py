"""Request hygiene that holds for every route, checked before the route runs.

PostgreSQL text cannot hold NUL, so a NUL in the path or query string (%00) could only ever
end as a database error; it is refused up front as 400 (problem+json on /api/v1, MLflow's
format on the MLflow routes, through each blueprint's error handlers). Bodies get the same
rule from app.api.http.jsonio.
"""

from __future__ import annotations

from collections.abc import Iterator

from flask import request
from werkzeug.exceptions import BadRequest


def refuse_nul() -> None:
    if "\x00" in request.path or b"%00" in request.query_string:
        raise BadRequest("the path or query string contains NUL (%00), which cannot be stored")


def body_chunks(size: int) -> Iterator[bytes]:
    """The request body in chunks of at most size bytes, held to its Content-Length: a body
    that ends early (the client hung up; gunicorn hands the app what arrived as if it were
    all) raises 400 after the last chunk, so a caller streaming it to the artifact store
    stores nothing and records nothing."""
    declared, stream, received = request.content_length, request.stream, 0
    while chunk := stream.read(size):
        received += len(chunk)
        yield chunk
    if declared is not None and received != declared:
        raise BadRequest(f"the body ended after {received} of the {declared} bytes its "
                         "Content-Length declares; nothing was recorded")
