"""Reading the ledger with proofs: entries, inclusion and consistency proofs, checkpoints."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from app.ledger import merkle
from app.storage import ledger as store


class NotFound(LookupError):
    """The entry, checkpoint or tree size asked for does not exist (yet)."""


@dataclass(frozen=True)
class InclusionProof:
    leaf_index: int
    tree_size: int
    hashes: list[bytes]


@dataclass(frozen=True)
class ConsistencyProof:
    first: int
    second: int
    first_root: bytes
    second_root: bytes
    hashes: list[bytes]


def committed_size(conn: psycopg.Connection) -> int:
    head = store.read_head(conn)
    return 0 if head is None else head.size


def _getter(conn: psycopg.Connection) -> merkle.NodeGetter:
    return lambda ids: store.get_nodes(conn, ids)


def inclusion(conn: psycopg.Connection, seq: int, tree_size: int) -> InclusionProof:
    if not 0 <= seq < tree_size:
        raise NotFound(f"entry {seq} is not in a tree of size {tree_size}")
    if tree_size > committed_size(conn):
        raise NotFound(f"the ledger has fewer than {tree_size} entries")
    return InclusionProof(seq, tree_size, merkle.inclusion_proof(seq, tree_size, _getter(conn)))


def consistency(conn: psycopg.Connection, first: int, second: int) -> ConsistencyProof:
    if not 0 < first <= second:
        raise NotFound("need 0 < from <= to")
    if second > committed_size(conn):
        raise NotFound(f"the ledger has fewer than {second} entries")
    getter = _getter(conn)
    return ConsistencyProof(
        first, second, merkle.root(first, getter), merkle.root(second, getter),
        merkle.consistency_proof(first, second, getter),
    )
