"""`mlaudit export` and the standalone verifier: an export verifies with no database and no
mlaudit code; tampering with the export, or with the database before exporting, is named."""

from __future__ import annotations

import ast
import base64
import contextlib
import hashlib
import io
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.cli import VERIFIER_PATH, load_standalone_verifier
from app.config import Config
from app.ledger import entry as entries
from app.ledger.checkpoint import Checkpoint, Signer, sign_checkpoint
from app.ledger.entry import Draft
from app.ledger.merkle import CompactRange
from app.services import keys
from app.services.export import export_ledger
from app.services.verification import verify_database

ROOT = Path(__file__).resolve().parents[1]
standalone = load_standalone_verifier()

Records = list[dict[str, Any]]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


@pytest.fixture
def ledger(services: Any, append: Any) -> Any:
    """Entries 0..4 from start-up (the key, MLflow's Default experiment, the rule adopted,
    the admin's principal and token), 27 appended, a checkpoint at 32, then 8 more (size 40)."""
    append(27)
    services.checkpointer.sign_now()
    append(8)
    return services


def do_export(database_url: str, config: Config, out: Path, force: bool = False) -> Path:
    with psycopg.connect(database_url) as conn:
        export_ledger(conn, out, config.origin, force=force)
    return out


@pytest.fixture
def export(ledger: Any, database_url: str, config: Config, tmp_path: Path) -> Path:
    return do_export(database_url, config, tmp_path / "export")


