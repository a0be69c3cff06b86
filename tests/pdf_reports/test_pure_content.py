"""The reader-facing content modules are pure: no ReportLab, no app/, transitively."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import reports

ROOT = Path(reports.__file__).parent
CONTENT = ("figures", "group_order", "policy_text", "gate_text", "appendix_figures", "outline",
           "summary", "summary_data", "summary_flags", "summary_model", "controls", "people",
           "client_env")


def _imports(name: str) -> set[str]:
    tree = ast.parse((ROOT / f"{name}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def _closure(name: str) -> set[str]:
    seen: set[str] = set()
    todo = [name]
    while todo:
        module = todo.pop()
        for imported in _imports(module):
            seen.add(imported)
            local = imported.removeprefix("reports.")
            if imported.startswith("reports.") and local not in seen:
                seen.add(local)
                todo.append(local)
    return seen


@pytest.mark.parametrize("name", CONTENT)
def test_no_reportlab_and_no_app(name: str) -> None:
    imported = _closure(name)
    assert not {m for m in imported if m.split(".")[0] in ("reportlab", "app")}
