"""Tests for app.ledger.merkle: RFC 9162 vectors, exhaustive small trees and tamper properties."""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.ledger.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    CompactRange,
    ConsistencyProofError,
    InclusionProofError,
    NodeGetter,
    NodeId,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    range_nodes,
    root,
    root_from_leaves,
    split_point,
    subtree_root,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "merkle"
PROPS = settings(max_examples=300, deadline=None, database=None)

# ---------------------------------------------------------------------------------------------
# Reference material
# ---------------------------------------------------------------------------------------------

CLASSIC_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CLASSIC_HASHES = [leaf_hash(d) for d in CLASSIC_LEAVES]
CLASSIC_ROOT_PREFIXES = [
    "6e340b9c",
    "fac54203",
    "aeb6bcfe",
    "d37ee418",
    "4e3bbb1f",
    "76e67dad",
    "ddb89be4",
    "5dc9da79",
]

MAX = 300
LEAVES = [leaf_hash(b"entry-%d" % i) for i in range(MAX)]


def all_perfect_nodes(leaves: Sequence[bytes]) -> dict[NodeId, bytes]:
    """Every perfect subtree hash of the tree over leaves, computed level by level."""
    nodes: dict[NodeId, bytes] = {(0, i): h for i, h in enumerate(leaves)}
    level, row = 0, list(leaves)
    while len(row) > 1:
        row = [node_hash(row[2 * i], row[2 * i + 1]) for i in range(len(row) // 2)]
        level += 1
        nodes.update({(level, i): h for i, h in enumerate(row)})
    return nodes


NODES = all_perfect_nodes(LEAVES)
ROOTS = [root_from_leaves(LEAVES[:n]) for n in range(MAX + 1)]


@cache
def ref_mth(lo: int, hi: int) -> bytes:
    """MTH(LEAVES[lo:hi]), literally as RFC 9162 §2.1.1 defines it."""
    if hi - lo == 0:
        return hashlib.sha256(b"").digest()
    if hi - lo == 1:
        return LEAVES[lo]
    k = 1
    while k * 2 < hi - lo:
        k *= 2
    return node_hash(ref_mth(lo, lo + k), ref_mth(lo + k, hi))


def ref_split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_path(m: int, lo: int, hi: int) -> list[tuple[int, int]]:
    """RFC 9162 §2.1.3.1 PATH(m, D[lo:hi]) as the leaf ranges of its elements."""
    if hi - lo == 1:
        return []
    k = ref_split(hi - lo)
    if m < k:
        return ref_path(m, lo, lo + k) + [(lo + k, hi)]
    return ref_path(m - k, lo + k, hi) + [(lo, lo + k)]


def ref_sides(m: int, n: int) -> list[bool]:
    """For PATH(m, D[0:n]): whether each element is a left sibling, leaf upward."""
    return [r_lo < m for r_lo, _ in ref_path(m, 0, n)]


def ref_subproof(m: int, lo: int, hi: int, known: bool) -> list[tuple[int, int]]:
    """RFC 9162 §2.1.4.1 SUBPROOF(m, D[lo:hi], b) as the leaf ranges of its elements."""
    if m == hi - lo:
        return [] if known else [(lo, hi)]
    k = ref_split(hi - lo)
    if m <= k:
        return ref_subproof(m, lo, lo + k, known) + [(lo + k, hi)]
    return ref_subproof(m - k, lo + k, hi, False) + [(lo, lo + k)]


def ref_inclusion(m: int, n: int) -> list[bytes]:
    return [ref_mth(lo, hi) for lo, hi in ref_path(m, 0, n)]


def ref_consistency(m: int, n: int) -> list[bytes]:
    return [ref_mth(lo, hi) for lo, hi in ref_subproof(m, 0, n, True)]


def is_perfect_inside(nid: NodeId, size: int) -> bool:
    level, index = nid
    return level >= 0 and index >= 0 and (index + 1) << level <= size


class Getter:
    """A NodeGetter over a node table that records and checks every call."""

    def __init__(self, size: int, table: Callable[[NodeId], bytes]) -> None:
        self.size = size
        self.table = table
        self.calls: list[list[NodeId]] = []

    def __call__(self, ids: Sequence[NodeId]) -> Mapping[NodeId, bytes]:
        ids = list(ids)
        assert len(set(ids)) == len(ids), f"duplicate ids requested: {ids}"
        assert all(is_perfect_inside(nid, self.size) for nid in ids), ids
        self.calls.append(ids)
        return {nid: self.table(nid) for nid in ids}

    @property
    def requested(self) -> int:
        return sum(len(c) for c in self.calls)


def real_getter(size: int) -> Getter:
    return Getter(size, NODES.__getitem__)


def synthetic_getter(size: int) -> Getter:
    return Getter(size, lambda nid: hashlib.sha256(repr(nid).encode()).digest())


def flip(h: bytes, bit: int) -> bytes:
    out = bytearray(h)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def b64(value: str) -> bytes:
    return base64.b64decode(value)


def classic_getter(size: int) -> Getter:
    nodes = all_perfect_nodes(CLASSIC_HASHES)
    return Getter(size, nodes.__getitem__)


# ---------------------------------------------------------------------------------------------
# Known answers and test vectors
# ---------------------------------------------------------------------------------------------


def test_hasher_known_answers() -> None:
    assert HASH_SIZE == 32
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert root_from_leaves([]) == EMPTY_ROOT
    assert leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert leaf_hash(b"L123456").hex() == (
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    )
    assert node_hash(b"N123", b"N456").hex() == (
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()


def test_classic_tree_roots_and_proofs() -> None:
    for n, prefix in enumerate(CLASSIC_ROOT_PREFIXES, start=1):
        got = root_from_leaves(CLASSIC_HASHES[:n])
        assert got.hex().startswith(prefix), n
        assert root(n, classic_getter(n)) == got
    assert root_from_leaves(CLASSIC_HASHES).hex().endswith("4328")
    path = inclusion_proof(0, 8, classic_getter(8))
    assert [p.hex()[:8] for p in path] == ["96a296d2", "5f083f0a", "6b47aaf2"]
    proof = consistency_proof(6, 8, classic_getter(8))
    assert [p.hex()[:8] for p in proof] == ["0ebc5d34", "ca854ea1", "d37ee418"]


def _vector_files(kind: str) -> list[str]:
    base = VECTORS / kind
    return sorted(p.relative_to(VECTORS).as_posix() for p in base.rglob("*.json"))


INCLUSION_FILES = _vector_files("inclusion")
CONSISTENCY_FILES = _vector_files("consistency")


def _load(rel: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / rel).read_text())
    return data


def test_vectors_are_present() -> None:
    assert len(INCLUSION_FILES) >= 90
    assert len(CONSISTENCY_FILES) >= 90


@pytest.mark.parametrize("rel", INCLUSION_FILES)
def test_inclusion_vector(rel: str) -> None:
    v = _load(rel)
    proof = [b64(p) for p in v["proof"] or []]
    args = (v["leafIdx"], v["treeSize"], b64(v["leafHash"]), proof, b64(v["root"]))
    if v["wantErr"]:
        with pytest.raises(InclusionProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("rel", CONSISTENCY_FILES)
def test_consistency_vector(rel: str) -> None:
    v = _load(rel)
    proof = [b64(p) for p in v["proof"] or []]
    args = (v["size1"], v["size2"], b64(v["root1"]), b64(v["root2"]), proof)
    if v["wantErr"]:
        with pytest.raises(ConsistencyProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


@pytest.mark.parametrize("folder", ["0", "1", "2", "3", "4"])
def test_happy_path_vectors_match_generated_proofs(folder: str) -> None:
    v = _load(f"inclusion/{folder}/happy-path.json")
    idx, size = v["leafIdx"], v["treeSize"]
    assert CLASSIC_HASHES[idx] == b64(v["leafHash"])
    assert root_from_leaves(CLASSIC_HASHES[:size]) == b64(v["root"])
    want = [b64(p) for p in v["proof"] or []]
    assert inclusion_proof(idx, size, classic_getter(size)) == want

    c = _load(f"consistency/{folder}/happy-path.json")
    size1, size2 = c["size1"], c["size2"]
    assert root_from_leaves(CLASSIC_HASHES[:size1]) == b64(c["root1"])
    assert root_from_leaves(CLASSIC_HASHES[:size2]) == b64(c["root2"])
    want = [b64(p) for p in c["proof"] or []]
    assert consistency_proof(size1, size2, classic_getter(size2)) == want


# ---------------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------------


def test_split_point() -> None:
    for n in range(2, 5000):
        k = split_point(n)
        assert k & (k - 1) == 0 and k < n <= 2 * k
    for bad in (-1, 0, 1):
        with pytest.raises(ValueError):
            split_point(bad)


def _greedy_decomposition(begin: int, end: int) -> list[NodeId]:
    out: list[NodeId] = []
    while begin < end:
        level = max(lv for lv in range(20) if begin % (1 << lv) == 0 and begin + (1 << lv) <= end)
        out.append((level, begin >> level))
        begin += 1 << level
    return out


def test_range_nodes() -> None:
    for begin in range(0, 70):
        for end in range(begin, 140):
            ids = range_nodes(begin, end)
            assert ids == _greedy_decomposition(begin, end)
            covered = [i for lv, ix in ids for i in range(ix << lv, (ix + 1) << lv)]
            assert covered == list(range(begin, end))
    assert range_nodes(0, 0) == []
    assert range_nodes(0, 13) == [(3, 0), (2, 2), (0, 12)]
    for bad in ((-1, 3), (5, 4)):
        with pytest.raises(ValueError):
            range_nodes(*bad)


def _recursion_ranges(lo: int, hi: int) -> Iterator[tuple[int, int]]:
    yield lo, hi
    if hi - lo > 1:
        k = ref_split(hi - lo)
        yield from _recursion_ranges(lo, lo + k)
        yield from _recursion_ranges(lo + k, hi)


def test_subtree_root_matches_rfc_recursion() -> None:
    for n in range(1, 100):
        for lo, hi in _recursion_ranges(0, n):
            assert subtree_root(lo, hi, NODES) == ref_mth(lo, hi)
    assert subtree_root(5, 5, NODES) == EMPTY_ROOT


def test_root_from_leaves_matches_rfc_definition() -> None:
    for n in range(MAX + 1):
        assert ROOTS[n] == ref_mth(0, n)


def test_root_edge_cases() -> None:
    getter = real_getter(0)
    assert root(0, getter) == EMPTY_ROOT
    assert getter.calls == []
    with pytest.raises(ValueError):
        root(-1, getter)


# ---------------------------------------------------------------------------------------------
# Exhaustive small trees
# ---------------------------------------------------------------------------------------------


def test_exhaustive_roots_and_inclusion_proofs() -> None:
    for size in range(1, MAX + 1):
        getter = real_getter(size)
        assert root(size, getter) == ROOTS[size]
        assert len(getter.calls) == 1
        for index in range(size):
            getter = real_getter(size)
            proof = inclusion_proof(index, size, getter)
            assert len(getter.calls) == (1 if size > 1 else 0)
            verify_inclusion(index, size, LEAVES[index], proof, ROOTS[size])
            if size <= 64:
                assert proof == ref_inclusion(index, size)


def test_exhaustive_consistency_proofs() -> None:
    for size2 in range(1, MAX + 1):
        for size1 in range(1, size2 + 1):
            getter = real_getter(size2)
            proof = consistency_proof(size1, size2, getter)
            assert len(getter.calls) == (1 if size1 < size2 else 0)
            verify_consistency(size1, size2, ROOTS[size1], ROOTS[size2], proof)
            if size2 <= 64:
                assert proof == ref_consistency(size1, size2)


@PROPS
@given(st.integers(1, MAX).flatmap(lambda n: st.tuples(st.integers(1, n), st.just(n))))
def test_sampled_consistency_proofs_up_to_max(sizes: tuple[int, int]) -> None:
    size1, size2 = sizes
    proof = consistency_proof(size1, size2, real_getter(size2))
    assert proof == ref_consistency(size1, size2)
    verify_consistency(size1, size2, ROOTS[size1], ROOTS[size2], proof)


def test_compact_range_appends_match_reference() -> None:
    cr = CompactRange()
    assert cr.root() == EMPTY_ROOT and cr.to_bytes() == b""
    for index, leaf in enumerate(LEAVES):
        completed = cr.append(leaf)
        trailing_ones = ((index + 1) & -(index + 1)).bit_length() - 1
        assert completed == [NODES[(lv, index >> lv)] for lv in range(1, trailing_ones + 1)]
        assert cr.size == index + 1
        assert cr.hashes == [NODES[nid] for nid in range_nodes(0, index + 1)]
        assert cr.root() == ROOTS[index + 1]


def test_compact_range_extend_equals_append() -> None:
    for start in (0, 1, 2, 3, 5, 8, 13):
        for count in (0, 1, 2, 5, 17, MAX - start):
            one, many = CompactRange(), CompactRange()
            for leaf in LEAVES[:start]:
                one.append(leaf)
                many.append(leaf)
            leaves = LEAVES[start : start + count]
            expected = [b"".join(one.append(leaf)) for leaf in leaves]
            assert many.extend(leaves) == expected
            assert (many.size, many.hashes) == (one.size, one.hashes)
    broken = CompactRange()
    with pytest.raises(ValueError):
        broken.extend([LEAVES[0], b"short"])
    assert (broken.size, broken.hashes) == (1, [LEAVES[0]])  # consistent up to the bad leaf


def test_compact_range_append_example_from_docs() -> None:
    cr = CompactRange()
    assert [cr.append(leaf) for leaf in LEAVES[:3]] == [[], [NODES[(1, 0)]], []]
    assert cr.append(LEAVES[3]) == [NODES[(1, 1)], NODES[(2, 0)]]


def test_compact_range_serialisation() -> None:
    for size in (0, 1, 2, 3, 7, 8, 100, 255, MAX):
        cr = CompactRange()
        for leaf in LEAVES[:size]:
            cr.append(leaf)
        blob = cr.to_bytes()
        assert len(blob) == size.bit_count() * HASH_SIZE
        back = CompactRange.from_bytes(size, blob)
        assert (back.size, back.hashes, back.root()) == (cr.size, cr.hashes, ROOTS[size])
        back.append(LEAVES[0])
        assert cr.size == size  # no shared state
        for bad in (blob + b"\x00", blob[1:] if blob else b"\x00" * 31, blob + bytes(HASH_SIZE)):
            with pytest.raises(ValueError):
                CompactRange.from_bytes(size, bad)
    with pytest.raises(ValueError):
        CompactRange.from_bytes(-1, b"")


def test_compact_range_validation() -> None:
    with pytest.raises(ValueError):
        CompactRange(3, [LEAVES[0]])
    with pytest.raises(ValueError):
        CompactRange(1, [b"short"])
    with pytest.raises(ValueError):
        CompactRange(-1)
    with pytest.raises(ValueError):
        CompactRange().append(b"short")
    resumed = CompactRange(3, [NODES[(1, 0)], NODES[(0, 2)]])
    assert resumed.root() == ROOTS[3]
    resumed.append(LEAVES[3])
    assert resumed.root() == ROOTS[4]


# ---------------------------------------------------------------------------------------------
# Request counts at scale (synthetic node hashes, no real tree)
# ---------------------------------------------------------------------------------------------

BIG = 1 << 20
EDGE_SIZES = sorted({s for k in range(21) for s in (2**k - 1, 2**k, 2**k + 1) if 1 <= s <= BIG})


def _check_counts(size: int, index: int, size1: int) -> None:
    bound = 2 * math.log2(size) + 2
    getter = synthetic_getter(size)
    proof = inclusion_proof(index, size, getter)
    assert len(getter.calls) <= 1 and getter.requested < bound
    assert len(proof) == len(ref_sides(index, size)) <= math.ceil(math.log2(size))
    getter = synthetic_getter(size)
    proof = consistency_proof(size1, size, getter)
    assert len(getter.calls) <= 1 and getter.requested < bound
    assert len(proof) <= math.ceil(math.log2(size)) + 1
    getter = synthetic_getter(size)
    root(size, getter)
    assert len(getter.calls) == 1 and getter.requested == size.bit_count()


@pytest.mark.parametrize("size", EDGE_SIZES)
def test_request_count_is_logarithmic_edges(size: int) -> None:
    for index in {0, 1 % size, size // 2, size - 2 if size > 1 else 0, size - 1}:
        for size1 in {1, max(1, size // 2), max(1, size - 1), size}:
            _check_counts(size, index, size1)


@PROPS
@given(
    st.integers(1, BIG).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))), st.data()
)
def test_request_count_is_logarithmic(sized: tuple[int, int], data: st.DataObject) -> None:
    size, index = sized
    _check_counts(size, index, data.draw(st.integers(1, size)))


# ---------------------------------------------------------------------------------------------
# Tamper properties
# ---------------------------------------------------------------------------------------------

index_in_tree = st.integers(2, MAX).flatmap(lambda n: st.tuples(st.integers(0, n - 1), st.just(n)))
size_pair = st.integers(2, MAX).flatmap(lambda n: st.tuples(st.integers(1, n - 1), st.just(n)))
bits = st.integers(0, 8 * HASH_SIZE - 1)


def _inclusion(index: int, size: int) -> list[bytes]:
    return inclusion_proof(index, size, real_getter(size))


def _consistency(size1: int, size2: int) -> list[bytes]:
    return consistency_proof(size1, size2, real_getter(size2))


@PROPS
@given(index_in_tree, st.data(), bits)
def test_inclusion_rejects_flipped_proof_bit(
    at: tuple[int, int], data: st.DataObject, bit: int
) -> None:
    index, size = at
    proof = _inclusion(index, size)
    j = data.draw(st.integers(0, len(proof) - 1))
    proof[j] = flip(proof[j], bit)
    with pytest.raises(InclusionProofError):
        verify_inclusion(index, size, LEAVES[index], proof, ROOTS[size])


@PROPS
@given(st.integers(1, MAX).flatmap(lambda n: st.tuples(st.integers(0, n - 1), st.just(n))), bits)
def test_inclusion_rejects_flipped_leaf_or_root(at: tuple[int, int], bit: int) -> None:
    index, size = at
    proof = _inclusion(index, size)
    with pytest.raises(InclusionProofError):
        verify_inclusion(index, size, flip(LEAVES[index], bit), proof, ROOTS[size])
    with pytest.raises(InclusionProofError):
        verify_inclusion(index, size, LEAVES[index], proof, flip(ROOTS[size], bit))


@PROPS
@given(
    st.integers(1, MAX).flatmap(lambda n: st.tuples(st.integers(0, n - 1), st.just(n))), st.data()
)
def test_inclusion_rejects_removed_or_added_elements(
    at: tuple[int, int], data: st.DataObject
) -> None:
    index, size = at
    proof = _inclusion(index, size)
    extra = data.draw(st.sampled_from([*LEAVES[:3], *proof, ROOTS[size], bytes(HASH_SIZE)]))
    pos = data.draw(st.integers(0, len(proof)))
    with pytest.raises(InclusionProofError):
        verify_inclusion(
            index, size, LEAVES[index], proof[:pos] + [extra] + proof[pos:], ROOTS[size]
        )
    if proof:
        pos = data.draw(st.integers(0, len(proof) - 1))
        with pytest.raises(InclusionProofError):
            verify_inclusion(
                index, size, LEAVES[index], proof[:pos] + proof[pos + 1 :], ROOTS[size]
            )


@PROPS
@given(index_in_tree, st.data())
def test_inclusion_rejects_wrong_index(at: tuple[int, int], data: st.DataObject) -> None:
    index, size = at
    proof = _inclusion(index, size)
    other = data.draw(st.integers(-2, size + 2).filter(lambda i: i != index))
    with pytest.raises(InclusionProofError):
        verify_inclusion(other, size, LEAVES[index], proof, ROOTS[size])


@PROPS
@given(
    st.integers(1, MAX).flatmap(lambda n: st.tuples(st.integers(0, n - 1), st.just(n))), st.data()
)
def test_inclusion_wrong_size(at: tuple[int, int], data: st.DataObject) -> None:
    index, size = at
    proof = _inclusion(index, size)
    other = data.draw(st.integers(0, MAX).filter(lambda s: s != size))
    leaf = LEAVES[index]
    # Against the true root of the claimed size: accepted only if that size has the same proof.
    fits = index < other and _inclusion(index, other) == proof
    if fits:
        verify_inclusion(index, other, leaf, proof, ROOTS[other])
    else:
        with pytest.raises(InclusionProofError):
            verify_inclusion(index, other, leaf, proof, ROOTS[other])
    # Against the original root: accepted iff the path has the same shape (RFC 9162 verifies
    # the root; the size itself is bound by the signed checkpoint, not by the proof).
    same_shape = index < other and ref_sides(index, other) == ref_sides(index, size)
    if same_shape:
        verify_inclusion(index, other, leaf, proof, ROOTS[size])
    else:
        with pytest.raises(InclusionProofError):
            verify_inclusion(index, other, leaf, proof, ROOTS[size])


@PROPS
@given(size_pair, st.data(), bits)
def test_consistency_rejects_flipped_bits(
    sizes: tuple[int, int], data: st.DataObject, bit: int
) -> None:
    size1, size2 = sizes
    r1, r2 = ROOTS[size1], ROOTS[size2]
    proof = _consistency(size1, size2)
    j = data.draw(st.integers(0, len(proof) - 1))
    bad = proof[:j] + [flip(proof[j], bit)] + proof[j + 1 :]
    with pytest.raises(ConsistencyProofError):
        verify_consistency(size1, size2, r1, r2, bad)
    with pytest.raises(ConsistencyProofError):
        verify_consistency(size1, size2, flip(r1, bit), r2, proof)
    with pytest.raises(ConsistencyProofError):
        verify_consistency(size1, size2, r1, flip(r2, bit), proof)
    with pytest.raises(ConsistencyProofError):
        verify_consistency(size1, size2, r2, r1, proof)


@PROPS
@given(size_pair, st.data())
def test_consistency_rejects_removed_or_added_elements(
    sizes: tuple[int, int], data: st.DataObject
) -> None:
    size1, size2 = sizes
    r1, r2 = ROOTS[size1], ROOTS[size2]
    proof = _consistency(size1, size2)
    extra = data.draw(st.sampled_from([*LEAVES[:3], *proof, r1, r2, bytes(HASH_SIZE)]))
    pos = data.draw(st.integers(0, len(proof)))
    with pytest.raises(ConsistencyProofError):
        verify_consistency(size1, size2, r1, r2, proof[:pos] + [extra] + proof[pos:])
    pos = data.draw(st.integers(0, len(proof) - 1))
    with pytest.raises(ConsistencyProofError):
        verify_consistency(size1, size2, r1, r2, proof[:pos] + proof[pos + 1 :])


@PROPS
@given(size_pair, st.integers(0, MAX), st.integers(0, MAX))
def test_consistency_wrong_sizes(sizes: tuple[int, int], other1: int, other2: int) -> None:
    size1, size2 = sizes
    proof = _consistency(size1, size2)
    for s1, s2 in ((other1, size2), (size1, other2), (other1, other2)):
        if (s1, s2) == (size1, size2):
            continue
        # Against the true roots of the claimed sizes: accepted only if their proof is identical.
        fits = 0 < s1 <= s2 and _consistency(s1, s2) == proof
        if fits:
            verify_consistency(s1, s2, ROOTS[s1], ROOTS[s2], proof)
        else:
            with pytest.raises(ConsistencyProofError):
                verify_consistency(s1, s2, ROOTS[s1], ROOTS[s2], proof)


@PROPS
@given(size_pair, st.data())
def test_consistency_detects_fork(sizes: tuple[int, int], data: st.DataObject) -> None:
    size1, size2 = sizes
    j = data.draw(st.integers(0, size1 - 1))
    forked = list(LEAVES[:size2])
    forked[j] = leaf_hash(b"forged")
    forked_root = root_from_leaves(forked)
    honest = _consistency(size1, size2)
    with pytest.raises(ConsistencyProofError):
        verify_consistency(size1, size2, ROOTS[size1], forked_root, honest)
    forged = consistency_proof(size1, size2, Getter(size2, all_perfect_nodes(forked).__getitem__))
    with pytest.raises(ConsistencyProofError):
        verify_consistency(size1, size2, ROOTS[size1], forked_root, forged)


# ---------------------------------------------------------------------------------------------
# Explicit edge cases and conventions
# ---------------------------------------------------------------------------------------------


def test_proof_error_hierarchy() -> None:
    assert issubclass(ProofError, ValueError)
    assert issubclass(InclusionProofError, ProofError)
    assert issubclass(ConsistencyProofError, ProofError)


def test_inclusion_error_messages() -> None:
    proof = _inclusion(2, 5)
    with pytest.raises(InclusionProofError, match="index 5 out of range for size 5"):
        verify_inclusion(5, 5, LEAVES[2], proof, ROOTS[5])
    with pytest.raises(InclusionProofError, match="out of range"):
        verify_inclusion(-1, 5, LEAVES[2], proof, ROOTS[5])
    with pytest.raises(InclusionProofError, match="hash length must be 32"):
        verify_inclusion(2, 5, LEAVES[2][:31], proof, ROOTS[5])
    with pytest.raises(InclusionProofError, match="hash length must be 32"):
        verify_inclusion(2, 5, LEAVES[2], proof, ROOTS[5] + b"\x00")
    with pytest.raises(InclusionProofError, match="hash length must be 32"):
        verify_inclusion(2, 5, LEAVES[2], [*proof[:-1], b""], ROOTS[5])
    with pytest.raises(InclusionProofError, match="proof too long"):
        verify_inclusion(2, 5, LEAVES[2], [*proof, proof[0]], ROOTS[5])
    with pytest.raises(InclusionProofError, match="proof too short"):
        verify_inclusion(2, 5, LEAVES[2], proof[:-1], ROOTS[5])
    with pytest.raises(InclusionProofError, match="root mismatch"):
        verify_inclusion(2, 5, LEAVES[3], proof, ROOTS[5])


def test_consistency_conventions() -> None:
    r1, r2 = ROOTS[1], ROOTS[2]
    # size1 == 0 is always rejected, even for two empty trees (transparency-dev vectors).
    for size2, proof in ((0, []), (1, []), (1, [r1]), (2, [])):
        with pytest.raises(ConsistencyProofError, match="empty tree"):
            verify_consistency(0, size2, EMPTY_ROOT, ROOTS[size2], proof)
    # Equal sizes: accept iff proof empty and roots equal; lengths are not checked here.
    verify_consistency(7, 7, ROOTS[7], ROOTS[7], [])
    verify_consistency(1, 1, b"don't care 2", b"don't care 2", [])
    with pytest.raises(ConsistencyProofError, match="root mismatch"):
        verify_consistency(7, 7, ROOTS[7], ROOTS[6], [])
    with pytest.raises(ConsistencyProofError, match="proof must be empty"):
        verify_consistency(7, 7, ROOTS[7], ROOTS[7], [ROOTS[7]])
    with pytest.raises(ConsistencyProofError, match="size1 <= size2"):
        verify_consistency(2, 1, r2, r1, [])
    with pytest.raises(ConsistencyProofError, match="size1 <= size2"):
        verify_consistency(-1, 1, r2, r1, [])
    with pytest.raises(ConsistencyProofError, match="empty proof"):
        verify_consistency(1, 2, r1, r2, [])
    with pytest.raises(ConsistencyProofError, match="hash length must be 32"):
        verify_consistency(1, 2, r1[:8], r2, [LEAVES[1]])
    with pytest.raises(ConsistencyProofError, match="hash length must be 32"):
        verify_consistency(1, 2, r1, r2, [LEAVES[1] + b"\x00"])
    verify_consistency(1, 2, r1, r2, [LEAVES[1]])
    proof = _consistency(6, 8)
    with pytest.raises(ConsistencyProofError, match="proof too long"):
        verify_consistency(6, 8, ROOTS[6], ROOTS[8], [*proof, proof[0]])
    with pytest.raises(ConsistencyProofError, match="proof too short"):
        verify_consistency(6, 8, ROOTS[6], ROOTS[8], proof[:-1])
    with pytest.raises(ConsistencyProofError, match="root1 mismatch"):
        verify_consistency(6, 8, ROOTS[5], ROOTS[8], proof)
    with pytest.raises(ConsistencyProofError, match="root2 mismatch"):
        verify_consistency(6, 8, ROOTS[6], ROOTS[7], proof)


def test_proof_generation_argument_errors() -> None:
    getter = real_getter(MAX)
    for index, size in ((0, 0), (5, 5), (-1, 5), (6, 5)):
        with pytest.raises(ValueError):
            inclusion_proof(index, size, getter)
    for size1, size2 in ((0, 0), (0, 5), (6, 5), (-1, 5)):
        with pytest.raises(ValueError):
            consistency_proof(size1, size2, getter)
    assert inclusion_proof(0, 1, getter) == []
    assert consistency_proof(9, 9, getter) == []
    assert getter.calls == []


def test_missing_node_from_getter_is_reported() -> None:
    def forgetful(ids: Sequence[NodeId]) -> Mapping[NodeId, bytes]:
        return {nid: NODES[nid] for nid in ids[1:]}

    getter: NodeGetter = forgetful
    with pytest.raises(KeyError, match="missing"):
        inclusion_proof(0, 8, getter)


def test_proofs_do_not_bind_tree_size_by_themselves() -> None:
    # Documented RFC 9162 behaviour: verification checks the root; when two sizes give a proof
    # of the same shape, the same proof verifies for both against that root. Tree sizes are
    # authenticated by the signed checkpoint that carries (size, root), not by the proof.
    verify_inclusion(0, 7, LEAVES[0], _inclusion(0, 8), ROOTS[8])
    verify_consistency(1, 5, ROOTS[1], ROOTS[8], _consistency(1, 8))
