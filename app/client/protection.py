"""`mlaudit environments declare|list` and `mlaudit models demote`: declared environments and
demotions out of a protected stage or alias, over the REST API."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from app.client.commands import (
    add_common,
    client_command,
    emit,
    quoted,
    receipt_lines,
    table,
)

if TYPE_CHECKING:
    from app.client.commands import Subparsers
    from app.client.http import Client


@client_command
def cmd_declare(client: Client, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"name": args.name, "protected": args.protected}
    if args.reason:
        body["reason"] = args.reason
    done = client.call("POST", "/api/v1/environments", body)
    env = done["environment"]
    word = "protected" if env["protected"] else "unprotected"
    head = (f"environment {env['name']} is already declared {word}; nothing written"
            if done["unchanged"] else f"environment {env['name']}: {word}")
    return emit(args, done, [head, *receipt_lines([done["receipt"]])])


@client_command
def cmd_list(client: Client, args: argparse.Namespace) -> int:
    found = client.call("GET", "/api/v1/environments")
    rows = [(e["name"], "yes" if e["protected"] else "no", e["declared_by"], e["declared_seq"],
             "adopted by the upgrade" if e["adopted"] else None)
            for e in found["environments"]]
    lines = (table(("NAME", "PROTECTED", "DECLARED BY", "SEQ", "NOTE"), rows) if rows else
             ["no environments are declared: mlaudit environments declare NAME --protected"])
    return emit(args, found, lines)


@client_command
def cmd_demote(client: Client, args: argparse.Namespace) -> int:
    body = {"from": args.from_, "to": args.to, "reason": args.reason}
    done = client.call("POST", f"/api/v1/models/{quoted(args.name)}/versions/{args.version}"
                       "/demotions", body)
    lines = [f"{args.name} version {args.version} left {args.from_}",
             *receipt_lines(done["receipts"])]
    return emit(args, done, lines)


def add_commands(sub: Subparsers, models: Subparsers) -> None:
    """`environments ...` on the top-level subparsers, `demote` under `models`."""
    environments = sub.add_parser("environments", help="declared deployment environments "
                                  "(admin)").add_subparsers(dest="environments_command",
                                                            required=True)
    declare = environments.add_parser(
        "declare", help="declare an environment, or change its protection (admin)")
    declare.add_argument("name", metavar="NAME")
    declare.add_argument("--protected", dest="protected", action="store_true", default=True,
                         help="a deployment there needs an approved promotion (the default)")
    declare.add_argument("--unprotected", dest="protected", action="store_false",
                         help="any registered version may be deployed there")
    declare.add_argument("--reason", help="why its protection changes (recorded)")
    add_common(declare, cmd_declare)
    listing = environments.add_parser("list", help="every declared environment")
    add_common(listing, cmd_list)
    demote = models.add_parser("demote", help="move a version out of a protected stage or "
                               "alias, with the reason")
    demote.add_argument("name", metavar="NAME")
    demote.add_argument("version", metavar="VERSION", type=int)
    demote.add_argument("--from", dest="from_", required=True, metavar="STAGE_OR_@ALIAS",
                        help="the protected stage or @alias it leaves")
    demote.add_argument("--to", default="Archived", help="the stage it moves to (default "
                        "Archived; stage demotions only)")
    demote.add_argument("--reason", required=True)
    add_common(demote, cmd_demote)
