"""/api/v1/ledger: public keys, checkpoints, entries with inclusion proofs, consistency proofs.

A token scoped to experiments is served only the entries whose subjects all lie in its
experiments (app/services/entry_scope.py); any other entry answers as a missing one.
Checkpoints and consistency proofs hold hashes and sizes only, and are served to every token."""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import Blueprint, Response, jsonify, request

from app.api.http.auth import require
from app.api.http.context import services
from app.api.http.docs import ok, operation
from app.api.http.errors import ApiError
from app.api.http.scope import granted
from app.api.v1 import schemas
from app.api.v1.responses.ledger import (
    LEDGER_SCOPE,
    CheckpointSchema,
    ConsistencyProofSchema,
    EntryPageSchema,
    EntryWithProofSchema,
    KeyListSchema,
)
from app.ledger import entry as entries
from app.services import entry_scope, keys, proofs
from app.storage import ledger as store

bp = Blueprint("ledger", __name__, url_prefix="/api/v1/ledger")


# Responses are serialised by the schemas their operations document, straight from the rows.
CHECKPOINT, PAGE, KEYS = CheckpointSchema(), EntryPageSchema(), KeyListSchema()
ENTRY_WITH_PROOF, CONSISTENCY = EntryWithProofSchema(), ConsistencyProofSchema()


@bp.get("/keys")
@operation("Every verifier key ever used, oldest first",
           {200: ok(KeyListSchema)})
def public_keys() -> Response:
    """Every verifier key ever used, oldest first; the last is active. No auth."""
    with services().pool.connection() as conn:
        found = keys.verifier_keys(conn)
    return jsonify(KEYS.dump({"keys": [k.to_string() for k in found],
                              "active": found[-1].to_string() if found else None}))


@bp.get("/checkpoints/latest")
@operation(
    "The latest signed checkpoint (signing one if there is none)",
    {200: ok(CheckpointSchema)})
@require()
def latest_checkpoint() -> Response:
    with services().pool.connection() as conn:
        row = store.latest_checkpoint(conn)
    if row is None:
        row = services().checkpointer.sign_now()
    return jsonify(CHECKPOINT.dump(row))


@bp.get("/checkpoints/<int:tree_size>")
@operation("The checkpoint signed at a tree size", {200: ok(CheckpointSchema)}, problems=(404,))
@require()
def checkpoint(tree_size: int) -> Response:
    with services().pool.connection() as conn:
        row = store.get_checkpoint(conn, tree_size)
    if row is None:
        raise ApiError(404, "Not Found", f"no checkpoint was signed at tree size {tree_size}")
    return jsonify(CHECKPOINT.dump(row))


@bp.get("/entries")
@operation(
    "Ledger entries in seq order, paged", {200: ok(EntryPageSchema)},
    query=schemas.EntryListQuery,
    description=LEDGER_SCOPE + " A scoped token's page holds only such entries, found "
    "among at most 10 x limit entries read after `after`: it may hold fewer than limit, "
    "even none, while `next` is not null; pass `next` as `after` until it is null.")
@require()
def list_entries() -> Response:
    """Entries in seq order: `limit` of them with seq > after, and `next` when more follow.
    A scoped token's page holds only its entries: the server reads at most SCOPED_SCAN pages'
    worth of entries for it, so a page may hold fewer than `limit` (even none) while `next`
    is not null; the end is `next` = null."""
    query = schemas.load(schemas.EntryListQuery(), request.args)
    scope, after, limit = granted(), query["after"], query["limit"]
    with services().pool.connection() as conn:
        if scope is not None:
            rows, next_seq = _scoped_page(conn, scope, after, limit)
            return jsonify(PAGE.dump({"entries": rows, "next": next_seq}))
        rows = store.list_entries(conn, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return jsonify(PAGE.dump({"entries": rows,
                              "next": rows[-1].seq if more and rows else None}))


SCOPED_SCAN = 10  # a scoped token's page reads at most this many times `limit` entries


def _scoped_page(conn: Any, scope: frozenset[str], after: int,
                 limit: int) -> tuple[list[store.EntryRow], int | None]:
    """Up to `limit` of the scope's entries after `after`, and where to go on from (None at
    the end of the ledger). Reads `limit` entries at a time, SCOPED_SCAN times at most."""
    served: list[store.EntryRow] = []
    for _ in range(SCOPED_SCAN):
        rows = store.list_entries(conn, after, limit)
        for row in entry_scope.visible(conn, scope, rows, lambda r: r.canonical):
            served.append(row)
            if len(served) == limit:
                return served, row.seq
        if len(rows) < limit:
            return served, None
        after = rows[-1].seq
    return served, after


def _covering_checkpoint(seq: int, tree_size: int | None) -> store.CheckpointRow:
    """The checkpoint asked for, else the latest, signing a fresh one if none covers seq."""
    with services().pool.connection() as conn:
        row = (store.get_checkpoint(conn, tree_size) if tree_size is not None
               else store.latest_checkpoint(conn))
    if tree_size is not None and row is None:
        raise ApiError(404, "Not Found", f"no checkpoint was signed at tree size {tree_size}")
    if tree_size is not None and row is not None and row.tree_size <= seq:
        raise ApiError(404, "Not Found", f"checkpoint {tree_size} does not cover entry {seq}")
    if row is None or row.tree_size <= seq:
        row = services().checkpointer.sign_now()
    if row.tree_size <= seq:
        raise ApiError(404, "Not Found", f"checkpoint {row.tree_size} does not cover entry {seq}")
    return row


@bp.get("/entries/<int:seq>")
@operation(
    "One entry with its inclusion proof in a covering checkpoint",
    {200: ok(EntryWithProofSchema)}, query=schemas.EntryQuery, problems=(404,),
    description=LEDGER_SCOPE)
@require()
def get_entry(seq: int) -> Response:
    query = schemas.load(schemas.EntryQuery(), request.args)
    scope = granted()
    with services().pool.connection() as conn:
        row = store.get_entry(conn, seq)
        if row is not None and scope is not None and not entry_scope.visible(
                conn, scope, [row], lambda r: r.canonical):
            row = None  # out of scope: exactly as a missing entry
    if row is None:
        raise ApiError(404, "Not Found", f"no entry with seq {seq}")
    cp = _covering_checkpoint(seq, query["tree_size"])
    with services().pool.connection() as conn:
        proof = proofs.inclusion(conn, seq, cp.tree_size)
    return jsonify(ENTRY_WITH_PROOF.dump({
        **dataclasses.asdict(row), "entry": entries.decode(row.canonical),
        "inclusion_proof": proof, "checkpoint": cp}))


@bp.get("/consistency")
@operation(
    "A consistency proof between two tree sizes (to defaults to the latest checkpoint)",
    {200: ok(ConsistencyProofSchema)}, query=schemas.ConsistencyQuery,
    problems=(404,))
@require()
def consistency() -> Response:
    query = schemas.load(schemas.ConsistencyQuery(), request.args)
    with services().pool.connection() as conn:
        second = query["to"]
        if second is None:
            latest = store.latest_checkpoint(conn)
            second = latest.tree_size if latest else proofs.committed_size(conn)
        try:
            proof = proofs.consistency(conn, query["from_"], second)
        except proofs.NotFound as exc:
            raise ApiError(404, "Not Found", str(exc)) from exc
    return jsonify(CONSISTENCY.dump(proof))
