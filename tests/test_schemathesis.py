"""Schemathesis against the live server: every operation of /api/v1/openapi.json, fuzzed.

The document is loaded from the running app with an admin token, and each operation gets
Hypothesis-generated requests, valid ones (positive) and invalid ones (negative), sent over
HTTP with that token. Every response must be no 5xx and must match the document: a documented
status, a documented content type, a body valid against the documented schema and the
documented headers. A little real data is seeded first, and hooks swap generated ids for real
ones some of the time, so that requests reach past "not found" into the code behind.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]
# Examples per operation and mode; an operation with nothing to vary (no parameters, no body)
# has a single request, which Hypothesis sends once.
EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 15}
MIN_TOTAL = 2000
DIGEST = "ab" * 32
# Writes go first, so that reads (reports above all) meet what the fuzzed writes stored; the
# writes that end what the others use (a run, an experiment, a token, a promotion) go last.
LAST = ("POST /api/v1/runs/{run_id}/end", "POST /api/v1/experiments/{experiment_id}/archive",
        "POST /api/v1/tokens/{name}/revoke", "POST /api/v1/promotions/{promotion_id}/withdraw",
        "POST /api/2.0/mlflow/runs/delete", "POST /api/2.0/mlflow/experiments/delete")


def seed(base: str, auth: dict[str, str]) -> dict[str, list[Any]]:
    """An experiment, runs with params, metrics, tags, a dataset and artifacts, a model with a
    version and a pending promotion, a logged model: real values per parameter name."""
    session = requests.Session()
    session.headers.update(auth)

    def call(path: str, body: Any, method: str = "POST") -> Any:
        response = session.request(method, f"{base}{path}", json=body, timeout=30)
        assert response.status_code in (200, 201), (path, response.text)
        return response.json()

    exp = call("/api/v1/experiments", {"name": "fuzz", "tags": {"team": "risk"}})["id"]
    runs = [call("/api/v1/runs", {"experiment_id": exp, "name": f"r{i}",
                                  "source": {"git_commit": "abcdef1"}})["id"] for i in range(2)]
    run = runs[0]
    call(f"/api/v1/runs/{run}/params", {"params": {"lr": "0.1", "seed": "1"}})
    call(f"/api/v1/runs/{run}/metrics", {"metrics": [
        {"key": "acc", "value": 0.9, "step": 1},
        {"key": "sel", "value": "0.5", "group": {"sex": "F"}, "n": 100},
        {"key": "sel", "value": 0.6, "group": {"sex": "M"}, "n": 120}]})
    call(f"/api/v1/runs/{run}/tags/team", {"value": "risk"}, "PUT")
    call(f"/api/v1/runs/{run}/inputs", {"datasets": [{
        "name": "loans", "digest": DIGEST, "context": "training", "row_count": 10,
        "group_counts": {"sex": {"F": 4, "M": 6}}}]})
    upload = session.put(f"{base}/api/v1/runs/{run}/artifacts/model/w.bin", data=b"weights",
                         headers={"Content-Type": "application/octet-stream"}, timeout=30)
    assert upload.status_code == 201, upload.text
    call(f"/api/v1/runs/{run}/artifacts/external", {
        "path": "ext/data.csv", "uri": "s3://bucket/data.csv", "sha256": DIGEST, "size": 3})
    call(f"/api/v1/runs/{runs[1]}/end", {"status": "FINISHED"})
    call("/api/v1/models", {"name": "fuzz-model"})
    call("/api/v1/models/fuzz-model/versions", {"run_id": run, "artifact_path": "model"})
    promotion = call("/api/v1/models/fuzz-model/versions/1/promotions", {
        "target": "Production", "justification": "fuzz"})["id"]
    logged = call("/api/2.0/mlflow/logged-models", {
        "experiment_id": exp, "name": "fuzz-logged", "source_run_id": run})
    return {"experiment_id": [exp], "run_id": runs, "parent_run_id": runs,
            "name": ["fuzz-model", "fuzz", "fuzz-victim"], "model": ["fuzz-model"],
            "version": [1], "promotion_id": [promotion], "token_name": ["fuzz-victim"],
            "key": ["acc", "sel", "team", "lr"], "attribute": ["sex"],
            "path": ["model/w.bin", "ext/data.csv", "model", f"{exp}/{run}/artifacts/model/w.bin",
                     f"{exp}/{run}/artifacts"],
            "seq": [0, 1, 5], "tree_size": [1, 2], "from": [1], "to": [2],
            "model_id": [logged["model"]["info"]["model_id"]]}


def sometimes_real(real: dict[str, list[Any]]) -> Any:
    """A flatmap hook: the generated value, with members named like a real value (at any
    depth: a run id in the path, a metric key inside a body's list) sometimes replaced."""

    def swapped(value: Any) -> Any:
        if isinstance(value, list):
            return st.tuples(*map(swapped, value)).map(list)
        if not isinstance(value, dict):
            return st.just(value)
        return st.fixed_dictionaries({name: st.one_of(swapped(item), st.sampled_from(
            [[v] for v in real[name]] if isinstance(item, list) else real[name]))
            if name in real else swapped(item) for name, item in value.items()})

    return lambda context, value: swapped(value)


def test_every_operation_holds_to_the_document(server: str, auth: dict[str, str],
                                               run_cli: Any) -> None:
    done = run_cli("token", "create", "--name", "fuzz-victim", "--role", "writer")
    assert done.returncode == 0, done.stderr  # the token the fuzzed grants and revokes name
    real = seed(server, auth)
    schema = schemathesis.openapi.from_url(f"{server}/api/v1/openapi.json", headers=auth,
                                           timeout=30)
    for container in ("path_parameters", "query", "body"):
        schema.hook(f"flatmap_{container}")(sometimes_real(real))
    operations = sorted((result.ok() for result in schema.get_all_operations()),
                        key=lambda op: (op.label in LAST, op.method.upper() == "GET"))
    session = requests.Session()
    counts: Counter[str] = Counter()
    failures: dict[tuple[str, str], str] = {}

    def send(operation: Any, case: Any, mode: GenerationMode) -> None:
        counts[operation.label] += 1
        response = case.call(base_url=server, session=session, headers=dict(auth), timeout=60)
        try:
            case.validate_response(response, checks=CHECKS, headers=dict(auth),
                                   transport_kwargs={"base_url": server, "session": session})
        except FailureGroup as group:
            for failure in group.exceptions:
                failures.setdefault((operation.label, failure.title), (
                    f"{operation.label} ({mode.value}): {failure.title}\n{failure.message}\n"
                    f"{response.status_code} {response.text[:300]!r}\n"
                    f"{case.as_curl_command()[:1000]}\nbody: {str(case.body)[:300]}"))

    started = time.monotonic()
    for operation in operations:
        for mode, examples in EXAMPLES.items():
            @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                      phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def fuzz(case: Any) -> None:
                send(operation, case, mode)  # noqa: B023 (called before the loop moves on)

            try:
                fuzz()
            except Unsatisfiable:  # nothing in the request can be made invalid
                assert mode is GenerationMode.NEGATIVE, operation.label
    elapsed = time.monotonic() - started
    total = sum(counts.values())
    print(f"schemathesis {schemathesis.__version__}: {total} cases over {len(counts)} "
          f"operations in {elapsed:.0f} s")
    assert not failures, "\n\n".join(failures.values())
    assert [op.label for op in operations if not counts[op.label]] == []
    assert total >= MIN_TOTAL, counts
