"""The loan-approval scenario's reports, made through the real services: a refusal never reads
as a grant, every decision is a signature with a printed name, a time and a meaning (21 CFR
11.50), runs show their tags and what the MLflow client reported, runs that share a name get
distinct titles, and a model without a policy says "no policy set"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from loan_scenario import (
    GRANTED_EXCEPTION,
    MODEL,
    REFUSED_EXCEPTION,
    ROLLBACK_REASON,
    Scenario,
    build,
)
from report_factory import page_texts

from app.client.registry import gates_word
from app.services import keys as key_service
from app.services import reports
from app.services.report_bundle import open_bundle
from app.services.report_verify import all_passed, verify_report
from reports import ModelReportEvidence, RunReportEvidence
from reports.bundle import from_json, to_json

AUDITOR = "token:admin"
UTC_SECOND = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC"


@dataclass
class Loan:
    scenario: Scenario
    services: Any
    model_pdf: bytes
    model: ModelReportEvidence

    @property
    def text(self) -> str:
        return " ".join(page_texts(self.model_pdf))


@pytest.fixture
def loan(client: Any, services: Any, admin_token: str) -> Loan:
    scenario = build(client, services, admin_token)
    issued = reports.model_report(services, AUDITOR, MODEL, None, None, False)
    evidence = open_bundle(issued.bundle).evidence
    assert isinstance(evidence, ModelReportEvidence)
    return Loan(scenario, services, issued.pdf, evidence)


def _decisions(model: ModelReportEvidence) -> list[Any]:
    return [d for v in model.versions for p in v.promotions for d in p.decisions]


def test_a_refused_self_approval_never_reads_as_a_grant(loan: Loan) -> None:
    refused = [d for d in _decisions(loan.model) if d.outcome == "refused"]
    assert len(refused) == 1
    (attempt,) = refused
    assert attempt.exception is None  # nothing was granted
    assert attempt.requested_exception == REFUSED_EXCEPTION
    assert attempt.reason == loan.scenario.refusal
    text = loan.text
    assert "granted by Dana Okafor" not in text and "granted by token:dana" not in text
    assert "REFUSED" in text and "not a signature" in text
    assert "asked for, not granted" in text
    assert "policy exception granted by Grace Lin (token:grace)" in text
    assert re.sub(r"\s+", " ", GRANTED_EXCEPTION)[:40] in text


def test_every_decision_is_a_signature_with_name_time_and_meaning(loan: Loan) -> None:
    decisions = _decisions(loan.model)
    names = {d.approver: d.printed_name for d in decisions}
    assert names == {"token:grace": "Grace Lin", "token:tomas": "Tomás Herrera",
                     "token:dana.approver principal:dana": "Dana Okafor"}
    meanings = {d.outcome: d.meaning for d in decisions}
    assert meanings["approved"].startswith("approval")
    assert meanings["rejected"].startswith("rejection")
    assert "not a signature" in meanings["refused"]
    text = loan.text
    for name in ("Grace Lin", "Tomás Herrera"):
        assert re.search(f"Signed by {name} \\(token:\\w+, approver\\)", text), name
    assert len(re.findall(f"Signed at {UTC_SECOND}", text)) == 3
    assert len(re.findall(f"Attempted at {UTC_SECOND}", text)) == 1
    assert "Meaning of signature approval" in text and "Meaning of signature rejection" in text


def test_the_model_report_verifies_and_round_trips(loan: Loan) -> None:
    with loan.services.pool.connection() as conn:
        keys = key_service.verifier_keys(conn)
    checks = verify_report(loan.model_pdf, keys)
    assert all_passed(checks), [(c.name, c.detail) for c in checks]
    assert from_json(ModelReportEvidence, to_json(loan.model)) == loan.model
    assert ROLLBACK_REASON in " ".join(loan.text.split())


def test_the_run_report_shows_every_tag_and_the_clients_environment(loan: Loan) -> None:
    issued = reports.run_report(loan.services, AUDITOR, loan.scenario.runs[3], False)
    evidence = open_bundle(issued.bundle).evidence
    assert isinstance(evidence, RunReportEvidence)
    keys = [t.key for t in evidence.run.tags]
    assert keys == sorted(keys)
    assert {"git_commit", "pipeline", "owner", "mlflow.user", "mlflow.source.name",
            "mlflow.runName"} <= set(keys)
    text = " ".join(page_texts(issued.pdf))
    assert "Tags" in text and "credit-ci/train#413" in text and "credit-risk-analytics" in text
    assert "No execution environment was recorded" not in text
    assert "pipelines/train_loan_model.py" in text and "reported by the client" in text
    with loan.services.pool.connection() as conn:
        assert all_passed(verify_report(issued.pdf, key_service.verifier_keys(conn)))


def test_runs_sharing_a_name_get_distinct_titles(loan: Loan) -> None:
    s = loan.scenario
    issued = reports.experiment_report(loan.services, AUDITOR, s.experiment_id, False)
    text = " ".join(page_texts(issued.pdf))
    titles = re.findall(r"Run ci-gbm-7 \((\w{8}), (\w+)\)", text)
    assert sorted(titles) == sorted((s.runs[v][:8], "FINISHED") for v in (1, 2)), titles


def test_a_model_without_a_policy_says_no_policy_set(loan: Loan) -> None:
    s = loan.scenario
    s.call("dana", "POST", "/api/v1/models", {"name": "no-policy"})
    s.call("dana", "POST", "/api/v1/models/no-policy/versions",
           {"run_id": s.runs[1], "artifact_path": "model"})
    s.call("ravi", "POST", "/api/v1/models/no-policy/versions/1/promotions",
           {"target": "Production", "justification": "try"})
    issued = reports.model_report(loan.services, AUDITOR, "no-policy", None, None, False)
    text = " ".join(page_texts(issued.pdf))
    assert "no policy set" in text.lower() and "passed" not in text.lower()
    assert gates_word({"policy_seq": None, "passed": None, "results": []}) == "no policy set"
