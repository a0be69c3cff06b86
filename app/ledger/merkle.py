"""RFC 9162 §2.1 (RFC 6962) Merkle tree hashing, proof generation and proof verification."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "ConsistencyProofError",
    "InclusionProofError",
    "NodeGetter",
    "NodeId",
    "ProofError",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "range_nodes",
    "root",
    "root_from_leaves",
    "split_point",
    "subtree_root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

# (level, index): the perfect subtree over leaves [index * 2**level, (index + 1) * 2**level).
NodeId = tuple[int, int]
# Given every node id a computation needs (in one call), returns their hashes.
NodeGetter = Callable[[Sequence[NodeId]], Mapping[NodeId, bytes]]


class ProofError(ValueError):
    """A Merkle proof (or its inputs) failed verification."""


class InclusionProofError(ProofError):
    """An inclusion proof failed verification."""


class ConsistencyProofError(ProofError):
    """A consistency proof failed verification."""


def leaf_hash(data: bytes) -> bytes:
    """Return the RFC 6962 leaf hash SHA-256(0x00 || data)."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 6962 interior node hash SHA-256(0x01 || left || right)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def split_point(n: int) -> int:
    """Return k, the largest power of two strictly less than n (requires n >= 2)."""
    if n < 2:
        raise ValueError(f"split point needs n >= 2, got {n}")
    return 1 << ((n - 1).bit_length() - 1)


def range_nodes(begin: int, end: int) -> list[NodeId]:
    """Decompose leaves [begin, end) into maximal aligned perfect subtrees, left to right."""
    if not 0 <= begin <= end:
        raise ValueError(f"invalid leaf range [{begin}, {end})")
    out: list[NodeId] = []
    while begin < end:
        step = 1 << ((end - begin).bit_length() - 1)  # largest power of two that fits
        if begin:
            step = min(step, begin & -begin)  # largest power of two aligned at begin
        level = step.bit_length() - 1
        out.append((level, begin >> level))
        begin += step
    return out


def _fold(ids: Sequence[NodeId], nodes: Mapping[NodeId, bytes]) -> bytes:
    """Fold the hashes of ids right-to-left with node_hash."""
    acc = _lookup(nodes, ids[-1])
    for nid in reversed(ids[:-1]):
        acc = node_hash(_lookup(nodes, nid), acc)
    return acc


def _lookup(nodes: Mapping[NodeId, bytes], nid: NodeId) -> bytes:
    """Return the hash of node nid, with a clear KeyError if the getter omitted it."""
    try:
        return nodes[nid]
    except KeyError:
        raise KeyError(f"node {nid} missing from node getter result") from None


def subtree_root(begin: int, end: int, nodes: Mapping[NodeId, bytes]) -> bytes:
    """Return MTH(D[begin:end]) for a range of the RFC recursion, from perfect-subtree hashes."""
    if begin == end:
        return EMPTY_ROOT
    return _fold(range_nodes(begin, end), nodes)


def root_from_leaves(leaf_hashes: Sequence[bytes]) -> bytes:
    """Reference MTH over all leaf hashes in O(n); EMPTY_ROOT for no leaves."""
    level = list(leaf_hashes)
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])  # a lone right-border node moves up unchanged
        level = paired
    return level[0]


def _fetch(ranges: Sequence[tuple[int, int]], get_nodes: NodeGetter) -> list[bytes]:
    """Hash each RFC-recursion range using a single get_nodes call for all nodes they need."""
    decomposed = [range_nodes(lo, hi) for lo, hi in ranges]
    wanted = [nid for ids in decomposed for nid in ids]
    if not wanted:
        return []
    nodes = get_nodes(wanted)
    return [_fold(ids, nodes) for ids in decomposed]


def root(size: int, get_nodes: NodeGetter) -> bytes:
    """Return MTH of the first size leaves (get_nodes is not called for size 0)."""
    if size < 0:
        raise ValueError(f"tree size must be >= 0, got {size}")
    if size == 0:
        return EMPTY_ROOT
    return _fetch([(0, size)], get_nodes)[0]


