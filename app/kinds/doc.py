"""docs/entry-kinds.md, generated from the registry (a test holds the file equal to it).

    python -m app.kinds.doc --write
"""

from __future__ import annotations

import sys
from pathlib import Path

from app.kinds import KINDS, TABLES
from app.kinds.core import EVENT, FACT, MATERIALIZED, REVISION, STORE, Kind

DOC = Path(__file__).resolve().parents[2] / "docs" / "entry-kinds.md"

HEAD = """# Entry kinds

Every fact mlaudit records is one ledger entry (format: [ledger-format.md](ledger-format.md)).
This page lists the `kind`s the service writes, with their `subject` ids, their `body` members
and the projection rows each makes, so that a verifier can rebuild every table from the ledger
alone. It is generated from the registry in `app/kinds/` (`python -m app.kinds.doc --write`),
where each kind is declared once with the pure reducer that the write path, `mlaudit verify`,
`mlaudit rebuild` and the reports all use; `tests/kinds/test_registry.py` holds this page
equal to it.

Numbers that may exceed 2^53 (steps, timestamps, sizes, counts) are decimal strings; metric
values are the decimal text that was sent (`"NaN"`, `"Infinity"` and `"-Infinity"`
included). Timestamps in bodies are milliseconds since the Unix epoch, as strings.

When a request carries a verified client signature (`MLaudit-Signature` header), every entry it
makes has `body.client_signature = {"scheme", "key_id", "sig", "method", "target", "timestamp",
"body_sha256"}`: `scheme` is `mlaudit-request-signature/v1`, then the signing key's id, the
base64 Ed25519 signature, and every field of the bytes it signs, so that it verifies from the
ledger alone with the key's `client_key.registered` entry (ledger-format.md, "Client request
signatures"). Entries written before issue 16 hold `{"key_id", "sig", "request_sha256"}`
instead: a signature over the RFC 8785 request body, whose SHA-256 that is.

A kind this page does not list makes no rows (tests and later versions may write others); an
entry of a listed kind whose subject or body does not have the members below, of the types
below, is reported by `mlaudit verify` as `projection_mismatch` (the entry is invalid).
"""

TAIL = """
## The tables

Every table but the ledger's own (`ledger_entries`, `ledger_head`, `checkpoints`,
`mlaudit_schema`) and the replay cache of client signatures (`request_signatures_seen`, outside
the projection set: it states no fact, confers no authority, and forgets signatures once they
are out of the replay window) is one of these; `mlaudit verify` checks every row and column of
each, and `tests/test_projection_coverage.py` fails for a table schema.sql has and this
registry does not.

| table | what it is | made by |
| --- | --- | --- |
{tables}

- **fact**: one row per thing an entry says, never changed (UPDATE, DELETE and TRUNCATE are
  refused by the database). Verify replays every entry and compares the rows it makes with the
  rows stored under its seq.
- **revision**: the whole row of an entity as an entry makes or changes it, never changed.
- **event**: a key set to a value, or removed (the `present` column null, or false), never
  changed.
- **current**: the latest revision of each entity, or the latest value of each key, kept by
  the database's triggers from the table named (the service's role may only read it, and any
  other change is refused). Verify compares it with the replay's current rows.
- **store**: content-addressed bytes that entries name by SHA-256 (the artifact envelopes);
  verify checks each is under its own digest and that every artifact's envelope is there.

The service's artifact statement is an in-toto Statement v1 (`subject: [{name: path, digest:
{sha256}}]`, predicate type `https://mlaudit.dev/artifact-record/v1`) in a DSSE envelope signed
with the ledger's active Ed25519 key; the envelope's `keyid` is that key's verifier key string,
as published at `/api/v1/ledger/keys`.

A later version may add kinds; it never changes the meaning of an existing one. A change to the
fields of an existing kind would get a new kind name.
"""

_ROLES = {FACT: "fact", REVISION: "revision", EVENT: "event", MATERIALIZED: "current",
          STORE: "store"}


def _fields(kind: Kind) -> str:
    if not kind.body:
        return "(empty)"
    return ", ".join(f"`{f.name}`{'?' if f.optional else ''}: {f.type}" for f in kind.body)


def _subject(kind: Kind) -> str:
    ids = [f"`{s}`" for s in kind.subject] + [f"`{s}`?" for s in kind.optional_subject]
    return ", ".join(ids) or "(none)"


def markdown() -> str:
    rows = ["| kind | subject | body | rows | meaning |", "| --- | --- | --- | --- | --- |"]
    for kind in KINDS.values():
        made = ", ".join(f"`{t}`" for t in kind.tables) or "(none)"
        rows.append(f"| `{kind.name}` | {_subject(kind)} | {_fields(kind)} | {made} | "
                    f"{kind.doc} |")
    made_by: dict[str, list[str]] = {}
    for kind in KINDS.values():
        for table in kind.tables:
            made_by.setdefault(table, []).append(f"`{kind.name}`")
    tables = "\n".join(
        f"| `{t.name}` | {_ROLES[t.role]}"
        f"{f' (kept from `{t.source}`)' if t.source else ''} | "
        f"{', '.join(made_by.get(t.name, [])) or ('artifact uploads' if t.role == STORE else '')} |"
        for t in TABLES)
    return HEAD + "\n" + "\n".join(rows) + "\n" + TAIL.replace("{tables}", tables)


def main(argv: list[str]) -> int:
    if argv[1:] == ["--write"]:
        DOC.write_text(markdown())
    else:
        print(markdown(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
