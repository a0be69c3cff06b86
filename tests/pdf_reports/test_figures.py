"""Display rounding from decimal strings: 4 significant digits, no float, the rule once."""

from __future__ import annotations

import dataclasses

import pytest
from model_factory import make_model_evidence
from report_factory import make_run

from reports import GateEvidence, MetricEvidence
from reports.appendix_figures import HEADER, model_figures, run_figures
from reports.figures import (
    ROUNDING_RULE,
    UNDEFINED,
    count,
    figure,
    full,
    is_rounded,
    threshold,
)
from reports.gate_text import gate_figures, gate_figures_text


@pytest.mark.parametrize(("stored", "shown"), [
    ("0.8083333333333333", "0.8083"),
    ("1", "1"),
    ("0", "0"),
    ("-0", "0"),
    ("-0.000", "0"),
    ("-0.8083333333333333", "-0.8083"),
    ("0.00012345", "0.0001234"),  # half to even: ...45 -> ...4
    ("0.00012355", "0.0001236"),  # half to even: ...55 -> ...6
    ("123456.7", "123457"),  # integer digits are never replaced by zeros
    ("-123456.5", "-123456"),  # half to even on a whole number
    ("1234.567", "1235"),
    ("9.99996", "10.00"),  # rounding up adds no fifth digit
    ("0.80001", "0.8000"),  # a rounded value keeps its significant zeros
    ("0.8", "0.8"),  # an exact value is shown as it is
    ("0.50", "0.5"),
    ("12345678", "12345678"),  # an integer-valued string is unchanged
    ("1E+3", "1000"),
    ("0.000001234567", "0.000001235"),  # still positional at 10^-6
    ("0.0000001234567", "1.235 × 10^-7"),  # below 10^-6: a power of ten
    ("1.23456e18", "1.235 × 10^18"),  # 10^15 and above: a power of ten
    ("999999999999999.7", "1.000 × 10^15"),
    ("999999999999999.4", "999999999999999"),
    ("NaN", "NaN"),
    ("Infinity", "Infinity"),
    ("-Infinity", "-Infinity"),
    ("not a number", "not a number"),
])
def test_figures_are_shown_to_four_significant_digits(stored: str, shown: str) -> None:
    assert figure(stored) == shown


def test_no_float_is_involved() -> None:
    """A value a binary float cannot hold exactly still rounds exactly (float gives 0.1235)."""
    assert figure("0.12345") == "0.1234"
    assert figure("2.675") == "2.675"
    assert figure("0.1000000000000000055511151231257827") == "0.1000"


def test_undefined_and_integers() -> None:
    assert figure(None) == UNDEFINED == "undefined"
    assert full(None) == UNDEFINED
    assert count(12) == "12" and count(1234567) == "1234567" and count(0) == "0"
    assert count(None) == "not recorded" and count(None, "unknown") == "unknown"


def test_is_rounded_tells_what_the_appendix_must_give_in_full() -> None:
    assert is_rounded("0.8083333333333333") and is_rounded("123456.7")
    assert not is_rounded("0.8") and not is_rounded("0") and not is_rounded(None)
    assert not is_rounded("NaN") and not is_rounded("12345678")
    assert full("0.8083333333333333") == "0.8083333333333333"


def test_thresholds_are_never_rounded() -> None:
    assert threshold("0.8", ratio=True) == "0.80"
    assert threshold("1.25", ratio=True) == "1.25"
    assert threshold("0.812345", ratio=True) == "0.812345"
    assert threshold("1", ratio=True) == "1.00"
    assert threshold("0.75") == "0.75" and threshold("1000") == "1000"
    assert threshold("0.05123456") == "0.05123456"


def test_the_rule_is_one_sentence() -> None:
    assert ROUNDING_RULE.startswith("Figures are shown to 4 significant digits")
    assert "full precision is in Appendix A and in the evidence bundle" in ROUNDING_RULE


def test_gate_figures_are_named_and_rounded() -> None:
    gate = GateEvidence("fairness:selection_rate/sex/min_max_ratio", False, "detail", (
        ("metric", "selection_rate"), ("attribute", "sex"), ("at_least", "0.8"),
        ("min_n", "30"), ("reference", "male"), ("min_max_ratio", "0.6612903225806452"),
        ("max_difference", None), ("value:female", "0.6200000001"),
        ("ratio:female", "0.953846"), ("n:female", "480"), ("n:nonbinary", None)), 9)
    assert gate_figures_text(gate) == (
        "metric selection_rate; attribute sex; at least 0.80; minimum n 30; reference male; "
        "min/max ratio 0.6613; max difference undefined; value female 0.6200; "
        "ratio to reference female 0.9538; n female 480; n nonbinary not recorded")


def test_gate_figures_keep_parameter_values_and_limits_exact() -> None:
    param = GateEvidence("required_param:learning_rate", True, "d",
                         (("name", "learning_rate"), ("value", "0.0123456789")), 9)
    assert gate_figures(param) == (("name", "learning_rate"), ("value", "0.0123456789"))
    limit = GateEvidence("minimum:auc", True, "d", (("metric", "auc"),
                                                    ("value", "0.86213333"),
                                                    ("at_least", "0.75")), 9)
    assert gate_figures_text(limit) == "metric auc; value 0.8621; at least 0.75"


def test_appendix_a_lists_every_rounded_figure_once() -> None:
    model, _ = make_model_evidence()
    rows = model_figures(model)
    assert all(len(row) == len(HEADER) for row in rows)
    assert all(row[2] != row[3] for row in rows)  # only figures the body rounds
    assert {row[0] for row in rows} == {"Version 1", "Version 2", "Version 3"}
    ratio = next(r for r in rows if r[1] == "selection_rate by sex: nonbinary ratio to female")
    assert ratio[0] == "Version 1" and ratio[2] == figure(ratio[3]) and ratio[4].isdigit()
    shared = dataclasses.replace(model.versions[2], run=model.versions[1].run)
    model = dataclasses.replace(model, versions=(*model.versions[:2], shared))
    assert {row[0] for row in model_figures(model)} == {"Version 1", "Versions 2, 3"}
    run = make_run(0, metrics=(MetricEvidence("auc", "0.8083333333333333", 1, "t", 5),))
    assert run_figures(run)[0] == ("Run", "auc", "0.8083", "0.8083333333333333", "5")
