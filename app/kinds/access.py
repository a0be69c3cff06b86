"""Kinds of the ledger's own keys, API tokens, grants, client keys and issued reports."""

from __future__ import annotations

import base64
import binascii

from app.kinds.core import (
    BOOL,
    DEC,
    OBJ,
    STR,
    Entry,
    Field,
    Kind,
    ReduceError,
    Rows,
    State,
    instant,
    integer,
    strings,
)
from app.ledger.checkpoint import CheckpointError, VerifierKey


def _key_activated(entry: Entry, state: State) -> Rows:
    try:
        key = VerifierKey.from_string(entry.body["verifier_key"])
    except CheckpointError as exc:
        raise ReduceError(f"key.activated names no verifier key: {exc}") from exc
    return [("signing_keys", [(key.to_string(), key.name, key.key_id, key.public_key,
                               instant(entry.recorded_at), entry.seq)])]


def _token_created(entry: Entry, state: State) -> Rows:
    body = entry.body
    try:
        digest = bytes.fromhex(body["token_sha256"])
    except ValueError as exc:
        raise ReduceError("token_sha256 is not hex") from exc
    expires = body.get("expires_at")
    made: Rows = [("tokens", [(entry.subject["token"], body["name"], body["role"], digest,
                               instant(entry.recorded_at), entry.seq,
                               None if expires is None else instant(expires))])]
    if "principal" in body:  # tokens made before principals are assigned one later
        made.append(("token_principals", [(entry.subject["token"], body["principal"],
                                           entry.seq)]))
    return made


def _principal_created(entry: Entry, state: State) -> Rows:
    body = entry.body
    if body["kind"] not in PRINCIPAL_KINDS:
        raise ReduceError(f"principal kind must be one of {', '.join(PRINCIPAL_KINDS)}")
    return [("principals", [(entry.subject["principal"], body["name"], body["display_name"],
                             body["kind"], instant(entry.recorded_at), entry.seq)])]


def _token_assigned(entry: Entry, state: State) -> Rows:
    return [("token_principals", [(entry.subject["token"], entry.subject["principal"],
                                   entry.seq)])]


def _rules_adopted(entry: Entry, state: State) -> Rows:
    names = sorted(strings(entry.body["rules"], "rules"))  # rows of one seq, by key
    unknown = [name for name in names if name not in RULES]
    if unknown or not names:
        raise ReduceError(f"rules.adopted names no rule or unknown rules {unknown}")
    return [("rules_adopted", [(name, entry.seq) for name in names])]


def _token_revoked(entry: Entry, state: State) -> Rows:
    return [("token_revocations", [(entry.subject["token"], instant(entry.recorded_at),
                                    entry.seq)])]


def _grant(granted: bool):  # type: ignore[no-untyped-def]
    def reduce(entry: Entry, state: State) -> Rows:
        return [("grant_events", [(entry.subject["token"], entry.subject["experiment"],
                                   granted, entry.seq)])]
    return reduce


