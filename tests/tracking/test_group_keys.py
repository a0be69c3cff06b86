"""The MLflow metric-key convention for groups: strict parsing, one spelling per group."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.tracking import group_keys
from app.tracking.group_keys import GroupedKey, ReadKey


@pytest.mark.parametrize(("key", "expected"), [
    ("selection_rate[sex=F]", GroupedKey("selection_rate", {"sex": "F"})),
    ("selection_rate[sex=F;n=412]", GroupedKey("selection_rate", {"sex": "F"}, 412)),
    ("selection_rate[age_band=40-49,sex=F]",
     GroupedKey("selection_rate", {"age_band": "40-49", "sex": "F"})),
    ("eval/tpr[race=black;n=0]", GroupedKey("eval/tpr", {"race": "black"}, 0)),
    ("my metric[age=<30]", GroupedKey("my metric", {"age": "<30"})),
    ("auc[région=Île-de-France]", None),  # attributes are ASCII, as in the native API
    ("auc[region=Île-de-France]", GroupedKey("auc", {"region": "Île-de-France"})),
])
def test_well_formed_keys_parse(key: str, expected: GroupedKey | None) -> None:
    assert group_keys.parse(key) == expected


@pytest.mark.parametrize("key", [
    "selection_rate",  # plain
    "selection_rate[]", "selection_rate[sex]", "selection_rate[sex=]", "selection_rate[=F]",
    "selection_rate[sex=F,age_band=40-49]",  # not in canonical (sorted) order
    "selection_rate[sex=F,sex=M]",  # duplicate attribute
    "selection_rate[sex=F;n=]", "selection_rate[sex=F;n=01]", "selection_rate[sex=F;n=-1]",
    "selection_rate[sex=F;n=9007199254740992]",  # above 2**53 - 1
    "selection_rate[sex=F;m=3]", "selection_rate[sex=F]x", "selection_rate[sex=F][a=b]",
    "[sex=F]", "/abs[sex=F]", "a/../b[sex=F]", "a//b[sex=F]",
    "rate[sex=F M]", "rate[sex=F,]", "rate[a=1,b=2,c=3,d=4,e=5,f=6,g=7,h=8,i=9]",
    "r" * 240 + "[sex=F;n=1]",  # longer than 250 characters
])
def test_malformed_or_plain_keys_do_not_parse(key: str) -> None:
    assert group_keys.parse(key) is None


def test_malformed_keys_are_still_storable_plain_keys() -> None:
    assert group_keys.plain_key_ok("selection_rate[sex=F,age_band=40-49]")
    assert group_keys.uses_convention("selection_rate[sex")
    assert not group_keys.uses_convention("selection_rate")
    assert not group_keys.plain_key_ok("../x[a=b]")
    assert not group_keys.plain_key_ok("rate{sex=F}")  # outside MLflow's and our characters


def test_spell_is_the_inverse_of_parse() -> None:
    assert group_keys.spell("loss", None) == "loss"
    assert group_keys.spell("rate", {"sex": "F", "age_band": "40-49"}, 12) == \
        "rate[age_band=40-49,sex=F;n=12]"


def test_a_group_reads_back_under_one_key_and_its_n_under_a_companion() -> None:
    assert group_keys.spell("rate", {"sex": "F"}) == "rate[sex=F]"
    assert group_keys.n_key("rate", {"sex": "F", "age_band": "40-49"}) == \
        "rate[age_band=40-49,sex=F;n]"
    assert group_keys.read_key("rate[sex=F]") == ReadKey("rate", {"sex": "F"})
    assert group_keys.read_key("rate[sex=F;n=412]") == ReadKey("rate", {"sex": "F"})
    assert group_keys.read_key("rate[sex=F;n]") == ReadKey("rate", {"sex": "F"}, n_of=True)
    assert group_keys.read_key("rate") == ReadKey("rate")
    for plain in ("rate[b=1,a=2;n]", "rate[sex=F;n=3;n]", "rate[sex=F;n]x", "rate;n]"):
        assert group_keys.read_key(plain) == ReadKey(plain)
        assert group_keys.parse_n_key(plain) is None


@pytest.mark.parametrize(("key", "shaped"), [
    ("rate[sex=F;n]", True), ("rate[b=1,a=2;n]", True), ("x[;n]", True),
    ("rate[sex=F;n=3]", False), ("rate[sex=F]", False), ("rate;n]", False),
    ("rate[a][b;n]", False), ("rate[sex=F;n]x", False), ("rate", False),
])
def test_companion_shaped_keys_are_recognised(key: str, shaped: bool) -> None:
    assert group_keys.companion_shaped(key) is shaped


_attribute = st.from_regex(r"[A-Za-z0-9_.\-]{1,12}", fullmatch=True)
_value = st.from_regex(r"[A-Za-z0-9_.\-+:/<>]{1,12}", fullmatch=True)
_base = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.\- :]{0,30}", fullmatch=True).filter(
    lambda k: group_keys.base_key_ok(k))


@given(_base, st.dictionaries(_attribute, _value, min_size=1, max_size=8),
       st.none() | st.integers(0, 2**53 - 1))
def test_round_trip(base: str, group: dict[str, str], n: int | None) -> None:
    key = group_keys.spell(base, group, n)
    assert group_keys.parse(key) == GroupedKey(base, group, n)
    assert group_keys.spell(base, group, n) == key
    assert group_keys.read_key(key) == ReadKey(base, group)
    companion = group_keys.n_key(base, group)
    assert group_keys.read_key(companion) == ReadKey(base, group, n_of=True)
    assert group_keys.companion_shaped(companion) and not group_keys.companion_shaped(key)


@given(st.text(max_size=60))
def test_parse_never_raises_and_only_accepts_canonical_spellings(text: str) -> None:
    parsed = group_keys.parse(text)
    if parsed is not None:
        assert group_keys.spell(parsed.key, parsed.group, parsed.n) == text
