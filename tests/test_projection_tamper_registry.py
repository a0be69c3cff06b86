"""Tamper matrix for the params, tags, decisions and deployments tables (and the promotions
kept from their revisions): a row edited, moved, deleted or forged in SQL (its triggers
switched off, as only a superuser can) is named by `mlaudit verify` against the entry that
makes it, or that it claims.

Insert-only tables are held to the entries row for row as the entries are replayed, so the
first damage is the lowest seq, then the table that comes first in app/kinds/tables.py, then
the lowest key. Current tables (run_tags, logged_model_tags, promotions) are held to what the
whole replay leaves, so their damage is reported once every insert-only table is intact.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from test_projection_tamper import (
    Recorded,
    config_for,
    copy_of,
    mismatch,
    recorded_once,
    rolled_back,
    tamper,
    triggers_off,
    verify_cli,
)

from app.config import Config
from app.services import lifecycle, logged_models, tokens, tracking
from app.services.verification import check_projections

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
    spare = commit(lambda w: logged_models.create(w, who, experiment.id, "lm2", other.id, None,
                                                  {}, {}))
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

    for name, protected in (("prod-eu", True), ("staging-eu", False)):
        send(client, "POST", "/api/v1/environments", admin, {"name": name,
                                                             "protected": protected})

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


def _record(services: Any, client: Any, admin_token: str) -> dict[str, Any]:
    """A builder, a requester and a risk approver; their tracking, then their registry."""

    def commit(unit: Any) -> Any:
        return services.committer.run(unit)

    secret = {"admin": admin_token}
    for name, role in (("builder", "writer"), ("requester", "writer"), ("risk", "approver")):
        secret[name], _ = commit(lambda w, n=name, r=role: tokens.create_token(
            w, n, r, "token:admin"))
    found = _tracking(commit, "token:builder")
    return {**found, **_registry(client, secret, found["run"])}


@pytest.fixture(scope="module")
def recorded_db(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    with recorded_once(pg_server, tmp_path_factory.mktemp("home"), _record) as found:
        yield found


@pytest.fixture(scope="module")
def working_copy(pg_server: str, recorded_db: Recorded) -> Iterator[str]:
    with copy_of(pg_server, recorded_db) as url:
        yield url


@pytest.fixture
def tampering(working_copy: str) -> Iterator[psycopg.Connection]:
    with rolled_back(working_copy) as conn:
        yield conn


@pytest.fixture
def database_url(pg_server: str, recorded_db: Recorded) -> Iterator[str]:
    """Each test that commits its damage gets its own copy (conn and run_cli use it)."""
    with copy_of(pg_server, recorded_db) as url:
        yield url


@pytest.fixture
def config(recorded_db: Recorded, database_url: str) -> Config:
    return config_for(database_url, recorded_db.home)


@pytest.fixture
def recorded(recorded_db: Recorded) -> dict[str, Any]:
    return recorded_db.seqs


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
    code, report = verify_cli(run_cli)
    assert (code, report["damage"]) == (0, None)


# (table, row, SET clause, the entry that makes the row, its key, the column reported)
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
    ("logged_model_tag_events", "key = 'stage' AND value = 'prod'", "value = 'dev'",
     "model_tags", "stage", "value"),
    ("logged_model_tag_events", "key = 'owner' AND value IS NULL", "model_id = %(spare)s",
     "model_untag", "owner", "model_id"),
]


@pytest.mark.parametrize(("table", "row", "change", "entry", "key", "column"), EDITS)
def test_an_edited_key_value_row_names_its_entry(
        recorded: dict[str, Any], tampering: psycopg.Connection, table: str, row: str,
        change: str, entry: str, key: str, column: str) -> None:
    assert tamper(tampering, table, f"UPDATE {table} SET {change} WHERE {row}", recorded) == 1
    seq = recorded[entry]
    assert mismatch(tampering) == (
        seq, f"the {table} row {key!r} differs from what entry {seq} makes: {column}")


# A current tag edited: (table, its owner, row, SET clause, the entry whose tag it must be,
# key, the column reported)
CURRENT_TAG_EDITS = [
    ("run_tags", "run", "key = 'team'", "value = 'risk'", "overwrite", "team", "value"),
    ("run_tags", "run", "key = 'mlflow.runName'", "value = 'r'", "renamed", "mlflow.runName",
     "value"),
    ("run_tags", "run", "key = 'phase'", "seq = %(created_tags)s", "batch_tags", "phase",
     "seq"),
    ("logged_model_tags", "model", "key = 'stage'", "value = 'dev'", "model_tags", "stage",
     "value"),
]


@pytest.mark.parametrize(("table", "owner", "row", "change", "entry", "key", "column"),
                         CURRENT_TAG_EDITS)
def test_an_edited_current_tag_names_the_entry_it_must_be(
        recorded: dict[str, Any], tampering: psycopg.Connection, table: str, owner: str,
        row: str, change: str, entry: str, key: str, column: str) -> None:
    assert tamper(tampering, table, f"UPDATE {table} SET {change} WHERE {row}", recorded) == 1
    seq = recorded[entry]
    assert mismatch(tampering) == (
        seq, f"the {table} row {recorded[owner]!r}, {key!r} differs from what entry {seq} "
             f"makes: {column}")


@pytest.mark.parametrize(("table", "owner", "to", "entry", "key"), [
    ("run_tags", "run", "other", "created_tags", "ключ"),
    ("logged_model_tags", "model", "spare", "model_tags", "stage"),
])
def test_a_current_tag_moved_to_another_owner_is_found(
        recorded: dict[str, Any], tampering: psycopg.Connection, table: str, owner: str,
        to: str, entry: str, key: str) -> None:
    column = "run_id" if table == "run_tags" else "model_id"
    assert tamper(tampering, table, f"UPDATE {table} SET {column} = %s WHERE key = %s",
                  (recorded[to], key)) == 1
    seq = recorded[entry]
    found, detail = mismatch(tampering)
    # Two rows disagree at this seq: the tag its events leave is gone, and the moved one is
    # no event's. The check does not say which of the two comes first.
    assert found == seq
    assert detail in (
        f"entry {seq} makes the {table} row {recorded[owner]!r}, {key!r}, which the table "
        "does not hold",
        f"the {table} row {recorded[to]!r}, {key!r} names entry {seq}, which does not make it")


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
def test_an_edited_decision_names_its_entry(recorded: dict[str, Any],
                                            tampering: psycopg.Connection, entry: str,
                                            change: str, column: str) -> None:
    seq = recorded[entry]
    assert tamper(tampering, "decisions", f"UPDATE decisions SET {change} WHERE seq = %(seq)s",
                  {**recorded, "seq": seq}) == 1
    assert mismatch(tampering) == (
        seq, f"the decisions row differs from what entry {seq} makes: {column}")


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
                                              tampering: psycopg.Connection, entry: str,
                                              change: str, column: str) -> None:
    seq = recorded[entry]
    assert tamper(tampering, "deployments", f"UPDATE deployments SET {change} "
                  "WHERE seq = %(seq)s", {**recorded, "seq": seq}) == 1
    assert mismatch(tampering) == (
        seq, f"the deployments row differs from what entry {seq} makes: {column}")


# A promotion's revisions (insert-only) and its current row (kept from them): (table, row,
# SET clause, the promotion, the entry that makes the row, the column reported)
PROMOTION_EDITS = [
    ("promotion_revisions", "seq = %(rejected)s", "status = 'approved'", "rejected_promotion",
     "rejected", "status"),
    ("promotion_revisions", "seq = %(approved)s", "closed_seq = %(refused)s",
     "approved_promotion", "approved", "closed_seq"),
    ("promotions", "id = %(rejected_promotion)s", "status = 'approved'", "rejected_promotion",
     "rejected", "status"),
    ("promotions", "id = %(approved_promotion)s", "justification = 'validated!'",
     "approved_promotion", "approved", "justification"),
]


@pytest.mark.parametrize(("table", "row", "change", "promotion", "entry", "column"),
                         PROMOTION_EDITS)
def test_an_edited_promotion_names_its_entry(recorded: dict[str, Any],
                                             tampering: psycopg.Connection, table: str,
                                             row: str, change: str, promotion: str, entry: str,
                                             column: str) -> None:
    assert tamper(tampering, table, f"UPDATE {table} SET {change} WHERE {row}", recorded) == 1
    seq, promotion_id = recorded[entry], recorded[promotion]
    assert mismatch(tampering) == (
        seq, f"the {table} row {promotion_id!r} differs from what entry {seq} makes: {column}")


# (table, row, the entry that makes it, the detail)
DELETIONS = [
    ("params", "key = 'long'", "params", "entry {seq} makes the params row 'long', which the "
     "table does not hold"),
    ("logged_model_params", "key = 'ß'", "model_created", "entry {seq} makes the "
     "logged_model_params row 'ß', which the table does not hold"),
    ("tag_events", "key = 'note' AND value IS NULL", "deleted", "entry {seq} makes the "
     "tag_events row 'note', which the table does not hold"),
    ("logged_model_tag_events", "key = 'owner' AND value IS NOT NULL", "model_created",
     "entry {seq} makes the logged_model_tag_events row 'owner', which the table does not "
     "hold"),
    ("run_tags", "key = 'phase'", "batch_tags", "entry {seq} makes the run_tags row {run!r}, "
     "'phase', which the table does not hold"),
    ("logged_model_tags", "key = 'stage'", "model_tags", "entry {seq} makes the "
     "logged_model_tags row {model!r}, 'stage', which the table does not hold"),
    ("decisions", "seq = %(refused)s", "refused", "entry {seq} makes the decisions row, which "
     "the table does not hold"),
    ("deployments", "seq = %(rollback)s", "rollback", "entry {seq} makes the deployments row, "
     "which the table does not hold"),
]


@pytest.mark.parametrize(("table", "row", "entry", "detail"), DELETIONS)
def test_a_deleted_row_is_missing(recorded: dict[str, Any], tampering: psycopg.Connection,
                                  table: str, row: str, entry: str, detail: str) -> None:
    assert tamper(tampering, table, f"DELETE FROM {table} WHERE {row}", recorded) == 1
    seq = recorded[entry]
    assert mismatch(tampering) == (seq, detail.format(seq=seq, **recorded))


def test_a_deleted_tag_brought_back_is_unbacked(recorded: dict[str, Any],
                                                tampering: psycopg.Connection) -> None:
    seq, run = recorded["created_tags"], recorded["run"]  # set 'note' = '', deleted later
    tamper(tampering, "run_tags", "INSERT INTO run_tags (run_id, key, value, seq) "
           "VALUES (%s, 'note', '', %s)", (run, seq))
    assert mismatch(tampering) == (
        seq, f"the run_tags row {run!r}, 'note' names entry {seq}, which does not make it")


def test_a_current_tag_pointed_at_its_older_entry_is_found(
        recorded: dict[str, Any], tampering: psycopg.Connection) -> None:
    old, new, run = recorded["created_tags"], recorded["overwrite"], recorded["run"]
    differs = f"the run_tags row {run!r}, 'team' differs from what entry {new} makes: "
    # The row is now exactly what the older entry set; the newer entry's tag is current.
    tamper(tampering, "run_tags", "UPDATE run_tags SET seq = %s, value = 'risk' "
           "WHERE key = 'team'", (old,))
    assert mismatch(tampering) == (new, differs + "value")
    tamper(tampering, "tag_events", "INSERT INTO tag_events (run_id, key, value, seq) "
           "VALUES (%s, 'zz', 'v', %s)", (run, old))  # an insert-only table's damage first
    assert mismatch(tampering) == (
        old, f"the tag_events row 'zz' names entry {old}, which does not make it")
    with triggers_off(tampering, "tag_events", "run_tags"):
        tampering.execute("DELETE FROM tag_events WHERE key = 'zz'")
        tampering.execute("UPDATE run_tags SET value = 'fraud' WHERE key = 'team'")
    assert mismatch(tampering) == (new, differs + "seq")
    tamper(tampering, "run_tags", "UPDATE run_tags SET seq = %s WHERE key = 'team'", (new,))
    assert check_projections(tampering) is None


# (table, columns, values, the entry the forged row names, its key in the detail)
FORGERIES = [
    ("params", "run_id, key, value", "%(run)s, 'seed', '7'", "params", "'seed'"),
    ("params", "run_id, key, value", "%(run)s, 'seed', '7'", "batch_metrics", "'seed'"),
    ("logged_model_params", "model_id, key, value", "%(spare)s, 'gamma', '0.5'",
     "model_created", "'gamma'"),
    ("tag_events", "run_id, key, value", "%(run)s, 'note', NULL", "overwrite", "'note'"),
    ("logged_model_tag_events", "model_id, key, value", "%(model)s, 'stage', 'qa'",
     "model_untag", "'stage'"),
    ("run_tags", "run_id, key, value", "%(other)s, 'team', 'fraud'", "overwrite",
     "{other!r}, 'team'"),
    ("logged_model_tags", "model_id, key, value", "%(spare)s, 'stage', 'dev'", "model_created",
     "{spare!r}, 'stage'"),
]


@pytest.mark.parametrize(("table", "columns", "values", "entry", "key"), FORGERIES)
def test_a_forged_key_value_row_is_unbacked(recorded: dict[str, Any],
                                            tampering: psycopg.Connection, table: str,
                                            columns: str, values: str, entry: str,
                                            key: str) -> None:
    seq = recorded[entry]
    tamper(tampering, table, f"INSERT INTO {table} ({columns}, seq) VALUES ({values}, %(seq)s)",
           {**recorded, "seq": seq})
    assert mismatch(tampering) == (
        seq, f"the {table} row {key.format(**recorded)} names entry {seq}, which does not "
             "make it")


def test_a_forged_decision_is_unbacked(recorded: dict[str, Any], conn: psycopg.Connection,
                                       run_cli: Any) -> None:
    seq = recorded["prod"]  # a deployment's entry, not a decision's
    tamper(conn, "decisions", "INSERT INTO decisions SELECT promotion_id, %s, approver, role, "
           "outcome, comment, exception, version_digest, gates FROM decisions WHERE seq = %s",
           (seq, recorded["approved"]))
    detail = f"the decisions row names entry {seq}, which does not make it"
    code, report = verify_cli(run_cli)
    assert (code, report["damage"]["kind"], report["damage"]["seq"],
            report["damage"]["detail"]) == (1, "projection_mismatch", seq, detail)


def test_a_forged_deployment_is_unbacked(recorded: dict[str, Any],
                                         tampering: psycopg.Connection) -> None:
    seq = recorded["approved"]  # a decision's entry, not a deployment's
    tamper(tampering, "deployments", "INSERT INTO deployments (id, model_name, version, "
           "environment, deployer, target, deployed_at, seq) VALUES (md5('forged'), "
           "'scorecard', 1, 'prod-eu', 'token:requester', '{}', now(), %s)", (seq,))
    assert mismatch(tampering) == (
        seq, f"the deployments row names entry {seq}, which does not make it")


def test_the_lowest_seq_is_reported_across_tables(recorded: dict[str, Any],
                                                  tampering: psycopg.Connection) -> None:
    def edit(table: str, change: str, where: str) -> None:
        assert tamper(tampering, table, f"UPDATE {table} SET {change} WHERE {where}",
                      recorded) == 1

    edit("deployments", "reason = 'x'", "seq = %(rollback)s")
    edit("metrics", "value = '0.9'", "seq = %(batch_metrics)s")
    edit("logged_model_tags", "value = 'x'", "key = 'stage'")
    assert mismatch(tampering)[0] == recorded["batch_metrics"]
    edit("params", "value = '7'", "key = 'max_depth'")  # the entry before
    assert mismatch(tampering)[0] == recorded["batch_params"]
    edit("params", "value = '6'", "key = 'max_depth'")
    edit("metrics", "value = '0.81'", "seq = %(batch_metrics)s")
    # logged_model_tags names an earlier entry, but current tables are held to the ledger
    # once every insert-only table is found intact.
    assert mismatch(tampering)[0] == recorded["rollback"]
    edit("deployments", "reason = 'latency ↑ after v2'", "seq = %(rollback)s")
    assert mismatch(tampering)[0] == recorded["model_tags"]
    edit("logged_model_tags", "value = 'prod'", "key = 'stage'")
    assert check_projections(tampering) is None


def test_at_one_seq_the_first_table_then_the_lowest_key_is_reported(
        recorded: dict[str, Any], tampering: psycopg.Connection) -> None:
    seq = recorded["model_created"]  # its params and its tags, in two tables

    def edit(table: str, key: str) -> tuple[int, str]:
        tamper(tampering, table, f"UPDATE {table} SET value = 'x' WHERE seq = %s AND key = %s",
               (seq, key))
        return mismatch(tampering)

    assert edit("logged_model_tag_events", "owner") == (
        seq, f"the logged_model_tag_events row 'owner' differs from what entry {seq} makes: "
             "value")
    assert edit("logged_model_params", "ß") == (
        seq, f"the logged_model_params row 'ß' differs from what entry {seq} makes: value")
    assert edit("logged_model_params", "alpha") == (
        seq, f"the logged_model_params row 'alpha' differs from what entry {seq} makes: value")


def test_chain_damage_is_reported_before_projections(recorded: dict[str, Any], bypass: Any,
                                                     conn: psycopg.Connection,
                                                     run_cli: Any) -> None:
    tamper(conn, "params", "DELETE FROM params WHERE seq = %s", (recorded["params"],))
    tamper(conn, "decisions", "UPDATE decisions SET comment = 'x' WHERE seq = %s",
           (recorded["rejected"],))
    with bypass as ledger:
        ledger.execute("UPDATE ledger_entries SET canonical = set_byte(canonical, 20, "
                       "get_byte(canonical, 20) # 1) WHERE seq = %s", (recorded["prod"],))
    code, report = verify_cli(run_cli)
    assert code == 1
    assert (report["damage"]["kind"], report["damage"]["seq"]) == ("modified", recorded["prod"])
