"""docs/ledger-format.md cannot drift from the code.

Every value of the document's worked example is recomputed here with the real code
(app.ledger.entry, app.ledger.merkle, app.ledger.checkpoint, the /api/v1/ledger views and
`mlaudit verify`) and must appear verbatim in the document. A small independent verifier,
written from the document's pseudocode with hashlib, base64 and cryptography only (it does not
import app.ledger.merkle), must accept the example's proofs and checkpoint and reject them with
one bit flipped, and must agree with the transparency-dev/merkle vectors.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from app import create_app, kinds
from app.config import load_config
from app.ledger import entry, merkle, verify
from app.ledger.checkpoint import (
    MAX_SIGNATURES,
    MAX_TREE_SIZE,
    Checkpoint,
    Signer,
    VerifierKey,
    sign_checkpoint,
)
from app.ledger.entry import Draft
from app.ledger.errors import EntryError
from app.services import keys
from app.storage import ledger as store
from app.storage import projection

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "ledger-format.md"
VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "merkle"

SEED = bytes(range(32))
ORIGIN = "example.org/mlaudit"
T0 = datetime(2026, 1, 15, 9, 30, 0, tzinfo=UTC)
T1 = datetime(2026, 1, 15, 9, 31, 7, 250000, tzinfo=UTC)
SIGNED_AT = datetime(2026, 1, 15, 9, 32, 0, tzinfo=UTC)

Row = tuple[int, bytes, bytes, bytes, bytes]  # what `mlaudit verify` streams per entry


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# ---------------------------------------------------------------------------------------------
# The worked example, computed with the real code
# ---------------------------------------------------------------------------------------------


def example_drafts(key: VerifierKey) -> list[tuple[Draft, datetime]]:
    """The three drafts of the worked example and the instants they are recorded at. Entries
    1 and 2 have made-up kinds the registry does not know (they show the encoding, and make no
    projection rows); entry 0 is a real `key.activated`."""
    return [
        (Draft("key.activated", "system", {"key": f"{key.key_id:08x}"},
               {"verifier_key": key.to_string()}), T0),
        (Draft("example.run_created", "token:ci-pipeline",
               {"experiment": "exp-7", "run": "run-42"},
               {"name": 'baseline "v2"', "params": {"epochs": 10, "learning_rate": "0.001"},
                "seed": "9007199254740993"}), T1),
        (Draft("example.metric_logged", "token:ci-pipeline", {"run": "run-42"},
               {"key": "auc", "value": "0.8123", "n": 1234,
                "group": {"région": "Île-de-France", "sex": "F"}, "note": "tab\there"}), T1),
    ]


def build_rows(drafts: Sequence[tuple[Draft, datetime]]) -> list[store.EntryRow]:
    """Entry rows exactly as LedgerWriter.append makes them (canonical, leaf, chain, nodes)."""
    chain = entry.GENESIS_CHAIN_HASH
    frontier = merkle.CompactRange()
    rows = []
    for seq, (draft, instant) in enumerate(drafts):
        canonical = entry.canonical_bytes(draft, seq, entry.format_timestamp(instant))
        leaf = entry.leaf_hash(canonical)
        chain = entry.chain_hash(chain, leaf)
        nodes = b"".join(frontier.append(leaf))
        rows.append(store.EntryRow(seq, canonical, leaf, chain, nodes, draft.kind, draft.actor,
                                   instant))
    return rows


def node_getter(rows: Sequence[store.EntryRow]) -> merkle.NodeGetter:
    """store.get_nodes without a database: read each node where store.node_seq says it lives."""
    by_seq = {row.seq: row for row in rows}

    def get(ids: Sequence[merkle.NodeId]) -> Mapping[merkle.NodeId, bytes]:
        found = {}
        for nid in ids:
            seq, offset = store.node_seq(nid)
            row = by_seq[seq]
            found[nid] = row.leaf_hash if offset < 0 else row.nodes[offset : offset + 32]
        return found

    return get


@dataclass(frozen=True)
class Example:
    signer: Signer
    key: VerifierKey
    rows: list[store.EntryRow]
    roots: dict[int, bytes]
    inclusion: list[bytes]  # seq 1 in the tree of size 3
    consistency: list[bytes]  # from size 2 to size 3
    note: str  # the signed checkpoint at size 3
    frontier: bytes  # ledger_head.frontier at size 3

    @property
    def checkpoint_row(self) -> store.CheckpointRow:
        return store.CheckpointRow(3, self.roots[3], self.key.key_id, self.note, SIGNED_AT)

    @property
    def head(self) -> verify.Head:
        return verify.Head(3, self.rows[-1].chain_hash)

    def stream(self) -> list[Row]:
        return [as_row(r) for r in self.rows]

    def stored_checkpoints(self) -> list[verify.StoredCheckpoint]:
        return [verify.StoredCheckpoint(3, self.roots[3], self.note)]


def as_row(r: store.EntryRow) -> Row:
    return (r.seq, r.canonical, r.leaf_hash, r.chain_hash, r.nodes)


def build_example() -> Example:
    signer = Signer(ORIGIN, Ed25519PrivateKey.from_private_bytes(SEED))
    rows = build_rows(example_drafts(signer.verifier_key))
    get = node_getter(rows)
    roots = {size: merkle.root(size, get) for size in range(4)}
    frontier = merkle.CompactRange()
    for row in rows:
        frontier.append(row.leaf_hash)
    assert frontier.root() == roots[3] == merkle.root_from_leaves([r.leaf_hash for r in rows])
    note = sign_checkpoint(Checkpoint(ORIGIN, 3, roots[3]), [signer])
    return Example(signer, signer.verifier_key, rows, roots, merkle.inclusion_proof(1, 3, get),
                   merkle.consistency_proof(2, 3, get), note, frontier.to_bytes())


EXAMPLE = build_example()


# ---------------------------------------------------------------------------------------------
# The example stored in a real PostgreSQL database, served by the real app and CLI
# ---------------------------------------------------------------------------------------------

HTTP_PATHS = [
    "/api/v1/ledger/keys",
    "/api/v1/ledger/checkpoints/latest",
    "/api/v1/ledger/entries?after=-1&limit=2",
    "/api/v1/ledger/entries/1?tree_size=3",
    "/api/v1/ledger/consistency?from=2&to=3",
]


def store_example(url: str, ex: Example) -> None:
    """Write the example into an empty ledger: its 3 entries as recorded (at T0 and T1), the
    head, the checkpoint, and the key's signing_keys row, which entry 0 (`key.activated`)
    makes through its kind's reducer, as the write path would."""
    with psycopg.connect(url) as conn, conn.transaction():
        store.insert_entries(conn, [dataclasses.astuple(r) for r in ex.rows])
        store.save_head(conn, store.HeadRow(3, ex.rows[-1].chain_hash, ex.frontier))
        activated = kinds.entry_from_canonical(ex.rows[0].canonical)
        projection.apply(conn, kinds.reduce(activated, projection.DbState(conn)))
        assert store.insert_checkpoint(conn, ex.checkpoint_row)


