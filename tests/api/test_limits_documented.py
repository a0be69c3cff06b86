"""The limits the OpenAPI document states are app/tracking/limits.py's, and a tag value is held
to its entity's limit (MLflow's) through /api/v1 and the MLflow routes alike."""

from __future__ import annotations

from typing import Any

import pytest

from app.tracking import limits


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = spec["components"]["schemas"][name]
    for key in ("allOf", "anyOf", "oneOf"):
        if key in schema and len(schema[key]) == 1:
            return resolve(spec, schema[key][0])
    return schema


def body(spec: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    content = spec["paths"][path][method]["requestBody"]["content"]["application/json"]
    return resolve(spec, content["schema"])


@pytest.fixture
def spec(client: Any, auth: dict[str, str]) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json", headers=auth)
    assert response.status_code == 200, response.get_data(as_text=True)
    document: dict[str, Any] = response.json
    return document


def test_the_document_states_the_limits(spec: dict[str, Any]) -> None:
    params = body(spec, "post", "/api/v1/runs/{run_id}/params")["properties"]["params"]
    assert params["maxProperties"] == limits.MAX_BATCH_PARAMS
    assert resolve(spec, params["additionalProperties"])["maxLength"] == limits.MAX_PARAM_VALUE
    tag = body(spec, "put", "/api/v1/runs/{run_id}/tags/{key}")["properties"]["value"]
    assert tag["maxLength"] == limits.MAX_TAG_VALUE
    metrics = body(spec, "post", "/api/v1/runs/{run_id}/metrics")["properties"]["metrics"]
    assert metrics["maxItems"] == limits.MAX_BATCH_METRICS
    experiment = body(spec, "post", "/api/v1/experiments")["properties"]
    assert experiment["name"]["maxLength"] == limits.MAX_EXPERIMENT_NAME
    assert (resolve(spec, experiment["tags"]["additionalProperties"])["maxLength"]
            == limits.MAX_EXPERIMENT_TAG_VALUE)
    model = body(spec, "post", "/api/v1/models")["properties"]
    assert (resolve(spec, model["tags"]["additionalProperties"])["maxLength"]
            == limits.MAX_REGISTRY_TAG_VALUE)


@pytest.mark.parametrize(("path", "payload", "limit"), [
    ("/api/v1/experiments", lambda v: {"name": "e", "tags": {"t": v}},
     limits.MAX_EXPERIMENT_TAG_VALUE),
    ("/api/v1/models", lambda v: {"name": "m", "tags": {"t": v}}, limits.MAX_REGISTRY_TAG_VALUE),
])
def test_a_tag_value_is_held_to_its_entitys_limit(client: Any, auth: dict[str, str], path: str,
                                                  payload: Any, limit: int) -> None:
    over = client.post(path, json=payload("x" * (limit + 1)), headers=auth)
    assert over.status_code == 400, over.json
    at = client.post(path, json=payload("x" * limit), headers=auth)
    assert at.status_code == 201, at.json


def test_mlflow_registry_and_v1_take_the_same_model_tag(client: Any, auth: dict[str, str]) -> None:
    value = "x" * limits.MAX_REGISTRY_TAG_VALUE
    created = client.post("/api/2.0/mlflow/registered-models/create", headers=auth,
                          json={"name": "m2", "tags": [{"key": "t", "value": value}]})
    assert created.status_code == 200, created.json
    over = client.post("/api/2.0/mlflow/registered-models/set-tag", headers=auth,
                       json={"name": "m2", "key": "t", "value": value + "x"})
    assert over.status_code == 400 and over.json["error_code"] == "INVALID_PARAMETER_VALUE"
