"""The one-page summary each report opens with, as plain data (Summary, Block), from evidence."""

from __future__ import annotations

from collections.abc import Sequence

from reports.evidence_registry import ModelReportEvidence
from reports.evidence_run import ExperimentReportEvidence, RunEvidence, RunReportEvidence
from reports.figures import figure
from reports.outline import (
    COMPARISON,
    DEPLOYMENTS,
    GATE_POLICY,
    MODEL,
    OVERALL_METRICS,
    PROMOTIONS,
    SEPARATION_OF_DUTIES,
)
from reports.people import person
from reports.policy_text import NO_POLICY
from reports.sod import separation_of_duties
from reports.summary_data import (
    Block,
    Summary,
    Verdict,
    as_text,
    integrity_verdict,
    run_labels,
    when,
)
from reports.summary_flags import flag_rows, named, numbered
from reports.summary_model import exception_rows, failing_gate_rows, live_rows, version_rows

__all__ = [
    "MAX_METRICS",
    "MAX_RUNS",
    "Block",
    "Summary",
    "Verdict",
    "as_text",
    "experiment_summary",
    "model_summary",
    "run_summary",
]

MAX_METRICS = 12  # key metrics on a run summary; the rest are in the body
MAX_RUNS = 15  # runs on an experiment summary
_FLAG_HEADER = ("Flag for review", "Count", "Details", "Where")


def _flags(rows: Sequence[tuple[str, ...]]) -> Block:
    return Block("Flags for review", _FLAG_HEADER, tuple(rows),
                 "Nothing in this report is flagged for review.", "",
                 "flag" if rows else "ok", tuple(range(len(rows))))


def _policy_fact(model: ModelReportEvidence) -> str:
    p = model.policy
    if p is None:
        return f"{NO_POLICY}: no gates are evaluated, which is not a pass"
    return (f"{len(p.clauses)} clause(s), set by {person(p.set_by_name, p.set_by)} on "
            f"{when(p.set_at)} (seq {p.seq})")


def _model_facts(model: ModelReportEvidence) -> tuple[tuple[str, str], ...]:
    numbers = sorted([(v.version, "") for v in model.versions]
                     + [(u.version, " (unpinned)") for u in model.unpinned])
    versions = ", ".join(f"{n}{note}" for n, note in numbers) or "none"
    return (("Model", model.name), ("Owner", model.owner),
            ("As of", when(model.meta.as_of)),
            ("Versions", f"{versions}{' (all versions)' if model.all_versions else ''}"),
            ("Gate policy", _policy_fact(model)),
            ("Approvals required", f"{model.quorum} per promotion"))


def _model_flags(model: ModelReportEvidence) -> list[tuple[str, ...]]:
    runs = [(str(v.version), v.run) for v in model.versions]
    rows = flag_rows(runs, numbered("version"), "by version")
    _, problems = separation_of_duties(model)
    if problems:
        rows.append(("Separation of duties", str(len(problems)), "; ".join(problems),
                     SEPARATION_OF_DUTIES))
    if model.unpinned:
        rows.append(("Unpinned versions: files not held or digested", str(len(model.unpinned)),
                     "version " + ", ".join(str(u.version) for u in model.unpinned)
                     + "; no files or figures stand behind them", MODEL))
    silent = [d.seq for d in model.deployments if d.event != "deployed" and not d.reason]
    if silent:
        rows.append(("Rollbacks without a reason", str(len(silent)),
                     "seq " + ", ".join(map(str, silent)), DEPLOYMENTS))
    return rows


MAX_FINDING_ROWS = 3  # failing gates, and exceptions, on a model summary; all in the body


def _capped(rows: Sequence[tuple[str, ...]], where: str) -> list[tuple[str, ...]]:
    """The newest MAX_FINDING_ROWS rows (rows come oldest version first), and one row that
    counts the rest and says where they are."""
    if len(rows) <= MAX_FINDING_ROWS:
        return list(rows)
    rest = len(rows) - MAX_FINDING_ROWS
    more = ("", "", f"and {rest} more, on earlier versions: in full under {where}",
            *("",) * (len(rows[0]) - 3))
    return [more, *rows[-MAX_FINDING_ROWS:]]