def stored_counts(url: str) -> tuple[int, int, int]:
    """(entries, head size, checkpoints) as stored."""
    with psycopg.connect(url) as conn:
        head = store.read_head(conn)
        assert head is not None
        return (store.count_entries(conn), head.size, len(store.list_checkpoints(conn)))


def http_responses(url: str, root: Path, ex: Example,
                   paths: Sequence[str] = HTTP_PATHS) -> dict[str, Any]:
    """GET each path from the real app over the real database, with the admin token its
    first start made."""
    key_dir = root / "keys"
    private_key = Ed25519PrivateKey.from_private_bytes(SEED)
    assert Signer(ORIGIN, private_key).verifier_key == ex.key
    keys.write_private_key(keys.key_path(key_dir, ex.key), private_key)
    config = load_config(environ={}, overrides={
        "database_url": url, "home": root / "home", "key_dir": key_dir, "origin": ORIGIN,
        "checkpoint_interval": 3600.0, "checkpoint_every": 1_000_000,
    })
    app = create_app(config)
    token = config.admin_token_path.read_text().strip()
    out: dict[str, Any] = {}
    try:
        client = app.test_client()
        for path in paths:
            response = client.get(path, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, (path, response.data)
            out[path] = response.get_json()
        denied = client.get(HTTP_PATHS[1], headers={"Authorization": "Bearer mla_not-a-token"})
        assert denied.status_code == 401
    finally:
        app.extensions["mlaudit"].close()
    return out


@pytest.fixture
def example_database(database_url: str) -> str:
    """A fresh real database holding exactly the worked example."""
    store_example(database_url, EXAMPLE)
    assert stored_counts(database_url) == (3, 3, 1)
    return database_url


@pytest.fixture
def real_example(example_database: str, tmp_path: Path) -> dict[str, Any]:
    """The real app's responses over the example database. Its first start appended MLflow's
    Default experiment, the rule it enforces, the admin's principal and token (entries 3 to
    6), and signed nothing; the example's entries, key and checkpoint are what the responses
    show."""
    responses = http_responses(example_database, tmp_path, EXAMPLE)
    assert stored_counts(example_database) == (7, 7, 1)
    with psycopg.connect(example_database) as conn:
        added = [(r.seq, r.kind, r.actor) for r in store.list_entries(conn, 2, 10)]
    assert added == [(3, "experiment.created", "system"), (4, "rules.adopted", "system"),
                     (5, "principal.created", "system"), (6, "token.created", "system")]
    return responses


def run_cli_verify(url: str, home: Path, as_json: bool) -> tuple[int, str]:
    """Run the real `python -m app.cli verify` in a subprocess against the database, from an
    MLAUDIT_HOME of its own (no trust file: the keys are those the database publishes, as
    section 11 describes)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLAUDIT_")}
    env["DATABASE_URL"] = url
    env["MLAUDIT_HOME"] = str(home)
    args = [sys.executable, "-m", "app.cli", "verify", *(["--json"] if as_json else [])]
    done = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, done.stdout


Scenario = tuple[list[Row], list[verify.StoredCheckpoint], list[VerifierKey], verify.Head | None]


def _renumber(row: Row, seq: int) -> Row:
    return (seq, *row[1:])


def damage_scenarios(ex: Example) -> dict[str, Scenario]:
    """Damaged copies of the example ledger, one per row of the document's table."""
    rows, cps, keys, head = ex.stream(), ex.stored_checkpoints(), [ex.key], ex.head
    drafts = example_drafts(ex.key)
    out: dict[str, Scenario] = {}

    r1 = rows[1]
    edited = r1[1].replace(b'"epochs":10', b'"epochs":11')
    out["entry 1 edited in place (`epochs` 10 → 11), hashes left alone"] = (
        [rows[0], (1, edited, *r1[2:]), rows[2]], cps, keys, head)

    out["row 1 deleted"] = ([rows[0], rows[2]], cps, keys, head)

    foreign = build_rows([drafts[0], (Draft("run.deleted", "token:intruder", {"run": "run-42"}),
                                      T1)])[1]
    out["a well-formed foreign entry inserted at 1, later rows renumbered"] = (
        [rows[0], as_row(foreign), _renumber(rows[1], 2), _renumber(rows[2], 3)],
        cps, keys, verify.Head(4, rows[2][3]))

    out["rows 1 and 2 swapped"] = (
        [rows[0], _renumber(rows[2], 1), _renumber(rows[1], 2)], cps, keys, head)

    out["row 2 deleted (checkpoint 3 exists)"] = (rows[:2], cps, keys, head)

    out["row 2 deleted (no checkpoint, head says 3)"] = (rows[:2], [], keys, head)

    out["a row appended without moving the head"] = (
        [as_row(r) for r in build_rows([*drafts, drafts[2]])], cps, keys, head)

    note = ex.note.encode()
    sig_at = note.rindex(b" ") + 1
    sig = bytearray(base64.b64decode(note[sig_at:-1]))
    sig[10] ^= 0x01
    forged = (note[:sig_at] + base64.b64encode(bytes(sig)) + b"\n").decode()
    out["a bit of checkpoint 3's signature flipped"] = (
        rows, [verify.StoredCheckpoint(3, ex.roots[3], forged)], keys, head)

    out["checkpoint 3 signed by a key missing from `signing_keys`"] = (rows, cps, [], head)

    out["checkpoint 3's `root_hash` column changed"] = (
        rows, [verify.StoredCheckpoint(3, ex.roots[2], ex.note)], keys, head)

    rewritten = [drafts[0], (replace(drafts[1][0], body={**drafts[1][0].body, "seed": "1"}),
                             T1), drafts[2]]
    new_rows = build_rows(rewritten)
    out["entry 1 rewritten and every later hash, node and the head recomputed"] = (
        [as_row(r) for r in new_rows], cps, keys, verify.Head(3, new_rows[-1].chain_hash))

    out["the head's chain hash changed"] = (rows, cps, keys, verify.Head(3, rows[1][3]))
    return out


def damage_row(scenario: str, result: verify.VerifyResult) -> str:
    """One row of the document's damage table."""
    damage = result.damage
    assert damage is not None

    def cell(value: int | None) -> str:
        return "null" if value is None else str(value)

    return f"| {scenario} | `{damage.kind}` | {cell(damage.seq)} | {cell(damage.checkpoint)} |"


# ---------------------------------------------------------------------------------------------
# An independent verifier, written from the document alone
# ---------------------------------------------------------------------------------------------


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def ind_leaf_hash(canonical: bytes) -> bytes:
    return sha256(b"\x00" + canonical)


def ind_node_hash(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def ind_chain_hash(previous: bytes, leaf: bytes) -> bytes:
    return sha256(previous + leaf)


def ind_mth(leaves: Sequence[bytes]) -> bytes:
    """MTH from the document's recursive definition (leaves are leaf hashes)."""
    n = len(leaves)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return ind_node_hash(ind_mth(leaves[:k]), ind_mth(leaves[k:]))


def ind_verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes],
                         root: bytes) -> bool:
    if not 0 <= index < size:
        return False
    if any(len(h) != 32 for h in (leaf, root, *proof)):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = ind_node_hash(p, r)
            while fn % 2 == 0 and fn != 0:
                fn, sn = fn // 2, sn // 2
        else:
            r = ind_node_hash(r, p)
        fn, sn = fn // 2, sn // 2
    return sn == 0 and r == root


