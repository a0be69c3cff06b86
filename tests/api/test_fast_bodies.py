"""The metric hot path's hand-written validation accepts only what the marshmallow schemas
accept, loads it to the same values, and leaves every other input to the schemas."""

from __future__ import annotations

import copy
import json
import random
from decimal import Decimal
from typing import Any

import pytest
from marshmallow import ValidationError

from app.api.v1 import tracking_schemas as ts
from app.services.tracking import Metric
from app.tracking.limits import key_ok

NOW = 1_700_000_000_123


def parse(text: str) -> Any:
    """As the API parses bodies (app/api/http/jsonio.py): fractions as Decimal."""
    return json.loads(text, parse_float=Decimal)


def schema_metrics(items: list[dict[str, Any]]) -> list[Metric]:
    return [Metric(m["key"], m["value"], m["step"], NOW if m["timestamp"] is None
                   else m["timestamp"], m["group"], m["n"]) for m in items]


def schema_metrics_body(data: Any) -> list[Metric] | None:
    try:
        return schema_metrics(ts.MetricsBody().load(data)["metrics"])
    except ValidationError:
        return None


def schema_batch_body(data: Any) -> tuple[Any, ...] | None:
    try:
        loaded = ts.BatchBody().load(data)
    except ValidationError:
        return None
    return ({p["key"]: p["value"] for p in loaded["params"]}, schema_metrics(loaded["metrics"]),
            loaded["tags"])


VALID_METRICS = [
    {"key": "loss", "value": 0.5},
    {"key": "auc", "value": 1, "step": 3, "timestamp": 17},
    {"key": "a/b.c-d e:f_g", "value": "NaN", "step": -(2**63), "timestamp": 0},
    {"key": "x", "value": "-Infinity", "step": 2**63 - 1, "timestamp": 2**63 - 1},
    {"key": "x", "value": " 1e-5 ", "timestamp": None, "group": None, "n": None},
    {"key": "tpr", "value": 0.81, "group": {"sex": "F", "age_band": "40-49"}, "n": 2**53 - 1},
    {"key": "tpr", "value": "inf", "group": {"a.b-c_9": "v" * 256}, "n": 0},
    {"key": "k" * 250, "value": -0.0},
    {"key": "k", "value": 123456789012345678901234567890},
    {"key": "k", "value": "1.50"},
]

BAD_VALUES: list[Any] = [None, True, False, "abc", "", [], {}, "1.5.5", 2**63, -(2**63) - 1,
                         -1, 2**53, 1.5, "NaN", {"": "x"}, {"Sex": 1}, {"s" * 65: "x"},
                         {f"a{i}": "x" for i in range(9)}, "k" * 251, "/abs", "a//b", "a/../b",
                         ".", "bad*key", {"sex": "v" * 257}]


def mutations(item: dict[str, Any], rng: random.Random) -> list[dict[str, Any]]:
    """The item with one field removed, added or replaced by an odd value."""
    out = []
    for field in ("key", "value", "step", "timestamp", "group", "n", "extra"):
        removed = copy.deepcopy(item)
        removed.pop(field, None)
        out.append(removed)
        for value in rng.sample(BAD_VALUES, 6):
            changed = copy.deepcopy(item)
            changed[field] = value
            out.append(changed)
    return out


def as_json(data: Any) -> Any:
    """Through JSON, as a request body would arrive (floats become Decimal)."""
    return parse(json.dumps(data, default=str))


def test_valid_metrics_take_the_fast_path_and_load_the_same() -> None:
    data = as_json({"metrics": VALID_METRICS})
    fast = ts.fast_metrics_body(data, NOW)
    assert fast is not None
    assert fast == schema_metrics_body(data)
    assert [m.value for m in fast[:5]] == ["0.5", "1", "NaN", "-Infinity", "0.00001"]
    assert fast[4].timestamp == NOW and fast[0].step == 0


def test_fast_metrics_never_accept_what_the_schema_refuses() -> None:
    rng = random.Random(7)
    cases = [{"metrics": [m]} for item in VALID_METRICS for m in mutations(item, rng)]
    cases += [{}, {"metrics": []}, {"metrics": None}, {"metrics": {}},
              {"metrics": [VALID_METRICS[0]] * 1001}, {"metrics": [1]},
              {"metrics": [VALID_METRICS[0]], "extra": 1}]
    accepted = 0
    for case in cases:
        data = as_json(case)
        fast = ts.fast_metrics_body(data, NOW)
        if fast is not None:
            accepted += 1
            assert fast == schema_metrics_body(data), case
    assert 20 < accepted < len(cases) / 2  # both ways exercised


def test_fast_batch_matches_the_schema() -> None:
    rng = random.Random(11)
    good = {"params": [{"key": "lr", "value": "0.1"}, {"key": "model", "value": "x" * 6000}],
            "metrics": VALID_METRICS[:3], "tags": {"team": "risk", "k": "v" * 8000}}
    data = as_json(good)
    fast = ts.fast_batch_body(data, NOW)
    assert fast is not None and fast == schema_batch_body(data)
    assert ts.fast_batch_body({}, NOW) == ({}, [], {}) == schema_batch_body({})
    cases: list[Any] = []
    for field in ("params", "metrics", "tags", "extra"):
        for value in BAD_VALUES + [[{"key": "lr"}], [{"key": "lr", "value": 1}],
                                   [{"key": "lr", "value": "a"}, {"key": "lr", "value": "b"}],
                                   [{"key": "lr", "value": "a", "x": 1}],
                                   [{"key": "a", "value": "v"}] * 101,
                                   {f"t{i}": "v" for i in range(101)}, {"bad*": "v"}]:
            case = copy.deepcopy(good)
            case[field] = value
            cases.append(case)
    cases += [{**good, "metrics": [m]} for m in mutations(VALID_METRICS[5], rng)]
    accepted = 0
    for case in cases:
        data = as_json(case)
        fast = ts.fast_batch_body(data, NOW)
        if fast is not None:
            accepted += 1
            assert fast == schema_batch_body(data), case
    assert 0 < accepted < len(cases) / 2


@pytest.mark.parametrize("key", ["ok", "a/b", "a:b c", "/a", "a//b", "..", "a/./b", "é", ""])
def test_key_rule_is_check_key(key: str) -> None:
    try:
        ts.check_key(key)
        schema_ok = True
    except ValidationError:
        schema_ok = False
    assert key_ok(key) is schema_ok
