"""Per-group disparity figures: hand-computed cases, edge cases, errors and properties."""

from __future__ import annotations

import ast
import inspect
import random
from decimal import Context, Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.tracking import groups as groups_module
from app.tracking.groups import (
    DEFAULT_BAND,
    DEFAULT_MIN_N,
    GroupFigure,
    GroupSummary,
    GroupSummaryError,
    GroupValue,
    format_decimal,
    summarize,
)

EXACT = Context(prec=200)


def gv(group: str, value: str, n: int | None = 100) -> GroupValue:
    return GroupValue(group=group, value=value, n=n)


def by_name(summary: GroupSummary) -> dict[str, GroupFigure]:
    return {f.group: f for f in summary.groups}


# Hand-computed figures


def test_worked_example_from_reference_doc() -> None:
    s = summarize("race", [gv("B", "0.42"), gv("A", "0.60")])
    assert s.reference == "A"
    assert s.reference_rule == "highest_value"
    a, b = s.groups
    assert (a.group, a.ratio, a.difference, a.is_reference, a.flags) == ("A", "1", "0", True, ())
    assert (b.ratio, b.difference, b.is_reference) == ("0.7", "-0.18", False)
    assert b.flags == ("ratio_out_of_band",)
    assert s.flagged == ("B",)
    assert s.min_max_ratio == "0.7"
    assert s.max_difference == "0.18"
    assert s.band == ("0.8", "1.25")
    assert s.min_n == DEFAULT_MIN_N
    assert s.attribute == "race"


def test_three_groups_with_a_named_reference() -> None:
    s = summarize("sex", [gv("X", "0.65"), gv("F", "0.45"), gv("M", "0.5")], reference="M")
    assert s.reference == "M"
    assert s.reference_rule == "requested"
    assert [f.group for f in s.groups] == ["F", "M", "X"]
    f, m, x = s.groups
    assert (f.ratio, f.difference, f.flags) == ("0.9", "-0.05", ())
    assert (m.ratio, m.difference, m.is_reference) == ("1", "0", True)
    assert (x.ratio, x.difference, x.flags) == ("1.3", "0.15", ("ratio_out_of_band",))
    assert s.min_max_ratio == "0.692308"  # 0.45 / 0.65 = 0.6923076923…
    assert s.max_difference == "0.2"
    assert s.flagged == ("X",)


def test_values_are_returned_as_stored() -> None:
    s = summarize("sex", [gv("F", "0.60"), gv("M", "6E-1", n=None)])
    assert [f.value for f in s.groups] == ["0.60", "6E-1"]
    assert [f.n for f in s.groups] == [100, None]
    assert s.groups[1].difference == "0"


# Band edges and flags


@pytest.mark.parametrize(
    ("value", "ratio", "flagged"),
    [
        ("0.4", "0.8", False),
        ("0.625", "1.25", False),
        ("0.399999", "0.799998", True),
        ("0.625001", "1.250002", True),
        ("0.5", "1", False),
    ],
)
def test_band_edges_are_inclusive(value: str, ratio: str, flagged: bool) -> None:
    s = summarize("a", [gv("g", value), gv("ref", "0.5")], reference="ref")
    g = by_name(s)["g"]
    assert g.ratio == ratio
    assert ("ratio_out_of_band" in g.flags) is flagged


def test_flags_use_the_unrounded_ratio() -> None:
    s = summarize("a", [gv("g", "0.79999999"), gv("ref", "1")])
    g = by_name(s)["g"]
    assert g.ratio == "0.8"
    assert g.flags == ("ratio_out_of_band",)


def test_custom_band() -> None:
    band = (Decimal("0.90"), Decimal("1.10"))
    s = summarize("a", [gv("g", "0.85"), gv("h", "0.9"), gv("ref", "1")], band=band)
    assert s.band == ("0.9", "1.1")
    assert s.flagged == ("g",)


def test_band_not_containing_one_flags_the_reference_too() -> None:
    s = summarize("a", [gv("g", "1"), gv("ref", "1")], band=(Decimal("1.1"), Decimal("2")))
    assert s.flagged == ("g", "ref")


