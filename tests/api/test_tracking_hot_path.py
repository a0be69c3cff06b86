"""The fast paths of metric writes and uploads keep their guarantees: a run looked up before
the unit is checked again under the head lock, COPY stores what executemany stores, and a
signing key rotated while the service runs signs the next upload."""

from __future__ import annotations

import base64
import json
import math
import random
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from app.ledger import dsse
from app.services import lifecycle, tracking
from app.storage import tracking as store


def post(client: Any, path: str, headers: dict[str, str], payload: Any) -> Any:
    return client.post(path, headers=headers, data=json.dumps(payload),
                       content_type="application/json")


@pytest.fixture
def run_id(client: Any, auth: dict[str, str]) -> str:
    experiment = post(client, "/api/v1/experiments", auth, {"name": "hot-path"}).json["id"]
    created = post(client, "/api/v1/runs", auth, {"experiment_id": experiment})
    assert created.status_code == 201
    return str(created.json["id"])


def counts(conn: psycopg.Connection, run_id: str) -> tuple[int, int, int, int]:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM ledger_entries), (SELECT count(*) FROM metrics WHERE"
        " run_id = %s), (SELECT count(*) FROM params WHERE run_id = %s),"
        " (SELECT count(*) FROM run_tags WHERE run_id = %s)",
        (run_id, run_id, run_id)).fetchone()
    assert row is not None
    return row


def delete_run(services: Any, run_id: str) -> None:
    """Delete the run as a client would: a `run.deleted` entry (runs is kept from the ledger
    and refuses direct writes)."""
    receipt = services.committer.run(
        lambda w: lifecycle.set_run_lifecycle(w, "token:test", run_id, "deleted"))
    assert receipt is not None


def metrics(n: int) -> list[tracking.Metric]:
    return [tracking.Metric(f"m{i % 7}", str(i), i, 1000 + i) for i in range(n)]


@pytest.mark.parametrize("size", [1, store.COPY_METRICS - 1, store.COPY_METRICS, 1000])
def test_a_run_deleted_after_the_lookup_takes_no_metrics(
        services: Any, conn: psycopg.Connection, run_id: str, size: int) -> None:
    stale = store.get_run(conn, run_id)
    assert stale is not None and stale.lifecycle == "active"
    delete_run(services, run_id)
    deleted = store.get_run(conn, run_id)
    assert deleted is not None and deleted.lifecycle == "deleted"
    before = counts(conn, run_id)
    with pytest.raises(tracking.Conflict, match="must be in the 'active' state"):
        services.committer.run(lambda w: tracking.log_metrics(
            w, "token:test", run_id, metrics(size), known=stale))
    with pytest.raises(tracking.Conflict):
        services.committer.run(lambda w: tracking.log_batch(
            w, "token:test", run_id, {"p": "1"}, metrics(size), {"t": "v"}, known=stale))
    assert counts(conn, run_id) == before


def test_a_batch_without_metrics_is_checked_again_too(
        services: Any, conn: psycopg.Connection, run_id: str) -> None:
    stale = store.get_run(conn, run_id)
    delete_run(services, run_id)
    before = counts(conn, run_id)
    for params, tags in (({"p": "1"}, {}), ({}, {"t": "v"}), ({}, {})):
        with pytest.raises(tracking.Conflict):
            services.committer.run(lambda w, p=params, t=tags: tracking.log_batch(
                w, "token:test", run_id, p, [], t, known=stale))
    assert counts(conn, run_id) == before


def test_a_deleted_run_is_refused_over_http(client: Any, auth: dict[str, str],
                                            services: Any, run_id: str) -> None:
    delete_run(services, run_id)
    for path, payload in (("metrics", {"metrics": [{"key": "a", "value": 1}]}),
                          ("batch", {"metrics": [{"key": "a", "value": 1}]})):
        response = post(client, f"/api/v1/runs/{run_id}/{path}", auth, payload)
        assert response.status_code == 409, response.json
        assert "must be in the 'active' state" in response.json["detail"]
    response = post(client, "/api/v1/runs/nope/metrics", auth,
                    {"metrics": [{"key": "a", "value": 1}]})
    assert response.status_code == 404 and response.json["detail"] == "run 'nope' does not exist"