def ind_verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes,
                           proof: Sequence[bytes]) -> bool:
    if size1 < 0 or size2 < size1 or size1 == 0:
        return False
    if size1 == size2:
        return len(proof) == 0 and root1 == root2
    if not proof or any(len(h) != 32 for h in (root1, root2, *proof)):
        return False
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn % 2 == 1:
        fn, sn = fn // 2, sn // 2
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            fr, sr = ind_node_hash(c, fr), ind_node_hash(c, sr)
            while fn % 2 == 0 and fn != 0:
                fn, sn = fn // 2, sn // 2
        else:
            sr = ind_node_hash(sr, c)
        fn, sn = fn // 2, sn // 2
    return sn == 0 and fr == root1 and sr == root2


def ind_key_id(name: str, public_key: bytes) -> bytes:
    return sha256(name.encode("utf-8") + b"\x0a\x01" + public_key)[:4]


def ind_parse_verifier_key(text: str) -> tuple[str, bytes, bytes]:
    """name+hex8+base64(0x01 || public key) -> (name, key id, public key), all checked."""
    name, hex8, key64 = text.split("+", 2)
    blob = base64.b64decode(key64, validate=True)
    if len(blob) != 33 or blob[0] != 0x01:
        raise ValueError("not an Ed25519 verifier key")
    if ind_key_id(name, blob[1:]).hex() != hex8:
        raise ValueError("key id does not match")
    return name, bytes.fromhex(hex8), blob[1:]


