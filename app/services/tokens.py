"""API tokens: created as ledger entries, shown once, stored as SHA-256 only."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from app.kinds.access import PRINCIPAL_KINDS, actor_of
from app.ledger.entry import Draft, Receipt, format_timestamp
from app.ledger.errors import LedgerError
from app.services.ledger import LedgerWriter
from app.storage import tokens as store
from app.storage.tracking import RunRow

ROLES = ("admin", "writer", "approver", "auditor")
TOKEN_PREFIX = "mla_"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")
MAX_REASON = 1000
MAX_DISPLAY_NAME = 200


class TokenError(LedgerError):
    """A token request is invalid (bad name or role, name taken)."""


class UnknownToken(TokenError):
    """No token has this name."""


class UnknownPrincipal(TokenError):
    """No principal has this name."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the authenticated token (name, role, scope) and the person or service
    account it belongs to (separation of duties compares `person`, never tokens)."""

    token_id: str
    name: str
    role: str
    scope: frozenset[str] | None = None  # experiment ids once the token ever held a grant
    principal_id: str | None = None
    principal_name: str | None = None
    display_name: str | None = None
    principal_kind: str = "person"

    def may_use(self, experiment_id: str) -> bool:
        """Admins and unscoped tokens reach every experiment; scoped ones only their own."""
        return self.role == "admin" or self.scope is None or experiment_id in self.scope

    @property
    def actor(self) -> str:
        """`token:<token>`, naming its principal when that has another name."""
        return actor_of(self.name, self.principal_name)

    @property
    def person(self) -> str:
        """Whom separation of duties compares: the principal, else the actor."""
        return self.principal_id or self.actor

    @property
    def printed_name(self) -> str:
        return self.display_name or self.principal_name or self.name


def create_principal(writer: LedgerWriter, name: str, display_name: str, kind: str,
                     actor: str) -> tuple[str, Receipt]:
    """A person or service account: a `principal.created` entry; returns its id."""
    if not NAME_PATTERN.match(name):
        raise TokenError("principal name must be 1-128 characters of letters, digits, . _ @ -")
    display_name = display_name.strip()
    if not display_name or len(display_name) > MAX_DISPLAY_NAME:
        raise TokenError(f"a display name has 1-{MAX_DISPLAY_NAME} characters")
    if kind not in PRINCIPAL_KINDS:
        raise TokenError(f"principal kind must be one of {', '.join(PRINCIPAL_KINDS)}")
    writer.lock()  # names are unique: serialise the check with every other write
    if store.principal_by_name(writer.conn, name) is not None:
        raise TokenError(f"a principal named {name!r} already exists")
    principal_id = secrets.token_hex(8)
    [receipt] = writer.append([Draft("principal.created", actor, {"principal": principal_id},
                                     {"name": name, "display_name": display_name,
                                      "kind": kind})])
    return principal_id, receipt


def _own_principal(writer: LedgerWriter, name: str, actor: str) -> tuple[str, list[Receipt]]:
    """The id of the principal of this name, made as a person when missing (and its entry)."""
    found = store.principal_by_name(writer.conn, name)
    if found is not None:
        return found.id, []
    made, receipt = create_principal(writer, name, name, "person", actor)
    return made, [receipt]


def _principal_for(writer: LedgerWriter, principal: str | None, token_name: str,
                   actor: str) -> str:
    """The id of the named principal; with none named, of the one named after the token."""
    if principal is None:
        return _own_principal(writer, token_name, actor)[0]
    found = store.principal_by_name(writer.conn, principal)
    if found is None:
        raise UnknownPrincipal(f"no principal is named {principal!r}; create it first with "
                               f"`mlaudit principal create {principal} --display-name ...`")
    return found.id


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def create_token(writer: LedgerWriter, name: str, role: str, actor: str,
                 expires_at: datetime | None = None,
                 principal: str | None = None) -> tuple[str, Receipt]:
    """Create a token inside the writer's transaction; returns the secret (shown once).

    expires_at (timezone-aware, in the future) is fixed at creation and recorded in the entry;
    the token is refused from that moment on. The token belongs to the named principal, or
    (none named) to the principal of the token's own name, made as a person if missing."""
    if not NAME_PATTERN.match(name):
        raise TokenError("token name must be 1-128 characters of letters, digits, . _ @ -")
    if role not in ROLES:
        raise TokenError(f"role must be one of {', '.join(ROLES)}")
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise TokenError("a token's expiry needs a time zone")
        expires_at = expires_at.astimezone(UTC)
        if expires_at <= datetime.now(UTC):
            raise TokenError("a token's expiry must be in the future")
    writer.lock()  # names are unique: serialise the check with every other write
    if store.find_by_name(writer.conn, name) is not None:
        raise TokenError(f"a token named {name!r} already exists")
    holder = _principal_for(writer, principal, name, actor)
    holder_name = principal or name
    token_id = secrets.token_hex(8)
    secret = f"{TOKEN_PREFIX}{secrets.token_urlsafe(32)}"
    digest = token_hash(secret)
    body = {"name": name, "role": role, "token_sha256": digest.hex(), "principal": holder,
            "principal_name": holder_name}
    if expires_at is not None:
        body["expires_at"] = format_timestamp(expires_at)
    [receipt] = writer.append([Draft("token.created", actor, {"token": token_id}, body)])
    return secret, receipt


