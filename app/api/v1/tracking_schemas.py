"""Marshmallow schemas and limits for the tracking routes (every body and query validated)."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from app.api.v1.schemas import MAX_PAGE, MAX_SEQ, _Strict
from app.services import tracking
from app.tracking.decimals import fraction_problem, normalize_metric_value
from app.tracking.limits import (
    ATTRIBUTE_PATTERN,
    DATASET_CONTEXTS,
    END_STATUSES,
    GIT_COMMIT,
    IMAGE_DIGEST,
    MAX_ARCHITECTURE,
    MAX_BATCH_DATASETS,
    MAX_BATCH_METRICS,
    MAX_BATCH_PARAMS,
    MAX_BATCH_TAGS,
    MAX_DATASET_NAME,
    MAX_DATASET_SOURCE,
    MAX_DESCRIPTION,
    MAX_EXPERIMENT_NAME,
    MAX_EXPERIMENT_TAG_VALUE,
    MAX_FILTER_LENGTH,
    MAX_GROUP_VALUE,
    MAX_HARDWARE_ITEMS,
    MAX_HARDWARE_KEY,
    MAX_HARDWARE_VALUE,
    MAX_HISTORY_PAGE,
    MAX_ID,
    MAX_INT64,
    MAX_N,
    MAX_OS,
    MAX_PACKAGE_TEXT,
    MAX_PACKAGES,
    MAX_PAGE_TOKEN,
    MAX_PARAM_VALUE,
    MAX_PIPELINE_ID,
    MAX_PYTHON_VERSION,
    MAX_RUN_NAME,
    MAX_SEARCH_RESULTS,
    MAX_SOURCE_TEXT,
    MAX_TAG_VALUE,
    SHA256_HEX,
    group_problem,
    key_ok,
    key_problem,
)
from app.tracking.metrics import MIN_STEP, native_metric

SOURCE_FIELDS = ("git_commit", "repository", "pipeline_id", "pipeline_url", "entry_point")


def check_key(key: str) -> None:
    """MLflow's key rule (app/tracking/limits.py) as a marshmallow error."""
    problem = key_problem(key)
    if problem is not None:
        raise ValidationError(problem)


class Key(fields.String):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text: str = super()._deserialize(value, attr, data, **kwargs)
        check_key(text)
        return text


