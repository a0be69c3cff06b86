"""Evidence dataclasses for the report header: who, what, when and the integrity facts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from reports.errors import ReportError

__all__ = ["CheckpointInfo", "ReportKind", "ReportMeta"]

ReportKind = Literal["model", "run", "experiment"]
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class CheckpointInfo:
    """The signed checkpoint (C2SP tlog-checkpoint, docs/ledger-format.md §8) a report rests on.

    Attributes:
        tree_size: number of entries the checkpoint covers; every cited seq is below it.
        root_hash_b64: base64 of the 32-byte Merkle root at that size, as in the note.
        key_id: the signing key's id, 8 lower-case hex digits.
        signature_b64: base64 of the signature line's payload (key id ‖ Ed25519 signature).
        note: the whole signed note, verbatim (body, empty line, signature lines).
    """

    tree_size: int
    root_hash_b64: str
    key_id: str
    signature_b64: str
    note: str


@dataclass(frozen=True)
class ReportMeta:
    """Who, what and when of one report, and the integrity facts printed on cover and footer.

    Attributes:
        report_id: the report's id (also recorded in the `report_issued` ledger entry).
        kind: "model", "run" or "experiment"; must match the render function called.
        title: the cover title, e.g. "Model report: credit-risk".
        as_of: RFC 3339 instant the report describes (the ledger state at the checkpoint).
        generator_version: mlaudit version that built the evidence bundle and rendered it.
        evidence_sha256: lower-case hex SHA-256 of the evidence bundle bytes; checked on render.
        checkpoint: the signed checkpoint the bundle's inclusion proofs are against.
        ledger_verified: whether verifying the whole ledger at generation time succeeded.
        ledger_problem: what verification found when it failed (e.g. "seq 17: modified"), else None.
        forced: an admin forced the report although verification failed; required in that case.
        ledger_summary: optional one-line result of the verification, e.g. "12345 entries and
            12 checkpoints verified".
    """

    report_id: str
    kind: ReportKind
    title: str
    as_of: str
    generator_version: str
    evidence_sha256: str
    checkpoint: CheckpointInfo
    ledger_verified: bool
    ledger_problem: str | None
    forced: bool
    ledger_summary: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("model", "run", "experiment"):
            raise ReportError(f"meta.kind: unknown report kind {self.kind!r}")
        if not _SHA256_HEX.fullmatch(self.evidence_sha256):
            raise ReportError("meta.evidence_sha256: expected 64 lower-case hex digits")
        if not self.ledger_verified and not self.forced:
            raise ReportError("meta.forced: a report on an unverified ledger must be forced")
        if not self.ledger_verified and not self.ledger_problem:
            raise ReportError("meta.ledger_problem: say what ledger verification found")

    @property
    def failed(self) -> bool:
        """True when ledger verification failed, so every page must carry the warning."""
        return not self.ledger_verified
