"""Reports are PDF/A-3b with embedded Unicode fonts: any of Latin, Greek, Cyrillic prints."""

from __future__ import annotations

import hashlib
import io
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from model_factory import make_model_evidence
from pdfa_checks import pdfa_problems
from pypdf import PdfReader
from report_factory import make_experiment_evidence, make_run, make_run_evidence, page_texts

from reports import fonts
from reports.errors import ReportError
from reports.extract import footer_hash, read_attachment
from reports.pdfa import SRGB_ICC, SRGB_ICC_SHA256
from reports.render import render_experiment_report, render_model_report, render_run_report

LATIN = "Ærøskøbing Łódź façade"
GREEK = "Ελληνική Δημοκρατία"
CYRILLIC = "Кредитный риск Ёж"


def _renders() -> list[tuple[str, bytes, bytes]]:
    model, model_bundle = make_model_evidence(owner=f"{GREEK} / {CYRILLIC}")
    run, run_bundle = make_run_evidence(run=make_run(0, name=LATIN))
    experiment, experiment_bundle = make_experiment_evidence(description=CYRILLIC)
    # a report forced despite a failed ledger check carries the red warning box
    forced, forced_bundle = make_model_evidence(
        meta={"ledger_verified": False, "forced": True, "ledger_problem": "seq 3: missing"})
    return [("model", render_model_report(model, model_bundle), model_bundle),
            ("model-forced", render_model_report(forced, forced_bundle), forced_bundle),
            ("run", render_run_report(run, run_bundle), run_bundle),
            ("experiment", render_experiment_report(experiment, experiment_bundle),
             experiment_bundle)]


RENDERS = _renders()


def test_names_in_latin_greek_and_cyrillic_print_as_text() -> None:
    texts = {kind: " ".join(page_texts(pdf)) for kind, pdf, _ in RENDERS}
    assert f"{GREEK} / {CYRILLIC}" in texts["model"]
    assert LATIN in texts["run"]
    assert CYRILLIC in texts["experiment"]
    assert not any("[U+" in text for text in texts.values())


def test_a_character_no_font_has_is_named_not_dropped() -> None:
    evidence, bundle = make_run_evidence(run=make_run(0, name="\u65e5\u672c \u0416"))
    assert "[U+65E5][U+672C] \u0416" in " ".join(page_texts(render_run_report(evidence, bundle)))


@pytest.mark.parametrize("kind", ["model", "run", "experiment"])
def test_every_report_passes_the_pdfa_structure_checks(kind: str) -> None:
    pdf = next(pdf for k, pdf, _ in RENDERS if k == kind)
    assert pdfa_problems(pdf) == []


def test_info_and_xmp_agree_on_titles_with_markup_and_other_scripts() -> None:
    title = f"Run report: {GREEK} & <b>(x)</b> \u65e5"
    evidence, bundle = make_run_evidence(meta={"title": title, "report_id": "id-\u0416"})
    pdf = render_run_report(evidence, bundle)
    assert pdfa_problems(pdf) == []
    info = PdfReader(io.BytesIO(pdf)).metadata
    assert info is not None and info.title == title.replace("\u65e5", "[U+65E5]")


def test_every_font_is_an_embedded_dejavu_subset() -> None:
    for _, pdf, _ in RENDERS:
        reader = PdfReader(io.BytesIO(pdf))
        names = set()
        for page in reader.pages:
            for font in page["/Resources"]["/Font"].values():
                font = font.get_object()
                assert "/FontFile2" in font["/FontDescriptor"]
                names.add(str(font["/BaseFont"]).split("+", 1)[1])
        assert names <= {"DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique",
                         "DejaVuSansMono"}
        assert b"/Helvetica" not in pdf and b"/Courier" not in pdf


def test_the_checks_catch_what_a_plain_reportlab_pdf_lacks() -> None:
    from reportlab.pdfgen.canvas import Canvas

    buffer = io.BytesIO()
    canvas = Canvas(buffer, invariant=1)
    canvas.drawString(72, 720, "plain")
    canvas.showPage()
    canvas.save()
    problems = " | ".join(pdfa_problems(buffer.getvalue()))
    for expected in ("no XMP metadata", "output intent", "associated file",
                     "font Helvetica is not embedded"):
        assert expected in problems


