"""Protected names can't be dodged (issue 16, section 4), and a model registered through
MLflow gets its policy and sensitive attributes like any other.

The attack: a CI (writer) token set @prod, @production, @live, @Champion and @CHAMPION on a
rejected version with no approval, and the model report then listed "CHAMPION, Champion" on
it. Each test below failed on the code before the fix."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from databases import as_app

from app import cli
from app.client.registry import gates_word, promotion_lines
from app.ledger.entry import Draft
from app.services import registry
from app.services.verification import verify_database
from app.tracking import gates

MLFLOW = "/api/2.0/mlflow"
V1 = "/api/v1"
DODGES = ("prod", "production", "live", "Champion", "CHAMPION")


def send(client: Any, token: str, method: str, path: str, payload: Any = None) -> Any:
    return client.open(path, method=method, headers={"Authorization": f"Bearer {token}"},
                       data=None if payload is None else json.dumps(payload),
                       content_type="application/json")


def ok(response: Any) -> Any:
    assert response.status_code < 300, response.json
    return response.json


@pytest.fixture
def people(services: Any, admin_token: str) -> dict[str, str]:
    from app.services import tokens

    def token(name: str, role: str) -> str:
        secret, _ = services.committer.run(
            lambda writer: tokens.create_token(writer, name, role, "test"))
        return str(secret)

    return {"admin": admin_token, "ci": token("ci", "writer"),
            "risk": token("risk", "approver")}


@pytest.fixture
def rejected(client: Any, people: dict[str, str]) -> dict[str, Any]:
    """'credit', registered through MLflow by the CI token, with version 1 whose promotion
    to Production an approver rejected."""
    ci = people["ci"]
    experiment = ok(send(client, ci, "POST", f"{V1}/experiments", {"name": "credit"}))["id"]
    run = ok(send(client, ci, "POST", f"{V1}/runs", {"experiment_id": experiment}))["id"]
    ok(send(client, ci, "POST", f"{V1}/runs/{run}/batch", {
        "params": [{"key": "lr", "value": "0.1"}],
        "metrics": [{"key": "auc", "value": "0.81"},
                    {"key": "selection_rate", "value": "0.6", "group": {"sex": "M"}, "n": 90},
                    {"key": "selection_rate", "value": "0.5", "group": {"sex": "F"}, "n": 80}]}))
    assert client.put(f"{V1}/runs/{run}/artifacts/model/model.pkl", data=b"weights",
                      headers={"Authorization": f"Bearer {ci}"}).status_code == 201
    ok(send(client, ci, "POST", f"{MLFLOW}/registered-models/create", {"name": "credit"}))
    ok(send(client, ci, "POST", f"{V1}/models/credit/versions",
            {"run_id": run, "artifact_path": "model"}))
    promotion = ok(send(client, ci, "POST", f"{V1}/models/credit/versions/1/promotions",
                        {"target": "Production", "justification": "ready"}))
    decided = ok(send(client, people["risk"], "POST",
                      f"{V1}/promotions/{promotion['id']}/decisions",
                      {"decision": "reject", "comment": "not convinced"}))
    assert decided["status"] == "rejected"
    return {"run": run, "promotion": promotion}


def entry(client: Any, token: str, seq: int) -> dict[str, Any]:
    """The ledger entry at seq, as its hashed bytes say."""
    found = ok(send(client, token, "GET", f"{V1}/ledger/entries/{seq}"))
    return dict(json.loads(base64.b64decode(found["canonical"])))


def aliases(client: Any, token: str) -> dict[str, int]:
    return dict(ok(send(client, token, "GET", f"{V1}/models/credit"))["aliases"])


# -- 1. names and case ----------------------------------------------------------------------

def test_the_ci_token_cannot_alias_a_rejected_version_by_synonym_or_case(
        client: Any, people: dict[str, str], rejected: dict[str, Any]) -> None:
    ci = people["ci"]
    for alias in DODGES:
        done = send(client, ci, "POST", f"{MLFLOW}/registered-models/alias",
                    {"name": "credit", "alias": alias, "version": "1"})
        assert done.status_code == 403, (alias, done.json)
        assert done.json["error_code"] == "PERMISSION_DENIED"
        moved = send(client, ci, "POST", f"{V1}/models/credit/versions/1/transition",
                     {"target": f"@{alias}"})
        assert moved.status_code in (403, 409), (alias, moved.json)
    assert aliases(client, ci) == {}
    # The variant names the protected spelling, so the requester knows what to ask for.
    variant = send(client, ci, "POST", f"{MLFLOW}/registered-models/alias",
                   {"name": "credit", "alias": "CHAMPION", "version": "1"})
    assert "@champion" in variant.json["message"]
    model = ok(send(client, ci, "GET", f"{V1}/models/credit"))
    assert model["protected_targets"] == ["alias:champion", "alias:live", "alias:prod",
                                          "alias:production", "stage:Production"]


def test_a_stage_is_protected_whatever_its_case(client: Any, people: dict[str, str],
                                                 rejected: dict[str, Any]) -> None:
    for stage in ("production", "PRODUCTION", "Production"):
        done = send(client, people["ci"], "POST", f"{MLFLOW}/model-versions/transition-stage",
                    {"name": "credit", "version": "1", "stage": stage,
                     "archive_existing_versions": False})
        assert done.status_code == 403, (stage, done.json)


def test_look_alike_alias_names_are_refused(client: Any, people: dict[str, str],
                                            rejected: dict[str, Any]) -> None:
    """A Cyrillic 'с' or a fullwidth name would print like 'champion' in a report."""
    for alias in ("\u0441hampion", "\uff43hampion", "champion\u200b"):
        done = send(client, people["ci"], "POST", f"{MLFLOW}/registered-models/alias",
                    {"name": "credit", "alias": alias, "version": "1"})
        assert done.status_code == 400, (alias, done.json)
        moved = send(client, people["ci"], "POST", f"{V1}/models/credit/versions/1/transition",
                     {"target": f"@{alias}"})
        assert moved.status_code == 400, (alias, moved.json)
    assert aliases(client, people["ci"]) == {}


def test_an_approved_promotion_uses_the_protected_spelling(
        client: Any, people: dict[str, str], rejected: dict[str, Any]) -> None:
    ci = people["ci"]
    asked = ok(send(client, ci, "POST", f"{V1}/models/credit/versions/1/promotions",
                    {"target": "@Champion", "justification": "retrained"}))
    assert asked["promotion"]["target"] == "alias:champion"
    ok(send(client, people["risk"], "POST", f"{V1}/promotions/{asked['id']}/decisions",
            {"decision": "approve", "comment": "fine"}))
    assert aliases(client, ci) == {"champion": 1}
    # The approval covers @champion, never a second spelling of it beside it.
    again = send(client, ci, "POST", f"{MLFLOW}/registered-models/alias",
                 {"name": "credit", "alias": "CHAMPION", "version": "1"})
    assert again.status_code == 403
    assert aliases(client, ci) == {"champion": 1}


def test_the_database_refuses_a_case_variant_of_a_protected_alias(
        services: Any, database_url: str, rejected: dict[str, Any]) -> None:
    """An entry the app role wrote itself, without an approval: the row is refused at commit
    though the alias is spelled differently from the protected name."""
    role = as_app(database_url)
    for alias in ("CHAMPION", "Prod"):
        [receipt] = services.committer.run(lambda w, a=alias: w.append([Draft(
            "model_alias.set", "token:ci", {"model": "credit", "version": "1"},
            {"alias": a, "previous": None, "promotion": None})], project=False))
        with pytest.raises(psycopg.errors.CheckViolation, match="an approved promotion"), \
                psycopg.connect(role) as conn, conn.transaction():
            conn.execute("INSERT INTO alias_events (model_name, alias, version, promotion_id, "
                         "seq) VALUES ('credit', %s, 1, NULL, %s)", (alias, receipt.seq))


# -- the protected set: configurable per model, ledgered, guarded ---------------------------

def test_the_protected_set_is_configurable_and_each_change_is_an_entry(
        client: Any, people: dict[str, str], rejected: dict[str, Any], conn: Any) -> None:
    ci, admin = people["ci"], people["admin"]
    path = f"{V1}/models/credit/protected-targets"
    # A writer may add a name...
    added = ok(send(client, ci, "PUT", path, {"protected_targets": [
        "Production", "@champion", "@prod", "@production", "@live", "@gold"]}))
    assert added["protected_targets"] == ["alias:champion", "alias:gold", "alias:live",
                                          "alias:prod", "alias:production", "stage:Production"]
    made = entry(client, admin, added["receipt"]["seq"])
    assert made["kind"] == "model.protection_set"
    assert send(client, ci, "POST", f"{V1}/models/credit/versions/1/transition",
                {"target": "@GOLD"}).status_code == 403
    # ...but not take one away: only an admin may, and that is an entry too.
    fewer = send(client, ci, "PUT", path, {"protected_targets": ["Production", "@champion"]})
    assert fewer.status_code == 403 and "admin" in fewer.json["detail"]
    # Two spellings of one name are one name.
    twice = send(client, admin, "PUT", path, {"protected_targets": ["@gold", "@GOLD"]})
    assert twice.status_code == 400
    narrowed = ok(send(client, admin, "PUT", path, {"protected_targets": ["Production"]}))
    assert narrowed["protected_targets"] == ["stage:Production"]
    ok(send(client, ci, "POST", f"{V1}/models/credit/versions/1/transition",
            {"target": "@live"}))
    # A name cannot become protected while an alias of it (any case) stands unapproved.
    held = send(client, admin, "PUT", path, {"protected_targets": ["Production", "@LIVE"]})
    assert held.status_code == 409 and "@live" in held.json["detail"]
    assert verify_database(conn).damage is None


def test_the_protected_set_row_needs_its_entry(services: Any, database_url: str,
                                               rejected: dict[str, Any]) -> None:
    """A forged model.protection_set entry that protects less than its row claims, or a row
    with no such entry, is refused by the database."""
    role = as_app(database_url)
    [receipt] = services.committer.run(lambda w: w.append([Draft(
        "model.protection_set", "token:ci", {"model": "credit"},
        {"protected_targets": ["stage:Production"]})], project=False))
    with pytest.raises(psycopg.errors.CheckViolation, match="protected_targets"), \
            psycopg.connect(role) as conn, conn.transaction():
        conn.execute("INSERT INTO registered_model_revisions SELECT name, description, owner, "
                     "tags, sensitive_attributes, '[]'::jsonb, quorum, created_by, created_seq, "
                     "%s, %s FROM registered_models WHERE name = 'credit'",
                     (receipt.seq, receipt.seq))


# -- 2. policies and sensitive attributes on an MLflow-registered model ---------------------

POLICY_WITH_NUMBERS = (
    '{"required_params": ["lr"], "minimums": [{"metric": "auc", "at_least": 0.75}], '
    '"maximums": [{"metric": "auc", "at_most": 1}], '
    '"fairness": [{"metric": "selection_rate", "attribute": "sex", '
    '"min_max_ratio_at_least": 0.8, "min_n": 30}]}')


def test_no_policy_is_shown_as_no_policy_not_as_passed(
        client: Any, people: dict[str, str], rejected: dict[str, Any]) -> None:
    gates_seen = rejected["promotion"]["promotion"]["gates"]
    assert gates_seen["policy_seq"] is None and gates_seen["passed"] is None
    assert gates_word(gates_seen) == "no policy set"
    # Entries written before the fix said passed: true; they still read as no policy.
    assert gates_word({"policy_seq": None, "passed": True, "results": []}) == "no policy set"
    shown = "\n".join(promotion_lines(rejected["promotion"]["promotion"]))
    assert shown.count("no policy") == 1 and "passed" not in shown


def test_policy_and_sensitive_attributes_on_a_model_registered_through_mlflow(
        client: Any, people: dict[str, str], rejected: dict[str, Any]) -> None:
    ci, admin = people["ci"], people["admin"]
    attrs = f"{V1}/models/credit/sensitive-attributes"
    added = ok(send(client, ci, "PUT", attrs, {"sensitive_attributes": ["sex", "age_band"]}))
    assert added["sensitive_attributes"] == ["age_band", "sex"]
    removed = send(client, ci, "PUT", attrs, {"sensitive_attributes": ["age_band"]})
    assert removed.status_code == 403  # a builder must not drop what the gates look at
    assert ok(send(client, admin, "PUT", attrs, {"sensitive_attributes": ["sex"]}))[
        "sensitive_attributes"] == ["sex"]
    # A policy with JSON numbers is stored (and hashed) as decimal strings.
    refused = client.put(f"{V1}/models/credit/policy", data='{"policy": ' + POLICY_WITH_NUMBERS
                         + "}", content_type="application/json",
                         headers={"Authorization": f"Bearer {ci}"})
    assert refused.status_code == 403
    set_ = client.put(f"{V1}/models/credit/policy", data='{"policy": ' + POLICY_WITH_NUMBERS
                      + "}", content_type="application/json",
                      headers={"Authorization": f"Bearer {admin}"})
    assert set_.status_code == 200, set_.json
    made = entry(client, admin, set_.json["receipt"]["seq"])
    policy = made["body"]["policy"]
    assert policy["minimums"] == [{"metric": "auc", "at_least": "0.75"}]
    assert policy["maximums"] == [{"metric": "auc", "at_most": "1"}]
    assert policy["fairness"][0]["min_max_ratio_at_least"] == "0.8"
    model = ok(send(client, ci, "GET", f"{V1}/models/credit"))
    assert model["sensitive_attributes"] == ["sex"] and model["policy"]["policy"] == policy
    asked = ok(send(client, ci, "POST", f"{V1}/models/credit/versions/1/promotions",
                    {"target": "@champion", "justification": "with a policy now"}))
    seen = asked["promotion"]["gates"]
    assert seen["passed"] is True and seen["policy_seq"] == made["seq"]
    assert len(seen["results"]) == 4


def test_policy_numbers_are_read_from_their_json_text_never_from_a_float() -> None:
    parsed = json.loads('{"minimums": [{"metric": "a", "at_least": 1e-3}, '
                        '{"metric": "b", "at_least": 0.1}, {"metric": "c", "at_least": 7}]}',
                        parse_float=Decimal)
    assert [m["at_least"] for m in gates.validate_policy(parsed)["minimums"]] == [
        "0.001", "0.1", "7"]
    for bad in (0.1, True, Decimal("NaN"), "0.1 "):
        with pytest.raises(gates.PolicyError):
            gates.validate_policy({"minimums": [{"metric": "a", "at_least": bad}]})


def test_cli_set_policy(server: str, client: Any, people: dict[str, str],
                        rejected: dict[str, Any], tmp_path: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(POLICY_WITH_NUMBERS)
    code = cli.main(["models", "set-policy", "credit", "--file", str(policy), "--url", server,
                     "--token", people["admin"]])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "policy.set" in out and "seq " in out
    stored = ok(send(client, people["ci"], "GET", f"{V1}/models/credit"))["policy"]["policy"]
    assert stored["fairness"][0]["min_max_ratio_at_least"] == "0.8"
    code = cli.main(["models", "set-sensitive-attributes", "credit", "sex", "region",
                     "--url", server, "--token", people["ci"]])
    assert code == 0, capsys.readouterr()
    assert ok(send(client, people["ci"], "GET", f"{V1}/models/credit"))[
        "sensitive_attributes"] == ["region", "sex"]
    code = cli.main(["models", "set-protected", "credit", "Production", "@champion",
                     "@production", "@prod", "@live", "@gold", "--url", server,
                     "--token", people["ci"]])
    assert code == 0 and "@gold" not in capsys.readouterr().err
    assert "alias:gold" in ok(send(client, people["ci"], "GET", f"{V1}/models/credit"))[
        "protected_targets"]
    # A file that is not a JSON object is one line and exit 2, and nothing is sent.
    policy.write_text("[0.8]")
    assert cli.main(["models", "set-policy", "credit", "--file", str(policy), "--url", server,
                     "--token", people["admin"]]) == 2
    assert "must hold a JSON object" in capsys.readouterr().err


def test_the_protection_rule_is_one_function() -> None:
    model = type("M", (), {"protected_targets": ["alias:champion", "stage:Production"]})()
    assert registry.protected_as(model, "alias:CHAMPION") == "alias:champion"  # type: ignore[arg-type]
    assert registry.protected_as(model, "alias:challenger") is None  # type: ignore[arg-type]


def test_a_report_never_prints_a_look_alike_as_the_protected_name() -> None:
    """An alias carrying a protected name without an approved promotion (only a ledger
    written before these rules can hold one) is printed as what it is."""
    from app.services.report_model import _alias_label

    class Events:
        def rows(self, table: str) -> list[dict[str, Any]]:
            assert table == "alias_events"
            return [{"model_name": "m", "alias": "CHAMPION", "version": 1, "promotion_id": None,
                     "seq": 5},
                    {"model_name": "m", "alias": "champion", "version": 1,
                     "promotion_id": "p1", "seq": 6},
                    {"model_name": "m", "alias": "prod", "version": 1, "promotion_id": None,
                     "seq": 7}]

    model = {"name": "m", "protected_targets": ["alias:champion", "alias:prod"]}
    label = _alias_label(Events(), model, "CHAMPION")  # type: ignore[arg-type]
    assert label == "CHAMPION (no approved promotion: protected name @champion)"
    assert _alias_label(Events(), model, "champion") == "champion"  # type: ignore[arg-type]
    assert _alias_label(Events(), model, "prod").startswith("prod (no approved")  # type: ignore[arg-type]
    assert _alias_label(Events(), model, "challenger") == "challenger"  # type: ignore[arg-type]


@pytest.mark.parametrize("number", ["1E+999999999999999999999", "-1e-99999999999999999999999"])
def test_a_number_beyond_decimal_range_is_a_400_not_a_500(
        client: Any, people: dict[str, str], number: str) -> None:
    """Found while accepting JSON numbers in policies: the parser's Decimal raised
    InvalidOperation (HTTP 500) for an exponent out of its range, on every JSON route."""
    named = '{"name": ' + number + "}"
    policy = '{"policy": {"minimums": [{"metric": "a", "at_least": ' + number + "}]}}"
    for method, path, body in (("PUT", f"{V1}/models/credit/policy", policy),
                               ("POST", f"{V1}/experiments", named)):
        done = client.open(path, method=method, data=body, content_type="application/json",
                           headers={"Authorization": f"Bearer {people['admin']}"})
        assert done.status_code == 400, (path, done.json)
    mlflow = client.post(f"{MLFLOW}/experiments/create", data=named,
                         content_type="application/json",
                         headers={"Authorization": f"Bearer {people['admin']}"})
    assert mlflow.status_code == 400 and mlflow.json["error_code"] == "INVALID_PARAMETER_VALUE"


# -- history: judged by the rules and the protected set in force when it was written -----------


def _guarded_insert(conn: Any, alias: str, seq: int) -> None:
    """Insert an alias_events row for an entry and run its deferred guard at once."""
    conn.execute("INSERT INTO alias_events (model_name, alias, version, promotion_id, seq) "
                 "VALUES ('credit', %s, 1, NULL, %s)", (alias, seq))
    conn.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_an_alias_is_judged_by_the_protected_set_as_of_its_entry(
        client: Any, people: dict[str, str], rejected: dict[str, Any], conn: Any) -> None:
    """@gold was set and removed while unprotected, then protected: replaying the old entry
    (a rebuild, an upgrade) must not refuse it."""
    ci, admin = people["ci"], people["admin"]
    made = ok(send(client, ci, "POST", f"{V1}/models/credit/versions/1/transition",
                   {"target": "@gold"}))
    seq = made["receipts"][0]["seq"] if "receipts" in made else made["receipt"]["seq"]
    ok(send(client, ci, "DELETE", f"{MLFLOW}/registered-models/alias",
            {"name": "credit", "alias": "gold"}))
    ok(send(client, admin, "PUT", f"{V1}/models/credit/protected-targets",
            {"protected_targets": ["Production", "@champion", "@gold"]}))
    with conn.transaction(force_rollback=True):  # replay that one row, as a rebuild does
        conn.execute("ALTER TABLE alias_events DISABLE TRIGGER alias_events_no_update_delete")
        conn.execute("DELETE FROM alias_events WHERE seq = %s", (seq,))
        _guarded_insert(conn, "gold", seq)  # as of its entry, @gold was not protected


def test_ignoring_case_holds_from_the_entry_that_adopted_it(
        services: Any, rejected: dict[str, Any], conn: Any) -> None:
    """Entries before the rules.adopted entry are judged by exact names (as the version that
    wrote them did), so a ledger an older version accepted still replays; after it, a case
    variant of a protected name is refused."""
    from app.services import rules

    assert services.committer.run(rules.ensure_rules) == []  # adopted once, at first start
    [receipt] = services.committer.run(lambda w: w.append([Draft(
        "model_alias.set", "token:ci", {"model": "credit", "version": "1"},
        {"alias": "CHAMPION", "previous": None, "promotion": None})], project=False))

    def adopted_at(seq: int) -> None:
        conn.execute("ALTER TABLE rules_adopted DISABLE TRIGGER USER")  # as a superuser can
        conn.execute("UPDATE rules_adopted SET seq = %s "
                     "WHERE rule = 'protected-names-ignore-case'", (seq,))

    with conn.transaction(force_rollback=True):
        adopted_at(receipt.seq)  # not before the entry: judged by exact names
        _guarded_insert(conn, "CHAMPION", receipt.seq)
    with conn.transaction(force_rollback=True):
        adopted_at(0)
        with pytest.raises(psycopg.errors.CheckViolation, match="an approved promotion"):
            _guarded_insert(conn, "CHAMPION", receipt.seq)
