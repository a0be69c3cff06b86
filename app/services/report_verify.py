"""Offline verification of a rendered report (docs/evidence-bundle.md): no server, no database.

Pure, with no ReportLab, Flask or psycopg: `mlaudit verify-report` and the standalone
`mlaudit-verify report` (verifier/, which packs this module) both run it.

verify_report(pdf, keys, previous) runs every check and returns one Check per line of verdict:
  bundle_hash   SHA-256 of the embedded bundle equals the hash printed in every page footer
  entries       every cited entry is in the checkpoint's tree (inclusion proof), holds the seq
                it is filed under, and every seq the evidence shows has an entry in the bundle
  checkpoint    the bundle's checkpoint note is signed by a trusted key, and its tree size and
                root hash are those of the bundle (and of the checkpoint printed in the report)
  statements    every figure, status and name in the evidence is what the bundle's own entries
                give when replayed through the same code the service computed it with
  figures       the text of every page is the text the bundle's evidence prints (pure: any
                ReportLab version, or none, gives the same verdict; reports/textcheck.py)
  bytes         the PDF is byte for byte what the bundle renders to, checked only when this
                machine writes the Producer the PDF records (same report template, same
                ReportLab version); else not checked, and the line says what differs
  consistency   (with an older report) the older report's checkpoint is a prefix of this one's
  signature     the PAdES signature(s) validate: intact, covering the whole file, nothing
                changed after signing; names the signer ("not signed": an older report)
plus an informational line for the ledger verification recorded at generation time.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.ledger import merkle
from app.ledger.checkpoint import CheckpointError, VerifierKey, open_note
from app.ledger.errors import LedgerError
from app.services.report_bundle import Bundle, BundleError, open_bundle
from app.services.report_signature import base_revision
from reports.citations import shown_seqs
from reports.errors import ReportError
from reports.furniture import TEMPLATE_VERSION
from reports.textcheck import Origin, origin, verify_text

if TYPE_CHECKING:
    from pypdf import PdfReader

    from reports.extract import Source

__all__ = [
    "Check", "all_passed", "cited_seqs", "signature_required", "verdict", "verify_report",
]

CHECKS = ("bundle_hash", "entries", "checkpoint", "statements", "figures")


@dataclass(frozen=True)
class Check:
    """One verdict line. ok is True (passed), False (failed) or None (not checked / info)."""

    name: str
    ok: bool | None
    detail: str


def all_passed(checks: Sequence[Check]) -> bool:
    """True when no check failed and none of the core checks was skipped (statements may be
    left unchecked only for a format 1 bundle, which cannot say how to recompute)."""
    if any(c.ok is False for c in checks):
        return False
    return all(c.ok is True or (c.name == "statements" and c.ok is None)
               for c in checks if c.name in (*CHECKS, "consistency"))


def cited_seqs(evidence: Any) -> list[int]:
    """Sorted seqs the evidence cites or shows."""
    return shown_seqs(evidence)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _check_bundle_hash(pdf: Source, attachment: bytes) -> Check:
    from reports.extract import footer_hashes

    digest = hashlib.sha256(attachment).hexdigest()
    try:
        hashes = footer_hashes(pdf)
    except ReportError as exc:
        return Check("bundle_hash", False, str(exc))
    if not hashes:
        return Check("bundle_hash", False, "the PDF has no pages")
    for page, found in enumerate(hashes, start=1):
        if found is None:
            return Check("bundle_hash", False, f"page {page} has no evidence hash in its footer")
        if found != digest:
            return Check("bundle_hash", False,
                         f"page {page} footer prints {found}, the bundle hashes to {digest}")
    return Check("bundle_hash", True, f"sha256 {digest} on all {len(hashes)} pages")


def _entry_problem(entry: Any, bundle: Bundle) -> str | None:
    try:
        inner = json.loads(entry.canonical)
    except ValueError:
        return "canonical bytes are not JSON"
    if not isinstance(inner, dict) or inner.get("seq") != entry.seq:
        found = inner.get("seq") if isinstance(inner, dict) else None
        return f"canonical bytes hold seq {found!r}"
    try:
        merkle.verify_inclusion(entry.seq, bundle.tree_size, merkle.leaf_hash(entry.canonical),
                                entry.proof, bundle.root_hash)
    except merkle.ProofError as exc:
        return f"inclusion proof does not verify ({exc})"
    return None


def _check_entries(bundle: Bundle) -> Check:
    problems: list[str] = []
    filed: set[int] = set()
    for entry in bundle.entries:
        if entry.seq in filed:
            problems.append(f"seq {entry.seq}: filed twice")
        filed.add(entry.seq)
        problem = _entry_problem(entry, bundle)
        if problem:
            problems.append(f"seq {entry.seq}: {problem}")
    missing = [s for s in cited_seqs(bundle.evidence) if s not in filed]
    if missing:
        shown = ", ".join(str(s) for s in missing[:10]) + (" ..." if len(missing) > 10 else "")
        problems.append(f"cited but not in the bundle: seq {shown}")
    if problems:
        extra = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        return Check("entries", False, "; ".join(problems[:3]) + extra)
    return Check("entries", True, f"{len(bundle.entries)} entries included in the tree of size "
                 f"{bundle.tree_size}; every cited seq is among them")


def _open_checkpoint(bundle: Bundle, keys: Sequence[VerifierKey]) -> tuple[str | None, str]:
    """(problem or None, description) for the bundle's signed note."""
    try:
        checkpoint, verified = open_note(bundle.note, keys)
    except (CheckpointError, LedgerError, ValueError) as exc:
        return f"signature: {exc}", ""
    if checkpoint.tree_size != bundle.tree_size:
        return (f"note is for tree size {checkpoint.tree_size}, the bundle says "
                f"{bundle.tree_size}"), ""
    if checkpoint.root_hash != bundle.root_hash:
        return f"note root {_b64(checkpoint.root_hash)} differs from the bundle's", ""
    signers = ", ".join(f"{k.name}+{k.key_id:08x}" for k in verified)
    return None, f"tree size {checkpoint.tree_size}, root {_b64(checkpoint.root_hash)}, " \
                 f"signed by {signers}"


def _check_checkpoint(bundle: Bundle, keys: Sequence[VerifierKey]) -> Check:
    problem, description = _open_checkpoint(bundle, keys)
    if problem:
        return Check("checkpoint", False, problem)
    printed = bundle.evidence.meta.checkpoint
    if (printed.tree_size, printed.root_hash_b64, printed.note) != (
            bundle.tree_size, _b64(bundle.root_hash), bundle.note):
        return Check("checkpoint", False,
                     "the checkpoint printed in the report is not the bundle's checkpoint")
    return Check("checkpoint", True, description)


def _first_difference(found: Any, wanted: Any, path: str = "$") -> str:
    """The JSON path of the first place two JSON values differ."""
    if isinstance(found, dict) and isinstance(wanted, dict):
        for key in sorted(set(found) | set(wanted)):
            if found.get(key) != wanted.get(key):
                return _first_difference(found.get(key), wanted.get(key), f"{path}.{key}")
    if isinstance(found, list) and isinstance(wanted, list) and len(found) == len(wanted):
        for i, (a, b) in enumerate(zip(found, wanted, strict=True)):
            if a != b:
                return _first_difference(a, b, f"{path}[{i}]")
    return path


def _check_statements(bundle: Bundle) -> Check:
    """Replay the bundle's entries and recompute the evidence: it must be the bundle's."""
    if bundle.request is None:
        return Check("statements", None, f"not checked: a {bundle.format} bundle does not "
                     "say how to recompute its evidence")
    from app.services import report_evidence as ev
    from reports.bundle import to_json

    request = ev.Request(str(bundle.request["kind"]), str(bundle.request["subject"]),
                         bundle.request.get("version"), bundle.request.get("as_of"))
    try:
        ledger = ev.replay([(e.seq, e.canonical) for e in bundle.entries], bundle.envelopes,
                           ev.verifier_keys(bundle.keys))
        recomputed = to_json(ev.compute(ledger, request, bundle.evidence.meta))
    except (LedgerError, ev.NotFound, ReportError, ValueError, KeyError, TypeError) as exc:
        return Check("statements", False, f"the evidence cannot be recomputed from the "
                     f"bundle's entries: {exc}")
    printed = to_json(bundle.evidence)
    if recomputed != printed:
        return Check("statements", False, "the evidence is not what the bundle's entries "
                     f"give, first at {_first_difference(printed, recomputed)}")
    return Check("statements", True, f"recomputed from the bundle's {len(bundle.entries)} "
                 "entries: the same evidence")


def _check_figures(reader: PdfReader, bundle: Bundle) -> Check:
    problem = verify_text(reader, bundle.evidence)
    if problem:
        return Check("figures", False, problem)
    return Check("figures", True, f"the text of all {len(reader.pages)} pages is exactly "
                 "what the bundle's evidence prints")


def _installed() -> tuple[str | None, str | None]:
    """(renderer, Producer) of a report rendered here; None, None without ReportLab."""
    try:
        from reports.furniture import producer
        from reports.page import RENDERER
    except ImportError:
        return None, None
    return RENDERER, producer(RENDERER)


def _differs(made: Origin, here: str | None, producer: str | None) -> str:
    was, now = made.renderer or "an unnamed renderer", here or "no ReportLab"
    if made.template != TEMPLATE_VERSION:
        was += f" (report template {made.template or 'not recorded'})"
        now += f" (report template {TEMPLATE_VERSION})"
    elif was == now:
        return f"the PDF's Producer is {made.producer!r}; this machine writes {producer!r}"
    return f"rendered with {was}; this machine has {now}"


def _check_bytes(pdf: bytes, attachment: bytes, bundle: Bundle, made: Origin) -> Check:
    """Re-render and compare bytes, when this machine renders with the template and the
    ReportLab version the PDF's Producer names."""
    here, producer = _installed()
    if made.producer != producer:
        return Check("bytes", None, f"not compared: {_differs(made, here, producer)}: the "
                     "text check above is the one that counts")
    from app.services.report_bundle import render_bundle  # ReportLab: present, as checked

    try:
        rendered = render_bundle(attachment, bundle)
    except (ReportError, LedgerError, ValueError) as exc:
        return Check("bytes", False, f"the bundle does not render: {exc}")
    if rendered != pdf:
        at = next((i for i, (a, b) in enumerate(zip(rendered, pdf, strict=False)) if a != b),
                  min(len(rendered), len(pdf)))
        return Check("bytes", False, f"the PDF differs from the bundle's rendering with "
                     f"{here} at byte {at} ({len(pdf)} vs {len(rendered)} bytes)")
    return Check("bytes", True, f"re-rendered with {here}: {len(pdf)} identical bytes")


def _check_signature(pdf: bytes) -> Check:
    """The PAdES signature (docs/report-signatures.md); the figures check compares the bytes
    before it (report_signature.base_revision)."""
    from app.services import report_signature

    try:
        ok, detail = report_signature.check(pdf)
    except ImportError:  # the standalone verifier ships without pyHanko (its size)
        return Check("signature", None, "not checked: pyHanko is not installed here; a PDF "
                     "viewer, or `pyhanko sign validate`, shows the signature")
    return Check("signature", ok, detail)


