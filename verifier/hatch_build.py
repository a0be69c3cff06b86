"""Pack mlaudit's own pure code into the verifier wheel, under mlaudit_verifier/_shared/.

The report check recomputes every statement with the very code the service computed it with
(app/services/report_evidence.py replaying app/kinds, app/ledger, app/tracking), so that code
is copied from the source tree this directory sits in, not written twice. It lands under a
private directory, not as top-level `app` and `reports` packages, so the verifier installs
beside the service without replacing its files (mlaudit_verifier/cli.py puts it on the path).
`pip install ./verifier` builds in the source tree, where ../app and ../reports are.
"""

from __future__ import annotations

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
    "app/services/report_figures.py",    # the figures check
    "app/services/report_verify.py",     # every check of `verify-report`
    "reports/__init__.py",
    "reports/bundle.py",
    "reports/citations.py",
    "reports/errors.py",
    "reports/evidence.py",
    "reports/evidence_groups.py",
    "reports/evidence_meta.py",
    "reports/evidence_protection.py",
    "reports/evidence_registry.py",
    "reports/evidence_run.py",
    "reports/extract.py",                # the attachment and the footers, with pypdf
    "reports/markers.py",
)
OPTIONAL = ("reports/textcheck.py", "reports/doc.py")
"""The figures check's text comparison and what it reads, once they are in the tree."""
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
    files += list(MODULES)
    files += [name for name in OPTIONAL if (root / name).is_file()]
    return files


class CustomBuildHook(BuildHookInterface):  # type: ignore[misc]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        here = Path(self.root)
        root = source_root(here)
        include = build_data.setdefault("force_include", {})
        for name in shared_files(root):
            include[str(root / name)] = f"{TARGET}/{name}"
        include[str(here / APP_INIT)] = f"{TARGET}/app/__init__.py"
