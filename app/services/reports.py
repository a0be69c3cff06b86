"""Issuing PDF audit reports: verify the ledger, sign a checkpoint, prove, bundle, render, record.

Every issued report is a `report.issued` ledger entry (subject `report`; body: kind, subject,
bundle_sha256, pdf_sha256, tree_size, root_hash, issued_to, forced) plus a `reports_issued` row,
written in one committer unit, so `lookup` can answer for any PDF's SHA-256.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from app import __version__
from app.ledger import merkle
from app.ledger.entry import Draft, format_timestamp
from app.ledger.verify import VerifyResult
from app.services import proofs, report_signing, trust
from app.services import report_evidence as ev
from app.services.ledger import LedgerWriter
from app.services.report_bundle import (
    PLACEHOLDER_HASH,
    CitedEntry,
    ConsistencyStep,
    make_bundle,
    render_bundle,
)
from app.services.runtime import Services
from app.services.verification import verify_held
from app.storage import ledger as ledger_store
from app.storage import registry as registry_store
from app.storage import report_entries as picks
from app.storage import tracking as runs
from reports import CheckpointInfo, ReportMeta

MAX_CONSISTENCY = 50
NotFound = ev.NotFound


class LedgerDamaged(Exception):
    """Ledger verification failed and the report was not forced."""

    def __init__(self, problem: str, seq: int | None, kind: str) -> None:
        super().__init__(problem)
        self.problem, self.seq, self.kind = problem, seq, kind


@dataclass(frozen=True)
class Issued:
    report_id: str
    kind: str
    subject: str
    pdf: bytes
    bundle: bytes
    bundle_sha256: str
    pdf_sha256: str
    seq: int
    filename: str


def _problem(result: VerifyResult) -> str:
    damage = result.damage
    assert damage is not None
    where = (f"seq {damage.seq}" if damage.seq is not None else
             f"checkpoint {damage.checkpoint}" if damage.checkpoint is not None else "ledger")
    return f"{where}: {damage.kind}: {damage.detail}"


def _verify(services: Services) -> VerifyResult:
    """The whole ledger, held to this host's trust file, as `mlaudit verify` checks it."""
    config = services.config
    with services.pool.connection() as conn:  # verification hands it back unchanged
        held = verify_held(conn, config.origin, trust.load(config.trust_path))
    result = held.result
    if result.damage is None and held.damage is not None:
        result = dataclasses.replace(result, damage=held.damage)
    return result


_PLACEHOLDER = CheckpointInfo(0, base64.b64encode(bytes(32)).decode(), "00000000", "AA==",
                              "x\n0\nAA==\n\n\u2014 x AA==\n")


def _checkpoint_info(row: ledger_store.CheckpointRow) -> CheckpointInfo:
    signature_line = row.note.split("\n\n", 1)[1].strip().splitlines()[0]
    signature_b64 = signature_line.rsplit(" ", 1)[1]
    return CheckpointInfo(row.tree_size, base64.b64encode(bytes(row.root_hash)).decode(),
                          f"{row.key_id:08x}", signature_b64, row.note)


def _consistency(conn: psycopg.Connection, tree_size: int) -> list[ConsistencyStep]:
    out = []
    for size in picks.issued_sizes(conn, MAX_CONSISTENCY):
        if 0 < size <= tree_size:
            proof = proofs.consistency(conn, size, tree_size)
            out.append(ConsistencyStep(size, proof.first_root, tuple(proof.hashes)))
    return out


def _inclusion_proofs(conn: psycopg.Connection, seqs: Sequence[int],
                      tree_size: int) -> dict[int, tuple[bytes, ...]]:
    """Inclusion proofs of many entries with one read of the tree nodes they all need."""
    if tree_size > proofs.committed_size(conn):
        raise NotFound(f"the ledger has fewer than {tree_size} entries")
    outside = [s for s in seqs if not 0 <= s < tree_size]
    if outside:
        raise NotFound(f"entry {outside[0]} is not in a tree of size {tree_size}")
    needed: set[merkle.NodeId] = set()

    def note(ids: Sequence[merkle.NodeId]) -> Mapping[merkle.NodeId, bytes]:
        needed.update(ids)  # first pass: only learn which nodes the proofs need
        return dict.fromkeys(ids, bytes(32))

    for seq in seqs:
        merkle.inclusion_proof(seq, tree_size, note)
    nodes = ledger_store.get_nodes(conn, sorted(needed)) if needed else {}
    return {seq: tuple(merkle.inclusion_proof(seq, tree_size, lambda ids: nodes))
            for seq in seqs}


