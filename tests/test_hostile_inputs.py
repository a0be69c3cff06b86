"""Hostile input over /api/v1 and the MLflow routes: each case is a clear 4xx and writes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

V1 = "/api/v1"
MF = "/api/2.0/mlflow"
NESTED = "[" * 100_000 + "]" * 100_000
BIG_INT = "9" * 400
HUGE_FLOAT = "1e999999"


def ledger_size(services: Any) -> int:
    with services.pool.connection() as conn:
        return int(conn.execute("SELECT count(*) FROM ledger_entries").fetchone()[0])


@pytest.fixture
def world(client: Any, auth: dict[str, str]) -> dict[str, str]:
    """An experiment and a run to aim at, through the API."""
    exp = client.post(f"{V1}/experiments", json={"name": "target"}, headers=auth).json["id"]
    run = client.post(f"{V1}/runs", json={"experiment_id": exp, "name": "r"}, headers=auth).json
    return {"exp": exp, "run": run["id"]}


def cases(w: dict[str, str]) -> list[tuple[str, str, str, Any, str]]:
    """(label, method, path, body (str/bytes raw, or None), content type)."""
    run, exp = w["run"], w["exp"]
    j = "application/json"
    metric = {"key": "m", "value": 1, "step": 0, "timestamp": 1}
    out: list[tuple[str, str, str, Any, str]] = []
    json_posts = [
        (f"{V1}/experiments", {"name": "x"}),
        (f"{V1}/runs", {"experiment_id": exp, "name": "x"}),
        (f"{V1}/runs/{run}/params", {"params": {"a": "1"}}),
        (f"{V1}/runs/{run}/metrics", {"metrics": [metric]}),
        (f"{V1}/runs/{run}/batch", {"metrics": [metric], "params": {"b": "2"}}),
        (f"{V1}/models", {"name": "m1"}),
        (f"{MF}/experiments/create", {"name": "x"}),
        (f"{MF}/runs/create", {"experiment_id": exp, "run_name": "x"}),
        (f"{MF}/runs/log-metric", {"run_id": run, **metric}),
        (f"{MF}/runs/log-batch", {"run_id": run, "metrics": [metric]}),
        (f"{MF}/runs/log-parameter", {"run_id": run, "key": "k", "value": "v"}),
        (f"{MF}/runs/set-tag", {"run_id": run, "key": "k", "value": "v"}),
        (f"{MF}/registered-models/create", {"name": "m2"}),
    ]
    for path, body in json_posts:
        text = json.dumps(body)
        out += [
            ("nested", "POST", path, NESTED, j),
            ("nested objects", "POST", path, '{"a":' * 50_000 + "1" + "}" * 50_000, j),
            ("invalid utf-8", "POST", path, text[:-1].encode() + b', "x": "\xff\xfe"}', j),
            ("lone surrogate", "POST", path, json.dumps(_nul(body, "\ud800")), j),
            ("not json", "POST", path, "{name: x}", j),
            ("truncated", "POST", path, text[:-3], j),
            ("json array", "POST", path, "[]", j),
            ("json string", "POST", path, '"x"', j),
            ("wrong content type", "POST", path, text, "text/plain"),
            ("form content type", "POST", path, text, "application/x-www-form-urlencoded"),
            ("duplicate keys", "POST", path, text[:-1] + ', "x": 1, "x": 2}', j),
            ("NUL in strings", "POST", path, json.dumps(_nul(body)), j),
        ]
        if path.startswith(V1):  # unknown fields are refused on /api/v1 (MLflow ignores them)
            for bad in ("NaN", "Infinity", BIG_INT, HUGE_FLOAT):
                out.append((f"unknown field {bad[:10]}", "POST", path, spliced(body, "zz", bad), j))
    for path, field in ((f"{V1}/runs/{run}/metrics", "metrics"),
                        (f"{V1}/runs/{run}/batch", "metrics"),
                        (f"{MF}/runs/log-batch", "metrics")):
        for name in ("step", "timestamp"):
            for bad in ("NaN", "Infinity", "-Infinity", BIG_INT, "-" + BIG_INT, HUGE_FLOAT, "1.5",
                        "true", '"12abc"', '"\\u0000"', "[]", "{}", '"9' + "9" * 30 + '"'):
                item = spliced(metric, name, bad)
                body = (spliced({"run_id": run}, field, f"[{item}]") if path.startswith(MF)
                        else spliced({}, field, f"[{item}]"))
                out.append((f"{field}.{name}={bad[:12]}", "POST", path, body, j))
    for bad in ("NaN", "Infinity", BIG_INT, "-1", '"x"', HUGE_FLOAT):
        out += [
            (f"start_time={bad[:10]}", "POST", f"{MF}/runs/create",
             spliced({"experiment_id": exp}, "start_time", bad), j),
            (f"max_results={bad[:10]}", "POST", f"{MF}/runs/search",
             spliced({"experiment_ids": [exp]}, "max_results", bad), j),
            (f"end_time={bad[:10]}", "POST", f"{MF}/runs/update",
             spliced({"run_id": run, "status": "FINISHED"}, "end_time", bad), j),
            (f"log-metric timestamp={bad[:10]}", "POST", f"{MF}/runs/log-metric",
             spliced({"run_id": run, "key": "m", "value": 1, "step": 1}, "timestamp", bad), j),
        ]
    for bad in ("NaN", BIG_INT, "-1", "x", "0"):
        out.append((f"limit={bad[:10]}", "GET", f"{V1}/experiments?limit={bad}", None, j))
        out.append((f"runs max_results={bad[:10]}", "GET",
                    f"{V1}/runs?experiment_id={exp}&max_results={bad}", None, j))
    for f in INVALID_FILTERS:
        out.append((f"filter {f[:24]!r}", "GET",
                    f"{V1}/runs?experiment_id={exp}&filter=" + _q(f), None, j))
        out.append((f"mlflow filter {f[:24]!r}", "POST", f"{MF}/runs/search",
                    json.dumps({"experiment_ids": [exp], "filter": f}), j))
    for order in ("metrics.m; DROP TABLE runs", "params.a DESC, (SELECT 1)", "1",
                  "start_time UP", "params.a DESC DESC"):
        out.append((f"order_by {order!r}", "GET",
                    f"{V1}/runs?experiment_id={exp}&order_by=" + _q(order), None, j))
        out.append((f"mlflow order_by {order!r}", "POST", f"{MF}/runs/search",
                    json.dumps({"experiment_ids": [exp], "order_by": [order]}), j))
    for token in ("'; DROP TABLE runs; --", "\x00", "%00", "a" * 5000):
        out.append((f"page token {token[:10]!r}", "GET",
                    f"{V1}/runs?experiment_id={exp}&page_token=" + _q(token), None, j))
        out.append((f"mlflow page token {token[:10]!r}", "POST", f"{MF}/runs/search",
                    json.dumps({"experiment_ids": [exp], "page_token": token}), j))
    for path in ("../../etc/passwd", "a/../../b", "..", "a/./b", "a//b", "a\\..\\b",
                 "%2e%2e/x", "a/%2E%2E/b", "%252e%252e/x", "%2fetc", "a%5c..%5cb", "a\x00b",
                 "a/..", ".", "x" * 5000):
        out.append((f"artifact path {path[:20]!r}", "PUT",
                    f"{V1}/runs/{run}/artifacts/{_q(path)}", b"bytes", "application/octet-stream"))
        out.append((f"mlflow artifact path {path[:20]!r}", "PUT",
                    f"/api/2.0/mlflow-artifacts/artifacts/{exp}/{run}/artifacts/{_q(path)}",
                    b"bytes", "application/octet-stream"))
    for name in ("a\x00b", "%00"):
        out.append((f"NUL in path {name!r}", "GET", f"{V1}/experiments/by-name/{_q(name)}", None,
                    j))
        out.append((f"NUL in query {name!r}", "GET",
                    f"{MF}/experiments/get-by-name?experiment_name={_q(name)}", None, j))
        out.append((f"NUL run id {name!r}", "GET", f"{MF}/runs/get?run_id={_q(name)}", None, j))
        out.append((f"NUL run id v1 {name!r}", "GET", f"{V1}/runs/{_q(name)}", None, j))
    out.append(("oversized json", "POST", f"{MF}/runs/log-batch",
                b'{"run_id": "' + run.encode() + b'", "tags": [' + b" " * (17 * 1024 * 1024)
                + b"]}", j))
    out.append(("oversized json v1", "POST", f"{V1}/runs/{run}/batch",
                b'{"tags": {' + b" " * (17 * 1024 * 1024) + b"}}", j))
    return out


# Filters outside MLflow's grammar (SQL smuggled in): each is a 400, never run.
INVALID_FILTERS = [
    "params.a = '1'; DROP TABLE runs; --", "metrics.m > 1 OR 1=1",
    "params.`a` = 'x' UNION SELECT * FROM tokens", "attributes.status = 'RUNNING' --",
    "((((", "'" * 1001, "params.a = '1' AND (SELECT 1) = 1", "metrics.m > 1e999999999999x",
    "params.a IN ('x', (SELECT id FROM tokens))", "tags.t = 'x' /* comment */",
    "metrics.m > NaN AND", "runs.id = 1", "params.a = x", "params.a = 'x' AND",
]
# Well-formed filters whose literals carry SQL metacharacters: bound parameters, so they match
# nothing here and change nothing.
LITERAL_FILTERS = [
    "tags.t = '\\' OR ''='", "params.a = 'x''; DROP TABLE runs; --'",
    "params.a LIKE '%'' OR 1=1 --'", "tags.`x'; DELETE FROM metrics; --` = 'y'",
    "metrics.m > 1e999999", "params.a = '1\x01'", 'params.a = "x\\" OR 1=1 --"',
]


def spliced(obj: dict[str, Any], field: str, raw: str) -> str:
    """obj as JSON with field set to the raw JSON text raw (which may be invalid JSON)."""
    return json.dumps({**obj, field: "@@"}).replace('"@@"', raw)


def _nul(value: Any, bad: str = "\x00") -> Any:
    """value with bad appended to every string value in it (keys unchanged: the MLflow
    routes ignore unknown fields, as MLflow does)."""
    if isinstance(value, str):
        return value + bad
    if isinstance(value, dict):
        return {k: _nul(v, bad) for k, v in value.items()}
    if isinstance(value, list):
        return [_nul(v, bad) for v in value]
    return value


def _q(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def test_every_hostile_case_is_a_clear_4xx_and_writes_nothing(
        client: Any, auth: dict[str, str], services: Any, world: dict[str, str]) -> None:
    before = ledger_size(services)
    bad = []
    for label, method, path, body, ctype in cases(world):
        data = body.encode() if isinstance(body, str) else body
        response = client.open(path, method=method, data=data, headers=auth, content_type=ctype)
        status = response.status_code
        if not 400 <= status < 500:
            bad.append((label, method, path[:80], status, response.data[:200]))
    assert not bad, "\n".join(map(repr, bad))
    assert ledger_size(services) == before


def test_sql_metacharacters_in_literals_and_names_are_only_data(
        client: Any, auth: dict[str, str], services: Any, world: dict[str, str]) -> None:
    """Well-formed requests whose strings look like SQL are stored and matched verbatim."""
    exp = world["exp"]
    for f in LITERAL_FILTERS:
        got = client.get(f"{V1}/runs?experiment_id={exp}&filter={_q(f)}", headers=auth)
        assert got.status_code == 200 and got.json["runs"] == [], (f, got.data[:300])
        got = client.post(f"{MF}/runs/search", json={"experiment_ids": [exp], "filter": f},
                          headers=auth)
        assert got.status_code == 200 and got.json.get("runs", []) == [], (f, got.data[:300])
    name = "x'); DROP TABLE runs; -- ; SELECT pg_sleep(10); %_ \\"
    created = client.post(f"{MF}/experiments/create", json={"name": name}, headers=auth)
    assert created.status_code == 200, created.data
    found = client.get(f"{MF}/experiments/get-by-name", query_string={"experiment_name": name},
                       headers=auth)
    assert found.json["experiment"]["name"] == name
    run = client.post(f"{V1}/runs", json={"experiment_id": exp, "name": name}, headers=auth).json
    client.post(f"{V1}/runs/{run['id']}/params", json={"params": {"p": name}}, headers=auth)
    # MLflow's grammar has no escapes: a value with a single quote is written in double quotes
    matched = client.get(f"{V1}/runs?experiment_id={exp}&filter=" + _q(f'params.p = "{name}"'),
                         headers=auth)
    assert [r["id"] for r in matched.json["runs"]] == [run["id"]]
    like = client.get(f"{V1}/runs?experiment_id={exp}&filter=" + _q("params.p LIKE 'x%'"),
                      headers=auth)
    assert [r["id"] for r in like.json["runs"]] == [run["id"]]
    with services.pool.connection() as conn:  # the tables are all still there
        assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] >= 2


def test_upload_over_the_configured_limit_is_413_and_writes_nothing(
        config: Any, database_url: str) -> None:
    from dataclasses import replace

    from app import create_app

    small = create_app(replace(config, max_upload_bytes=1024))
    try:
        client = small.test_client()
        token = config.admin_token_path.read_text().strip()
        auth = {"Authorization": f"Bearer {token}"}
        exp = client.post(f"{V1}/experiments", json={"name": "e"}, headers=auth).json["id"]
        run = client.post(f"{V1}/runs", json={"experiment_id": exp}, headers=auth).json["id"]
        services = small.extensions["mlaudit"]
        before = ledger_size(services)
        for path in (f"{V1}/runs/{run}/artifacts/big.bin",
                     f"/api/2.0/mlflow-artifacts/artifacts/{exp}/{run}/artifacts/big2.bin"):
            ok = client.put(path, data=b"x" * 1024, headers=auth,
                            content_type="application/octet-stream")
            assert ok.status_code in (200, 201), ok.data
            size = ledger_size(services)
            too_big = client.put(path.replace("big", "bigger"), data=b"x" * 1025, headers=auth,
                                 content_type="application/octet-stream")
            assert too_big.status_code == 413, too_big.data
            assert ledger_size(services) == size
        assert ledger_size(services) == before + 2
    finally:
        small.extensions["mlaudit"].close()


def test_another_scopes_ids_are_refused_on_both_apis(
        client: Any, auth: dict[str, str], services: Any, world: dict[str, str],
        run_cli: Any) -> None:
    """A writer granted one experiment cannot touch a run of another, through either API."""
    done = run_cli("token", "create", "--name", "scoped", "--role", "writer")
    scoped = {"Authorization": f"Bearer {done.stdout.split()[-1]}"}
    own = client.post(f"{V1}/experiments", json={"name": "own"}, headers=auth).json["id"]
    granted = client.post(f"{V1}/grants", json={"token_name": "scoped", "experiment_id": own},
                          headers=auth)
    assert granted.status_code in (200, 201), granted.data
    before = ledger_size(services)
    run, exp = world["run"], world["exp"]
    attempts = [
        ("POST", f"{V1}/runs/{run}/params", {"params": {"x": "1"}}),
        ("POST", f"{V1}/runs/{run}/metrics", {"metrics": [{"key": "m", "value": 1, "step": 0,
                                                          "timestamp": 1}]}),
        ("POST", f"{V1}/runs", {"experiment_id": exp}),
        ("GET", f"{V1}/runs/{run}", None),
        ("POST", f"{MF}/runs/log-metric", {"run_id": run, "key": "m", "value": 1,
                                           "timestamp": 1}),
        ("POST", f"{MF}/runs/log-batch", {"run_id": run, "params": [{"key": "x", "value": "1"}]}),
        ("POST", f"{MF}/runs/create", {"experiment_id": exp}),
        ("GET", f"{MF}/runs/get?run_id={run}", None),
    ]
    for method, path, body in attempts:
        got = client.open(path, method=method, json=body, headers=scoped)
        assert got.status_code in (403, 404), (path, got.status_code, got.data[:200])
    assert ledger_size(services) == before
