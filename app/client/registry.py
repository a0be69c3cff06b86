"""`mlaudit models`, `deployments`, `deploy` and `rollback`: the model registry's REST API on
the command line."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any
from urllib import parse

from app.client import protection
from app.client.commands import (
    RegistryCliError,
    add_common,
    client_command,
    emit,
    pairs,
    quoted,
    receipt_lines,
    table,
)
from app.client.http import ApiProblem, Client
from app.ledger.strict_json import strict_loads
from app.tracking.limits import IMAGE_DIGEST

if TYPE_CHECKING:
    from app.client.commands import Subparsers

REFUSED = 1


def gates_word(gates: dict[str, Any]) -> str:
    """'no policy set' when none applied (entries before issue 16 said passed: true then)."""
    if gates.get("policy_seq") is None:
        return "no policy set"
    results = gates.get("results") or []
    if not results:
        return "passed (the policy has no gates)" if gates.get("passed") else "failed"
    failed = sum(1 for r in results if not r["passed"])
    return f"failed ({failed} of {len(results)})" if failed else f"passed ({len(results)})"


# -- models pending / show -------------------------------------------------------------------

@client_command
def cmd_pending(client: Client, args: argparse.Namespace) -> int:
    query = {"status": "pending", **({"model": args.model} if args.model else {})}
    found = client.call("GET", f"/api/v1/promotions?{parse.urlencode(query)}")
    rows = [(p["id"], p["model"], p["version"], p["target"], p["requested_by"],
             gates_word(p["gates"])) for p in found["promotions"]]
    lines = table(("ID", "MODEL", "VERSION", "TARGET", "REQUESTED BY", "GATES"), rows) if rows \
        else ["no pending promotions"]
    return emit(args, found, lines)


def group_figures(client: Client, name: str, version: int) -> tuple[str, list[dict[str, Any]]]:
    """Per-group summaries for the version's run: each grouped metric by each sensitive
    attribute of the model (pairs without values grouped by exactly that attribute are skipped)."""
    run_id = str(client.call("GET", f"/api/v1/models/{quoted(name)}/versions/{version}")["run_id"])
    attributes = client.call("GET", f"/api/v1/models/{quoted(name)}")["sensitive_attributes"]
    run = client.call("GET", f"/api/v1/runs/{quoted(run_id)}")
    keys = sorted({m["key"] for m in run["metrics"] if m.get("group")})
    summaries = []
    for key in keys:
        for attribute in attributes:
            path = (f"/api/v1/runs/{quoted(run_id)}/metrics/{parse.quote(key)}/groups?"
                    + parse.urlencode({"attribute": attribute}))
            try:
                summaries.append(client.call("GET", path))
            except ApiProblem as exc:
                if exc.status != 404:
                    raise
    return run_id, summaries


def promotion_lines(p: dict[str, Any]) -> list[str]:
    gates = p["gates"]
    policy = (f"; policy seq {gates['policy_seq']} set by {gates.get('policy_set_by')}"
              if gates.get("policy_seq") is not None else "")
    lines = pairs([
        ("promotion", p["id"]), ("model", f"{p['model']} version {p['version']}"),
        ("target", p["target"]), ("status", p["status"]),
        ("requested by", p["requested_by"]), ("justification", p["justification"]),
        ("classification", p["classification"]), ("gates", f"{gates_word(gates)}{policy}")])
    gate_rows = [("pass" if r["passed"] else "FAIL", r["gate"], r["detail"])
                 for r in gates.get("results") or []]
    if gate_rows:
        lines += ["", *table(("", "GATE", "DETAIL"), gate_rows, "  ")]
    decisions = [(d["seq"], d["approver"], d["role"], d["outcome"], d["comment"],
                  (d.get("exception") or {}).get("justification"))
                 for d in p.get("decisions") or []]
    lines += ["", "decisions:" if decisions else "decisions: none"]
    if decisions:
        lines += table(("SEQ", "BY", "ROLE", "OUTCOME", "COMMENT", "EXCEPTION"), decisions, "  ")
    return lines


def summary_lines(summary: dict[str, Any]) -> list[str]:
    head = (f"{summary['key']} by {summary['attribute']}: reference {summary['reference']} "
            f"({summary['reference_rule']}); min/max ratio {summary['min_max_ratio']}; "
            f"max difference {summary['max_difference']}; band {'-'.join(summary['band'])}")
    rows = [(g["group"], g["value"], g["n"], g["ratio"], g["difference"],
             ", ".join(g["flags"]) or None) for g in summary["groups"]]
    notes = [f"    note: {note}" for note in summary.get("notes") or []]
    return ["  " + head, *table(("GROUP", "VALUE", "N", "RATIO", "DIFFERENCE", "FLAGS"), rows,
                                "    "), *notes]


@client_command
def cmd_show(client: Client, args: argparse.Namespace) -> int:
    promotion = client.call("GET", f"/api/v1/promotions/{quoted(args.promotion_id)}")
    run_id, summaries = group_figures(client, promotion["model"], promotion["version"])
    lines = [*promotion_lines(promotion), "", f"per-group figures (run {run_id}):"]
    for summary in summaries:
        lines += summary_lines(summary)
    if not summaries:
        lines.append("  none: no grouped metric by a sensitive attribute of the model")
    return emit(args, {"promotion": promotion, "run_id": run_id, "group_figures": summaries},
                 lines)


# -- models approve / reject -----------------------------------------------------------------

@client_command
def cmd_decide(client: Client, args: argparse.Namespace) -> int:
    """A refusal (403) is one line and exit 1; a refused decision is still in the ledger."""
    body: dict[str, Any] = {"decision": args.decision, "comment": args.comment}
    if getattr(args, "exception", None):
        body["exception"] = {"justification": args.exception}
    try:
        done = client.call("POST", f"/api/v1/promotions/{quoted(args.promotion_id)}/decisions",
                           body)
    except ApiProblem as exc:
        if exc.status != 403:
            raise
        reason = str(exc).partition(": ")[2] or str(exc)
        print(f"mlaudit: error: decision refused: {reason}", file=sys.stderr)
        return REFUSED
    lines = [f"promotion {args.promotion_id}: {done['status']}", *receipt_lines(done["receipts"])]
    return emit(args, {"promotion_id": args.promotion_id, **done}, lines)


# -- models request-promotion / withdraw ------------------------------------------------------

@client_command
def cmd_request_promotion(client: Client, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"target": args.target, "justification": args.justification}
    if args.classification:
        body["classification"] = args.classification
    done = client.call("POST", f"/api/v1/models/{quoted(args.name)}/versions/{args.version}"
                       "/promotions", body)
    p = done["promotion"]
    lines = [f"promotion {p['id']}: {p['status']}, {p['model']} version {p['version']} to "
             f"{p['target']}", f"  gates  {gates_word(p['gates'])}",
             *receipt_lines([done["receipt"]])]
    return emit(args, done, lines)


@client_command
def cmd_withdraw(client: Client, args: argparse.Namespace) -> int:
    """Only the requester (or an admin) may withdraw, and only while the promotion is pending."""
    done = client.call("POST", f"/api/v1/promotions/{quoted(args.promotion_id)}/withdraw", {})
    lines = [f"promotion {args.promotion_id}: withdrawn", *receipt_lines([done["receipt"]])]
    return emit(args, {"promotion_id": args.promotion_id, "status": "withdrawn", **done}, lines)


# -- deployments -----------------------------------------------------------------------------

def deployment_lines(d: dict[str, Any]) -> list[str]:
    target = ", ".join(f"{k}={v}" for k, v in sorted(d["target"].items())) or None
    return [f"deployment {d['id']}: {d['model']} version {d['version']} in {d['environment']}",
            *pairs([("deployer", d["deployer"]), ("deployed at", d["deployed_at"]),
                    ("promotion", d["promotion_id"]), ("target", target),
                    ("rollback of", d["rollback_of"]), ("reason", d["reason"])], "  ")]


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
AT_HELP = ("YYYY-MM-DD (the end of that day, UTC: after that day's deployments) or an RFC 3339 "
           "instant such as 2026-03-01T12:00:00Z (default: now)")


def instant(text: str) -> str:
    """--at as the RFC 3339 instant the server takes: a bare date means the last microsecond
    of that day in UTC, so "what was live on 1 March" counts every deployment made that day."""
    try:
        if _DATE.fullmatch(text):
            return datetime.combine(date.fromisoformat(text), time.max, UTC).isoformat()
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None or not re.search(r"[Tt ][0-9]{2}:", text):
        raise RegistryCliError(f"--at {text!r} is neither a date (YYYY-MM-DD) nor an RFC 3339 "
                               "instant with its offset (2026-03-01T12:00:00Z)")
    return parsed.isoformat()


@client_command
def cmd_deployed(client: Client, args: argparse.Namespace) -> int:
    """That nothing was live then is an answer (exit 0); only a missing model is an error."""
    query = {"environment": args.environment, **({"at": instant(args.at)} if args.at else {})}
    found = client.call("GET", f"/api/v1/models/{quoted(args.name)}/deployed?"
                        + parse.urlencode(query))
    if found["version"] is None:
        return emit(args, found, [f"no version of {args.name} was live in "
                                   f"{found['environment']} at {found['at']}"])
    promotion = found.get("promotion")
    lines = [f"{args.name} version {found['version']} was live in {found['environment']} at "
             f"{found['at']}", *deployment_lines(found["deployment"])]
    if promotion:
        lines.append(f"  approved by promotion {promotion['id']} ({promotion['status']}; "
                     f"{len(promotion.get('decisions') or [])} decision(s))")
    return emit(args, found, lines)


def _target(args: argparse.Namespace) -> dict[str, str]:
    if args.image_digest and not IMAGE_DIGEST.fullmatch(args.image_digest):
        raise RegistryCliError("--image-digest must be sha256:<64 lowercase hex digits>")
    pairs = (("endpoint", args.endpoint), ("image_digest", args.image_digest))
    return {key: value for key, value in pairs if value}


@client_command
def cmd_deploy(client: Client, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"version": args.version, "environment": args.environment,
                            "target": _target(args)}
    if args.promotion:
        body["promotion_id"] = args.promotion
    done = client.call("POST", f"/api/v1/models/{quoted(args.name)}/deployments", body)
    return emit(args, done, [*deployment_lines(done["deployment"]),
                              *receipt_lines([done["receipt"]])])


@client_command
def cmd_rollback(client: Client, args: argparse.Namespace) -> int:
    body = {"version": args.version, "environment": args.environment, "reason": args.reason}
    done = client.call("POST", f"/api/v1/models/{quoted(args.name)}/rollbacks", body)
    return emit(args, done, [*deployment_lines(done["deployment"]),
                              *receipt_lines([done["receipt"], *done.get("registry", [])])])


@client_command
def cmd_deployments(client: Client, args: argparse.Namespace) -> int:
    """Every deployment and rollback of a model, oldest first, with the promotion it cites."""
    query = f"?{parse.urlencode({'environment': args.environment})}" if args.environment else ""
    found = client.call("GET", f"/api/v1/models/{quoted(args.name)}/deployments{query}")
    version_of = {d["id"]: d["version"] for d in found["deployments"]}
    rows = [(d["seq"], d["deployed_at"], d["environment"], d["version"],
             f"rollback from {version_of.get(d['rollback_of'], '?')}" if d["rollback_of"]
             else "deploy", d["deployer"], d["promotion_id"], d["reason"])
            for d in found["deployments"]]
    where = f" in {args.environment}" if args.environment else ""
    lines = table(("SEQ", "WHEN", "ENVIRONMENT", "VERSION", "ACTION", "BY", "PROMOTION",
                   "REASON"), rows) if rows else [f"no deployments of {args.name}{where}"]
    return emit(args, found, lines)


# -- models set-policy / set-sensitive-attributes / set-protected (issue 16) -------------------

def read_policy(path: str) -> Any:
    """The policy file's JSON, its numbers kept as the decimal text written (never a float)."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = strict_loads(handle.read())
    except OSError as exc:
        raise RegistryCliError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise RegistryCliError(f"{path} is not JSON: {exc}") from exc
    if isinstance(document, dict) and set(document) == {"policy"}:
        document = document["policy"]  # the PUT body itself is accepted too
    if not isinstance(document, dict):
        raise RegistryCliError(f"{path} must hold a JSON object (see docs/policies.md)")
    return document


