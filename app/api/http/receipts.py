"""A write's receipt as JSON: its seq, kind and hashes (base64), as both adapters return it."""

from __future__ import annotations

from typing import Any

from marshmallow import fields

from app.api.http.docs import Out, b64, integer, many, text
from app.ledger.entry import Receipt


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



# Responses are serialised by the schemas their operations document.
RECEIPT, RECEIPT_ONLY, MAYBE_RECEIPT = ReceiptSchema(), ReceiptOnlySchema(), MaybeReceiptSchema()
RECEIPT_LIST, RECEIPTS = ReceiptListSchema(), ReceiptsSchema()


def receipt_json(receipt: Receipt | None) -> dict[str, Any] | None:
    """A receipt as ReceiptSchema serialises it: seq, kind and base64 hashes."""
    return None if receipt is None else RECEIPT.dump(receipt)


def receipt_only(receipt: Receipt) -> dict[str, Any]:
    found: dict[str, Any] = RECEIPT_ONLY.dump({"receipt": receipt})
    return found


def maybe_receipt(receipt: Receipt | None) -> dict[str, Any]:
    """{receipt, unchanged}: receipt null and unchanged true when nothing was written."""
    found: dict[str, Any] = MAYBE_RECEIPT.dump({"receipt": receipt, "unchanged": receipt is None})
    return found