def _verification_json(result: VerifyResult) -> dict[str, Any]:
    damage = result.damage
    return {"ok": result.ok, "entries": result.entries, "checkpoints": result.checkpoints,
            "root_hash": base64.b64encode(result.root_hash).decode(),
            "damage": None if damage is None else {
                "kind": damage.kind, "detail": damage.detail, "seq": damage.seq,
                "checkpoint": damage.checkpoint}}


def _select(conn: psycopg.Connection, request: ev.Request) -> set[int]:
    """The seqs of the entries a report is computed from (404 if its subject is unknown)."""
    if request.kind == "run":
        if not picks.run_exists(conn, request.subject):
            raise NotFound(f"run {request.subject!r} not found")
        return picks.run_seqs(conn, [request.subject])
    if request.kind == "experiment":
        if runs.get_experiment(conn, request.subject) is None:
            raise NotFound(f"experiment {request.subject!r} not found")
        return picks.experiment_seqs(conn, request.subject)
    model = registry_store.get_model(conn, request.subject)
    if model is None:
        raise NotFound(f"model {request.subject!r} not found")
    if request.version is not None and registry_store.get_version(
            conn, request.subject, request.version) is None:
        raise NotFound(f"model {request.subject!r} has no version {request.version}")
    return picks.model_seqs(conn, request.subject)


def evidence_of(conn: psycopg.Connection, request: ev.Request,
                meta: ReportMeta) -> tuple[ev.Evidence, ev.Ledger]:
    """The report's evidence, computed from the entries it rests on (and those entries)."""
    keys = ev.verifier_keys(k.verifier_key for k in ledger_store.list_signing_keys(conn))
    found = picks.entries(conn, _select(conn, request))
    ledger = ev.replay(found, {}, keys)
    ledger.envelopes = picks.envelopes(conn, ev.needed_envelopes(ledger))
    return ev.compute(ledger, request, meta), ledger


def _proved(conn: psycopg.Connection, ledger: ev.Ledger, tree_size: int) -> list[CitedEntry]:
    seqs = sorted(ledger.entries)
    proved = _inclusion_proofs(conn, seqs, tree_size)
    canonical = dict(picks.entries(conn, seqs))
    return [CitedEntry(seq, canonical[seq], proved[seq]) for seq in seqs]


