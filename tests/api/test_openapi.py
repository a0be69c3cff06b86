"""The OpenAPI document: valid 3.0, every route an operation, real responses as documented."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
from flask import Flask
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from app import __version__
from app.api.http import openapi as kernel
from app.api.v1 import openapi

PUBLIC = {("get", "/healthz"), ("get", "/readyz"), ("get", "/api/v1/ledger/keys"),
          ("get", "/health")}
DIGEST = "ab" * 32
ENVIRONMENT = {"python_version": "3.11.9", "os": "Linux", "architecture": "x86_64",
               "hardware": {"cpu": "x"}, "packages": [{"name": "numpy", "version": "2.0"}],
               "lockfile_sha256": DIGEST}


@pytest.fixture
def spec(client: Any, auth: dict[str, str]) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json", headers=auth)
    assert response.status_code == 200, response.get_data(as_text=True)
    document: dict[str, Any] = response.json
    return document


def routes(app: Any) -> list[tuple[str, str]]:
    return sorted((method.lower(), rule.rule) for rule in app.url_map.iter_rules()
                  for method in rule.methods - {"HEAD", "OPTIONS"})


def template(rule: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


def operations(spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method, path): op for path, item in spec["paths"].items()
            for method, op in item.items() if method != "parameters"}


def deref(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        section, name = node["$ref"].split("/")[-2:]
        node = spec["components"][section][name]
    return node


def undocumented(spec: dict[str, Any], schema: dict[str, Any], value: Any, at: str) -> list[str]:
    """Members of value that its (open) documented schema does not name, recursively."""
    schema = deref(spec, schema)
    if "anyOf" in schema:
        return [] if value is None else undocumented(
            spec, next(s for s in schema["anyOf"] if "$ref" in s), value, at)
    if isinstance(value, list) and "items" in schema:
        return [m for i, v in enumerate(value)
                for m in undocumented(spec, schema["items"], v, f"{at}[{i}]")]
    if not isinstance(value, dict) or "properties" not in schema:
        return []
    found = [f"{at}.{k}" for k in value if k not in schema["properties"]]
    return found + [m for k, v in value.items() if k in schema["properties"]
                    for m in undocumented(spec, schema["properties"][k], v, f"{at}.{k}")]


def mlflow_family(op: dict[str, Any]) -> bool:
    return bool(op["tags"][0].startswith("mlflow"))


def check(spec: dict[str, Any], method: str, rule: str, response: Any) -> Any:
    """Assert the response is one the document describes, its JSON body valid and complete."""
    op = spec["paths"][template(rule)][method.lower()]
    responses = op["responses"]
    documented = deref(spec, responses.get(str(response.status_code), responses["default"]))
    assert str(response.status_code) in responses, (method, rule, response.status_code,
                                                    response.get_data(as_text=True))
    assert response.mimetype in documented["content"], (method, rule, response.mimetype)
    if not response.mimetype.endswith("json"):
        return response.data
    schema = documented["content"][response.mimetype]["schema"]
    body = json.loads(response.data)
    OAS30Validator({**schema, "components": spec["components"]}).validate(body)
    assert not undocumented(spec, schema, body, "body"), (method, rule)
    return body


def test_the_document_needs_a_token(client: Any) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"


def test_it_is_valid_openapi_3_0(spec: dict[str, Any], app: Any, client: Any,
                                 auth: dict[str, str]) -> None:
    validate(spec)
    assert spec["openapi"] == "3.0.3"
    assert spec["info"] == {**spec["info"], "title": "mlaudit", "version": __version__}
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {"type": "http",
                                                                   "scheme": "bearer"}
    assert spec["security"] == [{"bearerAuth": []}]
    ids = [op["operationId"] for op in operations(spec).values()]
    assert len(ids) == len(set(ids))
    assert client.get("/api/v1/openapi.json", headers=auth).json == spec  # built once, kept
    assert app.extensions[openapi.EXTENSION] == spec


def test_every_route_is_an_operation_with_its_path_parameters(app: Any,
                                                              spec: dict[str, Any]) -> None:
    documented = operations(spec)
    served = {(method, template(rule)): rule for method, rule in routes(app)}
    assert set(documented) == set(served)
    for (method, path), rule in served.items():
        names = re.findall(r"<(?:\w+:)?(\w+)>", rule)
        params = {p["name"]: p for p in documented[(method, path)]["parameters"]
                  if p.get("in") == "path"}
        assert sorted(params) == sorted(names), (method, rule)
        assert all(params[n]["required"] for n in names)
        for name in re.findall(r"<int:(\w+)>", rule):
            assert params[name]["schema"]["type"] == "integer"
        for name in re.findall(r"<path:(\w+)>", rule):
            assert params[name]["schema"]["type"] == "string"
            assert "'/'" in params[name]["description"]


def test_a_route_missing_from_the_registry_fails_the_build(app: Any) -> None:
    bare = Flask("bare", static_folder=None)
    for blueprint in app.blueprints.values():
        bare.register_blueprint(blueprint)
    assert openapi.build_spec(bare)["paths"]
    bare.add_url_rule("/api/v1/new/<int:n>", "new", lambda n: "", methods=["POST"])
    with pytest.raises(kernel.RegistryMismatch, match="POST /api/v1/new/<int:n>"):
        openapi.build_spec(bare)
    with pytest.raises(kernel.RegistryMismatch):
        kernel.path_template("/api/v1/odd/<uuid:u>")


def test_security_success_and_problem_responses(app: Any, spec: dict[str, Any]) -> None:
    for (method, path), op in operations(spec).items():
        codes = set(op["responses"])
        assert {"200", "201"} & codes and "default" in codes, (method, path)
        # the MLflow-compatible routes answer MLflow's {error_code, message}, as JSON
        media = "application/json" if mlflow_family(op) else "application/problem+json"
        for code in codes - {"200", "201", "414"}:
            problem = deref(spec, op["responses"][code])
            assert list(problem["content"]) == [media], (method, path)
        # a query string can outgrow the HTTP server's request line: its own page, not ours
        has_query = any(p.get("in") == "query" for p in op["parameters"])
        assert ("414" in codes) == has_query, (method, path)
        if has_query:
            assert list(deref(spec, op["responses"]["414"])["content"]) == ["text/html"]
        if (method, path) in PUBLIC:
            assert op["security"] == [] and "401" not in codes, (method, path)
        else:
            assert "security" not in op and "401" in codes, (method, path)
    public = {key for key, op in operations(spec).items() if op.get("security") == []}
    assert public == PUBLIC
    ops = operations(spec)
    assert "403" in ops[("post", "/api/v1/grants")]["responses"]  # admin only
    assert {"400", "413", "415"} <= set(ops[("post", "/api/v1/runs")]["responses"])
    assert "413" in ops[("put", "/api/v1/runs/{run_id}/artifacts/{path}")]["responses"]
    problem = spec["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "instance"} <= set(problem["required"])


def test_request_bodies_are_the_marshmallow_schemas(spec: dict[str, Any]) -> None:
    ops = operations(spec)
    for (method, path), op in ops.items():
        if "requestBody" in op and "application/json" in op["requestBody"]["content"]:
            body = op["requestBody"]["content"]["application/json"]["schema"]
            assert deref(spec, body)["additionalProperties"] is False, (method, path)
    batch = ops[("post", "/api/v1/runs/{run_id}/batch")]["requestBody"]
    assert batch["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/BatchBody"}
    batch_schema = spec["components"]["schemas"]["BatchBody"]
    assert set(batch_schema["properties"]) == {"params", "metrics", "tags"}
    assert batch_schema["properties"]["params"]["items"]["required"] == ["key", "value"]
    assert batch_schema["properties"]["tags"]["maxProperties"] == 100
    metric = deref(spec, batch_schema["properties"]["metrics"]["items"])
    assert set(metric["required"]) == {"key", "value"} and "anyOf" in metric["properties"]["value"]
    upload = ops[("put", "/api/v1/runs/{run_id}/artifacts/{path}")]["requestBody"]
    assert upload["content"] == {"application/octet-stream": {
        "schema": {"type": "string", "format": "binary"}}}
    external = spec["components"]["schemas"]["ExternalBody"]["properties"]
    assert external["sha256"]["pattern"] == "^(?:[0-9a-f]{64}$)"


def test_query_strings_are_parameters(spec: dict[str, Any]) -> None:
    ops = operations(spec)

    def query(method: str, path: str) -> dict[str, Any]:
        return {p["name"]: p for p in ops[(method, path)]["parameters"] if p["in"] == "query"}

    assert set(query("get", "/api/v1/ledger/entries")) == {"after", "limit"}
    assert query("get", "/api/v1/ledger/consistency")["from"]["required"] is True
    search = query("get", "/api/v1/runs")
    assert search["experiment_id"]["schema"]["type"] == "array" and search["order_by"]["explode"]
    assert "nullable" not in query("get", "/api/v1/ledger/entries/{seq}")["tree_size"]["schema"]
    signed = ops[("post", "/api/v1/runs/{run_id}/params")]["parameters"]
    assert {"$ref": "#/components/parameters/ClientSignatureHeader"} in signed


def _send(client: Any, method: str, path: str, auth: dict[str, str],
          payload: Any = None) -> Any:
    return client.open(path, method=method, headers=auth,
                       data=None if payload is None else json.dumps(payload),
                       content_type="application/json")


def test_real_responses_match_the_document(client: Any, auth: dict[str, str],
                                           spec: dict[str, Any]) -> None:
    def call(method: str, rule: str, path: str, payload: Any = None, status: int = 200,
             **kwargs: Any) -> Any:
        response = (client.open(path, method=method, headers=auth, **kwargs) if kwargs
                    else _send(client, method, path, auth, payload))
        assert response.status_code == status, (path, response.get_data(as_text=True))
        return check(spec, method, rule, response)

    for rule in ("/healthz", "/readyz", "/api/v1/ledger/keys"):
        check(spec, "GET", rule, client.get(rule))
    call("GET", "/api/v1/openapi.json", "/api/v1/openapi.json")
    experiment = call("POST", "/api/v1/experiments", "/api/v1/experiments",
                      {"name": "oa/exp", "tags": {"team": "risk"}}, 201)
    assert experiment["experiment"]["name"] == "oa/exp"
    experiment_id = experiment["id"]
    call("GET", "/api/v1/experiments", "/api/v1/experiments?limit=5")
    call("GET", "/api/v1/experiments/<experiment_id>", f"/api/v1/experiments/{experiment_id}")
    call("GET", "/api/v1/experiments/by-name/<path:name>", "/api/v1/experiments/by-name/oa/exp")
    run = call("POST", "/api/v1/runs", "/api/v1/runs", {
        "experiment_id": experiment_id, "name": "r1", "source": {"git_commit": "abcdef1"},
        "tags": {"a": "b"}}, 201)
    _exercise_run(call, f"/api/v1/runs/{run['id']}")
    _exercise_artifacts(call, f"/api/v1/runs/{run['id']}")
    _exercise_ledger(call)
    _exercise_access(call, experiment_id)
    call("GET", "/api/v1/runs", f"/api/v1/runs?experiment_id={experiment_id}&max_results=1")
    call("POST", "/api/v1/runs/<run_id>/end", f"/api/v1/runs/{run['id']}/end",
         {"status": "FINISHED"})
    call("GET", "/api/v1/runs/<run_id>", f"/api/v1/runs/{run['id']}")
    call("POST", "/api/v1/experiments/<experiment_id>/archive",
         f"/api/v1/experiments/{experiment_id}/archive")


def _exercise_run(call: Any, base: str) -> None:
    runs = "/api/v1/runs/<run_id>"
    call("POST", f"{runs}/params", f"{base}/params", {"params": {"lr": "0.1", "seed": "1"}})
    again = call("POST", f"{runs}/params", f"{base}/params", {"params": {"lr": "0.1"}})
    assert again == {"receipt": None, "unchanged": True}
    call("POST", f"{runs}/metrics", f"{base}/metrics", {"metrics": [
        {"key": "acc", "value": 0.9, "step": 1},
        {"key": "sel", "value": "0.5", "group": {"sex": "F"}, "n": 100},
        {"key": "sel", "value": 0.6, "group": {"sex": "M"}, "n": 120}]})
    call("POST", f"{runs}/batch", f"{base}/batch", {
        "params": [{"key": "b", "value": "1"}], "metrics": [{"key": "acc", "value": 1}],
        "tags": {"x": "y"}})
    call("PUT", f"{runs}/tags/<path:key>", f"{base}/tags/team/a", {"value": "risk"})
    call("GET", f"{runs}/tags/<path:key>/history", f"{base}/tags/team/a/history")
    call("DELETE", f"{runs}/tags/<path:key>", f"{base}/tags/team/a")
    page = call("GET", f"{runs}/metrics/<path:key>/history", f"{base}/metrics/acc/history?limit=1")
    assert page["next"] is not None
    call("GET", f"{runs}/metrics/<path:key>/groups", f"{base}/metrics/sel/groups?attribute=sex")
    call("POST", f"{runs}/inputs", f"{base}/inputs", {"datasets": [{
        "name": "loans", "digest": DIGEST, "context": "training", "row_count": 10,
        "schema": {"columns": ["a"]}, "group_counts": {"sex": {"F": 4, "M": 6}}}]})
    call("PUT", f"{runs}/environment", f"{base}/environment", ENVIRONMENT)
    call("GET", runs, base)
    call("GET", f"{runs}/manifest", f"{base}/manifest")


def _exercise_artifacts(call: Any, base: str) -> None:
    rule = "/api/v1/runs/<run_id>/artifacts"
    upload = {"data": b"weights", "content_type": "application/octet-stream"}
    call("PUT", f"{rule}/<path:path>", f"{base}/artifacts/model/w.bin", status=201, **upload)
    same = call("PUT", f"{rule}/<path:path>", f"{base}/artifacts/model/w.bin", **upload)
    assert same["unchanged"] is True
    assert call("GET", f"{rule}/<path:path>", f"{base}/artifacts/model/w.bin") == b"weights"
    call("GET", f"{rule}/<path:path>", f"{base}/artifacts/model/w.bin?meta=1")
    call("GET", rule, f"{base}/artifacts?path=model")
    call("POST", f"{rule}/external", f"{base}/artifacts/external", {
        "path": "ext/data.csv", "uri": "s3://bucket/data.csv", "sha256": DIGEST, "size": 3}, 201)
    elsewhere = call("GET", f"{rule}/<path:path>", f"{base}/artifacts/ext/data.csv", status=404)
    assert elsewhere["uri"] == "s3://bucket/data.csv"


def _exercise_ledger(call: Any) -> None:
    call("GET", "/api/v1/ledger/entries", "/api/v1/ledger/entries?limit=2")
    call("GET", "/api/v1/ledger/entries/<int:seq>", "/api/v1/ledger/entries/1")
    latest = call("GET", "/api/v1/ledger/checkpoints/latest", "/api/v1/ledger/checkpoints/latest")
    call("GET", "/api/v1/ledger/checkpoints/<int:tree_size>",
         f"/api/v1/ledger/checkpoints/{latest['tree_size']}")
    call("GET", "/api/v1/ledger/consistency", "/api/v1/ledger/consistency?from=1")


def _exercise_access(call: Any, experiment_id: str) -> None:
    call("POST", "/api/v1/grants", "/api/v1/grants",
         {"token_name": "admin", "experiment_id": experiment_id})
    call("GET", "/api/v1/grants", "/api/v1/grants")
    call("DELETE", "/api/v1/grants/<token_name>/<experiment_id>",
         f"/api/v1/grants/admin/{experiment_id}")
    public_key = base64.b64encode(bytes(range(32))).decode()
    call("POST", "/api/v1/client-keys", "/api/v1/client-keys", {"public_key": public_key})
    call("GET", "/api/v1/client-keys", "/api/v1/client-keys")


def test_problem_responses_match_the_document(client: Any, auth: dict[str, str],
                                              spec: dict[str, Any]) -> None:
    bad = check(spec, "GET", "/api/v1/ledger/entries",
                client.get("/api/v1/ledger/entries?limit=0", headers=auth))
    assert bad["status"] == 400 and bad["title"] == "Bad Request" and "limit" in bad["errors"]
    check(spec, "GET", "/api/v1/experiments", client.get("/api/v1/experiments"))
    missing = client.get("/api/v1/experiments/nope", headers=auth)
    assert check(spec, "GET", "/api/v1/experiments/<experiment_id>", missing)["status"] == 404
    _send(client, "POST", "/api/v1/experiments", auth, {"name": "dup"})
    taken = _send(client, "POST", "/api/v1/experiments", auth, {"name": "dup"})
    assert check(spec, "POST", "/api/v1/experiments", taken)["status"] == 409
    plain = client.post("/api/v1/experiments", headers=auth, data="x", content_type="text/plain")
    assert check(spec, "POST", "/api/v1/experiments", plain)["status"] == 415


def test_mlflow_errors_match_the_document(client: Any, auth: dict[str, str],
                                         spec: dict[str, Any]) -> None:
    """The MLflow routes answer MLflow's {error_code, message} as application/json, and the
    document says so (it said problem+json, which they never send)."""
    assert spec["components"]["schemas"]["MlflowError"]["required"] == ["error_code", "message"]
    missing = client.get("/api/2.0/mlflow/runs/get?run_id=nope", headers=auth)
    assert check(spec, "GET", "/api/2.0/mlflow/runs/get", missing)["error_code"] == \
        "RESOURCE_DOES_NOT_EXIST"
    untyped = client.post("/api/2.0/mlflow/runs/create", headers=auth, data="{}")
    assert check(spec, "POST", "/api/2.0/mlflow/runs/create", untyped)["error_code"] == \
        "INVALID_PARAMETER_VALUE"
    anonymous = client.get("/version")
    assert check(spec, "GET", "/version", anonymous)["error_code"] == "UNAUTHENTICATED"
    assert anonymous.headers["WWW-Authenticate"]
    # A path under the MLflow prefixes that no rule takes (a newline in a path segment).
    rule = "/api/2.0/mlflow/logged-models/<model_id>/tags/<path:key>"
    unrouted = client.delete("/api/2.0/mlflow/logged-models/m/tags/a%0Ab", headers=auth)
    assert check(spec, "DELETE", rule, unrouted)["error_code"] == "ENDPOINT_NOT_FOUND"
    listed = operations(spec)[("get", "/api/2.0/mlflow-artifacts/artifacts")]
    assert [p["name"] for p in listed["parameters"] if p["in"] == "query"] == ["path"]


def test_a_long_query_string_is_documented_as_the_servers_414(spec: dict[str, Any]) -> None:
    """A filter may be 100,000 characters; a request line that long is refused by the HTTP
    server before the app sees it (tests/api/test_fuzz_regressions.py shows the 414)."""
    search = operations(spec)[("get", "/api/v1/runs")]["responses"]
    assert search["414"] == {"$ref": "#/components/responses/UriTooLong"}
    assert "414" not in operations(spec)[("get", "/api/v1/runs/{run_id}")]["responses"]


def test_operational_responses_match_the_document(config: Any, client: Any, services: Any,
                                                  auth: dict[str, str], spec: dict[str, Any],
                                                  bypass: Any) -> None:
    import dataclasses

    from app import create_app

    ops = operations(spec)
    scrape = ops[("get", "/metrics")]
    assert {"200", "401", "403", "429"} <= set(scrape["responses"]) and "security" not in scrape
    assert "text/plain" in scrape["responses"]["200"]["content"]
    assert check(spec, "GET", "/metrics", client.get("/metrics", headers=auth))
    for (method, path), op in ops.items():
        assert ("429" in op["responses"]) == ((method, path) not in PUBLIC), (method, path)
    limited = spec["components"]["responses"]["Problem429"]
    assert limited["headers"]["Retry-After"]["schema"] == {"type": "integer"}
    assert "request_id" in spec["components"]["schemas"]["Problem"]["properties"]
    assert "X-Request-ID" in spec["info"]["description"]

    services.selfcheck.run_once()
    ready = check(spec, "GET", "/readyz", client.get("/readyz"))
    assert ready["verification"]["ok"] is True
    with bypass as conn:
        conn.execute("UPDATE ledger_entries SET canonical = "
                     "set_byte(canonical, 9, get_byte(canonical, 9) # 1) WHERE seq = 1")
    services.selfcheck.run_once()
    damaged = client.get("/readyz")
    assert damaged.status_code == 503
    assert check(spec, "GET", "/readyz", damaged)["verification"]["damage"]["seq"] == 1

    throttled_app = create_app(dataclasses.replace(config, rate_limit="1/hour"))
    try:
        throttled = throttled_app.test_client()
        assert throttled.get("/api/v1/experiments", headers=auth).status_code == 200
        again = throttled.get("/api/v1/experiments", headers=auth)
        assert check(spec, "GET", "/api/v1/experiments", again)["status"] == 429
        assert int(again.headers["Retry-After"]) <= 3600
    finally:
        throttled_app.extensions["mlaudit"].close()


def test_a_run_made_through_the_mlflow_routes_matches_the_document(
        client: Any, auth: dict[str, str], spec: dict[str, Any]) -> None:
    """Its source holds the MLflow client's mlflow.source.* tags (name, type, git.commit)."""
    tags = [{"key": f"mlflow.source.{k}", "value": v} for k, v in
            (("name", "train.py"), ("type", "LOCAL"), ("git.commit", "abcdef1"))]
    made = _send(client, "POST", "/api/2.0/mlflow/runs/create", auth,
                 {"experiment_id": "0", "tags": tags})
    assert made.status_code == 200, made.get_data(as_text=True)
    run_id = made.json["run"]["info"]["run_id"]
    shown = check(spec, "GET", "/api/v1/runs/<run_id>",
                  client.get(f"/api/v1/runs/{run_id}", headers=auth))
    assert shown["source"] == {"name": "train.py", "type": "LOCAL", "git.commit": "abcdef1"}
    _send(client, "POST", "/api/2.0/mlflow/runs/update", auth,
          {"run_id": run_id, "status": "FINISHED"})
    check(spec, "GET", "/api/v1/runs/<run_id>/manifest",
          client.get(f"/api/v1/runs/{run_id}/manifest", headers=auth))
