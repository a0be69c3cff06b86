"""reports/pdftext.py: the same text as pypdf's extractor on our reports; anything else refused."""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import Callable
from typing import Any

import pytest
from pypdf import PdfReader, PdfWriter
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    NameObject,
    NumberObject,
)
from report_factory import make_run, make_run_evidence
from test_textcheck import KINDS, _edit_page, _render

from reports import ParamEvidence, RunReportEvidence
from reports.errors import ReportError
from reports.pdftext import page_texts
from reports.render import render_run_report
from reports.textcheck import squeeze, verify_text


def _oracle(pdf: bytes) -> list[str]:
    """pypdf's extraction, as the text check read it before: the bullet, which ReportLab may
    write as WinAnsi 0x7F, read as drawn."""
    return [(page.extract_text() or "").replace("\x7f", "\u2022")
            for page in PdfReader(io.BytesIO(pdf)).pages]


def _fast(pdf: bytes) -> list[str]:
    return page_texts(PdfReader(io.BytesIO(pdf)))


@pytest.fixture(scope="module")
def run_report() -> tuple[RunReportEvidence, bytes]:
    evidence, bundle = make_run_evidence()
    return evidence, render_run_report(evidence, bundle)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_factory_report_reads_as_pypdf_reads_it(kind: str) -> None:
    evidence, bundle = KINDS[kind]()
    pdf = _render(evidence, bundle)
    assert [squeeze(t) for t in _fast(pdf)] == [squeeze(t) for t in _oracle(pdf)]


def test_escapes_and_non_latin_text_decode() -> None:
    odd = "Zoë (x) \\ (a(b)c) Ελλάδα Россия — café €5 • ™ …"
    run = make_run(0)
    run = dataclasses.replace(run, name=odd,
                              params=(*run.params, ParamEvidence(odd, odd, run.params[0].seq)))
    evidence, bundle = make_run_evidence(run=run, meta={"title": f"Run report: {odd}"})
    pdf = render_run_report(evidence, bundle)
    fast = _fast(pdf)
    assert squeeze(odd) in squeeze(fast[0])
    assert [squeeze(t) for t in fast] == [squeeze(t) for t in _oracle(pdf)]
    assert verify_text(pdf, evidence) is None


def _add_to_first_page(pdf: bytes, extra: bytes, xobjects: DictionaryObject | None = None
                       ) -> bytes:
    """The PDF with ``extra`` appended to page 1 as a second content stream."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    page = writer.pages[0]
    stream = DecodedStreamObject()
    stream.set_data(extra)
    contents = ArrayObject([page.raw_get("/Contents"), writer._add_object(stream)])
    page[NameObject("/Contents")] = contents
    if xobjects is not None:
        resources = page["/Resources"].get_object()
        resources[NameObject("/XObject")] = xobjects
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _form_with_text(pdf: bytes) -> DictionaryObject:
    form = DecodedStreamObject()
    form.set_data(b"BT /F1+0 9 Tf 1 0 0 1 72 400 Tm (approved) Tj ET")
    fonts = PdfReader(io.BytesIO(pdf)).pages[0]["/Resources"]["/Font"]
    form.update({NameObject("/Type"): NameObject("/XObject"),
                 NameObject("/Subtype"): NameObject("/Form"),
                 NameObject("/BBox"): ArrayObject([NumberObject(0)] * 2 + [NumberObject(600)] * 2),
                 NameObject("/Resources"): DictionaryObject({NameObject("/Font"): fonts})})
    return DictionaryObject({NameObject("/Fm1"): form})


def test_a_second_content_stream_is_read_in_order(
        run_report: tuple[RunReportEvidence, bytes]) -> None:
    evidence, pdf = run_report
    forged = _add_to_first_page(pdf, b"BT 1 0 0 1 72 400 Tm /F1+0 9 Tf (approved) Tj T* ET")
    assert squeeze(_fast(forged)[0]).endswith("approved")
    problem = verify_text(forged, evidence)
    assert problem is not None and problem.startswith("page 1: "), problem


def test_a_form_xobject_holding_text_fails(run_report: tuple[RunReportEvidence, bytes]) -> None:
    evidence, pdf = run_report
    forged = _add_to_first_page(pdf, b"q /Fm1 Do Q", _form_with_text(pdf))
    assert verify_text(forged, evidence) == \
        "page 1: an XObject (image or form) is drawn; reports never draw one"


def test_an_inline_image_fails(run_report: tuple[RunReportEvidence, bytes]) -> None:
    evidence, pdf = run_report
    image = b"q 10 0 0 10 72 400 cm BI /W 1 /H 1 /BPC 8 /CS /G ID \xff EI Q"
    forged, page = _edit_page(pdf, lambda data: data + b"\n" + image)
    assert verify_text(forged, evidence) == \
        f"page {page}: an inline image is drawn; reports never draw one"


@pytest.mark.parametrize(("extra", "named"), [
    (b"BT /F1+0 9 Tf [(approved)] TJ ET", "TJ"),
    (b"BT /F1+0 9 Tf 3 Tr (approved) Tj ET", "text rendering mode"),
    (b"BT /F9 9 Tf (approved) Tj ET", "/F9"),
    (b"BX /Sh1 sh EX", "'BX'"),
])
def test_constructs_reports_never_write_fail(run_report: tuple[RunReportEvidence, bytes],
                                             extra: bytes, named: str) -> None:
    evidence, pdf = run_report
    forged = _add_to_first_page(pdf, extra)
    problem = verify_text(forged, evidence)
    assert problem is not None and problem.startswith("page 1: ") and named in problem, problem


@pytest.mark.parametrize(("change", "named"), [
    ("/ToUnicode", "the font /F1+0 has no ToUnicode map"),
    ("/Subtype", "the font /F1+0 is a Type3 font")])
def test_a_font_reports_never_embed_fails(run_report: tuple[RunReportEvidence, bytes],
                                          change: str, named: str) -> None:
    evidence, pdf = run_report
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    font: Any = writer.pages[0]["/Resources"]["/Font"]["/F1+0"].get_object()
    if change == "/ToUnicode":
        del font["/ToUnicode"]
    else:
        font[NameObject("/Subtype")] = NameObject("/Type3")
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(ReportError, match=r"^page 1: " + re.escape(named)):
        _fast(out.getvalue())
    assert (verify_text(out.getvalue(), evidence) or "").startswith("page 1: " + named)


def _tj(text: bytes) -> Callable[[bytes], bytes | None]:
    return lambda data: data + b"\nBT 1 0 0 1 72 400 Tm /F2+0 9 Tf " + text + b" Tj T* ET"


@pytest.mark.parametrize(("shown", "read"), [
    (rb"(a\(b\)c\\d)", "a(b)c\\d"), (rb"(x(y)z)", "x(y)z"), (rb"(\101\102C)", "ABC"),
    (b"<41 42>", "AB")])
def test_string_escapes_decode(run_report: tuple[RunReportEvidence, bytes], shown: bytes,
                               read: str) -> None:
    _, pdf = run_report
    forged, page = _edit_page(pdf, _tj(shown))
    assert _fast(forged)[page - 1].endswith(read)