def ind_open_checkpoint(note: str, verifier_keys: Sequence[str],
                        origin: str) -> tuple[int, bytes] | None:
    """Verify a signed checkpoint note; (tree size, root hash), or None if it must be rejected."""
    known = {(name, kid): pub for name, kid, pub in map(ind_parse_verifier_key, verifier_keys)}
    data = note.encode("utf-8")
    split = data.rfind(b"\n\n")
    if split < 0 or not data.endswith(b"\n"):
        return None
    body, block = data[: split + 1], data[split + 2 :].decode("utf-8")
    verified = False
    for line in block[:-1].split("\n"):
        if not line.startswith("\u2014 "):
            return None
        name, _, sig64 = line[2:].partition(" ")
        blob = base64.b64decode(sig64, validate=True)
        public_key = known.get((name, blob[:4]))
        if public_key is None:
            continue
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(blob[4:], body)
        except InvalidSignature:
            return None
        verified = True
    if not verified:
        return None
    lines = body.decode("utf-8").split("\n")
    if len(lines) < 4 or lines[0] != origin or not re.fullmatch("0|[1-9][0-9]*", lines[1]):
        return None
    root = base64.b64decode(lines[2], validate=True)
    return (int(lines[1]), root) if len(root) == 32 else None


def flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(out)


