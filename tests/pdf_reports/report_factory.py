"""Realistic synthetic evidence for the report tests; every factory takes **overrides."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import re
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, TypeVar

import rfc8785
from pypdf import PdfReader

from reports import (
    ArtifactEvidence,
    CheckpointInfo,
    DatasetEvidence,
    EnvironmentEvidence,
    ExperimentReportEvidence,
    GroupCountEvidence,
    GroupFigureEvidence,
    GroupSummaryEvidence,
    MetricEvidence,
    ParamEvidence,
    ReportMeta,
    RunEvidence,
    RunRef,
    RunReportEvidence,
)
from reports.citations import shown_seqs

T = TypeVar("T")
ATTRIBUTES = {"sex": ("female", "male", "nonbinary"), "age_band": ("18-34", "35-54", "55+")}
GROUP_METRICS = ("selection_rate", "true_positive_rate")
BAND = ("0.8", "1.25")
MIN_N = 30
POLICY_AT = "2026-03-01T09:00:00Z"
POLICY_BY = "maria.chen"
POLICY_SEQ = 3
LONG_FEATURES = ",".join(f"feature_{i:02d}_normalised_income_ratio" for i in range(12))


def hexid(label: str, size: int = 32) -> str:
    """A stable fake id or digest."""
    return hashlib.sha256(label.encode()).hexdigest()[:size]


class Seqs:
    """Hands out gapless seqs, as the ledger would."""

    def __init__(self, start: int = 10) -> None:
        self.next = start

    def __call__(self) -> int:
        self.next += 1
        return self.next - 1


def _fmt(d: Decimal) -> str:
    text = format(d.quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN), "f")
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return "0" if text in ("-0", "") else text


def _figure(group: str, value: str, n: int, ref: Decimal, is_ref: bool,
            seq: int) -> GroupFigureEvidence:
    v = Decimal(value)
    ratio = v / ref
    flags: list[str] = []
    if ratio < Decimal(BAND[0]) or ratio > Decimal(BAND[1]):
        flags.append("ratio_out_of_band")
    if n < MIN_N:
        flags.append("small_n")
    return GroupFigureEvidence(group, value, n, _fmt(ratio), _fmt(v - ref), is_ref, tuple(flags),
                               seq)


def make_summary(metric: str, attribute: str, values: dict[str, tuple[str, int]],
                 seq: int) -> GroupSummaryEvidence:
    """A summary with the highest value as reference, figures computed as the service does."""
    reference = max(values, key=lambda g: (Decimal(values[g][0]), g))
    ref = Decimal(values[reference][0])
    groups = tuple(_figure(g, v, n, ref, g == reference, seq) for g, (v, n) in values.items())
    numbers = [Decimal(v) for v, _ in values.values()]
    notes = tuple(f"group {g.group!r}: flag for review" for g in groups if g.flags)
    return GroupSummaryEvidence(
        metric=metric, attribute=attribute, reference=reference, reference_rule="highest_value",
        band=BAND, band_set_by=POLICY_BY, band_set_at=POLICY_AT, band_seq=POLICY_SEQ,
        min_n=MIN_N, groups=groups, min_max_ratio=_fmt(min(numbers) / max(numbers)),
        max_difference=_fmt(max(numbers) - min(numbers)), notes=notes)


def _group_values(i: int, metric: str, attribute: str) -> dict[str, tuple[str, int]]:
    base = Decimal("0.62") if metric == "selection_rate" else Decimal("0.81")
    out: dict[str, tuple[str, int]] = {}
    for k, group in enumerate(ATTRIBUTES[attribute]):
        # The last group trails by about a third, and is small for age: both get flagged.
        drop = Decimal("0.21") if k == 2 else Decimal("0.03") * k
        value = base + Decimal(i) / 200 - drop
        n = 12 if (attribute == "age_band" and k == 2) else 400 + 37 * k + i
        out[group] = (str(value), n)
    return out


def _datasets(i: int, seq: int) -> tuple[DatasetEvidence, ...]:
    counts = tuple(GroupCountEvidence(a, g, 1000 + 111 * k + i)
                   for a, groups in ATTRIBUTES.items() for k, g in enumerate(groups))
    return (
        DatasetEvidence("loans-train", "sha256:" + hexid(f"train{i}", 64), "training",
                        "s3://lake/credit/loans/2026-02/train.parquet", 120000 + i, counts, seq),
        DatasetEvidence("loans-test", "sha256:" + hexid(f"test{i}", 64), "test", None, 30000,
                        (), seq),
    )


def _artifacts(i: int, seqs: Seqs) -> tuple[ArtifactEvidence, ...]:
    return (
        ArtifactEvidence("model/model.pkl", hexid(f"model{i}", 64), 5_242_880 + i, "verified",
                         "a1b2c3d4", hexid(f"env{i}", 64), seqs()),
        ArtifactEvidence("reports/fairness/evaluation_by_group_and_intersection_2026.json",
                         hexid(f"eval{i}", 64), 18_211, "unsigned", None, None, seqs()),
    )


def make_run(i: int = 0, seqs: Seqs | None = None, **overrides: Any) -> RunEvidence:
    """A finished training run with params, metrics, 2 attributes x 2 metrics, data, artifacts."""
    seqs = seqs or Seqs(100 + 40 * i)
    created = seqs()
    params = (ParamEvidence("learning_rate", str(Decimal("0.05") + Decimal(i) / 1000), seqs()),
              ParamEvidence("max_depth", str(4 + i % 3), created + 1),
              ParamEvidence("features", LONG_FEATURES, created + 1))
    metric_seq = seqs()
    metrics = (MetricEvidence("accuracy", str(Decimal("0.80") + Decimal(i) / 100), 10,
                              "2026-03-02T10:15:00Z", metric_seq),
               MetricEvidence("auc", str(Decimal("0.850") + Decimal(i) / 250), 10,
                              "2026-03-02T10:15:00Z", metric_seq))
    summaries = tuple(make_summary(m, a, _group_values(i, m, a), metric_seq)
                      for m in GROUP_METRICS for a in ATTRIBUTES)
    data_seq = seqs()
    env = EnvironmentEvidence("3.11.9", "Linux 6.8", "x86_64", "1x NVIDIA L4",
                              "sha256:" + hexid("image", 64), hexid("lock", 64),
                              (("numpy", "2.1.0"), ("scikit-learn", "1.5.2")), seqs())
    run = RunEvidence(
        run_id=hexid(f"run{i}"), name=f"train-gbm-{i:02d}", experiment_id=hexid("exp", 12),
        experiment_name="credit-risk-gbm", status="FINISHED", created_by="dev.alice",
        start_time=f"2026-03-02T{8 + i % 10:02d}:00:00Z", end_time="2026-03-02T19:30:00Z",
        source=(("git_commit", hexid(f"commit{i}", 40)),
                ("repository", "https://git.example.com/risk/credit-models.git"),
                ("entry_point", "train.py")),
        parents=(RunRef(hexid("sweep"), "hyperparameter-sweep", 20),),
        params=params, metrics=metrics, group_summaries=summaries,
        datasets=_datasets(i, data_seq), artifacts=_artifacts(i, seqs), environment=env,
        manifest_sha256=hexid(f"manifest{i}", 64), created_seq=created, ended_seq=seqs(),
        cited_seqs=())
    run = dataclasses.replace(run, **overrides)
    return with_citations(run)


def with_citations(run: RunEvidence) -> RunEvidence:
    """The run citing every seq it shows (what the service puts in the bundle)."""
    shown = {run.created_seq, *(p.seq for p in run.parents), *(p.seq for p in run.params),
             *(m.seq for m in run.metrics), *(d.seq for d in run.datasets),
             *(a.seq for a in run.artifacts),
             *(g.seq for s in run.group_summaries for g in s.groups)}
    if run.ended_seq is not None:
        shown.add(run.ended_seq)
    if run.environment is not None:
        shown.add(run.environment.seq)
    return dataclasses.replace(run, cited_seqs=tuple(sorted(shown | set(run.cited_seqs))))


def empty_run(**overrides: Any) -> RunEvidence:
    """A run that logged nothing at all and is still running."""
    run = RunEvidence(
        run_id=hexid("empty"), name="", experiment_id=hexid("exp", 12),
        experiment_name="credit-risk-gbm", status="RUNNING", created_by="dev.alice",
        start_time="2026-03-05T08:00:00Z", end_time=None, source=(), parents=(), params=(),
        metrics=(), group_summaries=(), datasets=(), artifacts=(), environment=None,
        manifest_sha256=None, created_seq=900, ended_seq=None, cited_seqs=(900,))
    return dataclasses.replace(run, **overrides)


def bundle_for(evidence: Any, meta: dict[str, Any]) -> bytes:
    """Stand-in evidence bundle: RFC 8785 JSON with fake canonical bytes and proofs per seq."""
    seqs = shown_seqs(evidence)
    entries = [{"seq": s, "canonical": base64.b64encode(f"entry {s}".encode()).decode(),
                "inclusion_proof": [hexid(f"node{s}-{k}", 64) for k in range(3)]}
               for s in seqs]
    report = {k: v for k, v in meta.items() if isinstance(v, str | bool | None)}
    return bytes(rfc8785.dumps({"v": 1, "kind": type(evidence).__name__, "report": report,
                                "entries": entries}))




def meta_for(kind: str, bundle: bytes, **overrides: Any) -> ReportMeta:
    """Report metadata for ``bundle``: a verified ledger, a checkpoint of 4096 entries."""
    note = ("mlaudit.example.com/ledger\n4096\n" + base64.b64encode(bytes(32)).decode() + "\n\n"
            "\u2014 mlaudit.example.com/ledger " + base64.b64encode(bytes(68)).decode() + "\n")
    fields: dict[str, Any] = {
        "report_id": hexid(f"report-{kind}"), "kind": kind,
        "title": {"model": "Model report: credit-risk", "run": "Run report: train-gbm-00",
                  "experiment": "Experiment report: credit-risk-gbm"}[kind],
        "as_of": "2026-03-15T12:00:00Z", "generator_version": "0.1.0",
        "evidence_sha256": hashlib.sha256(bundle).hexdigest(),
        "checkpoint": CheckpointInfo(4096, base64.b64encode(bytes(32)).decode(), "a1b2c3d4",
                                     base64.b64encode(bytes(68)).decode(), note),
        "ledger_verified": True, "ledger_problem": None, "forced": False,
        "ledger_summary": "4096 entries and 12 checkpoints verified"}
    fields.update(overrides)
    return ReportMeta(**fields)


def finish(evidence: T, kind: str, meta: dict[str, Any]) -> tuple[T, bytes]:
    """Build the bundle for ``evidence`` and give it the matching metadata."""
    bundle = bundle_for(evidence, meta)
    return dataclasses.replace(evidence, meta=meta_for(kind, bundle, **meta)), bundle


def make_run_evidence(meta: dict[str, Any] | None = None,
                      run: RunEvidence | None = None) -> tuple[RunReportEvidence, bytes]:
    """A run report's evidence and its bundle bytes."""
    evidence = RunReportEvidence(meta_for("run", b""), run or make_run(0))
    return finish(evidence, "run", meta or {})