class MetricValue(fields.Field):  # type: ignore[type-arg]
    """A JSON number or decimal string (NaN and ±Infinity allowed), kept as a decimal string."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        try:
            return normalize_metric_value(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


def _mapping(value_length: int, max_items: int) -> fields.Dict:
    return fields.Dict(keys=Key(), values=fields.String(validate=validate.Length(max=value_length)),
                       validate=validate.Length(max=max_items), load_default=dict)


def _check_group(group: dict[str, str]) -> None:
    problem = group_problem(group)
    if problem is not None:
        raise ValidationError(problem)


class MetricSchema(_Strict):
    key = Key(required=True)
    value = MetricValue(required=True)
    step = fields.Integer(load_default=0, strict=True,
                          validate=validate.Range(MIN_STEP, MAX_INT64))
    timestamp = fields.Integer(load_default=None, strict=True,
                               validate=validate.Range(0, MAX_INT64))
    group = fields.Dict(keys=fields.String(), load_default=None, allow_none=True,
                        values=fields.String(validate=validate.Length(max=MAX_GROUP_VALUE)),
                        validate=_check_group)
    n = fields.Integer(load_default=None, allow_none=True, strict=True,
                       validate=validate.Range(0, MAX_N))


class ExperimentCreate(_Strict):
    name = fields.String(required=True, validate=validate.Length(1, MAX_EXPERIMENT_NAME))
    description = fields.String(load_default="", validate=validate.Length(max=MAX_DESCRIPTION))
    tags = _mapping(MAX_EXPERIMENT_TAG_VALUE, MAX_BATCH_TAGS)


class ExperimentListQuery(_Strict):
    after = fields.Integer(load_default=-1, validate=validate.Range(-1, MAX_SEQ))
    limit = fields.Integer(load_default=100, validate=validate.Range(1, MAX_PAGE))
    include_archived = fields.Boolean(load_default=False)


class SourceSchema(_Strict):
    git_commit = fields.String(validate=validate.Regexp(rf"^{GIT_COMMIT.pattern}$"))
    repository = fields.String(validate=validate.Length(max=MAX_SOURCE_TEXT))
    pipeline_id = fields.String(validate=validate.Length(max=MAX_PIPELINE_ID))
    pipeline_url = fields.Url(require_tld=False, validate=validate.Length(max=MAX_SOURCE_TEXT))
    entry_point = fields.String(validate=validate.Length(max=MAX_SOURCE_TEXT))


class RunCreate(_Strict):
    experiment_id = fields.String(required=True, validate=validate.Length(1, MAX_ID))
    name = fields.String(load_default=None, validate=validate.Length(1, MAX_RUN_NAME))
    source = fields.Nested(SourceSchema, load_default=dict)
    parent_run_id = fields.String(load_default=None, validate=validate.Length(1, MAX_ID))
    start_time = fields.Integer(load_default=None, strict=True,
                                validate=validate.Range(0, MAX_INT64))
    tags = _mapping(MAX_TAG_VALUE, MAX_BATCH_TAGS)


class RunEnd(_Strict):
    status = fields.String(required=True, validate=validate.OneOf(END_STATUSES))
    end_time = fields.Integer(load_default=None, strict=True,
                              validate=validate.Range(0, MAX_INT64))


class ParamsBody(_Strict):
    params = fields.Dict(keys=Key(), required=True,
                         values=fields.String(validate=validate.Length(max=MAX_PARAM_VALUE)),
                         validate=validate.Length(1, MAX_BATCH_PARAMS))


class MetricsBody(_Strict):
    metrics = fields.List(fields.Nested(MetricSchema), required=True,
                          validate=validate.Length(1, MAX_BATCH_METRICS))


class TagBody(_Strict):
    value = fields.String(required=True, validate=validate.Length(max=MAX_TAG_VALUE))


class BatchBody(_Strict):
    params = fields.List(fields.Dict(keys=fields.String(), values=fields.Raw()),
                         load_default=list, validate=validate.Length(max=MAX_BATCH_PARAMS))
    metrics = fields.List(fields.Nested(MetricSchema), load_default=list,
                          validate=validate.Length(max=MAX_BATCH_METRICS))
    tags = _mapping(MAX_TAG_VALUE, MAX_BATCH_TAGS)

    @validates_schema
    def _params(self, data: dict[str, Any], **kwargs: Any) -> None:
        seen: dict[str, str] = {}
        for item in data["params"]:
            if set(item) != {"key", "value"} or not all(isinstance(v, str) for v in item.values()):
                raise ValidationError("each param is {\"key\": string, \"value\": string}",
                                      "params")
            check_key(item["key"])
            if len(item["value"]) > MAX_PARAM_VALUE:
                raise ValidationError(f"param {item['key']!r} is longer than {MAX_PARAM_VALUE}",
                                      "params")
            if item["key"] in seen:
                raise ValidationError(f"duplicate param key {item['key']!r}", "params")
            seen[item["key"]] = item["value"]


class HistoryQuery(_Strict):
    after = fields.String(load_default="-1:0", validate=validate.Regexp(r"^-?\d{1,19}:\d{1,9}$"))
    limit = fields.Integer(load_default=1000, validate=validate.Range(1, MAX_HISTORY_PAGE))


class GroupQuery(_Strict):
    attribute = fields.String(required=True, validate=validate.Length(1, 600))
    reference = fields.String(load_default=None, validate=validate.Length(1, MAX_GROUP_VALUE))
    band_low = fields.Decimal(load_default=None, places=None, allow_nan=False)
    band_high = fields.Decimal(load_default=None, places=None, allow_nan=False)
    min_n = fields.Integer(load_default=None, validate=validate.Range(0, MAX_N))


SHA256 = validate.Regexp(rf"^{SHA256_HEX.pattern}$",
                         error="must be 64 lowercase hex digits (SHA-256)")


class NoFloatJson(fields.Raw):
    """Any JSON value without non-integer numbers (they could not be hashed exactly)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        problem = fraction_problem(value)
        if problem is not None:
            raise ValidationError(problem)
        return value


class DatasetSchema(_Strict):
    name = fields.String(required=True, validate=validate.Length(1, MAX_DATASET_NAME))
    digest = fields.String(required=True, validate=SHA256)
    context = fields.String(required=True, validate=validate.OneOf(DATASET_CONTEXTS))
    source_uri = fields.String(load_default=None, validate=validate.Length(1, MAX_DATASET_SOURCE))
    schema = NoFloatJson(load_default=None)
    row_count = fields.Integer(load_default=None, strict=True, validate=validate.Range(0, MAX_N))
    group_counts = fields.Dict(
        keys=fields.String(validate=validate.Regexp(ATTRIBUTE_PATTERN.pattern)),
        values=fields.Dict(keys=fields.String(validate=validate.Length(1, MAX_GROUP_VALUE)),
                           values=fields.Integer(strict=True, validate=validate.Range(0, MAX_N))),
        load_default=None)