@pytest.mark.parametrize(
    ("n", "min_n", "flags"),
    [
        (29, 30, ("small_n",)),
        (30, 30, ()),
        (0, 30, ("small_n",)),
        (9, 10, ("small_n",)),
        (10, 10, ()),
        (0, 0, ()),
        (None, 30, ("n_unknown",)),
    ],
)
def test_small_n(n: int | None, min_n: int, flags: tuple[str, ...]) -> None:
    s = summarize("a", [gv("g", "0.5", n), gv("ref", "0.5", 1000)], min_n=min_n)
    assert by_name(s)["g"].flags == flags
    assert s.min_n == min_n
    assert s.flagged == (("g",) if flags else ())


def test_both_flags_and_their_wording() -> None:
    s = summarize("a", [gv("g", "0.3", 12), gv("ref", "0.5")])
    assert by_name(s)["g"].flags == ("ratio_out_of_band", "small_n")
    assert s.notes == (
        "group 'g': flag for review (ratio 0.6 outside the band 0.8 to 1.25; n 12 below 30)",
    )


def test_notes_never_say_compliant() -> None:
    values = [gv("a", "0.1", 5), gv("b", "NaN", None), gv("c", "0.5"), gv("d", "0")]
    s = summarize("a", values)
    assert s.notes
    assert not any("compliant" in note.lower() for note in s.notes)
    assert all("flag for review" in note for note in s.notes if note.startswith("group 'a'"))


# Non-finite values and zero denominators


def test_nan_group_is_undefined_and_ignored_for_the_reference() -> None:
    s = summarize("a", [gv("A", "NaN"), gv("B", "0.5"), gv("C", "0.4")])
    assert s.reference == "B"
    a, b, c = s.groups
    assert (a.ratio, a.difference, a.flags) == (None, None, ("ratio_undefined",))
    assert (c.ratio, c.difference) == ("0.8", "-0.1")
    assert s.min_max_ratio is None
    assert s.max_difference is None
    assert any("'A' has value NaN" in note for note in s.notes)
    assert any("min/max ratio and max difference are undefined" in note for note in s.notes)
    assert "A" in s.flagged


@pytest.mark.parametrize("value", ["Infinity", "+Infinity", "-Infinity"])
def test_infinite_group_is_undefined(value: str) -> None:
    s = summarize("a", [gv("A", value), gv("B", "0.5"), gv("C", "0.45")])
    assert s.reference == "B"
    a = by_name(s)["A"]
    assert (a.value, a.ratio, a.difference) == (value, None, None)
    assert by_name(s)["C"].ratio == "0.9"
    assert s.min_max_ratio is None
    assert any("not considered for the reference: A" in note for note in s.notes)


def test_requested_nan_reference_makes_everything_undefined() -> None:
    s = summarize("a", [gv("A", "NaN"), gv("B", "0.5")], reference="A")
    assert s.reference == "A"
    assert all(f.ratio is None and f.difference is None for f in s.groups)
    assert s.flagged == ("A", "B")
    assert "reference 'A' has value NaN: all ratios and differences are undefined" in s.notes


def test_all_values_nan_chooses_by_name() -> None:
    s = summarize("a", [gv("B", "NaN"), gv("A", "NaN")])
    assert (s.reference, s.reference_rule) == ("A", "highest_value")
    assert any("no group has a finite value" in note for note in s.notes)


def test_zero_reference_gives_no_ratios_but_differences() -> None:
    s = summarize("a", [gv("A", "0.2"), gv("B", "0"), gv("C", "0.5")], reference="B")
    assert [f.ratio for f in s.groups] == [None, None, None]
    assert [f.difference for f in s.groups] == ["0.2", "0", "0.5"]
    assert s.min_max_ratio == "0"
    assert s.max_difference == "0.5"
    assert any("zero denominator" in note for note in s.notes)


