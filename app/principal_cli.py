"""`mlaudit principal create|list`: people and service accounts, each a ledger entry."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from app.config import Config

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


def cmd_principal_create(config: Config, args: argparse.Namespace) -> int:
    from app import db
    from app.cli import cli_actor
    from app.services import tokens
    from app.services.ledger import ledger_transaction

    url = db.database_url(config)
    db.ensure_schema(url, config.protected_environments)
    with db.connect(url) as conn, ledger_transaction(conn) as writer:
        _, receipt = tokens.create_principal(writer, args.name, args.display_name, args.kind,
                                             cli_actor())
    print(f"created {args.kind} {args.name!r} ({args.display_name.strip()}) in ledger entry "
          f"{receipt.seq}; give it tokens with `mlaudit token create --name TOKEN --role ROLE "
          f"--principal {args.name}`", file=sys.stderr)
    return 0


def cmd_principal_list(config: Config, args: argparse.Namespace) -> int:
    from app import db
    from app.storage import tokens as store

    url = db.database_url(config)
    db.ensure_schema(url, config.protected_environments)
    with db.connect(url) as conn:
        found = store.list_principals(conn)
    print(f"{'NAME':<24} {'KIND':<8} {'SEQ':>6}  DISPLAY NAME / TOKENS")
    for row, names in found:
        print(f"{row.name:<24} {row.kind:<8} {row.seq:>6}  {row.display_name}")
        print(f"{'':<41}tokens: {', '.join(names) or '(none)'}")
    return 0


def add_commands(sub: Subparsers) -> None:
    principal = sub.add_parser(
        "principal", help="manage people and service accounts (separation of duties compares "
        "them, never tokens)").add_subparsers(dest="principal_command", required=True)
    create = principal.add_parser("create", help="create a person or a service account")
    create.add_argument("name", help="unique name: letters, digits, . _ @ -")
    create.add_argument("--display-name", required=True,
                        help="the printed name reports and signatures show (21 CFR 11.50)")
    create.add_argument("--kind", choices=["person", "service"], default="person",
                        help="only a person may approve or reject a promotion (default person)")
    create.set_defaults(func=cmd_principal_create)
    principal.add_parser("list", help="every principal with its tokens"
                         ).set_defaults(func=cmd_principal_list)