def stored(conn: psycopg.Connection, seq: int) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT key, group_key, group_values, n, value, value_number::text, step, timestamp,"
        " position"
        " FROM metrics WHERE seq = %s ORDER BY position", (seq,)).fetchall()


def test_copy_stores_what_executemany_stores(client: Any, auth: dict[str, str],
                                             conn: psycopg.Connection, run_id: str) -> None:
    odd = [{"key": "with space", "value": "NaN", "step": -5, "timestamp": 0},
           {"key": "auc", "value": "-Infinity", "group": {"sex": "F", "age": "40\\49"}, "n": 7,
            "timestamp": 5},
           {"key": "auc", "value": 0.125, "group": {"sex": "M\nnewline"}, "timestamp": 6},
           {"key": "big", "value": "1e400", "step": 2**63 - 1, "timestamp": 2**63 - 1}]
    # value_number is written from the value's own text when it is a plain decimal, and
    # from the float otherwise: both must store the double Python's float() gives.
    odd += [{"key": "v", "value": value, "timestamp": 1} for value in (
        "0.1", "-0", "123456789012345678901234567890", "0." + "3" * 300, "1" * 300, 1e-7,
        "4.9E-324", "2.2250738585072014E-308", "1.7976931348623157E+308", "1E-400",
        "0.7913459578295193", 0.7913459578295193, "-12.5", "1E+2")]
    odd += [{"key": "tabs", "value": 1, "group": {"ab": "c\rd\te", "fg": "h\\i\nj"}, "n": 3,
             "timestamp": 2},
            {"key": "counted", "value": 0.5, "n": 5, "timestamp": 3}]  # n without a group
    small = odd * ((store.COPY_METRICS - 1) // len(odd))
    large = small + odd * 2
    assert len(small) < store.COPY_METRICS <= len(large)
    seqs = []
    for batch in (small, large):
        response = post(client, f"/api/v1/runs/{run_id}/batch", auth, {"metrics": batch})
        assert response.status_code == 200, response.json
        seqs.append(response.json["receipts"][0]["seq"])
    rows_small, rows_large = stored(conn, seqs[0]), stored(conn, seqs[1])
    assert len(rows_large) == len(large)
    assert rows_large[: len(rows_small)] == rows_small
    first = rows_large[1]
    assert first[2] == {"sex": "F", "age": "40\\49"} and first[3] == 7
    assert first[4] == "-Infinity" and float(first[5]) == -math.inf
    assert rows_large[0][4] == "NaN" and math.isnan(float(rows_large[0][5]))
    assert rows_large[2][2] == {"sex": "M\nnewline"} and float(rows_large[2][5]) == 0.125
    assert rows_large[3][4] == "1E+400" and float(rows_large[3][5]) == math.inf
    for row in rows_large:
        assert float(row[5]) == float(row[4]) or math.isnan(float(row[4])), row
    assert rows_large[len(odd) - 2][2] == {"ab": "c\rd\te", "fg": "h\\i\nj"}
    assert rows_small[len(odd) - 1][3] == rows_large[len(odd) - 1][3] == 5


def test_copy_text_refuses_a_field_that_would_add_a_field_or_a_line() -> None:
    row = ("r", "k", "", None, None, "1", 1.0, 0, 1, 5, 0)
    assert store._copy_text([row]) == "r\tk\t\t\\N\t\\N\t1\t1\t0\t1\t5\t0\n"
    for bad in ("1\t2", "1\n2", "1\r2"):
        with pytest.raises(ValueError, match="not text or a number"):
            store._copy_text([(*row[:7], bad, *row[8:])])


def test_upload_after_key_rotation_is_signed_with_the_new_key(
        client: Any, auth: dict[str, str], run_cli: Any, run_id: str) -> None:
    def upload(path: str) -> dict[str, Any]:
        response = client.put(f"/api/v1/runs/{run_id}/artifacts/{path}", headers=auth,
                              data=b"weights", content_type="application/octet-stream")
        assert response.status_code == 201, response.json
        return dict(response.json["envelope"])

    before = upload("a.bin")
    assert run_cli("key", "rotate").returncode == 0
    after = upload("b.bin")
    keys = client.get("/api/v1/ledger/keys", headers=auth).json
    assert before["signatures"][0]["keyid"] != after["signatures"][0]["keyid"]
    assert json.dumps(keys).count(after["signatures"][0]["keyid"]) >= 1
    assert base64.b64decode(after["payload"]) and after["payloadType"] == dsse.PAYLOAD_TYPE


def test_the_latest_values_skip_scan_agrees_with_distinct_on(conn: psycopg.Connection) -> None:
    """latest_metrics_for and latest_group_values walk the index group by group; they must pick
    the row DISTINCT ON picks (highest step, then timestamp, seq, position) for every group,
    with steps out of order and ties at each level."""
    rng = random.Random(7)
    runs = [f"run{i}" for i in range(5)]
    rows, seq = [], 100
    for _ in range(60):
        seq += 1
        run = rng.choice(runs[:4])  # runs[4] logs nothing
        for position in range(rng.randint(1, 12)):
            key = rng.choice(["loss", "auc", "a b", "Z"])
            group = rng.choice([None, {"sex": "F"}, {"sex": "M"}, {"age": "40", "sex": "F"}])
            group_key = "" if group is None else json.dumps(group, sort_keys=True,
                                                            separators=(",", ":"))
            rows.append((run, key, group_key, None if group is None else Jsonb(group),
                         rng.choice([None, 5]), str(position), float(position),
                         rng.randint(0, 3), rng.randint(0, 2), seq, position))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO metrics (run_id, key, group_key, group_values, n, value, value_number,"
            " step, timestamp, seq, position) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            rows)
    oracle: dict[str, list[Any]] = {run: [] for run in runs}
    for run, *rest in conn.execute(
            "SELECT DISTINCT ON (run_id, key, group_key) run_id, key, group_values, n, value, step,"
            " timestamp, seq, position FROM metrics ORDER BY run_id, key, group_key, step DESC,"
            " timestamp DESC, seq DESC, position DESC").fetchall():
        oracle[run].append(store.MetricRow(*rest))
    assert store.latest_metrics_for(conn, runs + runs[:2]) == oracle
    assert store.latest_metrics(conn, "run1") == oracle["run1"] and oracle["run4"] == []
    for run in runs:
        for key in ("loss", "auc"):
            for attributes in (["sex"], ["age", "sex"]):
                expected = [m for m in oracle[run] if m.key == key and m.group_values is not None
                            and sorted(m.group_values) == attributes]
                assert store.latest_group_values(conn, run, key, attributes) == expected


def test_params_are_read_with_their_run_and_still_refused_when_they_must_be(
        services: Any, conn: psycopg.Connection, run_id: str) -> None:
    """log_params reads the run and the stored values in one pipelined round trip: the same
    answers as get_run and get_params, and the same refusals."""
    def log(params: dict[str, str], target: str = run_id) -> Any:
        return services.committer.run(
            lambda w: tracking.log_params(w, "token:test", target, params))

    assert log({"a": "1", "b": "2"}) is not None
    assert store.get_run_and_params(conn, run_id, ["a", "c"]) == (
        store.get_run(conn, run_id), {"a": "1"})
    assert store.get_run_and_params(conn, "nope", ["a"]) == (None, {})
    assert log({"a": "1"}) is None  # the same value again: nothing to record
    with pytest.raises(tracking.Conflict):  # b's value changes
        log({"a": "1", "b": "3"})
    with pytest.raises(tracking.NotFound, match="run 'nope' does not exist"):
        log({"a": "1"}, "nope")
    before = counts(conn, run_id)
    delete_run(services, run_id)
    with pytest.raises(tracking.Conflict, match="must be in the 'active' state"):
        log({"z": "1"})
    assert counts(conn, run_id)[2] == before[2]
