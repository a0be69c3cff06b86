"""Model reports with many versions: compact version tables, detail for the versions in focus."""

from __future__ import annotations

import dataclasses

import pytest
from model_factory import make_model_evidence, make_versions
from report_factory import make_run, page_texts

from reports import ModelReportEvidence, VersionEvidence
from reports.figures import figure
from reports.render import render_model_report
from reports.sections_groups import flag_reasons
from reports.sections_versions import FULL_DETAIL_VERSIONS, focus_versions
from reports.text import CELL_FONT, CELL_SIZE, Code, code_lines, text_lines, text_width

NEWEST = 8


def _many_versions() -> tuple[VersionEvidence, ...]:
    """Versions 1-3 of the factory (2 is live in both environments) plus 4..8 without
    promotions, each from its own run."""
    first = make_versions()
    extra = tuple(dataclasses.replace(first[0], version=v, version_digest=f"{v:064x}",
                                      stage=None, aliases=(), run=make_run(3 * v),
                                      promotions=(), seq=300 + v)
                  for v in range(4, NEWEST + 1))
    return first + extra


@pytest.fixture(scope="module")
def many() -> tuple[ModelReportEvidence, list[str]]:
    evidence, bundle = make_model_evidence(versions=_many_versions())
    return evidence, page_texts(render_model_report(evidence, bundle))


def test_focus_is_the_live_versions_and_the_newest(
        many: tuple[ModelReportEvidence, list[str]]) -> None:
    evidence, pages = many
    assert len(evidence.versions) > FULL_DETAIL_VERSIONS
    # The factory's production rollback returns to version 2; staging runs version 2 too.
    assert [v.version for v in focus_versions(evidence)] == [2, NEWEST]
    text = " ".join(pages)
    assert "Version 2: per-group metrics in detail" in text
    assert f"Version {NEWEST}: per-group metrics in detail" in text
    assert "Version 5: per-group metrics in detail" not in text
    for g in evidence.versions[-1].run.group_summaries[0].groups:
        assert f"{g.n} {figure(g.value)} {figure(g.ratio)} {figure(g.difference)}" in text


def test_every_version_is_in_the_version_tables(
        many: tuple[ModelReportEvidence, list[str]]) -> None:
    evidence, pages = many
    text = " ".join(pages)
    for v in evidence.versions:
        run = v.run
        learning_rate = run.params[0]
        assert f"{v.version} {learning_rate.key} {learning_rate.value} {learning_rate.seq}" in text
        for m in run.metrics:
            assert f"{v.version} {m.key} {figure(m.value)} {m.step}" in text
        for s in run.group_summaries:
            row = (f"{v.version} {s.reference} {len(s.groups)} {figure(s.min_max_ratio)} "
                   f"{figure(s.max_difference)}")
            assert row in text, row


def test_flags_of_versions_not_in_focus_are_printed(
        many: tuple[ModelReportEvidence, list[str]]) -> None:
    evidence, pages = many
    squeezed = "".join("".join(p.split()) for p in pages)
    version = next(v for v in evidence.versions if v.version == 5)
    summary = version.run.group_summaries[0]
    flagged = next(g for g in summary.groups if g.flags)
    reason = f"group {flagged.group}: " + "; ".join(flag_reasons(flagged, summary))
    assert "".join(reason.split()) in squeezed


def test_pages_are_numbered_once_the_count_is_known(
        many: tuple[ModelReportEvidence, list[str]]) -> None:
    _, pages = many
    assert len(pages) > 10
    for n, text in enumerate(pages, start=1):
        assert text.count(f"page {n} of {len(pages)}") == 1, n


def test_two_versions_of_one_run_show_its_detail_once() -> None:
    versions = make_versions()
    twin = dataclasses.replace(versions[0], run=versions[1].run)
    evidence, bundle = make_model_evidence(versions=(twin, *versions[1:]))
    text = " ".join(page_texts(render_model_report(evidence, bundle)))
    assert ("Version 2 was registered from the same run as version 1; its per-group figures "
            "are shown there.") in text


def test_cell_text_is_wrapped_to_fit_its_column() -> None:
    room = 60.0
    text = "short words then " + "x" * 90 + " and an end"
    lines = text_lines(text, CELL_FONT, room)
    assert len(lines) > 3
    assert all(text_width(line, CELL_FONT, CELL_SIZE) <= room for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")
    assert text_lines("fits", CELL_FONT, room) == ["fits"]


def test_code_breaks_anywhere_and_splits_across_pages() -> None:
    digest = "ab" * 64
    lines = code_lines(digest + "\nsecond", 100.0)
    assert "".join(lines[:-1]) == digest and lines[-1] == "second"
    code = Code("0123456789" * 200)
    width, height = code.wrap(100.0, 1000.0)
    first, rest = code.split(100.0, height / 2)
    assert first.wrap(100.0, 1000.0)[1] + rest.wrap(100.0, 1000.0)[1] == height
    assert (first.text + rest.text).replace("\n", "") == code.text
