"""Bearer-token authentication and role checks for the HTTP adapters."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

import psycopg
from flask import g, request
from psycopg_pool import ConnectionPool

from app.api.http.errors import ApiError
from app.services import tokens
from app.services.tokens import Principal
from app.storage import tracking as runs

F = TypeVar("F", bound=Callable[..., Any])
ALL_ROLES = frozenset(tokens.ROLES)


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


@contextmanager
def reading(pool: ConnectionPool) -> Iterator[psycopg.Connection]:
    """A pooled connection in autocommit, for reads: each query is one round trip, with no
    BEGIN and COMMIT around it. (At READ COMMITTED, a transaction gives its statements no
    common snapshot anyway; `conn.transaction()` still opens a real one when needed.)"""
    with pool.connection() as conn:
        conn.autocommit = True
        try:
            yield conn
        finally:
            if not conn.closed:  # a broken connection is discarded by the pool
                conn.autocommit = False


def current_principal() -> Principal:
    principal: Principal = g.principal
    return principal


def require(*roles: str, run_arg: str | None = None) -> Callable[[F], F]:
    """Deny by default: the route runs only for a valid token whose role is listed.

    run_arg names the view argument that holds a run id, on the hot write paths: once the
    token is accepted, that run is read on the same connection (g.runs, for
    tracking.authorized_run), so the request checks out one pooled connection, not two.
    """
    allowed = frozenset(roles) or ALL_ROLES
    unknown = allowed - ALL_ROLES
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            from app.api.http.context import services

            token = bearer_token()
            if token is None:
                raise ApiError(401, "Unauthorized", "a bearer token is required")
            with reading(services().pool) as conn:
                principal = tokens.authenticate(conn, token)
                if run_arg is not None and principal is not None and principal.role in allowed:
                    g.runs = {kwargs[run_arg]: runs.get_run(conn, kwargs[run_arg])}
            if principal is None:
                raise ApiError(401, "Unauthorized", "the token is not valid")
            if principal.role not in allowed:
                raise ApiError(403, "Forbidden", f"role {principal.role!r} may not do this")
            g.principal = principal
            return view(*args, **kwargs)

        wrapper.required_roles = allowed  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate
