"""The pure verifier: its fast loop and its slow path agree, and it never stops early."""

from __future__ import annotations

from app.ledger import entry
from app.ledger.entry import Draft
from app.ledger.merkle import CompactRange
from app.ledger.verify import Head, verify_entries

STAMP = "2026-11-26T12:00:00.000000Z"


def build(drafts: list[Draft]) -> tuple[list[tuple[int, bytes, bytes, bytes, bytes]], Head]:
    rows, chain, tree = [], entry.GENESIS_CHAIN_HASH, CompactRange()
    for seq, draft in enumerate(drafts):
        canonical = entry.canonical_bytes(draft, seq, STAMP)
        leaf = entry.leaf_hash(canonical)
        chain = entry.chain_hash(chain, leaf)
        rows.append((seq, canonical, leaf, chain, b"".join(tree.append(leaf))))
    return rows, Head(len(rows), chain, tree.to_bytes())


def test_entries_the_shortcut_cannot_read_are_still_verified() -> None:
    drafts = [Draft("a.b", "x", {"item": str(i)}) for i in range(50)]
    drafts[10] = Draft("a.b", "x", {"a": "1", "seq": "2"})  # ',"seq":' also inside subject
    rows, head = build(drafts)
    result = verify_entries(rows, [], [], head)
    assert result.ok and result.entries == 50


def test_damage_after_a_slow_path_entry_is_found() -> None:
    drafts = [Draft("a.b", "x", {"a": "1", "seq": "2"}) for _ in range(20)]
    rows, head = build(drafts)
    seq, canonical, leaf, chain, nodes = rows[15]
    rows[15] = (seq, canonical.replace(b'"x"', b'"y"'), leaf, chain, nodes)
    result = verify_entries(rows, [], [], head)
    assert result.damage is not None
    assert (result.damage.kind, result.damage.seq, result.entries) == ("modified", 15, 15)


def test_empty_ledger_verifies() -> None:
    result = verify_entries([], [], [], Head(0, entry.GENESIS_CHAIN_HASH, b""))
    assert result.ok and result.entries == 0