# ---------------------------------------------------------------------------------------------
# The document holds every value, verbatim
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def assert_in_doc(doc: str, *values: str) -> None:
    missing = [v for v in values if v not in doc]
    assert not missing, f"not in {DOC.name}: {missing}"


def test_constants_are_documented(doc: str) -> None:
    assert_in_doc(
        doc,
        f'"v":{entry.FORMAT_VERSION}',
        f"`{entry.KIND_PATTERN.pattern}`",
        f"`{entry.SUBJECT_KEY_PATTERN.pattern}`",
        f"{entry.MAX_SAFE_INTEGER}",
        f"{entry.MAX_ACTOR_LENGTH} characters",
        f"{entry.MAX_SUBJECT_VALUE_LENGTH} characters",
        f"{MAX_SIGNATURES} signature lines",
        f"{MAX_TREE_SIZE}",
        entry.GENESIS_CHAIN_HASH.hex(),
        b64(merkle.EMPTY_ROOT),
        merkle.EMPTY_ROOT.hex(),
    )
    for kind in (verify.MODIFIED, verify.MISSING, verify.INSERTED, verify.REORDERED,
                 verify.TRUNCATED, verify.BAD_SIGNATURE, verify.BAD_CHECKPOINT,
                 verify.HEAD_MISMATCH, verify.PROJECTION_MISMATCH):
        assert_in_doc(doc, f"| `{kind}` |")


def test_timestamp_format(doc: str) -> None:
    stamp = entry.format_timestamp(T1)
    assert stamp == "2026-01-15T09:31:07.250000Z"
    assert entry.format_timestamp(T0) == "2026-01-15T09:30:00.000000Z"
    assert entry.parse_timestamp(stamp) == T1
    assert_in_doc(doc, stamp, "2026-01-15T09:30:00.000000Z")


def test_key_material(doc: str) -> None:
    key = EXAMPLE.key
    assert key.name == ORIGIN
    assert_in_doc(doc, SEED.hex(), key.public_key.hex(), b64(key.public_key),
                  f"{key.key_id:08x}", key.to_string(),
                  b64(bytes([0x01]) + key.public_key))


@pytest.mark.parametrize("seq", [0, 1, 2])
def test_entry_values(doc: str, seq: int) -> None:
    row = EXAMPLE.rows[seq]
    assert_in_doc(
        doc,
        row.canonical.decode("utf-8"),
        f"{len(row.canonical)} bytes",
        row.leaf_hash.hex(), b64(row.leaf_hash),
        row.chain_hash.hex(), b64(row.chain_hash),
    )
    if row.nodes:
        assert_in_doc(doc, row.nodes.hex())


def test_nodes_and_frontier(doc: str) -> None:
    assert [len(r.nodes) for r in EXAMPLE.rows] == [0, 32, 0]
    assert_in_doc(doc, EXAMPLE.frontier.hex())


def test_roots_and_proofs(doc: str) -> None:
    for size in (1, 2, 3):
        assert_in_doc(doc, EXAMPLE.roots[size].hex(), b64(EXAMPLE.roots[size]))
    assert_in_doc(doc, *(b64(h) for h in EXAMPLE.inclusion))
    assert_in_doc(doc, json.dumps([b64(h) for h in EXAMPLE.inclusion]))
    assert_in_doc(doc, json.dumps([b64(h) for h in EXAMPLE.consistency]))


