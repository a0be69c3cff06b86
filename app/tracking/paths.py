"""Artifact paths through /api/v1 and `mlaudit record`: relative, '/'-separated, unambiguous."""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import unquote

MAX_PATH: Final = 1000
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\\]")


def hides_traversal(path: str) -> bool:
    """True when percent-decoding the path (repeatedly, as MLflow's validate_path_is_safe
    does for %252e%252e) gives a '.' or '..' segment, a leading '/', a backslash or a control
    character: such names are refused even though this store never decodes them, because
    whoever later copies the files out by name might."""
    decoded = path
    for _ in range(10):
        step = unquote(decoded)
        if step == decoded:
            break
        decoded = step
    else:
        return True
    return decoded != path and (
        decoded.startswith("/") or bool(_FORBIDDEN.search(decoded))
        or any(segment in (".", "..") for segment in decoded.split("/")))


def artifact_path_problem(path: str) -> str | None:
    """Why `path` is not an artifact path, or None: 1-1000 characters, no empty, '.' or '..'
    segment, no backslash or control character, none of them percent-encoded."""
    if not path or len(path) > MAX_PATH:
        return f"an artifact path has 1 to {MAX_PATH} characters"
    if _FORBIDDEN.search(path):
        return "an artifact path has no backslash or control character"
    if any(segment in ("", ".", "..") for segment in path.split("/")):
        return "an artifact path is relative, without empty, '.' or '..' segments"
    if hides_traversal(path):
        return "an artifact path may not percent-encode '.', '..', '/' or '\\'"
    return None
