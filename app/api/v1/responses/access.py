"""Output schemas of /api/v1 access: tokens, principals, grants and client keys."""

from __future__ import annotations

from marshmallow import fields

from app.api.http.docs import Out, Timestamp, b64, integer, many, text
from app.api.http.receipts import ReceiptSchema


class TokenSchema(Out):
    name = text()
    id = text()
    role = text("admin, writer, approver or auditor")
    created_seq = integer()
    expires_at = Timestamp(required=True, allow_none=True,
                           metadata={"description": "RFC 3339 UTC, or null: no expiry"})
    revoked_seq = fields.Integer(required=True, allow_none=True,
                                 metadata={"description": "the token.revoked entry, or null"})
    principal = fields.String(required=True, allow_none=True, metadata={
        "description": "the name of the person or service account holding it"})


class TokenListSchema(Out):
    tokens = many(TokenSchema)


class PrincipalSchema(Out):
    name = text()
    id = text()
    display_name = text("the printed name reports and signatures show")
    kind = text("person or service; only a person may decide a promotion")
    created_seq = integer()
    tokens = fields.List(fields.String(), required=True,
                         metadata={"description": "names of its tokens, revoked ones included"})


class PrincipalListSchema(Out):
    principals = many(PrincipalSchema)


class GrantSchema(Out):
    token_name = text()
    token_id = text()
    experiment_id = text()
    seq = integer()


class GrantListSchema(Out):
    grants = many(GrantSchema)


class ClientKeyRegisteredSchema(Out):
    key_id = text("16 hex digits")
    receipt = fields.Nested(ReceiptSchema, required=True, allow_none=True,
                            metadata={"description": "null when already registered"})


class ClientKeySchema(Out):
    key_id = text()
    public_key = b64("the Ed25519 public key")
    seq = integer()


class ClientKeyListSchema(Out):
    keys = many(ClientKeySchema)

