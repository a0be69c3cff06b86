"""The standalone verifier (verifier/) in a venv of its own, for bench/reports.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from _pg import REPO

PIP_OWN = ("pip", "setuptools", "_distutils_hack", "pkg_resources", "distutils-precedence.pth")


def clean_env() -> dict[str, str]:
    """No PYTHONPATH or MLAUDIT_*: the venv sees only what it installed."""
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith("MLAUDIT_")}


def install(scratch: Path) -> Path:
    """A fresh venv under scratch with `pip install ./verifier` (not timed): its script."""
    venv = scratch / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=clean_env())
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                    "--disable-pip-version-check", str(REPO / "verifier")], check=True,
                   env=clean_env())
    return venv / "bin" / "mlaudit-verify"


def installed_mb(script: Path) -> float:
    """site-packages of the script's venv, without pip and setuptools."""
    site = next(script.parent.parent.glob("lib/python3*/site-packages"))
    return sum(p.stat().st_size for p in site.rglob("*") if p.is_file()
               and not p.relative_to(site).parts[0].startswith(PIP_OWN)) / 1e6
