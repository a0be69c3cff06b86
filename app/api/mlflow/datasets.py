"""MLflow dataset inputs (runs/log-inputs) mapped onto our run inputs, and back for runs/get.

MLflow identifies a dataset by (name, digest), where the digest is a short string the client
computed (8 hex characters for pandas and numpy datasets). Our `run_inputs.digest` is a SHA-256
hex, so an MLflow input is stored with the derived digest
`sha256(RFC 8785 {"digest": <MLflow digest>, "name": <name>, "scheme": "mlflow-dataset/v1"})`:
stable, and distinct per MLflow dataset, but not a hash of the data. What the client sent (its
digest, source_type, source, schema and profile strings, and input tags) is kept verbatim in
the `inputs.logged` entry (`mlflow` member of each dataset) and beside the row. The context
comes from the `mlflow.data.context` tag, mapped onto ours (train/training -> training,
eval/evaluation -> evaluation, validation/val -> validation, test/testing -> test, anything
else or none -> other); the original value stays in the kept tags.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from app.api.mlflow import compat as mf
from app.ledger.entry import canonicalize
from app.storage.mlflow_views import InputView
from app.tracking.limits import (
    MAX_BATCH_DATASETS,
    MAX_DATASET_NAME,
    MAX_DATASET_SOURCE,
    MAX_INPUT_TAG_KEY,
    MAX_INPUT_TAG_VALUE,
)

CONTEXT_TAG = "mlflow.data.context"
_LIMITS = {"name": MAX_DATASET_NAME, "digest": 36, "source_type": 100, "source": MAX_DATASET_SOURCE,
           "schema": 1_048_575, "profile": 16_777_215}
_CONTEXTS = {"training": "training", "train": "training", "validation": "validation",
             "val": "validation", "valid": "validation", "test": "test", "testing": "test",
             "evaluation": "evaluation", "eval": "evaluation"}


def derived_digest(name: str, digest: str) -> str:
    statement = {"digest": digest, "name": name, "scheme": "mlflow-dataset/v1"}
    return hashlib.sha256(canonicalize(statement)).hexdigest()


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _no_floats(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_no_floats(v) for v in value.values())
    if isinstance(value, list):
        return all(_no_floats(v) for v in value)
    return not isinstance(value, float)


def _fields(dataset: Any) -> dict[str, str]:
    if not isinstance(dataset, dict):
        raise mf.invalid("each dataset input needs a 'dataset' object")
    found: dict[str, str] = {}
    for field, limit in _LIMITS.items():
        value = mf.text(dataset, field, required=field not in ("schema", "profile"))
        if value is not None:
            if len(value) > limit:
                raise mf.invalid(f"dataset {field} must be at most {limit} characters")
            found[field] = value
    return found


def _tags(item: dict[str, Any]) -> dict[str, str]:
    tags = dict(mf.key_values(item, "tags"))
    for key, value in tags.items():
        if len(key) > MAX_INPUT_TAG_KEY or len(value) > MAX_INPUT_TAG_VALUE:
            raise mf.invalid(f"an input tag key has at most {MAX_INPUT_TAG_KEY} characters, "
                             f"its value {MAX_INPUT_TAG_VALUE}")
    return tags


def native_input(item: Any) -> dict[str, Any]:
    """One MLflow DatasetInput as a native input dict with its `mlflow` member."""
    if not isinstance(item, dict):
        raise mf.invalid("'datasets' must be a list of {tags, dataset} objects")
    fields, tags = _fields(item.get("dataset")), _tags(item)
    source, profile = _json(fields["source"]), _json(fields.get("profile", ""))
    schema = _json(fields.get("schema", ""))
    rows = profile.get("num_rows") if isinstance(profile, dict) else None
    uri = (source.get("uri") or source.get("url")) if isinstance(source, dict) else None
    return {"name": fields["name"], "digest": derived_digest(fields["name"], fields["digest"]),
            "context": _CONTEXTS.get(tags.get(CONTEXT_TAG, "").lower(), "other"),
            "source_uri": uri if isinstance(uri, str) and uri else None,
            "schema": schema if isinstance(schema, dict) and _no_floats(schema) else None,
            "row_count": rows if isinstance(rows, int) and not isinstance(rows, bool)
            and 0 <= rows < 2**53 else None,
            "mlflow": {**{k: v for k, v in fields.items() if k != "name"}, "tags": tags}}


def native_inputs(data: dict[str, Any]) -> list[dict[str, Any]]:
    items = data.get("datasets") or []
    if not isinstance(items, list) or len(items) > MAX_BATCH_DATASETS:
        raise mf.invalid(f"'datasets' must be a list of at most {MAX_BATCH_DATASETS} inputs")
    return [native_input(item) for item in items]


def dataset_input_json(row: InputView) -> dict[str, Any]:
    """An input as MLflow's DatasetInput; natively logged ones get a faithful rendering."""
    meta = row.mlflow
    if meta is not None:
        dataset = {"name": row.name, "digest": meta["digest"],
                   "source_type": meta["source_type"], "source": meta["source"]}
        dataset.update({k: meta[k] for k in ("schema", "profile") if k in meta})
        tags = meta.get("tags", {})
    else:
        dataset = {"name": row.name, "digest": row.digest, "source_type": "external",
                   "source": json.dumps({"uri": row.source_uri} if row.source_uri else {})}
        if row.schema is not None:
            dataset["schema"] = json.dumps(row.schema, sort_keys=True)
        if row.row_count is not None:
            dataset["profile"] = json.dumps({"num_rows": row.row_count})
        tags = {CONTEXT_TAG: row.context}
    return {"tags": [{"key": k, "value": v} for k, v in sorted(tags.items())],
            "dataset": dataset}
