"""Attachment, footer hash, byte-identical renders, and refusal of inconsistent evidence."""

from __future__ import annotations

import dataclasses
import hashlib
import io
from collections.abc import Callable
from typing import Any

import pytest
from model_factory import make_model_evidence
from pypdf import PdfReader
from report_factory import (
    make_experiment_evidence,
    make_run,
    make_run_evidence,
    make_summary,
    page_texts,
    squeezed,
)
from reportlab.pdfgen.canvas import Canvas

from reports import (
    ReportError,
    ReportMeta,
)
from reports.extract import footer_hash, footer_hashes, read_attachment
from reports.page import FOOTER_LABEL
from reports.render import render_experiment_report, render_model_report, render_run_report

Kind = tuple[Callable[..., tuple[Any, bytes]], Callable[[Any, bytes], bytes]]
KINDS: dict[str, Kind] = {
    "model": (make_model_evidence, render_model_report),
    "run": (make_run_evidence, render_run_report),
    "experiment": (make_experiment_evidence, render_experiment_report),
}


@pytest.fixture(scope="module", params=sorted(KINDS))
def rendered(request: pytest.FixtureRequest) -> tuple[Any, bytes, bytes]:
    make, render = KINDS[request.param]
    evidence, bundle = make()
    return evidence, bundle, render(evidence, bundle)


def test_bundle_is_attached_and_its_hash_is_in_every_footer(
        rendered: tuple[Any, bytes, bytes]) -> None:
    evidence, bundle, pdf = rendered
    attached = read_attachment(pdf)
    assert attached == bundle
    digest = hashlib.sha256(attached).hexdigest()
    assert digest == evidence.meta.evidence_sha256
    hashes = footer_hashes(pdf)
    assert len(hashes) == len(PdfReader(io.BytesIO(pdf)).pages) > 1
    assert set(hashes) == {digest}
    assert footer_hash(pdf) == digest
    assert "EvidencebundleAttachmentevidence-bundle.json" in squeezed(page_texts(pdf)[-1:])
    assert f"SHA-256{digest}" in squeezed(page_texts(pdf)[-1:])  # the integrity appendix


def test_every_page_is_numbered_page_n_of_m(rendered: tuple[Any, bytes, bytes]) -> None:
    pages = page_texts(rendered[2])
    for n, text in enumerate(pages, start=1):
        assert f"page {n} of {len(pages)}" in text


def test_two_renders_are_byte_identical(rendered: tuple[Any, bytes, bytes]) -> None:
    evidence, bundle, pdf = rendered
    render = KINDS[evidence.meta.kind][1]
    assert render(evidence, bundle) == pdf


def test_document_id_and_metadata_are_fixed(rendered: tuple[Any, bytes, bytes]) -> None:
    evidence, _, pdf = rendered
    reader = PdfReader(io.BytesIO(pdf))
    first = reader.trailer["/ID"][0]
    ident = getattr(first, "original_bytes", first).hex()
    assert ident == evidence.meta.evidence_sha256[:32]
    assert reader.metadata is not None
    assert reader.metadata["/CreationDate"] == "D:20000101000000+00'00'"
    assert evidence.meta.evidence_sha256 in reader.metadata["/Keywords"]


def test_bundle_that_does_not_match_the_hash_is_refused() -> None:
    evidence, bundle = make_run_evidence()
    with pytest.raises(ReportError, match="evidence_sha256"):
        render_run_report(evidence, bundle + b" ")


def test_wrong_kind_is_refused() -> None:
    evidence, bundle = make_run_evidence()
    meta = dataclasses.replace(evidence.meta, kind="model")
    with pytest.raises(ReportError, match="makes run reports"):
        render_run_report(dataclasses.replace(evidence, meta=meta), bundle)


def test_seq_shown_but_not_cited_is_refused() -> None:
    run = make_run(0)
    run = dataclasses.replace(run, cited_seqs=tuple(s for s in run.cited_seqs
                                                    if s != run.created_seq))
    evidence, bundle = make_run_evidence(run=run)
    with pytest.raises(ReportError, match=f"seq {run.created_seq} shown but not in cited_seqs"):
        render_run_report(evidence, bundle)