def test_all_zero_values() -> None:
    s = summarize("a", [gv("B", "0.000"), gv("A", "-0")])
    assert s.reference == "A"
    assert [f.difference for f in s.groups] == ["0", "0"]
    assert s.min_max_ratio is None
    assert s.max_difference == "0"
    assert any("tie for the highest value" in note for note in s.notes)
    assert "min/max ratio is undefined: the highest value is 0" in s.notes


def test_ties_go_to_the_smallest_name() -> None:
    s = summarize("a", [gv("C", "0.50"), gv("B", "0.5"), gv("A", "0.3")])
    assert s.reference == "B"
    assert "groups B, C tie for the highest value; 'B' is the reference" in s.notes
    assert by_name(s)["C"].ratio == "1"
    assert not by_name(s)["C"].is_reference


def test_single_group() -> None:
    s = summarize("a", [gv("only", "0.3")])
    assert s.reference == "only"
    assert (s.groups[0].ratio, s.min_max_ratio, s.max_difference) == ("1", "1", "0")


def test_negative_reference_value() -> None:
    s = summarize("a", [gv("A", "-0.5"), gv("B", "-1")], reference="B")
    assert by_name(s)["A"].ratio == "0.5"
    assert by_name(s)["A"].difference == "0.5"
    assert s.min_max_ratio == "2"


# Decimal arithmetic and formatting


def test_no_binary_float_artefacts() -> None:
    s = summarize("a", [gv("A", "0.1"), gv("B", "0.2")])
    assert by_name(s)["A"].difference == "-0.1"
    assert by_name(s)["A"].ratio == "0.5"
    assert s.max_difference == "0.1"
    s = summarize("a", [gv("A", "0.3"), gv("B", "0.1")], reference="B")
    assert by_name(s)["A"].ratio == "3"
    assert by_name(s)["A"].difference == "0.2"


@pytest.mark.parametrize(
    ("value", "ratio", "difference"),
    [("2", "0.666667", "-1"), ("1", "0.333333", "-2"), ("4", "1.333333", "1")],
)
def test_rounding_to_six_places(value: str, ratio: str, difference: str) -> None:
    s = summarize("a", [gv("g", value), gv("ref", "3")], reference="ref")
    g = by_name(s)["g"]
    assert (g.ratio, g.difference) == (ratio, difference)


@pytest.mark.parametrize(
    ("value", "ratio", "difference"),
    [
        ("0.0000025", "0.000002", "-0.999998"),  # ties go to the even last digit
        ("0.0000035", "0.000004", "-0.999996"),
        ("0.0000005", "0", "-1"),  # -0.9999995 rounds to -1.000000
        ("1.0000004", "1", "0"),
        ("-0.0000004", "0", "-1"),
    ],
)
def test_half_even_rounding(value: str, ratio: str, difference: str) -> None:
    s = summarize("a", [gv("g", value), gv("ref", "1")], reference="ref")
    g = by_name(s)["g"]
    assert (g.ratio, g.difference) == (ratio, difference)


def test_large_and_small_magnitudes_print_positionally() -> None:
    s = summarize("a", [gv("g", "1E+6"), gv("ref", "1E-6")], reference="ref")
    assert by_name(s)["g"].ratio == "1000000000000"
    assert by_name(s)["g"].difference == "999999.999999"
    assert s.min_max_ratio == "0"


@pytest.mark.parametrize(
    ("d", "text"),
    [
        ("0.000000", "0"),
        ("-0", "0"),
        ("-0.000", "0"),
        ("0E+5", "0"),
        ("1E+3", "1000"),
        ("1.500", "1.5"),
        ("100", "100"),
        ("-0.0000001", "-0.0000001"),
        ("1.2345678901234567890123456789012345", "1.2345678901234567890123456789012345"),
        ("NaN", "NaN"),
        ("-NaN", "NaN"),
        ("Infinity", "Infinity"),
        ("-Infinity", "-Infinity"),
    ],
)
def test_format_decimal(d: str, text: str) -> None:
    assert format_decimal(Decimal(d)) == text


