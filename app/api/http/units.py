"""The unit-of-work call shared by the adapters: reads on a pooled connection, writes as a unit."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import request

from app.api.http.auth import current_principal, reading
from app.api.http.context import services
from app.api.http.errors import ApiError
from app.services import access
from app.services.ledger import LedgerWriter

T = TypeVar("T")


def read(fn: Callable[[Any], T]) -> T:
    """fn on a pooled connection in autocommit (one round trip per query)."""
    with reading(services().pool) as conn:
        return fn(conn)


def client_signature() -> access.ClientSignature | None:
    """The request's verified client signature, if it carries one (a bad one is a 401)."""
    header = request.headers.get(access.SIGNATURE_HEADER)
    if header is None:
        return None
    if request.mimetype != "application/json" and (request.content_length or 0) > 0:
        raise ApiError(400, "Bad Request", f"{access.SIGNATURE_HEADER} signs JSON bodies only")
    sent = access.SignedRequest(request.method, request.script_root + request.path,
                                request.query_string.decode("latin-1"),
                                request.get_data(cache=True))
    try:
        return read(lambda c: access.verify_request(c, current_principal(), header, sent,
                                                    time.time()))
    except access.SignatureRejected as exc:
        raise ApiError(401, "Unauthorized", str(exc)) from exc


def commit(unit: Callable[[LedgerWriter], T], check: Callable[[], object] | None = None) -> T:
    """Run one request's writes as a unit of group commit.

    A client-signed request spends its signature in the unit's transaction (a replay is a
    401, whichever replica it reaches) and has it (key id, signature and every signed field)
    put into the body of every entry it makes. check, if given, runs first (after the
    signature): a cheap refusal before joining the queue. Domain errors, the unit's or
    check's, propagate: each adapter translates them once (errors.DOMAIN_ERRORS).
    """
    signature = client_signature()
    work: Callable[[LedgerWriter], T] = unit if signature is None else access.signed(
        signature, unit)  # type: ignore[arg-type]
    if check is not None:
        check()
    return services().committer.run(work)