def test_signed_checkpoint(doc: str) -> None:
    note = EXAMPLE.note
    body = note[: note.index("\n\n") + 1]
    signature = base64.b64decode(note.rsplit(" ", 1)[1])
    assert signature[:4] == EXAMPLE.key.key_id.to_bytes(4, "big")
    assert_in_doc(doc, "```text\n" + note + "```", signature[4:].hex(), body.encode().hex())


def test_canonicalisation_examples(doc: str) -> None:
    cases: dict[str, dict[str, Any]] = {
        '{"a":[true,false,null],"b":1,"c":{"y":-5,"z":""}}': {
            "b": 1, "a": [True, False, None], "c": {"z": "", "y": -5}},
        '{"s":"quote\\" backslash\\\\ lf\\n tab\\t us\\u001f slash/ é €"}': {
            "s": 'quote" backslash\\ lf\n tab\t us\x1f slash/ é €'},
        '{"\U0001f600":2,"\ufb01":1}': {"\ufb01": 1, "\U0001f600": 2},
    }
    for text, value in cases.items():
        assert entry.canonicalize(value) == text.encode("utf-8")
        assert_in_doc(doc, text)
    # Stated in prose: DEL and U+2028 are written raw; lone surrogates and floats are refused.
    assert entry.canonicalize({"s": "\x7f\u2028"}) == '{"s":"\x7f\u2028"}'.encode()
    with pytest.raises(EntryError):
        entry.canonicalize({"s": "\ud800"})
    for bad in (1.0, 2**53, -(2**53)):
        with pytest.raises(EntryError):
            entry.check_draft(Draft("a.b", "x", {}, {"n": bad}))


def test_http_examples_are_real_responses(doc: str, real_example: dict[str, Any]) -> None:
    blocks = dict(re.findall(r"<!-- response: GET (\S+) -->\n```json\n(.*?)\n```", doc, re.S))
    assert sorted(blocks) == sorted(HTTP_PATHS)
    responses = real_example
    for path, text in blocks.items():
        assert json.loads(text) == responses[path], path
    single = responses["/api/v1/ledger/entries/1?tree_size=3"]
    assert single["inclusion_proof"]["hashes"] == [b64(h) for h in EXAMPLE.inclusion]
    assert single["checkpoint"]["note"] == EXAMPLE.note


def test_cli_verify_output(doc: str, example_database: str, bypass: Any,
                           tmp_path: Path) -> None:
    url, home = example_database, tmp_path / "home"
    code, out = run_cli_verify(url, home, as_json=True)
    assert code == 0 and json.loads(out)["ok"] is True, out
    assert_in_doc(doc, out.strip())
    code, text = run_cli_verify(url, home, as_json=False)
    assert code == 0
    assert_in_doc(doc, text.strip())
    # The document's damaged example: entry 1's bytes edited in place, hashes left alone.
    canonical = EXAMPLE.rows[1].canonical
    edited = canonical.replace(b'"epochs":10', b'"epochs":11')
    assert edited != canonical
    with bypass as conn:
        changed = conn.execute(
            "UPDATE ledger_entries SET canonical = convert_to(replace(convert_from(canonical, "
            "'UTF8'), '\"epochs\":10', '\"epochs\":11'), 'UTF8') WHERE seq = 1").rowcount
    assert changed == 1
    with psycopg.connect(url) as conn:
        stored = store.get_entry(conn, 1)
    assert stored is not None and bytes(stored.canonical) == edited
    assert bytes(stored.leaf_hash) == EXAMPLE.rows[1].leaf_hash
    code, out = run_cli_verify(url, home, as_json=True)
    assert code == 1 and json.loads(out)["damage"]["kind"] == "modified"
    assert_in_doc(doc, out.strip())
    code, text = run_cli_verify(url, home, as_json=False)
    assert code == 1
    assert_in_doc(doc, text.strip())


def test_damage_table(doc: str) -> None:
    kinds = set()
    for scenario, args in damage_scenarios(EXAMPLE).items():
        result = verify.verify_entries(*args)
        assert not result.ok, scenario
        kinds.add(result.damage.kind)  # type: ignore[union-attr]
        assert_in_doc(doc, damage_row(scenario, result))
    assert kinds == {verify.MODIFIED, verify.MISSING, verify.INSERTED, verify.REORDERED,
                     verify.TRUNCATED, verify.BAD_SIGNATURE, verify.BAD_CHECKPOINT,
                     verify.HEAD_MISMATCH}