@client_command
def cmd_set_policy(client: Client, args: argparse.Namespace) -> int:
    done = client.call("PUT", f"/api/v1/models/{quoted(args.name)}/policy",
                       {"policy": read_policy(args.file)})
    lines = [f"policy of {args.name} set", *receipt_lines([done["receipt"]])]
    return emit(args, done, lines)


def _set_list(client: Client, args: argparse.Namespace, what: str, field: str) -> int:
    done = client.call("PUT", f"/api/v1/models/{quoted(args.name)}/{what}",
                       {field: list(args.values)})
    state = "unchanged" if done["unchanged"] else "set"
    lines = [f"{what.replace('-', ' ')} of {args.name} {state}: "
             f"{', '.join(done[field]) or 'none'}", *receipt_lines([done["receipt"]])]
    return emit(args, done, lines)


@client_command
def cmd_set_sensitive_attributes(client: Client, args: argparse.Namespace) -> int:
    return _set_list(client, args, "sensitive-attributes", "sensitive_attributes")


@client_command
def cmd_set_protected(client: Client, args: argparse.Namespace) -> int:
    return _set_list(client, args, "protected-targets", "protected_targets")


def add_model_settings(models: Subparsers) -> None:
    """`models set-policy`, `set-sensitive-attributes` and `set-protected`."""
    policy = models.add_parser("set-policy", help="set a model's promotion gate policy from a "
                               "JSON file (admin; the format is docs/policies.md)")
    policy.add_argument("name", metavar="NAME")
    policy.add_argument("--file", required=True, metavar="POLICY.json")
    add_common(policy, cmd_set_policy)
    attributes = models.add_parser("set-sensitive-attributes", help="the attributes a model's "
                                   "per-group metrics and gates use (writers may add; "
                                   "removing one needs an admin)")
    attributes.add_argument("name", metavar="NAME")
    attributes.add_argument("values", metavar="ATTRIBUTE", nargs="*")
    add_common(attributes, cmd_set_sensitive_attributes)
    protected = models.add_parser("set-protected", help="the stages and @aliases that need an "
                                  "approved promotion, e.g. Production @champion @prod "
                                  "(writers may add; removing one needs an admin)")
    protected.add_argument("name", metavar="NAME")
    protected.add_argument("values", metavar="TARGET", nargs="*")
    add_common(protected, cmd_set_protected)


