"""A write's receipt as JSON: its seq, kind and hashes (base64), as both adapters return it."""

from __future__ import annotations

import base64
from typing import Any

from marshmallow import fields

from app.api.http.docs import Out, b64, integer, many, text
from app.ledger.entry import Receipt


def receipt_json(receipt: Receipt | None) -> dict[str, Any] | None:
    if receipt is None:
        return None
    return {"seq": receipt.seq, "kind": receipt.kind,
            "leaf_hash": base64.b64encode(receipt.leaf_hash).decode(),
            "chain_hash": base64.b64encode(receipt.chain_hash).decode()}


class ReceiptSchema(Out):
    seq = integer("the ledger entry's sequence number")
    kind = text("the entry kind, e.g. experiment.created")
    leaf_hash = b64("SHA-256(0x00 || canonical entry bytes)")
    chain_hash = b64("the hash chain value after this entry")


class ReceiptOnlySchema(Out):
    receipt = fields.Nested(ReceiptSchema, required=True)


class MaybeReceiptSchema(Out):
    receipt = fields.Nested(ReceiptSchema, required=True, allow_none=True,
                            metadata={"description": "null when nothing changed"})
    unchanged = fields.Boolean(required=True)


class ReceiptListSchema(Out):
    receipts = many(ReceiptSchema)


class ReceiptsSchema(Out):
    receipts = many(ReceiptSchema)

