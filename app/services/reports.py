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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from app import __version__
from app.ledger import merkle
from app.ledger.entry import Draft, format_timestamp
from app.ledger.verify import VerifyResult
from app.services import proofs
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
from app.services.verification import verify_database
from app.storage import ledger as ledger_store
from reports import (
    CheckpointInfo,
    ExperimentReportEvidence,
    ModelReportEvidence,
    ReportMeta,
    RunReportEvidence,
)
from reports.citations import shown_seqs

MAX_CONSISTENCY = 50
DENSE_FACTOR = 4
"""Cited seqs spanning at most this many times their count are read as one range."""
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


Build = Callable[[psycopg.Connection, ReportMeta], Any]


def _problem(result: VerifyResult) -> str:
    damage = result.damage
    assert damage is not None
    where = (f"seq {damage.seq}" if damage.seq is not None else
             f"checkpoint {damage.checkpoint}" if damage.checkpoint is not None else "ledger")
    return f"{where}: {damage.kind}: {damage.detail}"


def _verify(services: Services) -> VerifyResult:
    with services.pool.connection() as conn:  # verify_database hands it back unchanged
        return verify_database(conn)


def _checkpoint_info(row: ledger_store.CheckpointRow) -> CheckpointInfo:
    signature_line = row.note.split("\n\n", 1)[1].strip().splitlines()[0]
    signature_b64 = signature_line.rsplit(" ", 1)[1]
    return CheckpointInfo(row.tree_size, base64.b64encode(bytes(row.root_hash)).decode(),
                          f"{row.key_id:08x}", signature_b64, row.note)


def _consistency(conn: psycopg.Connection, tree_size: int) -> list[ConsistencyStep]:
    rows = conn.execute(
        "SELECT tree_size FROM reports_issued GROUP BY tree_size "
        "ORDER BY max(issued_at) DESC, tree_size DESC LIMIT %s", (MAX_CONSISTENCY,)).fetchall()
    out = []
    for size in sorted({int(r[0]) for r in rows}):
        if 0 < size <= tree_size:
            proof = proofs.consistency(conn, size, tree_size)
            out.append(ConsistencyStep(size, proof.first_root, tuple(proof.hashes)))
    return out


def _canonical(conn: psycopg.Connection, seqs: Sequence[int]) -> dict[int, bytes]:
    """Canonical bytes of the cited entries: one range read when they are dense (a model's
    history usually is), else one read per entry."""
    if not seqs:
        return {}
    low, high = min(seqs), max(seqs)
    if high - low + 1 <= DENSE_FACTOR * len(seqs):
        rows = ledger_store.list_entries(conn, low - 1, high - low + 1)
    else:
        rows = [r for r in (ledger_store.get_entry(conn, s) for s in seqs) if r is not None]
    wanted = set(seqs)
    return {r.seq: bytes(r.canonical) for r in rows if r.seq in wanted}


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


def _cited_entries(conn: psycopg.Connection, seqs: Sequence[int],
                   tree_size: int) -> list[CitedEntry]:
    canonical = _canonical(conn, seqs)
    missing = [s for s in seqs if s not in canonical]
    if missing:
        raise NotFound(f"ledger entry {missing[0]} is missing")
    proved = _inclusion_proofs(conn, seqs, tree_size)
    return [CitedEntry(seq, canonical[seq], proved[seq]) for seq in seqs]


def _verification_json(result: VerifyResult) -> dict[str, Any]:
    damage = result.damage
    return {"ok": result.ok, "entries": result.entries, "checkpoints": result.checkpoints,
            "root_hash": base64.b64encode(result.root_hash).decode(),
            "damage": None if damage is None else {
                "kind": damage.kind, "detail": damage.detail, "seq": damage.seq,
                "checkpoint": damage.checkpoint}}


