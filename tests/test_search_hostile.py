"""Hostile search input: every search endpoint answers a bad filter or page token with a 4xx
in its adapter's error format, never a 5xx (MLflow clients retry a 5xx).

First the two known 500s, on each endpoint: a LIKE/ILIKE pattern ending in a backslash
(PostgreSQL: "LIKE pattern must not end with escape character"), and a page token that
decodes to JSON `true` (or holds `true` where the offset goes). Then a Hypothesis property per
endpoint over random text, grammar-shaped fragments with odd escapes, quotes, backslashes,
unicode and huge numbers, and page tokens holding JSON of every type. One app and one seeded
database serve the whole module (the searches only read), so the file stays fast.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib import parse

import psycopg
import pytest
from databases import TEMPLATE, as_app, with_dbname
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from app import create_app
from app.config import load_config

V1 = "/api/v1"
MF = "/api/2.0/mlflow"


@dataclass(frozen=True)
class Endpoint:
    """A search route: how to send it a filter and a page token, and its error format."""

    name: str
    method: str
    path: str
    filter_field: str | None  # None: the route takes no filter
    mlflow: bool
    fields: Callable[[], list[str]]  # filter subjects that reach a LIKE, for the grammar


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


ENDPOINTS = (
    Endpoint("v1 runs", "GET", f"{V1}/runs", "filter", False,
             lambda: ["params.lr", "tags.team", "attributes.run_name", "run_name", "status",
                      "datasets.name", "tags.`a b`", "metrics.acc"]),
    Endpoint("mlflow runs", "POST", f"{MF}/runs/search", "filter", True,
             lambda: ["params.lr", "tags.team", "attributes.run_name", "datasets.digest",
                      "metrics.acc"]),
    Endpoint("experiments", "POST", f"{MF}/experiments/search", "filter", True,
             lambda: ["name", "attribute.name", "tags.team", "tag.`a b`",
                      "creation_time"]),
    Endpoint("registered models", "GET", f"{MF}/registered-models/search", "filter", True,
             lambda: ["name", "tags.team", "tag.`x`"]),
    Endpoint("model versions", "GET", f"{MF}/model-versions/search", "filter", True,
             lambda: ["name", "run_id", "source_path", "tags.team", "params.lr",
                      "version_number"]),
    Endpoint("logged models", "POST", f"{MF}/logged-models/search", "filter", True,
             lambda: ["name", "tags.team", "params.lr", "source_run_id", "metrics.acc"]),
)
IDS = [e.name for e in ENDPOINTS]


@pytest.fixture(scope="module")
def seeded(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One app over one database with something every search can match against."""
    name = f"mlaudit_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(TEMPLATE)))
    home = tmp_path_factory.mktemp("home")
    config = load_config(environ={}, overrides={
        "database_url": as_app(with_dbname(pg_server, name)), "home": home,
        "checkpoint_interval": 3600.0, "checkpoint_every": 1_000_000})
    app = create_app(config)
    try:
        client = app.test_client()
        auth = {"Authorization": f"Bearer {config.admin_token_path.read_text().strip()}"}
        run = _seed(client, auth)
        yield client, auth, run
    finally:
        app.extensions["mlaudit"].close()
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def _seed(client: Any, auth: dict[str, str]) -> str:
    def call(method: str, path: str, body: Any) -> Any:
        response = client.open(path, method=method, json=body, headers=auth)
        assert response.status_code in (200, 201), (path, response.json)
        return response.json

    exp = call("POST", f"{V1}/experiments", {"name": "hostile", "tags": {"team": "risk"}})["id"]
    run = call("POST", f"{V1}/runs", {"experiment_id": exp, "name": "r1"})["id"]
    call("POST", f"{V1}/runs/{run}/params", {"params": {"lr": "0.1"}})
    call("POST", f"{V1}/runs/{run}/metrics", {"metrics": [{"key": "acc", "value": 0.9}]})
    call("PUT", f"{V1}/runs/{run}/tags/team", {"value": "risk"})
    call("POST", f"{V1}/runs/{run}/inputs", {"datasets": [
        {"name": "loans", "digest": "ab" * 32, "context": "training"}]})
    uploaded = client.put(f"{V1}/runs/{run}/artifacts/model/model.pkl", data=b"weights",
                          headers={**auth, "Content-Type": "application/octet-stream"})
    assert uploaded.status_code == 201, uploaded.json
    call("POST", f"{MF}/registered-models/create", {"name": "m1", "tags": [
        {"key": "team", "value": "risk"}]})
    call("POST", f"{MF}/model-versions/create", {
        "name": "m1", "source": f"runs:/{run}/model", "run_id": run,
        "tags": [{"key": "team", "value": "risk"}]})
    logged = call("POST", f"{MF}/logged-models", {"experiment_id": exp, "name": "lm",
                                                 "source_run_id": run})
    model_id = logged["model"]["info"]["model_id"]
    call("POST", f"{MF}/logged-models/{model_id}/params", {"params": [
        {"key": "lr", "value": "0.1"}]})
    call("PATCH", f"{MF}/logged-models/{model_id}/tags", {"tags": [
        {"key": "team", "value": "risk"}]})
    return str(run)