class InputsBody(_Strict):
    datasets = fields.List(fields.Nested(DatasetSchema), required=True,
                           validate=validate.Length(1, MAX_BATCH_DATASETS))


class PackageSchema(_Strict):
    name = fields.String(required=True, validate=validate.Length(1, MAX_PACKAGE_TEXT))
    version = fields.String(required=True, validate=validate.Length(0, MAX_PACKAGE_TEXT))


class EnvironmentBody(_Strict):
    python_version = fields.String(required=True,
                                   validate=validate.Length(1, MAX_PYTHON_VERSION))
    os = fields.String(required=True, validate=validate.Length(1, MAX_OS))
    architecture = fields.String(required=True, validate=validate.Length(1, MAX_ARCHITECTURE))
    hardware = fields.Dict(keys=fields.String(validate=validate.Length(1, MAX_HARDWARE_KEY)),
                           values=fields.String(validate=validate.Length(max=MAX_HARDWARE_VALUE)),
                           load_default=dict, validate=validate.Length(max=MAX_HARDWARE_ITEMS))
    container_image_digest = fields.String(
        load_default=None, validate=validate.Regexp(rf"^{IMAGE_DIGEST.pattern}$"))
    packages = fields.List(fields.Nested(PackageSchema), load_default=list,
                           validate=validate.Length(max=MAX_PACKAGES))
    lockfile_sha256 = fields.String(load_default=None, validate=SHA256)


class RunSearchQuery(_Strict):
    experiment_id = fields.List(fields.String(validate=validate.Length(1, MAX_ID)),
                                load_default=None)
    filter = fields.String(load_default=None, validate=validate.Length(max=MAX_FILTER_LENGTH))
    order_by = fields.List(fields.String(validate=validate.Length(1, 1000)), load_default=list)
    max_results = fields.Integer(load_default=1000, validate=validate.Range(1, MAX_SEARCH_RESULTS))
    page_token = fields.String(load_default=None, validate=validate.Length(1, MAX_PAGE_TOKEN))


# ---- the metric hot path, without marshmallow ------------------------------------------------
# Validating 1000 metrics through nested schemas costs tens of microseconds each. These loops
# accept only input the schemas above accept, and load it to the same values; anything else
# (including every invalid input) returns None, and the caller runs the schema, so error
# responses stay exactly the schema's. tests/api/test_fast_bodies.py holds them to that.

_BATCH_FIELDS = frozenset(("params", "metrics", "tags"))
_PARAM_FIELDS = frozenset(("key", "value"))


def fast_metric_list(items: object, now: int, min_items: int) -> list[tracking.Metric] | None:
    """MetricSchema items as tracking.Metric (a missing timestamp is `now`), or None."""
    if type(items) is not list or not min_items <= len(items) <= MAX_BATCH_METRICS:
        return None
    parse, metric, out = native_metric, tracking.Metric, []
    for item in items:
        fields_ = parse(item, now)
        if fields_ is None:
            return None
        out.append(metric(*fields_))
    return out


def fast_metrics_body(data: dict[str, Any], now: int) -> list[tracking.Metric] | None:
    """A MetricsBody's metrics, or None (then load MetricsBody)."""
    if data.keys() != {"metrics"}:
        return None
    return fast_metric_list(data["metrics"], now, 1)


def fast_batch_body(data: dict[str, Any], now: int
                    ) -> tuple[dict[str, str], list[tracking.Metric], dict[str, str]] | None:
    """A BatchBody as (params, metrics, tags), or None (then load BatchBody)."""
    if not data.keys() <= _BATCH_FIELDS:
        return None
    params = _fast_params(data.get("params", []))
    metrics = fast_metric_list(data.get("metrics", []), now, 0)
    tags = data.get("tags", {})
    if params is None or metrics is None or not _mapping_ok(tags, MAX_TAG_VALUE,
                                                             MAX_BATCH_TAGS):
        return None
    return params, metrics, tags


def _fast_params(items: object) -> dict[str, str] | None:
    if type(items) is not list or len(items) > MAX_BATCH_PARAMS:
        return None
    params: dict[str, str] = {}
    for item in items:
        if type(item) is not dict or item.keys() != _PARAM_FIELDS:
            return None
        key, value = item["key"], item["value"]
        if (not key_ok(key) or type(value) is not str or len(value) > MAX_PARAM_VALUE
                or key in params):
            return None
        params[key] = value
    return params


def _mapping_ok(mapping: object, value_length: int, max_items: int) -> bool:
    """What _mapping(value_length, max_items) accepts."""
    return type(mapping) is dict and len(mapping) <= max_items and all(
        key_ok(k) and type(v) is str and len(v) <= value_length for k, v in mapping.items())