# -- the parsers -----------------------------------------------------------------------------

def _decision_parser(models: Subparsers, decision: str, help_text: str) -> argparse.ArgumentParser:
    command = models.add_parser(decision, help=help_text)
    command.add_argument("promotion_id", metavar="PROMOTION_ID")
    command.add_argument("--comment", required=True, help="the meaning of this decision")
    add_common(command, cmd_decide, decision=decision)
    return command


def add_models(sub: Subparsers) -> Subparsers:
    models = sub.add_parser("models", help="promotions: request, withdraw, review, decide; "
                            "what was live when").add_subparsers(dest="models_command",
                                                                 required=True)
    pending = models.add_parser("pending", help="list pending promotions")
    pending.add_argument("--model", help="only this model's promotions")
    add_common(pending, cmd_pending)
    show = models.add_parser("show", help="a promotion, its gate results, decisions and "
                             "per-group figures of the version's run")
    show.add_argument("promotion_id", metavar="PROMOTION_ID")
    add_common(show, cmd_show)
    approve = _decision_parser(models, "approve", "approve a promotion (approver or admin)")
    approve.add_argument("--exception", metavar="JUSTIFICATION",
                         help="approve despite failing gates, recording this justification")
    _decision_parser(models, "reject", "reject a promotion (approver or admin)")
    request = models.add_parser("request-promotion", help="ask for a version to reach a "
                                "protected stage or alias (writer or admin)")
    request.add_argument("name", metavar="NAME")
    request.add_argument("version", metavar="VERSION", type=int)
    request.add_argument("--target", required=True,
                         help="a stage (Production) or an alias (@champion)")
    request.add_argument("--justification", required=True, help="why this version, in words")
    request.add_argument("--classification", choices=("material", "non-material"),
                         help="how material the change is; recorded with the request")
    add_common(request, cmd_request_promotion)
    withdraw = models.add_parser("withdraw", help="withdraw a pending promotion (its "
                                 "requester or an admin)")
    withdraw.add_argument("promotion_id", metavar="PROMOTION_ID")
    add_common(withdraw, cmd_withdraw)
    deployed = models.add_parser("deployed", help="which version was live in an environment")
    deployed.add_argument("name", metavar="NAME")
    deployed.add_argument("--environment", required=True)
    deployed.add_argument("--at", metavar="DATE_OR_RFC3339", help=AT_HELP)
    add_common(deployed, cmd_deployed)
    add_model_settings(models)
    return models