def check(out: Path, *args: str) -> tuple[int, dict[str, Any]]:
    """The standalone verifier's main(), in this process: (exit status, --json report)."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = standalone.main([*args, "--json", str(out)])
    return code, json.loads(buffer.getvalue())


def damage(out: Path, *args: str) -> tuple[str, int | None, int | None, str]:
    code, report = check(out, *args)
    assert code == 1 and report["ok"] is False, report
    found = report["damage"]
    return found["kind"], found["seq"], found["checkpoint"], found["detail"]


def read_records(out: Path) -> Records:
    return [json.loads(line) for line in (out / "entries.jsonl").read_text().splitlines()]


def write_records(out: Path, records: Records) -> None:
    (out / "entries.jsonl").write_text(
        "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))


def edit_records(out: Path, edit: Callable[[Records], Records]) -> None:
    write_records(out, edit(read_records(out)))


def rehash(records: Records) -> None:
    """Recompute every leaf hash, chain hash and nodes from the canonical bytes, as a forger
    who rewrote the entries would."""
    tree, chain = CompactRange(), bytes(32)
    for record in records:
        leaf = entries.leaf_hash(unb64(record["canonical"]))
        chain = entries.chain_hash(chain, leaf)
        record.update(leaf_hash=b64(leaf), chain_hash=b64(chain),
                      nodes=b64(b"".join(tree.append(leaf))))


def reseal_manifest(out: Path) -> None:
    """Make the manifest agree with the files again (head and digests): it is not signed."""
    manifest = json.loads((out / "manifest.json").read_text())
    records = read_records(out)
    tree = CompactRange()
    for record in records:
        tree.append(unb64(record["leaf_hash"]))
    manifest["entries"] = len(records)
    manifest["head"] = {"size": len(records), "chain_hash": records[-1]["chain_hash"],
                        "frontier": b64(tree.to_bytes())}
    names = ["entries.jsonl", "keys.txt",
             *(["envelopes.jsonl"] if (out / "envelopes.jsonl").exists() else []),
             *(f"checkpoints/{p.name}" for p in (out / "checkpoints").glob("*.note"))]
    manifest["sha256"] = {n: hashlib.sha256((out / n).read_bytes()).hexdigest() for n in names}
    (out / "manifest.json").write_text(json.dumps(manifest))


def flip_signature(note: str) -> str:
    body, _, line = note.rpartition("\u2014 ")
    name, encoded = line.split()
    raw = bytearray(unb64(encoded))
    raw[10] ^= 0x01
    return f"{body}\u2014 {name} {b64(bytes(raw))}\n"


# --- The export and its clean verification ---------------------------------------------------

def test_export_files_match_the_database(export: Path, ledger: Any, client: Any,
                                         conn: Any) -> None:
    manifest = json.loads((export / "manifest.json").read_text())
    assert list(manifest) == ["format", "exported_at", "entries", "head",
                              "checkpoints_signed_at", "origin", "sha256"]
    assert manifest["format"] == "mlaudit-export/1" and manifest["entries"] == 40
    assert manifest["origin"] == "mlaudit.local/ledger"
    assert set(manifest["sha256"]) == {"entries.jsonl", "keys.txt", "envelopes.jsonl",
                                       "checkpoints/32.note"}
    for name, digest in manifest["sha256"].items():
        assert hashlib.sha256((export / name).read_bytes()).hexdigest() == digest
    files = {p.relative_to(export).as_posix() for p in export.rglob("*") if p.is_file()}
    assert files == {*manifest["sha256"], "manifest.json"}
    assert (export / "envelopes.jsonl").read_bytes() == b""  # no artifacts in this ledger
    records = read_records(export)
    assert [r["seq"] for r in records] == list(range(40))
    assert all(list(r) == ["seq", "canonical", "leaf_hash", "chain_hash", "nodes"]
               for r in records)
    stored = conn.execute("SELECT canonical, chain_hash FROM ledger_entries WHERE seq = 39"
                          ).fetchone()
    assert unb64(records[39]["canonical"]) == bytes(stored[0])
    frontier = conn.execute("SELECT frontier FROM ledger_head").fetchone()[0]
    assert manifest["head"] == {"size": 40, "chain_hash": b64(bytes(stored[1])),
                                "frontier": b64(bytes(frontier))}
    note, signed_at = conn.execute("SELECT note, signed_at FROM checkpoints "
                                   "WHERE tree_size = 32").fetchone()
    assert (export / "checkpoints" / "32.note").read_bytes() == note.encode()
    assert manifest["checkpoints_signed_at"] == {"32": entries.format_timestamp(signed_at)}
    published = client.get("/api/v1/ledger/keys").json["keys"]
    assert (export / "keys.txt").read_text().splitlines() == published
    assert not [p for p in export.rglob("*") if p.name.endswith(".tmp")]


def test_artifact_envelopes_are_exported(client: Any, auth: dict[str, str], database_url: str,
                                         config: Config, tmp_path: Path) -> None:
    """envelopes.jsonl: each artifact envelope the entries name by SHA-256, with its digest."""
    experiment = client.post("/api/v1/experiments", json={"name": "e"}, headers=auth).json["id"]
    run = client.post("/api/v1/runs", json={"experiment_id": experiment},
                      headers=auth).json["id"]
    uploaded: dict[str, Any] = {}
    for path in ("a.bin", "b.bin"):
        done = client.put(f"/api/v1/runs/{run}/artifacts/{path}", headers=auth,
                          data=path.encode(), content_type="application/octet-stream")
        assert done.status_code == 201, done.json
        written = client.get(f"/api/v1/ledger/entries/{done.json['receipt']['seq']}",
                             headers=auth).json["entry"]
        uploaded[written["body"]["envelope_sha256"]] = done.json["envelope"]
    out = do_export(database_url, config, tmp_path / "export")
    lines = [json.loads(line) for line in (out / "envelopes.jsonl").read_text().splitlines()]
    assert [line["sha256"] for line in lines] == sorted(uploaded)
    for line in lines:
        assert line == {"envelope": uploaded[line["sha256"]], "sha256": line["sha256"]}
        canonical = entries.canonicalize(line["envelope"])
        assert hashlib.sha256(canonical).hexdigest() == line["sha256"]
    assert check(out)[0] == 0


def test_clean_export_verifies(export: Path) -> None:
    code, report = check(export)
    assert code == 0
    assert report == {**report, "ok": True, "entries": 40, "checkpoints": 1, "damage": None}


def test_cli_export_and_verify_export(ledger: Any, run_cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "cli-export"
    done = run_cli("export", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("exported 40 entries, 1 checkpoints and 1 keys")
    done = run_cli("verify-export", str(out), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["ok"], report["entries"], report["checkpoints"]) == (True, 40, 1)
    done = run_cli("verify-export", str(out))
    assert done.stdout.startswith("OK: 40 entries and 1 checkpoints verified; root ")
    refused = run_cli("export", "--out", str(out))
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.startswith("mlaudit: error: ") and "--force" in refused.stderr
    (out / "checkpoints" / "99.note").write_text("stale\n")
    assert run_cli("export", "--out", str(out), "--force").returncode == 0
    assert not (out / "checkpoints" / "99.note").exists()
    assert run_cli("verify-export", str(out)).returncode == 0
    bad = run_cli("verify-export", str(out), "--key", "not-a-key")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("mlaudit: error: --key")


RUN_WITHOUT_APP = """
import runpy, sys
class NoApp:
    def find_spec(self, name, path=None, target=None):
        if name == "app" or name.startswith("app."):
            raise ImportError("the standalone verifier imported " + name)
