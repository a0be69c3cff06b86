"""`mlaudit-verify`: check an mlaudit PDF report or ledger export offline.

    mlaudit-verify report FILE.pdf --key KEY_OR_FILE [--previous OLDER.pdf] [--json]
    mlaudit-verify export DIR [--key KEY_OR_FILE] [--checkpoint NOTE_FILE] [--origin O] [--json]

Exit status: 0 every check passed; 1 a check failed (the output names it); 2 the input cannot
be checked (one line on stderr).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

PROG = "mlaudit-verify"
SHARED = Path(__file__).resolve().with_name("_shared")
"""mlaudit's own pure code, packed by hatch_build.py: first on the path, so this verifier runs
the code it was built with even beside an installed mlaudit service."""


def use_shared_code() -> None:
    if SHARED.is_dir() and str(SHARED) not in sys.path:
        sys.path.insert(0, str(SHARED))


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog=PROG, description="Check an mlaudit PDF report or ledger "
                                  "export offline. Exit 0: verified; 1: a check failed; 2: the "
                                  "input cannot be checked.")
    sub = top.add_subparsers(dest="command", required=True, metavar="{report,export}")
    report = sub.add_parser("report", help="check a PDF report: its evidence bundle, entries, "
                            "checkpoint, statements and figures")
    report.add_argument("file", metavar="FILE.pdf", help="the report")
    report.add_argument("--key", action="append", required=True, metavar="KEY_OR_FILE",
                        help="a trusted verifier key, or a file of them (one per line, or the "
                        "JSON of GET /api/v1/ledger/keys); repeatable")
    report.add_argument("--previous", metavar="OLDER.pdf",
                        help="an older report: its checkpoint must be a prefix of this one's")
    report.add_argument("--json", action="store_true", help="one JSON object on stdout")
    report.add_argument("--require-signature", action="store_true",
                        help="fail a report that carries no PAdES signature")
    sub.add_parser("export", add_help=False, help="check a ledger export directory (made by "
                   "`mlaudit export`); `mlaudit-verify export --help` lists its options")
    return top


def _read(name: str) -> bytes:
    import mlaudit_verify

    try:
        return Path(name).read_bytes()
    except OSError as exc:
        raise mlaudit_verify.Unusable(f"cannot read {name}: {exc.strerror or exc}") from None


def report(args: argparse.Namespace) -> int:
    """The checks of `mlaudit verify-report`, by the same code (app/services/report_verify.py)."""
    import mlaudit_verify

    from app.ledger.checkpoint import VerifierKey
    from app.services.report_verify import (
        all_passed,
        signature_required,
        verdict,
        verify_report,
    )

    try:
        keys = [VerifierKey.from_string(k) for k in mlaudit_verify.key_strings(args.key)]
        pdf = _read(args.file)
        previous = _read(args.previous) if args.previous else None
    except mlaudit_verify.Unusable as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    checks = verify_report(pdf, keys, previous)
    if args.require_signature:
        checks = signature_required(checks)
    print(verdict(checks, args.json))
    return 0 if all_passed(checks) else 1


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    use_shared_code()
    if argv[:1] == ["export"]:  # the standalone export verifier, with its own options
        import mlaudit_verify

        return int(mlaudit_verify.main(argv[1:], prog=f"{PROG} export"))
    return report(parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