def add_deployments(sub: Subparsers) -> None:
    deployments = sub.add_parser("deployments", help="a model's deployment history").add_subparsers(
        dest="deployments_command", required=True)
    listed = deployments.add_parser("list", help="every deployment and rollback of a model: "
                                    "version, environment, who, when, the promotion it cites")
    listed.add_argument("name", metavar="MODEL")
    listed.add_argument("--environment", help="only this environment")
    add_common(listed, cmd_deployments)


def add_commands(sub: Subparsers) -> None:
    """`models ...`, `deployments ...`, `environments ...`, `deploy` and `rollback` on the
    top-level subparsers."""
    protection.add_commands(sub, add_models(sub))
    add_deployments(sub)
    deploy = sub.add_parser("deploy", help="record a deployment of a model version")
    deploy.add_argument("name", metavar="NAME")
    deploy.add_argument("--version", type=int, required=True)
    deploy.add_argument("--environment", required=True)
    deploy.add_argument("--promotion", metavar="ID", help="the approved promotion it rests on")
    deploy.add_argument("--endpoint", metavar="URL")
    deploy.add_argument("--image-digest", metavar="sha256:...")
    add_common(deploy, cmd_deploy)
    rollback = sub.add_parser("rollback", help="redeploy an earlier, approved version")
    rollback.add_argument("name", metavar="NAME")
    rollback.add_argument("--version", type=int, required=True)
    rollback.add_argument("--environment", required=True)
    rollback.add_argument("--reason", required=True)
    add_common(rollback, cmd_rollback)