def make_experiment_evidence(meta: dict[str, Any] | None = None,
                             **overrides: Any) -> tuple[ExperimentReportEvidence, bytes]:
    """An experiment of ten runs, one with an undefined ratio, and its bundle bytes."""
    runs = [make_run(i) for i in range(10)]
    odd = runs[7].group_summaries[0]
    undefined = dataclasses.replace(odd.groups[2], value="NaN", ratio=None, difference=None,
                                    flags=("ratio_undefined",))
    odd = dataclasses.replace(odd, groups=(*odd.groups[:2], undefined), min_max_ratio=None,
                              max_difference=None,
                              notes=("group 'nonbinary' has value NaN: its ratio and difference "
                                     "are undefined",))
    runs[7] = dataclasses.replace(runs[7], group_summaries=(odd, *runs[7].group_summaries[1:]))
    evidence = ExperimentReportEvidence(
        meta=meta_for("experiment", b""), experiment_id=hexid("exp", 12), name="credit-risk-gbm",
        description="Gradient-boosted credit risk models", created_seq=5, runs=tuple(runs),
        compare_metrics=("accuracy", "auc"),
        compare_groups=(("selection_rate", "sex"), ("selection_rate", "age_band"),
                        ("true_positive_rate", "sex"), ("true_positive_rate", "age_band")))
    return finish(dataclasses.replace(evidence, **overrides), "experiment", meta or {})


def page_texts(pdf: bytes) -> list[str]:
    """The extracted text of every page, whitespace runs collapsed to one space."""
    return [re.sub(r"\s+", " ", page.extract_text() or "")
            for page in PdfReader(io.BytesIO(pdf)).pages]


def squeezed(texts: list[str]) -> str:
    """All pages' text without any whitespace, for digests that wrap inside table cells."""
    return "".join("".join(t.split()) for t in texts)