def issue(services: Services, actor: str, kind: str, subject: str, title: str,
          build: Build, force: bool, as_of: datetime | None = None) -> Issued:
    """Build, prove, render and record one report; raises LedgerDamaged unless forced."""
    result = _verify(services)
    problem = None if result.ok else _problem(result)
    if problem is not None and not force:
        damage = result.damage
        assert damage is not None
        raise LedgerDamaged(problem, damage.seq, damage.kind)
    report_id = uuid.uuid4().hex
    with services.pool.connection() as conn:
        # Evidence first, then the checkpoint: everything cited is committed, so below its size.
        placeholder = _checkpoint_info(ledger_store.CheckpointRow(
            0, bytes(32), 0, "x\n0\nAA==\n\n\u2014 x AA==\n", datetime.now()))
        draft_meta = ReportMeta(report_id, kind, title, "", __version__, PLACEHOLDER_HASH,  # type: ignore[arg-type]
                                placeholder, problem is None, problem, problem is not None,
                                "")
        evidence = build(conn, draft_meta)
        try:
            checkpoint = services.checkpointer.sign_now()
        except Exception:
            if problem is None:
                raise
            latest = ledger_store.latest_checkpoint(conn)
            if latest is None:
                raise
            checkpoint = latest
        entries = _cited_entries(conn, shown_seqs(evidence), checkpoint.tree_size)
        consistency = _consistency(conn, checkpoint.tree_size)
        keys = [k.verifier_key for k in ledger_store.list_signing_keys(conn)]
    summary = (f"{result.entries} entries and {result.checkpoints} checkpoints verified"
               if result.ok else f"verification failed at {problem}")
    meta = ReportMeta(
        report_id=report_id, kind=kind, title=title,  # type: ignore[arg-type]
        as_of=format_timestamp(as_of if as_of is not None else checkpoint.signed_at),
        generator_version=__version__, evidence_sha256=PLACEHOLDER_HASH,
        checkpoint=_checkpoint_info(checkpoint), ledger_verified=problem is None,
        ledger_problem=problem, forced=problem is not None, ledger_summary=summary)
    evidence = dataclasses.replace(evidence, meta=meta)
    bundle = make_bundle(evidence, checkpoint.note, checkpoint.tree_size,
                         bytes(checkpoint.root_hash), keys, entries, consistency,
                         _verification_json(result))
    pdf = render_bundle(bundle)
    bundle_sha256 = hashlib.sha256(bundle).hexdigest()
    pdf_sha256 = hashlib.sha256(pdf).hexdigest()

    def record(writer: LedgerWriter) -> int:
        (receipt,) = writer.append([Draft("report.issued", actor, {"report": report_id}, {
            "kind": kind, "subject": subject, "bundle_sha256": bundle_sha256,
            "pdf_sha256": pdf_sha256, "tree_size": str(checkpoint.tree_size),
            "root_hash": base64.b64encode(bytes(checkpoint.root_hash)).decode(),
            "issued_to": actor, "forced": problem is not None})])
        writer.conn.execute(
            "INSERT INTO reports_issued (report_id, kind, subject, bundle_sha256, pdf_sha256, "
            "tree_size, issued_to, seq, issued_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (report_id, kind, subject, bundle_sha256, pdf_sha256, checkpoint.tree_size, actor,
             receipt.seq, receipt.recorded_at))
        return receipt.seq

    seq = services.committer.run(record)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in subject)[:80]
    return Issued(report_id, kind, subject, pdf, bundle, bundle_sha256, pdf_sha256, seq,
                  f"mlaudit-{kind}-{safe}-{report_id[:8]}.pdf")


def run_report(services: Services, actor: str, run_id: str, force: bool) -> Issued:
    with services.pool.connection() as conn:
        run = ev.run_evidence(conn, run_id)  # 404 before any work

    def build(conn: psycopg.Connection, meta: ReportMeta) -> RunReportEvidence:
        return RunReportEvidence(meta, ev.run_evidence(conn, run_id))

    title = f"Run report: {run.name or run.run_id}"
    return issue(services, actor, "run", run_id, title, build, force)


def experiment_report(services: Services, actor: str, experiment_id: str,
                      force: bool) -> Issued:
    from app.storage import tracking as runs

    with services.pool.connection() as conn:
        experiment = runs.get_experiment(conn, experiment_id)
    if experiment is None:
        raise NotFound(f"experiment {experiment_id!r} not found")

    def build(conn: psycopg.Connection, meta: ReportMeta) -> ExperimentReportEvidence:
        keys = ev._verifier_keys(conn)
        found = tuple(ev.run_evidence(conn, r, None, keys)
                      for r in ev.experiment_runs(conn, experiment_id))
        metrics = sorted({m.key for r in found for m in r.metrics})
        pairs = sorted({(s.metric, s.attribute) for r in found for s in r.group_summaries})
        return ExperimentReportEvidence(
            meta, experiment.id, experiment.name, experiment.description or "",
            experiment.created_seq, found, tuple(metrics), tuple(pairs))

    return issue(services, actor, "experiment", experiment_id,
                 f"Experiment report: {experiment.name}", build, force)


def model_report(services: Services, actor: str, name: str, version: int | None,
                 as_of: datetime | None, force: bool) -> Issued:
    with services.pool.connection() as conn:
        ev.check_model(conn, name, version)  # 404 before any work

    def build(conn: psycopg.Connection, meta: ReportMeta) -> ModelReportEvidence:
        return ModelReportEvidence(meta=meta, **ev.model_evidence(conn, name, version, as_of))

    title = f"Model report: {name}" + (f" v{version}" if version is not None else "")
    subject = name if version is None else f"{name}/{version}"
    return issue(services, actor, "model", subject, title, build, force, as_of)




def lookup(services: Services, sha256: str) -> dict[str, Any]:
    with services.pool.connection() as conn:
        row = conn.execute(
            "SELECT report_id, kind, subject, bundle_sha256, tree_size, issued_to, seq, "
            "issued_at FROM reports_issued WHERE pdf_sha256 = %s OR bundle_sha256 = %s "
            "ORDER BY seq LIMIT 1", (sha256, sha256)).fetchone()
    if row is None:
        return {"issued": False, "sha256": sha256}
    report_id, kind, subject, bundle_sha256, tree_size, issued_to, seq, issued_at = row
    return {"issued": True, "sha256": sha256, "report_id": report_id, "kind": kind,
            "subject": subject, "bundle_sha256": bundle_sha256, "tree_size": int(tree_size),
            "issued_to": issued_to, "seq": int(seq), "issued_at": format_timestamp(issued_at)}
