"""The cover page and the integrity section, common to every report kind."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from reports.doc import (
    Cell,
    Node,
    WarningBox,
    empty,
    gap,
    heading,
    kv_table,
    mono,
    page_break,
    para,
)
from reports.evidence import ReportMeta
from reports.furniture import ATTACHMENT_NAME, FAILURE_LINE, TEMPLATE_VERSION

__all__ = ["cover", "integrity"]

_KIND_NAMES = {"model": "Model report", "run": "Run report", "experiment": "Experiment report"}
_DISCLAIMER = (
    "Figures outside a band, small groups and failed gates are marked \"flag for review\". "
    "They call for a reviewer's judgement; this report makes no legal or regulatory determination."
)


def _warning(meta: ReportMeta) -> WarningBox:
    """The red box shown on the cover of a report made despite a failed ledger check."""
    return WarningBox((
        para(FAILURE_LINE, "warning"),
        para(f"Verification at generation time found: {meta.ledger_problem}", "warningbody"),
        para("An administrator forced this report. Figures may rest on altered or missing "
             "ledger entries; do not rely on them without an independent check.",
             "warningbody"),
    ))


def _verification(meta: ReportMeta) -> str:
    if meta.failed:
        forced = " (report forced by an administrator)" if meta.forced else ""
        return f"FAILED: {meta.ledger_problem}{forced}"
    return "verified" + (f": {meta.ledger_summary}" if meta.ledger_summary else "")


def _report_facts(meta: ReportMeta, renderer: str) -> list[tuple[str, Cell]]:
    cp = meta.checkpoint
    return [
        ("Report id", mono(meta.report_id)),
        ("Report type", _KIND_NAMES[meta.kind]),
        ("As of", meta.as_of),
        ("Generator", f"mlaudit {meta.generator_version}, report template {TEMPLATE_VERSION}, "
                      f"{renderer}"),
        ("Checkpoint", f"tree size {cp.tree_size}, key id {cp.key_id}"),
        ("Checkpoint root hash", mono(cp.root_hash_b64)),
        ("Evidence bundle SHA-256", mono(meta.evidence_sha256)),
        ("Ledger verification", _verification(meta)),
    ]


def cover(meta: ReportMeta, subject: Sequence[tuple[str, Cell]], renderer: str) -> list[Node]:
    """Title, the failure warning when needed, report facts and subject facts, then a page break.

    ``renderer`` names the layout engine and its version (e.g. "ReportLab 4.4.4")."""
    kicker = f"mlaudit {meta.kind} report"
    out: list[Node] = [para(kicker, "h2"), para(meta.title, "title")]
    if meta.failed:
        out += [_warning(meta), gap(8)]
    out += [heading("Report", 3), kv_table(_report_facts(meta, renderer)), gap(8)]
    out += [heading("Subject", 3), kv_table(list(subject)), gap(8)]
    out += [para(_DISCLAIMER, "caption"), page_break()]
    return out


def _steps(meta: ReportMeta) -> list[str]:
    return [
        f"Extract the attachment {ATTACHMENT_NAME} and compute its SHA-256. It must equal the "
        "hash on the cover and in every page footer.",
        "Open the checkpoint note above with the ledger's verifier key, obtained through a channel "
        "you trust (docs/ledger-format.md section 8.2). Check its origin, tree size and root hash.",
        "For each cited entry in the bundle, compute its leaf hash SHA-256(0x00 || canonical "
        "bytes) and verify its inclusion proof at its seq against the checkpoint's tree size and "
        "root (sections 6.3 and 10.2).",
        "Check that every figure in this report appears in the cited entries; every table gives "
        "the seq each row comes from.",
        f"Re-render the bundle with mlaudit {meta.generator_version} (report template "
        f"{TEMPLATE_VERSION}) and compare it byte for byte with this file as issued, before any "
        "signature was added.",
        "If you hold an earlier checkpoint of the same ledger, check that this one is consistent "
        "with it (section 10.3).",
    ]


def _seq_list(seqs: Iterable[int]) -> str:
    return ", ".join(str(s) for s in sorted(set(seqs)))


def _checkpoint(meta: ReportMeta) -> list[Node]:
    cp = meta.checkpoint
    return [heading("Signed checkpoint", 2), kv_table([
        ("Tree size", str(cp.tree_size)),
        ("Root hash (base64)", mono(cp.root_hash_b64)),
        ("Key id", mono(cp.key_id)),
        ("Signature (base64)", mono(cp.signature_b64)),
        ("Signed note", mono(cp.note)),
    ])]


def _ledger_check(meta: ReportMeta) -> list[Node]:
    out: list[Node] = [heading("Ledger verification at generation time", 2)]
    if not meta.failed:
        return out + [para(_verification(meta).capitalize() + ".")]
    return out + [para(FAILURE_LINE.split(" \u2014")[0], "warning"),
                  para(f"Found: {meta.ledger_problem}", "warningbody"),
                  para("The report was forced by an administrator despite this result.",
                       "warningbody")]


def _bundle(meta: ReportMeta, bundle_size: int) -> list[Node]:
    return [heading("Evidence bundle", 2), kv_table([
        ("Attachment", ATTACHMENT_NAME),
        ("Size", f"{bundle_size} bytes"),
        ("SHA-256", mono(meta.evidence_sha256)),
        ("Format", "RFC 8785 canonical JSON holding each cited entry's canonical bytes and its "
                   "inclusion proof against the checkpoint above"),
    ])]


def integrity(meta: ReportMeta, cited: Iterable[int], bundle_size: int) -> list[Node]:
    """Checkpoint, verification result, bundle facts, cited seqs and how to verify."""
    seqs = _seq_list(cited)
    return [
        heading("Integrity"), *_checkpoint(meta), *_ledger_check(meta),
        *_bundle(meta, bundle_size),
        heading("Cited entries", 2),
        mono(seqs) if seqs else empty("No ledger entries are cited."),
        heading("How to verify", 2),
        *[para(f"{i}. {step}") for i, step in enumerate(_steps(meta), start=1)],
    ]
