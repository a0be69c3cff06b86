"""Output schemas of /api/v1 tracking: experiments, runs, metrics, tags and manifests."""

from __future__ import annotations

from marshmallow import EXCLUDE, fields, validate

from app.api.http.docs import Out, described, integer, many, ok, string_map, text, timestamp
from app.api.http.receipts import ReceiptSchema
from app.api.v1 import tracking_schemas as ts
from app.tracking.limits import DATASET_CONTEXTS


class ExperimentSchema(Out):
    id = text()
    name = text()
    description = text()
    tags = string_map()
    lifecycle = text(validate=validate.OneOf(["active", "archived"]))
    created_by = text()
    created_at = timestamp()
    created_seq = integer()
    archived_seq = integer(allow_none=True)


class ExperimentCreatedSchema(Out):
    id = text()
    experiment = fields.Nested(ExperimentSchema, required=True)
    receipt = fields.Nested(ReceiptSchema, required=True)


class ExperimentPageSchema(Out):
    experiments = many(ExperimentSchema)
    next = integer("pass as ?after= for the next page; null on the last", allow_none=True)


class LoggedMetricSchema(Out):
    key = text()
    value = text("the decimal text logged ('NaN', 'Infinity' and '-Infinity' too)")
    step = integer()
    timestamp = integer("milliseconds since the Unix epoch")
    seq = integer("the ledger entry that logged it")
    group = fields.Dict(keys=fields.String(), values=fields.String(),
                        metadata={"description": "present for grouped values only"})
    n = fields.Integer(metadata={"description": "the group's sample size, when logged"})


class RunInputSchema(Out):
    name = text()
    digest = text("SHA-256, 64 hex digits")
    context = text(validate=validate.OneOf(DATASET_CONTEXTS))
    source_uri = text(allow_none=True)
    schema = fields.Raw(required=True, allow_none=True)
    row_count = integer(allow_none=True)
    group_counts = fields.Dict(required=True, allow_none=True)
    seq = integer()


class RunSourceSchema(ts.SourceSchema):
    """Where a run's code came from: the members POST /api/v1/runs takes, or, for a run made
    through the MLflow routes, its mlflow.source.* tags."""

    class Meta:
        unknown = EXCLUDE

    name = fields.String(metadata=described("mlflow.source.name (MLflow routes)"))
    type = fields.String(metadata=described("mlflow.source.type (MLflow routes)"))
    mlflow_git_commit = fields.String(data_key="git.commit", metadata=described(
        "mlflow.source.git.commit (MLflow routes)"))


class RunSchema(Out):
    id = text()
    experiment_id = text()
    name = text()
    status = text(validate=validate.OneOf(["RUNNING", "FINISHED", "FAILED", "KILLED"]))
    source = fields.Nested(RunSourceSchema, required=True)
    parent_run_id = text(allow_none=True)
    start_time = integer("milliseconds since the Unix epoch")
    end_time = integer(allow_none=True)
    created_by = text()
    created_seq = integer()
    ended_seq = integer(allow_none=True)
    manifest_sha256 = text("set when the run ends", allow_none=True)
    lifecycle = text("deleted after MLflow's delete_run (no writes) until restore_run",
                     validate=validate.OneOf(["active", "deleted"]))
    params = string_map()
    tags = string_map()
    metrics = many(LoggedMetricSchema)
    inputs = many(RunInputSchema)
    environment = fields.Nested(ts.EnvironmentBody, required=True, allow_none=True)


class RunCreatedSchema(Out):
    id = text()
    run = fields.Nested(RunSchema, required=True)
    receipt = fields.Nested(ReceiptSchema, required=True)
    receipts = many(ReceiptSchema)


class RunPageSchema(Out):
    runs = many(RunSchema)
    next_page_token = text("pass as ?page_token= for the next page", allow_none=True)


class TagChangeSchema(Out):
    value = text(allow_none=True)
    deleted = fields.Boolean(required=True)
    seq = integer()


class TagHistorySchema(Out):
    history = many(TagChangeSchema)


class MetricHistorySchema(Out):
    metrics = many(LoggedMetricSchema)
    next = text("'seq:position': pass as ?after= for the next page", allow_none=True)


class GroupFigureSchema(Out):
    group = text()
    value = text()
    n = integer(allow_none=True)
    ratio = text(allow_none=True)
    difference = text(allow_none=True)
    is_reference = fields.Boolean(required=True)
    flags = many(fields.String())


class GroupSummarySchema(Out):
    run_id = text()
    key = text()
    attribute = text()
    reference = text()
    reference_rule = text()
    band = fields.List(fields.String(), required=True, validate=validate.Length(equal=2))
    min_n = integer()
    groups = many(GroupFigureSchema)
    min_max_ratio = text(allow_none=True)
    max_difference = text(allow_none=True)
    flagged = many(fields.String())
    notes = many(fields.String())
    seqs = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


class ManifestDatasetSchema(Out):
    name = text()
    digest = text()
    context = text()
    source_uri = text(allow_none=True)


class ManifestArtifactSchema(Out):
    path = text()
    sha256 = text()
    size = text("decimal text")
    uri = text(allow_none=True)


class ManifestSchema(Out):
    manifest_version = integer()
    run = text()
    experiment = text()
    parent_run = text(allow_none=True)
    source = fields.Nested(RunSourceSchema, required=True)
    environment = fields.Nested(ts.EnvironmentBody, required=True, allow_none=True)
    datasets = many(ManifestDatasetSchema)
    params = string_map()
    seeds = string_map()
    artifacts = many(ManifestArtifactSchema)


MANIFEST = ok(ManifestSchema, "the RFC 8785 bytes of the reproducibility manifest",
               headers={"X-Manifest-SHA256": {"description": "hex SHA-256 of the body",
                                              "schema": {"type": "string"}}})

