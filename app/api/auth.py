"""Bearer-token authentication and role checks for the HTTP adapters."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import g, request

from app.api.errors import ApiError
from app.services import tokens
from app.services.tokens import Principal

F = TypeVar("F", bound=Callable[..., Any])
ALL_ROLES = frozenset(tokens.ROLES)


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def current_principal() -> Principal:
    principal: Principal = g.principal
    return principal


def require(*roles: str) -> Callable[[F], F]:
    """Deny by default: the route runs only for a valid token whose role is listed."""
    allowed = frozenset(roles) or ALL_ROLES
    unknown = allowed - ALL_ROLES
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            from app.api.context import services

            token = bearer_token()
            if token is None:
                raise ApiError(401, "Unauthorized", "a bearer token is required")
            with services().pool.connection() as conn:
                principal = tokens.authenticate(conn, token)
            if principal is None:
                raise ApiError(401, "Unauthorized", "the token is not valid")
            if principal.role not in allowed:
                raise ApiError(403, "Forbidden", f"role {principal.role!r} may not do this")
            g.principal = principal
            return view(*args, **kwargs)

        wrapper.required_roles = allowed  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate
