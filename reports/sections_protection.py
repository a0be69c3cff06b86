"""Sections for declared environments and demotions out of protected stages and aliases."""

from __future__ import annotations

from reports.doc import Cell, Node, data_table, empty, flag, heading, mono
from reports.evidence import ModelReportEvidence
from reports.people import person
from reports.summary_data import when

__all__ = ["demotions", "environment_title"]


def environment_title(model: ModelReportEvidence, name: str) -> str:
    """"Environment: prod (protected, seq 12)", as the environment was declared."""
    found = next((e for e in model.environments if e.name == name), None)
    if found is None:
        return f"Environment: {name} (no declaration in this report)"
    word = "protected" if found.protected else "unprotected"
    adopted = "; adopted by the upgrade" if found.adopted else ""
    return f"Environment: {name} ({word}{adopted}, seq {found.seq})"


def demotions(model: ModelReportEvidence) -> list[Node]:
    """Every move of a version out of a protected stage or alias, with its reason."""
    out: list[Node] = [heading("Demotions")]
    if not model.demotions:
        return out + [empty("No version left a protected stage or alias.")]
    rows: list[list[Cell]] = [
        [when(d.demoted_at), str(d.version), d.left, d.moved_to or "removed",
         person(d.demoted_by_name, d.demoted_by),
         d.reason, mono(d.deployment_id or d.promotion_id or "none"), str(d.seq)]
        for d in model.demotions]
    header = ["When", "Ver.", "Left", "To", "By", "Reason", "Rollback / promotion", "Seq"]
    out.append(data_table(header, rows, [1.45, 0.45, 1.4, 0.8, 1.3, 2.4, 1.5, 0.45]))
    return out + [flag(f"demotion at seq {d.seq} gives no reason")
                  for d in model.demotions if not d.reason.strip()]
