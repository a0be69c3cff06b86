"""Authentication and role checks for both adapters: one decorator, pluggable credentials."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

import psycopg
from flask import g, request
from psycopg_pool import ConnectionPool

from app.api.http.errors import ApiError
from app.services import tokens
from app.services.tokens import Principal

F = TypeVar("F", bound=Callable[..., Any])
ALL_ROLES = frozenset(tokens.ROLES)


@dataclass(frozen=True)
class Credentials:
    """A token's secret, and the token's name when the client sent one (Basic's user name)."""

    secret: str
    name: str | None = None


@dataclass(frozen=True)
class Scheme:
    """How a family of routes reads the Authorization header, and what a 401 says when the
    credentials are missing (parse gave None) or match no token."""

    parse: Callable[[str], Credentials | None]
    missing: str
    invalid: str


def bearer(header: str) -> Credentials | None:
    """`Bearer <token secret>` (RFC 6750)."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return Credentials(value.strip())


def bearer_or_basic(header: str) -> Credentials | None:
    """`Bearer <token secret>`, or `Basic base64(<token name>:<token secret>)` (RFC 7617)."""
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if not value or scheme.lower() not in ("bearer", "basic"):
        return None
    if scheme.lower() == "bearer":
        return Credentials(value)
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    name, sep, secret = decoded.partition(":")
    return Credentials(secret, name) if sep else None


BEARER = Scheme(bearer, "a bearer token is required", "the token is not valid")


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


def require(*roles: str, run_arg: str | None = None, scheme: Scheme = BEARER,
            run_of: Callable[[dict[str, Any]], str | None] | None = None) -> Callable[[F], F]:
    """Deny by default: the route runs only for valid credentials whose token's role is
    listed. A refusal is an ApiError (401 or 403), which each adapter answers in its format.

    run_arg names the view argument that holds a run id, on the hot write paths (run_of, more
    generally, finds the run id from the view's arguments or the request): that run is read
    in the token's round trip, on the same connection, and kept once the token is accepted
    (g.runs, for scope.authorized_run): one pooled checkout and one round trip, not two.
    """
    allowed = frozenset(roles) or ALL_ROLES
    unknown = allowed - ALL_ROLES
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")
    if run_arg is not None:
        run_of = _view_argument(run_arg)

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            g.principal = _authenticate(scheme, allowed, run_of, kwargs)
            return view(*args, **kwargs)

        wrapper.required_roles = allowed  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def _authenticate(scheme: Scheme, allowed: frozenset[str],
                  run_of: Callable[[dict[str, Any]], str | None] | None,
                  kwargs: dict[str, Any]) -> Principal:
    from app.api.http.context import services

    credentials = scheme.parse(request.headers.get("Authorization", ""))
    if credentials is None:
        raise ApiError(401, "Unauthorized", scheme.missing)
    run_id = None if run_of is None else run_of(kwargs)
    with reading(services().pool) as conn:
        if run_id is None:
            principal, run = tokens.authenticate(conn, credentials.secret), None
        else:  # the token and the run in one round trip
            principal, run = tokens.authenticate_with_run(conn, credentials.secret, run_id)
        if principal is not None and credentials.name not in (None, principal.name):
            principal = None  # Basic's name must be the token's own
    if run_id is not None and principal is not None and principal.role in allowed:
        g.runs = {run_id: run}
    if principal is None:
        raise ApiError(401, "Unauthorized", scheme.invalid)
    if principal.role not in allowed:
        raise ApiError(403, "Forbidden", f"role {principal.role!r} may not do this")
    return principal


def _view_argument(name: str) -> Callable[[dict[str, Any]], str | None]:
    return lambda kwargs: kwargs[name]
