"""What every client command shares: its client from --url and --token, one line per error,
JSON or aligned text out."""

from __future__ import annotations

import argparse
import functools
import json
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib import parse

from app.client.http import Client, RecordError
from app.ledger.errors import LedgerError

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

Command = Callable[[Any, argparse.Namespace], int]


class RegistryCliError(LedgerError):
    """A client command cannot run (its arguments or the server's answer are unusable)."""


def client_of(args: argparse.Namespace) -> Client:
    """The client --url and --token (or MLAUDIT_URL and MLAUDIT_TOKEN) name."""
    url = args.url or os.environ.get("MLAUDIT_URL")
    token = args.token or os.environ.get("MLAUDIT_TOKEN")
    if not url:
        raise RecordError("MLAUDIT_URL is not set (or pass --url)")
    if not token:
        raise RecordError("MLAUDIT_TOKEN is not set (or pass --token)")
    return Client(url, token)


def quoted(text: str) -> str:
    """One path segment of a URL: every reserved character escaped, '/' included."""
    return parse.quote(text, safe="")


def client_command(fn: Callable[[Client, argparse.Namespace], int]) -> Command:
    """Give the command its client; a response missing a field is one line, not a traceback."""
    @functools.wraps(fn)
    def run(config: Any, args: argparse.Namespace) -> int:
        client = client_of(args)
        try:
            return fn(client, args)
        except (KeyError, TypeError, AttributeError) as exc:
            raise RegistryCliError(f"unexpected response from {client.base}: {exc!r}") from exc
    return run


def emit(args: argparse.Namespace, data: dict[str, Any], lines: list[str]) -> int:
    """The answer as JSON with --json, else the lines."""
    print(json.dumps(data) if args.json else "\n".join(lines))
    return 0


def add_common(command: argparse.ArgumentParser, func: Command, **defaults: Any) -> None:
    """--url, --token and --json, and the function the command runs."""
    command.add_argument("--url", help="server base URL (default: MLAUDIT_URL)")
    command.add_argument("--token", help="API token (default: MLAUDIT_TOKEN)")
    command.add_argument("--json", action="store_true", help="machine-readable output")
    command.set_defaults(func=func, **defaults)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], indent: str = "") -> list[str]:
    """Columns padded to their widest cell; None prints as '-'."""
    cells = [list(headers)] + [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return [indent + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            for row in cells]


def pairs(rows: Sequence[tuple[str, Any]], indent: str = "") -> list[str]:
    """Label and value, the values aligned."""
    return table(("", ""), rows, indent)[1:]


def receipt_lines(receipts: Sequence[dict[str, Any] | None]) -> list[str]:
    """The same receipt line as `mlaudit record`."""
    return [f"seq {r['seq']}  {r['kind']}  leaf {r['leaf_hash']}" for r in receipts if r]