def _path_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Leaf ranges of the RFC 9162 PATH(index, D[0:size]) elements, root-downward."""
    lo, hi = 0, size
    out: list[tuple[int, int]] = []
    while hi - lo > 1:
        mid = lo + split_point(hi - lo)
        if index < mid:
            out.append((mid, hi))
            hi = mid
        else:
            out.append((lo, mid))
            lo = mid
    return out


def inclusion_proof(index: int, size: int, get_nodes: NodeGetter) -> list[bytes]:
    """Return the RFC 9162 inclusion proof PATH(index, D[0:size]), leaf-upward."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} out of range for size {size}")
    ranges = _path_ranges(index, size)
    ranges.reverse()
    return _fetch(ranges, get_nodes)


def _proof_ranges(size1: int, size2: int) -> list[tuple[int, int]]:
    """Leaf ranges of the RFC 9162 PROOF(size1, D[0:size2]) elements, in proof order."""
    lo, hi, known = 0, size2, True
    out: list[tuple[int, int]] = []
    while hi != size1:
        mid = lo + split_point(hi - lo)
        if size1 <= mid:
            out.append((mid, hi))
            hi = mid
        else:
            out.append((lo, mid))
            lo, known = mid, False
    if not known:
        out.append((lo, hi))
    out.reverse()
    return out


def consistency_proof(size1: int, size2: int, get_nodes: NodeGetter) -> list[bytes]:
    """Return the RFC 9162 consistency proof PROOF(size1, D[0:size2]); [] if size1 == size2."""
    if not 0 < size1 <= size2:
        raise ValueError(f"consistency proof needs 0 < size1 <= size2, got {size1}, {size2}")
    return _fetch(_proof_ranges(size1, size2), get_nodes)


