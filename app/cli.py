"""The mlaudit command line: a thin adapter over the same services as the API."""

from __future__ import annotations

import argparse
import base64
import getpass
import importlib.util
import json
import os
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TextIO

from app import principal_cli
from app.client import registry as registry_commands
from app.config import Config, ConfigError, load_config
from app.ledger.checkpoint import VerifierKey
from app.ledger.errors import LedgerError

if TYPE_CHECKING:
    from app.ledger.verify import Damage, VerifyResult
    from app.services.rollback import KeptResult

PROGRESS_EVERY = 50_000


def cli_actor() -> str:
    """The actor of the entries a command writes: cli:<login name>."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def cmd_serve(config: Config, args: argparse.Namespace) -> int:
    from werkzeug.serving import run_simple

    from app import create_app

    app = create_app(config)
    print(f"mlaudit: serving on http://{args.host}:{args.port}", file=sys.stderr)
    run_simple(args.host, args.port, app, threaded=True)
    return 0


def cmd_init(config: Config, args: argparse.Namespace) -> int:
    from app import build_services

    services = build_services(config, start_checkpointer=False)
    services.close()
    print("mlaudit: database ready, schema current, signing key present", file=sys.stderr)
    return 0


def cmd_token_create(config: Config, args: argparse.Namespace) -> int:
    from app import db
    from app.services import tokens
    from app.services.ledger import ledger_transaction

    url = db.database_url(config)
    db.ensure_schema(url, config.protected_environments)
    expires_at = None
    if args.expires_in_days is not None:
        if args.expires_in_days <= 0:
            raise ConfigError("--expires-in-days must be a positive number of days")
        expires_at = datetime.now(UTC) + timedelta(days=args.expires_in_days)
    with db.connect(url) as conn, ledger_transaction(conn) as writer:
        secret, receipt = tokens.create_token(writer, args.name, args.role, cli_actor(),
                                              expires_at, args.principal)
    until = f", valid until {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else ""
    holder = args.principal or args.name
    print(f"created token {args.name!r} (role {args.role}{until}) for principal {holder!r} in "
          f"ledger entry {receipt.seq}; it is shown once:", file=sys.stderr)
    print(secret)
    return 0


def cmd_token_revoke(config: Config, args: argparse.Namespace) -> int:
    from app import db
    from app.services import tokens
    from app.services.ledger import ledger_transaction

    url = db.database_url(config)
    db.ensure_schema(url, config.protected_environments)
    with db.connect(url) as conn, ledger_transaction(conn) as writer:
        receipt = tokens.revoke_token(writer, args.name, cli_actor(), args.reason or "")
    print(f"revoked token {args.name!r} in ledger entry {receipt.seq}; it authenticates "
          "nothing from now on", file=sys.stderr)
    return 0


def cmd_artifacts_sweep(config: Config, args: argparse.Namespace) -> int:
    """Remove partial uploads and unreferenced blobs a crash left behind."""
    from app import build_services
    from app.services import artifacts

    if args.older_than < 0:
        raise ConfigError("--older-than must be zero or more seconds")
    services = build_services(config, start_checkpointer=False)
    try:
        swept = artifacts.sweep(services.committer, services.blobs, args.older_than)
    finally:
        services.close()
    print(f"removed {swept.partial_uploads} partial uploads and {swept.unreferenced_blobs} "
          f"unreferenced blobs older than {args.older_than:g} s", file=sys.stderr)
    return 0


def cmd_key_rotate(config: Config, args: argparse.Namespace) -> int:
    from app import db
    from app.services import keys

    url = db.database_url(config)
    db.ensure_schema(url, config.protected_environments)
    with db.connect(url) as conn:
        signer = keys.rotate(conn, config.origin, config.keys_path, cli_actor())
    from app.services import trust

    trust.update(config.trust_path, config.origin, [signer.verifier_key.to_string()])
    print(f"new active signing key: {signer.verifier_key.to_string()} (added to "
          f"{config.trust_path}; give it to every host and auditor that pins keys)")
    return 0


def cmd_trust_add_key(config: Config, args: argparse.Namespace) -> int:
    """Trust a key (another host rotated, or an auditor pins one) in the trust file."""
    from app.services import trust

    keys = _trusted_keys([args.key]) or []
    path = Path(args.trust) if args.trust else config.trust_path
    trust.update(path, config.origin, [k.to_string() for k in keys])
    print(f"trusted {len(keys)} key(s) in {path}", file=sys.stderr)
    return 0


def cmd_trust_show(config: Config, args: argparse.Namespace) -> int:
    from app.services import trust

    path = Path(args.trust) if args.trust else config.trust_path
    found = trust.load(path)
    if found is None:
        raise ConfigError(f"no trust file at {path}")
    print(json.dumps(found.to_json(), indent=2))
    return 0


def _progress(rows: Iterator[Any], total: int, out: TextIO,
              doing: str = "verifying") -> Iterator[Any]:
    for count, row in enumerate(rows, 1):
        if count % PROGRESS_EVERY == 0:
            percent = 100 * count // max(total, 1)
            out.write(f"\r{doing}: {count:,} / {total:,} entries ({percent}%)")
            out.flush()
        yield row
    out.write("\r" + " " * 60 + "\r")


def _trusted_keys(values: Sequence[str] | None) -> list[VerifierKey] | None:
    """--key takes a verifier key string, or a file of them: one per line, or the JSON of
    GET /api/v1/ledger/keys. The standalone verifier's parser reads them, so every command
    and both verifiers accept the same forms."""
    if not values:
        return None
    verifier = load_standalone_verifier()
    try:
        strings = verifier.key_strings(values)
    except verifier.Unusable as exc:
        raise ConfigError(str(exc)) from exc
    return [VerifierKey.from_string(line) for line in strings]


def _trust(config: Config, args: argparse.Namespace) -> Any:
    """The trust file verify holds the database to: --trust FILE, else MLAUDIT_HOME's (none
    with --no-trust, or when there is none: then a note says the keys come from the database
    itself)."""
    from app.services import trust

    if args.no_trust:
        return None
    path = Path(args.trust) if args.trust else config.trust_path
    found = trust.load(path)
    if found is None and args.trust:
        raise ConfigError(f"--trust {args.trust}: no such file")
    return found


def _untrusted_note(config: Config, args: argparse.Namespace) -> None:
    path = Path(args.trust) if args.trust else config.trust_path
    print(f"mlaudit: note: no trust file at {path}: checkpoint signatures were checked with "
          "the keys the database itself publishes", file=sys.stderr)


def cmd_verify(config: Config, args: argparse.Namespace) -> int:
    from app import db
    from app.services.rollback import read_kept
    from app.services.verification import verify_held

    kept = [read_kept(Path(name)) for name in args.against or []]  # bad files: exit 2 first
    trusted = _trusted_keys(args.key)
    held_to = _trust(config, args)
    url = db.database_url(config)
    shown = sys.stderr.isatty() and not args.json
    with db.connect(url) as conn:
        wrap = (lambda rows, total: _progress(rows, total, sys.stderr)) if shown else None
        held = verify_held(conn, args.origin or config.origin, held_to, trusted, kept, wrap)
    blobs = _check_blobs(config, url, shown) if args.artifacts else None
    if held_to is None and trusted is None and not args.no_trust:
        _untrusted_note(config, args)
    result, failed, damage = held.result, held.failed, held.damage
    verdicts = held.verdicts[1:] if held_to is not None and held_to.checkpoint else held.verdicts
    if args.json:
        report = _verify_json(result, damage, verdicts, failed, bool(kept))
        if blobs is not None:
            report["ok"] = report["ok"] and blobs.ok
            report["artifacts"] = _blobs_json(blobs)
        print(json.dumps(report))
    elif damage is None:
        consistent = (f" ({len(verdicts):,} kept checkpoints consistent)" if verdicts else "")
        print(f"OK: {result.entries:,} entries and {result.checkpoints:,} checkpoints verified"
              f"{consistent}; root {base64.b64encode(result.root_hash).decode()}")
    else:
        where = f"seq {damage.seq}" if damage.seq is not None else f"checkpoint {damage.checkpoint}"
        print(f"DAMAGED at {where}: {damage.kind}: {damage.detail}")
    if blobs is not None and not args.json:
        print(_blobs_line(blobs))
    return 0 if damage is None and (blobs is None or blobs.ok) else 1


def _check_blobs(config: Config, url: str, shown: bool) -> Any:
    """verify --artifacts: every stored blob re-hashed against its entry's digest."""
    from app import db
    from app.artifacts.store import LocalBlobStore
    from app.services import blob_check

    wrap = (lambda rows, total: _blob_progress(rows, total, sys.stderr)) if shown else None
    with db.connect(url, autocommit=True) as conn:
        return blob_check.check_all(conn, LocalBlobStore(config.artifacts_path), wrap)