def issue(services: Services, actor: str, request: ev.Request, title: str,
          force: bool) -> Issued:
    """Verify, compute from entries, prove, render and record one report; raises
    LedgerDamaged unless forced."""
    result = _verify(services)
    problem = None if result.ok else _problem(result)
    if problem is not None and not force:
        damage = result.damage
        assert damage is not None
        raise LedgerDamaged(problem, damage.seq, damage.kind)
    report_id = uuid.uuid4().hex
    with services.pool.connection() as conn:
        # Evidence first, then the checkpoint: everything cited is committed, so below its size.
        draft_meta = ReportMeta(report_id, request.kind, title, "", __version__,  # type: ignore[arg-type]
                                PLACEHOLDER_HASH, _PLACEHOLDER, problem is None, problem,
                                problem is not None, "")
        evidence, ledger = evidence_of(conn, request, draft_meta)
        try:
            checkpoint = services.checkpointer.sign_now()
        except Exception:
            if problem is None:
                raise
            latest = ledger_store.latest_checkpoint(conn)
            if latest is None:
                raise
            checkpoint = latest
        entries = _proved(conn, ledger, checkpoint.tree_size)
        consistency = _consistency(conn, checkpoint.tree_size)
        keys = [k.verifier_key for k in ledger_store.list_signing_keys(conn)]
    plural = "" if result.checkpoints == 1 else "s"
    summary = (f"{result.entries} entries and {result.checkpoints} checkpoint{plural} verified"
               if result.ok else f"verification failed at {problem}")
    meta = ReportMeta(
        report_id=report_id, kind=request.kind, title=title,  # type: ignore[arg-type]
        as_of=request.as_of or format_timestamp(checkpoint.signed_at),
        generator_version=__version__, evidence_sha256=PLACEHOLDER_HASH,
        checkpoint=_checkpoint_info(checkpoint), ledger_verified=problem is None,
        ledger_problem=problem, forced=problem is not None, ledger_summary=summary)
    evidence = dataclasses.replace(evidence, meta=meta)
    bundle = make_bundle(evidence, checkpoint.note, checkpoint.tree_size,
                         bytes(checkpoint.root_hash), keys, entries, consistency,
                         _verification_json(result), request.to_json(), ledger.envelopes)
    bundle_sha256 = hashlib.sha256(bundle).hexdigest()
    pdf = _signed(services, render_bundle(bundle), bundle_sha256)
    pdf_sha256 = hashlib.sha256(pdf).hexdigest()

    def record(writer: LedgerWriter) -> int:
        (receipt,) = writer.append([Draft("report.issued", actor, {"report": report_id}, {
            "kind": request.kind, "subject": _subject_text(request),
            "bundle_sha256": bundle_sha256, "pdf_sha256": pdf_sha256,
            "tree_size": str(checkpoint.tree_size),
            "root_hash": base64.b64encode(bytes(checkpoint.root_hash)).decode(),
            "issued_to": actor, "forced": problem is not None})])
        return receipt.seq

    seq = services.committer.run(record)
    subject = _subject_text(request)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in subject)[:80]
    return Issued(report_id, request.kind, subject, pdf, bundle, bundle_sha256, pdf_sha256,
                  seq, f"mlaudit-{request.kind}-{safe}-{report_id[:8]}.pdf")


def _signed(services: Services, pdf: bytes, bundle_sha256: str) -> bytes:
    """The rendered PDF with the report-signing PAdES signature appended (its bytes unchanged
    before it): docs/report-signatures.md."""
    config = services.config
    signer = report_signing.signer_for(report_signing.files_of(config))
    return signer.sign(pdf, bundle_sha256, config.origin, config.report_tsa_url or None)


def _subject_text(request: ev.Request) -> str:
    if request.kind == "model" and request.version is not None:
        return f"{request.subject}/{request.version}"
    return request.subject


def run_report(services: Services, actor: str, run_id: str, force: bool) -> Issued:
    with services.pool.connection() as conn:
        run = runs.get_run(conn, run_id)
    if run is None:
        raise NotFound(f"run {run_id!r} not found")
    return issue(services, actor, ev.Request("run", run_id),
                 f"Run report: {run.name or run.id}", force)


def experiment_report(services: Services, actor: str, experiment_id: str,
                      force: bool) -> Issued:
    with services.pool.connection() as conn:
        experiment = runs.get_experiment(conn, experiment_id)
    if experiment is None:
        raise NotFound(f"experiment {experiment_id!r} not found")
    return issue(services, actor, ev.Request("experiment", experiment_id),
                 f"Experiment report: {experiment.name}", force)


def model_report(services: Services, actor: str, name: str, version: int | None,
                 as_of: datetime | None, force: bool) -> Issued:
    request = ev.Request("model", name, version,
                         None if as_of is None else format_timestamp(as_of))
    title = f"Model report: {name}" + (f" v{version}" if version is not None else "")
    return issue(services, actor, request, title, force)


def lookup(services: Services, sha256: str) -> dict[str, Any]:
    with services.pool.connection() as conn:
        row = picks.issued(conn, sha256)
    if row is None:
        return {"issued": False, "sha256": sha256}
    report_id, kind, subject, bundle_sha256, tree_size, issued_to, seq, issued_at = row
    return {"issued": True, "sha256": sha256, "report_id": report_id, "kind": kind,
            "subject": subject, "bundle_sha256": bundle_sha256, "tree_size": int(tree_size),
            "issued_to": issued_to, "seq": int(seq), "issued_at": format_timestamp(issued_at)}
