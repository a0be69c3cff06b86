"""Figures for people in the body: at most 4 significant digits, no number wrapped in a table
cell, every bar labelled with its group, n and ratio, one place and colour per group in every
version of a chart, and artifact tables without full digests or signing keys."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator
from typing import Any

from loan_scenario import MODEL, build
from model_factory import make_model_evidence
from report_factory import make_experiment_evidence, make_run, make_summary, page_texts

from app.services import reports
from app.services.report_bundle import open_bundle
from reports import GroupSummaryEvidence, ModelReportEvidence
from reports.chart_geometry import LEFT, RIGHT
from reports.chart_text import (
    group_labels,
    labelled,
    n_of,
    name_of,
    ratio_of,
    version_bars,
    version_labels,
)
from reports.doc import BODY_WIDTH, GroupChartNode, Keep, Node, Table, VersionChartNode
from reports.figures import figure
from reports.render import render_experiment_report, render_model_report
from reports.sections_experiment import comparison
from reports.sections_groups import group_metrics
from reports.sections_run import artifacts, metrics
from reports.sections_versions import focus_versions, version_tables
from reports.text import CELL_FONT, text_lines

# A decimal that is not part of a time ("09:12:18.269757") or a dotted version ("1.5.2").
DECIMAL = re.compile(r"(?<![\w:.\-])-?\d*\.\d+(?![\d.])")
# A table cell that is one number: a figure, a count, a seq, or "n=412".
NUMBER = re.compile(r"-?\d[\d.]*(?: × 10\^-?\d+)?|n=\d+")


def _significant(number: str) -> int:
    return len(number.lstrip("-").replace(".", "").lstrip("0"))


def _long(texts: Iterable[str]) -> list[str]:
    return [m.group() for text in texts for m in DECIMAL.finditer(text)
            if _significant(m.group()) > 4]


def _body(pages: list[str]) -> list[str]:
    """The pages before the appendices (which give figures at full precision)."""
    out: list[str] = []
    for page in pages:
        if page.lstrip().startswith("Appendix"):
            break
        out.append(page)
    return out


def _walk(nodes: Iterable[Node]) -> Iterator[Node]:
    for node in nodes:
        yield node
        if isinstance(node, Keep):
            yield from _walk(node.children)


def test_no_figure_in_the_body_has_more_than_four_significant_digits() -> None:
    model, bundle = make_model_evidence()
    values = [g.ratio for v in model.versions for s in v.run.group_summaries for g in s.groups]
    assert _long(v for v in values if v), "the factory should hold long decimals"
    assert _long(_body(page_texts(render_model_report(model, bundle)))) == []
    experiment, bundle = make_experiment_evidence()
    assert _long(_body(page_texts(render_experiment_report(experiment, bundle)))) == []


def _stress_run() -> Any:
    """A run whose figures are as wide as the rounding rule prints them."""
    summary = make_summary("selection_rate", "sex", {
        "female": ("123456789.123456", 999999), "male": ("-0.000123456789", 5),
        "nonbinary": ("0.00000001234567", 1234567)}, 999999)
    base = make_run(0)
    metric = dataclasses.replace(base.metrics[0], value="-12345.678901", seq=999999)
    return dataclasses.replace(base, group_summaries=(summary, *base.group_summaries),
                               metrics=(metric, *base.metrics[1:]))


def _unwrapped(nodes: Iterable[Node]) -> list[str]:
    """Numbers in table cells that would wrap in their column ("" when none do)."""
    wrapped: list[str] = []
    for node in _walk(nodes):
        if not isinstance(node, Table):
            continue
        widths = [BODY_WIDTH * f / sum(node.fractions) for f in node.fractions]
        for row in node.rows:
            for cell, width in zip(row, widths, strict=True):
                if isinstance(cell, str) and NUMBER.fullmatch(cell) and \
                        len(text_lines(cell, CELL_FONT, width - 6)) > 1:
                    wrapped.append(f"{node.header}: {cell}")
    return wrapped


def test_tables_never_wrap_a_number() -> None:
    run = _stress_run()
    assert _unwrapped([*metrics(run), *group_metrics(run), *artifacts(run)]) == []
    model, _ = make_model_evidence()
    versions = tuple(dataclasses.replace(v, run=_stress_run()) for v in model.versions)
    model = dataclasses.replace(model, versions=versions)
    assert _unwrapped(version_tables(model, focus_versions(model))) == []
    experiment, _ = make_experiment_evidence()
    assert _unwrapped(comparison(dataclasses.replace(experiment, runs=(run,)))) == []


def _charts(model: ModelReportEvidence) -> list[VersionChartNode]:
    return [n for n in _walk(version_tables(model, focus_versions(model)))
            if isinstance(n, VersionChartNode)]


def test_every_version_chart_bar_is_labelled_with_group_n_and_ratio() -> None:
    model, _ = make_model_evidence()
    charts = _charts(model)
    assert charts
    for chart in charts:
        assert labelled(chart.items)
        texts = [label.text for label in version_labels(chart.items)]
        for version, summary in chart.items:
            assert f"v{version}" in texts
            for g in summary.groups:
                triple = [g.group, n_of(g), ratio_of(g)]
                assert any(texts[i:i + 3] == triple for i in range(len(texts))), triple
        references = [g for _, s in chart.items for g in s.groups if g.is_reference]
        assert all(ratio_of(g) == f"{figure(g.ratio)} (ref)" for g in references)


def test_every_group_chart_bar_is_labelled_with_group_n_value_and_ratio() -> None:
    run = make_run(0)
    charts = [n for n in _walk(group_metrics(run)) if isinstance(n, GroupChartNode)]
    assert len(charts) == len(run.group_summaries)
    for chart in charts:
        texts = [label.text for label in group_labels(chart.summary)]
        for g in chart.summary.groups:
            quad = [f"ratio {figure(g.ratio)}", figure(g.value), name_of(g), n_of(g)]
            assert any(texts[i:i + 4] == quad for i in range(len(texts))), quad


def _without(summary: GroupSummaryEvidence, group: str) -> GroupSummaryEvidence:
    return dataclasses.replace(summary, groups=tuple(g for g in summary.groups
                                                     if g.group != group))


def test_a_group_keeps_its_place_and_colour_in_every_version() -> None:
    model, _ = make_model_evidence()
    for chart in _charts(model):
        items = list(chart.items)
        first = items[0][1].groups[0].group  # left out of one version: no other group moves
        items[1] = (items[1][0], _without(items[1][1], first))
        slot = (BODY_WIDTH - RIGHT - LEFT) / len(items)
        seen: dict[str, set[tuple[int, float]]] = {}
        for i, bars in enumerate(version_bars(items)):
            for bar in bars:
                place = round(bar.x - (LEFT + i * slot), 6)
                seen.setdefault(bar.group.group, set()).add((bar.colour, place))
        assert all(len(found) == 1 for found in seen.values()), seen
        assert len({next(iter(found))[0] for found in seen.values()}) == len(seen)


def test_the_loan_reports_body_rounds_and_names_the_signing_key_once(
        client: Any, services: Any, admin_token: str) -> None:
    build(client, services, admin_token)
    issued = reports.model_report(services, "token:admin", MODEL, None, None, False)
    model = open_bundle(issued.bundle).evidence
    assert isinstance(model, ModelReportEvidence)
    pages = page_texts(issued.pdf)
    body = pages[:next(i for i, p in enumerate(pages) if "Promotions and decisions" in p)]
    assert _long(body) == []  # lineage, parameters, metrics, per-group, artifacts
    text = " ".join(pages)
    appendix = next(i for i, p in enumerate(pages) if p.lstrip().startswith("Appendix"))
    flat = "".join(" ".join(pages[:appendix]).split())  # the body, before the appendices
    evidence = "".join(pages[-1].split())  # the integrity evidence appendix: the full values
    assert text.count("Artifact signatures by key id") == 1
    found = [a for v in model.versions for a in v.run.artifacts]
    assert found and all(a.signer for a in found)
    for a in found:
        assert a.sha256[:12] + "\u2026" in flat and a.sha256 not in flat
        assert a.signer not in flat and (a.envelope_sha256 or "-") not in flat
        assert a.sha256 in evidence and (a.envelope_sha256 or "") in evidence
        assert "".join(a.signer.split()) in evidence
        assert f"verified, key {a.signer.split('+')[1]}" in text