def test_seq_beyond_the_checkpoint_is_refused() -> None:
    evidence, bundle = make_model_evidence()
    meta = dataclasses.replace(evidence.meta, checkpoint=dataclasses.replace(
        evidence.meta.checkpoint, tree_size=500))
    with pytest.raises(ReportError, match="not covered by the checkpoint"):
        render_model_report(dataclasses.replace(evidence, meta=meta), bundle)


def test_unverified_ledger_needs_a_forced_report_and_a_problem() -> None:
    evidence, _ = make_run_evidence()
    with pytest.raises(ReportError, match="must be forced"):
        dataclasses.replace(evidence.meta, ledger_verified=False, ledger_problem="x")
    with pytest.raises(ReportError, match="ledger_problem"):
        dataclasses.replace(evidence.meta, ledger_verified=False, forced=True)
    with pytest.raises(ReportError, match="64 lower-case hex"):
        dataclasses.replace(evidence.meta, evidence_sha256="ABC")
    assert isinstance(evidence.meta, ReportMeta)


def test_extract_refuses_a_pdf_without_bundle_or_footer() -> None:
    buffer = io.BytesIO()
    canvas = Canvas(buffer, invariant=1)
    canvas.drawString(72, 720, "not a report")
    canvas.showPage()
    canvas.save()
    with pytest.raises(ReportError, match="expected one attachment"):
        read_attachment(buffer.getvalue())
    with pytest.raises(ReportError, match="page 1 has no evidence hash"):
        footer_hash(buffer.getvalue())
    with pytest.raises(ReportError, match="not a readable PDF"):
        read_attachment(b"not a pdf")


def test_unusual_text_is_escaped_and_undefined_figures_are_worded() -> None:
    base = make_summary("selection_rate", "sex", {"a": ("0.5", 50), "b": ("0.4", 40)}, 101)
    zero = dataclasses.replace(base, groups=(
        dataclasses.replace(base.groups[0], value="0", ratio=None, difference="0",
                            flags=("ratio_undefined",)),
        dataclasses.replace(base.groups[1], value="0", ratio=None, difference="0",
                            flags=("ratio_undefined",))), min_max_ratio=None)
    run = make_run(0, name="\u0141\u00f3d\u017a \u65e5 <b>&amp; model", group_summaries=(zero,))
    evidence, bundle = make_run_evidence(run=run)
    text = " ".join(page_texts(render_run_report(evidence, bundle)))
    # The embedded fonts draw Latin with accents; a character they lack is named, not dropped.
    assert "\u0141\u00f3d\u017a [U+65E5] <b>&amp; model" in text
    assert "Min/max ratio: undefined." in text
    assert "band not drawn: reference value undefined" in text
    assert "flag for review: ratio undefined" in text


def test_long_tables_split_across_pages_with_their_header_repeated() -> None:
    run = make_run(0)
    params = tuple(dataclasses.replace(run.params[0], key=f"param_{i:03d}") for i in range(180))
    # A value taller than a page must split inside its row rather than fail the layout.
    params += (dataclasses.replace(run.params[0], key="huge", value="v" * 20000),)
    evidence, bundle = make_run_evidence(run=dataclasses.replace(run, params=params))
    pages = page_texts(render_run_report(evidence, bundle))
    holding = [p for p in pages if "param_0" in p or "param_1" in p]
    assert len(holding) >= 3
    assert all("Parameter Value Seq" in p for p in holding)
    assert "param_179" in " ".join(pages)


def test_footer_hash_is_read_however_the_footer_text_was_drawn() -> None:
    digest = hashlib.sha256(b"bundle").hexdigest()
    buffer = io.BytesIO()
    canvas = Canvas(buffer, invariant=1)
    canvas.drawString(72, 720, f"{FOOTER_LABEL} {digest}")  # the form page.py draws
    canvas.showPage()
    canvas.drawString(72, 720, FOOTER_LABEL)  # another producer's: two text objects
    canvas.drawString(160, 720, digest)
    canvas.showPage()
    canvas.save()
    assert footer_hashes(buffer.getvalue()) == [digest, digest]
