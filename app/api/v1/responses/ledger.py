"""Output schemas of /api/v1/ledger: keys, checkpoints, entries and proofs."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from app.api.http.docs import Out, b64, described, integer, many, text, timestamp


class KeyId(fields.String):
    """A signing key's 32-bit ID as 8 hex digits."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return f"{value:08x}" if isinstance(value, int) else super()._serialize(value, attr, obj)


class CheckpointSchema(Out):
    tree_size = integer()
    root_hash = b64("the Merkle tree root at tree_size")
    note = text("the signed note (C2SP signed-note format)")
    key_id = KeyId(required=True, validate=validate.Regexp(r"^[0-9a-f]{8}$"),
                   metadata=described("the signing key ID, 8 hex digits"))
    signed_at = timestamp()


class LedgerEntrySchema(Out):
    seq = integer()
    canonical = b64("the entry's RFC 8785 bytes")
    leaf_hash = b64("SHA-256(0x00 || canonical)")
    chain_hash = b64("the hash chain value after this entry")
    kind = text()
    actor = text()
    recorded_at = timestamp()


class EntryPageSchema(Out):
    entries = many(LedgerEntrySchema)
    next = integer("pass as ?after= for the next page; null on the last", allow_none=True)


class InclusionProofSchema(Out):
    tree_size = integer()
    leaf_index = integer()
    hashes = many(b64("a sibling hash"))


class EntryWithProofSchema(LedgerEntrySchema):
    entry = fields.Dict(required=True, metadata={"description": "the decoded canonical entry"})
    inclusion_proof = fields.Nested(InclusionProofSchema, required=True)
    checkpoint = fields.Nested(CheckpointSchema, required=True)


class ConsistencyProofSchema(Out):
    from_ = integer("the older tree size", data_key="from", attribute="first")
    to = integer("the newer tree size", attribute="second")
    from_root = b64("the root at from", attribute="first_root")
    to_root = b64("the root at to", attribute="second_root")
    hashes = many(b64("a proof hash"))


class KeyListSchema(Out):
    keys = many(text("a verifier key: name+hex8 key ID+base64 key"))
    active = text("the key signing now (the last of keys)", allow_none=True)


LEDGER_SCOPE = (
    "A scoped token is served only the entries whose subject ids all lie in its experiments "
    "(see the API description; subject ids of any other kind, such as token or key, and ids "
    "that cannot be placed, hide the entry); any other entry answers as a missing one. "
    "Checkpoints and consistency proofs hold hashes and sizes only and are served to every "
    "token. Checking the whole ledger (docs/ledger-format.md 10.4) needs an unscoped token.")

