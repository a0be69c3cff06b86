"""Nothing takes effect without an entry: the attacks issue 15 found, replayed as the service's
own least-privilege role (docs/app-role.sql), each refused by the database itself.

Each test builds the state through the services (a model with protected targets, a version,
a pending promotion, tokens, grants), then connects as the role and tries what an attacker
holding its password would: change a row, insert a row no entry backs, or insert one that
names an entry of another kind or values. Direct changes are refused at once (no privilege,
or a trigger); inserted rows at commit (the guards of schema.sql)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from databases import as_app, role_script
from psycopg.conninfo import conninfo_to_dict

from app.ledger.entry import Draft
from app.services import access, artifacts, keys, promotions, registry, tokens, tracking
from app.services.tokens import Principal
from app.services.verification import verify_database

REFUSED = (psycopg.errors.InsufficientPrivilege, psycopg.errors.CheckViolation)


@pytest.fixture
def role(database_url: str, conn: psycopg.Connection) -> Iterator[str]:
    """A URL that connects as the role docs/app-role.sql creates."""
    name = f"mlaudit_app_{uuid.uuid4().hex[:8]}"
    dbname = conninfo_to_dict(database_url)["dbname"]
    conn.execute(role_script(name, dbname))  # type: ignore[arg-type]
    yield as_app(database_url, name)
    conn.execute(f'DROP OWNED BY "{name}"')  # type: ignore[arg-type]
    conn.execute(f'DROP ROLE "{name}"')  # type: ignore[arg-type]


@pytest.fixture
def state(services: Any) -> dict[str, Any]:
    """A model (Production and @champion protected) with a version and a pending promotion;
    a writer and an approver; a grant; a revoked token."""
    run = services.committer.run
    admin = Principal("admin", "admin", "admin")
    experiment, _ = run(lambda w: tracking.create_experiment(w, "token:w", "e", "", {}))
    made, _ = run(lambda w: tracking.create_run(w, "token:w", experiment.id, "r", {}, None,
                                                None, {}))
    blob = services.blobs.put_stream([b"model bytes"], 100)
    run(lambda w: artifacts.record_upload(w, services.blobs, lambda key: _signer(services, key),
                                          "token:w", made.id, "model/m.pkl", blob))
    run(lambda w: registry.create_model(w, "token:admin", "m", "", "", {}, [], None, 1))
    version, _ = run(lambda w: registry.register_version(w, "token:w", "m", made.id, "model"))
    promotion, _ = run(lambda w: promotions.request_promotion(
        w, Principal("w", "w", "writer"), "m", version.version, "Production", "why", None))
    writer, _ = run(lambda w: tokens.create_token(w, "w", "writer", "cli:t"))
    run(lambda w: tokens.create_token(w, "gone", "writer", "cli:t"))
    run(lambda w: tokens.revoke_token(w, "gone", "cli:t"))
    run(lambda w: access.grant(w, "cli:t", "w", experiment.id))
    return {"experiment": experiment.id, "run": made.id, "version": version.version,
            "promotion": promotion.id, "admin": admin}


def _signer(services: Any, key: str) -> Any:
    return keys.signer_for(services.config.keys_path, key)


def attempt(url: str, *statements: str, params: Any = ()) -> BaseException:
    """Run statements as the role in one transaction; the error that stopped them. params:
    one tuple for the statement that has placeholders, or a list of one per statement."""
    each = params if isinstance(params, list) else [params] * len(statements)
    try:
        with psycopg.connect(url) as conn, conn.transaction():
            for statement, values in zip(statements, each, strict=True):
                conn.execute(statement, values or None)  # type: ignore[arg-type]
    except psycopg.Error as exc:
        return exc
    raise AssertionError(f"the database accepted: {statements}")


def test_a_promotion_cannot_be_marked_approved(role: str, state: dict[str, Any]) -> None:
    assert isinstance(attempt(role, "UPDATE promotions SET status = 'approved' WHERE id = %s",
                              params=[(state["promotion"],)]), REFUSED)
    # Nor as a new revision with no approval behind it (the latest entry is not a decision).
    found = attempt(role, "INSERT INTO promotion_revisions SELECT id, model_name, version, "
                    "target, justification, classification, requested_by, 'approved', gates, "
                    "policy_seq, created_seq, (SELECT max(seq) FROM ledger_entries), "
                    "(SELECT max(seq) FROM ledger_entries) FROM promotions WHERE id = %s",
                    params=(state["promotion"],))
    assert isinstance(found, psycopg.errors.CheckViolation), found
    assert "promotion_revisions row names ledger entry" in str(found)


def forge(services: Any, draft: Draft) -> int:
    """An entry appended without its rows: what a holder of the role's password can write.
    Returns its seq. (It is in the ledger for all to see; the rows are what is refused.)"""
    [receipt] = services.committer.run(lambda w: w.append([draft], project=False))
    return int(receipt.seq)


def test_a_forged_approval_entry_without_the_quorum_is_refused(
        role: str, state: dict[str, Any], services: Any) -> None:
    """Even an entry the role wrote itself, with its decisions row, cannot close a quorum-2
    promotion with one approval."""
    run = services.committer.run
    run(lambda w: registry.create_model(w, "token:admin", "m2", "", "", {}, [], None, 2))
    version, _ = run(lambda w: registry.register_version(w, "token:w", "m2", state["run"],
                                                         "model"))
    promotion, _ = run(lambda w: promotions.request_promotion(
        w, Principal("w", "w", "writer"), "m2", version.version, "Production", "why", None))
    body = {"decision": "approve", "outcome": "approve", "comment": "", "role": "approver",
            "approver": "token:mallory", "version_digest": version.version_digest,
            "exception": None, "gates": {}, "reason": None}
    seq = forge(services, Draft("decision.approved", "token:mallory", {
        "promotion": promotion.id, "model": "m2", "version": str(version.version)}, body))
    found = attempt(role, "INSERT INTO decisions (promotion_id, seq, approver, role, outcome, "
                    "comment, exception, version_digest, gates) VALUES (%s, %s, "
                    "'token:mallory', 'approver', 'approve', '', NULL, %s, '{}')",
                    "INSERT INTO promotion_revisions SELECT id, model_name, version, target, "
                    "justification, classification, requested_by, 'approved', gates, "
                    "policy_seq, created_seq, %s, %s FROM promotions WHERE id = %s",
                    params=[(promotion.id, seq, version.version_digest),
                            (seq, seq, promotion.id)])
    assert isinstance(found, psycopg.errors.CheckViolation), found
    assert "(the quorum)" in str(found)


def test_a_token_cannot_be_minted_without_its_entry(role: str, state: dict[str, Any]) -> None:
    digest = hashlib.sha256(b"mla_forged").digest()
    for seq in ("(SELECT max(seq) FROM ledger_entries)", "0"):
        found = attempt(role, "INSERT INTO tokens (id, name, role, token_hash, created_at, "
                        f"created_seq) VALUES ('forged', 'forged', 'admin', %s, now(), {seq})",
                        params=[(digest,)])
        assert isinstance(found, psycopg.errors.CheckViolation), (seq, found)
        assert "an entry of kind token.created" in str(found)


def test_a_token_row_must_say_what_its_entry_says(role: str, state: dict[str, Any],
                                                  services: Any) -> None:
    """A genuine-looking token.created entry for a writer makes no admin."""
    digest = hashlib.sha256(b"mla_forged").digest()
    seq = forge(services, Draft("token.created", "cli:mallory", {"token": "t-forged"}, {
        "name": "forged", "role": "writer", "token_sha256": digest.hex()}))
    found = attempt(role, "INSERT INTO tokens (id, name, role, token_hash, created_at, "
                    "created_seq) SELECT 't-forged', 'forged', 'admin', %s, recorded_at, seq "
                    "FROM ledger_entries WHERE seq = %s", params=[(digest, seq)])
    assert isinstance(found, psycopg.errors.CheckViolation), found
    assert "(role)" in str(found)


def test_grants_cannot_be_removed_or_added_silently(role: str, state: dict[str, Any]) -> None:
    assert isinstance(attempt(role, "DELETE FROM grants"), REFUSED)
    found = attempt(role, "INSERT INTO grant_events (token_id, experiment_id, granted, seq) "
                    "SELECT token_id, experiment_id, false, 0 FROM grants")
    assert isinstance(found, psycopg.errors.CheckViolation), found


def test_revocations_cannot_be_undone(role: str, state: dict[str, Any]) -> None:
    for statement in ("TRUNCATE token_revocations", "DELETE FROM token_revocations",
                      "UPDATE token_revocations SET token_id = token_id"):
        assert isinstance(attempt(role, statement), REFUSED), statement


@pytest.mark.parametrize("statement", [
    "UPDATE model_versions SET stage = 'Production'",
    "UPDATE model_versions SET evidence = '{}'",
    "UPDATE model_versions SET version_digest = repeat('0', 64)",
    "UPDATE model_aliases SET version = version",
    "INSERT INTO model_aliases (model_name, alias, version, seq) VALUES ('m', 'champion', 1, 1)",
    "UPDATE registered_models SET protected_targets = '[]'",
    "UPDATE runs SET status = 'FINISHED'",
    "UPDATE experiments SET name = 'renamed'",
    "UPDATE artifacts SET sha256 = repeat('0', 64)",
    "DELETE FROM artifacts",
    "UPDATE ledger_entries SET actor = 'token:someone-else'",
    "UPDATE ledger_entries SET kind = 'x.y', recorded_at = now()",
    "DELETE FROM decisions",
    "TRUNCATE deployments",
])
def test_current_state_and_evidence_cannot_be_changed(role: str, state: dict[str, Any],
                                                      statement: str) -> None:
    assert isinstance(attempt(role, statement), REFUSED), statement


def test_a_protected_stage_cannot_be_reached_without_an_approval(
        role: str, state: dict[str, Any]) -> None:
    """A revision moving the version to Production, standing on the version's own entry, or on
    an entry of the right kind that cites no approval, is refused at commit."""
    found = attempt(role, "INSERT INTO model_version_revisions SELECT model_name, version, "
                    "run_id, artifact_path, evidence, version_digest, 'Production', created_by, "
                    "created_seq, seq, description, source, logged_model_id, updated_seq, "
                    "(SELECT max(seq) FROM ledger_entries) FROM model_versions")
    assert isinstance(found, psycopg.errors.CheckViolation), found


def test_a_protected_alias_cannot_be_set_without_an_approval(
        role: str, state: dict[str, Any], services: Any) -> None:
    """Even with an entry the role wrote itself: the guard wants an approved promotion."""
    def forge(writer: Any) -> None:
        writer.append([Draft("model_alias.set", "token:w", {"model": "m", "version": "1"},
                             {"alias": "champion", "previous": None, "promotion": None})],
                      project=False)
    # The entry alone changes nothing; its row is what the role cannot add.
    services.committer.run(forge)
    found = attempt(role, "INSERT INTO alias_events (model_name, alias, version, promotion_id, "
                    "seq) VALUES ('m', 'champion', 1, NULL, (SELECT max(seq) FROM "
                    "ledger_entries))")
    assert isinstance(found, psycopg.errors.CheckViolation), found
    assert "an approved promotion" in str(found)


def test_a_version_pin_cannot_be_rewritten(role: str, state: dict[str, Any]) -> None:
    found = attempt(role, "INSERT INTO model_version_revisions SELECT model_name, version, "
                    "run_id, artifact_path, '{\"artifacts\": []}', version_digest, stage, "
                    "created_by, created_seq, stage_seq, description, source, "
                    "logged_model_id, updated_seq, (SELECT max(seq) FROM ledger_entries) "
                    "FROM model_versions")
    assert isinstance(found, psycopg.errors.CheckViolation), found


def test_protected_targets_cannot_be_dropped(role: str, state: dict[str, Any]) -> None:
    found = attempt(role, "INSERT INTO registered_model_revisions SELECT name, description, "
                    "owner, tags, sensitive_attributes, '[]', quorum, created_by, created_seq, "
                    "updated_seq, (SELECT max(seq) FROM ledger_entries) FROM registered_models")
    assert isinstance(found, psycopg.errors.CheckViolation), found


def test_a_deployment_needs_its_entry(role: str, state: dict[str, Any]) -> None:
    found = attempt(role, "INSERT INTO deployments (id, model_name, version, environment, "
                    "deployer, target, promotion_id, deployed_at, seq) VALUES ('d', 'm', 1, "
                    "'prod', 'token:w', '{}', NULL, now(), (SELECT max(seq) FROM "
                    "ledger_entries))")
    assert isinstance(found, psycopg.errors.CheckViolation), found


def test_a_decision_needs_its_entry(role: str, state: dict[str, Any]) -> None:
    found = attempt(role, "INSERT INTO decisions (promotion_id, seq, approver, role, outcome, "
                    "comment, version_digest, gates) VALUES (%s, (SELECT max(seq) FROM "
                    "ledger_entries), 'token:approver', 'approver', 'approve', '', '', '{}')",
                    params=(state["promotion"],))
    assert isinstance(found, psycopg.errors.CheckViolation), found


def test_the_service_still_works_as_the_role_and_verifies(role: str, state: dict[str, Any],
                                                          services: Any) -> None:
    from app import create_app
    from app.config import load_config

    app = create_app(load_config(environ={}, overrides={
        "database_url": role, "home": services.config.home, "checkpoint_interval": 3600.0}))
    try:
        services = app.extensions["mlaudit"]
        secret, _ = services.committer.run(
            lambda w: tokens.create_token(w, "a", "approver", "cli:t"))
        with services.pool.connection() as conn:
            approver = tokens.authenticate(conn, secret)
        assert approver is not None and approver.principal_name == "a"
        decided = services.committer.run(lambda w: promotions.decide(
            w, approver, state["promotion"], "approve", "ok", None))
        assert decided.status == "approved"
        services.checkpointer.sign_now()
    finally:
        app.extensions["mlaudit"].close()
    with psycopg.connect(role, autocommit=True) as conn:
        assert verify_database(conn).damage is None
        assert conn.execute("SELECT stage FROM model_versions").fetchone() == ("Production",)
