"""The model report's separation-of-duties statement compares people, not tokens."""

from __future__ import annotations

import dataclasses

from model_factory import make_model_evidence

from reports.sod import separation_of_duties


def test_the_report_compares_people_not_tokens() -> None:
    """A bundle where one person requested with one token and approved with another is
    flagged; the old statement ("a person other than the requester") is not made."""
    model, _ = make_model_evidence()
    clean, problems = separation_of_duties(model)
    assert problems == [] and "comparing people rather than tokens" in clean
    version = next(v for v in model.versions
                   if any(d.outcome == "approved" for p in v.promotions for d in p.decisions))
    promotion = next(p for p in version.promotions
                     if any(d.outcome == "approved" for d in p.decisions))
    decisions = tuple(dataclasses.replace(d, approver="token:alice.approver principal:alice",
                                          person="principal:alice",
                                          printed_name="Alice Example")
                      if d.outcome == "approved" else d for d in promotion.decisions)
    forged = dataclasses.replace(promotion, requested_by="token:alice",
                                 requested_by_person="principal:alice", decisions=decisions)
    versions = tuple(dataclasses.replace(v, promotions=tuple(
        forged if p is promotion else p for p in v.promotions)) if v is version else v
        for v in model.versions)
    statement, problems = separation_of_duties(dataclasses.replace(model, versions=versions))
    assert any("by Alice Example (token:alice.approver principal:alice), who also requested "
               "the promotion" in p for p in problems), problems
    assert "each approver is a person other than" not in statement
