"""Evidence for PDF reports, read from the projections and the ledger (reports/evidence_*.py).

Everything shown carries the seq of the ledger entry it came from; the report service puts
every such entry, with its inclusion proof, into the evidence bundle.

``as_of`` (model reports) limits the policy, promotions, decisions and deployments to entries
recorded at or before that instant. It does not rewind the versions' runs (params, metrics,
artifacts are append-only and shown as they are now), nor stages and aliases, which are shown
as current; versions registered after ``as_of`` are left out.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg

from app.ledger import dsse
from app.ledger.checkpoint import CheckpointError, VerifierKey
from app.ledger.entry import format_timestamp
from app.services.artifacts import envelope_digest
from app.storage import ledger as ledger_store
from app.storage import registry as reg
from app.storage import tracking as runs
from app.tracking import groups
from reports import (
    ArtifactEvidence,
    DatasetEvidence,
    DecisionEvidence,
    DeploymentEvidence,
    EnvironmentEvidence,
    GateEvidence,
    GroupCountEvidence,
    GroupFigureEvidence,
    GroupSummaryEvidence,
    MetricEvidence,
    ParamEvidence,
    PolicyEvidence,
    PromotionEvidence,
    RunEvidence,
    RunRef,
    VersionEvidence,
)
from reports.citations import shown_seqs


class NotFound(LookupError):
    """The run, experiment, model or version does not exist."""


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


def entry_info(conn: psycopg.Connection, seqs: Iterable[int]) -> dict[int, tuple[datetime, str]]:
    """seq -> (recorded_at, actor)."""
    rows = conn.execute("SELECT seq, recorded_at, actor FROM ledger_entries WHERE seq = ANY(%s)",
                        (sorted(set(seqs)),)).fetchall()
    return {int(s): (at, actor) for s, at, actor in rows}


def entry_body(conn: psycopg.Connection, seq: int | None) -> dict[str, Any]:
    if seq is None:
        return {}
    row = ledger_store.get_entry(conn, seq)
    if row is None:
        return {}
    try:
        found = json.loads(bytes(row.canonical)).get("body", {})
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _verifier_keys(conn: psycopg.Connection) -> list[VerifierKey]:
    found = []
    for row in ledger_store.list_signing_keys(conn):
        try:
            found.append(VerifierKey.from_string(row.verifier_key))
        except CheckpointError:
            continue
    return found


def _summaries(latest: Sequence[runs.MetricRow], bands: Bands) -> list[GroupSummaryEvidence]:
    by_pair: dict[tuple[str, str], list[runs.MetricRow]] = {}
    for m in latest:
        if m.group_values and len(m.group_values) == 1:
            (attribute,) = m.group_values
            by_pair.setdefault((m.key, attribute), []).append(m)
    out = []
    for (metric, attribute), rows in sorted(by_pair.items()):
        rows.sort(key=lambda r: r.group_values[attribute])  # type: ignore[index]
        values = [groups.GroupValue(r.group_values[attribute], r.value, r.n)  # type: ignore[index]
                  for r in rows]
        seq_of = {r.group_values[attribute]: r.seq for r in rows}  # type: ignore[index]
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


def _datasets(conn: psycopg.Connection, run_id: str) -> list[DatasetEvidence]:
    out = []
    for i in runs.get_inputs(conn, run_id):
        counts = tuple(GroupCountEvidence(a, g, int(n))
                       for a, by_group in sorted((i.group_counts or {}).items())
                       for g, n in sorted(by_group.items()))
        out.append(DatasetEvidence(i.name, i.digest, i.context, i.source_uri, i.row_count,
                                   counts, i.seq))
    return out


def _artifacts(conn: psycopg.Connection, run_id: str,
               keys: list[VerifierKey]) -> list[ArtifactEvidence]:
    rows = conn.execute("SELECT path, sha256, size, envelope, seq FROM artifacts "
                        "WHERE run_id = %s ORDER BY path", (run_id,)).fetchall()
    out = []
    for path, sha256, size, envelope, seq in rows:
        status, signer, env_sha = "unsigned", None, None
        if envelope:
            env_sha = envelope_digest(envelope)
            sigs = envelope.get("signatures") or [{}]
            signer = sigs[0].get("keyid") if isinstance(sigs[0], dict) else None
            try:
                statement = dsse.verify_envelope(envelope, keys)
                subject = statement.get("subject") or [{}]
                digest = subject[0].get("digest", {}).get("sha256")  # type: ignore[index]
                status = "verified" if digest in (None, sha256) else "invalid"
            except (dsse.DsseError, AttributeError, IndexError, TypeError):
                status = "invalid"
        out.append(ArtifactEvidence(path, sha256, int(size), status, signer, env_sha, int(seq)))
    return out


def _environment(conn: psycopg.Connection, run_id: str) -> EnvironmentEvidence | None:
    row = conn.execute("SELECT environment, environment_seq FROM runs WHERE id = %s",
                       (run_id,)).fetchone()
    if row is None or row[0] is None or row[1] is None:
        return None
    env: dict[str, Any] = row[0]
    packages = tuple((str(p.get("name", "")), str(p.get("version", "")))
                     for p in env.get("packages") or [])
    return EnvironmentEvidence(
        str(env.get("python_version", "")), str(env.get("os", "")),
        str(env.get("architecture", "")), str(env.get("hardware") or ""),
        env.get("container_image_digest"), env.get("lockfile_sha256"), packages, int(row[1]))


def _parents(conn: psycopg.Connection, run: runs.RunRow) -> list[RunRef]:
    chain: list[RunRef] = []
    seen = {run.id}
    parent_id = run.parent_run_id
    while parent_id and parent_id not in seen and len(chain) < 100:
        seen.add(parent_id)
        parent = runs.get_run(conn, parent_id)
        if parent is None:
            break
        chain.append(RunRef(parent.id, parent.name, parent.created_seq))
        parent_id = parent.parent_run_id
    return chain


def run_evidence(conn: psycopg.Connection, run_id: str, bands: Bands | None = None,
                 keys: list[VerifierKey] | None = None) -> RunEvidence:
    run = runs.get_run(conn, run_id)
    if run is None:
        raise NotFound(f"run {run_id!r} not found")
    experiment = runs.get_experiment(conn, run.experiment_id)
    keys = _verifier_keys(conn) if keys is None else keys
    params = [ParamEvidence(k, v, int(s)) for k, v, s in conn.execute(
        "SELECT key, value, seq FROM params WHERE run_id = %s ORDER BY seq, key",
        (run_id,)).fetchall()]
    latest = runs.latest_metrics(conn, run_id)
    metrics = [MetricEvidence(m.key, m.value, m.step, ms_time(m.timestamp) or "", m.seq)
               for m in latest if not m.group_values]
    summaries = _summaries(latest, bands or {})
    datasets = _datasets(conn, run_id)
    artifacts = _artifacts(conn, run_id, keys)
    environment = _environment(conn, run_id)
    parents = _parents(conn, run)
    source = tuple((str(k), str(v)) for k, v in sorted((run.source or {}).items())
                   if v is not None)
    evidence = RunEvidence(
        run_id=run.id, name=run.name or "", experiment_id=run.experiment_id,
        experiment_name=experiment.name if experiment else "", status=run.status,
        created_by=run.created_by, start_time=ms_time(run.start_time) or "",
        end_time=ms_time(run.end_time), source=source, parents=tuple(parents),
        params=tuple(params), metrics=tuple(metrics), group_summaries=tuple(summaries),
        datasets=tuple(datasets), artifacts=tuple(artifacts), environment=environment,
        manifest_sha256=run.manifest_sha256, created_seq=run.created_seq,
        ended_seq=run.ended_seq, cited_seqs=())
    return dataclasses.replace(evidence, cited_seqs=tuple(shown_seqs(evidence)))




def experiment_runs(conn: psycopg.Connection, experiment_id: str) -> list[str]:
    rows = conn.execute("SELECT id FROM runs WHERE experiment_id = %s ORDER BY created_seq",
                        (experiment_id,)).fetchall()
    return [r[0] for r in rows]


# Model reports


def _policy(conn: psycopg.Connection, name: str, as_of: datetime | None
            ) -> tuple[dict[str, Any], str, int, datetime] | None:
    rows = conn.execute(
        "SELECT p.policy, p.set_by, p.seq, e.recorded_at FROM model_policies p "
        "JOIN ledger_entries e ON e.seq = p.seq WHERE p.model_name = %s "
        "AND (%s::timestamptz IS NULL OR e.recorded_at <= %s) ORDER BY p.seq DESC LIMIT 1",
        (name, as_of, as_of)).fetchone()
    return None if rows is None else (rows[0], rows[1], int(rows[2]), rows[3])


def _clauses(policy: Mapping[str, Any]) -> tuple[str, ...]:
    out = []
    for key, value in policy.items():
        if key == "fairness" and isinstance(value, list):
            for clause in value:
                out.append("fairness: " + ", ".join(f"{k} {json.dumps(v)}"
                                                    for k, v in sorted(clause.items())))
        else:
            out.append(f"{key}: {json.dumps(value, sort_keys=True)}")
    return tuple(out)


def _bands(policy: Mapping[str, Any], set_by: str, set_at: str, seq: int) -> dict[Any, Band]:
    out: dict[tuple[str, str], Band] = {}
    for clause in policy.get("fairness") or []:
        if not isinstance(clause, dict) or "band" not in clause:
            continue
        try:
            low, high = (Decimal(str(b)) for b in clause["band"])
        except (ValueError, TypeError, ArithmeticError):
            continue
        out[(clause.get("metric", ""), clause.get("attribute", ""))] = Band(
            (low, high), int(clause.get("min_n", groups.DEFAULT_MIN_N)),
            clause.get("reference"), set_by, set_at, seq)
    return out


def _gates(evaluation: Mapping[str, Any] | None, seq: int) -> tuple[GateEvidence, ...]:
    out = []
    for r in (evaluation or {}).get("results", []):
        figures = tuple((str(k), None if v is None else str(v))
                        for k, v in (r.get("figures") or {}).items())
        out.append(GateEvidence(str(r.get("gate", "")), bool(r.get("passed")),
                                str(r.get("detail", "")), figures, seq))
    return tuple(out)


_MEANING = {"approved": "approval for release", "rejected": "rejection of the release",
            "refused": "decision refused by the service"}
# decisions.outcome in the database (the decision asked for) → the report's outcome words
_OUTCOME = {"approve": "approved", "reject": "rejected", "refused": "refused"}


def check_model(conn: psycopg.Connection, name: str, version: int | None) -> None:
    """NotFound unless the model (and the version, when one is asked for) exists."""
    if reg.get_model(conn, name) is None:
        raise NotFound(f"model {name!r} not found")
    if version is not None and reg.get_version(conn, name, version) is None:
        raise NotFound(f"model {name!r} has no version {version}")


def model_evidence(conn: psycopg.Connection, name: str, version: int | None,
                   as_of: datetime | None) -> dict[str, Any]:
    """The fields of ModelReportEvidence except meta."""
    model = reg.get_model(conn, name)
    if model is None:
        raise NotFound(f"model {name!r} not found")
    rows = reg.list_versions(conn, name)
    if version is not None:
        rows = [r for r in rows if r.version == version]
        if not rows:
            raise NotFound(f"model {name!r} has no version {version}")
    promotions = reg.promotions(conn, name)
    decisions = {p.id: reg.decisions(conn, p.id) for p in promotions}
    deployments = reg.deployments(conn, name, None)
    seqs = [r.created_seq for r in rows] + [p.created_seq for p in promotions]
    seqs += [d.seq for ds in decisions.values() for d in ds] + [d.seq for d in deployments]
    seqs += [p.closed_seq for p in promotions if p.closed_seq is not None]
    info = entry_info(conn, seqs)

    def visible(seq: int | None) -> bool:
        return seq is not None and (as_of is None or (seq in info and info[seq][0] <= as_of))

    def at(seq: int) -> str:
        return format_timestamp(info[seq][0]) if seq in info else ""

    policy_row = _policy(conn, name, as_of)
    policy, bands = None, {}
    if policy_row is not None:
        body, set_by, pseq, pat = policy_row
        policy = PolicyEvidence(_clauses(body), set_by, format_timestamp(pat), pseq)
        bands = _bands(body, set_by, format_timestamp(pat), pseq)
    keys = _verifier_keys(conn)
    alias_map = reg.aliases(conn, name)
    versions = []
    for row in rows:
        if not visible(row.created_seq):
            continue
        run = run_evidence(conn, row.run_id, bands, keys)
        used = {s.band_seq for s in run.group_summaries if s.band_seq is not None}
        if used:
            run = dataclasses.replace(run, cited_seqs=tuple(sorted(set(run.cited_seqs) | used)))
        proms = []
        for p in promotions:
            if p.version != row.version or not visible(p.created_seq):
                continue
            closed = p.closed_seq if visible(p.closed_seq) else None
            decs = []
            for d in decisions[p.id]:
                if not visible(d.seq):
                    continue
                body = entry_body(conn, d.seq)
                outcome = _OUTCOME[d.outcome]
                decs.append(DecisionEvidence(
                    outcome=outcome, approver=d.approver, role=d.role, decided_at=at(d.seq),
                    meaning=_MEANING[outcome], comment=d.comment or "",
                    version_digest=d.version_digest,
                    exception=(d.exception or {}).get("justification") if d.exception else None,
                    reason=body.get("reason"), gates=_gates(d.gates, d.seq), seq=d.seq))
            status = p.status if closed is not None or p.status == "pending" else "pending"
            reason = entry_body(conn, closed).get("reason") if closed is not None else None
            proms.append(PromotionEvidence(
                promotion_id=p.id, target=p.target, requested_by=p.requested_by,
                requested_at=at(p.created_seq), justification=p.justification,
                classification=p.classification, status=status,
                status_reason=reason if status in ("withdrawn", "invalidated") else None,
                request_gates=_gates(p.gates, p.created_seq), decisions=tuple(decs),
                seq=p.created_seq))
        versions.append(VersionEvidence(
            version=row.version, version_digest=row.version_digest,
            registered_by=row.created_by, registered_at=at(row.created_seq),
            artifact_path=row.artifact_path, stage=row.stage or None,
            aliases=tuple(sorted(a for a, v in alias_map.items() if v == row.version)),
            run=run, promotions=tuple(proms), seq=row.created_seq))
    covered = {v.version for v in versions}
    deps = tuple(DeploymentEvidence(
        deployment_id=d.id, event="rolled back" if d.rollback_of else "deployed",
        version=d.version, environment=d.environment,
        endpoint=str((d.target or {}).get("endpoint") or ""),
        image_digest=(d.target or {}).get("image_digest"), deployed_by=d.deployer,
        deployed_at=format_timestamp(d.deployed_at), promotion_id=d.promotion_id,
        reason=d.reason, rollback_of=d.rollback_of, seq=d.seq)
        for d in deployments if d.version in covered and visible(d.seq))
    return {"name": model.name, "description": model.description or "", "owner": model.owner,
            "sensitive_attributes": tuple(model.sensitive_attributes),
            "protected_targets": tuple(model.protected_targets), "quorum": model.quorum,
            "policy": policy, "versions": tuple(versions), "deployments": deps,
            "all_versions": version is None, "created_seq": model.created_seq}
