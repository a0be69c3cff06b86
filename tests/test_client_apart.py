"""Client commands (app/client/) stay apart from the server: importing them loads no adapter,
service, storage or web framework, and cli.py reaches no private name of theirs."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVER = ("app.api", "app.services", "app.storage", "app.db", "app.kinds", "flask", "werkzeug",
          "psycopg", "psycopg_pool")
PROBE = """
import json, sys
import app.client.protection, app.client.record, app.client.registry, app.client.report
print(json.dumps(sorted(sys.modules)))
"""


def test_importing_the_client_loads_no_server_code() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          cwd=ROOT, check=True)
    loaded = json.loads(done.stdout)
    assert "app.client.record" in loaded  # the probe imported what it names
    assert [m for m in loaded if m.split(".")[0] in SERVER or m.startswith(SERVER)] == []


def _private_reaches(path: Path) -> list[str]:
    """`x._name` on anything but self, super() or argparse (its subparser type has no public
    name), and `from m import _name`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = [ast.unparse(node) for node in ast.walk(tree)
             if isinstance(node, ast.Attribute) and node.attr.startswith("_")
             and not node.attr.startswith("__")
             and ast.unparse(node.value) not in ("self", "super()", "argparse")]
    found += [f"from {node.module} import {alias.name}" for node in ast.walk(tree)
              if isinstance(node, ast.ImportFrom) for alias in node.names
              if alias.name.startswith("_") and not alias.name.startswith("__")]
    return found


def test_the_commands_reach_no_private_name_of_another_module(tmp_path: Path) -> None:
    commands = [ROOT / "app" / "cli.py", ROOT / "app" / "principal_cli.py",
                *sorted((ROOT / "app" / "client").glob("*.py"))]
    assert {str(p.relative_to(ROOT)): _private_reaches(p) for p in commands
            if _private_reaches(p)} == {}
    planted = tmp_path / "planted.py"
    planted.write_text("from app.cli import _actor\nheaders = client._headers('x')\n")
    assert _private_reaches(planted) == ["client._headers", "from app.cli import _actor"]
