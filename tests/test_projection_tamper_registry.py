"""Tamper matrix for the params, tags, decisions and deployments projections: a row edited,
deleted or forged in SQL is named by `mlaudit verify` against the entry that made it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import psycopg
import pytest

from app.services import lifecycle, logged_models, tokens, tracking
from app.storage import projections

LONG = "x" * 5999 + "é"  # a param value at the API's 6,000-character limit


def send(client: Any, method: str, path: str, secret: str, payload: Any = None) -> Any:
    return client.open(path, method=method, headers={"Authorization": f"Bearer {secret}"},
                       data=None if payload is None else json.dumps(payload),
                       content_type="application/json")


def _tracking(commit: Any, who: str) -> dict[str, Any]:
    """A run with params (unicode key, empty and long values) and tags set at creation, in a
    batch, overwritten, deleted and renamed; a second run; two logged models."""
    experiment, _ = commit(lambda w: tracking.create_experiment(w, who, "tamper", "", {}))
    run, (_, created_tags) = commit(lambda w: tracking.create_run(
        w, who, experiment.id, "r", {}, None, None,
        {"team": "risk", "note": "", "ключ": "значение"}))
    other, _ = commit(lambda w: tracking.create_run(w, who, experiment.id, "o", {}, None, None,
                                                    {}))
    params = commit(lambda w: tracking.log_params(w, who, run.id,
                                                  {"lr": "0.1", "ünï": "", "long": LONG}))
    batch = commit(lambda w: tracking.log_batch(
        w, who, run.id, {"max_depth": "6"}, [tracking.Metric("auc", "0.81", 0, 1000)],
        {"phase": "train"}))
    overwrite = commit(lambda w: tracking.set_tags(w, who, run.id, {"team": "fraud"}))
    deleted = commit(lambda w: tracking.delete_tag(w, who, run.id, "note"))
    _, renamed = commit(lambda w: lifecycle.rename_run(w, who, run.id, "renamed"))
    model = commit(lambda w: logged_models.create(
        w, who, experiment.id, "lm", run.id, "sklearn", {"alpha": "0.5", "ß": ""},
        {"stage": "dev", "owner": "ü"}))
    spare = commit(lambda w: logged_models.create(w, who, experiment.id, "lm2", None, None, {},
                                                  {}))
    model_params = commit(lambda w: logged_models.log_params(w, who, model.model_id,
                                                             {"beta": "2"}))
    model_tags = commit(lambda w: logged_models.set_tags(w, who, model.model_id,
                                                         {"stage": "prod"}))
    model_untag = commit(lambda w: logged_models.delete_tag(w, who, model.model_id, "owner"))
    return {"run": run.id, "other": other.id, "created_tags": created_tags.seq,
            "params": params.seq, "batch_params": batch[0].seq, "batch_metrics": batch[1].seq,
            "batch_tags": batch[2].seq, "overwrite": overwrite.seq, "deleted": deleted.seq,
            "renamed": renamed.seq, "model": model.model_id, "spare": spare.model_id,
            "model_created": model.created_seq, "model_params": model_params.seq,
            "model_tags": model_tags.seq, "model_untag": model_untag.seq}


def _registry(client: Any, secret: dict[str, str], run: str) -> dict[str, Any]:
    """Two versions; a rejection, a refused and an excepted approval; four deployments, the
    last a rollback; a second model."""
    builder, requester, risk, admin = (secret[k] for k in ("builder", "requester", "risk",
                                                           "admin"))
    for path in ("model/model.bin", "model2/model.bin"):
        assert client.put(f"/api/v1/runs/{run}/artifacts/{path}", data=path.encode(),
                          headers={"Authorization": f"Bearer {builder}"}).status_code == 201
    for name in ("scorecard", "other"):
        assert send(client, "POST", "/api/v1/models", builder, {"name": name}).status_code == 201
    for name, path in (("scorecard", "model"), ("scorecard", "model2"), ("other", "model")):
        assert send(client, "POST", f"/api/v1/models/{name}/versions", builder,
                    {"run_id": run, "artifact_path": path}).status_code == 201
    assert send(client, "PUT", "/api/v1/models/scorecard/policy", admin, {"policy": {
        "required_params": ["lr"], "minimums": [{"metric": "auc", "at_least": "0.75"}]}}
    ).status_code == 200
    base = "/api/v1/models/scorecard"

    def promote(who: str) -> str:
        made = send(client, "POST", f"{base}/versions/1/promotions", who,
                    {"target": "Production", "justification": "validated"})
        assert made.status_code == 201, made.json
        return str(made.json["id"])

    def decide(who: str, promotion: str, decision: str, comment: str, **extra: Any) -> int:
        done = send(client, "POST", f"/api/v1/promotions/{promotion}/decisions", who,
                    {"decision": decision, "comment": comment, **extra})
        return int(done.json["receipts"][0]["seq"])

    rejected_promotion = promote(requester)
    rejected = decide(risk, rejected_promotion, "reject", 'Écart trop grand — "non"')
    approved_promotion = promote(admin)
    refused = decide(admin, approved_promotion, "approve", "my own request")
    approved = decide(risk, approved_promotion, "approve", "ok",
                      exception={"justification": "monitored weekly ✓"})

    def deploy(path: str, payload: dict[str, Any]) -> int:
        done = send(client, "POST", f"{base}/{path}", requester, payload)
        assert done.status_code == 201, done.json
        return int(done.json["receipt"]["seq"])

    return {
        "rejected_promotion": rejected_promotion, "approved_promotion": approved_promotion,
        "rejected": rejected, "refused": refused, "approved": approved,
        "prod": deploy("deployments", {
            "version": 1, "environment": "prod-eu", "promotion_id": approved_promotion,
            "target": {"endpoint": "https://scoring.example/v1", "image_digest": "sha256:ab"}}),
        "staging_1": deploy("deployments", {"version": 1, "environment": "staging-eu"}),
        "staging_2": deploy("deployments", {"version": 2, "environment": "staging-eu"}),
        "rollback": deploy("rollbacks", {"version": 1, "environment": "staging-eu",
                                         "reason": "latency ↑ after v2"}),
    }


@pytest.fixture
def recorded(services: Any, client: Any, admin_token: str) -> dict[str, Any]:
    def commit(unit: Any) -> Any:
        return services.committer.run(unit)

    secret = {"admin": admin_token}
    for name, role in (("builder", "writer"), ("requester", "writer"), ("risk", "approver")):
        secret[name], _ = commit(lambda w, n=name, r=role: tokens.create_token(
            w, n, r, "token:admin"))
    found = _tracking(commit, "token:builder")
    return {**found, **_registry(client, secret, found["run"])}


def verify(run_cli: Any) -> tuple[int, dict[str, Any]]:
    done = run_cli("verify", "--json")
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


def damage(run_cli: Any) -> dict[str, Any]:
    code, report = verify(run_cli)
    assert code == 1, report
    found = dict(report["damage"])
    assert found["kind"] == "projection_mismatch", found
    return found


def test_every_projection_verifies_clean(recorded: dict[str, Any], conn: psycopg.Connection,
                                         run_cli: Any) -> None:
    counts = conn.execute(
        "SELECT (SELECT count(*) FROM params), (SELECT count(*) FROM logged_model_params), "
        "(SELECT count(*) FROM tag_events), (SELECT count(*) FROM run_tags), "
        "(SELECT count(*) FROM logged_model_tags), (SELECT count(*) FROM decisions), "
        "(SELECT count(*) FROM deployments), "
        "(SELECT count(*) FROM decisions WHERE exception IS NOT NULL), "
        "(SELECT count(*) FROM deployments WHERE rollback_of IS NOT NULL)").fetchone()
    assert counts == (4, 3, 7, 4, 1, 3, 4, 1, 1)  # the fixture made what the tests tamper with
    code, report = verify(run_cli)
    assert (code, report["damage"]) == (0, None)


# (table, row, SET clause, the entry the row names, its key, the column reported)
EDITS = [
    ("params", "key = 'lr'", "value = '0.2'", "params", "lr", "value"),
    ("params", "key = 'ünï'", "value = ' '", "params", "ünï", "value"),
    ("params", "key = 'long'", "value = left(value, 5999) || 'e'", "params", "long", "value"),
    ("params", "key = 'max_depth'", "run_id = %(other)s", "batch_params", "max_depth",
     "run_id"),
    ("logged_model_params", "key = 'alpha'", "value = '0.6'", "model_created", "alpha",
     "value"),
    ("logged_model_params", "key = 'beta'", "model_id = %(spare)s", "model_params", "beta",
     "model_id"),
    ("tag_events", "key = 'team' AND value = 'risk'", "value = 'fraud'", "created_tags", "team",
     "value"),
    ("tag_events", "key = 'note' AND value IS NULL", "value = ''", "deleted", "note", "value"),
    ("tag_events", "key = 'phase'", "value = NULL", "batch_tags", "phase", "value"),
    ("tag_events", "key = 'ключ'", "run_id = %(other)s", "created_tags", "ключ", "run_id"),
    ("run_tags", "key = 'team'", "value = 'risk'", "overwrite", "team", "value"),
    ("run_tags", "key = 'mlflow.runName'", "value = 'r'", "renamed", "mlflow.runName", "value"),
    ("run_tags", "key = 'ключ'", "run_id = %(other)s", "created_tags", "ключ", "run_id"),
    ("logged_model_tags", "key = 'stage'", "value = 'dev'", "model_tags", "stage", "value"),
    ("logged_model_tags", "key = 'stage'", "model_id = %(spare)s", "model_tags", "stage",
     "model_id"),
]


@pytest.mark.parametrize(("table", "row", "change", "entry", "key", "column"), EDITS)
def test_an_edited_key_value_row_names_its_entry(
        recorded: dict[str, Any], conn: psycopg.Connection, run_cli: Any, table: str, row: str,
        change: str, entry: str, key: str, column: str) -> None:
    done = conn.execute(f"UPDATE {table} SET {change} WHERE {row}", recorded)
    assert done.rowcount == 1
    seq = recorded[entry]
    found = damage(run_cli)
    assert found["seq"] == seq
    assert found["detail"].startswith(f"the {table} row (seq {seq}, key {key!r}) differs from "
                                      f"what entry {seq} ")
    assert found["detail"].endswith(f": {column}")


DECISION_EDITS = [
    ("rejected", "promotion_id = %(approved_promotion)s", "promotion_id"),
    ("rejected", "approver = 'token:builder'", "approver"),
    ("approved", "role = 'admin'", "role"),
    ("rejected", "outcome = 'approve'", "outcome"),
    ("refused", "outcome = 'approve'", "outcome"),
    ("rejected", "comment = 'Écart trop grand — \"non\" '", "comment"),
    ("approved", "exception = NULL", "exception"),
    ("rejected", "exception = '{\"justification\": \"late\"}'", "exception"),
    ("approved", "exception = '{\"justification\": \"monitored weekly\"}'", "exception"),
    ("refused", "version_digest = repeat('0', 64)", "version_digest"),
    ("approved", "gates = jsonb_set(gates, '{passed}', 'false')", "gates"),
    ("approved", "gates = gates - 'policy_seq'", "gates"),
]


@pytest.mark.parametrize(("entry", "change", "column"), DECISION_EDITS)
def test_an_edited_decision_names_its_entry(recorded: dict[str, Any], conn: psycopg.Connection,
                                            run_cli: Any, entry: str, change: str,
                                            column: str) -> None:
    seq = recorded[entry]
    assert conn.execute(f"UPDATE decisions SET {change} WHERE seq = %(seq)s",
                        {**recorded, "seq": seq}).rowcount == 1
    found = damage(run_cli)
    assert found["seq"] == seq
    assert found["detail"] == (f"the decisions row (seq {seq}) differs from what entry {seq} "
                               f"recorded: {column}")


DEPLOYMENT_EDITS = [
    ("rollback", "id = md5('forged')", "id"),
    ("prod", "model_name = 'other'", "model_name"),
    ("staging_1", "version = 2", "version"),
    ("prod", "environment = 'prod-us'", "environment"),
    ("staging_2", "deployer = 'token:risk'", "deployer"),
    ("prod", "target = target - 'image_digest'", "target"),
    ("staging_1", "target = '{\"endpoint\": \"\"}'", "target"),
    ("prod", "promotion_id = %(rejected_promotion)s", "promotion_id"),
    ("staging_1", "promotion_id = NULL", "promotion_id"),
    ("rollback", "rollback_of = NULL", "rollback_of"),
    ("staging_2", "rollback_of = (SELECT id FROM deployments WHERE seq = %(staging_1)s)",
     "rollback_of"),
    ("rollback", "reason = 'latency'", "reason"),
    ("prod", "reason = ''", "reason"),
    ("prod", "deployed_at = deployed_at + interval '1 microsecond'", "deployed_at"),
    ("staging_2", "deployed_at = deployed_at - interval '1 hour'", "deployed_at"),
]


@pytest.mark.parametrize(("entry", "change", "column"), DEPLOYMENT_EDITS)
def test_an_edited_deployment_names_its_entry(recorded: dict[str, Any],
                                              conn: psycopg.Connection, run_cli: Any,
                                              entry: str, change: str, column: str) -> None:
    seq = recorded[entry]
    assert conn.execute(f"UPDATE deployments SET {change} WHERE seq = %(seq)s",
                        {**recorded, "seq": seq}).rowcount == 1
    found = damage(run_cli)
    assert found["seq"] == seq
    assert found["detail"] == (f"the deployments row (seq {seq}) differs from what entry {seq} "
                               f"recorded: {column}")


# (table, row, the entry that made it, the detail)
DELETIONS = [
    ("params", "key = 'long'", "params", "entry {seq} logged param 'long' that the params "
     "table does not hold"),
    ("logged_model_params", "key = 'ß'", "model_created", "entry {seq} logged param 'ß' of a "
     "logged model that the logged_model_params table does not hold"),
    ("tag_events", "key = 'note' AND value IS NULL", "deleted", "entry {seq} changed tag "
     "'note' that the tag_events table does not hold"),
    ("run_tags", "key = 'phase'", "batch_tags", "entry {seq} left tag 'phase' current that "
     "the run_tags table does not hold"),
    ("logged_model_tags", "key = 'stage'", "model_tags", "entry {seq} left logged-model tag "
     "'stage' current that the logged_model_tags table does not hold"),
    ("decisions", "seq = %(refused)s", "refused", "entry {seq} recorded a decision that the "
     "decisions table does not hold"),
    ("deployments", "seq = %(rollback)s", "rollback", "entry {seq} recorded a deployment that "
     "the deployments table does not hold"),
]


@pytest.mark.parametrize(("table", "row", "entry", "detail"), DELETIONS)
def test_a_deleted_row_is_missing(recorded: dict[str, Any], conn: psycopg.Connection,
                                  run_cli: Any, table: str, row: str, entry: str,
                                  detail: str) -> None:
    assert conn.execute(f"DELETE FROM {table} WHERE {row}", recorded).rowcount == 1
    seq = recorded[entry]
    found = damage(run_cli)
    assert (found["seq"], found["detail"]) == (seq, detail.format(seq=seq))


def test_a_deleted_tag_brought_back_is_unbacked(recorded: dict[str, Any],
                                                conn: psycopg.Connection, run_cli: Any) -> None:
    seq = recorded["created_tags"]  # set 'note' = '', which tag.deleted later removed
    conn.execute("INSERT INTO run_tags (run_id, key, value, seq) VALUES (%s, 'note', '', %s)",
                 (recorded["run"], seq))
    found = damage(run_cli)
    assert (found["seq"], found["detail"]) == (
        seq, f"the run_tags table holds a row (seq {seq}, key 'note') that no tags.set entry "
             "left current")


def test_a_current_tag_pointed_at_its_older_entry_is_found(
        recorded: dict[str, Any], conn: psycopg.Connection, run_cli: Any) -> None:
    old, new = recorded["created_tags"], recorded["overwrite"]
    conn.execute("UPDATE run_tags SET seq = %s, value = 'risk' WHERE key = 'team'", (old,))
    found = damage(run_cli)  # the older entry's tag is not current; the newer one's is gone
    assert (found["seq"], found["detail"]) == (
        old, f"the run_tags table holds a row (seq {old}, key 'team') that no tags.set entry "
             "left current")
    conn.execute("INSERT INTO tag_events (run_id, key, value, seq) VALUES (%s, 'zz', 'v', %s)",
                 (recorded["run"], old))  # an earlier table at the same seq comes first
    assert damage(run_cli)["detail"].startswith(f"the tag_events table holds a row (seq {old}, "
                                                "key 'zz')")
    conn.execute("DELETE FROM tag_events WHERE key = 'zz'")
    conn.execute("UPDATE run_tags SET seq = %s WHERE key = 'team'", (new,))
    assert damage(run_cli)["detail"] == (f"the run_tags row (seq {new}, key 'team') differs "
                                         f"from what entry {new} left current: value")


# (table, columns, values: the seq first, the entry it names, the detail's tail)
FORGERIES = [
    ("params", "run_id, key, value", "%(run)s, 'seed', '7'", "params",
     "key 'seed') that no params.logged entry logged"),
    ("params", "run_id, key, value", "%(run)s, 'seed', '7'", "batch_metrics",
     "key 'seed') that no params.logged entry logged"),
    ("logged_model_params", "model_id, key, value", "%(spare)s, 'gamma', '0.5'",
     "model_created", "key 'gamma') that no logged_model.created or "
     "logged_model.params_logged entry logged"),
    ("tag_events", "run_id, key, value", "%(run)s, 'note', NULL", "overwrite",
     "key 'note') that no tags.set or tag.deleted entry recorded"),
    ("logged_model_tags", "model_id, key, value", "%(spare)s, 'stage', 'dev'", "model_created",
     "key 'stage') that no logged_model.created or logged_model.tags_set entry left current"),
]


@pytest.mark.parametrize(("table", "columns", "values", "entry", "tail"), FORGERIES)
def test_a_forged_key_value_row_is_unbacked(recorded: dict[str, Any], conn: psycopg.Connection,
                                            run_cli: Any, table: str, columns: str,
                                            values: str, entry: str, tail: str) -> None:
    seq = recorded[entry]
    conn.execute(f"INSERT INTO {table} ({columns}, seq) VALUES ({values}, %(seq)s)",
                 {**recorded, "seq": seq})
    found = damage(run_cli)
    assert (found["seq"], found["detail"]) == (seq, f"the {table} table holds a row "
                                                    f"(seq {seq}, {tail}")


def test_a_forged_decision_is_unbacked(recorded: dict[str, Any], conn: psycopg.Connection,
                                       run_cli: Any) -> None:
    seq = recorded["prod"]  # a deployment's entry, not a decision's
    conn.execute("INSERT INTO decisions SELECT promotion_id, %s, approver, role, outcome, "
                 "comment, exception, version_digest, gates FROM decisions WHERE seq = %s",
                 (seq, recorded["approved"]))
    found = damage(run_cli)
    assert (found["seq"], found["detail"]) == (
        seq, f"the decisions table holds a row (seq {seq}) that no decision.approved, "
             "decision.rejected or decision.refused entry recorded")


def test_a_forged_deployment_is_unbacked(recorded: dict[str, Any], conn: psycopg.Connection,
                                         run_cli: Any) -> None:
    seq = recorded["approved"]  # a decision's entry, not a deployment's
    conn.execute("INSERT INTO deployments (id, model_name, version, environment, deployer, "
                 "deployed_at, seq) VALUES (md5('forged'), 'scorecard', 1, 'prod-eu', "
                 "'token:requester', now(), %s)", (seq,))
    found = damage(run_cli)
    assert (found["seq"], found["detail"]) == (
        seq, f"the deployments table holds a row (seq {seq}) that no deployment.recorded or "
             "deployment.rolled_back entry recorded")


def test_the_lowest_seq_is_reported_across_tables(recorded: dict[str, Any],
                                                  conn: psycopg.Connection,
                                                  run_cli: Any) -> None:
    conn.execute("UPDATE deployments SET reason = 'x' WHERE seq = %s", (recorded["rollback"],))
    conn.execute("UPDATE metrics SET value = '0.9' WHERE seq = %s", (recorded["batch_metrics"],))
    conn.execute("UPDATE logged_model_tags SET value = 'x' WHERE key = 'stage'")
    assert damage(run_cli)["seq"] == recorded["batch_metrics"]
    conn.execute("UPDATE params SET value = '7' WHERE key = 'max_depth'")  # the entry before
    assert damage(run_cli)["seq"] == recorded["batch_params"]
    conn.execute("UPDATE params SET value = '6' WHERE key = 'max_depth'")
    conn.execute("UPDATE metrics SET value = '0.81' WHERE seq = %s", (recorded["batch_metrics"],))
    assert damage(run_cli)["seq"] == recorded["model_tags"]
    conn.execute("UPDATE logged_model_tags SET value = 'prod' WHERE key = 'stage'")
    assert damage(run_cli)["seq"] == recorded["rollback"]


def test_chain_damage_is_reported_before_projections(recorded: dict[str, Any], bypass: Any,
                                                     conn: psycopg.Connection,
                                                     run_cli: Any) -> None:
    conn.execute("DELETE FROM params WHERE seq = %s", (recorded["params"],))
    conn.execute("UPDATE decisions SET comment = 'x' WHERE seq = %s", (recorded["rejected"],))
    with bypass as tamper:
        tamper.execute("UPDATE ledger_entries SET canonical = set_byte(canonical, 20, "
                       "get_byte(canonical, 20) # 1) WHERE seq = %s", (recorded["prod"],))
    code, report = verify(run_cli)
    assert code == 1
    assert (report["damage"]["kind"], report["damage"]["seq"]) == ("modified", recorded["prod"])


def test_the_format_document_lists_what_is_checked() -> None:
    """docs/ledger-format.md 11.1 names the checked tables, in report order, and their kinds."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "ledger-format.md").read_text()
    start = doc.index("| Table | Made by (kinds) |")
    rows = [line.split("|") for line in doc[start:doc.index("\n\n", start)].splitlines()[2:]]
    assert tuple(row[1].strip(" `") for row in rows) == projections.TABLES
    documented = {kind for row in rows for kind in re.findall(r"`([a-z_]+\.[a-z_]+)`", row[2])
                  if not kind.startswith(("body.", "subject."))}
    queried = set(re.findall(r"'([a-z_]+\.[a-z_]+)'",
                             projections._METRIC_MISMATCH + projections._FACT_MISMATCH))
    assert documented == queried
    assert len(queried) == 13
