"""Every field of a gate policy (docs/policies.md) reads as a sentence, and so does each gate."""

from __future__ import annotations

from report_factory import POLICY_AT, POLICY_BY, POLICY_SEQ

from reports import GateEvidence, PolicyEvidence
from reports.policy_text import (
    EMPTY_POLICY,
    NO_POLICY,
    gate_sentence,
    policy_lines,
    policy_sentences,
)

# The example of docs/policies.md, normalised as `policy.set` stores it.
POLICY = {
    "required_params": ["learning_rate"],
    "required_tags": ["git_commit", "owner"],
    "required_dataset_contexts": ["test", "training"],
    "require_group_metrics": ["selection_rate"],
    "fairness": [
        {"metric": "selection_rate", "attribute": "sex", "min_max_ratio_at_least": "0.8",
         "min_n": 30},
        {"metric": "tpr", "attribute": "age_band", "reference": "30-49",
         "band": ["0.8", "1.25"]},
    ],
    "minimums": [{"metric": "auc", "at_least": "0.75"}],
    "maximums": [{"metric": "calibration_error", "at_most": "0.05"}],
}


def test_no_policy_and_an_empty_policy() -> None:
    assert policy_sentences(None) == (NO_POLICY,) == ("no policy set",)
    empty = {key: [] for key in POLICY}
    assert policy_sentences(empty) == (EMPTY_POLICY,)
    assert policy_sentences({}) == (EMPTY_POLICY,)
    assert policy_lines(None) == ("no policy set",)
    evidence = PolicyEvidence(("auc ≥ 0.75 (latest overall value)",), POLICY_BY, POLICY_AT,
                              POLICY_SEQ)
    assert policy_lines(evidence) == evidence.clauses


def test_required_params() -> None:
    assert policy_sentences({"required_params": ["learning_rate", "max_depth"]}) == (
        "required parameters: learning_rate, max_depth (each logged with a non-blank value)",)


def test_required_tags() -> None:
    assert policy_sentences({"required_tags": ["git_commit", "owner"]}) == (
        "required run tags: git_commit, owner (each set to a non-blank value)",)


def test_required_dataset_contexts() -> None:
    assert policy_sentences({"required_dataset_contexts": ["test", "training"]}) == (
        "required datasets: test, training (one of each context, logged with a SHA-256 "
        "digest)",)


def test_require_group_metrics() -> None:
    assert policy_sentences({"require_group_metrics": ["selection_rate"]}) == (
        "per-group metrics required: selection_rate (values for at least two groups of every "
        "sensitive attribute)",)


def test_fairness_min_max_ratio_with_min_n() -> None:
    entry = POLICY["fairness"][0]
    assert policy_sentences({"fairness": [entry]}) == (
        "selection_rate: min/max ratio across sex ≥ 0.80; every group needs a recorded "
        "n ≥ 30",)


def test_fairness_reference_and_band_without_min_n() -> None:
    entry = POLICY["fairness"][1]
    assert policy_sentences({"fairness": [entry]}) == (
        "tpr: ratio of every age_band group to 30-49 within 0.80–1.25; no minimum group size",)


def test_min_n_zero_is_stated() -> None:
    entry = {**POLICY["fairness"][1], "min_n": 0}
    assert policy_sentences({"fairness": [entry]})[0].endswith("every group needs a recorded "
                                                               "n ≥ 0")


def test_minimums_and_maximums_are_exact() -> None:
    assert policy_sentences({"minimums": [{"metric": "auc", "at_least": "0.754321"}],
                             "maximums": [{"metric": "calibration_error",
                                           "at_most": "0.05"}]}) == (
        "auc ≥ 0.754321 (latest overall value)",
        "calibration_error ≤ 0.05 (latest overall value)")


def test_the_whole_policy_in_gate_order() -> None:
    lines = policy_sentences(dict(reversed(POLICY.items())))
    assert [line.split(":")[0].split(" ")[0] for line in lines] == [
        "required", "required", "required", "per-group", "selection_rate", "tpr",
        "auc", "calibration_error"]
    assert not any("{" in line or "[" in line for line in lines)


def test_an_unknown_key_is_shown_not_hidden() -> None:
    assert policy_sentences({"max_latency_ms": 150}) == ("max_latency_ms: 150",)


def _gate(gate: str, **figures: str | None) -> GateEvidence:
    return GateEvidence(gate, False, "detail", tuple(figures.items()), 7)


def test_gate_sentences_match_the_policy_sentences() -> None:
    fair = POLICY["fairness"]
    assert gate_sentence(_gate("fairness:selection_rate/sex/min_max_ratio", metric="selection_rate",
                               attribute="sex", at_least="0.8", min_n="30",
                               min_max_ratio=None)) == policy_sentences({"fairness": [fair[0]]})[0]
    assert gate_sentence(_gate("fairness:tpr/age_band/ratio_to:30-49", metric="tpr",
                               attribute="age_band", reference="30-49", band_low="0.8",
                               band_high="1.25")) == policy_sentences({"fairness": [fair[1]]})[0]
    assert gate_sentence(_gate("minimum:auc", metric="auc", value="0.7", at_least="0.75")) == \
        "auc ≥ 0.75 (latest overall value)"
    assert gate_sentence(_gate("maximum:ece", metric="ece", value=None, at_most="0.05")) == \
        "ece ≤ 0.05 (latest overall value)"


def test_gate_sentences_for_required_evidence() -> None:
    assert gate_sentence(_gate("required_param:learning_rate")) == \
        "parameter learning_rate logged with a non-blank value"
    assert gate_sentence(_gate("required_tag:owner")) == "run tag owner set to a non-blank value"
    assert gate_sentence(_gate("required_dataset:test")) == \
        "a test dataset logged with a SHA-256 digest"
    assert gate_sentence(_gate("group_metrics:selection_rate")) == \
        "selection_rate: values for at least two groups of every sensitive attribute"


def test_a_gate_of_another_form_is_named_as_it_is() -> None:
    assert gate_sentence(_gate("fairness")) == "fairness"
    assert gate_sentence(_gate("latency:p99")) == "latency:p99"


def test_sentences_follow_the_real_gates() -> None:
    """The service's own validation and evaluation (app/tracking/gates.py): every gate it
    produces reads as one of the policy's sentences, or as the item of a list clause."""
    from app.tracking.gates import Evidence, GroupedValue, evaluate, validate_policy

    normalised = validate_policy(POLICY)
    sentences = policy_sentences(normalised)
    grouped = {"selection_rate": [GroupedValue({"sex": "female"}, "0.6", 40),
                                  GroupedValue({"sex": "male"}, "0.5", 20)],
               "tpr": [GroupedValue({"age_band": "30-49"}, "0.7", 50),
                       GroupedValue({"age_band": "50+"}, "0.5", 50)]}
    evidence = Evidence(params={"learning_rate": "0.1"}, tags={}, datasets=[],
                        metrics={"auc": "0.8"}, grouped=grouped, sensitive_attributes=["sex"])
    for result in evaluate(normalised, evidence).results:
        gate = GateEvidence(result.gate, result.passed, result.detail,
                            tuple(result.figures.items()), 1)
        text = gate_sentence(gate)
        assert text != result.gate, result.gate
        kind, _, name = result.gate.partition(":")
        if kind in ("fairness", "minimum", "maximum"):
            assert text in sentences
        else:
            assert name in text
