"""The canonicaliser's fast path: byte for byte rfc8785.dumps, and refuses what it refuses."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import example, given, settings
from hypothesis import strategies as st

from app.ledger import entry, jcs
from app.ledger.entry import Draft
from app.ledger.errors import EntryError
from app.ledger.merkle import CompactRange

STAMP = "2026-11-26T12:00:00.000000Z"
# Characters where the two encoders or the two key orders could part: controls, quote,
# backslash, slash, DEL, U+2028/9, the BMP above the surrogates, astral, lone surrogates.
SPECIAL = st.sampled_from([
    "\x00", "\x08", "\t", "\n", "\x0b", "\x0c", "\r", "\x1f", '"', "\\", "/", "\x7f", "\x80",
    "\u2028", "\u2029", "\ud7ff", "\ue000", "\uf8ff", "\ufb01", "\ufeff", "\uffff",
    "\U00010000", "\U0001f600", "\U0010ffff", "\ud800", "\udfff", "a", "A", "é",
])
TEXT = st.text(SPECIAL | st.characters(), max_size=8)
NUMBER = (
    st.integers(-(2**53) + 1, 2**53 - 1) | st.integers() | st.sampled_from([2**53, -(2**53)])
    | st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([1.0, -0.0, 1e21, 1e-7])
)
SCALAR = st.none() | st.booleans() | NUMBER | TEXT
JSON = st.recursive(
    SCALAR,
    lambda inner: (st.lists(inner, max_size=4) | st.tuples(inner, inner)
                   | st.dictionaries(TEXT, inner, max_size=4)
                   | st.dictionaries(st.integers(0, 3) | st.booleans(), inner, max_size=2)),
    max_leaves=24,
)


def reference(value: object) -> bytes | None:
    """rfc8785's bytes, or None when it refuses the value."""
    try:
        return rfc8785.dumps(value)  # type: ignore[arg-type]
    except (rfc8785.CanonicalizationError, UnicodeEncodeError, RecursionError):
        return None


def ours(value: object) -> bytes | None:
    try:
        return jcs.canonicalize(value)
    except EntryError:
        return None


@settings(max_examples=1500, deadline=None)
@given(JSON)
@example({"\U0001f600": 1, "\uffff": 2, "\ue000": 3})
@example({"a\U00010000": 1, "a\uffff": 2})
@example({"s": "".join(map(chr, range(0x80)))})
@example({"f": 1.0, "e": 1e-7, "z": -0.0})
@example({"big": 2**53})
@example({1: "x"})
@example({"s": "\ud800"})
@example({"t": (1, "x")})
def test_canonicalize_is_rfc8785(value: Any) -> None:
    assert ours(value) == reference(value)


def test_depth_beyond_the_fast_path_still_matches() -> None:
    value: Any = "leaf"
    for _ in range(jcs.MAX_FAST_DEPTH + 5):
        value = {"k": [value]}
    assert not jcs.plain(value)
    assert jcs.canonicalize(value) == rfc8785.dumps(value)


def test_cycles_are_refused() -> None:
    value: dict[str, Any] = {}
    value["self"] = value
    with pytest.raises(EntryError):
        jcs.canonicalize(value)


def test_fast_path_domain() -> None:
    assert jcs.plain({"a": [1, True, None, "x", {"b": -(2**53) + 1}]})
    for value in (1.0, 2**53, (1,), {1: "x"}, {"a": 0.5}, b"x", _Str("x"), _Int(1)):
        assert not jcs.plain(value)


class _Str(str):
    pass


class _Int(int):
    pass


BODY = st.dictionaries(TEXT, JSON, max_size=4)
SUBJECT = st.dictionaries(st.sampled_from(["run", "model", "a_1"]),
                          TEXT | st.sampled_from(["x" * 513]), max_size=2)


@settings(max_examples=800, deadline=None)
@given(st.sampled_from(["metrics.logged", "a.b", "Bad"]),
       st.sampled_from(["token:ci", "tok\u00e9n", "\U0001f600", "x\ud800", ""]),
       SUBJECT, BODY, st.integers(0, 2**53 - 1))
def test_canonical_bytes_is_rfc8785_of_the_entry_object(
        kind: str, actor: str, subject: dict[str, str], body: dict[str, Any], seq: int) -> None:
    draft = Draft(kind, actor, subject, body)
    try:
        entry.check_draft(draft)
        expected = reference(entry.entry_object(draft, seq, STAMP))
    except EntryError:
        expected = None
    try:
        got: bytes | None = entry.canonical_bytes(draft, seq, STAMP)
    except EntryError:
        got = None
    assert got == expected


def test_batch_equals_one_by_one() -> None:
    drafts = [Draft("metrics.logged", "token:ci", {"run": f"r{i}"}, {"i": i, "s": "é\U0001f600"})
              for i in range(7)] + [Draft("a.b", "x", {"b": "1", "a": "2"}, {"\uffff": 1})]
    batch = entry.canonical_batch(drafts, 40, STAMP)
    assert batch == [entry.canonical_bytes(d, 40 + i, STAMP) for i, d in enumerate(drafts)]
    assert batch == [rfc8785.dumps(entry.entry_object(d, 40 + i, STAMP))
                     for i, d in enumerate(drafts)]


def test_batch_refuses_seqs_beyond_the_safe_range() -> None:
    draft = Draft("a.b", "x")
    entry.canonical_batch([draft], 2**53 - 1, STAMP)
    with pytest.raises(EntryError, match="seq"):
        entry.canonical_batch([draft, draft], 2**53 - 1, STAMP)
    with pytest.raises(EntryError, match="seq"):
        entry.canonical_batch([draft], -1, STAMP)


def test_hash_block_equals_single_hashes() -> None:
    drafts = [Draft("a.b", "x", {}, {"i": i}) for i in range(5)]
    tree, reference = CompactRange(), CompactRange()
    block = entry.hash_block(drafts, 3, STAMP, entry.GENESIS_CHAIN_HASH, tree)
    chain = entry.GENESIS_CHAIN_HASH
    for i, draft in enumerate(drafts):
        canonical = entry.canonical_bytes(draft, 3 + i, STAMP)
        leaf = entry.leaf_hash(canonical)
        chain = entry.chain_hash(chain, leaf)
        nodes = b"".join(reference.append(leaf))
        assert (block.canonicals[i], block.leaves[i], block.chains[i], block.nodes[i]) == (
            canonical, leaf, chain, nodes)
    assert tree.hashes == reference.hashes