def _blob_progress(rows: Iterator[Any], total: int, out: TextIO) -> Iterator[Any]:
    """A progress line at most twice a second (blobs take long, however few)."""
    import time

    shown_at = 0.0
    for count, row in enumerate(rows, 1):
        if time.monotonic() - shown_at >= 0.5:
            shown_at = time.monotonic()
            out.write(f"\rre-hashing artifacts: {count:,} / {total:,} "
                      f"({100 * count // max(total, 1)}%)")
            out.flush()
        yield row
    out.write("\r" + " " * 60 + "\r")


def _blobs_line(blobs: Any) -> str:
    if blobs.damage is None:
        return (f"OK: {blobs.entries:,} stored artifacts ({blobs.blobs:,} blobs, "
                f"{blobs.bytes:,} bytes) re-hashed against the ledger's digests")
    more = f" ({blobs.damaged - 1:,} more damaged)" if blobs.damaged > 1 else ""
    return f"DAMAGED {blobs.damage.detail}{more}"


def _blobs_json(blobs: Any) -> dict[str, Any]:
    damage = blobs.damage
    return {"ok": blobs.ok, "entries": blobs.entries, "blobs": blobs.blobs,
            "bytes": blobs.bytes, "damaged": blobs.damaged,
            "damage": None if damage is None else {
                "seq": damage.artifact.seq, "run_id": damage.artifact.run_id,
                "path": damage.artifact.path, "expected_sha256": damage.artifact.sha256,
                "found_sha256": damage.found.sha256, "detail": damage.detail}}