def search(client: Any, auth: dict[str, str], endpoint: Endpoint, filter_text: str | None,
           page_token: str | None = None) -> Any:
    params: dict[str, Any] = {}
    if filter_text is not None and endpoint.filter_field:
        params[endpoint.filter_field] = filter_text
    if page_token is not None:
        params["page_token"] = page_token
    if endpoint.name == "logged models":
        params["experiment_ids"] = ["1"]
    if endpoint.method == "GET":  # a lone surrogate goes as the bytes UTF-8 would make of it
        query = parse.urlencode(params, doseq=True, errors="surrogatepass")
        return client.get(endpoint.path, query_string=query, headers=auth)
    return client.post(endpoint.path, json=params, headers=auth)


def assert_refused(endpoint: Endpoint, response: Any) -> None:
    """A 4xx (or a 200: the input was valid after all) in the adapter's own error format."""
    assert response.status_code < 500, (endpoint.name, response.status_code, response.data)
    if response.status_code < 400:
        return
    if endpoint.mlflow:
        assert response.mimetype == "application/json", response.data
        assert set(response.json) == {"error_code", "message"}, response.json
        assert response.json["error_code"] == "INVALID_PARAMETER_VALUE", response.json
    else:
        assert response.mimetype == "application/problem+json", response.data
        assert response.json["status"] == response.status_code


LIKE_FILTERS = {
    "v1 runs": "params.lr LIKE 'a\\'", "mlflow runs": "tags.team ILIKE 'x\\'",
    "experiments": "name LIKE 'h\\'", "registered models": "name ILIKE 'm\\'",
    "model versions": "name LIKE 'm\\'", "logged models": "name LIKE 'l\\'",
}


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_a_like_pattern_ending_in_a_backslash_is_a_400(seeded: Any, endpoint: Endpoint) -> None:
    """Was: 500 (PostgreSQL refuses a LIKE pattern that ends with its escape character)."""
    client, auth, _ = seeded
    response = search(client, auth, endpoint, LIKE_FILTERS[endpoint.name])
    assert response.status_code == 400, response.data
    assert_refused(endpoint, response)


@pytest.mark.parametrize("token", [_b64(b"true"), _b64(b'{"offset": true}'),
                                   _b64(b'{"offset": false}'), _b64(b"[" * 100_000)],
                         ids=["true", "offset-true", "offset-false", "deep"])
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_a_page_token_holding_json_true_is_a_400(seeded: Any, endpoint: Endpoint,
                                                 token: str) -> None:
    """Was: 500 (`true` is an int to Python, so the offset went to SQL as a boolean)."""
    client, auth, _ = seeded
    response = search(client, auth, endpoint, None, token)
    assert response.status_code == 400, response.data
    assert_refused(endpoint, response)


# -- properties ---------------------------------------------------------------------------

OPS = ["=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE", "like", "NOT LIKE", "IN", "NOT IN",
       "IS NULL", "IS NOT NULL", "==", "<>", ""]
ODD = ["\\", "\\\\", "\\'", "''", "'", '"', "`", "%", "_", "\\%", "\\_", "\x00", "\ud800",
       "é", "𝟘", "\u202e", "\n", "(", ")", ",", " AND ", " OR ", "NULL", "1e400", "-0",
       "9" * 30, "-" + "9" * 25, "0x10", "NaN", "Infinity", ".", "..", "` `"]
FRAGMENT = st.one_of(st.sampled_from(ODD), st.text(max_size=6))
WORD = st.lists(FRAGMENT, max_size=4).map("".join)


def _quoted(text: str) -> st.SearchStrategy[str]:
    return st.sampled_from(["'", "'", '"', "`", ""]).map(lambda q: f"{q}{text}{q}")


def _value() -> st.SearchStrategy[str]:
    number = st.one_of(st.integers(min_value=-(10**30), max_value=10**30).map(str),
                       st.floats(allow_nan=True, allow_infinity=True).map(repr),
                       st.sampled_from(["1e400", "-1e-400", "9" * 400, "1.", ".5e"]))
    listed = st.lists(WORD.flatmap(_quoted), min_size=0, max_size=3).map(
        lambda items: "(" + ", ".join(items) + ")")
    return st.one_of(PATTERN, WORD.flatmap(_quoted), number, listed)