def _model_blocks(model: ModelReportEvidence) -> tuple[Block, ...]:
    live_header, live = live_rows(model)
    header, versions, refused = version_rows(model)
    every_failing = failing_gate_rows(model)
    failing = _capped(every_failing, PROMOTIONS)
    every_granted, every_bare = exception_rows(model)
    granted = _capped(every_granted, PROMOTIONS)
    first = max(0, len(every_granted) - MAX_FINDING_ROWS)  # the first row kept
    bare = [i - first + (1 if first else 0) for i in every_bare if i >= first]
    no_gates = (f"{NO_POLICY}: no gates were evaluated (this is not a pass)."
                if model.policy is None else "No gate fails at any promotion's latest evaluation.")
    return (
        Block("Live in each environment", live_header, tuple(live),
              "Nothing was deployed.", DEPLOYMENTS),
        Block("Versions and decisions", header, tuple(versions), "No versions are covered.",
              PROMOTIONS, highlight=tuple(refused)),
        Block("Failing gates", ("Version", "Target", "Gate", "Finding", "Seq"), tuple(failing),
              no_gates, GATE_POLICY if model.policy is None else PROMOTIONS,
              "flag" if failing else "ok",
              tuple(i for i, r in enumerate(failing) if r[0])),
        Block("Policy exceptions granted",
              ("Version", "Target", "Granted by", "When", "Failing gates", "Justification",
               "Seq"),
              tuple(granted), "No policy exception was granted.", PROMOTIONS,
              "flag" if granted else "ok", tuple(bare)),
        _flags(_model_flags(model)),
    )


def model_summary(model: ModelReportEvidence) -> Summary:
    """The model report's summary: live versions, statuses, failing gates, exceptions, flags
    and the integrity verdict."""
    return Summary(f"Summary: model {model.name}", _model_facts(model),
                   integrity_verdict(model.meta), _model_blocks(model))


def _run_facts(run: RunEvidence) -> tuple[tuple[str, str], ...]:
    return (("Run", f"{run.name or 'unnamed'} ({run.run_id})"),
            ("Experiment", run.experiment_name), ("Status", run.status),
            ("Started", when(run.start_time)),
            ("Ended", when(run.end_time) if run.end_time else "still running"),
            ("Created by", person(run.created_by_name, run.created_by)))


def _metrics(run: RunEvidence) -> Block:
    shown = run.metrics[:MAX_METRICS]
    more = len(run.metrics) - len(shown)
    rows = tuple((m.key, figure(m.value), str(m.step), str(m.seq)) for m in shown)
    if more:
        rows += ((f"and {more} more", "", "", ""),)
    return Block("Key metrics", ("Metric", "Value", "Step", "Seq"), rows,
                 "No overall metrics were logged.", OVERALL_METRICS)


def run_summary(evidence: RunReportEvidence) -> Summary:
    """The run report's summary: status, key metrics, flags and the integrity verdict."""
    run = evidence.run
    return Summary(f"Summary: run {run.name or run.run_id}", _run_facts(run),
                   integrity_verdict(evidence.meta),
                   (_metrics(run), _flags(flag_rows([("run", run)], lambda _: "this run"))))


def _status_counts(runs: Sequence[RunEvidence]) -> str:
    counts: dict[str, int] = {}
    for r in runs:
        counts[r.status] = counts.get(r.status, 0) + 1
    return ", ".join(f"{n} {status.lower()}" for status, n in sorted(counts.items())) or "none"


def _run_rows(exp: ExperimentReportEvidence) -> tuple[tuple[str, ...], ...]:
    labels = run_labels(exp.runs)
    rows = []
    for run in exp.runs[:MAX_RUNS]:
        values = {m.key: m.value for m in run.metrics}
        flagged = sum(1 for s in run.group_summaries for g in s.groups if g.flags)
        rows.append((labels[run.run_id], run.status,
                     *(figure(values[k]) if k in values else "not logged"
                       for k in exp.compare_metrics), str(flagged)))
    more = len(exp.runs) - MAX_RUNS
    if more > 0:
        rows.append((f"and {more} more runs", "", *("" for _ in exp.compare_metrics), ""))
    return tuple(rows)


def experiment_summary(exp: ExperimentReportEvidence) -> Summary:
    """The experiment report's summary: run statuses, key metrics per run, flags, integrity."""
    facts = (("Experiment", f"{exp.name} ({exp.experiment_id})"),
             ("Runs", f"{len(exp.runs)} ({_status_counts(exp.runs)})"))
    labels = run_labels(exp.runs)
    flags = flag_rows([(labels[r.run_id], r) for r in exp.runs], named("run"),
                      "each run")
    header = ("Run", "Status", *exp.compare_metrics, "Flagged groups")
    runs = Block("Runs", header, _run_rows(exp), "The experiment has no runs.", COMPARISON)
    return Summary(f"Summary: experiment {exp.name}", facts, integrity_verdict(exp.meta),
                   (runs, _flags(flags)))