def test_the_bundle_reads_back_and_the_footer_hash_is_found() -> None:
    for _, pdf, bundle in RENDERS:
        assert read_attachment(pdf) == bundle
        assert footer_hash(pdf) == hashlib.sha256(bundle).hexdigest()


def test_same_bundle_same_bytes_in_this_process_and_a_fresh_one() -> None:
    evidence, bundle = make_model_evidence()
    first = render_model_report(evidence, bundle)
    assert render_model_report(evidence, bundle) == first
    here = Path(__file__).resolve().parent
    script = ("import hashlib, sys\n"
              "from model_factory import make_model_evidence\n"
              "from reports.render import render_model_report\n"
              "e, b = make_model_evidence()\n"
              "sys.stdout.write(hashlib.sha256(render_model_report(e, b)).hexdigest())\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=here, check=True,
                         capture_output=True, text=True,
                         env={"PYTHONPATH": f"{here}:{here.parent.parent}"}).stdout
    assert out == hashlib.sha256(first).hexdigest()


def test_a_font_file_with_another_hash_is_refused(tmp_path: Path) -> None:
    name, _ = fonts.FONT_FILES[fonts.FONT]
    (tmp_path / name).write_bytes(b"not DejaVu")
    with pytest.raises(ReportError, match="SHA-256 .* expected 3fdf69ca"):
        fonts._checked(fonts.FONT, tmp_path)
    with pytest.raises(ReportError, match="not found"):
        fonts._checked(fonts.FONT_MONO, tmp_path)


def test_without_matplotlib_the_error_says_what_to_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fonts.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ReportError, match="pip install 'matplotlib>=3.8'"):
        fonts.font_directory()


def test_the_font_files_in_use_match_their_pins() -> None:
    folder = fonts.font_directory()
    for file_name, digest in fonts.FONT_FILES.values():
        assert hashlib.sha256((folder / file_name).read_bytes()).hexdigest() == digest


def _icc_tags(profile: bytes) -> dict[bytes, bytes]:
    """An ICC profile's tags: signature -> data (the tag table follows the 128-byte header)."""
    (count,) = struct.unpack(">I", profile[128:132])
    tags = {}
    for i in range(count):
        sig, offset, size = struct.unpack(">4sII", profile[132 + 12 * i:144 + 12 * i])
        tags[sig] = profile[offset:offset + size]
    return tags


def test_the_srgb_profile_is_pinned_and_is_little_cms_srgb() -> None:
    """The pinned profile is sRGB as Little CMS makes it: the same primaries, white point and
    tone curves as the profile this machine's Pillow creates (its header dates and the other
    bytes may differ between Little CMS versions; the pinned copy is what reports embed)."""
    assert hashlib.sha256(SRGB_ICC).hexdigest() == SRGB_ICC_SHA256
    assert (SRGB_ICC[12:24], SRGB_ICC[36:40]) == (b"mntrRGB XYZ ", b"acsp")
    assert struct.unpack(">I", SRGB_ICC[:4])[0] == len(SRGB_ICC)
    from PIL import ImageCms

    fresh = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    assert fresh[12:24] == SRGB_ICC[12:24]
    made, pinned = _icc_tags(fresh), _icc_tags(SRGB_ICC)
    for tag in (b"rXYZ", b"gXYZ", b"bXYZ", b"wtpt", b"rTRC", b"gTRC", b"bTRC"):
        assert pinned[tag] == made[tag], tag



def test_qpdf_finds_no_syntax_or_stream_errors(tmp_path: Path) -> None:
    """qpdf (Debian's qpdf; .ci/run installs it, as the README says) reads every report."""
    assert shutil.which("qpdf"), "qpdf is not installed: apt-get install qpdf"
    for kind, pdf, _ in RENDERS:
        path = tmp_path / f"{kind}.pdf"
        path.write_bytes(pdf)
        checked = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "No syntax or stream encoding errors" in checked.stdout
