"""The trust file holds the database to keys and a checkpoint kept outside it.

The attack it answers: someone who can write the database rewrites an entry, recomputes every
later hash, node and the head, deletes the checkpoints and signs new ones with a key of their
own, added to signing_keys. The database then agrees with itself (`mlaudit verify --no-trust`
says OK); a plain `mlaudit verify`, the self-check and /readyz do not."""

from __future__ import annotations

import json
import stat
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.ledger import merkle
from app.ledger.checkpoint import Checkpoint, Signer, sign_checkpoint
from app.ledger.entry import chain_hash, leaf_hash
from app.services import keys, trust

FORGER = Signer("mlaudit.local/ledger", Ed25519PrivateKey.generate())


def rewrite(conn: psycopg.Connection, seq: int, old: bytes, new: bytes) -> None:
    """Edit entry seq's canonical bytes and recompute every hash, node and the head after it;
    replace the checkpoints and keys with the forger's (triggers off, as a superuser can)."""
    for table in ("ledger_entries", "ledger_head", "checkpoints", "signing_keys"):
        conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")  # type: ignore[arg-type]
    name, at, key_seq, genuine = conn.execute(
        "SELECT name, activated_at, seq, verifier_key FROM signing_keys").fetchone()  # type: ignore[misc]
    # The forger's key is announced by the key.activated entry too, so signing_keys still
    # agrees with the ledger.
    edits = {key_seq: (genuine.encode(), FORGER.verifier_key.to_string().encode()),
             seq: (old, new)}
    rows = conn.execute("SELECT seq, canonical FROM ledger_entries ORDER BY seq").fetchall()
    tree, chain = merkle.CompactRange(), bytes(32)
    for position, canonical in rows:
        canonical = bytes(canonical)
        if position in edits:
            assert edits[position][0] in canonical
            canonical = canonical.replace(*edits[position])
        leaf = leaf_hash(canonical)
        chain = chain_hash(chain, leaf)
        nodes = b"".join(tree.append(leaf))
        conn.execute("UPDATE ledger_entries SET canonical = %s, leaf_hash = %s, chain_hash = %s,"
                     " nodes = %s WHERE seq = %s", (canonical, leaf, chain, nodes, position))
    conn.execute("UPDATE ledger_head SET chain_hash = %s, frontier = %s",
                 (chain, tree.to_bytes()))
    conn.execute("DELETE FROM checkpoints")
    note = sign_checkpoint(Checkpoint("mlaudit.local/ledger", tree.size, tree.root()), [FORGER])
    conn.execute("INSERT INTO checkpoints (tree_size, root_hash, key_id, note, signed_at) "
                 "VALUES (%s, %s, %s, %s, now())",
                 (tree.size, tree.root(), FORGER.verifier_key.key_id, note))
    conn.execute("DELETE FROM signing_keys")
    conn.execute("INSERT INTO signing_keys (verifier_key, name, key_id, public_key, "
                 "activated_at, seq) VALUES (%s, %s, %s, %s, %s, %s)",
                 (FORGER.verifier_key.to_string(), name, FORGER.verifier_key.key_id,
                  FORGER.verifier_key.public_key, at, key_seq))


def test_first_start_writes_the_trust_file(config: Any, services: Any,
                                          conn: psycopg.Connection) -> None:
    path = config.trust_path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    kept = trust.load(path)
    assert kept is not None and kept.checkpoint is None and kept.origin == config.origin
    assert list(kept.keys) == [k.to_string() for k in keys.verifier_keys(conn)]


def test_signing_moves_the_kept_checkpoint_forward(config: Any, services: Any,
                                                   append: Any) -> None:
    append(3)
    first = services.checkpointer.sign_now()
    append(2)
    second = services.checkpointer.sign_now()
    kept = trust.load(config.trust_path)
    assert kept is not None and kept.checkpoint is not None
    assert kept.checkpoint.tree_size == second.tree_size > first.tree_size
    assert stat.S_IMODE(config.trust_path.stat().st_mode) == 0o600


def test_a_full_rewrite_passes_its_own_keys_but_not_the_trust_file(
        services: Any, append: Any, conn: psycopg.Connection, run_cli: Any,
        client: Any) -> None:
    append(4)
    services.checkpointer.sign_now()
    rewrite(conn, 6, b'"i":1', b'"i":7')
    alone = run_cli("verify", "--json", "--no-trust")
    assert alone.returncode == 0, alone.stdout  # the database agrees with itself
    held = run_cli("verify", "--json")
    assert held.returncode == 1, held.stdout
    damage = json.loads(held.stdout)["damage"]
    assert damage["kind"] == "bad_signature", damage
    assert "checkpoint" in damage["detail"]
    services.selfcheck.run_once()
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert "bad_signature" in ready.get_json()["detail"]


def test_a_rewrite_that_deletes_every_checkpoint_is_held_to_the_kept_one(
        services: Any, append: Any, conn: psycopg.Connection, run_cli: Any) -> None:
    append(4)
    services.checkpointer.sign_now()
    rewrite(conn, 6, b'"i":1', b'"i":7')
    conn.execute("DELETE FROM checkpoints")
    held = run_cli("verify", "--json")
    assert held.returncode == 1
    damage = json.loads(held.stdout)["damage"]
    assert damage["kind"] == "bad_checkpoint", damage
    assert "was rewritten" in damage["detail"]


def test_signing_refuses_a_rewritten_past(services: Any, append: Any, client: Any,
                                          conn: psycopg.Connection) -> None:
    append(4)
    services.checkpointer.sign_now()
    rewrite(conn, 6, b'"i":1', b'"i":7')
    conn.execute("DELETE FROM checkpoints")
    append(1)
    token = services.config.admin_token_path.read_text().strip()
    response = client.get("/api/v1/ledger/checkpoints/latest",
                          headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503, response.get_json()
    assert client.get("/readyz").status_code == 503


def test_a_rotated_key_is_added_to_the_trust_file(config: Any, services: Any,
                                                  run_cli: Any) -> None:
    done = run_cli("key", "rotate")
    assert done.returncode == 0, done.stderr
    kept = trust.load(config.trust_path)
    assert kept is not None and done.stdout.split()[4] in kept.keys
    assert run_cli("verify").returncode == 0


def test_a_key_is_trusted_with_add_key(config: Any, run_cli: Any) -> None:
    """A host that did not rotate, or an auditor, adds the new key by hand."""
    key = Signer("mlaudit.local/ledger", Ed25519PrivateKey.generate()).verifier_key.to_string()
    assert key not in run_cli("trust", "show").stdout
    done = run_cli("trust", "add-key", key)
    assert done.returncode == 0, done.stderr
    kept = trust.load(config.trust_path)
    assert kept is not None and key in kept.keys
    assert run_cli("verify").returncode == 0
    assert run_cli("trust", "add-key", "not-a-key").returncode == 2
