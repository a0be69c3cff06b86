"""Separation of duties is between people, not tokens (issue: "People, not tokens").

The attack: `alice` (writer) built, registered and requested a promotion, and `alice.approver`
(an approver token of the same person) approved it; the version went to @champion. Now tokens
belong to principals (people and service accounts, each a ledger entry), and the service and
the database both compare principals: requester, registrant, run author, earlier approvers.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from test_separation_of_duties import DECIDE, V1, Registry, refused

from app.ledger.entry import Draft
from app.services import tokens


def _token(services: Any, name: str, role: str, principal: str | None = None) -> str:
    secret, _ = services.committer.run(
        lambda w: tokens.create_token(w, name, role, "test", principal=principal))
    return str(secret)


def _principal(services: Any, name: str, display: str, kind: str = "person") -> str:
    made, _ = services.committer.run(
        lambda w: tokens.create_principal(w, name, display, kind, "test"))
    return str(made)


@pytest.fixture
def people(client: Any, conn: Any, services: Any, admin_token: str) -> Registry:
    """Alice (one person, a writer token and an approver token), Bob and Carol (approvers,
    Carol with two tokens) and a CI service account holding an approver token."""
    _principal(services, "alice", "Alice Example")
    _principal(services, "carol", "Carol Reviewer")
    _principal(services, "ci-bot", "CI pipeline", "service")
    secrets = {"admin": admin_token,
               "alice": _token(services, "alice", "writer", "alice"),
               "alice.approver": _token(services, "alice.approver", "approver", "alice"),
               "bob": _token(services, "bob", "approver"),
               "carol.a": _token(services, "carol.a", "approver", "carol"),
               "carol.b": _token(services, "carol.b", "approver", "carol"),
               "ci-approver": _token(services, "ci-approver", "approver", "ci-bot")}
    return Registry(client, conn, secrets)


def _alices_champion(people: Registry, model: str, **options: Any) -> str:
    people.model(model, who="alice", **options)
    return people.promote(model, target="@champion", who="alice")


def test_the_same_person_cannot_approve_with_another_token(people: Registry) -> None:
    promotion = _alices_champion(people, "m1")
    response = people.send("alice.approver", "POST", f"{V1}/promotions/{promotion}/decisions",
                           DECIDE)
    refused(response, 403, says="token:alice.approver principal:alice belongs to Alice Example, "
                                "who as token:alice requested this promotion")
    assert people.aliases("m1") == {}
    assert people.status(promotion) == "pending"
    people.approve(promotion, "bob")
    assert people.aliases("m1") == {"champion": 1}


def test_the_quorum_counts_people(people: Registry) -> None:
    promotion = _alices_champion(people, "m2", quorum=2)
    people.approve(promotion, "carol.a")
    response = people.send("carol.b", "POST", f"{V1}/promotions/{promotion}/decisions", DECIDE)
    refused(response, 403, says="already approved this promotion")
    assert people.status(promotion) == "pending"
    people.approve(promotion, "bob")
    assert people.status(promotion) == "approved"


def test_a_service_account_cannot_decide(people: Registry) -> None:
    promotion = _alices_champion(people, "m3")
    response = people.send("ci-approver", "POST", f"{V1}/promotions/{promotion}/decisions",
                           DECIDE)
    refused(response, 403, says="belongs to a service account")
    assert people.status(promotion) == "pending"


def test_entries_name_the_token_and_its_principal(people: Registry) -> None:
    promotion = _alices_champion(people, "m4")
    people.approve(promotion, "carol.a")
    entries = [json.loads(bytes(c)) for (c,) in people.conn.execute(
        "SELECT canonical FROM ledger_entries WHERE kind IN ('promotion.requested', "
        "'decision.approved') AND convert_from(canonical, 'UTF8') LIKE %s ORDER BY seq",
        (f"%{promotion}%",))]
    requested, approved = entries
    assert requested["actor"] == "token:alice"  # the principal has the token's name
    assert approved["actor"] == "token:carol.a principal:carol"
    carol = people.call("admin", "GET", f"{V1}/principals")["principals"]
    carol_id = next(p["id"] for p in carol if p["name"] == "carol")
    assert approved["body"]["principal"] == carol_id
    assert approved["body"]["printed_name"] == "Carol Reviewer"


def test_principals_and_tokens_are_listed(people: Registry) -> None:
    found = {p["name"]: p for p in people.call("auditor" if "auditor" in people.secrets
                                               else "admin", "GET", f"{V1}/principals")
             ["principals"]}
    assert found["alice"]["tokens"] == ["alice", "alice.approver"]
    assert found["alice"]["display_name"] == "Alice Example"
    assert found["ci-bot"]["kind"] == "service"
    assert found["bob"] == {**found["bob"], "kind": "person", "tokens": ["bob"]}
    listed = {t["name"]: t["principal"] for t in
              people.call("admin", "GET", f"{V1}/tokens")["tokens"]}
    assert listed["alice.approver"] == "alice" and listed["bob"] == "bob"


def _forged_approval(services: Any, conn: Any, promotion: str, token: str) -> None:
    """A decision.approved entry for `token`, appended as the service role could, past every
    check of the service (the database's guards are what is tested)."""
    row = conn.execute("SELECT model_name, version FROM promotions WHERE id = %s",
                       (promotion,)).fetchone()
    holder = conn.execute(
        "SELECT p.id, p.name FROM tokens t JOIN token_principals tp ON tp.token_id = t.id "
        "JOIN principals p ON p.id = tp.principal_id WHERE t.name = %s", (token,)).fetchone()
    actor = tokens.actor_of(token, holder[1])
    digest = conn.execute("SELECT version_digest FROM model_versions WHERE model_name = %s "
                          "AND version = %s", row).fetchone()[0]
    body = {"decision": "approve", "outcome": "approve", "comment": "", "role": "approver",
            "approver": actor, "version_digest": digest, "exception": None,
            "gates": {"passed": True}, "reason": None, "principal": holder[0],
            "printed_name": holder[1]}
    services.committer.run(lambda w: w.append([Draft(
        "decision.approved", actor,
        {"promotion": promotion, "model": row[0], "version": str(row[1])}, body)]))


@pytest.mark.parametrize(("token", "says"), [
    ("alice.approver", "an approver who did not request it"),
    ("ci-approver", "an approver who is a person")])
def test_the_database_refuses_a_forged_approval(people: Registry, services: Any,
                                                token: str, says: str) -> None:
    promotion = _alices_champion(people, f"m5-{token}")
    with pytest.raises(psycopg.errors.CheckViolation, match=says):
        _forged_approval(services, people.conn, promotion, token)
    assert people.status(promotion) == "pending"


def test_the_database_refuses_an_approval_by_a_builder(people: Registry,
                                                       services: Any) -> None:
    people.model("m6", who="alice")
    promotion = people.promote("m6", target="@champion", who="admin")
    with pytest.raises(psycopg.errors.CheckViolation, match="an approver who did not build it"):
        _forged_approval(services, people.conn, promotion, "alice.approver")


def test_the_database_refuses_a_decision_naming_another_principal(people: Registry,
                                                                  services: Any) -> None:
    promotion = _alices_champion(people, "m7")
    bob = people.conn.execute("SELECT id FROM principals WHERE name = 'bob'").fetchone()[0]
    row = people.conn.execute("SELECT model_name, version FROM promotions WHERE id = %s",
                              (promotion,)).fetchone()
    body = {"decision": "approve", "outcome": "approve", "comment": "", "role": "approver",
            "approver": "token:alice.approver principal:alice", "version_digest": "x",
            "exception": None, "gates": {}, "reason": None, "principal": bob,
            "printed_name": "Bob"}
    with pytest.raises(psycopg.errors.CheckViolation,
                       match="the principal its token belongs to"):
        services.committer.run(lambda w: w.append([Draft(
            "decision.approved", body["approver"],
            {"promotion": promotion, "model": row[0], "version": str(row[1])}, body)]))


def test_tokens_from_before_principals_get_one_each(services: Any, conn: Any,
                                                    client: Any) -> None:
    secret = f"{tokens.TOKEN_PREFIX}made-before-principals"
    services.committer.run(lambda w: w.append([Draft(
        "token.created", "cli:old", {"token": "0123456789abcdef"},
        {"name": "old-ci", "role": "auditor",
         "token_sha256": tokens.token_hash(secret).hex()})]))
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get(f"{V1}/tokens", headers=headers).status_code == 401  # fails closed
    receipts = services.committer.run(tokens.ensure_principals)
    assert [r.seq for r in receipts] == sorted(r.seq for r in receipts) and len(receipts) == 2
    kinds = [k for (k,) in conn.execute(
        "SELECT kind FROM ledger_entries WHERE seq >= %s ORDER BY seq", (receipts[0].seq,))]
    assert kinds == ["principal.created", "token.assigned"]
    assert client.get(f"{V1}/tokens", headers=headers).status_code == 200
    assert services.committer.run(tokens.ensure_principals) == []  # once only


def test_the_cli_makes_principals_and_their_tokens(run_cli: Any) -> None:
    done = run_cli("principal", "create", "dana", "--display-name", "Dana Q. Officer")
    assert done.returncode == 0, done.stderr
    assert "created person 'dana' (Dana Q. Officer)" in done.stderr
    done = run_cli("token", "create", "--name", "dana.approver", "--role", "approver",
                   "--principal", "dana")
    assert done.returncode == 0, done.stderr
    assert "for principal 'dana'" in done.stderr
    assert done.stdout.strip().startswith(tokens.TOKEN_PREFIX)
    missing = run_cli("token", "create", "--name", "x", "--role", "writer",
                      "--principal", "nobody")
    assert missing.returncode != 0 and "no principal is named 'nobody'" in missing.stderr
    listed = run_cli("principal", "list")
    assert listed.returncode == 0 and "Dana Q. Officer" in listed.stdout
    assert "tokens: dana.approver" in listed.stdout
    again = run_cli("principal", "create", "dana", "--display-name", "Other")
    assert again.returncode != 0 and "already exists" in again.stderr

