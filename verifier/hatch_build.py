"""Pack mlaudit's own pure code into the verifier wheel, under mlaudit_verifier/_shared/.

The report check recomputes every statement with the very code the service computed it with
(app/services/report_evidence.py replaying app/kinds, app/ledger, app/tracking), so that code
is copied from the source tree this directory sits in, not written twice. It lands under a
private directory, not as top-level `app` and `reports` packages, so the verifier installs
beside the service without replacing its files (mlaudit_verifier/cli.py puts it on the path).
`pip install ./verifier` builds in the source tree, where ../app and ../reports are.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

TARGET = "mlaudit_verifier/_shared"
PACKAGES = ("app/ledger", "app/kinds", "app/tracking")
"""Packed whole (their *.py files): pure, no database, no web."""
MODULES = (
    "app/services/__init__.py",
    "app/services/report_bundle.py",     # opening a bundle (rendering one is not packed)
    "app/services/report_evidence.py",   # the evidence, computed from entries
    "app/services/report_model.py",      # ... of a model report
    "app/services/report_deployments.py",  # ... its deployments and what is live
    "app/services/report_verify.py",     # every check of `verify-report`
    "app/services/report_signature.py",  # the PAdES check (pyHanko when installed)
    "app/services/report_signature_light.py",  # ... without pyHanko: pypdf, cryptography
    "app/services/report_cms.py",        # ... its CMS SignedData reader
)
"""With app/ledger, app/kinds and app/tracking, the import closure of those modules in app/;
of reports/, every module that imports no ReportLab (pure_reports)."""
APP_INIT = "shared_app_init.py"
"""The service's app/__init__.py starts the service (configuration, Flask): the verifier's
`app` package is only a namespace for the pure subpackages above."""


def source_root(here: Path) -> Path:
    root = here.parent
    if not (root / "app" / "ledger").is_dir() or not (root / "reports").is_dir():
        raise RuntimeError(f"the mlaudit source tree is not around {here}: build the verifier "
                           "from a checkout (pip install ./verifier), not from an sdist")
    return root


def shared_files(root: Path) -> list[str]:
    """Every file packed from the source tree, as paths relative to it."""
    files = [p.relative_to(root).as_posix() for package in PACKAGES
             for p in sorted((root / package).glob("*.py"))]
    return files + list(MODULES) + pure_reports(root)


def _module_imports(path: Path) -> set[str]:
    """Modules a file imports when it is imported (module level, not inside functions)."""
    found: set[str] = set()
    body = list(ast.parse(path.read_text("utf-8")).body)
    while body:
        node = body.pop()
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.update([node.module, *(f"{node.module}.{a.name}" for a in node.names)])
        elif isinstance(node, ast.If | ast.Try):
            body += [*node.body, *getattr(node, "orelse", []), *getattr(node, "finalbody", []),
                     *(n for h in getattr(node, "handlers", []) for n in h.body)]
    return found


def pure_reports(root: Path) -> list[str]:
    """reports/*.py but the renderer: modules that import ReportLab, or another reports module
    that does, are left out (rendering is not verifying); the rest is packed, whatever is
    added to reports/ later."""
    imports = {p.stem: _module_imports(p) for p in (root / "reports").glob("*.py")}
    impure = {m for m, names in imports.items() if any(n.split(".")[0] == "reportlab"
                                                       for n in names)}
    grown = True
    while grown:
        more = {m for m, names in imports.items() if m not in impure and any(
            n.split(".")[:1] == ["reports"] and n.split(".")[1:2] and n.split(".")[1] in impure
            for n in names)}
        impure |= more
        grown = bool(more)
    return sorted(f"reports/{m}.py" for m in imports if m not in impure)


class CustomBuildHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        here = Path(self.root)
        root = source_root(here)
        include = build_data.setdefault("force_include", {})
        for name in shared_files(root):
            include[str(root / name)] = f"{TARGET}/{name}"
        include[str(here / APP_INIT)] = f"{TARGET}/app/__init__.py"
