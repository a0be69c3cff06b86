"""A write's receipt as JSON: its seq, kind and hashes (base64), as both adapters return it."""

from __future__ import annotations

import base64
from typing import Any

from app.ledger.entry import Receipt


def receipt_json(receipt: Receipt | None) -> dict[str, Any] | None:
    if receipt is None:
        return None
    return {"seq": receipt.seq, "kind": receipt.kind,
            "leaf_hash": base64.b64encode(receipt.leaf_hash).decode(),
            "chain_hash": base64.b64encode(receipt.chain_hash).decode()}