sys.meta_path.insert(0, NoApp())
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
finally:
    assert not [m for m in sys.modules if m == "app" or m.startswith("app.")]
"""


def test_standalone_verifier_runs_alone(export: Path, tmp_path: Path) -> None:
    alone = tmp_path / "alone"
    alone.mkdir()
    copy = shutil.copy(VERIFIER_PATH, alone / "mlaudit_verify.py")
    for command, cwd in (([sys.executable, "-I", "-c", RUN_WITHOUT_APP, str(copy)], alone),
                         ([sys.executable, "-I", "verifier/mlaudit_verify.py"], ROOT)):
        done = subprocess.run([*command, str(export), "--json"], cwd=cwd, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["ok"] is True


def test_verifier_imports_only_stdlib_cryptography_and_rfc8785() -> None:
    tree = ast.parse(VERIFIER_PATH.read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported - set(sys.stdlib_module_names) == {"cryptography", "rfc8785"}


# --- Tampering with the export ---------------------------------------------------------------

def test_flipped_byte_in_canonical_is_modified(export: Path) -> None:
    def flip(records: Records) -> Records:
        raw = bytearray(unb64(records[17]["canonical"]))
        raw[20] ^= 1
        records[17]["canonical"] = b64(bytes(raw))
        return records

    edit_records(export, flip)
    kind, seq, _, detail = damage(export)
    assert (kind, seq) == ("modified", 17) and "leaf hash" in detail


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda r: r[:12] + r[13:], ("missing", 12, None)),
    (lambda r: r[:5] + [r[11]] + r[6:11] + [r[5]] + r[12:], ("reordered", 5, None)),
    (lambda r: r[:21] + [r[20]] + r[21:], ("inserted", 21, None)),
    (lambda r: r[:25], ("truncated", 25, 32)),
    (lambda r: r[:35], ("truncated", 35, None)),
], ids=["deleted-line", "swapped-lines", "repeated-line", "below-checkpoint", "tail"])
def test_line_edits_are_named(export: Path, edit: Callable[[Records], Records],
                              expected: tuple[str, int, int | None]) -> None:
    edit_records(export, edit)
    assert damage(export)[:3] == expected


def test_swapped_lines_name_the_entry(export: Path) -> None:
    edit_records(export, lambda r: r[:5] + [r[11]] + r[6:11] + [r[5]] + r[12:])
    assert "holds entry 11" in damage(export)[3]


def test_corrupted_note_signature_is_bad_signature(export: Path) -> None:
    note = export / "checkpoints" / "32.note"
    note.write_text(flip_signature(note.read_text()))
    assert damage(export)[:3] == ("bad_signature", None, 32)


def test_non_canonical_entry_bytes_are_modified(export: Path) -> None:
    """Re-encoded with spaces, every hash recomputed consistently: still not RFC 8785."""
    records = read_records(export)
    spaced = json.dumps(json.loads(unb64(records[9]["canonical"])), sort_keys=True,
                        ensure_ascii=False, separators=(", ", ": "))
    records[9]["canonical"] = b64(spaced.encode())
    rehash(records)
    write_records(export, records)
    kind, seq, _, detail = damage(export)
    assert (kind, seq) == ("modified", 9) and "RFC 8785" in detail


@pytest.mark.parametrize(("edit", "name", "detail"), [
    (lambda m: m["sha256"].update({"keys.txt": "0" * 64}), "keys.txt", "SHA-256 differs"),
    (lambda m: m["sha256"].pop("checkpoints/32.note"), "checkpoints/32.note", "not listed"),
    (lambda m: m["sha256"].update({"checkpoints/40.note": "0" * 64}), "checkpoints/40.note",
     "absent"),
], ids=["digest", "unlisted", "absent"])
def test_manifest_mismatch_is_modified_naming_the_file(
        export: Path, edit: Callable[[dict[str, Any]], Any], name: str, detail: str) -> None:
    manifest = json.loads((export / "manifest.json").read_text())
    edit(manifest)
    (export / "manifest.json").write_text(json.dumps(manifest))
    code, report = check(export)
    assert code == 1 and report["entries"] == 40
    found = report["damage"]
    assert (found["kind"], found["file"]) == ("modified", name) and detail in found["detail"]
    human = io.StringIO()
    with contextlib.redirect_stdout(human):
        standalone.main([str(export)])
    assert human.getvalue().startswith(f"DAMAGED in {name}: modified: ")


def test_rewritten_history_is_caught_by_the_checkpoint(export: Path) -> None:
    records = read_records(export)
    forged = entries.canonical_bytes(Draft("test.appended", "token:mallory"), 9,
                                     "2026-01-01T00:00:00.000000Z")
    records[9]["canonical"] = b64(forged)
    rehash(records)
    write_records(export, records)
    reseal_manifest(export)
    assert damage(export)[:3] == ("bad_checkpoint", None, 32)


# --- Pinned keys and kept checkpoints --------------------------------------------------------

def test_pinned_keys(export: Path, tmp_path: Path) -> None:
    genuine = tmp_path / "trusted.keys"
    shutil.copy(export / "keys.txt", genuine)
    assert check(export, "--key", str(genuine))[0] == 0
    other = Signer("mlaudit.local/ledger", Ed25519PrivateKey.generate()).verifier_key
    assert damage(export, "--key", other.to_string())[:3] == ("bad_signature", None, 32)


def test_a_key_added_to_the_export_is_caught_by_a_pinned_key(export: Path, config: Config,
                                                            tmp_path: Path) -> None:
    """A forger re-signs checkpoint 32 with their own key and publishes it in keys.txt."""
    genuine = tmp_path / "trusted.keys"
    shutil.copy(export / "keys.txt", genuine)
    mallory = Signer(config.origin, Ed25519PrivateKey.generate())
    body = (export / "checkpoints" / "32.note").read_text().split("\n\n")[0]
    origin, size, root = body.split("\n")
    note = sign_checkpoint(Checkpoint(origin, int(size), unb64(root)), [mallory])
    (export / "checkpoints" / "32.note").write_text(note)
    with (export / "keys.txt").open("a") as published:
        published.write(mallory.verifier_key.to_string() + "\n")
    reseal_manifest(export)
    assert check(export)[0] == 0  # it agrees with itself
    assert damage(export, "--key", str(genuine))[:3] == ("bad_signature", None, 32)


def test_kept_older_checkpoint_verifies(ledger: Any, export: Path, append: Any, auth: Any,
                                        client: Any, database_url: str, config: Config,
                                        tmp_path: Path) -> None:
    kept = shutil.copy(export / "checkpoints" / "32.note", tmp_path / "kept-32.note")
    saved = tmp_path / "kept-32.json"  # the API's checkpoint object works too
    saved.write_bytes(client.get("/api/v1/ledger/checkpoints/32", headers=auth).get_data())
    append(5)
    ledger.checkpointer.sign_now()
    later = do_export(database_url, config, tmp_path / "later")
    code, report = check(later, "--checkpoint", str(kept), "--checkpoint", str(saved))
    assert code == 0, report
    assert (report["entries"], report["checkpoints"], report["kept_checkpoints"]) == (45, 2, 2)


def test_kept_checkpoint_catches_deleted_notes_and_rewritten_history(export: Path,
                                                                     tmp_path: Path) -> None:
    kept = shutil.copy(export / "checkpoints" / "32.note", tmp_path / "kept-32.note")
    records = read_records(export)
    records[9]["canonical"] = b64(entries.canonical_bytes(
        Draft("test.appended", "token:mallory"), 9, "2026-01-01T00:00:00.000000Z"))
    rehash(records)
    write_records(export, records)
    (export / "checkpoints" / "32.note").unlink()
    reseal_manifest(export)
    assert check(export)[0] == 0  # the export agrees with itself...
    kind, seq, checkpoint, detail = damage(export, "--checkpoint", str(kept))
    assert (kind, seq, checkpoint) == ("bad_checkpoint", None, 32)  # ...not with the auditor
    assert "kept checkpoint 32" in detail and "rewritten" in detail


def test_kept_checkpoint_from_another_ledger_fails(export: Path, tmp_path: Path) -> None:
    stranger = Signer("other.example/ledger", Ed25519PrivateKey.generate())
    note = tmp_path / "other.note"
    note.write_text(sign_checkpoint(Checkpoint("other.example/ledger", 20, bytes(32)),
                                    [stranger]))
    assert damage(export, "--checkpoint", str(note))[:3] == ("bad_signature", None, 20)
    trusted = [*(export / "keys.txt").read_text().split(), stranger.verifier_key.to_string()]
    args = [f"--key={key}" for key in trusted]
    kind, _, checkpoint, detail = damage(export, *args, "--checkpoint", str(note))
    assert (kind, checkpoint) == ("bad_checkpoint", 20) and "origin" in detail


@pytest.mark.parametrize(("size", "root", "expected"), [
    (32, bytes(32), ("bad_checkpoint", None, 32)),   # a fork: same size, another root
    (20, bytes(32), ("bad_checkpoint", None, 20)),   # history below 20 differs
    (100, bytes(32), ("truncated", 40, 100)),        # the export was rolled back
], ids=["fork", "rewritten", "rolled-back"])
def test_kept_checkpoint_signed_by_the_real_key_must_match(
        export: Path, ledger: Any, config: Config, tmp_path: Path, size: int, root: bytes,
        expected: tuple[str, int | None, int]) -> None:
    with ledger.pool.connection() as conn:
        signer = keys.load_signer(conn, config.origin, config.keys_path)
    note = tmp_path / "kept.note"
    note.write_text(sign_checkpoint(Checkpoint(config.origin, size, root), [signer]))
    assert damage(export, "--checkpoint", str(note))[:3] == expected


def test_unusable_input_exits_2(export: Path, tmp_path: Path) -> None:
    assert standalone.main([str(tmp_path / "nowhere")]) == 2
    (tmp_path / "junk.note").write_text("not a note\n")
    assert standalone.main([str(export), "--checkpoint", str(tmp_path / "junk.note")]) == 2
    (export / "manifest.json").write_text('{"format": "something-else/9"}')
    assert standalone.main([str(export)]) == 2


# --- Tampering with the database, then exporting ---------------------------------------------

def _forge_row(conn: Any, seq: int) -> None:
    previous = conn.execute("SELECT chain_hash FROM ledger_entries WHERE seq = %s",
                            (seq - 1,)).fetchone()[0]
    canonical = entries.canonical_bytes(Draft("promotion.approved", "token:mallory"), seq,
                                        "2026-01-01T00:00:00.000000Z")
    leaf = entries.leaf_hash(canonical)
    conn.execute(
        "INSERT INTO ledger_entries (seq, canonical, leaf_hash, chain_hash, nodes, kind, actor,"
        " recorded_at) VALUES (%s, %s, %s, %s, '', 'promotion.approved', 'token:mallory', now())",
        (seq, canonical, leaf, entries.chain_hash(previous, leaf)))


def _flip_stored_signature(conn: Any) -> None:
    note = conn.execute("SELECT note FROM checkpoints WHERE tree_size = 32").fetchone()[0]
    conn.execute("UPDATE checkpoints SET note = %s WHERE tree_size = 32", (flip_signature(note),))


def _sql(*statements: str) -> Callable[[Any], None]:
    def run(conn: Any) -> None:
        for statement in statements:
            conn.execute(statement)
    return run


def _insert_in_the_middle(conn: Any) -> None:
    _sql("UPDATE ledger_entries SET seq = seq + 1000 WHERE seq >= 20",
         "UPDATE ledger_entries SET seq = seq - 999 WHERE seq >= 1000")(conn)
    _forge_row(conn, 20)


DATABASE_TAMPERING: dict[str, Callable[[Any], None]] = {
    "byte": _sql("UPDATE ledger_entries SET canonical = "
                 "set_byte(canonical, 20, get_byte(canonical, 20) # 1) WHERE seq = 17"),
    "deleted": _sql("DELETE FROM ledger_entries WHERE seq = 12"),
    "swapped": _sql("UPDATE ledger_entries SET seq = 1000 WHERE seq = 5",
                    "UPDATE ledger_entries SET seq = 5 WHERE seq = 11",
                    "UPDATE ledger_entries SET seq = 11 WHERE seq = 1000"),
    "inserted": _insert_in_the_middle,
    "after-head": lambda conn: _forge_row(conn, 40),
    "truncated": _sql("DELETE FROM ledger_entries WHERE seq >= 25",
                      "UPDATE ledger_head SET size = 25, chain_hash = "
                      "(SELECT chain_hash FROM ledger_entries WHERE seq = 24)"),
    "tail": _sql("DELETE FROM ledger_entries WHERE seq >= 35"),
    "nodes": _sql("UPDATE ledger_entries SET nodes = "
                  "set_byte(nodes, 0, get_byte(nodes, 0) # 1) WHERE seq = 15"),
    "head": _sql("UPDATE ledger_head SET chain_hash = set_byte(chain_hash, 0, "
                 "get_byte(chain_hash, 0) # 1)"),
    "signature": _flip_stored_signature,
}


@pytest.mark.parametrize("tamper", list(DATABASE_TAMPERING))
def test_database_tampering_is_named_alike_in_the_export(
        ledger: Any, bypass: Any, database_url: str, config: Config, tmp_path: Path,
        tamper: str) -> None:
    with bypass as conn:
        DATABASE_TAMPERING[tamper](conn)
    with psycopg.connect(database_url) as conn:
        found = verify_database(conn).damage
    assert found is not None
    out = do_export(database_url, config, tmp_path / "export")
    assert damage(out)[:3] == (found.kind, found.seq, found.checkpoint)


# --- The worked example of docs/ledger-format.md, section 13 ---------------------------------

EXAMPLE_ENTRIES = [
    r'{"actor":"system","body":{"verifier_key":"example.org/mlaudit+0dc315fc+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"},"kind":"key.activated","recorded_at":"2026-01-15T09:30:00.000000Z","seq":0,"subject":{"key":"0dc315fc"},"v":1}',  # noqa: E501
    r'{"actor":"token:ci-pipeline","body":{"name":"baseline \"v2\"","params":{"epochs":10,"learning_rate":"0.001"},"seed":"9007199254740993"},"kind":"example.run_created","recorded_at":"2026-01-15T09:31:07.250000Z","seq":1,"subject":{"experiment":"exp-7","run":"run-42"},"v":1}',  # noqa: E501
    r'{"actor":"token:ci-pipeline","body":{"group":{"région":"Île-de-France","sex":"F"},"key":"auc","n":1234,"note":"tab\there","value":"0.8123"},"kind":"example.metric_logged","recorded_at":"2026-01-15T09:31:07.250000Z","seq":2,"subject":{"run":"run-42"},"v":1}',  # noqa: E501
]
EXAMPLE_KEY = "example.org/mlaudit+0dc315fc+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
EXAMPLE_NOTE = (
    "example.org/mlaudit\n3\nvuPZDjJ9bghaQm3PK8cO9bCbh4+GRvNNidq5wl9XfiU=\n\n\u2014 "
    "example.org/mlaudit DcMV/PwBwd+zNe2Z/SyVYdJMhltv8gIiUlbRBobD/5iDHBGCzJv5UmhLf2DIhdsbCgCzd+L7"
    "MUq8VOc2XtCQ8P7VFgY=\n")


def test_worked_example_from_the_format_document(tmp_path: Path) -> None:
    """No database: the document's three entries, key and checkpoint, exported by hand."""
    out = tmp_path / "example"
    (out / "checkpoints").mkdir(parents=True)
    write_records(out, [{"seq": seq, "canonical": b64(text.encode())}
                        for seq, text in enumerate(EXAMPLE_ENTRIES)])
    records = read_records(out)
    rehash(records)
    write_records(out, records)
    (out / "keys.txt").write_text(EXAMPLE_KEY + "\n")
    (out / "checkpoints" / "3.note").write_text(EXAMPLE_NOTE)
    (out / "manifest.json").write_text(json.dumps({
        "format": "mlaudit-export/1", "origin": "example.org/mlaudit", "sha256": {}}))
    reseal_manifest(out)
    code, report = check(out)
    assert code == 0, report
    assert report["root_hash"] == "vuPZDjJ9bghaQm3PK8cO9bCbh4+GRvNNidq5wl9XfiU="
    assert report["chain_hash"] == "ekC+cleiXGJuARo2agIOGbLRUw2rTbCuUp4acIrjozw="
    assert check(out, "--origin", "elsewhere.example/ledger")[1]["damage"]["kind"] == (
        "bad_checkpoint")