def test_module_uses_no_floats() -> None:
    tree = ast.parse(inspect.getsource(groups_module))
    for node in ast.walk(tree):
        assert not (isinstance(node, ast.Constant) and isinstance(node.value, float))
        assert not (isinstance(node, ast.Name) and node.id == "float")
        if isinstance(node, ast.ImportFrom) and node.module == "app.tracking.decimals":
            # the decimal grammar's two tables only (its wire parser takes floats; these don't)
            assert {alias.name for alias in node.names} <= {"FINITE", "NON_FINITE"}
        elif isinstance(node, ast.ImportFrom):
            assert node.module in {"__future__", "re", "collections.abc", "dataclasses", "decimal"}


# Errors


def test_empty_values() -> None:
    with pytest.raises(GroupSummaryError, match="no group values"):
        summarize("a", [])


def test_duplicate_groups() -> None:
    with pytest.raises(GroupSummaryError, match="duplicate group 'F'"):
        summarize("sex", [gv("F", "0.5"), gv("M", "0.5"), gv("F", "0.4")])


def test_unknown_reference_names_the_available_groups() -> None:
    with pytest.raises(GroupSummaryError, match="'X'.*'sex': F, M$"):
        summarize("sex", [gv("M", "0.5"), gv("F", "0.4")], reference="X")


@pytest.mark.parametrize(
    "band",
    [
        (Decimal("0"), Decimal("1.25")),
        (Decimal("-0.8"), Decimal("1.25")),
        (Decimal("1.3"), Decimal("1.25")),
        (Decimal("NaN"), Decimal("1.25")),
        (Decimal("0.8"), Decimal("Infinity")),
        (0.8, 1.25),
    ],
)
def test_bad_band(band: tuple[Decimal, Decimal]) -> None:
    with pytest.raises(GroupSummaryError, match="band"):
        summarize("a", [gv("g", "0.5")], band=band)


def test_band_low_equal_high_is_allowed() -> None:
    s = summarize("a", [gv("g", "0.5"), gv("h", "1")], band=(Decimal(1), Decimal(1)))
    assert s.flagged == ("g",)


@pytest.mark.parametrize(
    "value",
    ["abc", "", " 0.5", "0.5 ", "1_0", "nan", "sNaN", "inf", "-NaN", "0x1", "1e", "."],
)
def test_bad_value_strings(value: str) -> None:
    with pytest.raises(GroupSummaryError, match="'g'"):
        summarize("a", [gv("g", value)])


@pytest.mark.parametrize("value", ["1E+1001", "1E-1001", "1E+99999999999999999999"])
def test_values_out_of_range(value: str) -> None:
    with pytest.raises(GroupSummaryError, match="outside"):
        summarize("a", [gv("g", value)])


@pytest.mark.parametrize("value", ["1E+1000", "1E-1000", "0E+99999", ".5", "5.", "+1", "2e-3"])
def test_accepted_value_spellings(value: str) -> None:
    assert summarize("a", [gv("g", value)]).reference == "g"


def test_negative_n_and_min_n() -> None:
    with pytest.raises(GroupSummaryError, match="n must be"):
        summarize("a", [gv("g", "0.5", -1)])
    with pytest.raises(GroupSummaryError, match="min_n"):
        summarize("a", [gv("g", "0.5")], min_n=-1)


def test_error_is_a_value_error() -> None:
    assert issubclass(GroupSummaryError, ValueError)
    assert DEFAULT_BAND == (Decimal("0.8"), Decimal("1.25"))


# Properties


def decimals_6dp(low: str) -> st.SearchStrategy[Decimal]:
    return st.decimals(
        min_value=Decimal(low),
        max_value=Decimal("1000"),
        places=6,
        allow_nan=False,
        allow_infinity=False,
    )


values_6dp = decimals_6dp("-1000")
non_negative = decimals_6dp("0")


def group_values(elements: st.SearchStrategy[Decimal]) -> st.SearchStrategy[list[GroupValue]]:
    names = st.lists(st.text(min_size=1, max_size=4), min_size=1, max_size=6, unique=True)
    return names.flatmap(
        lambda ns: st.lists(elements, min_size=len(ns), max_size=len(ns)).map(
            lambda vs: [gv(n, str(v)) for n, v in zip(ns, vs, strict=True)]
        )
    )


