"""Regressions from tests/test_schemathesis.py: each defect it found, as one focused case."""

from __future__ import annotations

from typing import Any

import pytest
import requests

V1 = "/api/v1"
MF = "/api/2.0/mlflow"


def ledger_size(services: Any) -> int:
    with services.pool.connection() as conn:
        return int(conn.execute("SELECT count(*) FROM ledger_entries").fetchone()[0])


@pytest.fixture
def run_id(client: Any, auth: dict[str, str]) -> str:
    exp = client.post(f"{V1}/experiments", json={"name": "e"}, headers=auth).json["id"]
    run: str = client.post(f"{V1}/runs", json={"experiment_id": exp}, headers=auth).json["id"]
    return run


@pytest.mark.parametrize("path", [
    f"{MF}/logged-models/m-1/tags/a%0Ab",  # a newline: Werkzeug's path converter stops at it
    f"{MF}/no-such-endpoint",
    "/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/a%0Ab",
])
def test_an_unrouted_mlflow_path_answers_in_mlflows_format(
        client: Any, auth: dict[str, str], path: str) -> None:
    """Was: the app's 404 problem+json, which the document (and the MLflow client) does not
    expect under the MLflow prefixes."""
    response = client.delete(path, headers=auth)
    assert response.status_code == 404 and response.mimetype == "application/json"
    assert response.json == {"error_code": "ENDPOINT_NOT_FOUND", "message": response.json[
        "message"]}


def test_an_unrouted_v1_path_is_still_a_problem(client: Any, auth: dict[str, str]) -> None:
    response = client.get(f"{V1}/runs/r/tags/a%0Ab/history", headers=auth)
    assert response.status_code == 404 and response.mimetype == "application/problem+json"


@pytest.mark.parametrize(("method", "path", "media", "allowed"), [
    ("DELETE", f"{V1}/experiments", "application/problem+json", {"GET", "POST"}),
    ("PATCH", f"{V1}/ledger/entries/1", "application/problem+json", {"GET"}),
    ("PUT", f"{MF}/runs/get", "application/json", {"GET"}),
    ("TRACE", "/api/2.0/mlflow-artifacts/artifacts", "application/json", {"GET"}),
])
def test_405_names_the_allowed_methods(client: Any, auth: dict[str, str], method: str,
                                       path: str, media: str, allowed: set[str]) -> None:
    """Was: 405 without the Allow header RFC 9110 requires (the error body replaced
    Werkzeug's response and its headers)."""
    response = client.open(path, method=method, headers=auth)
    assert response.status_code == 405 and response.mimetype == media
    assert allowed <= {m.strip() for m in response.headers["Allow"].split(",")}


def test_a_request_line_over_the_servers_limit_is_its_414(server: str,
                                                          auth: dict[str, str]) -> None:
    """A filter may be up to 100,000 characters, but not in a 64 KiB request line: the
    server answers 414 itself (documented as UriTooLong)."""
    response = requests.get(f"{server}{V1}/runs", params={"filter": "x" * 70_000},
                            headers=auth, timeout=30)
    assert response.status_code == 414
    assert response.headers["Content-Type"].startswith("text/html")


def test_a_non_ascii_client_key_is_a_400_that_writes_nothing(
        client: Any, auth: dict[str, str], services: Any) -> None:
    """Was: 500 (base64.b64decode raises ValueError, not binascii.Error, for non-ASCII text)."""
    before = ledger_size(services)
    response = client.post(f"{V1}/client-keys", json={"public_key": "ключ"}, headers=auth)
    assert response.status_code == 400, response.data
    assert response.mimetype == "application/problem+json"
    assert ledger_size(services) == before


@pytest.mark.parametrize("write", ["metric", "start_time", "end_time"])
def test_no_accepted_timestamp_breaks_the_run_report(client: Any, auth: dict[str, str],
                                                     run_id: str, write: str) -> None:
    """Was: a metric timestamp (or run start/end time) of 2^63 - 1 ms is accepted, and from
    then on every report covering the run is a 500 (year 292278994 is beyond datetime and
    RFC 3339). Whatever the API accepts, the report must render (or the write must be refused
    and write nothing)."""
    huge = 2**63 - 1
    if write == "metric":
        done = client.post(f"{V1}/runs/{run_id}/metrics", headers=auth, json={
            "metrics": [{"key": "m", "value": 1, "timestamp": huge}]})
    elif write == "start_time":
        exp = client.get(f"{V1}/runs/{run_id}", headers=auth).json["experiment_id"]
        done = client.post(f"{V1}/runs", headers=auth,
                           json={"experiment_id": exp, "start_time": huge})
        run_id = done.json.get("id", run_id)
    else:
        done = client.post(f"{V1}/runs/{run_id}/end", headers=auth,
                           json={"status": "FINISHED", "end_time": huge})
    assert done.status_code in (200, 201, 400), done.data
    report = client.get(f"{V1}/reports/runs/{run_id}.pdf", headers=auth)
    assert report.status_code == 200, report.data[:300]
    assert report.mimetype == "application/pdf"
