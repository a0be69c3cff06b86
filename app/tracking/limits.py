"""Tracking limits and grammars, one home each: lengths, counts, key and group rules, contexts.

Both APIs, the client (`mlaudit record`) and the domain rules import these names; nothing else
spells the numbers. Where MLflow documents a limit (mlflow/utils/validation.py, 3.17) ours is
MLflow's, so a value the stock client may send is one we take; the others are ours, on purpose.
"""

from __future__ import annotations

import re
from typing import Final

# -- keys, names and values (MLflow's limits where it has one) ---------------------------------
MAX_KEY: Final = 250  # MLflow MAX_ENTITY_KEY_LENGTH: param, metric and tag keys
MAX_PARAM_VALUE: Final = 6000  # MLflow MAX_PARAM_VAL_LENGTH
MAX_TAG_VALUE: Final = 8000  # MLflow MAX_TAG_VAL_LENGTH: run tags
MAX_EXPERIMENT_TAG_VALUE: Final = 20_000  # MLflow MAX_EXPERIMENT_TAG_VAL_LENGTH
MAX_REGISTRY_TAG_VALUE: Final = 100_000  # MLflow MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH
MAX_EXPERIMENT_NAME: Final = 500  # MLflow MAX_EXPERIMENT_NAME_LENGTH
MAX_RUN_NAME: Final = 250  # ours (MLflow has none; a run name is also the mlflow.runName tag)
MAX_DESCRIPTION: Final = 20_000  # ours

# -- batches and pages -------------------------------------------------------------------------
MAX_BATCH_METRICS: Final = 1000  # MLflow MAX_METRICS_PER_BATCH
MAX_BATCH_PARAMS: Final = 100  # MLflow MAX_PARAMS_TAGS_PER_BATCH
MAX_BATCH_TAGS: Final = 100  # MLflow MAX_PARAMS_TAGS_PER_BATCH
MAX_BATCH_DATASETS: Final = 100  # ours (MLflow's MAX_DATASETS_PER_BATCH is 1000)
MAX_SEARCH_RESULTS: Final = 50_000  # MLflow SEARCH_MAX_RESULTS_THRESHOLD (runs, experiments)
MAX_HISTORY_PAGE: Final = 25_000  # MLflow GET_METRIC_HISTORY_MAX_RESULTS
MAX_FILTER_LENGTH: Final = 100_000  # ours: a search filter's characters
MAX_PAGE_TOKEN: Final = 200  # ours: the page tokens we hand out are far shorter

# -- experiments and runs ----------------------------------------------------------------------
MAX_ID: Final = 64  # an experiment or run id as a request names it (ours are far shorter)
GIT_COMMIT: Final = re.compile(r"[0-9a-fA-F]{7,64}")  # an abbreviated or full SHA-1/SHA-256
MAX_SOURCE_TEXT: Final = 2000  # a run source's repository, pipeline URL and entry point
MAX_PIPELINE_ID: Final = 500

# -- an execution environment (PUT /api/v1/runs/{id}/environment, `mlaudit record`) ------------
MAX_PYTHON_VERSION: Final = 100
MAX_OS: Final = 200
MAX_ARCHITECTURE: Final = 100
MAX_HARDWARE_ITEMS: Final = 50
MAX_HARDWARE_KEY: Final = 100
MAX_HARDWARE_VALUE: Final = 1000
MAX_PACKAGES: Final = 5000
MAX_PACKAGE_TEXT: Final = 200  # a package's name, and its version

# -- run states --------------------------------------------------------------------------------
RUN_STATUSES: Final = ("RUNNING", "FINISHED", "FAILED", "KILLED")  # MLflow's RunStatus
END_STATUSES: Final = RUN_STATUSES[1:]

# -- numbers -----------------------------------------------------------------------------------
MAX_INT64: Final = 2**63 - 1  # steps (signed), timestamps and sizes (non-negative)
MAX_N: Final = 2**53 - 1  # a group's sample size: exact in every JSON reader's double

# -- groups of a metric (per-group fairness figures) ---------------------------------------------
MAX_GROUP_ATTRIBUTES: Final = 8
MAX_GROUP_VALUE: Final = 256  # through /api/v1; the key convention's values are shorter
ATTRIBUTE_PATTERN: Final = re.compile(r"[A-Za-z0-9_.\-]{1,64}")

# -- datasets ----------------------------------------------------------------------------------
DATASET_CONTEXTS: Final = ("training", "validation", "test", "evaluation", "other")
MAX_DATASET_NAME: Final = 500  # MLflow MAX_DATASET_NAME_SIZE
MAX_DATASET_SOURCE: Final = 65_535  # MLflow MAX_DATASET_SOURCE_SIZE
MAX_INPUT_TAG_KEY: Final = 255  # MLflow MAX_INPUT_TAG_KEY_SIZE
MAX_INPUT_TAG_VALUE: Final = 500  # MLflow MAX_INPUT_TAG_VALUE_SIZE

# -- digests -----------------------------------------------------------------------------------
SHA256_HEX: Final = re.compile(r"[0-9a-f]{64}")
IMAGE_DIGEST: Final = re.compile(r"sha256:[0-9a-f]{64}")

# MLflow's key characters (word characters, / . - space), plus ':' as MLflow's SQL store allows.
KEY_PATTERN: Final = re.compile(rf"[/\w.\- :]{{1,{MAX_KEY}}}")
KEY_RULE: Final = f"1-{MAX_KEY} letters, digits or _-./: space"


def path_stable(key: str) -> bool:
    """MLflow's rule that a key, read as a path, names itself (no '..', '//', leading '/')."""
    return not (key.startswith("/") or key == "." or ".." in key.split("/") or "//" in key)


def key_ok(key: object) -> bool:
    """A param, metric or tag key by MLflow's rule: characters, length, path-stable."""
    return type(key) is str and KEY_PATTERN.fullmatch(key) is not None and path_stable(key)


def key_problem(key: str) -> str | None:
    """Why `key` is not a valid key, or None: the one wording both APIs and the client use."""
    if not KEY_PATTERN.fullmatch(key):
        return f"key {key!r} must be {KEY_RULE}"
    if not path_stable(key):
        return f"key {key!r} must be a relative path without '..' or '//'"
    return None


def group_ok(group: object) -> bool:
    """A metric's group: 1 to MAX_GROUP_ATTRIBUTES attributes, each to a short string value."""
    if type(group) is not dict or not 1 <= len(group) <= MAX_GROUP_ATTRIBUTES:
        return False
    return all(type(a) is str and ATTRIBUTE_PATTERN.fullmatch(a) and type(v) is str
               and len(v) <= MAX_GROUP_VALUE for a, v in group.items())


def group_problem(group: dict[str, str]) -> str | None:
    """Why a group's attributes are not acceptable (values are checked apart), or None."""
    if not 1 <= len(group) <= MAX_GROUP_ATTRIBUTES:
        return f"a group has 1 to {MAX_GROUP_ATTRIBUTES} attributes"
    for attribute in group:
        if not ATTRIBUTE_PATTERN.fullmatch(attribute):
            return f"group attribute {attribute!r} must match {ATTRIBUTE_PATTERN.pattern}"
    return None
