"""Every /api/v1 JSON response is what its documented output schema serialises: loaded and
dumped again by that schema, the body comes back unchanged (no field the schema does not
name, none of another type, none missing that it requires).

The requests are the role matrix's (tests/api/test_role_matrix.py builds one for nearly every
route on a seeded world), plus those for the routes it leaves unscoped; a v1 route that no
request here reaches fails the test, so a new route joins it.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from flask import request, request_finished
from marshmallow import Schema, ValidationError

from app.api.http.docs import operation_of
from app.api.http.receipts import ReceiptSchema
from app.services import tokens
from tests.api.test_role_matrix import SCOPE, Case, Listed, World, act, get, post, send
from tests.api.test_role_matrix import world as world  # the seeded app, one per module


def documented_schema(method: str, rule: str, status: int, mimetype: str,
                      view: Any) -> type[Schema] | None:
    op = operation_of(view)
    assert op is not None, (method, rule)
    response = op.responses.get(status)
    schema = response["content"].get(mimetype, {}).get("schema") if response else None
    return schema if isinstance(schema, type) else None


def round_trip_problems(schema: type[Schema], body: Any) -> str | None:
    try:
        again = schema().dump(schema().load(body))
    except ValidationError as exc:
        return f"does not load: {exc.messages}"
    return None if again == body else f"comes back as {again}"


@pytest.fixture
def checked(world: World) -> Iterator[dict[tuple[str, str], list[str]]]:
    """(method, rule) -> what went wrong, for every JSON response with a documented schema."""
    app = world.client.application
    found: dict[tuple[str, str], list[str]] = {}

    def record(sender: Any, response: Any, **extra: Any) -> None:
        rule = request.url_rule
        if rule is None or not rule.rule.startswith(("/api/v1/", "/healthz", "/readyz")):
            return
        schema = documented_schema(request.method, rule.rule, response.status_code,
                                   response.mimetype, app.view_functions[rule.endpoint])
        if schema is None:
            return
        problem = round_trip_problems(schema, response.get_json())
        found.setdefault((request.method, rule.rule), []).extend(
            [f"{request.path} {response.status_code}: {problem}"] if problem else [])

    request_finished.connect(record, app)
    yield found
    request_finished.disconnect(record, app)


def unscoped_requests(w: World) -> list[tuple[str, str, Any]]:
    """The routes the role matrix builds no request for (they hold no experiment's data)."""
    key = base64.b64encode(bytes(range(1, 33))).decode()
    doomed, size = w.unique("doomed"), w.services.checkpointer.sign_now().tree_size
    w.services.committer.run(lambda u: tokens.create_token(u, doomed, "writer", "test"))
    return [
        get("/healthz"), get("/readyz"), get("/api/v1/ledger/keys"),
        get("/api/v1/ledger/checkpoints/latest"), get(f"/api/v1/ledger/checkpoints/{size}"),
        get("/api/v1/ledger/consistency?from=1"),
        get(f"/api/v1/runs/{w.run['A']}/artifacts/model/file.bin?meta=1"),
        get("/api/v1/ledger/entries?limit=3"), get("/api/v1/tokens"), get("/api/v1/principals"),
        post(f"/api/v1/tokens/{doomed}/revoke", {"reason": "left"}),
        post("/api/v1/grants", {"token_name": "builder", "experiment_id": w.exp["A"]}),
        get("/api/v1/grants"), ("DELETE", f"/api/v1/grants/builder/{w.exp['A']}", None),
        post("/api/v1/client-keys", {"public_key": key}), get("/api/v1/client-keys"),
        post("/api/v1/models", {"name": w.unique("schemas-model")}),
        post("/api/v1/environments", {"name": w.unique("env"), "protected": False}),
        get("/api/v1/environments"), get(f"/api/v1/reports/lookup?sha256={'0' * 64}")]


def documented_routes(app: Any) -> set[tuple[str, str]]:
    """The /api/v1 and probe routes documenting a marshmallow schema for a JSON body."""
    found = set()
    for rule in app.url_map.iter_rules():
        op = operation_of(app.view_functions[rule.endpoint])
        assert op is not None, rule.rule
        schemas = [r["content"].get("application/json", {}).get("schema")
                   for r in op.responses.values()]
        if rule.rule.startswith(("/api/v1/", "/healthz", "/readyz")) and any(
                isinstance(schema, type) for schema in schemas):
            found |= {(method, rule.rule) for method in rule.methods - {"HEAD", "OPTIONS"}}
    return found


def test_every_v1_json_response_round_trips_through_its_schema(
        world: World, checked: dict[tuple[str, str], list[str]]) -> None:
    for entry in SCOPE.values():
        for case in entry if isinstance(entry, tuple) else (entry,):
            if isinstance(case, Case):
                act(world, "admin", lambda w, c=case: c.build(w, "A"))
            elif isinstance(case, Listed):
                act(world, "admin", case.build)
    pdf = send(world, "admin", get(f"/api/v1/reports/runs/{world.run['A']}.pdf")).data
    issued = get(f"/api/v1/reports/lookup?sha256={hashlib.sha256(pdf).hexdigest()}")
    for req in [*unscoped_requests(world), issued]:
        response = send(world, "admin", req)
        assert response.status_code < 300, (req, response.get_data(as_text=True))
    assert response.json["issued"] is True
    failures = {route: problems for route, problems in checked.items() if problems}
    assert not failures, failures
    unreached = documented_routes(world.client.application) - set(checked)
    assert not unreached, f"no response checked for: {sorted(unreached)}"


def test_the_round_trip_sees_an_undocumented_a_missing_or_a_mistyped_field() -> None:
    good = {"seq": 1, "kind": "run.created", "leaf_hash": "AA==", "chain_hash": "AQ=="}
    assert round_trip_problems(ReceiptSchema, good) is None
    assert "comes back" in str(round_trip_problems(ReceiptSchema, {**good, "extra": 1}))
    assert "does not load" in str(round_trip_problems(ReceiptSchema, {**good, "seq": "x"}))
    del good["kind"]
    assert "does not load" in str(round_trip_problems(ReceiptSchema, good))
