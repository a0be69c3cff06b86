"""Reads and writes sent in fewer round trips (issue 19) answer exactly as the one-by-one
path: the group commit's BEGIN with the head lock and COMMIT with the flush, the token with
its run, set-tag's re-check with its rows, search's details and history's run."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

from app.ledger.entry import Draft
from app.services import lifecycle, tokens, tracking
from app.services.ledger import locked_transaction
from app.storage import logged_models, mlflow_views, pipelined
from app.storage import tracking as store

MLFLOW = "/api/2.0/mlflow"


def post(client: Any, path: str, headers: dict[str, str], payload: Any) -> Any:
    return client.post(path, headers=headers, data=json.dumps(payload),
                       content_type="application/json")


def new_run(client: Any, auth: dict[str, str], name: str = "pipelined") -> tuple[str, str]:
    experiment = post(client, f"{MLFLOW}/experiments/create", auth, {"name": name}).json
    created = post(client, f"{MLFLOW}/runs/create", auth,
                   {"experiment_id": experiment["experiment_id"], "start_time": 1})
    assert created.status_code == 200, created.json
    return experiment["experiment_id"], created.json["run"]["info"]["run_id"]


def head(conn: psycopg.Connection) -> tuple[int, bytes, int]:
    row = conn.execute("SELECT h.size, h.chain_hash, (SELECT count(*) FROM ledger_entries) "
                       "FROM ledger_head h WHERE h.id = 1").fetchone()
    assert row is not None
    return row


def a_draft(i: int = 0) -> Draft:
    return Draft("experiment.created", "token:ci", {"experiment": f"pipelined-{i}"},
                 {"name": f"pipelined-{i}", "description": "", "tags": {}})


def test_a_locked_transaction_commits_before_it_returns(database_url: str) -> None:
    with psycopg.connect(database_url) as conn, psycopg.connect(
            database_url, autocommit=True) as other:
        before = head(other)
        with locked_transaction(conn) as writer:
            assert writer._size == before[0]  # locked by BEGIN's round trip
            [receipt] = writer.append([a_draft()])
        assert head(other) == (before[0] + 1, receipt.chain_hash, before[2] + 1)
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert conn.autocommit is False  # as the pool lent it


@pytest.mark.parametrize("where", ["unit", "commit"])
def test_a_failed_locked_transaction_leaves_nothing(database_url: str, where: str) -> None:
    """A unit's error, or COMMIT's own (here a deferred foreign key checked at COMMIT, sent
    in the flush's pipeline), rolls back every entry and the head; the connection is left
    idle, out of autocommit, and usable."""
    with psycopg.connect(database_url) as conn, psycopg.connect(
            database_url, autocommit=True) as other:
        conn.execute("CREATE TEMP TABLE p (id int PRIMARY KEY)")
        conn.execute("CREATE TEMP TABLE c (id int REFERENCES p DEFERRABLE INITIALLY DEFERRED)")
        conn.commit()
        before = head(other)
        with pytest.raises(psycopg.errors.ForeignKeyViolation if where == "commit"
                           else psycopg.errors.UndefinedTable):
            with locked_transaction(conn) as writer:
                writer.append([a_draft(1), a_draft(2)])
                writer.flush()  # entries written, then the failure
                conn.execute("INSERT INTO c VALUES (1)" if where == "commit"
                             else "INSERT INTO no_such_table VALUES (1)")
        assert head(other) == before
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert conn.autocommit is False
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_unit_savepoint_inside_a_locked_transaction(database_url: str) -> None:
    """Units open savepoints with conn.transaction(): inside a locked transaction they are
    savepoints still (a failed one is undone alone)."""
    with psycopg.connect(database_url) as conn, psycopg.connect(
            database_url, autocommit=True) as other:
        before = head(other)
        with locked_transaction(conn) as writer:
            writer.append([a_draft(3)])
            writer.flush()
            snap = writer.snapshot()
            with pytest.raises(psycopg.errors.UndefinedTable):
                with conn.transaction():
                    writer.append([a_draft(4)])
                    writer.flush()
                    conn.execute("INSERT INTO no_such_table VALUES (1)")
            writer.restore(snap)
        assert head(other)[0] == before[0] + 1
        assert other.execute("SELECT count(*) FROM experiments WHERE id LIKE 'pipelined-%'"
                             ).fetchone() == (1,)


def test_the_token_and_its_run_in_one_round_trip(
        services: Any, client: Any, auth: dict[str, str], admin_token: str) -> None:
    _, run_id = new_run(client, auth)
    with services.pool.connection() as conn:
        principal, run = tokens.authenticate_with_run(conn, admin_token, run_id)
        assert principal == tokens.authenticate(conn, admin_token)
        assert run == store.get_run(conn, run_id)
        assert tokens.authenticate_with_run(conn, admin_token, "nope") == (principal, None)
        assert tokens.authenticate_with_run(conn, admin_token + "x", run_id) == (None, None)
        assert tokens.authenticate_with_run(conn, "not-a-token", run_id) == (None, None)


def test_set_tag_and_log_parameter_refuse_as_before(
        services: Any, client: Any, auth: dict[str, str]) -> None:
    """The run read with the token: a missing run is MLflow's 404, a deleted one its 400,
    and a bad token a 401 before anything else; a run deleted after the lookup takes no
    tag (the re-check goes with the tag rows)."""
    _, run_id = new_run(client, auth)
    for route, payload in (("set-tag", {"key": "t", "value": "v"}),
                           ("log-parameter", {"key": "p", "value": "1"})):
        assert post(client, f"{MLFLOW}/runs/{route}", auth,
                    {"run_id": run_id, **payload}).status_code == 200
        missing = post(client, f"{MLFLOW}/runs/{route}", auth, {"run_id": "nope", **payload})
        assert (missing.status_code, missing.json) == (404, {
            "error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Run with id=nope not found"})
        refused = post(client, f"{MLFLOW}/runs/{route}", {"Authorization": "Bearer mla_x"},
                       {"run_id": run_id, **payload})
        assert refused.status_code == 401
    stale = services.pool.connection
    with stale() as conn:
        run = store.get_run(conn, run_id)
    services.committer.run(
        lambda w: lifecycle.set_run_lifecycle(w, "token:test", run_id, "deleted"))
    with pytest.raises(tracking.Conflict, match="must be in the 'active' state"):
        services.committer.run(lambda w: tracking.set_tags(w, "token:test", run_id, {"u": "1"},
                                                           known=run))
    with stale() as conn:
        assert "u" not in store.get_tags(conn, run_id)
    for route, payload in (("set-tag", {"key": "t2", "value": "v"}),
                           ("log-parameter", {"key": "p2", "value": "1"})):
        deleted = post(client, f"{MLFLOW}/runs/{route}", auth, {"run_id": run_id, **payload})
        assert deleted.status_code == 400
        assert deleted.json["message"] == tracking.inactive_run(run_id, "deleted")


def test_run_details_agree_with_the_reads_one_by_one(
        services: Any, client: Any, auth: dict[str, str]) -> None:
    experiment, first = new_run(client, auth, "details")
    second = post(client, f"{MLFLOW}/runs/create", auth,
                  {"experiment_id": experiment}).json["run"]["info"]["run_id"]
    post(client, f"{MLFLOW}/runs/log-batch", auth, {
        "run_id": first, "params": [{"key": "p", "value": "1"}],
        "tags": [{"key": "t", "value": "x"}],
        "metrics": [{"key": k, "value": v, "timestamp": 5, "step": s}
                    for k, v, s in (("loss", 0.5, 0), ("loss", 0.25, 1), ("auc", 0.9, 0))]})
    ids = [first, second, "nope"]
    with services.pool.connection() as conn:
        details = mlflow_views.run_details(conn, ids)
        assert details == (store.params_for(conn, ids), store.tags_for(conn, ids),
                           store.latest_metrics_for(conn, ids),
                           mlflow_views.inputs_for(conn, ids),
                           logged_models.outputs_for(conn, ids))
        assert details.params[first] == {"p": "1"} and details.params["nope"] == {}
        assert [m.value for m in details.metrics[first]] == ["0.9", "0.25"]
        assert mlflow_views.run_details(conn, []) == ({}, {}, {}, {}, {})
        for run_id in (first, "nope"):
            assert mlflow_views.run_and_metric_history(conn, run_id, "loss", "", (-1, -1), 10) == (
                store.get_run(conn, run_id),
                mlflow_views.metric_history(conn, run_id, "loss", "", (-1, -1), 10))
    history = client.get(f"{MLFLOW}/metrics/get-history?run_id=nope&metric_key=loss",
                         headers=auth)
    assert (history.status_code, history.json["message"]) == (404, "Run with id=nope not found")
    found = post(client, f"{MLFLOW}/runs/search", auth, {"experiment_ids": [experiment],
                                                          "filter": "params.p = '1'"})
    assert [r["info"]["run_id"] for r in found.json["runs"]] == [first]
    got = client.get(f"{MLFLOW}/runs/get?run_id={first}", headers=auth).json["run"]
    assert found.json["runs"][0] == got


def test_a_query_error_in_a_pipeline_is_raised_and_leaves_the_connection_usable(
        database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.UndefinedTable):
            pipelined.together(conn, lambda c: pipelined.sent(c, "SELECT 1", (), list),
                               lambda c: pipelined.sent(c, "SELECT * FROM nope", (), list))
        assert pipelined.together(conn, lambda c: pipelined.sent(c, "SELECT %s", (2,), list)
                                  ) == [[(2,)]]
