"""Entries: canonical bytes are exactly RFC 8785, floats are refused, hashes are as documented."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from app.ledger import entry
from app.ledger.entry import Draft, canonical_batch
from app.ledger.errors import EntryError
from app.ledger.verify import inner_seq

SAFE_INT = st.integers(-(2**53) + 1, 2**53 - 1)
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
JSON = st.recursive(
    st.none() | st.booleans() | SAFE_INT | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)

GOLDEN_DRAFT = Draft("metrics.logged", "token:ci", {"run": "r1"},
                     {"key": "auc", "value": "0.8123", "group": {"sex": "F"}, "n": "1234"})
GOLDEN_CANONICAL = (
    b'{"actor":"token:ci","body":{"group":{"sex":"F"},"key":"auc","n":"1234","value":"0.8123"},'
    b'"kind":"metrics.logged","recorded_at":"2026-11-26T12:00:00.000000Z","seq":7,'
    b'"subject":{"run":"r1"},"v":1}'
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(TEXT, JSON, max_size=6))
def test_canonicalize_equals_rfc8785(value: dict[str, object]) -> None:
    assert entry.canonicalize(value) == rfc8785.dumps(value)


def test_utf16_key_order_is_used_for_non_bmp_keys() -> None:
    value = {"\U0001f600": 1, "\uffff": 2}
    assert entry.canonicalize(value) == rfc8785.dumps(value)
    assert entry.canonicalize(value).startswith('{"\U0001f600"'.encode())


def test_golden_entry_bytes_and_hashes() -> None:
    canonical = entry.canonical_bytes(GOLDEN_DRAFT, 7, "2026-11-26T12:00:00.000000Z")
    assert canonical == GOLDEN_CANONICAL
    leaf = entry.leaf_hash(canonical)
    assert leaf == hashlib.sha256(b"\x00" + GOLDEN_CANONICAL).digest()
    assert entry.chain_hash(entry.GENESIS_CHAIN_HASH, leaf) == hashlib.sha256(
        bytes(32) + leaf).digest()
    assert inner_seq(canonical) == 7


@pytest.mark.parametrize("body,message", [
    ({"value": 0.1}, "floats are never hashed"),
    ({"deep": [{"x": float("nan")}]}, "floats are never hashed"),
    ({"big": 2**53}, "integer beyond"),
    ({"bytes": b"x"}, "not a JSON value"),
    ({"tuple": (1, 2)}, "not a JSON value"),
    ({1: "x"}, "keys must be strings"),
])
def test_unhashable_bodies_are_refused(body: dict[object, object], message: str) -> None:
    with pytest.raises(EntryError, match=message):
        entry.canonical_bytes(Draft("a.b", "actor", body=body), 0,  # type: ignore[arg-type]
                              "2026-01-01T00:00:00.000000Z")


@pytest.mark.parametrize("draft", [
    Draft("nodot", "a"), Draft("Upper.case", "a"), Draft("a.b", ""), Draft("a.b", "x" * 257),
    Draft("a.b", "a", {"Bad-Key": "x"}), Draft("a.b", "a", {"k": 1}),  # type: ignore[dict-item]
    Draft("run.created\n", "a"), Draft("a.b", "a", {"run\n": "x"}),
    Draft("a.b", ["not", "a", "string"]),  # type: ignore[arg-type]
])
def test_bad_drafts_are_refused(draft: Draft) -> None:
    with pytest.raises(EntryError):
        entry.canonical_bytes(draft, 0, "2026-01-01T00:00:00.000000Z")


def test_lone_surrogates_are_refused() -> None:
    with pytest.raises(EntryError):
        entry.canonicalize({"k": "\ud800"})


def test_timestamps_have_six_digits_and_z() -> None:
    instant = datetime(2026, 3, 1, 9, 30, 0, 5, tzinfo=timezone(timedelta(hours=2)))
    assert entry.format_timestamp(instant) == "2026-03-01T07:30:00.000005Z"
    assert entry.parse_timestamp("2026-03-01T07:30:00.000005Z") == instant.astimezone(UTC)
    with pytest.raises(EntryError):
        entry.format_timestamp(datetime(2026, 1, 1))


def test_inner_seq_falls_back_to_parsing() -> None:
    canonical = entry.canonicalize({"seq": 3, "subject": {"seq": "x"}, "v": 1})
    assert inner_seq(canonical) == 3
    with pytest.raises(EntryError):
        inner_seq(b"not json")


NAME = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(kind=st.tuples(NAME, NAME).map(".".join), actor=TEXT.filter(bool),
       subject=st.dictionaries(NAME, TEXT, max_size=3),
       body=st.dictionaries(TEXT, JSON, max_size=5), seq=st.integers(0, 2**53 - 1))
def test_entry_bytes_equal_rfc8785_of_the_entry_object(
        kind: str, actor: str, subject: dict[str, str], body: dict[str, object],
        seq: int) -> None:
    draft = Draft(kind, actor, subject, body)
    stamp = "2026-11-26T12:00:00.000000Z"
    assert entry.canonical_bytes(draft, seq, stamp) == rfc8785.dumps(
        entry.entry_object(draft, seq, stamp))


@pytest.mark.parametrize("stamp", ["2026-11-26T12:00:00Z", '2026-11-26T12:00:00.000000Z"'])
def test_bad_recorded_at_is_refused(stamp: str) -> None:
    with pytest.raises(EntryError, match="recorded_at"):
        entry.canonical_bytes(Draft("a.b", "x"), 0, stamp)


@pytest.mark.parametrize("seq", [-1, 2**53, True])
def test_bad_seq_is_refused(seq: int) -> None:
    with pytest.raises(EntryError, match="seq"):
        entry.canonical_bytes(Draft("a.b", "x"), seq, "2026-11-26T12:00:00.000000Z")


def test_a_valid_subject_key_is_not_a_valid_kind() -> None:
    entry.canonical_bytes(Draft("a.b", "x", {"run": "1"}), 0, "2026-11-26T12:00:00.000000Z")
    with pytest.raises(EntryError, match="kind"):
        entry.canonical_bytes(Draft("run", "x"), 0, "2026-11-26T12:00:00.000000Z")


@pytest.mark.parametrize("bad", ["", None, 5, "2026-11-27T00:00:00Z", "x"])
def test_a_bad_stamp_is_refused_however_often_a_good_one_was_seen(bad: object) -> None:
    """Only the last good stamp is remembered (one new instant per transaction): a repeat of
    it is not checked again, anything else always is."""
    draft = Draft("a.b", "token:x", {"run": "r"}, {})
    good = "2026-11-27T00:00:00.000000Z"
    assert canonical_batch([draft, draft], 0, good) == canonical_batch([draft, draft], 0, good)
    for _ in range(2):
        with pytest.raises(EntryError, match="recorded_at"):
            canonical_batch([draft], 0, bad)  # type: ignore[arg-type]