# ---------------------------------------------------------------------------------------------
# The independent verifier accepts the example and rejects it with one bit flipped
# ---------------------------------------------------------------------------------------------


def test_independent_entry_hashes() -> None:
    chain = bytes(32)
    for row in EXAMPLE.rows:
        obj = json.loads(row.canonical)
        assert obj["v"] == 1 and obj["seq"] == row.seq
        # For these entries (no astral-plane keys) sorted compact JSON is the JCS form.
        again = json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        assert again.encode("utf-8") == row.canonical
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", obj["recorded_at"])
        assert ind_leaf_hash(row.canonical) == row.leaf_hash
        chain = ind_chain_hash(chain, row.leaf_hash)
        assert chain == row.chain_hash
    leaves = [r.leaf_hash for r in EXAMPLE.rows]
    for size in (1, 2, 3):
        assert ind_mth(leaves[:size]) == EXAMPLE.roots[size]
    assert EXAMPLE.rows[1].nodes == ind_node_hash(leaves[0], leaves[1])


def test_independent_inclusion() -> None:
    leaf, root, proof = EXAMPLE.rows[1].leaf_hash, EXAMPLE.roots[3], EXAMPLE.inclusion
    assert ind_verify_inclusion(1, 3, leaf, proof, root)
    for bit in range(256):
        assert not ind_verify_inclusion(1, 3, flip(leaf, bit), proof, root)
        assert not ind_verify_inclusion(1, 3, leaf, proof, flip(root, bit))
        for i in range(len(proof)):
            bad = [flip(h, bit) if j == i else h for j, h in enumerate(proof)]
            assert not ind_verify_inclusion(1, 3, leaf, bad, root)
    for index, size in ((0, 3), (2, 3), (1, 2), (3, 3), (1, 5)):
        assert not ind_verify_inclusion(index, size, leaf, proof, root)
    # As the document warns, the size must come from the signed checkpoint: this proof has
    # the same shape in a tree of 4 leaves, so both verifiers accept it there too.
    assert ind_verify_inclusion(1, 4, leaf, proof, root)
    merkle.verify_inclusion(1, 4, leaf, proof, root)
    assert not ind_verify_inclusion(1, 3, leaf, proof[:1], root)
    assert not ind_verify_inclusion(1, 3, leaf, [*proof, proof[0]], root)


def test_independent_consistency() -> None:
    r2, r3, proof = EXAMPLE.roots[2], EXAMPLE.roots[3], EXAMPLE.consistency
    assert ind_verify_consistency(2, 3, r2, r3, proof)
    for bit in range(256):
        assert not ind_verify_consistency(2, 3, flip(r2, bit), r3, proof)
        assert not ind_verify_consistency(2, 3, r2, flip(r3, bit), proof)
        assert not ind_verify_consistency(2, 3, r2, r3, [flip(proof[0], bit)])
    assert not ind_verify_consistency(2, 3, r2, r3, [])
    assert not ind_verify_consistency(1, 3, r2, r3, proof)
    assert not ind_verify_consistency(0, 3, merkle.EMPTY_ROOT, r3, [])
    assert ind_verify_consistency(3, 3, r3, r3, [])


def test_independent_checkpoint() -> None:
    key = EXAMPLE.key.to_string()
    assert ind_parse_verifier_key(key) == (
        ORIGIN, EXAMPLE.key.key_id.to_bytes(4, "big"), EXAMPLE.key.public_key)
    assert ind_open_checkpoint(EXAMPLE.note, [key], ORIGIN) == (3, EXAMPLE.roots[3])
    assert ind_open_checkpoint(EXAMPLE.note, [key], "example.org/other") is None
    other = VerifierKey.from_public_key(
        ORIGIN, Ed25519PrivateKey.from_private_bytes(bytes(32)).public_key().public_bytes_raw())
    assert ind_open_checkpoint(EXAMPLE.note, [other.to_string()], ORIGIN) is None
    note = EXAMPLE.note.encode()
    body_end = note.index(b"\n\n") + 1
    for bit in range(body_end * 8):
        tampered = flip(note, bit)
        try:
            text = tampered.decode("utf-8")
        except UnicodeDecodeError:
            continue
        assert ind_open_checkpoint(text, [key], ORIGIN) != (3, EXAMPLE.roots[3])
    sig_at = note.rindex(b" ") + 1
    sig = base64.b64decode(note[sig_at:-1])
    for bit in range(32, len(sig) * 8):  # every bit of the Ed25519 signature itself
        forged = note[:sig_at] + base64.b64encode(flip(sig, bit)) + b"\n"
        assert ind_open_checkpoint(forged.decode(), [key], ORIGIN) is None