def _client_key(entry: Entry, state: State) -> Rows:
    try:
        public_key = base64.b64decode(entry.body["public_key"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ReduceError("public_key is not base64") from exc
    return [("client_keys", [(entry.subject["key"], entry.subject["token"], public_key,
                              entry.seq)])]


def _report_issued(entry: Entry, state: State) -> Rows:
    body = entry.body
    return [("reports_issued", [(entry.subject["report"], body["kind"], body["subject"],
                                 body["bundle_sha256"], body["pdf_sha256"],
                                 integer(body["tree_size"], "tree_size"), body["issued_to"],
                                 entry.seq, instant(entry.recorded_at))])]



PRINCIPAL_KINDS = ("person", "service")


def actor_of(token_name: str, principal_name: str | None) -> str:
    """An API caller's actor: `token:<token>`, then ` principal:<name>` when the token's
    principal has another name (docs/ledger-format.md)."""
    if principal_name is None or principal_name == token_name:
        return f"token:{token_name}"
    return f"token:{token_name} principal:{principal_name}"


def token_name_of(actor: str) -> str | None:
    """The token an actor names (as actor_of writes it), or None for `cli:`/`system`."""
    if not actor.startswith("token:"):
        return None
    return actor.removeprefix("token:").split(" ", 1)[0]

# Rules a database adopts once, by a rules.adopted entry, and enforces on entries after it.
RULES = {"protected-names-ignore-case": (
    "protected stage and alias names compare ignoring ASCII case, and a protected name is "
    "judged by the model's protected set as of the entry"),
    "approvals-spent-on-leaving": (
    "an approved promotion takes its version to the protected target once: after the version "
    "left it (a demotion, a rollback), returning needs a new approval, or a rollback in a "
    "protected environment that restores it")}

KINDS = (
    Kind("principal.created", ("principal",),
         (Field("name", STR), Field("display_name", STR), Field("kind", STR)),
         _principal_created,
         "`name` (unique, as in `token:<token> principal:<name>` actors), `display_name` (the "
         "printed name reports and signatures show), `kind` (`person` or `service`; only a "
         "person may approve)", ("principals",)),
    Kind("token.assigned", ("token", "principal"),
         (Field("token_name", STR), Field("principal_name", STR)), _token_assigned,
         "`token_name`, `principal_name`: a token made before principals existed now belongs "
         "to this principal (written once per such token when a database is upgraded)",
         ("token_principals",)),
    Kind("rules.adopted", (), (Field("rules", OBJ),), _rules_adopted,
         "`rules`: each rule adopted, by name (e.g. `protected-names-ignore-case`), with its "
         "description. Written at the first start of a version that enforces rules the "
         "database has not adopted yet; the database enforces each on every later entry",
         ("rules_adopted",)),
    Kind("key.activated", ("key",), (Field("verifier_key", STR),), _key_activated,
         "`verifier_key`: the C2SP verifier key string of the new active signing key "
         "(subject `key`: its 8-hex-digit key id)", ("signing_keys",)),
    Kind("token.created", ("token",),
         (Field("name", STR), Field("role", STR), Field("token_sha256", STR),
          Field("expires_at", STR, optional=True), Field("principal", STR, optional=True),
          Field("principal_name", STR, optional=True)), _token_created,
         "`name`, `role`, `token_sha256` (hex SHA-256 of the secret); `expires_at` (RFC 3339 "
         "UTC, as `recorded_at`) only when the token expires; `principal` (id) and "
         "`principal_name` of the person or service account holding it (absent only in "
         "tokens made before principals existed)", ("tokens", "token_principals")),
    Kind("token.revoked", ("token",), (Field("name", STR), Field("reason", STR, optional=True)),
         _token_revoked,
         "`name`; `reason` only when one was given. From this entry on, the token "
         "authenticates nothing", ("token_revocations",)),
    Kind("grant.created", ("token", "experiment"), (Field("token_name", STR),), _grant(True),
         "`token_name`: the token is scoped to the experiment", ("grant_events",)),
    Kind("grant.revoked", ("token", "experiment"), (Field("token_name", STR),), _grant(False),
         "`token_name`: the grant is withdrawn", ("grant_events",)),
    Kind("client_key.registered", ("token", "key"), (Field("public_key", STR),), _client_key,
         "`public_key` (base64 of 32 bytes); subject `key` is its 16-hex-digit id",
         ("client_keys",)),
    Kind("report.issued", ("report",),
         (Field("kind", STR), Field("subject", STR), Field("bundle_sha256", STR),
          Field("pdf_sha256", STR), Field("tree_size", DEC), Field("root_hash", STR),
          Field("issued_to", STR), Field("forced", BOOL)), _report_issued,
         "`kind` (`model`, `run`, `experiment`), `subject`, `bundle_sha256`, `pdf_sha256`, "
         "`tree_size` and `root_hash` (base64) of the checkpoint its proofs lead to, "
         "`issued_to`, `forced` (generated despite a failed verification)",
         ("reports_issued",)),
)
