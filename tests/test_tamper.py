"""Tamper matrix: a superuser edits the ledger behind the triggers; `mlaudit verify` names it."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from app.ledger import entry as entries
from app.ledger.entry import Draft


@pytest.fixture
def ledger(services: Any, append: Any) -> Any:
    """Entries 0..4 from start-up (the key, MLflow's Default experiment, the rule adopted,
    the admin's principal and token), 27 appended, a checkpoint at 32, then 8 more (size 40)."""
    append(27)
    services.checkpointer.sign_now()
    append(8)
    return services


def verify(run_cli: Any) -> tuple[int, dict[str, Any]]:
    done = run_cli("verify", "--json")
    assert done.stderr == "" or "Traceback" not in done.stderr
    return done.returncode, json.loads(done.stdout)


def damage(run_cli: Any) -> dict[str, Any]:
    code, report = verify(run_cli)
    assert code == 1, report
    assert report["ok"] is False
    return dict(report["damage"])


def test_clean_ledger_verifies(ledger: Any, run_cli: Any) -> None:
    code, report = verify(run_cli)
    assert code == 0
    assert report == {**report, "ok": True, "entries": 40, "checkpoints": 1, "damage": None}


def test_human_output_names_ok(ledger: Any, run_cli: Any) -> None:
    done = run_cli("verify")
    assert done.returncode == 0
    assert done.stdout.startswith("OK: 40 entries and 1 checkpoints verified")


def test_one_changed_byte_is_modified(ledger: Any, bypass: Any, run_cli: Any) -> None:
    with bypass as conn:
        conn.execute("UPDATE ledger_entries SET canonical = "
                     "set_byte(canonical, 20, get_byte(canonical, 20) # 1) WHERE seq = 17")
    found = damage(run_cli)
    assert (found["kind"], found["seq"]) == ("modified", 17)
    assert "leaf hash" in found["detail"]
    assert run_cli("verify").stdout.startswith("DAMAGED at seq 17: modified")


def test_consistently_rehashed_edit_breaks_the_chain(ledger: Any, bypass: Any,
                                                     run_cli: Any) -> None:
    forged = entries.canonical_bytes(Draft("test.appended", "token:mallory"), 9,
                                     "2026-01-01T00:00:00.000000Z")
    with bypass as conn:
        conn.execute("UPDATE ledger_entries SET canonical = %s, leaf_hash = %s WHERE seq = 9",
                     (forged, entries.leaf_hash(forged)))
    found = damage(run_cli)
    assert (found["kind"], found["seq"]) == ("modified", 9)
    assert "chain hash" in found["detail"]


def test_deleted_middle_entry_is_missing(ledger: Any, bypass: Any, run_cli: Any) -> None:
    with bypass as conn:
        conn.execute("DELETE FROM ledger_entries WHERE seq = 12")
    found = damage(run_cli)
    assert (found["kind"], found["seq"]) == ("missing", 12)


def test_deleted_tail_below_checkpoint_is_truncated(ledger: Any, bypass: Any,
                                                    run_cli: Any) -> None:
    with bypass as conn:
        conn.execute("DELETE FROM ledger_entries WHERE seq >= 25")
        head = conn.execute("SELECT chain_hash FROM ledger_entries WHERE seq = 24").fetchone()
        conn.execute("UPDATE ledger_head SET size = 25, chain_hash = %s", (head[0],))
    found = damage(run_cli)
    assert (found["kind"], found["seq"], found["checkpoint"]) == ("truncated", 25, 32)


def test_deleted_tail_without_checkpoint_is_caught_by_head(ledger: Any, bypass: Any,
                                                           run_cli: Any) -> None:
    with bypass as conn:
        conn.execute("DELETE FROM ledger_entries WHERE seq >= 35")
    found = damage(run_cli)
    assert (found["kind"], found["seq"]) == ("truncated", 35)


def _forge_row(conn: Any, seq: int) -> None:
    """A well-formed entry at seq, chained onto seq-1 exactly as the service would."""
    previous = conn.execute("SELECT chain_hash FROM ledger_entries WHERE seq = %s",
                            (seq - 1,)).fetchone()[0]
    canonical = entries.canonical_bytes(Draft("promotion.approved", "token:mallory"), seq,
                                        "2026-01-01T00:00:00.000000Z")
    leaf = entries.leaf_hash(canonical)
    conn.execute(
        "INSERT INTO ledger_entries (seq, canonical, leaf_hash, chain_hash, nodes, kind, actor,"
        " recorded_at) VALUES (%s, %s, %s, %s, '', 'promotion.approved', 'token:mallory', now())",
        (seq, canonical, leaf, entries.chain_hash(previous, leaf)))


def test_inserted_forged_entry_in_the_middle(ledger: Any, bypass: Any, run_cli: Any) -> None:
    with bypass as conn:
        conn.execute("UPDATE ledger_entries SET seq = seq + 1000 WHERE seq >= 20")
        conn.execute("UPDATE ledger_entries SET seq = seq - 999 WHERE seq >= 1000")
        _forge_row(conn, 20)
    found = damage(run_cli)
    assert (found["kind"], found["seq"]) == ("inserted", 20)


def test_inserted_forged_entry_after_the_head(ledger: Any, bypass: Any, run_cli: Any) -> None:
    with bypass as conn:
        _forge_row(conn, 40)
    found = damage(run_cli)
    assert (found["kind"], found["seq"]) == ("inserted", 40)


def test_swapped_entries_are_reordered(ledger: Any, bypass: Any, run_cli: Any) -> None:
    with bypass as conn:
        conn.execute("UPDATE ledger_entries SET seq = 1000 WHERE seq = 5")
        conn.execute("UPDATE ledger_entries SET seq = 5 WHERE seq = 11")
        conn.execute("UPDATE ledger_entries SET seq = 11 WHERE seq = 1000")
    found = damage(run_cli)
    assert (found["kind"], found["seq"]) == ("reordered", 5)
    assert "holds entry 11" in found["detail"]


def test_replaced_checkpoint_signature(ledger: Any, bypass: Any, run_cli: Any) -> None:
    with bypass as conn:
        note = conn.execute("SELECT note FROM checkpoints WHERE tree_size = 32").fetchone()[0]
        body, _, signature_line = note.rpartition("\u2014 ")
        name, encoded = signature_line.split()
        raw = bytearray(base64.b64decode(encoded))
        raw[10] ^= 0x01
        forged = f"{body}\u2014 {name} {base64.b64encode(bytes(raw)).decode()}\n"
        conn.execute("UPDATE checkpoints SET note = %s WHERE tree_size = 32", (forged,))
    found = damage(run_cli)
    assert (found["kind"], found["seq"], found["checkpoint"]) == ("bad_signature", None, 32)


def test_checkpoint_root_changed_with_its_row(ledger: Any, bypass: Any, run_cli: Any) -> None:
    with bypass as conn:
        conn.execute("UPDATE checkpoints SET root_hash = %s WHERE tree_size = 32", (bytes(32),))
    found = damage(run_cli)
    assert (found["kind"], found["checkpoint"]) == ("bad_checkpoint", 32)


def test_tampered_merkle_nodes(ledger: Any, bypass: Any, run_cli: Any) -> None:
    with bypass as conn:
        conn.execute("UPDATE ledger_entries SET nodes = "
                     "set_byte(nodes, 0, get_byte(nodes, 0) # 1) WHERE seq = 15")
    found = damage(run_cli)
    assert (found["kind"], found["seq"]) == ("modified", 15)
    assert "Merkle nodes" in found["detail"]



def test_head_frontier_tampering(ledger: Any, bypass: Any, run_cli: Any) -> None:
    with bypass as conn:
        conn.execute("UPDATE ledger_head SET frontier = set_byte(frontier, 0, "
                     "get_byte(frontier, 0) # 1)")
    found = damage(run_cli)
    assert (found["kind"], found["seq"]) == ("head_mismatch", 39)


def test_trusted_key_rejects_a_key_the_database_added(ledger: Any, run_cli: Any,
                                                      client: Any, tmp_path: Any) -> None:
    genuine = client.get("/api/v1/ledger/keys").json["keys"]
    key_file = tmp_path / "trusted.keys"
    key_file.write_text("\n".join(genuine) + "\n")
    assert run_cli("verify", "--key", str(key_file)).returncode == 0
    assert run_cli("key", "rotate").returncode == 0  # a key the outsider never saw
    ledger.checkpointer.sign_now()
    done = run_cli("verify", "--json", "--key", str(key_file))
    found = json.loads(done.stdout)["damage"]
    assert done.returncode == 1 and found["kind"] == "bad_signature"
    assert run_cli("verify", "--key", "not-a-key").returncode == 2
