"""The registry is the one declaration of every kind: the doc, the schema and the reducers
cannot drift from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import kinds
from app.kinds import KINDS, MemoryState, ReduceError
from app.kinds.core import Entry
from app.kinds.doc import DOC, markdown
from app.storage.schema_gen import SCHEMA, schema_text

ROOT = Path(__file__).resolve().parents[2]


def test_entry_kinds_doc_is_generated_from_the_registry() -> None:
    assert DOC.read_text() == markdown(), "run: python -m app.kinds.doc --write"


def test_schema_sql_holds_the_generated_section() -> None:
    assert SCHEMA.read_text() == schema_text(), "run: python -m app.storage.schema_gen --write"


def test_every_kind_names_the_tables_its_reducer_makes_rows_of() -> None:
    for kind in KINDS.values():
        for table in kind.tables:
            assert table in kinds.BY_NAME, (kind.name, table)


def test_an_unknown_kind_makes_no_rows_and_a_malformed_known_one_is_refused() -> None:
    state = MemoryState()
    assert kinds.reduce(Entry(0, "test.appended", "2026-01-01T00:00:00.000000Z", "t", {},
                              {"i": 1}), state) == []
    with pytest.raises(ReduceError, match="no subject 'run'"):
        kinds.reduce(Entry(1, "params.logged", "2026-01-01T00:00:00.000000Z", "t", {},
                           {"params": {}}), state)
    with pytest.raises(ReduceError, match="'params' is not object"):
        kinds.reduce(Entry(1, "params.logged", "2026-01-01T00:00:00.000000Z", "t",
                           {"run": "r", "experiment": "1"}, {"params": "x"}), state)
    with pytest.raises(ReduceError, match="no entry made the runs row"):
        kinds.reduce(Entry(2, "run.ended", "2026-01-01T00:00:00.000000Z", "t",
                           {"run": "r", "experiment": "1"},
                           {"status": "FINISHED", "end_time": "5", "manifest_sha256": "x"}),
                     state)


def test_a_run_replayed_in_memory_ends_as_its_last_revision() -> None:
    state = MemoryState(keep_facts=True)
    at = "2026-01-01T00:00:00.000000Z"
    run = {"run": "r1", "experiment": "7"}
    for entry in (
            Entry(0, "experiment.created", at, "token:a", {"experiment": "7"},
                  {"name": "e", "description": "", "tags": {"t": "1"}}),
            Entry(1, "run.created", at, "token:a", run,
                  {"name": "n", "source": {}, "start_time": "10", "parent_run": None}),
            Entry(2, "tags.set", at, "token:a", run, {"tags": {"k": "v"}}),
            Entry(3, "run.ended", at, "token:a", run,
                  {"status": "FINISHED", "end_time": "20", "manifest_sha256": "ab"}),
            Entry(4, "tag.deleted", at, "token:a", run, {"key": "k"})):
        state.apply(kinds.reduce(entry, state))
    current = state.current("runs", ("r1",))
    assert current is not None
    assert (current["status"], current["end_time"], current["ended_seq"], current["seq"]) == (
        "FINISHED", 20, 3, 3)
    assert len(state.rows("run_revisions")) == 2
    assert state.rows("run_tags") == []
    assert [r[2] for r in state.rows("tag_events")] == ["v", None]


def _artifact(seq: int, path: str, sha: str, **revision: str) -> Entry:
    return Entry(seq, "artifact.recorded", "2026-01-01T00:00:00.000000Z", "token:a",
                 {"run": "r1", "experiment": "7"},
                 {"path": path, "sha256": sha * 64, "size": "1", "envelope_sha256": "e" * 64,
                  **revision})


def test_artifact_revisions_are_numbered_by_the_entries_before_them() -> None:
    """A path's first entry is revision 1 (no revision members); the next must say 2 and the
    digest it supersedes, or it does not fit; the current row is the latest revision."""
    state = MemoryState(keep_facts=True)
    for entry in (_artifact(0, "t.json", "a"), _artifact(1, "t.json", "b", revision="2",
                                                         supersedes="a" * 64)):
        state.apply(kinds.reduce(entry, state))
    assert [(r[2][0], r[-2]) for r in state.rows("artifact_revisions")] == [("a", 1), ("b", 2)]
    assert state.current("artifacts", ("r1", "t.json"))["revision"] == 2  # type: ignore[index]
    for wrong in ({}, {"revision": "2", "supersedes": "b" * 64},
                  {"revision": "3", "supersedes": "a" * 64}):
        with pytest.raises(ReduceError, match="the entries before it make it revision 3"):
            kinds.reduce(_artifact(2, "t.json", "c", **wrong), state)
    assert kinds.reduce(_artifact(2, "t.json", "c", revision="3", supersedes="b" * 64), state)
    with pytest.raises(ReduceError, match="revision 1 superseding None"):
        kinds.reduce(_artifact(2, "new.json", "c", revision="2", supersedes="a" * 64), state)


def test_a_replay_asks_the_database_only_for_rows_it_let_go_of() -> None:
    """A path new to the run is not looked up (a rebuild would flush, a verify query, per
    artifact) until the replay has let go of a current row of that table."""
    asked: list[tuple[str, tuple[str, ...]]] = []

    def earlier(table: str, key: tuple[str, ...], before: int) -> None:
        asked.append((table, key))

    state = MemoryState(fold_events=False, limit=2, earlier=earlier)
    for seq, path in enumerate(("a", "b", "c", "d")):
        state.advance(seq)
        state.apply(kinds.reduce(_artifact(seq, path, "a"), state))
    assert asked == [("artifacts", ("r1", "d"))]  # "a" was let go of when "c" came
