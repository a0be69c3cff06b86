"""Smoke check: poppler's pdftoppm rasterises every page of every report kind."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
from model_factory import make_model_evidence
from pypdf import PdfReader
from report_factory import (
    empty_run,
    make_experiment_evidence,
    make_run_evidence,
)

from reports.render import render_experiment_report, render_model_report, render_run_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _pdftoppm() -> str:
    path = shutil.which("pdftoppm")
    if path is None:
        pytest.fail("pdftoppm not found: install poppler-utils (apt-get install poppler-utils)")
    return path


def _reports() -> dict[str, bytes]:
    model, model_bundle = make_model_evidence(
        meta={"ledger_verified": False, "forced": True, "ledger_problem": "seq 3: missing"})
    run, run_bundle = make_run_evidence(run=empty_run())
    experiment, experiment_bundle = make_experiment_evidence()
    return {
        "model-forced": render_model_report(model, model_bundle),
        "run-empty": render_run_report(run, run_bundle),
        "experiment": render_experiment_report(experiment, experiment_bundle),
    }


def test_every_page_rasterises(tmp_path: Path) -> None:
    tool = _pdftoppm()
    for name, pdf in _reports().items():
        source = tmp_path / f"{name}.pdf"
        source.write_bytes(pdf)
        done = subprocess.run([tool, "-png", "-r", "50", str(source), str(tmp_path / name)],
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        assert "Error" not in done.stderr, done.stderr
        images = sorted(tmp_path.glob(f"{name}-*.png"))
        assert len(images) == len(PdfReader(io.BytesIO(pdf)).pages), name
        for image in images:
            data = image.read_bytes()
            assert data.startswith(PNG_MAGIC) and len(data) > 2000, image.name
