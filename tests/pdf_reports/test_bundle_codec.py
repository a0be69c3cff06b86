"""Evidence survives a trip through JSON unchanged, and a bad bundle is refused."""

from __future__ import annotations

import dataclasses
import json

import pytest
from model_factory import make_model_evidence
from report_factory import empty_run, make_run

from reports import ModelReportEvidence, RunEvidence, TagEvidence
from reports.bundle import from_json, to_json
from reports.errors import ReportError


def test_model_evidence_round_trips() -> None:
    evidence, _ = make_model_evidence()
    data = json.loads(json.dumps(to_json(evidence)))
    assert from_json(ModelReportEvidence, data) == evidence


@pytest.mark.parametrize("run", [make_run(3), empty_run(), make_run(
    4, tags=(TagEvidence("git_commit", "3a7c3e9", 130), TagEvidence("mlflow.user", "dana", 130)))])
def test_run_evidence_round_trips(run: RunEvidence) -> None:
    assert from_json(RunEvidence, json.loads(json.dumps(to_json(run)))) == run


def test_bad_bundles_are_refused() -> None:
    data = to_json(make_run(1))
    with pytest.raises(ReportError, match="unknown fields"):
        from_json(RunEvidence, {**data, "extra": 1})
    with pytest.raises(ReportError, match="expected"):
        from_json(RunEvidence, {**data, "params": "not a list"})
    missing = dict(data)
    first = next(f.name for f in dataclasses.fields(RunEvidence))
    del missing[first]
    with pytest.raises(ReportError, match="missing"):
        from_json(RunEvidence, missing)