def revoke_token(writer: LedgerWriter, name: str, actor: str, reason: str = "") -> Receipt:
    """Revoke a token by name: a `token.revoked` entry and a revocation row in one unit.
    Every later request with it is a 401 (authentication reads the revocations each time)."""
    writer.lock()  # serialises concurrent revocations of the same token
    token = store.find_by_name(writer.conn, name)
    if token is None:
        raise UnknownToken(f"no token is named {name!r}")
    if token.revoked_seq is not None:
        raise TokenError(f"token {name!r} was already revoked (ledger entry {token.revoked_seq})")
    if len(reason) > MAX_REASON:
        raise TokenError(f"a revocation reason has at most {MAX_REASON} characters")
    body = {"name": name, "reason": reason} if reason else {"name": name}
    [receipt] = writer.append([Draft("token.revoked", actor, {"token": token.id}, body)])
    return receipt


def authenticate(conn: psycopg.Connection, token: str) -> Principal | None:
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    return _principal(store.find_principal(conn, token_hash(token)))


def authenticate_with_run(conn: psycopg.Connection, token: str, run_id: str
                          ) -> tuple[Principal | None, RunRow | None]:
    """authenticate, and the run a write names, read in the same round trip (the run is
    None when the token is refused)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None, None
    found, run = store.find_principal_and_run(conn, token_hash(token), run_id)
    principal = _principal(found)
    return principal, None if principal is None else run


def _principal(found: store.Found | None) -> Principal | None:
    if found is None:
        return None
    row, holder, granted = found  # None: never scoped; empty: scoped to nothing (fails closed)
    return Principal(row.id, row.name, row.role, None if granted is None else frozenset(granted),
                     holder.id, holder.name, holder.display_name, holder.kind)


def ensure_principals(writer: LedgerWriter) -> list[Receipt]:
    """Give every token made before principals existed a principal of its own name (one
    `principal.created` and one `token.assigned` entry each); such a token authenticates
    nothing until then."""
    writer.lock()
    receipts = []
    for token in store.unassigned_tokens(writer.conn):
        holder, made = _own_principal(writer, token.name, "system")
        receipts += made + writer.append([Draft(
            "token.assigned", "system", {"token": token.id, "principal": holder},
            {"token_name": token.name, "principal_name": token.name})])
    return receipts


def ensure_admin_token(writer: LedgerWriter, path: Path) -> Path | None:
    """On first start, create an admin token and write it to a 0600 file; None if one exists."""
    writer.lock()  # first: concurrent first starts then see each other's token
    if store.count_role(writer.conn, "admin"):
        return None
    secret, _ = create_token(writer, "admin", "admin", actor="system")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.exists():
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    return path
