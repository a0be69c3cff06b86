"""Report evidence computed from ledger entries alone, by pure code (no database).

`replay(entries)` runs the entries a report rests on through the registry's reducers
(app/kinds) into memory; the builders below read only what that replay made, and the entries
themselves (who, when, and what a decision or a closing entry said). The report service picks
the entries (app/storage/report_entries.py) and puts every one of them, with its inclusion
proof, into the evidence bundle; `mlaudit verify-report` replays the bundle's entries through
this same code and requires the same evidence, so a figure edited in the bundle, or a report
computed from anything but its entries, fails offline.

`as_of` (model reports) limits the policy, promotions, decisions and deployments to entries
recorded at or before that instant. It does not rewind the versions' runs (params, metrics,
artifacts are append-only and shown as they are now), nor stages and aliases, which are shown
as current; versions registered after `as_of` are left out. `live` says, per environment,
what was live at `as_of` and what is live among all the report's entries (the ledger as the
report's checkpoint holds it), so a report as of a past time still says what is live now.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cached_property
from typing import Any

from app import kinds
from app.kinds import Entry, MemoryState
from app.kinds.access import token_name_of
from app.ledger import dsse
from app.ledger.checkpoint import CheckpointError, VerifierKey
from app.ledger.entry import format_timestamp
from app.ledger.jcs import canonicalize
from app.tracking import groups
from reports import (
    ArtifactEvidence,
    ArtifactRevisionEvidence,
    DatasetEvidence,
    EnvironmentEvidence,
    ExperimentReportEvidence,
    GroupCountEvidence,
    GroupFigureEvidence,
    GroupSummaryEvidence,
    MetricEvidence,
    ModelReportEvidence,
    ParamEvidence,
    ReportMeta,
    RunEvidence,
    RunRef,
    RunReportEvidence,
    TagEvidence,
)
from reports.citations import shown_seqs


class NotFound(LookupError):
    """The run, experiment, model or version does not exist (in the entries given)."""


@dataclass
class Ledger:
    """The entries of a report, replayed: what their reducers made, and the entries."""

    state: MemoryState
    entries: dict[int, Entry]
    envelopes: Mapping[str, Any] = field(default_factory=dict)
    keys: Sequence[VerifierKey] = ()

    def rows(self, table: str) -> list[dict[str, Any]]:
        spec = kinds.table(table)
        return [spec.as_dict(r) for r in self.state.rows(table)]

    def current(self, table: str, *key: Any) -> dict[str, Any] | None:
        return self.state.current(table, key)

    def at(self, seq: int) -> datetime:
        return kinds.core.instant(self.entries[seq].recorded_at)

    @cached_property
    def _people(self) -> dict[str, tuple[str, str]]:
        """Token name -> (principal name, printed name), from the replayed entries."""
        principals = {p["id"]: (p["name"], p["display_name"]) for p in self.rows("principals")}
        holders = {b["token_id"]: principals.get(b["principal_id"])
                   for b in self.rows("token_principals")}
        return {t["name"]: held for t in self.rows("tokens")
                if (held := holders.get(t["id"])) is not None}

    def person(self, actor: str) -> str:
        """Whom separation of duties compares for an actor: `principal:<name>` of its token,
        else the actor itself (a `cli:` or `system` actor, or a token with no principal)."""
        held = self._people.get(token_name_of(actor) or "")
        return actor if held is None else f"principal:{held[0]}"

    def printed_name(self, actor: str) -> str:
        """The principal's display name; the token's name (or the actor) when it has none."""
        name = token_name_of(actor)
        held = self._people.get(name or "")
        return held[1] if held is not None else name or actor


def replay(entries: Iterable[tuple[int, bytes]], envelopes: Mapping[str, Any],
           keys: Sequence[VerifierKey]) -> Ledger:
    """Replay (seq, canonical bytes) in seq order into memory; ReduceError if one does not
    fit its kind or relies on an entry that is not among them."""
    state = MemoryState(keep_facts=True)
    found: dict[int, Entry] = {}
    for seq, canonical in sorted(entries):
        entry = kinds.entry_from_canonical(canonical)
        if entry.seq != seq:
            raise kinds.ReduceError(f"the entry filed as {seq} says it is {entry.seq}")
        state.apply(kinds.reduce(entry, state))
        found[seq] = entry
    return Ledger(state, found, dict(envelopes), list(keys))


@dataclass(frozen=True)
class Band:
    """Where a (metric, attribute) band comes from: a model policy's fairness clause."""

    band: tuple[Decimal, Decimal]
    min_n: int
    reference: str | None
    set_by: str
    set_at: str
    seq: int


