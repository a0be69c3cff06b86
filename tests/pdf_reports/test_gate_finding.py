"""Why a gate failed, in a few rounded words, from its figures (reports/gate_text.gate_finding)."""

from __future__ import annotations

from reports import GateEvidence
from reports.gate_text import gate_finding


def _gate(gate: str, detail: str = "the detail", **figures: str | None) -> GateEvidence:
    return GateEvidence(gate, False, detail, tuple((k.replace("__", ":"), v)
                                                   for k, v in figures.items()), 7)


def test_a_band_names_the_groups_outside_it_and_the_small_ones() -> None:
    gate = _gate("fairness:selection_rate/sex/ratio_to:male", band_low="0.8", band_high="1.25",
                 min_n="30", ratio__female="0.7012711864406779", ratio__male="1",
                 ratio__other=None, n__female="509", n__male="548", n__other="12")
    assert gate_finding(gate) == "female ratio 0.7013; other ratio undefined; other n 12 < 30"


def test_a_min_max_ratio_states_the_ratio_and_the_threshold() -> None:
    gate = _gate("fairness:selection_rate/sex/min_max_ratio", at_least="0.8",
                 min_max_ratio="0.66129", n__female="480")
    assert gate_finding(gate) == "min/max ratio 0.6613, needs ≥ 0.80"


def test_minimums_and_maximums_state_the_value_and_the_bound() -> None:
    assert gate_finding(_gate("minimum:auc", value="0.7123456", at_least="0.75")) == \
        "value 0.7123, needs ≥ 0.75"
    assert gate_finding(_gate("maximum:calibration_error", value=None, at_most="0.05")) == \
        "value not logged, needs ≤ 0.05"


def test_other_gates_keep_the_evaluations_detail() -> None:
    detail = "param learning_rate: not logged, so the gate fails"
    assert gate_finding(_gate("required_param:learning_rate", detail, value=None)) == detail
    assert gate_finding(_gate("fairness", detail)) == detail