# A pattern ending in backslashes (odd or even), the edge PostgreSQL is strict about; it only
# notices once a row matches up to there, so most start with a wildcard.
PATTERN = st.tuples(
    st.sampled_from(["%", "%", "_%", "\\%%", ""]),
    st.text(st.characters(exclude_characters="'\"\\\x00", exclude_categories=["Cs"]),
            max_size=3) | st.just(""),
    st.integers(0, 4)).map(lambda p: "'" + p[0] + p[1] + "\\" * p[2] + "'")


def _clause(fields: list[str]) -> st.SearchStrategy[str]:
    """Often a real field with LIKE and a pattern that reaches the database; else anything."""
    like = st.tuples(st.sampled_from(fields), st.sampled_from(["LIKE", "ILIKE", "ilike"]),
                     PATTERN).map(" ".join)
    field = st.one_of(st.sampled_from(fields), FRAGMENT)
    anything = st.tuples(field, st.sampled_from(OPS), _value()).map(" ".join)
    return st.one_of(like, like, anything)


def filters(endpoint: Endpoint) -> st.SearchStrategy[str]:
    """Random text, and grammar-shaped filters with odd escapes, quotes, backslashes, unicode
    and huge numbers, clauses joined by AND (sometimes OR, or nothing)."""
    clause = _clause(endpoint.fields())
    shaped = st.lists(clause, min_size=2, max_size=3).flatmap(
        lambda clauses: st.sampled_from([" AND ", " and ", " AND ", " OR ", " "]).map(
            lambda join: join.join(clauses)))
    return st.one_of(clause, clause, shaped, shaped.map(lambda f: f + "\\"),
                     st.text(max_size=40))


JSON = st.recursive(st.none() | st.booleans() | st.integers(min_value=-(10**20),
                                                            max_value=10**20)
                    | st.floats(allow_nan=False) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6)


def _tokens() -> st.SearchStrategy[Any]:
    """Page tokens: base64 of JSON of every type (and of an `offset` member of every type),
    of raw bytes, random text, and non-strings where MLflow's JSON body allows them."""
    offsets = st.builds(lambda v: {"offset": v}, st.one_of(st.booleans(), st.integers(), JSON))
    encoded = st.one_of(JSON, offsets, offsets).map(lambda v: _b64(json.dumps(v).encode()))
    nested = st.integers(1, 50_000).map(lambda n: _b64(b"[" * n))
    return st.one_of(encoded, encoded, nested, st.binary(max_size=40).map(_b64),
                     st.text(max_size=60), JSON,
                     st.sampled_from(["=", "e30", "dHJ1ZQ", "MTox", "-1:-1"]))


HOSTILE = settings(max_examples=40, deadline=2000, database=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture,
                                          HealthCheck.too_slow])


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
@HOSTILE
@given(data=st.data())
def test_hostile_filters_are_refused_with_a_4xx(seeded: Any, endpoint: Endpoint,
                                                 data: st.DataObject) -> None:
    client, auth, _ = seeded
    text = data.draw(filters(endpoint), label="filter")
    assert_refused(endpoint, search(client, auth, endpoint, text))


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
@HOSTILE
@given(token=_tokens())
def test_hostile_page_tokens_are_refused_with_a_4xx(seeded: Any, endpoint: Endpoint,
                                                    token: Any) -> None:
    client, auth, _ = seeded
    if not endpoint.mlflow or endpoint.method == "GET":
        token = token if isinstance(token, str) else json.dumps(token)  # a query string
    assert_refused(endpoint, search(client, auth, endpoint, None, token))


@HOSTILE
@given(token=_tokens().filter(lambda t: isinstance(t, str)))
def test_hostile_metric_history_tokens_are_refused_with_a_4xx(seeded: Any, token: str) -> None:
    """MLflow's metric history pages with its own token (`<seq>:<position>`, base64url)."""
    client, auth, run = seeded
    query = parse.urlencode({"run_id": run, "metric_key": "acc", "page_token": token},
                            errors="surrogatepass")
    response = client.get(f"{MF}/metrics/get-history", query_string=query, headers=auth)
    assert_refused(Endpoint("metric history", "GET", "", None, True, list), response)


@pytest.mark.parametrize("token", ["9" * 30 + ":0", "-5:0", "1:2:3", "١:٢", " 1:1", "+1:1"])
def test_odd_metric_history_positions_are_a_400(seeded: Any, token: str) -> None:
    client, auth, run = seeded
    response = client.get(f"{MF}/metrics/get-history", headers=auth, query_string={
        "run_id": run, "metric_key": "acc", "page_token": _b64(token.encode())})
    assert response.status_code == 400, response.data
