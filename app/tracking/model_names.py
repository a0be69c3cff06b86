"""Logged model names: MLflow's rule for a given name, and the name given to an unnamed model."""

from __future__ import annotations

MAX_NAME = 500
BAD_CHARS = ("/", ":", ".", "%", '"', "'")
GENERATED_PREFIX = "model-"


def problem(name: str) -> str | None:
    """Why MLflow's server refuses this name (its wording), or None if the name is fine."""
    if any(c in name for c in BAD_CHARS):
        return (f"Invalid model name ({name!r}) provided. Model name must be a non-empty "
                f"string and cannot contain the following characters: {BAD_CHARS}")
    if len(name) > MAX_NAME:
        return f"name must be at most {MAX_NAME} characters"
    return None


def generated(model_id: str) -> str:
    """The name of a model created without one: `model-` and the first 8 hex digits of its id
    (`m-<32 hex>`), as a run without a name is `run-<8 hex>`. It is written into the model's
    `logged_model.created` entry, so it is a recorded fact, never derived again."""
    return f"{GENERATED_PREFIX}{model_id.removeprefix('m-')[:8]}"