def _vectors(kind: str) -> Iterator[dict[str, Any]]:
    for path in sorted((VECTORS / kind).glob("*/*.json")):
        yield json.loads(path.read_text())


def test_independent_verifier_agrees_with_vectors() -> None:
    def dec(values: Sequence[str] | None) -> list[bytes]:
        return [base64.b64decode(v) for v in values or []]

    checked = 0
    for v in _vectors("inclusion"):
        ok = ind_verify_inclusion(v["leafIdx"], v["treeSize"], base64.b64decode(v["leafHash"]),
                                  dec(v["proof"]), base64.b64decode(v["root"]))
        assert ok is not v["wantErr"], v["desc"]
        checked += 1
    for v in _vectors("consistency"):
        ok = ind_verify_consistency(v["size1"], v["size2"], base64.b64decode(v["root1"]),
                                    base64.b64decode(v["root2"]), dec(v["proof"]))
        assert ok is not v["wantErr"], v["desc"]
        checked += 1
    assert checked >= 180


def _classic(n: int) -> list[bytes]:
    return [sha256(b"\x00" + bytes([i]) * (i % 5)) for i in range(n)]


def test_independent_verifier_accepts_every_proof_the_code_makes() -> None:
    leaves = _classic(24)
    nodes: dict[merkle.NodeId, bytes] = {}
    for level in range(6):
        width = 1 << level
        for index in range(len(leaves) // width):
            nodes[(level, index)] = ind_mth(leaves[index * width : (index + 1) * width])

    def get(ids: Sequence[merkle.NodeId]) -> Mapping[merkle.NodeId, bytes]:
        return nodes

    for size in range(1, len(leaves) + 1):
        root = ind_mth(leaves[:size])
        assert merkle.root(size, get) == root
        for index in range(size):
            proof = merkle.inclusion_proof(index, size, get)
            assert ind_verify_inclusion(index, size, leaves[index], proof, root)
            if proof:
                assert not ind_verify_inclusion(index, size, leaves[index],
                                                [flip(proof[0], 7), *proof[1:]], root)
        for size1 in range(1, size + 1):
            proof = merkle.consistency_proof(size1, size, get)
            root1 = ind_mth(leaves[:size1])
            assert ind_verify_consistency(size1, size, root1, root, proof)
            if proof:
                assert not ind_verify_consistency(size1, size, root1, root,
                                                  [*proof[:-1], flip(proof[-1], 200)])


def test_nodes_layout_as_documented() -> None:
    """Node (L, i), L >= 1, is stored with entry (i+1)*2**L - 1 at byte offset 32*(L-1)."""
    leaves = _classic(70)
    frontier = merkle.CompactRange()
    for seq, leaf in enumerate(leaves):
        completed = b"".join(frontier.append(leaf))
        trailing_ones = (seq ^ (seq + 1)).bit_length() - 1
        assert len(completed) == 32 * trailing_ones
        for level in range(1, trailing_ones + 1):
            index = (seq + 1) // (1 << level) - 1
            assert (index + 1) * (1 << level) - 1 == seq
            assert store.node_seq((level, index)) == (seq, 32 * (level - 1))
            want = ind_mth(leaves[index << level : (index + 1) << level])
            assert completed[32 * (level - 1) : 32 * level] == want
        assert store.node_seq((0, seq)) == (seq, -1)


def test_doc_has_no_machine_paths(doc: str) -> None:
    checkout = str(Path(__file__).resolve().parents[2])
    assert checkout not in doc and str(Path.home()) + "/" not in doc

