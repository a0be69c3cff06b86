"""The text check: a report's extracted text against the text its evidence's story prints."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from model_factory import make_model_evidence
from pypdf import PdfReader, PdfWriter
from report_factory import (
    empty_run,
    make_experiment_evidence,
    make_run,
    make_run_evidence,
    page_texts,
)

from reports import ParamEvidence, RunReportEvidence
from reports.bundle import to_json
from reports.glyphs import FONTS, widths
from reports.page import REPORTLAB_VERSION, TEMPLATE_VERSION
from reports.render import render_experiment_report, render_model_report, render_run_report
from reports.textcheck import renderer_of, verify_text

FORCED = {"ledger_verified": False, "forced": True, "ledger_problem": "seq 3: missing"}
KINDS: dict[str, Callable[[], tuple[Any, bytes]]] = {
    "model": make_model_evidence,
    "model-forced": lambda: make_model_evidence(meta=FORCED),
    "run": make_run_evidence,
    "run-empty": lambda: make_run_evidence(run=empty_run()),
    "experiment": make_experiment_evidence,
}
RENDER: dict[str, Callable[[Any, bytes], bytes]] = {
    "model": render_model_report, "run": render_run_report,
    "experiment": render_experiment_report}


def _render(evidence: Any, bundle: bytes) -> bytes:
    return RENDER[evidence.meta.kind](evidence, bundle)


@pytest.fixture(scope="module")
def run_report() -> tuple[RunReportEvidence, bytes]:
    evidence, bundle = make_run_evidence()
    return evidence, render_run_report(evidence, bundle)


def _edit_page(pdf: bytes, change: Callable[[bytes], bytes | None]) -> tuple[bytes, int]:
    """The PDF with the content stream of the first page that ``change`` edits rewritten."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    for number, page in enumerate(writer.pages, start=1):
        contents = page.get_contents()
        assert contents is not None
        edited = change(contents.get_data())
        if edited is not None:
            contents.set_data(edited)
            page.replace_contents(contents)
            out = io.BytesIO()
            writer.write(out)
            return out.getvalue(), number
    raise AssertionError("no page to edit")


def _replace(old: bytes, new: bytes) -> Callable[[bytes], bytes | None]:
    return lambda data: data.replace(old, new, 1) if old in data else None


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_report_kind_passes(kind: str) -> None:
    evidence, bundle = KINDS[kind]()
    assert verify_text(_render(evidence, bundle), evidence) is None


def test_the_bundles_placeholder_hash_is_read_as_the_attachments(
        run_report: tuple[RunReportEvidence, bytes]) -> None:
    evidence, pdf = run_report
    meta = dataclasses.replace(evidence.meta, evidence_sha256="0" * 64)
    assert verify_text(pdf, dataclasses.replace(evidence, meta=meta)) is None


def test_a_digit_changed_in_a_page_is_named(run_report: tuple[RunReportEvidence, bytes]) -> None:
    evidence, pdf = run_report
    forged, page = _edit_page(pdf, _replace(b"(0.9516) Tj", b"(0.9517) Tj"))
    assert verify_text(forged, evidence) == \
        f'page {page}: expected "0.9516" but the PDF says "0.9517"'


def test_missing_text_fails(run_report: tuple[RunReportEvidence, bytes]) -> None:
    evidence, pdf = run_report
    forged, page = _edit_page(pdf, _replace(b"(0.9516) Tj", b"() Tj"))
    problem = verify_text(forged, evidence)
    assert problem is not None and problem.startswith(f"page {page}: expected \"0.9516\"")


@pytest.mark.parametrize("where", ["start", "end"])
def test_extra_text_on_a_page_fails(run_report: tuple[RunReportEvidence, bytes],
                                    where: str) -> None:
    evidence, pdf = run_report
    extra = b"\nBT /F1 8 Tf 72 400 Td (approved) Tj ET\n"
    forged, page = _edit_page(
        pdf, lambda data: (extra + data if where == "start" else data + extra)
        if b"Parameters" in data else None)
    problem = verify_text(forged, evidence)
    assert problem is not None and problem.startswith(f"page {page}: "), problem


def test_a_figure_edited_in_the_evidence_and_rerendered_fails(
        run_report: tuple[RunReportEvidence, bytes]) -> None:
    """The PDF rendered from edited evidence while the bundle (and its hash) is the original."""
    evidence, pdf = run_report
    _, bundle = make_run_evidence()
    metric = dataclasses.replace(evidence.run.metrics[0], value="0.99")
    edited = dataclasses.replace(evidence, run=dataclasses.replace(
        evidence.run, metrics=(metric, *evidence.run.metrics[1:])))
    forged = render_run_report(edited, bundle)
    page = next(i for i, text in enumerate(page_texts(forged), start=1) if "0.99" in text)
    problem = verify_text(forged, evidence)  # page 1 shows the value rounded (the summary)
    assert problem is not None and problem.startswith(f"page {page}: expected "), problem
    assert verify_text(pdf, edited) is not None