def _verify_json(result: VerifyResult, damage: Damage | None, verdicts: Sequence[KeptResult],
                 failed: KeptResult | None, against: bool) -> dict[str, Any]:
    """ledger-format.md 11.3; with --against, also the members docs/verifying.md 12 adds."""
    report: dict[str, Any] = {"ok": damage is None, "entries": result.entries,
                              "checkpoints": result.checkpoints}
    if against:
        report["kept_checkpoints"] = sum(v.ok is True for v in verdicts)
    report["root_hash"] = base64.b64encode(result.root_hash).decode()
    report["chain_hash"] = base64.b64encode(result.chain_hash).decode()
    found: dict[str, Any] | None = None
    if damage is not None:
        found = {"kind": damage.kind, "seq": damage.seq, "checkpoint": damage.checkpoint}
        if against:  # the kept checkpoint's file, named as the standalone verifier does
            found["file"] = failed.kept.name if failed and result.damage is None else None
        found["detail"] = damage.detail
    report["damage"] = found
    if against:
        report["against"] = [{
            "file": v.kept.name, "tree_size": v.kept.tree_size, "ok": v.ok,
            "kind": v.damage.kind if v.damage else None,
            "detail": (v.damage.detail if v.damage else "consistent" if v.checked
                       else "not checked: the database itself is damaged")} for v in verdicts]
    return report


def cmd_export(config: Config, args: argparse.Namespace) -> int:
    from app import db
    from app.services.export import export_ledger

    with db.connect(db.database_url(config)) as conn:
        summary = export_ledger(conn, Path(args.out), config.origin, force=args.force)
    print(f"exported {summary.entries:,} entries, {summary.checkpoints:,} checkpoints and "
          f"{summary.keys:,} keys to {args.out}")
    return 0


