"""The seams hold: adapters share the HTTP kernel, never each other; the core never reaches up.

Imports are read from the source (ast), lazy ones inside functions included, so that a rule
cannot be dodged by importing late.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# (the modules under these folders, the imports they may not make, why)
RULES = [
    ("app/api/mlflow", ("app.api.v1",), "the MLflow adapter is a sibling of /api/v1"),
    ("app/api/v1", ("app.api.mlflow",), "/api/v1 is a sibling of the MLflow adapter"),
    ("app/api/http", ("app.api.v1", "app.api.mlflow"), "the kernel serves both adapters"),
    ("app/services", ("flask", "werkzeug", "app.api"), "use cases do not know the web"),
    ("app/storage", ("flask", "werkzeug", "app.api"), "SQL does not know the web"),
    ("app/ledger", ("flask", "werkzeug", "psycopg", "app.api", "app.services", "app.storage",
                    "app.db"), "the core is pure"),
    ("app/kinds", ("flask", "werkzeug", "psycopg", "app.api", "app.services", "app.storage",
                   "app.db"), "reducers are pure"),
    ("app/tracking", ("flask", "werkzeug", "psycopg", "app.api", "app.services",
                      "app.storage", "app.db"), "domain rules are pure"),
    ("reports", ("app",), "reports render plain data and never import app/"),
]

# Known breaches, each waiting on another change; an entry that no longer occurs fails the
# test below, so the list only shrinks. Empty since the tracking limits and the artifact path
# rule have one home in app/tracking (issue 19): add to it only with a reason.
PENDING: set[tuple[str, str]] = set()  # breaches allowed for now: none


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every module an import statement names: `from a.b import c` names a.b and a.b.c (c
    may be a module); relative imports are resolved against `module`."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return found


def forbidden(name: str, prefixes: tuple[str, ...]) -> str | None:
    return next((p for p in prefixes if name == p or name.startswith(p + ".")), None)


def is_module(name: str) -> bool:
    """A module or package of this repository (`from m import x`: x may be a name in m)."""
    path = REPO.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def breaches() -> set[tuple[str, str]]:
    """(file, imported module) for every import a rule forbids, by its most specific module
    (`from app.api.v1 import tracking_schemas` is an import of app.api.v1.tracking_schemas)."""
    found: set[tuple[str, str]] = set()
    for folder, prefixes, _why in RULES:
        files = sorted((REPO / folder).rglob("*.py"))
        assert files, f"{folder} holds no module: the rule checks nothing"
        for path in files:
            names = imports_of(path.read_text(encoding="utf-8"), module_name(path),
                               path.name == "__init__.py")
            bad = {n for n in names if forbidden(n, prefixes)
                   and (is_module(n) or n.split(".")[0] not in ("app", "reports"))}
            for name in bad:
                if not any(other.startswith(name + ".") for other in bad):
                    found.add((str(path.relative_to(REPO)), name))
    return found


def test_the_import_reader_sees_every_form() -> None:
    source = ("import flask.json\n"
              "from app.api import v1\n"
              "from .errors import ApiError\n"
              "def late():\n"
              "    from ..v1 import tracking\n")
    names = imports_of(source, "app.api.http.kernel")
    assert {"flask.json", "app.api", "app.api.v1", "app.api.http.errors",
            "app.api.v1.tracking"} <= names
    assert forbidden("app.api.v1.tracking", ("app.api.v1",)) == "app.api.v1"
    assert forbidden("app.api.v10", ("app.api.v1",)) is None
    assert imports_of("from . import compat\n", "app.api.mlflow", is_package=True) >= {
        "app.api.mlflow.compat"}


def test_no_layer_imports_what_it_may_not() -> None:
    unexpected = sorted(breaches() - PENDING)
    assert not unexpected, "imports that break the layering:\n" + "\n".join(
        f"  {path} imports {name}" for path, name in unexpected)


def test_every_pending_breach_still_occurs() -> None:
    """A breach fixed elsewhere must leave PENDING, or the list would hide its return."""
    gone = sorted(PENDING - breaches())
    assert not gone, "no longer imported; remove from PENDING:\n" + "\n".join(
        f"  {path} -> {name}" for path, name in gone)