def printed_figures(s: GroupSummary) -> list[str]:
    out = [t for f in s.groups for t in (f.ratio, f.difference) if t is not None]
    return out + [t for t in (s.min_max_ratio, s.max_difference) if t is not None]


@settings(deadline=None)  # speed is measured in bench/, not asserted here
@given(group_values(values_6dp), st.data())
def test_reference_ratio_is_one(values: list[GroupValue], data: st.DataObject) -> None:
    requested = data.draw(st.none() | st.sampled_from([v.group for v in values]))
    s = summarize("a", values, reference=requested)
    ref = by_name(s)[s.reference]
    assert ref.is_reference
    assert sum(f.is_reference for f in s.groups) == 1
    assert ref.difference == "0"
    assert ref.ratio == (None if Decimal(ref.value) == 0 else "1")
    if requested is None:
        assert Decimal(ref.value) == max(Decimal(v.value) for v in values)


@settings(deadline=None)  # speed is measured in bench/, not asserted here
@given(group_values(non_negative))
def test_min_max_ratio_at_most_one(values: list[GroupValue]) -> None:
    s = summarize("a", values)
    if s.min_max_ratio is not None:
        assert Decimal(0) <= Decimal(s.min_max_ratio) <= 1
    assert s.max_difference is not None and Decimal(s.max_difference) >= 0


@settings(deadline=None)  # speed is measured in bench/, not asserted here
@given(group_values(values_6dp))
def test_ratio_times_reference_recovers_value(values: list[GroupValue]) -> None:
    s = summarize("a", values)
    m_r = Decimal(by_name(s)[s.reference].value)
    half_quantum = Decimal("0.0000005")
    for f in s.groups:
        if f.ratio is None:
            continue
        m_g = Decimal(f.value)
        error = EXACT.subtract(EXACT.multiply(Decimal(f.ratio), m_r), m_g).copy_abs()
        slack = EXACT.multiply(abs(m_r), half_quantum + abs(Decimal(f.ratio)) * Decimal("1E-27"))
        assert error <= slack


@settings(deadline=None)  # speed is measured in bench/, not asserted here
@given(group_values(values_6dp))
def test_differences_are_exact_and_flags_follow_the_exact_ratio(values: list[GroupValue]) -> None:
    s = summarize("a", values)
    m_r = Fraction(Decimal(by_name(s)[s.reference].value))
    low, high = (Fraction(b) for b in DEFAULT_BAND)
    for f in s.groups:
        m_g = Fraction(Decimal(f.value))
        assert f.difference is not None and Fraction(Decimal(f.difference)) == m_g - m_r
        if m_r == 0:
            assert f.ratio is None and "ratio_undefined" in f.flags
        else:
            outside = not low <= m_g / m_r <= high
            assert ("ratio_out_of_band" in f.flags) is outside
        assert (f.group in s.flagged) is bool(f.flags)


@settings(deadline=None)  # speed is measured in bench/, not asserted here
@given(group_values(values_6dp), st.randoms())
def test_printed_figures_are_normalised_and_order_free(
    values: list[GroupValue], rnd: random.Random
) -> None:
    s = summarize("a", values)
    shuffled = list(values)
    rnd.shuffle(shuffled)
    assert summarize("a", shuffled) == s
    assert [f.group for f in s.groups] == sorted(v.group for v in values)
    for text in printed_figures(s):
        assert "E" not in text and "e" not in text and text != "-0"
        if "." in text:
            assert not text.endswith("0") and len(text.split(".")[1]) <= 6
        assert Decimal(text) == Decimal(text).quantize(Decimal("0.000001"), context=EXACT)


@settings(deadline=None)  # speed is measured in bench/, not asserted here
@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**30), max_value=10**30))
def test_format_decimal_round_trips(d: Decimal) -> None:
    text = format_decimal(d)
    assert Decimal(text) == d
    assert "E" not in text and text != "-0"
    assert text == "0" or "." not in text or not text.endswith("0")
