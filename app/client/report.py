"""`mlaudit report`: fetch a signed PDF audit report over HTTP, write it, print its digests."""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Any
from urllib import error, parse, request

from app.client.commands import client_of
from app.client.http import TIMEOUT, ApiProblem, Client, RecordError, problem_text


def report_path(args: argparse.Namespace) -> str:
    """The report's URL path and query, from the command's arguments."""
    query: dict[str, str] = {}
    if args.kind == "model":
        path = f"/api/v1/reports/models/{parse.quote(args.subject, safe='')}.pdf"
        if args.version is not None:
            query["version"] = str(args.version)
        if args.as_of:
            query["as_of"] = args.as_of
    else:
        path = f"/api/v1/reports/{args.kind}s/{parse.quote(args.subject, safe='')}.pdf"
    if args.force:
        query["force"] = "true"
    return path + (f"?{parse.urlencode(query)}" if query else "")


def fetch(client: Client, path: str) -> tuple[bytes, str]:
    """The PDF at `path` and the evidence bundle's SHA-256 the server states for it."""
    headers = {**client.headers("application/json"), "Accept": "application/pdf"}
    sent = request.Request(client.base + path, method="GET", headers=headers)
    try:
        with request.urlopen(sent, timeout=TIMEOUT) as response:
            return response.read(), response.headers.get("X-Evidence-SHA256", "")
    except error.HTTPError as exc:
        raise ApiProblem(exc.code, problem_text(exc)) from exc
    except (error.URLError, OSError) as exc:
        raise RecordError(f"cannot fetch the report from {client.base}: {exc}") from exc


def cmd_report(config: Any, args: argparse.Namespace) -> int:
    """Fetch the report (like `record`, over HTTP), write it, print its path and digests."""
    pdf, evidence = fetch(client_of(args), report_path(args))
    out = Path(args.output)
    out.write_bytes(pdf)
    print(out)
    print(f"evidence sha256 {evidence}")
    print(f"pdf sha256      {hashlib.sha256(pdf).hexdigest()}")
    return 0
