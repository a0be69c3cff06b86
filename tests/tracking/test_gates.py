"""Policy gates: validation, every gate passing and failing, exact figures and properties."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.tracking import gates as gates_module
from app.tracking.gates import (
    Evaluation,
    Evidence,
    GateResult,
    GroupedValue,
    PolicyError,
    evaluate,
    validate_policy,
)

DIGEST = "3f" * 32
OTHER_DIGEST = "0a" * 32
FULL_POLICY: dict[str, Any] = {
    "required_params": ["lr"],
    "required_tags": ["team"],
    "required_dataset_contexts": ["training", "test"],
    "require_group_metrics": ["selection_rate"],
    "fairness": [
        {"metric": "selection_rate", "attribute": "sex", "min_max_ratio_at_least": "0.8"},
        {
            "metric": "tpr",
            "attribute": "race",
            "reference": "white",
            "band": ["0.8", "1.25"],
            "min_n": 30,
        },
    ],
    "minimums": [{"metric": "auc", "at_least": "0.75"}],
    "maximums": [{"metric": "fpr", "at_most": "0.1"}],
}


def g(value: str, n: int | None = 100, **group: str) -> GroupedValue:
    return GroupedValue(group=group, value=value, n=n)


def realistic_evidence() -> Evidence:
    """A credit model that satisfies FULL_POLICY."""
    return Evidence(
        params={"lr": "0.01", "max_depth": "6"},
        tags={"team": "credit-risk", "mlaudit.note": ""},
        datasets=[
            ("credit-train-2024q4", DIGEST, "training"),
            ("credit-holdout-2024q4", OTHER_DIGEST, "test"),
        ],
        metrics={"auc": "0.81", "fpr": "0.07", "accuracy": "0.88"},
        grouped={
            "selection_rate": [
                g("0.5", 4200, sex="F"),
                g("0.58", 4800, sex="M"),
                g("0.52", 1300, age_band="18-25"),
                g("0.55", 5000, age_band="26-60"),
                g("0.49", 2700, age_band="60+"),
                g("0.3", 40, sex="F", age_band="18-25"),
            ],
            "tpr": [
                g("0.72", 300, race="black"),
                g("0.8", 2000, race="white"),
                g("0.78", 250, race="asian"),
            ],
        },
        sensitive_attributes=["sex", "age_band"],
    )


def with_(evidence: Evidence, **changes: Any) -> Evidence:
    return dataclasses.replace(evidence, **changes)


def only(policy: Mapping[str, Any], evidence: Evidence) -> GateResult:
    evaluation = evaluate(policy, evidence)
    assert len(evaluation.results) == 1
    assert evaluation.passed is evaluation.results[0].passed
    return evaluation.results[0]


def selection(*values: GroupedValue) -> Evidence:
    return with_(realistic_evidence(), grouped={"selection_rate": list(values)})


MIN_MAX = {
    "fairness": [{"metric": "selection_rate", "attribute": "sex", "min_max_ratio_at_least": "0.8"}]
}


def band_policy(**extra: Any) -> dict[str, Any]:
    entry = {"metric": "tpr", "attribute": "race", "reference": "white", "band": ["0.8", "1.25"]}
    return {"fairness": [{**entry, **extra}]}


# Policy validation


def test_full_policy_normalises() -> None:
    policy = validate_policy(FULL_POLICY)
    assert policy["required_dataset_contexts"] == ["test", "training"]
    assert policy["fairness"][0]["min_max_ratio_at_least"] == "0.8"
    assert policy["fairness"][1] == {
        "metric": "tpr",
        "attribute": "race",
        "reference": "white",
        "band": ["0.8", "1.25"],
        "min_n": 30,
    }
    assert json.loads(json.dumps(policy)) == policy
    assert validate_policy(policy) == policy


def test_empty_policy_has_every_key() -> None:
    assert validate_policy({}) == {
        "required_params": [],
        "required_tags": [],
        "required_dataset_contexts": [],
        "require_group_metrics": [],
        "fairness": [],
        "minimums": [],
        "maximums": [],
    }


def test_lists_are_sorted_and_deduplicated_and_decimals_normalised() -> None:
    policy = validate_policy(
        {
            "required_params": ["seed", "lr", "seed"],
            "minimums": [
                {"metric": "recall", "at_least": "0.50"},
                {"metric": "auc", "at_least": "75E-2"},
            ],
            "maximums": [{"metric": "fpr", "at_most": "-0"}],
            "fairness": [
                {"metric": "tpr", "attribute": "sex", "reference": "M", "band": ["0.80", "1.250"]},
                {"metric": "fpr", "attribute": "sex", "min_max_ratio_at_least": ".9"},
            ],
        }
    )
    assert policy["required_params"] == ["lr", "seed"]
    assert policy["minimums"] == [
        {"metric": "auc", "at_least": "0.75"},
        {"metric": "recall", "at_least": "0.5"},
    ]
    assert policy["maximums"] == [{"metric": "fpr", "at_most": "0"}]
    assert [f["metric"] for f in policy["fairness"]] == ["fpr", "tpr"]
    assert policy["fairness"][0]["min_max_ratio_at_least"] == "0.9"
    assert policy["fairness"][1]["band"] == ["0.8", "1.25"]


def test_same_metric_and_attribute_with_both_forms_is_allowed() -> None:
    entries = [
        {"metric": "tpr", "attribute": "sex", "min_max_ratio_at_least": "0.8"},
        {"metric": "tpr", "attribute": "sex", "reference": "F", "band": ["0.8", "1.25"]},
        {"metric": "tpr", "attribute": "sex", "reference": "M", "band": ["0.8", "1.25"]},
    ]
    assert len(validate_policy({"fairness": entries})["fairness"]) == 3


def fairness(**entry: Any) -> dict[str, Any]:
    return {"fairness": [{"metric": "tpr", "attribute": "sex", **entry}]}


@pytest.mark.parametrize(
    ("document", "match"),
    [
        ({"required_param": ["lr"]}, r"policy: unknown key\(s\) required_param"),
        ({"minimums": [{"metric": "auc", "at_least": 0.75}]}, r"minimums\[0\]\.at_least.*0\.75"),
        # JSON numbers arrive as int or Decimal (never float) and are accepted; see
        # tests/test_protected_name_attacks.py. A float, a list or a bool is not a number here.
        ({"minimums": [{"metric": "auc", "at_least": [1]}]}, r"minimums\[0\]\.at_least"),
        ({"minimums": [{"metric": "auc", "at_least": True}]}, r"minimums\[0\]\.at_least"),
        ({"minimums": [{"metric": "auc", "at_least": "NaN"}]}, r"at_least.*not a finite"),
        ({"maximums": [{"metric": "fpr", "at_most": "Infinity"}]}, r"maximums\[0\]\.at_most"),
        ({"maximums": [{"metric": "fpr", "at_most": "0,1"}]}, r"maximums\[0\]\.at_most"),
        ({"maximums": [{"metric": "fpr", "at_most": " 0.1"}]}, r"maximums\[0\]\.at_most"),
        ({"maximums": [{"metric": "fpr", "at_most": "1E+5000"}]}, r"at_most.*outside"),
        ({"maximums": [{"metric": "fpr", "at_most": "1E+99999999999999999999"}]}, r"at_most"),
        ({"minimums": [{"metric": "auc"}]}, r"minimums\[0\]: missing at_least"),
        ({"minimums": [{"metric": "auc", "at_most": "1"}]}, r"minimums\[0\]: unknown key"),
        ({"minimums": [{"metric": "", "at_least": "0.7"}]}, r"minimums\[0\]\.metric"),
        ({"minimums": ["auc"]}, r"minimums\[0\]: must be an object"),
        ({"minimums": {"metric": "auc", "at_least": "0.7"}}, r"minimums: must be a list"),
        (
            {
                "minimums": [
                    {"metric": "auc", "at_least": "0.7"},
                    {"metric": "auc", "at_least": "0.8"},
                ]
            },
            r"minimums\[1\]: duplicate metric 'auc'",
        ),
        ({"required_params": "lr"}, r"required_params: must be a list"),
        ({"required_params": ["lr", 3]}, r"required_params\[1\]: must be a string"),
        ({"required_tags": [""]}, r"required_tags\[0\]"),
        ({"required_tags": ["   "]}, r"required_tags\[0\]"),
        ({"required_tags": [" team"]}, r"required_tags\[0\]"),
        ({"required_tags": ["t" * 251]}, r"required_tags\[0\].*250"),
        ({"require_group_metrics": [None]}, r"require_group_metrics\[0\]"),
        ({"required_dataset_contexts": ["traning"]}, r"required_dataset_contexts.*'traning'"),
        ({"fairness": [{"metric": "tpr"}]}, r"fairness\[0\]: missing attribute"),
        (fairness(metric=""), r"fairness\[0\]\.metric"),
        (fairness(attribute=""), r"fairness\[0\]\.attribute"),
        (fairness(), r"fairness\[0\]: needs min_max_ratio_at_least, or reference with band"),
        (fairness(reference="M"), r"fairness\[0\]: needs"),
        (fairness(band=["0.8", "1.25"]), r"fairness\[0\]: needs"),
        (
            fairness(min_max_ratio_at_least="0.8", reference="M", band=["0.8", "1.25"]),
            r"fairness\[0\]: use min_max_ratio_at_least or reference with band, not both",
        ),
        (fairness(min_max_ratio_at_least=0.8), r"fairness\[0\]\.min_max_ratio_at_least"),
        (fairness(min_max_ratio_at_least="0"), r"min_max_ratio_at_least: must be greater than 0"),
        (fairness(min_max_ratio_at_least="1.01"), r"min_max_ratio_at_least: .*at most 1"),
        (fairness(min_max_ratio_at_least="0.8000001"), r"min_max_ratio_at_least: at most 6"),
        (fairness(reference="M", band=["0.8"]), r"fairness\[0\]\.band: must be \[low, high\]"),
        (fairness(reference="M", band="0.8"), r"fairness\[0\]\.band: must be a list"),
        (fairness(reference="M", band=[0.8, 1.25]), r"fairness\[0\]\.band\[0\]"),
        (fairness(reference="M", band=["0.8", "Infinity"]), r"fairness\[0\]\.band\[1\]"),
        (fairness(reference="M", band=["1.25", "0.8"]), r"fairness\[0\]\.band: must satisfy"),
        (fairness(reference="M", band=["0", "1.25"]), r"fairness\[0\]\.band: must satisfy"),
        (fairness(reference="M", band=["-1", "1.25"]), r"fairness\[0\]\.band: must satisfy"),
        (fairness(reference="", band=["0.8", "1.25"]), r"fairness\[0\]\.reference"),
        (fairness(min_max_ratio_at_least="0.8", min_n=-1), r"fairness\[0\]\.min_n"),
        (fairness(min_max_ratio_at_least="0.8", min_n=True), r"fairness\[0\]\.min_n"),
        (fairness(min_max_ratio_at_least="0.8", min_n="30"), r"fairness\[0\]\.min_n"),
        (fairness(min_max_ratio_at_least="0.8", lower="0.7"), r"fairness\[0\]: unknown key.*lower"),
        (
            {
                "fairness": [
                    fairness(min_max_ratio_at_least="0.8")["fairness"][0],
                    fairness(min_max_ratio_at_least="0.9")["fairness"][0],
                ]
            },
            r"fairness\[1\]: duplicate gate fairness:tpr/sex/min_max_ratio",
        ),
        ({"fairness": "selection_rate"}, r"fairness: must be a list"),
        ({"fairness": [["selection_rate"]]}, r"fairness\[0\]: must be an object"),
    ],
)
def test_invalid_policies(document: dict[str, Any], match: str) -> None:
    with pytest.raises(PolicyError, match=match):
        validate_policy(document)


def test_policy_must_be_an_object() -> None:
    with pytest.raises(PolicyError, match="policy: must be a JSON object"):
        validate_policy(["required_params"])  # type: ignore[arg-type]


def test_policy_error_is_a_value_error() -> None:
    assert issubclass(PolicyError, ValueError)


def test_evaluate_validates_the_policy() -> None:
    with pytest.raises(PolicyError, match="unknown key"):
        evaluate({"minimum": []}, realistic_evidence())


# Required params, tags and datasets


def test_required_param_and_tag_pass() -> None:
    policy = {"required_params": ["lr"], "required_tags": ["team"]}
    evaluation = evaluate(policy, realistic_evidence())
    assert evaluation.passed
    param, tag = evaluation.results
    assert param == GateResult(
        gate="required_param:lr",
        passed=True,
        detail="param lr: logged with value 0.01, so the gate passes",
        figures={"name": "lr", "value": "0.01"},
    )
    assert tag.gate == "required_tag:team"
    assert tag.detail == "tag team: logged with value credit-risk, so the gate passes"


@pytest.mark.parametrize(
    ("tags", "detail"),
    [
        ({}, "tag team: not logged, so the gate fails"),
        ({"team": ""}, "tag team: logged with an empty value, so the gate fails"),
        ({"team": "  "}, "tag team: logged with an empty value, so the gate fails"),
        ({"Team": "x"}, "tag team: not logged, so the gate fails"),
    ],
)
def test_required_tag_fails(tags: dict[str, str], detail: str) -> None:
    result = only({"required_tags": ["team"]}, with_(realistic_evidence(), tags=tags))
    assert (result.passed, result.detail) == (False, detail)
    assert result.figures == {"name": "team", "value": tags.get("team")}


def test_required_param_missing() -> None:
    result = only({"required_params": ["seed"]}, realistic_evidence())
    assert not result.passed
    assert result.detail == "param seed: not logged, so the gate fails"


def test_long_values_are_shortened_in_the_detail_only() -> None:
    value = "x" * 500
    result = only({"required_params": ["lr"]}, with_(realistic_evidence(), params={"lr": value}))
    assert result.passed
    assert result.figures["value"] == value
    assert len(result.detail) < 120 and "…" in result.detail


def test_required_datasets_pass_with_names_and_digests() -> None:
    evaluation = evaluate({"required_dataset_contexts": ["training", "test"]}, realistic_evidence())
    assert evaluation.passed
    test, training = evaluation.results
    assert test.gate == "required_dataset:test"
    assert training.detail == (
        f"dataset context training: logged credit-train-2024q4 (sha256 {DIGEST}), "
        "so the gate passes"
    )
    assert training.figures == {
        "context": "training",
        "datasets": "credit-train-2024q4",
        "digests": DIGEST,
        "without_digest": None,
    }


def test_required_dataset_missing_context() -> None:
    evidence = with_(realistic_evidence(), datasets=[("train", DIGEST, "training")])
    result = only({"required_dataset_contexts": ["validation"]}, evidence)
    assert not result.passed
    assert result.detail == (
        "dataset context validation: no dataset logged with that context, so the gate fails"
    )


@pytest.mark.parametrize("digest", ["3F" * 32, "3f" * 31, "", "sha256:" + "3f" * 32, "g" * 64])
def test_required_dataset_needs_a_64_hex_digest(digest: str) -> None:
    evidence = with_(realistic_evidence(), datasets=[("train", digest, "training")])
    result = only({"required_dataset_contexts": ["training"]}, evidence)
    assert not result.passed
    assert result.detail == (
        "dataset context training: train logged without a 64-hex SHA-256 digest, so the gate fails"
    )
    assert result.figures["without_digest"] == "train"


def test_one_good_dataset_is_enough() -> None:
    datasets = [
        ("b", "bad", "training"),
        ("a", DIGEST, "training"),
        ("c", OTHER_DIGEST, "training"),
    ]
    result = only(
        {"required_dataset_contexts": ["training"]}, with_(realistic_evidence(), datasets=datasets)
    )
    assert result.passed
    assert result.figures["datasets"] == "a, c"
    assert result.figures["digests"] == f"{DIGEST}, {OTHER_DIGEST}"
    assert result.figures["without_digest"] == "b"


# Group metrics present per sensitive attribute


def test_group_metrics_present_for_every_sensitive_attribute() -> None:
    result = only({"require_group_metrics": ["selection_rate"]}, realistic_evidence())
    assert result.passed
    assert result.gate == "group_metrics:selection_rate"
    assert result.detail == (
        "selection_rate: group values for age_band (3 groups), sex (2 groups), so the gate passes"
    )
    assert result.figures == {
        "metric": "selection_rate",
        "missing": None,
        "groups:age_band": "3",
        "groups:sex": "2",
    }


def test_group_metrics_name_the_missing_attributes() -> None:
    evidence = with_(realistic_evidence(), sensitive_attributes=["sex", "race", "age_band", "sex"])
    result = only({"require_group_metrics": ["tpr"]}, evidence)
    assert not result.passed
    assert result.detail == (
        "tpr: fewer than two groups for age_band (0), sex (0), so the gate fails"
    )
    assert result.figures["missing"] == "age_band, sex"
    assert result.figures["groups:race"] == "3"


def test_one_group_is_not_enough_and_intersections_do_not_count() -> None:
    evidence = selection(
        g("0.5", sex="F"),
        g("0.4", sex="M", age_band="60+"),
        g("0.5", age_band="18-25"),
        g("0.6", age_band="60+"),
    )
    result = only({"require_group_metrics": ["selection_rate"]}, evidence)
    assert not result.passed
    assert result.detail == "selection_rate: fewer than two groups for sex (1), so the gate fails"


def test_group_metric_never_logged() -> None:
    result = only({"require_group_metrics": ["fnr"]}, realistic_evidence())
    assert not result.passed
    assert result.figures["missing"] == "age_band, sex"


def test_group_metrics_fail_without_sensitive_attributes() -> None:
    evidence = with_(realistic_evidence(), sensitive_attributes=[])
    result = only({"require_group_metrics": ["selection_rate"]}, evidence)
    assert not result.passed
    assert "declares no sensitive attributes" in result.detail


# Fairness: min/max ratio


def test_min_max_ratio_passes() -> None:
    result = only(MIN_MAX, realistic_evidence())
    assert result.gate == "fairness:selection_rate/sex/min_max_ratio"
    assert result.passed
    # 0.5 / 0.58 = 0.862068965…
    assert result.detail == (
        "selection_rate across sex: min/max ratio 0.862069 is at least 0.8, so the gate passes"
    )
    assert result.figures == {
        "metric": "selection_rate",
        "attribute": "sex",
        "at_least": "0.8",
        "reference": "M",
        "min_max_ratio": "0.862069",
        "max_difference": "0.08",
        "value:F": "0.5",
        "ratio:F": "0.862069",
        "n:F": "4200",
        "value:M": "0.58",
        "ratio:M": "1",
        "n:M": "4800",
    }


def test_min_max_ratio_fails_with_the_figures() -> None:
    result = only(MIN_MAX, selection(g("0.42", sex="F"), g("0.60", sex="M")))
    assert not result.passed
    assert "selection_rate across sex: min/max ratio 0.7 is below 0.8" in result.detail
    assert result.detail == (
        "selection_rate across sex: min/max ratio 0.7 is below 0.8 "
        "(ratio to the highest group M: F 0.7), so the gate fails"
    )
    assert result.figures["min_max_ratio"] == "0.7"
    assert result.figures["reference"] == "M"


def test_min_max_ratio_threshold_is_inclusive() -> None:
    result = only(MIN_MAX, selection(g("0.4", sex="F"), g("0.5", sex="M"), g("0.45", sex="X")))
    assert result.passed
    assert result.figures["min_max_ratio"] == "0.8"


def test_min_max_ratio_is_judged_before_rounding() -> None:
    result = only(MIN_MAX, selection(g("0.79999999", sex="F"), g("1", sex="M")))
    assert not result.passed
    assert result.figures["min_max_ratio"] == "0.8"
    assert "min/max ratio 0.8 is below 0.8 before rounding to 6 places" in result.detail


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_min_max_ratio_undefined_for_non_finite_values(value: str) -> None:
    result = only(MIN_MAX, selection(g(value, sex="F"), g("0.5", sex="M")))
    assert not result.passed
    assert result.figures["min_max_ratio"] is None
    assert result.detail == (
        "selection_rate across sex: min/max ratio and max difference are undefined: "
        "non-finite values in F, so the gate fails"
    )


def test_min_max_ratio_undefined_when_highest_is_zero() -> None:
    result = only(MIN_MAX, selection(g("0", sex="F"), g("0", sex="M")))
    assert not result.passed
    assert "min/max ratio is undefined: the highest value is 0" in result.detail


@pytest.mark.parametrize(
    ("values", "found"),
    [
        ([], "found 0, so"),
        ([g("0.5", sex="F")], "found 1 (F), so"),
        ([g("0.5", sex="F", race="b"), g("0.5", sex="M", race="b")], "found 0, so"),
        ([g("0.5", age_band="60+"), g("0.6", age_band="18-25")], "found 0, so"),
    ],
)
def test_fairness_needs_two_groups_of_that_attribute(
    values: list[GroupedValue], found: str
) -> None:
    result = only(MIN_MAX, selection(*values))
    assert not result.passed
    assert result.detail.startswith("selection_rate across sex: needs at least two groups, ")
    assert found in result.detail


def test_fairness_with_a_metric_never_logged() -> None:
    policy = {"fairness": [{"metric": "ppv", "attribute": "sex", "min_max_ratio_at_least": "0.8"}]}
    result = only(policy, realistic_evidence())
    assert not result.passed
    assert result.detail == "ppv across sex: needs at least two groups, found 0, so the gate fails"


def test_fairness_with_unreadable_values_cannot_be_assessed() -> None:
    result = only(MIN_MAX, selection(g("high", sex="F"), g("0.5", sex="M")))
    assert not result.passed
    assert "cannot be assessed (group 'F': 'high' is not a decimal string)" in result.detail


def test_duplicate_groups_cannot_be_assessed() -> None:
    result = only(MIN_MAX, selection(g("0.5", sex="F"), g("0.6", sex="F"), g("0.5", sex="M")))
    assert not result.passed
    assert "duplicate group 'F'" in result.detail


def test_min_n_is_ignored_unless_set() -> None:
    result = only(MIN_MAX, selection(g("0.5", 3, sex="F"), g("0.5", None, sex="M")))
    assert result.passed
    assert (result.figures["n:F"], result.figures["n:M"]) == ("3", None)


def test_min_n_fails_small_and_unknown_groups() -> None:
    policy = {"fairness": [{**MIN_MAX["fairness"][0], "min_n": 30}]}
    result = only(
        policy, selection(g("0.5", 29, sex="F"), g("0.5", None, sex="M"), g("0.5", 30, sex="X"))
    )
    assert not result.passed
    assert result.detail == (
        "selection_rate across sex: min/max ratio 1 is at least 0.8; n below min_n 30 for F (29); "
        "n not recorded for M, so the gate fails"
    )
    assert result.figures["min_n"] == "30"


def test_min_n_met() -> None:
    policy = {"fairness": [{**MIN_MAX["fairness"][0], "min_n": 4200}]}
    assert only(policy, realistic_evidence()).passed


# Fairness: ratio to a named reference inside a band


def test_band_passes_with_every_ratio() -> None:
    result = only(band_policy(min_n=30), realistic_evidence())
    assert result.gate == "fairness:tpr/race/ratio_to:white"
    assert result.passed
    assert result.detail == (
        "tpr across race: every ratio to white is within 0.8 to 1.25 "
        "(asian 0.975, black 0.9, white 1), so the gate passes"
    )
    assert result.figures == {
        "metric": "tpr",
        "attribute": "race",
        "reference": "white",
        "band_low": "0.8",
        "band_high": "1.25",
        "min_n": "30",
        "min_max_ratio": "0.9",
        "max_difference": "0.08",
        "value:asian": "0.78",
        "ratio:asian": "0.975",
        "n:asian": "250",
        "value:black": "0.72",
        "ratio:black": "0.9",
        "n:black": "300",
        "value:white": "0.8",
        "ratio:white": "1",
        "n:white": "2000",
    }


def tpr(*values: GroupedValue) -> Evidence:
    return with_(realistic_evidence(), grouped={"tpr": list(values)})


def test_band_fails_outside_on_either_side() -> None:
    evidence = tpr(
        g("0.5", race="white"),
        g("0.39", race="black"),
        g("0.63", race="asian"),
        g("0.4", race="other"),
        g("0.625", race="pacific"),
    )
    result = only(band_policy(), evidence)
    assert not result.passed
    assert result.detail == (
        "tpr across race: ratio to white is outside 0.8 to 1.25 for asian (1.26), black (0.78), "
        "so the gate fails"
    )
    assert (result.figures["ratio:other"], result.figures["ratio:pacific"]) == ("0.8", "1.25")


def test_band_fails_on_undefined_ratios() -> None:
    result = only(band_policy(), tpr(g("0.5", race="white"), g("NaN", race="black")))
    assert not result.passed
    assert result.detail == (
        "tpr across race: ratio to white is undefined for black (value NaN), so the gate fails"
    )
    assert result.figures["ratio:black"] is None


def test_band_with_zero_reference_is_undefined() -> None:
    result = only(band_policy(), tpr(g("0", race="white"), g("0.1", race="black")))
    assert not result.passed
    assert "ratio to white is undefined for black (value 0.1), white (value 0)" in result.detail


def test_band_reference_missing() -> None:
    result = only(band_policy(), tpr(g("0.5", race="black"), g("0.6", race="asian")))
    assert not result.passed
    assert result.detail == (
        "tpr across race: reference group white has no value (groups: asian, black), "
        "so the gate fails"
    )
    assert "reference" in result.figures and result.figures["reference"] == "white"


def test_band_out_and_small_n_both_reported() -> None:
    evidence = tpr(g("0.5", 100, race="white"), g("0.3", 10, race="black"))
    result = only(band_policy(min_n=30), evidence)
    assert result.detail == (
        "tpr across race: ratio to white is outside 0.8 to 1.25 for black (0.6); "
        "n below min_n 30 for black (10), so the gate fails"
    )


# Minimums and maximums


def test_minimum_and_maximum_pass() -> None:
    policy = {"minimums": FULL_POLICY["minimums"], "maximums": FULL_POLICY["maximums"]}
    evaluation = evaluate(policy, realistic_evidence())
    assert evaluation.passed
    auc, fpr = evaluation.results
    assert auc == GateResult(
        gate="minimum:auc",
        passed=True,
        detail="auc: 0.81 is at least the minimum 0.75, so the gate passes",
        figures={"metric": "auc", "value": "0.81", "at_least": "0.75"},
    )
    assert fpr.gate == "maximum:fpr"
    assert fpr.detail == "fpr: 0.07 is at most the maximum 0.1, so the gate passes"


@pytest.mark.parametrize(
    ("value", "passed", "clause"),
    [
        ("0.75", True, "0.75 is at least the minimum 0.75"),
        ("0.750", True, "0.750 is at least the minimum 0.75"),
        (
            "0.7499999999999999999999999999999",
            False,
            "0.7499999999999999999999999999999 is below the minimum 0.75",
        ),
        ("0.7", False, "0.7 is below the minimum 0.75"),
        ("Infinity", True, "Infinity is at least the minimum 0.75"),
        ("+Infinity", True, "+Infinity is at least the minimum 0.75"),
        ("-Infinity", False, "-Infinity is below the minimum 0.75"),
        ("NaN", False, "value NaN cannot be compared with the minimum 0.75"),
        ("n/a", False, "value 'n/a' is not a decimal string (the minimum is 0.75)"),
        (None, False, "no value logged (the minimum is 0.75)"),
    ],
)
def test_minimum(value: str | None, passed: bool, clause: str) -> None:
    metrics = {} if value is None else {"auc": value}
    result = only(
        {"minimums": [{"metric": "auc", "at_least": "0.75"}]},
        with_(realistic_evidence(), metrics=metrics),
    )
    assert result.passed is passed
    assert result.detail == f"auc: {clause}, so the gate {'passes' if passed else 'fails'}"
    assert result.figures == {"metric": "auc", "value": value, "at_least": "0.75"}


@pytest.mark.parametrize(
    ("value", "passed", "clause"),
    [
        ("0.1", True, "0.1 is at most the maximum 0.1"),
        ("0.1000001", False, "0.1000001 is above the maximum 0.1"),
        ("-Infinity", True, "-Infinity is at most the maximum 0.1"),
        ("Infinity", False, "Infinity is above the maximum 0.1"),
        ("NaN", False, "value NaN cannot be compared with the maximum 0.1"),
        (None, False, "no value logged (the maximum is 0.1)"),
    ],
)
def test_maximum(value: str | None, passed: bool, clause: str) -> None:
    metrics = {} if value is None else {"fpr": value}
    result = only(
        {"maximums": [{"metric": "fpr", "at_most": "0.1"}]},
        with_(realistic_evidence(), metrics=metrics),
    )
    assert result.passed is passed
    assert result.detail == f"fpr: {clause}, so the gate {'passes' if passed else 'fails'}"


# Whole evaluations


def test_empty_policy_passes_with_no_results() -> None:
    assert evaluate({}, realistic_evidence()) == Evaluation(passed=True, results=())


def test_full_policy_on_realistic_evidence_passes() -> None:
    evaluation = evaluate(FULL_POLICY, realistic_evidence())
    assert [r.gate for r in evaluation.results] == [
        "required_param:lr",
        "required_tag:team",
        "required_dataset:test",
        "required_dataset:training",
        "group_metrics:selection_rate",
        "fairness:selection_rate/sex/min_max_ratio",
        "fairness:tpr/race/ratio_to:white",
        "minimum:auc",
        "maximum:fpr",
    ]
    assert evaluation.passed
    assert all(r.detail.endswith("so the gate passes") for r in evaluation.results)


def test_full_policy_reports_each_failure() -> None:
    base = realistic_evidence()
    evidence = with_(
        base,
        tags={},
        datasets=[d for d in base.datasets if d[2] == "training"],
        metrics={"auc": "0.74", "fpr": "NaN"},
        sensitive_attributes=["sex", "age_band", "race"],
    )
    evaluation = evaluate(FULL_POLICY, evidence)
    assert not evaluation.passed
    failed = {r.gate for r in evaluation.results if not r.passed}
    assert failed == {
        "required_tag:team",
        "required_dataset:test",
        "group_metrics:selection_rate",
        "minimum:auc",
        "maximum:fpr",
    }
    assert all(r.detail.endswith("so the gate fails") for r in evaluation.results if not r.passed)


def test_evaluation_is_stable_for_a_normalised_policy() -> None:
    evidence = realistic_evidence()
    assert evaluate(validate_policy(FULL_POLICY), evidence) == evaluate(FULL_POLICY, evidence)


def test_no_detail_says_compliant() -> None:
    evidence = with_(realistic_evidence(), metrics={"auc": "NaN"}, tags={})
    evaluations = [evaluate(FULL_POLICY, evidence), evaluate(FULL_POLICY, realistic_evidence())]
    for evaluation in evaluations:
        for result in evaluation.results:
            assert "compliant" not in result.detail.lower()
            assert "compliance" not in result.detail.lower()


def test_module_uses_no_floats() -> None:
    tree = ast.parse(inspect.getsource(gates_module))
    for node in ast.walk(tree):
        assert not (isinstance(node, ast.Constant) and isinstance(node.value, float))
        assert not (isinstance(node, ast.Name) and node.id == "float")


def test_functions_are_short() -> None:
    tree = ast.parse(inspect.getsource(gates_module))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            assert node.end_lineno is not None
            assert node.end_lineno - node.lineno < 32, node.name


# Properties

decimal_text = st.decimals(
    min_value=Decimal("-1E+6"),
    max_value=Decimal("1E+6"),
    allow_nan=False,
    allow_infinity=False,
    places=6,
).map(str)
positive_rate = st.decimals(
    min_value=Decimal("0.000001"),
    max_value=Decimal("1"),
    places=6,
).map(str)


@settings(deadline=None)  # speed is measured in bench/, not asserted here
@given(value=decimal_text, threshold=decimal_text)
def test_minimum_and_maximum_compare_exactly(value: str, threshold: str) -> None:
    policy = {
        "minimums": [{"metric": "m", "at_least": threshold}],
        "maximums": [{"metric": "m", "at_most": threshold}],
    }
    evidence = with_(realistic_evidence(), metrics={"m": value})
    low, high = evaluate(policy, evidence).results
    assert low.passed is (Decimal(value) >= Decimal(threshold))
    assert high.passed is (Decimal(value) <= Decimal(threshold))


@settings(deadline=None)  # speed is measured in bench/, not asserted here
@given(
    values=st.lists(positive_rate, min_size=2, max_size=6),
    threshold=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1"), places=2).map(str),
)
def test_min_max_gate_matches_exact_fractions(values: list[str], threshold: str) -> None:
    grouped = [g(v, sex=f"g{i}") for i, v in enumerate(values)]
    result = only(
        {
            "fairness": [
                {
                    "metric": "selection_rate",
                    "attribute": "sex",
                    "min_max_ratio_at_least": threshold,
                }
            ]
        },
        selection(*grouped),
    )
    exact = min(Fraction(v) for v in values) / max(Fraction(v) for v in values)
    assert result.passed is (exact >= Fraction(threshold))
    assert "compliant" not in result.detail


@settings(deadline=None)  # speed is measured in bench/, not asserted here
@given(
    values=st.lists(positive_rate, min_size=1, max_size=5),
    low=st.decimals(min_value=Decimal("0.5"), max_value=Decimal("1"), places=2),
    high=st.decimals(min_value=Decimal("1"), max_value=Decimal("2"), places=2),
)
def test_band_gate_matches_exact_fractions(values: list[str], low: Decimal, high: Decimal) -> None:
    grouped = [g("0.5", race="white")] + [g(v, race=f"r{i}") for i, v in enumerate(values)]
    policy = band_policy(band=[str(low), str(high)])
    result = only(policy, tpr(*grouped))
    ratios = [Fraction(v) / Fraction("0.5") for v in values]
    assert result.passed is all(Fraction(low) <= r <= Fraction(high) for r in ratios)


names = st.lists(st.sampled_from(["lr", "seed", "max_depth", "team", "owner"]), max_size=5)
policies = st.fixed_dictionaries(
    {},
    optional={
        "required_params": names,
        "required_tags": names,
        "required_dataset_contexts": st.lists(st.sampled_from(["training", "test", "other"])),
        "require_group_metrics": names,
        "minimums": st.lists(
            st.fixed_dictionaries(
                {"metric": st.sampled_from(["auc", "f1"]), "at_least": decimal_text}
            ),
            max_size=1,
        ),
        "fairness": st.lists(
            st.fixed_dictionaries(
                {
                    "metric": st.sampled_from(["tpr", "fpr"]),
                    "attribute": st.just("sex"),
                    "min_max_ratio_at_least": positive_rate,
                }
            ),
            max_size=1,
        ),
    },
)


@settings(deadline=None)  # speed is measured in bench/, not asserted here
@given(document=policies)
def test_validation_is_idempotent_and_evaluation_consistent(document: dict[str, Any]) -> None:
    policy = validate_policy(document)
    assert validate_policy(policy) == policy
    assert json.loads(json.dumps(policy)) == policy
    evaluation = evaluate(policy, realistic_evidence())
    assert evaluation.passed is all(r.passed for r in evaluation.results)
    assert len({r.gate for r in evaluation.results}) == len(evaluation.results)