Bands = Mapping[tuple[str, str], Band]


def ms_time(ms: int | str | None) -> str | None:
    """A millisecond timestamp as RFC 3339 UTC; one beyond what a date can show (the API
    takes any int64, so year 292278994 can be recorded) as its plain count."""
    if ms is None:
        return None
    try:
        return format_timestamp(datetime.fromtimestamp(int(ms) / 1000, UTC))
    except (OverflowError, OSError, ValueError):
        return f"{int(ms)} ms after the Unix epoch"


def _latest(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The latest value of each (key, group): highest step, then timestamp, seq, position;
    by key, then group (the order the database's reads give)."""
    best: dict[tuple[str, str], dict[str, Any]] = {}
    order = ("step", "timestamp", "seq", "position")
    for row in rows:
        at = (row["key"], row["group_key"])
        if at not in best or tuple(row[c] for c in order) > tuple(best[at][c] for c in order):
            best[at] = row
    return [best[k] for k in sorted(best, key=lambda k: (k[0].encode(), k[1].encode()))]


def _summaries(latest: Sequence[dict[str, Any]], bands: Bands) -> list[GroupSummaryEvidence]:
    by_pair: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for m in latest:
        found = m["group_values"]
        if found and len(found) == 1:
            (attribute,) = found
            by_pair.setdefault((m["key"], attribute), []).append(m)
    out = []
    for (metric, attribute), rows in sorted(by_pair.items()):
        rows.sort(key=lambda r: r["group_values"][attribute])
        values = [groups.GroupValue(r["group_values"][attribute], r["value"], r["n"])
                  for r in rows]
        seq_of = {r["group_values"][attribute]: r["seq"] for r in rows}
        band = bands.get((metric, attribute))
        try:
            if band is None:
                s = groups.summarize(attribute, values)
            else:
                s = groups.summarize(attribute, values, band.reference, band.band, band.min_n)
        except groups.GroupSummaryError:
            continue
        out.append(GroupSummaryEvidence(
            metric=metric, attribute=attribute, reference=s.reference,
            reference_rule=s.reference_rule, band=s.band,
            band_set_by=band.set_by if band else "default",
            band_set_at=band.set_at if band else None, band_seq=band.seq if band else None,
            min_n=s.min_n,
            groups=tuple(GroupFigureEvidence(f.group, f.value, f.n, f.ratio, f.difference,
                                             f.is_reference, f.flags, seq_of[f.group])
                         for f in s.groups),
            min_max_ratio=s.min_max_ratio, max_difference=s.max_difference, notes=s.notes))
    return out


def _datasets(ledger: Ledger, run_id: str) -> list[DatasetEvidence]:
    out = []
    rows = sorted((r for r in ledger.rows("run_inputs") if r["run_id"] == run_id),
                  key=lambda r: (r["seq"], r["name"].encode()))
    for i in rows:
        counts = tuple(GroupCountEvidence(a, g, int(n))
                       for a, by_group in sorted((i["group_counts"] or {}).items())
                       for g, n in sorted(by_group.items()))
        out.append(DatasetEvidence(i["name"], i["digest"], i["context"], i["source_uri"],
                                   i["row_count"], counts, i["seq"]))
    return out


def envelope_status(envelope: Mapping[str, Any] | None, sha256: str,
                    keys: Sequence[VerifierKey]) -> tuple[str, str | None, str | None]:
    """(verified | invalid | unsigned, signer, the envelope's SHA-256) of an artifact."""
    if not envelope:
        return "unsigned", None, None
    digest = hashlib.sha256(canonicalize(envelope)).hexdigest()
    sigs = envelope.get("signatures") or [{}]
    signer = sigs[0].get("keyid") if isinstance(sigs[0], dict) else None
    try:
        statement = dsse.verify_envelope(envelope, keys)
        subject = statement.get("subject") or [{}]
        found = subject[0].get("digest", {}).get("sha256")  # type: ignore[index]
        return ("verified" if found in (None, sha256) else "invalid"), signer, digest
    except (dsse.DsseError, AttributeError, IndexError, TypeError):
        return "invalid", signer, digest


def _artifacts(ledger: Ledger, run_id: str) -> list[ArtifactEvidence]:
    """The latest revision of each path, with every earlier one (oldest first)."""
    earlier: dict[str, list[ArtifactRevisionEvidence]] = {}
    for r in ledger.rows("artifact_revisions"):
        if r["run_id"] == run_id:
            earlier.setdefault(r["path"], []).append(ArtifactRevisionEvidence(
                r["revision"], r["sha256"], r["size"], r["seq"]))
    out = []
    for a in sorted((r for r in ledger.rows("artifacts") if r["run_id"] == run_id),
                    key=lambda r: r["path"].encode()):
        envelope = ledger.envelopes.get(a["envelope_sha256"])
        status, signer, digest = envelope_status(envelope, a["sha256"], ledger.keys)
        before = sorted(earlier.get(a["path"], ()), key=lambda r: r.seq)[:-1]
        out.append(ArtifactEvidence(a["path"], a["sha256"], a["size"], status, signer, digest,
                                    a["seq"], a["revision"], tuple(before)))
    return out


def _environment(ledger: Ledger, run_id: str) -> EnvironmentEvidence | None:
    found = [r for r in ledger.rows("run_environments") if r["run_id"] == run_id]
    if not found:
        return None
    env = found[0]["environment"]
    packages = tuple((str(p.get("name", "")), str(p.get("version", "")))
                     for p in env.get("packages") or [])
    return EnvironmentEvidence(
        str(env.get("python_version", "")), str(env.get("os", "")),
        str(env.get("architecture", "")), str(env.get("hardware") or ""),
        env.get("container_image_digest"), env.get("lockfile_sha256"), packages,
        int(found[0]["seq"]))


def _tags(ledger: Ledger, run_id: str) -> tuple[TagEvidence, ...]:
    """Each tag's latest value (a deletion leaves it out), sorted by key."""
    latest: dict[str, dict[str, Any]] = {}
    for t in ledger.rows("tag_events"):
        if t["run_id"] == run_id and (t["key"] not in latest
                                      or t["seq"] > latest[t["key"]]["seq"]):
            latest[t["key"]] = t
    return tuple(TagEvidence(k, t["value"], t["seq"])
                 for k, t in sorted(latest.items(), key=lambda kv: kv[0].encode())
                 if t["value"] is not None)


def _parents(ledger: Ledger, run: Mapping[str, Any]) -> list[RunRef]:
    chain: list[RunRef] = []
    seen = {run["id"]}
    parent_id = run["parent_run_id"]
    while parent_id and parent_id not in seen and len(chain) < 100:
        seen.add(parent_id)
        parent = ledger.current("runs", parent_id)
        if parent is None:  # named by the run (as MLflow's client sent it), never recorded
            chain.append(RunRef(parent_id, "", None))
            break
        chain.append(RunRef(parent["id"], parent["name"], parent["created_seq"]))
        parent_id = parent["parent_run_id"]
    return chain


def run_evidence(ledger: Ledger, run_id: str, bands: Bands | None = None) -> RunEvidence:
    run = ledger.current("runs", run_id)
    if run is None:
        raise NotFound(f"run {run_id!r} not found")
    experiment = ledger.current("experiments", run["experiment_id"])
    params = sorted((p["seq"], p["key"].encode(), ParamEvidence(p["key"], p["value"], p["seq"]))
                     for p in ledger.rows("params") if p["run_id"] == run_id)
    latest = _latest(m for m in ledger.rows("metrics") if m["run_id"] == run_id)
    metrics = [MetricEvidence(m["key"], m["value"], m["step"], ms_time(m["timestamp"]) or "",
                              m["seq"]) for m in latest if not m["group_values"]]
    source = tuple((str(k), str(v)) for k, v in sorted((run["source"] or {}).items())
                   if v is not None)
    evidence = RunEvidence(
        run_id=run["id"], name=run["name"] or "", experiment_id=run["experiment_id"],
        experiment_name=experiment["name"] if experiment else "", status=run["status"],
        created_by=run["created_by"], created_by_person=ledger.person(run["created_by"]),
        start_time=ms_time(run["start_time"]) or "",
        end_time=ms_time(run["end_time"]), source=source,
        parents=tuple(_parents(ledger, run)), params=tuple(p for _, _, p in params),
        metrics=tuple(metrics), group_summaries=tuple(_summaries(latest, bands or {})),
        datasets=tuple(_datasets(ledger, run_id)), artifacts=tuple(_artifacts(ledger, run_id)),
        environment=_environment(ledger, run_id), manifest_sha256=run["manifest_sha256"],
        created_seq=run["created_seq"], ended_seq=run["ended_seq"], cited_seqs=(),
        tags=_tags(ledger, run_id), created_by_name=ledger.printed_name(run["created_by"]))
    return dataclasses.replace(evidence, cited_seqs=tuple(shown_seqs(evidence)))


def experiment_evidence(ledger: Ledger, experiment_id: str) -> dict[str, Any]:
    """The fields of ExperimentReportEvidence except meta."""
    experiment = ledger.current("experiments", experiment_id)
    if experiment is None:
        raise NotFound(f"experiment {experiment_id!r} not found")
    runs = sorted((r for _, r in ledger.state.items("runs")
                   if r["experiment_id"] == experiment_id), key=lambda r: r["created_seq"])
    found = tuple(run_evidence(ledger, r["id"]) for r in runs)
    metrics = sorted({m.key for r in found for m in r.metrics})
    pairs = sorted({(s.metric, s.attribute) for r in found for s in r.group_summaries})
    return {"experiment_id": experiment["id"], "name": experiment["name"],
            "description": experiment["description"] or "",
            "created_seq": experiment["created_seq"], "runs": found,
            "metrics": tuple(metrics), "pairs": tuple(pairs)}


def verifier_keys(texts: Iterable[str]) -> list[VerifierKey]:
    found = []
    for text in texts:
        try:
            found.append(VerifierKey.from_string(text))
        except CheckpointError:
            continue
    return found


@dataclass(frozen=True)
class Request:
    """What a report was asked for; the evidence bundle records it, so a verifier can ask the
    same of the bundle's entries."""

    kind: str  # run | experiment | model
    subject: str  # run id, experiment id, or model name
    version: int | None = None
    as_of: str | None = None  # RFC 3339, model reports only

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "subject": self.subject, "version": self.version,
                "as_of": self.as_of}


Evidence = ModelReportEvidence | RunReportEvidence | ExperimentReportEvidence


def compute(ledger: Ledger, request: Request, meta: ReportMeta) -> Evidence:
    """The report's evidence from its entries: the one function both the report service and
    `mlaudit verify-report` run."""
    if request.kind == "run":
        return RunReportEvidence(meta, run_evidence(ledger, request.subject))
    if request.kind == "experiment":
        found = experiment_evidence(ledger, request.subject)
        return ExperimentReportEvidence(meta, found["experiment_id"], found["name"],
                                        found["description"], found["created_seq"],
                                        found["runs"], found["metrics"], found["pairs"])
    from app.services.report_model import model_evidence  # it builds on this module

    as_of = None if request.as_of is None else kinds.core.instant(request.as_of)
    return ModelReportEvidence(meta=meta, **model_evidence(ledger, request.subject,
                                                           request.version, as_of))


def needed_envelopes(ledger: Ledger) -> set[str]:
    """The envelope digests the artifacts the entries recorded name (every revision)."""
    return {a["envelope_sha256"] for a in ledger.rows("artifact_revisions")}
