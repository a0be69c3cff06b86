"""The database itself refuses authority for an unpinned version (issue 19): an entry that
the service would never write (a promotion of it, Production, @champion), appended with the
very rows its reducer makes, is refused at commit by the guards of schema.sql, naming why."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from app.ledger.entry import Draft
from app.services import registry, unpinned
from app.services.verification import verify_database

VERSION = {"model": "lake", "version": "1"}


@pytest.fixture
def lake(services: Any) -> Any:
    """Model 'lake' (the default protected names) with version 1 registered from s3://."""
    run = services.committer.run
    run(lambda w: registry.create_model(w, "token:admin", "lake", "", "", {}, [], None, 1))
    run(lambda w: unpinned.register_unpinned(w, "token:w", "lake", "s3://lake/model", None,
                                             {}, None))
    return run


@pytest.mark.parametrize("draft", [
    Draft("promotion.requested", "token:w", {"promotion": "p-forged", **VERSION},
          {"target": "stage:Production", "justification": "forged", "classification": None,
           "version_digest": "0" * 64, "gates": {"policy_seq": None}}),
    Draft("model_version.stage_set", "token:w", VERSION,
          {"stage": "Production", "previous": "None", "promotion": None}),
    Draft("model_alias.set", "token:w", VERSION,
          {"alias": "champion", "previous": None, "promotion": None}),
], ids=["promotion", "stage", "alias"])
def test_no_authority_row_for_an_unpinned_version(lake: Any, draft: Draft, conn: Any) -> None:
    with pytest.raises(psycopg.errors.CheckViolation) as refused:
        lake(lambda w: w.append([draft]))
    assert "(a pinned version)" in str(refused.value), refused.value
    assert verify_database(conn).ok  # nothing of it was kept


def test_unprotected_targets_stay_open_to_it(lake: Any, conn: Any) -> None:
    lake(lambda w: w.append([Draft("model_version.stage_set", "token:w", VERSION, {
        "stage": "Staging", "previous": "None", "promotion": None})]))
    lake(lambda w: w.append([Draft("model_alias.set", "token:w", VERSION, {
        "alias": "candidate", "previous": None, "promotion": None})]))
    assert verify_database(conn).ok


def test_a_pin_without_files_or_twice_is_refused(lake: Any) -> None:
    """A pinned entry must name a run of ours (the row's run_id references runs)."""
    pin = Draft("model_version.pinned", "token:w", {**VERSION, "run": "no-such-run"},
                {"evidence": {"run": "no-such-run", "artifact_path": "model", "artifacts": [],
                              "datasets": []}, "version_digest": "1" * 64})
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        lake(lambda w: w.append([pin]))


def test_a_token_limited_to_experiments_registers_nothing_unpinned(lake: Any) -> None:
    """An unpinned version is in no experiment: a scoped caller would put it out of its own
    reach (and out of every scoped token's), so it may not register one."""
    with pytest.raises(registry.Forbidden, match="limited to experiments"):
        lake(lambda w: unpinned.register_unpinned(w, "token:s", "lake", "s3://x", None, {},
                                                  None, scoped=True))