def _check_lengths(error: type[ProofError], *hashes: bytes) -> None:
    """Raise error unless every hash is exactly HASH_SIZE bytes long."""
    for h in hashes:
        if len(h) != HASH_SIZE:
            raise error(f"hash length must be {HASH_SIZE}, got {len(h)}")


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Verify an RFC 9162 §2.1.3.2 inclusion proof; raise InclusionProofError if it fails."""
    if not 0 <= index < size:
        raise InclusionProofError(f"index {index} out of range for size {size}")
    _check_lengths(InclusionProofError, leaf, root, *proof)
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise InclusionProofError("proof too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InclusionProofError("proof too short")
    if r != root:
        raise InclusionProofError("root mismatch")


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> None:
    """Verify an RFC 9162 §2.1.4.2 consistency proof; raise ConsistencyProofError if it fails.

    Conventions (those of transparency-dev/merkle and its test vectors): size1 == 0 is always
    rejected, even with size2 == 0; size1 == size2 accepts iff the proof is empty and
    root1 == root2 (the roots are only compared, so their length is not checked).
    """
    if size1 < 0 or size2 < size1:
        raise ConsistencyProofError(f"need 0 <= size1 <= size2, got {size1}, {size2}")
    if size1 == 0:
        raise ConsistencyProofError("consistency proof from an empty tree is meaningless")
    if size1 == size2:
        if proof:
            raise ConsistencyProofError("proof must be empty when size1 == size2")
        if root1 != root2:
            raise ConsistencyProofError("root mismatch")
        return
    if not proof:
        raise ConsistencyProofError("empty proof")
    _check_lengths(ConsistencyProofError, root1, root2, *proof)
    _verify_consistency_path(size1, size2, root1, root2, proof)


def _verify_consistency_path(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> None:
    """Core of RFC 9162 §2.1.4.2 for 0 < size1 < size2 and a non-empty proof."""
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)  # the old root is itself a node of the new tree
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ConsistencyProofError("proof too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ConsistencyProofError("proof too short")
    if fr != root1:
        raise ConsistencyProofError("root1 mismatch")
    if sr != root2:
        raise ConsistencyProofError("root2 mismatch")


class CompactRange:
    """The right border of a tree of `size` leaves: the roots of the perfect subtrees of the
    binary decomposition of size, largest (leftmost) first. Used by the appender: it holds
    O(log n) hashes, not the tree."""

    __slots__ = ("size", "hashes")

    size: int
    hashes: list[bytes]

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if size < 0:
            raise ValueError(f"size must be >= 0, got {size}")
        hashes = list(hashes)
        if len(hashes) != size.bit_count():
            raise ValueError(f"size {size} needs {size.bit_count()} hashes, got {len(hashes)}")
        for h in hashes:
            if len(h) != HASH_SIZE:
                raise ValueError(f"hash length must be {HASH_SIZE}, got {len(h)}")
        self.size = size
        self.hashes = hashes

    def __repr__(self) -> str:
        return f"CompactRange(size={self.size}, hashes=[{', '.join(h.hex() for h in self.hashes)}])"

    def append(self, leaf: bytes) -> list[bytes]:
        """Add one leaf hash; return the perfect-subtree hashes it completes, lowest level first."""
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"hash length must be {HASH_SIZE}, got {len(leaf)}")
        n = self.size
        self.size = n + 1
        hashes = self.hashes
        if not n & 1:
            hashes.append(leaf)
            return []
        sha256, pop, prefix = hashlib.sha256, hashes.pop, _NODE_PREFIX
        completed: list[bytes] = []
        h = leaf
        while n & 1:
            h = sha256(prefix + pop() + h).digest()
            completed.append(h)
            n >>= 1
        hashes.append(h)
        return completed

    def extend(self, leaves: Iterable[bytes]) -> list[bytes]:
        """Add leaf hashes in order; for each, the concatenated hashes it completes (as append).

        The same as calling append() per leaf, without its per-call overhead (batch append).
        """
        n = self.size
        hashes = self.hashes
        push, pop, sha256, prefix = hashes.append, hashes.pop, hashlib.sha256, _NODE_PREFIX
        out: list[bytes] = []
        add = out.append
        try:
            for leaf in leaves:
                if len(leaf) != HASH_SIZE:
                    raise ValueError(f"hash length must be {HASH_SIZE}, got {len(leaf)}")
                if not n & 1:
                    push(leaf)
                    add(b"")
                else:
                    h = sha256(prefix + pop() + leaf).digest()
                    m = n >> 1
                    if not m & 1:  # half of the odd leaves complete exactly one node
                        add(h)
                    else:
                        completed = [h]
                        while m & 1:
                            h = sha256(prefix + pop() + h).digest()
                            completed.append(h)
                            m >>= 1
                        add(b"".join(completed))
                    push(h)
                n += 1
        finally:
            self.size = n
        return out

    def root(self) -> bytes:
        """Return the Merkle tree hash of the `size` leaves (EMPTY_ROOT when empty)."""
        hashes = self.hashes
        if not hashes:
            return EMPTY_ROOT
        acc = hashes[-1]
        for h in reversed(hashes[:-1]):
            acc = node_hash(h, acc)
        return acc

    def to_bytes(self) -> bytes:
        """Return the concatenated border hashes (size is stored separately)."""
        return b"".join(self.hashes)

    @classmethod
    def from_bytes(cls, size: int, blob: bytes) -> CompactRange:
        """Rebuild from to_bytes() output; raise ValueError if the length does not fit size."""
        if size < 0:
            raise ValueError(f"size must be >= 0, got {size}")
        want = size.bit_count() * HASH_SIZE
        if len(blob) != want:
            raise ValueError(f"size {size} needs {want} bytes, got {len(blob)}")
        return cls(size, [blob[i : i + HASH_SIZE] for i in range(0, want, HASH_SIZE)])