def cmd_rebuild(config: Config, args: argparse.Namespace) -> int:
    """Replay a ledger (a database or an export directory) into DATABASE_URL's empty one."""
    import time

    from app import db
    from app.services import rebuild

    keys = _trusted_keys(args.key)
    target_url = db.database_url(config)
    db.ensure_schema(target_url, config.protected_environments)
    wrap = (lambda rows, total, doing: _progress(rows, total, sys.stderr, doing)) if (
        sys.stderr.isatty()) else None
    started = time.monotonic()
    source_path = Path(args.source)
    with db.connect(target_url) as target:
        if source_path.is_dir():
            source = rebuild.export_source(source_path, keys)
            done = rebuild.rebuild(target, source, wrap, source.head.size if source.head else 0)
        else:
            with db.connect(args.source) as conn:
                from psycopg import IsolationLevel

                conn.isolation_level, conn.read_only = IsolationLevel.REPEATABLE_READ, True
                with conn.transaction():
                    source = rebuild.database_source(conn, keys)
                    done = rebuild.rebuild(target, source, wrap,
                                           source.head.size if source.head else 0)
    print(f"rebuilt {done.rows:,} projection rows from {done.entries:,} entries in "
          f"{time.monotonic() - started:.1f} s; run `mlaudit verify` on it", file=sys.stderr)
    return 0


# The standalone verifier is one file, verifier/mlaudit_verify.py, next to app/ in the source
# tree (an editable install runs it from there). It is loaded by path: it is not a package.
VERIFIER_PATH = Path(__file__).resolve().parent.parent / "verifier" / "mlaudit_verify.py"


def load_standalone_verifier() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mlaudit_verify", VERIFIER_PATH)
    if not VERIFIER_PATH.is_file() or spec is None or spec.loader is None:
        raise ConfigError("the standalone verifier verifier/mlaudit_verify.py is not beside "
                          "this copy of mlaudit; run it from a source checkout")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def cmd_verify_export(config: Config, args: argparse.Namespace) -> int:
    argv = ["--json"] if args.json else []
    argv += [f"--key={key}" for key in args.key or []]
    argv += [f"--checkpoint={note}" for note in args.checkpoint or []]
    argv += [f"--origin={args.origin}"] if args.origin else []
    argv += ["--", args.dir]
    code: int = load_standalone_verifier().main(argv, prog="mlaudit")
    return code


def cmd_verify_report(config: Config, args: argparse.Namespace) -> int:
    """The same checks and output as the standalone `mlaudit-verify report` (verifier/)."""
    from app.services.report_verify import (
        all_passed,
        signature_required,
        verdict,
        verify_report,
    )

    def read(name: str) -> bytes:
        try:
            return Path(name).read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read {name}: {exc.strerror or exc}") from exc

    keys = _trusted_keys(args.key) or []
    checks = verify_report(read(args.file), keys, read(args.previous) if args.previous else None)
    if args.require_signature:
        checks = signature_required(checks)
    print(verdict(checks, args.json))
    return 0 if all_passed(checks) else 1


def cmd_report(config: Config, args: argparse.Namespace) -> int:
    """Fetch a PDF report over HTTP (like `record`), write it, print its path and evidence hash."""
    from app.client import report

    return report.cmd_report(config, args)


