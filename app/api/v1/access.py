"""/api/v1 tokens and grants (admin) and client signing keys (any principal, for its own
submissions)."""

from __future__ import annotations

import base64
from typing import Any

from flask import Blueprint, Response, jsonify
from marshmallow import fields, validate

from app.api.http.auth import current_principal, require
from app.api.http.docs import ok, operation
from app.api.http.errors import ApiError
from app.api.http.receipts import (
    MaybeReceiptSchema,
    ReceiptOnlySchema,
    maybe_receipt,
    receipt_only,
)
from app.api.http.scope import granted
from app.api.http.units import commit, read
from app.api.v1.responses.access import (
    ClientKeyListSchema,
    ClientKeyRegisteredSchema,
    GrantListSchema,
    PrincipalListSchema,
    TokenListSchema,
)
from app.api.v1.schemas import _Strict
from app.api.v1.tracking import body
from app.services import access, tokens
from app.storage import access as store
from app.storage import tokens as token_store

bp = Blueprint("access", __name__, url_prefix="/api/v1")
# Responses are serialised by the schemas their operations document.
TOKENS, PRINCIPALS, GRANTS = TokenListSchema(), PrincipalListSchema(), GrantListSchema()
KEY_REGISTERED, KEYS = ClientKeyRegisteredSchema(), ClientKeyListSchema()


class GrantBody(_Strict):
    token_name = fields.String(required=True, validate=validate.Length(1, 128))
    experiment_id = fields.String(required=True, validate=validate.Length(1, 64))


class RevokeBody(_Strict):
    reason = fields.String(load_default="", validate=validate.Length(max=tokens.MAX_REASON))


class ClientKeyBody(_Strict):
    public_key = fields.String(required=True, validate=validate.Length(1, 100))


def _access(fn: Any) -> Any:
    try:
        return commit(fn)
    except access.AccessError as exc:
        raise ApiError(400, "Bad Request", str(exc)) from exc


@bp.get("/tokens")
@operation(
    "Every token, oldest first: role, expiry and revocation (never a secret or hash)",
    {200: ok(TokenListSchema)})
@require("admin", "auditor")
def list_tokens() -> Response:
    """Every token (never its secret or hash): role, when it was made and by which entry, its
    expiry, and the entry that revoked it."""
    rows = read(token_store.list_tokens)
    return jsonify(TOKENS.dump({"tokens": rows}))


@bp.get("/principals")
@operation(
    "Every person and service account, oldest first, with its tokens' names; separation "
    "of duties compares principals, never tokens", {200: ok(PrincipalListSchema)})
@require("admin", "auditor")
def list_principals() -> Response:
    """Every person and service account: its printed name, kind, the entry that made it and
    the names of its tokens. Separation of duties compares these, never tokens."""
    rows = read(token_store.list_principals)
    return jsonify(PRINCIPALS.dump({"principals": [{
        "name": p.name, "id": p.id, "display_name": p.display_name, "kind": p.kind,
        "created_seq": p.seq, "tokens": names} for p, names in rows]}))


@bp.post("/tokens/<name>/revoke")
@operation(
    "Revoke a token at once (a token.revoked entry); its next request is a 401",
    {200: ok(ReceiptOnlySchema)}, body=RevokeBody, problems=(404, 409),
    signed=True)
@require("admin")
def revoke_token(name: str) -> Response:
    """Revoke a token: a `token.revoked` entry; its next request anywhere is a 401."""
    reason = body(RevokeBody())["reason"]
    actor = current_principal().actor
    try:
        receipt = commit(lambda w: tokens.revoke_token(w, name, actor, reason))
    except tokens.UnknownToken as exc:
        raise ApiError(404, "Not Found", str(exc)) from exc
    except tokens.TokenError as exc:  # already revoked, or a reason too long for the entry
        raise ApiError(409, "Conflict", str(exc)) from exc
    return jsonify(receipt_only(receipt))


@bp.post("/grants")
@operation(
    "Grant a token use of an experiment", {200: ok(MaybeReceiptSchema)},
    body=GrantBody, problems=(400,), signed=True)
@require("admin")
def create_grant() -> Response:
    data = body(GrantBody())
    actor = current_principal().actor
    receipt = _access(lambda w: access.grant(w, actor, data["token_name"], data["experiment_id"]))
    return jsonify(maybe_receipt(receipt))


@bp.delete("/grants/<token_name>/<experiment_id>")
@operation("Revoke a grant", {200: ok(ReceiptOnlySchema)}, problems=(400,), signed=True)
@require("admin")
def revoke_grant(token_name: str, experiment_id: str) -> Response:
    actor = current_principal().actor
    receipt = _access(lambda w: access.revoke(w, actor, token_name, experiment_id))
    return jsonify(receipt_only(receipt))


@bp.get("/grants")
@operation("Every grant, in seq order", {200: ok(GrantListSchema)})
@require("admin", "auditor")
def list_grants() -> Response:
    rows = read(store.list_grants)
    allowed = granted()  # a scoped auditor sees only the grants on its own experiments
    rows = [r for r in rows if allowed is None or r[2] in allowed]
    return jsonify(GRANTS.dump({"grants": [
        {"token_name": n, "token_id": t, "experiment_id": e, "seq": s} for n, t, e, s in rows]}))


@bp.post("/client-keys")
@operation(
    "Register an Ed25519 public key for signing this token's requests",
    {200: ok(ClientKeyRegisteredSchema)}, body=ClientKeyBody, problems=(400,),
    signed=True)
@require()
def register_client_key() -> Response:
    """Register an Ed25519 public key (base64 of 32 bytes) for signing this token's requests."""
    text = body(ClientKeyBody())["public_key"]
    try:  # binascii.Error for bad base64, ValueError for text that is not even ASCII
        public_key = base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise ApiError(400, "Bad Request", "public_key must be base64") from exc
    principal = current_principal()
    key_id, receipt = _access(lambda w: access.register_client_key(w, principal, public_key))
    return jsonify(KEY_REGISTERED.dump({"key_id": key_id, "receipt": receipt}))


@bp.get("/client-keys")
@operation("This token's client keys",
           {200: ok(ClientKeyListSchema)})
@require()
def my_client_keys() -> Response:
    rows = read(lambda c: store.client_keys_of(c, current_principal().token_id))
    return jsonify(KEYS.dump({"keys": [{"key_id": k, "public_key": p, "seq": s}
                                        for k, p, s in rows]}))