def _check_consistency(bundle: Bundle, previous: bytes, keys: Sequence[VerifierKey]) -> Check:
    from reports.extract import read_attachment

    try:
        old = open_bundle(read_attachment(previous))
    except (ReportError, BundleError) as exc:
        return Check("consistency", False, f"previous report: {exc}")
    problem, _ = _open_checkpoint(old, keys)
    if problem:
        return Check("consistency", False, f"previous report's checkpoint: {problem}")
    size, root = old.tree_size, old.root_hash
    if size > bundle.tree_size:
        return Check("consistency", False, f"the previous report's tree ({size}) is larger than "
                     f"this one's ({bundle.tree_size})")
    if size == bundle.tree_size:
        if root != bundle.root_hash:
            return Check("consistency", False,
                         f"same tree size {size} with different roots: history was rewritten")
        return Check("consistency", True, f"same checkpoint (tree size {size})")
    steps = [c for c in bundle.consistency if c.from_size == size]
    if not steps:
        return Check("consistency", False, f"the bundle has no consistency proof from tree size "
                     f"{size} to {bundle.tree_size}")
    failures: list[str] = []
    for step in steps:
        if step.from_root != root:
            failures.append("proof starts from a different root than the previous report's")
            continue
        try:
            merkle.verify_consistency(size, bundle.tree_size, root, bundle.root_hash, step.proof)
        except merkle.ProofError as exc:
            failures.append(f"consistency proof does not verify ({exc})")
            continue
        return Check("consistency", True, f"tree size {size} (previous report) is a prefix of "
                     f"tree size {bundle.tree_size}")
    return Check("consistency", False, f"{size} -> {bundle.tree_size}: {failures[0]}")


def _verification_info(bundle: Bundle) -> list[Check]:
    meta = bundle.evidence.meta
    recorded = dict(bundle.verification)
    ok = meta.ledger_verified and recorded.get("ok", True) is not False
    summary = meta.ledger_summary or ", ".join(
        f"{k}={v}" for k, v in sorted(recorded.items()) if isinstance(v, int | str | bool))
    problem = meta.ledger_problem or recorded.get("detail") or recorded.get("damage")
    text = ("the ledger verified at generation time" if ok else
            f"the ledger did NOT verify at generation time: {problem or 'no detail'}")
    out = [Check("verification", None, text + (f" ({summary})" if summary else ""))]
    if meta.forced:
        out.append(Check("forced", None, "WARNING: this report was generated with --force "
                         "despite a failed ledger verification"))
    return out


def verify_report(pdf: bytes, keys: Sequence[VerifierKey],
                  previous: bytes | None = None) -> list[Check]:
    """Run every check on a report's PDF bytes (and an older report's, for consistency)."""
    from reports.extract import open_pdf, read_attachment

    names = [*CHECKS, "bytes", *(("consistency",) if previous is not None else ())]
    try:
        reader = open_pdf(pdf)  # parsed once for the attachment and the footers
        rendered = base_revision(pdf)  # the renderer's bytes, before a signature's update
        attachment = read_attachment(reader)
    except ReportError as exc:
        return [Check(names[0], False, f"no evidence bundle: {exc}"),
                *(Check(n, None, "not checked") for n in names[1:])]
    checks = [_check_bundle_hash(reader, attachment)]
    try:
        bundle = open_bundle(attachment)
    except BundleError as exc:
        return [*checks, Check("entries", False, str(exc)),
                *(Check(n, None, "not checked") for n in names[2:])]
    checks += [_check_entries(bundle), _check_checkpoint(bundle, keys),
               _check_statements(bundle), _check_figures(reader, bundle),
               _check_bytes(rendered, attachment, bundle,
                            origin(reader if rendered is pdf else open_pdf(rendered))),
               _check_signature(pdf)]
    if previous is not None:
        checks.append(_check_consistency(bundle, previous, keys))
    return checks + _verification_info(bundle)


def signature_required(checks: Sequence[Check]) -> list[Check]:
    """The checks with an unchecked signature made a failure (`--require-signature`): a
    report whose signature was stripped reads as "not signed", which passes otherwise."""
    return [Check(c.name, False, f"{c.detail}, and a signature is required")
            if c.name == "signature" and c.ok is None else c for c in checks]


def verdict(checks: Sequence[Check], as_json: bool = False) -> str:
    """What both report verifiers print: one line per check, or one JSON object."""
    if as_json:
        return json.dumps({"ok": all_passed(checks), "checks": [
            {"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks]})
    lines = []
    for c in checks:
        tag = "ok" if c.ok is True else "FAIL" if c.ok is False else (
            "info" if c.name in ("verification", "forced") else "--")
        lines.append(f"{tag:<4} {c.name:<12} {c.detail}")
    return "\n".join(lines)
