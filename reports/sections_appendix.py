"""The appendices: figures at full precision, the control mapping, the integrity evidence."""

from __future__ import annotations

from collections.abc import Sequence

from reports.appendix_figures import HEADER
from reports.controls import NO_LEGAL_DETERMINATION, Control, controls, seq_ranges
from reports.doc import Cell, Node, data_table, empty, heading, kv_table, mono, para
from reports.evidence import ArtifactEvidence, ModelReportEvidence, ReportMeta, RunEvidence
from reports.furniture import ATTACHMENT_NAME
from reports.outline import APPENDIX_CONTROLS, APPENDIX_FIGURES, INTEGRITY

__all__ = [
    "control_mapping", "full_precision", "integrity_evidence", "integrity_title", "run_artifacts",
]

_CHUNK = 40  # rows per table: a long table costs a re-layout of its rest at each page break


def run_artifacts(runs: Sequence[RunEvidence]) -> list[tuple[str, ArtifactEvidence]]:
    """(short run id, artifact) of each run's artifacts, a run shown once."""
    seen: set[str] = set()
    out: list[tuple[str, ArtifactEvidence]] = []
    for run in runs:
        if run.run_id not in seen:
            seen.add(run.run_id)
            out += [(run.run_id[:8], a) for a in run.artifacts]
    return out


def integrity_title(letter: str) -> str:
    """The integrity evidence appendix's title under its letter."""
    return f"Appendix {letter}: integrity evidence"


def full_precision(rows: Sequence[Sequence[str]]) -> list[Node]:
    """Appendix A: every figure the body rounds, as stored, with the entry it comes from."""
    out: list[Node] = [heading(APPENDIX_FIGURES),
                       para("Each figure the report shows rounded, at the full precision "
                            "logged; the evidence bundle holds the same values.")]
    if not rows:
        return out + [empty("No figure in this report is rounded.")]
    where = 2.0 if max(len(r[0]) for r in rows) > 12 else 1.0
    widths = [where, 3.4, 0.8, 1.7, 0.45]
    return out + [data_table(HEADER, rows[i:i + _CHUNK], widths)
                  for i in range(0, len(rows), _CHUNK)]


def _control_row(c: Control) -> list[Cell]:
    entries = (f"{', '.join(c.kinds)}; seq {seq_ranges(c.seqs)}" if c.seqs else c.status)
    return [c.framework, c.control, c.status, ", ".join(c.sections) or "—", entries,
            c.note or "—"]


def control_mapping(model: ModelReportEvidence) -> list[Node]:
    """Appendix B: per control, where its evidence is in this report and in the ledger."""
    found = controls(model)
    rows = [_control_row(c) for c in found]
    missing = [i for i, c in enumerate(found) if c.status != "recorded"]
    header = ["Framework", "Control", "Status", "Report section", "Ledger entries",
              "What the evidence covers"]
    return [heading(APPENDIX_CONTROLS), para(NO_LEGAL_DETERMINATION),
            data_table(header, rows, [1.1, 1.8, 0.75, 1.2, 2.05, 2.0], highlight=missing)]


def _checkpoint(meta: ReportMeta) -> list[Node]:
    cp = meta.checkpoint
    return [heading("Signed checkpoint", 2), kv_table([
        ("Tree size", str(cp.tree_size)),
        ("Root hash (base64)", mono(cp.root_hash_b64)),
        ("Signing key id", mono(cp.key_id)),
        ("Signature (base64)", mono(cp.signature_b64)),
        ("Signed note", mono(cp.note)),
    ])]


def _bundle(meta: ReportMeta, bundle_size: int) -> list[Node]:
    return [heading("Evidence bundle", 2), kv_table([
        ("Attachment", ATTACHMENT_NAME),
        ("Size", f"{bundle_size} bytes"),
        ("SHA-256", mono(meta.evidence_sha256)),
        ("Format", "RFC 8785 canonical JSON holding each cited entry's canonical bytes and its "
                   "inclusion proof against the checkpoint above"),
    ])]


def _artifacts(found: Sequence[tuple[str, ArtifactEvidence]]) -> list[Node]:
    """Each artifact's full SHA-256 and DSSE envelope digest (the body shows 12 hex digits),
    and each signing key once."""
    if not found:
        return []
    rows: list[list[Cell]] = [
        [where, mono(a.path), mono(a.sha256), mono(a.envelope_sha256 or "none"), str(a.seq)]
        for where, a in found]
    keys = sorted({a.signer for _, a in found if a.signer})
    out: list[Node] = [
        heading("Artifact digests", 2),
        data_table(["Run", "Path", "SHA-256", "DSSE envelope SHA-256", "Seq"], rows,
                   [0.9, 1.3, 2.6, 2.6, 0.5])]
    if keys:
        out += [para("Artifact signing keys (C2SP verifier keys):", "lead"),
                *(mono(k) for k in keys)]
    return out


def integrity_evidence(meta: ReportMeta, cited: Sequence[int], bundle_size: int,
                       letter: str,
                       artifacts: Sequence[tuple[str, ArtifactEvidence]] = ()) -> list[Node]:
    """The checkpoint (the signing key's id printed here only), the bundle, the artifacts'
    full digests and keys, and the cited entries, which the integrity section's one command
    checks. ``artifacts``: (short run id, artifact) in the order the body shows them."""
    seqs = seq_ranges(cited) if cited else ""
    return [
        heading(integrity_title(letter)),
        para(f"The facts the verifier checks (see {INTEGRITY})."),
        *_checkpoint(meta), *_bundle(meta, bundle_size), *_artifacts(artifacts),
        heading("Cited entries", 2),
        mono(seqs) if seqs else empty("No ledger entries are cited."),
    ]