def cmd_record(config: Config, args: argparse.Namespace) -> int:
    from app.client import record

    signing_key = args.signing_key or os.environ.get("MLAUDIT_SIGNING_KEY")
    result = record.record_file(
        Path(args.file), args.experiment, args.url or os.environ.get("MLAUDIT_URL"),
        args.token or os.environ.get("MLAUDIT_TOKEN"), os.environ.get("MLAUDIT_IMAGE_DIGEST"),
        progress=sys.stderr if sys.stderr.isatty() else None,
        signing_key=Path(signing_key) if signing_key else None)
    if args.json:
        print(json.dumps(record.result_json(result)))
    else:
        print("\n".join(record.result_lines(result)))
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="mlaudit", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the service (embedded PostgreSQL if no DATABASE_URL)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=5000)
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("init", help="create or upgrade the schema, signing key and admin token"
                   ).set_defaults(func=cmd_init)
    token = sub.add_parser("token", help="manage API tokens").add_subparsers(
        dest="token_command", required=True)
    create = token.add_parser("create", help="create a token; it is printed once, last line")
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=["admin", "writer", "approver", "auditor"])
    create.add_argument("--expires-in-days", type=float, metavar="DAYS",
                        help="the token stops working this many days from now (recorded)")
    create.add_argument("--principal", metavar="NAME",
                        help="the person or service account holding it (`mlaudit principal "
                        "create`); default: the principal of the token's own name, made as a "
                        "person if missing")
    create.set_defaults(func=cmd_token_create)
    revoke = token.add_parser("revoke", help="revoke a token at once (a token.revoked entry)")
    revoke.add_argument("name")
    revoke.add_argument("--reason", help="why, recorded in the entry")
    revoke.set_defaults(func=cmd_token_revoke)
    blobs = sub.add_parser("artifacts", help="maintain the artifact store").add_subparsers(
        dest="artifacts_command", required=True)
    sweep = blobs.add_parser("sweep", help="remove partial uploads and blobs no entry references "
                             "(what a crash can leave behind)")
    sweep.add_argument("--older-than", type=float, default=3600.0, metavar="SECONDS",
                       help="only files untouched this long (default 3600), so uploads in "
                       "flight elsewhere are left alone")
    sweep.set_defaults(func=cmd_artifacts_sweep)
    key = sub.add_parser("key", help="manage signing keys").add_subparsers(
        dest="key_command", required=True)
    key.add_parser("rotate", help="make a new active signing key").set_defaults(func=cmd_key_rotate)
    verify = sub.add_parser("verify", help="re-hash the whole ledger and check every checkpoint")
    verify.add_argument("--json", action="store_true", help="machine-readable output")
    verify.add_argument("--key", action="append", metavar="KEY_OR_FILE",
                        help="trust only this verifier key (name+id+key, or a file of them) "
                        "for checkpoint signatures, instead of the keys the database publishes")
    verify.add_argument("--against", action="append", metavar="CHECKPOINT_FILE",
                        help="a checkpoint kept outside the database (its note, or the API's "
                        "JSON for it): the database must contain the tree it signs; repeatable")
    verify.add_argument("--origin", help="the origin kept checkpoints must name "
                        "(default: MLAUDIT_LOG_ORIGIN)")
    verify.add_argument("--trust", metavar="FILE", help="the trust file to hold the database "
                        "to (default: $MLAUDIT_HOME/trust.json): its keys are the only ones "
                        "trusted, and the database must extend its kept checkpoint")
    verify.add_argument("--no-trust", action="store_true",
                        help="ignore the trust file (keys from the database or --key)")
    verify.add_argument("--artifacts", action="store_true",
                        help="also re-hash every stored artifact blob against the SHA-256 its "
                             "ledger entry records (reads every blob; names the first damaged "
                             "one)")
    verify.set_defaults(func=cmd_verify)
    export = sub.add_parser("export", help="write the whole ledger (entries, checkpoints, "
                            "public keys) to a directory, for offline verification")
    export.add_argument("--out", required=True, metavar="DIR", help="the export directory")
    export.add_argument("--force", action="store_true",
                        help="write into DIR even if it is not empty")
    export.set_defaults(func=cmd_export)
    held = sub.add_parser("trust", help="the trust file verify holds the database to "
                          "($MLAUDIT_HOME/trust.json)").add_subparsers(dest="trust_command",
                                                                       required=True)
    add_key = held.add_parser("add-key", help="trust a verifier key (e.g. one another host "
                              "rotated to)")
    add_key.add_argument("key", metavar="KEY_OR_FILE", help="a verifier key, or a file of them")
    add_key.add_argument("--trust", metavar="FILE", help="the trust file (default: "
                         "$MLAUDIT_HOME/trust.json)")
    add_key.set_defaults(func=cmd_trust_add_key)
    show = held.add_parser("show", help="print the trust file")
    show.add_argument("--trust", metavar="FILE", help="the trust file (default: "
                      "$MLAUDIT_HOME/trust.json)")
    show.set_defaults(func=cmd_trust_show)
    rebuild = sub.add_parser("rebuild", help="replay a ledger (a database or an export "
                             "directory) into DATABASE_URL's empty database: every projection "
                             "made again by the entry kinds' reducers")
    rebuild.add_argument("--from", dest="source", required=True, metavar="URL_OR_DIR",
                         help="the database URL or export directory to rebuild from")
    rebuild.add_argument("--key", action="append", metavar="KEY_OR_FILE",
                         help="trust only this verifier key (or a file of them) for the "
                         "source's checkpoints, instead of the keys it publishes")
    rebuild.set_defaults(func=cmd_rebuild)
    check = sub.add_parser("verify-export", help="check an export directory with no database "
                           "(runs verifier/mlaudit_verify.py)")
    check.add_argument("dir", metavar="DIR", help="the export directory")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.add_argument("--key", action="append", metavar="KEY_OR_FILE",
                       help="trust only this verifier key (or a file of them) instead of the "
                       "export's keys.txt")
    check.add_argument("--checkpoint", action="append", metavar="NOTE_FILE",
                       help="a checkpoint kept earlier, which the export must agree with")
    check.add_argument("--origin", help="the ledger's origin, obtained independently")
    check.set_defaults(func=cmd_verify_export)
    report = sub.add_parser("verify-report", help="check a PDF report offline: its evidence "
                            "bundle, entries, checkpoint, figures and PAdES signature "
                            "(docs/evidence-bundle.md, docs/report-signatures.md)")
    report.add_argument("file", metavar="FILE", help="the report PDF")
    report.add_argument("--key", action="append", required=True, metavar="KEY_OR_FILE",
                        help="trusted verifier keys: a key, or a file of them (one per line, or "
                        "the JSON of GET /api/v1/ledger/keys)")
    report.add_argument("--previous", metavar="OLDER.pdf",
                        help="an older report: also check that its checkpoint is a prefix")
    report.add_argument("--json", action="store_true", help="machine-readable output")
    report.add_argument("--require-signature", action="store_true",
                        help="fail a report that carries no PAdES signature")
    report.set_defaults(func=cmd_verify_report)
    record = sub.add_parser("record", help="post a whole run (params, metrics, datasets, "
                            "artifacts, environment) from one JSON or YAML file")
    record.add_argument("file", help="the run file; its paths are relative to its directory")
    record.add_argument("--experiment", required=True, help="experiment name (created if missing)")
    record.add_argument("--url", help="server base URL (default: MLAUDIT_URL)")
    record.add_argument("--token", help="writer token (default: MLAUDIT_TOKEN)")
    record.add_argument("--signing-key", metavar="PEM",
                        help="sign every write with this Ed25519 private key (PKCS #8 PEM; "
                        "registered for the token on first use; default: MLAUDIT_SIGNING_KEY)")
    record.add_argument("--json", action="store_true", help="machine-readable output")
    record.set_defaults(func=cmd_record)
    reports = sub.add_parser("report", help="fetch a signed PDF audit report over HTTP "
                             "(MLAUDIT_URL, MLAUDIT_TOKEN of an admin or auditor)")
    reports.add_argument("kind", choices=("model", "run", "experiment"))
    reports.add_argument("subject", help="model name, run id or experiment id")
    reports.add_argument("-o", "--output", required=True, metavar="FILE", help="where to write")
    reports.add_argument("--version", type=int, help="model reports: one version only")
    reports.add_argument("--as-of", dest="as_of", help="model reports: RFC 3339 instant")
    reports.add_argument("--force", action="store_true",
                         help="admin only: report even though ledger verification fails")
    reports.add_argument("--url", help="server base URL (default: MLAUDIT_URL)")
    reports.add_argument("--token", help="admin or auditor token (default: MLAUDIT_TOKEN)")
    reports.set_defaults(func=cmd_report)
    registry_commands.add_commands(sub)
    principal_cli.add_commands(sub)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        config = load_config()
        code: int = args.func(config, args)
        return code
    except LedgerError as exc:
        print(f"mlaudit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
