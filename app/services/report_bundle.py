"""Evidence bundles: the canonical JSON a report is rendered from and carries as an attachment.

A bundle (RFC 8785 bytes; docs/evidence-bundle.md) holds:
  format        "mlaudit-evidence/2" ("/1" bundles, without request and envelopes, still open)
  request       {"kind", "subject", "version", "as_of"}: what the report was asked for
  envelopes     [{"sha256", "envelope"}]: the artifact envelopes the entries name
  kind          "model" | "run" | "experiment"
  evidence      the report's evidence dataclasses as JSON (reports.bundle.to_json), with
                meta.evidence_sha256 set to 64 zeros (the real value is the bundle's own hash)
  checkpoint    {"note", "tree_size", "root_hash" (base64)}: the signed checkpoint of the proofs
  keys          the verifier keys published when the report was made
  entries       [{"seq", "canonical" (base64 of the stored bytes), "proof": [base64, ...]}]:
                every entry the evidence is computed from (app/services/report_evidence.py),
                with its inclusion proof against the checkpoint
  consistency   [{"from_size", "from_root", "proof"}]: proofs that this checkpoint extends the
                checkpoints of earlier reports, so two reports can be checked against each other
  verification  the whole-ledger verification run at generation time
The PDF is rendered from the evidence with meta.evidence_sha256 = SHA-256(bundle), so the same
bundle always gives the same PDF bytes, which is how a verifier checks the printed figures.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.ledger.entry import canonicalize
from app.ledger.errors import LedgerError
from reports.bundle import from_json, to_json
from reports.evidence import ExperimentReportEvidence, ModelReportEvidence, RunReportEvidence

FORMAT = "mlaudit-evidence/2"
FORMATS = ("mlaudit-evidence/1", FORMAT)
PLACEHOLDER_HASH = "0" * 64
Evidence = ModelReportEvidence | RunReportEvidence | ExperimentReportEvidence
_KINDS: dict[str, Any] = {
    "model": ModelReportEvidence, "run": RunReportEvidence, "experiment": ExperimentReportEvidence,
}


class BundleError(LedgerError):
    """A bundle is malformed, or does not fit the report it came with."""


@dataclass(frozen=True)
class CitedEntry:
    seq: int
    canonical: bytes
    proof: tuple[bytes, ...]


@dataclass(frozen=True)
class ConsistencyStep:
    from_size: int
    from_root: bytes
    proof: tuple[bytes, ...]


@dataclass(frozen=True)
class Bundle:
    """A parsed bundle."""

    kind: str
    evidence: Evidence
    note: str
    tree_size: int
    root_hash: bytes
    keys: tuple[str, ...]
    entries: tuple[CitedEntry, ...]
    consistency: tuple[ConsistencyStep, ...]
    verification: Mapping[str, Any]
    format: str = FORMAT
    request: Mapping[str, Any] | None = None  # None in a format 1 bundle
    envelopes: Mapping[str, Any] = dataclasses.field(default_factory=dict)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def make_bundle(evidence: Evidence, note: str, tree_size: int, root_hash: bytes,
                keys: Sequence[str], entries: Sequence[CitedEntry],
                consistency: Sequence[ConsistencyStep],
                verification: Mapping[str, Any], request: Mapping[str, Any],
                envelopes: Mapping[str, Any]) -> bytes:
    """The bundle's canonical bytes (evidence.meta.evidence_sha256 is ignored and zeroed)."""
    meta = dataclasses.replace(evidence.meta, evidence_sha256=PLACEHOLDER_HASH)
    document = {
        "format": FORMAT, "kind": meta.kind,
        "evidence": to_json(dataclasses.replace(evidence, meta=meta)),
        "checkpoint": {"note": note, "tree_size": tree_size, "root_hash": _b64(root_hash)},
        "keys": list(keys),
        "entries": [{"seq": e.seq, "canonical": _b64(e.canonical),
                     "proof": [_b64(h) for h in e.proof]} for e in entries],
        "consistency": [{"from_size": c.from_size, "from_root": _b64(c.from_root),
                         "proof": [_b64(h) for h in c.proof]} for c in consistency],
        "verification": dict(verification),
        "request": dict(request),
        "envelopes": [{"sha256": d, "envelope": envelopes[d]} for d in sorted(envelopes)],
    }
    return canonicalize(document)


def _decode(text: Any, where: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, TypeError) as exc:
        raise BundleError(f"bundle {where}: not base64") from exc


def open_bundle(data: bytes) -> Bundle:
    """Parse and type-check bundle bytes (it does not verify anything cryptographic)."""
    try:
        document = json.loads(data)
        kind = document["kind"]
        evidence_type = _KINDS[kind]
        if document["format"] not in FORMATS:
            raise BundleError(f"unknown bundle format {document['format']!r}")
        later = document["format"] != FORMATS[0]
        checkpoint = document["checkpoint"]
        return Bundle(
            kind, from_json(evidence_type, document["evidence"]), checkpoint["note"],
            int(checkpoint["tree_size"]), _decode(checkpoint["root_hash"], "root_hash"),
            tuple(document["keys"]),
            tuple(CitedEntry(int(e["seq"]), _decode(e["canonical"], "entry"),
                             tuple(_decode(h, "proof") for h in e["proof"]))
                  for e in document["entries"]),
            tuple(ConsistencyStep(int(c["from_size"]), _decode(c["from_root"], "from_root"),
                                  tuple(_decode(h, "proof") for h in c["proof"]))
                  for c in document["consistency"]),
            document["verification"], document["format"],
            document["request"] if later else None,
            {e["sha256"]: e["envelope"] for e in document["envelopes"]} if later else {})
    except BundleError:
        raise
    except (ValueError, KeyError, TypeError, LedgerError) as exc:
        raise BundleError(f"the evidence bundle is malformed: {exc}") from exc


def render_bundle(data: bytes, opened: Bundle | None = None) -> bytes:
    """The PDF for a bundle: deterministic, so a verifier can re-render and compare bytes.

    ``opened`` is open_bundle(data) when the caller has it already (it is not parsed twice).
    """
    bundle = open_bundle(data) if opened is None else opened
    digest = hashlib.sha256(data).hexdigest()
    evidence = bundle.evidence
    evidence = dataclasses.replace(
        evidence, meta=dataclasses.replace(evidence.meta, evidence_sha256=digest))
    import reports.render as renderer  # ReportLab loads here: opening a bundle needs none

    render = getattr(renderer, f"render_{bundle.kind}_report")
    pdf: bytes = render(evidence, data)
    return pdf