def test_tables_and_cells_split_across_pages_pass() -> None:
    """A table over several pages (its header repeated) and a row taller than a page, whose
    cells are split inside the row, pass; so do the repeated headers' pages."""
    params = tuple(ParamEvidence(f"param_{i:03d}", str(i / 7), 101) for i in range(160))
    huge = ParamEvidence("notes", " ".join(f"word{i}" for i in range(2500)), 101)
    run = make_run(0)
    run = dataclasses.replace(run, params=(*params[:80], huge, *params[80:]))
    evidence, bundle = make_run_evidence(run=run)
    pdf = render_run_report(evidence, bundle)
    repeated = [t for t in page_texts(pdf)[2:] if t.lstrip().startswith("Parameter Value Seq")]
    assert len(repeated) >= 3
    assert verify_text(pdf, evidence) is None


def test_any_script_escapes_and_shortened_labels_pass() -> None:
    """Characters the fonts lack (printed as [U+XXXX]), WinAnsi punctuation, PDF string
    escapes, a chart label and a footer shortened with an ellipsis."""
    odd = "Zoë — café €5 (x) \\ 日本 Ελλάδα Россия\ttab\u00a0nbsp ‘q’ “dq” • ™ …"
    run = make_run(0)
    summary = run.group_summaries[0]
    group = dataclasses.replace(summary.groups[1], group=odd)
    summary = dataclasses.replace(summary, groups=(summary.groups[0], group,
                                                   *summary.groups[2:]))
    run = dataclasses.replace(run, name=odd,
                              params=(*run.params, ParamEvidence(odd, odd, run.params[0].seq)),
                              group_summaries=(summary, *run.group_summaries[1:]))
    evidence, bundle = make_run_evidence(run=run, meta={"title": f"Run report: {odd}",
                                                        "report_id": "r" * 200 + odd})
    pdf = render_run_report(evidence, bundle)
    assert "…" in page_texts(pdf)[0] and "[U+65E5]" in page_texts(pdf)[0]
    assert verify_text(pdf, evidence) is None


def test_the_pdf_names_its_renderer(run_report: tuple[RunReportEvidence, bytes]) -> None:
    _, pdf = run_report
    producer = str((PdfReader(io.BytesIO(pdf)).metadata or {})["/Producer"])
    assert producer == f"mlaudit report template {TEMPLATE_VERSION}; ReportLab {REPORTLAB_VERSION}"
    assert renderer_of(producer) == f"ReportLab {REPORTLAB_VERSION}"
    assert renderer_of("ReportLab 4.4.4") == "ReportLab 4.4.4"  # template 2 reports
    assert renderer_of("pypdf") is None


def test_a_report_of_another_template_is_named(run_report: tuple[RunReportEvidence, bytes],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import reports.textcheck

    evidence, pdf = run_report
    monkeypatch.setattr(reports.textcheck, "TEMPLATE_VERSION", "99")
    assert verify_text(pdf, evidence) == (f"the PDF was made with report template "
                                          f"{TEMPLATE_VERSION}; this check reads template 99")


def test_stored_glyph_widths_are_reportlabs() -> None:
    """reports/glyph_widths.py holds, for each embedded font, the widths ReportLab reads from
    the pinned font file, and exactly the code points all four fonts draw."""
    from reportlab.pdfbase import pdfmetrics

    from reports import fonts
    from reports.fonts import register_fonts

    coverage = register_fonts()
    for font in FONTS:
        face = pdfmetrics.getFont(font).face
        stored = widths(font)
        assert set(stored) == set(coverage), font
        assert all(stored[cp] == face.charWidths.get(cp, face.defaultWidth)
                   for cp in coverage), font
    source = Path(__file__).parents[2] / "reports" / "glyph_widths.py"
    assert fonts.width_data() == source.read_text(encoding="utf-8"), \
        "regenerate: python -m reports.fonts > reports/glyph_widths.py"


_BLOCKED = """
import importlib.abc, json, sys

class NoReportLab(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "reportlab" or name.startswith("reportlab."):
            raise ImportError(f"{name} is blocked")
        return None

sys.meta_path.insert(0, NoReportLab())
import reports, reports.bundle, reports.citations, reports.doc, reports.evidence
import reports.evidence_groups, reports.evidence_meta, reports.evidence_protection
import reports.evidence_registry, reports.evidence_run, reports.textcheck
from reports.bundle import from_json
from reports.textcheck import verify_text

pdf_path, evidence_path = sys.argv[1:]
kind, data = json.loads(open(evidence_path).read())
cls = getattr(reports, kind)
pdf = open(pdf_path, "rb").read()
assert verify_text(pdf, from_json(cls, data)) is None
assert verify_text(pdf.replace(b"(0.9516) Tj", b"(0.9517) Tj", 1), from_json(cls, data))
assert not any(m.startswith("reportlab") for m in sys.modules), "reportlab was imported"
print("checked without reportlab")
"""


def test_the_check_runs_without_reportlab(tmp_path: Path,
                                          run_report: tuple[RunReportEvidence, bytes]) -> None:
    evidence, pdf = run_report
    (tmp_path / "report.pdf").write_bytes(pdf)
    (tmp_path / "evidence.json").write_text(json.dumps([type(evidence).__name__,
                                                        to_json(evidence)]))
    script = tmp_path / "check.py"
    script.write_text(textwrap.dedent(_BLOCKED))
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "report.pdf"),
                           str(tmp_path / "evidence.json")], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "checked without reportlab" in done.stdout
