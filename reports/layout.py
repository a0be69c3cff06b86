"""The ReportLab layout of the document model: each node of reports/doc.py as a flowable."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from reportlab.platypus import Flowable, KeepTogether, Spacer, TableStyle
from reportlab.platypus import PageBreak as BreakFlowable
from reportlab.platypus import Table as TableFlowable

from reports.charts import GroupChart, VersionChart
from reports.doc import (
    BODY_WIDTH,
    Cell,
    Code,
    Gap,
    GroupChartNode,
    Heading,
    Keep,
    KeyValue,
    Node,
    PageBreak,
    Para,
    Table,
    VersionChartNode,
    WarningBox,
)
from reports.style import GRID, HEADER_BG, HIGHLIGHT_BG, RED, STYLES, WARNING_BG, ZEBRA_BG
from reports.text import (
    CELL_BOLD,
    CELL_FONT,
    CELL_LEADING,
    CELL_SIZE,
    CODE_FONT,
    CODE_LEADING,
    CODE_SIZE,
    Text,
    code_lines,
    text_lines,
)
from reports.text import Code as CodeFlowable

__all__ = ["flowable", "flowables"]


def _cell(value: Cell, font: str, room: float, where: tuple[int, int],
          codes: list[tuple[int, int]]) -> str:
    """A table cell as plain (pre-wrapped) text, which tables draw far faster than Paragraphs;
    the positions of fixed-width cells go to ``codes`` (they need the mono font)."""
    if isinstance(value, Code):
        codes.append(where)
        return "\n".join(code_lines(value.text, room))
    return "\n".join(text_lines(value, font, room))


def _code_fonts(codes: Sequence[tuple[int, int]], rows: int) -> list[tuple[Any, ...]]:
    """FONT commands for the fixed-width cells: one per column that holds only codes (the
    usual digest or id column; per-cell commands are costly), else one per cell."""
    by_column: dict[int, list[int]] = {}
    for column, row in codes:
        by_column.setdefault(column, []).append(row)
    out: list[tuple[Any, ...]] = []
    for column, found in by_column.items():
        if rows > 1 and len(found) == rows - 1 and min(found) == 1:
            out.append(("FONT", (column, 1), (column, -1), CODE_FONT, CODE_SIZE, CODE_LEADING))
        else:
            out += [("FONT", (column, row), (column, row), CODE_FONT, CODE_SIZE, CODE_LEADING)
                    for row in found]
    return out


def _rows(rows: Sequence[Sequence[Cell]], widths: Sequence[float], pad: float, first: int,
          bold_columns: int, codes: list[tuple[int, int]]) -> list[list[str]]:
    return [[_cell(c, CELL_BOLD if j < bold_columns else CELL_FONT, widths[j] - 2 * pad,
                   (j, i), codes) for j, c in enumerate(row)]
            for i, row in enumerate(rows, start=first)]


def _padding(side: float) -> list[tuple[Any, ...]]:
    return [("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("TOPPADDING", (0, 0), (-1, -1), 2),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ("LEFTPADDING", (0, 0), (-1, -1), side),
            ("RIGHTPADDING", (0, 0), (-1, -1), side)]


def _data_table(node: Table) -> TableFlowable:
    """A full-width table that wraps every cell and repeats its header on each page."""
    widths = [BODY_WIDTH * f / sum(node.fractions) for f in node.fractions]
    commands: list[tuple[Any, ...]] = [
        ("FONT", (0, 0), (-1, 0), CELL_BOLD, CELL_SIZE, CELL_LEADING),
        ("FONT", (0, 1), (-1, -1), CELL_FONT, CELL_SIZE, CELL_LEADING),
        ("BACKGROUND", (0, 0), (-1, 0), HEADER_BG),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [None, ZEBRA_BG]),
        ("GRID", (0, 0), (-1, -1), 0.4, GRID),
        *_padding(3),
    ]
    for i in node.highlight:
        commands.append(("BACKGROUND", (0, i + 1), (-1, i + 1), HIGHLIGHT_BG))
    codes: list[tuple[int, int]] = []
    body = _rows([node.header], widths, 3, 0, len(node.header), codes)
    body += _rows(node.rows, widths, 3, 1, 0, codes)
    table = TableFlowable(body, colWidths=widths, repeatRows=1, hAlign="LEFT", splitInRow=1)
    table.setStyle(TableStyle(commands + _code_fonts(codes, len(body))))
    return table


def _kv_table(node: KeyValue) -> TableFlowable:
    """A two-column key/value table without a header row."""
    widths = [BODY_WIDTH * node.key_fraction, BODY_WIDTH * (1 - node.key_fraction)]
    commands: list[tuple[Any, ...]] = [
        ("FONT", (0, 0), (0, -1), CELL_BOLD, CELL_SIZE, CELL_LEADING),
        ("FONT", (1, 0), (1, -1), CELL_FONT, CELL_SIZE, CELL_LEADING),
        ("GRID", (0, 0), (-1, -1), 0.4, GRID),
        ("BACKGROUND", (0, 0), (0, -1), HEADER_BG),
        *_padding(6),
    ]
    codes: list[tuple[int, int]] = []
    body = _rows(node.pairs, widths, 6, 0, 1, codes)
    table = TableFlowable(body, colWidths=widths, hAlign="LEFT", splitInRow=1)
    table.setStyle(TableStyle(commands + _code_fonts(codes, 0)))
    return table


def _warning_box(node: WarningBox) -> TableFlowable:
    box = TableFlowable([[_text(p)] for p in node.children], colWidths=[BODY_WIDTH])
    box.setStyle(TableStyle([
        ("BOX", (0, 0), (-1, -1), 1.5, RED),
        ("BACKGROUND", (0, 0), (-1, -1), WARNING_BG),
        # A table sets its cell font even when the cells are flowables: not Helvetica, which
        # is not embedded (PDF/A wants every font used embedded).
        ("FONT", (0, 0), (-1, -1), CELL_FONT, CELL_SIZE, CELL_LEADING),
        ("TOPPADDING", (0, 0), (-1, -1), 4),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
    ]))
    return box


def _text(node: Para) -> Text:
    return Text(node.text, STYLES[node.style])


def flowable(node: Node) -> Flowable:
    """One node as a ReportLab flowable."""
    if isinstance(node, Para):
        return _text(node)
    if isinstance(node, Heading):
        return Text(node.text, STYLES[f"h{node.level}"])
    if isinstance(node, Code):
        return CodeFlowable(node.text)
    if isinstance(node, Table):
        return _data_table(node)
    if isinstance(node, KeyValue):
        return _kv_table(node)
    if isinstance(node, Keep):
        return KeepTogether(flowables(node.children))
    if isinstance(node, Gap):
        return Spacer(1, node.height)
    if isinstance(node, PageBreak):
        return BreakFlowable()
    if isinstance(node, GroupChartNode):
        return GroupChart(node.summary)
    if isinstance(node, VersionChartNode):
        return VersionChart(node.metric, node.items)
    return _warning_box(node)


def flowables(nodes: Iterable[Node]) -> list[Flowable]:
    """A story of nodes as ReportLab flowables."""
    return [flowable(node) for node in nodes]
