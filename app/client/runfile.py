"""The run file of `mlaudit record`, checked before any request by the rules the server applies
(app/tracking/limits.py, decimals.py, metrics.py), so that a bad file sends nothing."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from app.tracking.decimals import fraction_problem, normalize_metric_value
from app.tracking.limits import (
    ATTRIBUTE_PATTERN,
    DATASET_CONTEXTS,
    END_STATUSES,
    GIT_COMMIT,
    IMAGE_DIGEST,
    MAX_ARCHITECTURE,
    MAX_DATASET_NAME,
    MAX_DATASET_SOURCE,
    MAX_GROUP_VALUE,
    MAX_HARDWARE_ITEMS,
    MAX_HARDWARE_KEY,
    MAX_HARDWARE_VALUE,
    MAX_ID,
    MAX_INT64,
    MAX_N,
    MAX_OS,
    MAX_PACKAGE_TEXT,
    MAX_PACKAGES,
    MAX_PIPELINE_ID,
    MAX_PYTHON_VERSION,
    MAX_RUN_NAME,
    MAX_SOURCE_TEXT,
    SHA256_HEX,
    group_problem,
    key_problem,
)
from app.tracking.metrics import MIN_STEP

SHA256 = validate.Regexp(rf"^{SHA256_HEX.pattern}$",
                         error="must be 64 lowercase hex digits (SHA-256)")


class _Strict(Schema):
    class Meta:
        unknown = RAISE


def check_key(key: str) -> None:
    """A param, metric or tag key, by the rule both APIs apply."""
    problem = key_problem(key)
    if problem is not None:
        raise ValidationError(problem)


class _Key(fields.String):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text: str = super()._deserialize(value, attr, data, **kwargs)
        check_key(text)
        return text


class _MetricValue(fields.Field):  # type: ignore[type-arg]
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        try:
            return normalize_metric_value(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


def _check_group(group: dict[str, str]) -> None:
    problem = group_problem(group)
    if problem is not None:
        raise ValidationError(problem)


class Metric(_Strict):
    key = _Key(required=True)
    value = _MetricValue(required=True)
    step = fields.Integer(load_default=0, strict=True, validate=validate.Range(MIN_STEP, MAX_INT64))
    timestamp = fields.Integer(load_default=None, strict=True,
                               validate=validate.Range(0, MAX_INT64))
    group = fields.Dict(keys=fields.String(), load_default=None, allow_none=True,
                        values=fields.String(validate=validate.Length(max=MAX_GROUP_VALUE)),
                        validate=_check_group)
    n = fields.Integer(load_default=None, allow_none=True, strict=True,
                       validate=validate.Range(0, MAX_N))


class Source(_Strict):
    git_commit = fields.String(validate=validate.Regexp(rf"^{GIT_COMMIT.pattern}$"))
    repository = fields.String(validate=validate.Length(max=MAX_SOURCE_TEXT))
    pipeline_id = fields.String(validate=validate.Length(max=MAX_PIPELINE_ID))
    pipeline_url = fields.Url(require_tld=False, validate=validate.Length(max=MAX_SOURCE_TEXT))
    entry_point = fields.String(validate=validate.Length(max=MAX_SOURCE_TEXT))


class Run(_Strict):
    """What the file says of the run itself (POST /api/v1/runs adds the experiment)."""

    name = fields.String(load_default=None, validate=validate.Length(1, MAX_RUN_NAME))
    source = fields.Nested(Source, load_default=dict)
    parent_run_id = fields.String(load_default=None, validate=validate.Length(1, MAX_ID))
    start_time = fields.Integer(load_default=None, strict=True,
                                validate=validate.Range(0, MAX_INT64))


class End(_Strict):
    status = fields.String(required=True, validate=validate.OneOf(END_STATUSES))
    end_time = fields.Integer(load_default=None, strict=True,
                              validate=validate.Range(0, MAX_INT64))


class _NoFloatJson(fields.Raw):
    """Any JSON value without non-integer numbers (they could not be hashed exactly)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        problem = fraction_problem(value)
        if problem is not None:
            raise ValidationError(problem)
        return value


class Dataset(_Strict):
    name = fields.String(required=True, validate=validate.Length(1, MAX_DATASET_NAME))
    digest = fields.String(required=True, validate=SHA256)
    context = fields.String(required=True, validate=validate.OneOf(DATASET_CONTEXTS))
    source_uri = fields.String(load_default=None, validate=validate.Length(1, MAX_DATASET_SOURCE))
    schema = _NoFloatJson(load_default=None)
    row_count = fields.Integer(load_default=None, strict=True, validate=validate.Range(0, MAX_N))
    group_counts = fields.Dict(
        keys=fields.String(validate=validate.Regexp(ATTRIBUTE_PATTERN.pattern)),
        values=fields.Dict(keys=fields.String(validate=validate.Length(1, MAX_GROUP_VALUE)),
                           values=fields.Integer(strict=True, validate=validate.Range(0, MAX_N))),
        load_default=None)


class _Package(_Strict):
    name = fields.String(required=True, validate=validate.Length(1, MAX_PACKAGE_TEXT))
    version = fields.String(required=True, validate=validate.Length(0, MAX_PACKAGE_TEXT))


class Environment(_Strict):
    python_version = fields.String(required=True,
                                   validate=validate.Length(1, MAX_PYTHON_VERSION))
    os = fields.String(required=True, validate=validate.Length(1, MAX_OS))
    architecture = fields.String(required=True, validate=validate.Length(1, MAX_ARCHITECTURE))
    hardware = fields.Dict(keys=fields.String(validate=validate.Length(1, MAX_HARDWARE_KEY)),
                           values=fields.String(validate=validate.Length(max=MAX_HARDWARE_VALUE)),
                           load_default=dict, validate=validate.Length(max=MAX_HARDWARE_ITEMS))
    container_image_digest = fields.String(
        load_default=None, validate=validate.Regexp(rf"^{IMAGE_DIGEST.pattern}$"))
    packages = fields.List(fields.Nested(_Package), load_default=list,
                           validate=validate.Length(max=MAX_PACKAGES))
    lockfile_sha256 = fields.String(load_default=None, validate=SHA256)
