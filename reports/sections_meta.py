"""The integrity section, common to every report kind: the one command, then what it checks."""

from __future__ import annotations

from reports.doc import Node, data_table, heading, mono, para
from reports.evidence import ReportMeta
from reports.furniture import ATTACHMENT_NAME, FAILURE_LINE
from reports.outline import INTEGRITY
from reports.sections_appendix import integrity_title
from reports.summary_data import VERIFY_COMMAND

__all__ = ["integrity"]

_LINES = (
    ("bundle_hash", "The SHA-256 of the attached evidence bundle is the hash in every page "
                    "footer."),
    ("entries", "Every entry in the bundle is in the ledger's Merkle tree (its inclusion proof "
                "verifies against the checkpoint), and every entry the report cites is there."),
    ("checkpoint", "The checkpoint is signed by one of your keys and is the one printed here."),
    ("statements", "Every figure, status, name and date is what the bundle's entries give when "
                   "replayed; a difference is named, e.g. first at $.run.metrics[0].value."),
    ("figures", "The PDF's text is what the bundle's evidence renders to: content, not bytes, "
                "so it does not depend on the PDF library's version."),
    ("signature", "The PDF signature covers the document as issued (checked where pyHanko is "
                  "installed)."),
    ("consistency", "With --previous OLDER.pdf: the older report's checkpoint is a prefix of "
                    "this one's, so the ledger only grew."),
    ("verification", "Information: whether the whole ledger verified when the report was made."),
)


def _ledger_check(meta: ReportMeta) -> list[Node]:
    out: list[Node] = [heading("Ledger verification at generation time", 2)]
    if not meta.failed:
        found = f": {meta.ledger_summary}" if meta.ledger_summary else ""
        return out + [para(f"Verified{found}.")]
    return out + [para(FAILURE_LINE.split(" \u2014")[0], "warning"),
                  para(f"Found: {meta.ledger_problem}", "warningbody"),
                  para("The report was forced by an administrator despite this result.",
                       "warningbody")]


def _checks() -> list[Node]:
    return [
        heading("What it checks", 2),
        para(f"- The attachment {ATTACHMENT_NAME} is the evidence this report was made from."),
        para("- Each cited ledger entry is proved against a checkpoint signed by the ledger's "
             "key."),
        para("- Each statement is recomputed from those entries, and the PDF's text is compared "
             "with what they render to."),
        para("- With an earlier report, the ledger only grew between the two."),
    ]


def integrity(meta: ReportMeta, letter: str) -> list[Node]:
    """How to verify this report with one command, what each line of its answer means, and
    the result of the ledger check when the report was made."""
    return [
        heading(INTEGRITY),
        para("Check this report yourself, offline, with the standalone verifier (pip install "
             "./verifier from the mlaudit source tree; no database, no server):", "lead"),
        mono(VERIFY_COMMAND),
        para("KEY is the ledger's public verifier key, obtained through a channel you trust: "
             "the key string, a file of key strings, or the JSON of GET /api/v1/ledger/keys.",
             "after"),
        heading("What each line of its answer means", 2),
        data_table(["Line", "It passes when"], [list(line) for line in _LINES], [1, 5]),
        para("Each line reads ok, FAIL, -- (not checked) or info; the exit status is 0 when "
             "no check fails.", "caption"),
        *_checks(),
        *_ledger_check(meta),
        para(f"The checkpoint, its signing key id, the bundle's hash and the cited entries are "
             f"in {integrity_title(letter)}.", "after"),
    ]
