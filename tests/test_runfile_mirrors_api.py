"""The run file's schemas (app/client/runfile.py, checked before `mlaudit record` sends
anything) declare exactly what the server's /api/v1 body schemas declare: the same fields,
types, defaults and validators, and they load the same documents to the same values."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from marshmallow import Schema, ValidationError, fields

from app.api.v1 import tracking_schemas as ts
from app.client import runfile

PAIRS = [(runfile.Metric, ts.MetricSchema), (runfile.Source, ts.SourceSchema),
         (runfile.End, ts.RunEnd), (runfile.Dataset, ts.DatasetSchema),
         (runfile.Environment, ts.EnvironmentBody), (runfile.Run, ts.RunCreate)]
RUN_ONLY = {"experiment_id", "tags"}  # the client adds the experiment; tags go by batch


def _base(field: fields.Field[Any]) -> str:
    """The marshmallow field class a project field extends (Key -> String)."""
    return next(c.__name__ for c in type(field).__mro__ if c.__module__ == "marshmallow.fields")


def describe(field: fields.Field[Any]) -> Any:
    shape: dict[str, Any] = {
        "type": _base(field), "required": field.required, "allow_none": field.allow_none,
        "default": repr(field.load_default), "strict": getattr(field, "strict", None),
        "validators": [getattr(v, "__name__", None) or repr(v) for v in field.validators]}
    if isinstance(field, fields.Nested):
        nested = field.nested
        assert isinstance(nested, type) and issubclass(nested, Schema)
        shape["nested"] = declared(nested)
    if isinstance(field, fields.Dict):
        shape["keys"] = None if field.key_field is None else describe(field.key_field)
        shape["values"] = None if field.value_field is None else describe(field.value_field)
    if isinstance(field, fields.List):
        shape["inner"] = describe(field.inner)
    return shape


def declared(schema: type[Schema]) -> dict[str, Any]:
    return {name: describe(field) for name, field in schema._declared_fields.items()}


@pytest.mark.parametrize(("client", "server"), PAIRS, ids=lambda s: s.__name__)
def test_the_run_file_declares_what_the_server_does(client: type[Schema],
                                                    server: type[Schema]) -> None:
    mine, theirs = declared(client), declared(server)
    if client is runfile.Run:
        assert set(theirs) - set(mine) == RUN_ONLY
        theirs = {k: v for k, v in theirs.items() if k not in RUN_ONLY}
    assert mine == theirs


def test_a_difference_is_seen() -> None:
    class Wider(runfile.Source):
        repository = fields.String()

    assert declared(Wider) != declared(ts.SourceSchema)


DOCUMENTS: list[tuple[type[Schema], type[Schema], Any]] = [
    *((runfile.Metric, ts.MetricSchema, doc) for doc in [
        {"key": "auc", "value": Decimal("0.91"), "step": 3},
        {"key": "auc", "value": "NaN", "timestamp": 0, "group": {"sex": "F"}, "n": 41},
        {"key": "a/../b", "value": 1}, {"key": "k", "value": "abc"}, {"key": "k", "value": True},
        {"key": "k", "value": 1, "step": 2**63}, {"key": "k", "value": 1, "n": -1},
        {"key": "k", "value": 1, "group": {"bad attr": "x"}}, {"key": "k", "value": 1, "x": 1},
        {"key": "k", "value": 1.5}, {"key": "k" * 251, "value": 1}]),
    *((runfile.Dataset, ts.DatasetSchema, doc) for doc in [
        {"name": "d", "digest": "ab" * 32, "context": "training", "schema": {"a": [1, "x"]}},
        {"name": "d", "digest": "AB" * 32, "context": "training"},
        {"name": "d", "digest": "ab" * 32, "context": "train"},
        {"name": "d", "digest": "ab" * 32, "context": "test", "schema": {"a": Decimal("0.5")}},
        {"name": "d", "digest": "ab" * 32, "context": "test", "group_counts": {"sex": {"F": 3}}}]),
    *((runfile.Environment, ts.EnvironmentBody, doc) for doc in [
        {"python_version": "3.12", "os": "Linux", "architecture": "x86_64",
         "packages": [{"name": "numpy", "version": "2.0"}],
         "container_image_digest": "sha256:" + "0" * 64},
        {"python_version": "", "os": "Linux", "architecture": "x"},
        {"python_version": "3", "os": "L", "architecture": "x", "hardware": {"k": "v" * 1001}}]),
    *((runfile.End, ts.RunEnd, doc) for doc in [
        {"status": "FINISHED"}, {"status": "RUNNING"}, {"status": "KILLED", "end_time": -1}]),
]


def outcome(schema: type[Schema], document: Any) -> Any:
    try:
        return schema().load(document)
    except ValidationError as exc:
        return exc.messages


@pytest.mark.parametrize(("client", "server", "document"), DOCUMENTS)
def test_both_load_a_document_alike(client: type[Schema], server: type[Schema],
                                    document: Any) -> None:
    assert outcome(client, document) == outcome(server, document)
