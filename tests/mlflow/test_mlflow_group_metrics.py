"""The stock mlflow client reads a group's value back under one stable key across runs and
steps, and its n under the read-only companion key (app/tracking/group_keys.py)."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

import mlflow
import pytest
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

# Six runs, each logging the same two groups with its own n (and so its own logged keys).
RATES = [(0.30, 412, 0.40, 380), (0.32, 544, 0.41, 390), (0.28, 501, 0.45, 377),
         (0.35, 498, 0.39, 402), (0.31, 530, 0.43, 366), (0.29, 476, 0.44, 420)]


def six_runs() -> tuple[str, list[str]]:
    experiment = mlflow.set_experiment("fairness-six").experiment_id
    ids = []
    for f_rate, f_n, m_rate, m_n in RATES:
        with mlflow.start_run() as run:
            mlflow.log_metrics({f"selection_rate[sex=F;n={f_n}]": f_rate,
                                f"selection_rate[sex=M;n={m_n}]": m_rate, "accuracy": 0.8})
        ids.append(run.info.run_id)
    return experiment, ids


def ledger_metrics(client: Any, auth: dict[str, str]) -> list[dict[str, Any]]:
    """Every metric of every metrics.logged entry, as the entry's body holds it."""
    found = client.get("/api/v1/ledger/entries?limit=1000", headers=auth).json["entries"]
    decoded = [json.loads(base64.b64decode(e["canonical"])) for e in found]
    return [m for e in decoded if e["kind"] == "metrics.logged" for m in e["body"]["metrics"]]


def test_six_runs_give_one_column_per_group_and_one_for_its_n(tracking: str) -> None:
    experiment, ids = six_runs()
    frame = mlflow.search_runs([experiment])
    assert sorted(c for c in frame.columns if c.startswith("metrics.")) == [
        "metrics.accuracy", "metrics.selection_rate[sex=F;n]", "metrics.selection_rate[sex=F]",
        "metrics.selection_rate[sex=M;n]", "metrics.selection_rate[sex=M]"]
    by_run = frame.set_index("run_id")
    for run_id, (f_rate, f_n, m_rate, m_n) in zip(ids, RATES, strict=True):
        row = by_run.loc[run_id]
        assert (row["metrics.selection_rate[sex=F]"], row["metrics.selection_rate[sex=F;n]"],
                row["metrics.selection_rate[sex=M]"], row["metrics.selection_rate[sex=M;n]"]) \
            == (f_rate, f_n, m_rate, m_n)
        metrics = MlflowClient().get_run(run_id).data.metrics
        assert metrics == {"selection_rate[sex=F]": f_rate, "selection_rate[sex=F;n]": f_n,
                           "selection_rate[sex=M]": m_rate, "selection_rate[sex=M;n]": m_n,
                           "accuracy": 0.8}


def test_search_filters_and_orders_by_a_group_and_by_its_n(
        tracking: str, client: Any, auth: dict[str, str]) -> None:
    experiment, ids = six_runs()
    ml = MlflowClient()
    found = ml.search_runs([experiment], "metrics.`selection_rate[sex=F]` >= 0.31",
                           order_by=["metrics.`selection_rate[sex=F]` DESC"])
    assert [r.info.run_id for r in found] == [ids[3], ids[1], ids[4]]
    assert [r.data.metrics["selection_rate[sex=F]"] for r in found] == [0.35, 0.32, 0.31]
    by_n = ml.search_runs([experiment], "metrics.`selection_rate[sex=F;n]` > 500",
                          order_by=["metrics.`selection_rate[sex=F;n]` ASC"])
    assert [r.data.metrics["selection_rate[sex=F;n]"] for r in by_n] == [501, 530, 544]
    both = ml.search_runs([experiment], "metrics.`selection_rate[sex=M;n]` < 400 AND "
                          "metrics.`selection_rate[sex=M]` > 0.40")
    assert {r.info.run_id for r in both} == {ids[1], ids[2], ids[4]}
    # A key spelled with a count (the read-back of earlier versions) still names its group.
    old = ml.search_runs([experiment], "metrics.`selection_rate[sex=F;n=544]` < 0.29")
    assert [r.info.run_id for r in old] == [ids[2]]
    # The native API searches with the same keys.
    native = client.get("/api/v1/runs?filter=" + quote(
        "metrics.`selection_rate[sex=F;n]` >= 530") + "&order_by=" + quote(
        "metrics.`selection_rate[sex=F;n]` DESC"), headers=auth)
    assert native.status_code == 200, native.json
    assert [r["id"] for r in native.json["runs"]] == [ids[1], ids[4]]


def test_history_reads_each_step_under_the_stable_key_with_its_n(tracking: str) -> None:
    ml = MlflowClient()
    mlflow.set_experiment("fairness-history")
    steps = [(0, 0.30, 412), (1, 0.32, 415), (2, 0.33, None), (3, 0.31, 430)]
    with mlflow.start_run() as run:
        for step, rate, n in steps:
            suffix = "" if n is None else f";n={n}"
            mlflow.log_metric(f"selection_rate[sex=F{suffix}]", rate, step=step)
        mlflow.log_metric("selection_rate[sex=M]", 0.4, step=0)  # no n: none read back
    run_id = run.info.run_id
    history = ml.get_metric_history(run_id, "selection_rate[sex=F]")
    assert [(m.key, m.step, m.value) for m in history] == [
        ("selection_rate[sex=F]", step, rate) for step, rate, _ in steps]
    n_history = ml.get_metric_history(run_id, "selection_rate[sex=F;n]")
    assert [(m.key, m.step, m.value) for m in n_history] == [
        ("selection_rate[sex=F;n]", step, n) for step, _, n in steps if n is not None]
    assert [m.timestamp for m in n_history] == [
        m.timestamp for m in history if m.step != 2]  # each n at its value's timestamp
    assert [m.value for m in ml.get_metric_history(
        run_id, "selection_rate[sex=F;n=412]")] == [rate for _, rate, _ in steps]
    assert ml.get_metric_history(run_id, "selection_rate[sex=M;n]") == []
    assert ml.get_run(run_id).data.metrics == {
        "selection_rate[sex=F]": 0.31, "selection_rate[sex=F;n]": 430,
        "selection_rate[sex=M]": 0.4}


def test_a_latest_value_without_n_shows_no_n(tracking: str) -> None:
    """The companion reads the n of the latest value, never an older value's n."""
    with mlflow.start_run() as run:
        mlflow.log_metric("rate[sex=F;n=10]", 0.5, step=1)
        mlflow.log_metric("rate[sex=F]", 0.6, step=2)
    ml = MlflowClient()
    assert ml.get_run(run.info.run_id).data.metrics == {"rate[sex=F]": 0.6}
    assert [(m.step, m.value) for m in ml.get_metric_history(run.info.run_id,
                                                             "rate[sex=F;n]")] == [(1, 10)]


def test_writes_keep_their_convention_and_the_ledger_keeps_n_with_the_value(
        tracking: str, client: Any, auth: dict[str, str]) -> None:
    with mlflow.start_run() as run:
        mlflow.log_metric("selection_rate[sex=F;n=544]", 0.31, step=1)
        mlflow.log_metric("selection_rate[sex=M]", 0.42, step=1)
        MlflowClient().log_batch(run.info.run_id, metrics=[
            mlflow.entities.Metric("tpr[age_band=40-49,sex=F;n=77]", 0.7, 5, 2)])
    run_id = run.info.run_id
    assert MlflowClient().get_run(run_id).data.metrics == {
        "selection_rate[sex=F]": 0.31, "selection_rate[sex=F;n]": 544,
        "selection_rate[sex=M]": 0.42, "tpr[age_band=40-49,sex=F]": 0.7,
        "tpr[age_band=40-49,sex=F;n]": 77}
    logged = {(m["key"], json.dumps(m.get("group"), sort_keys=True)): (m["value"], m.get("n"))
              for m in ledger_metrics(client, auth)}
    assert logged == {("selection_rate", '{"sex": "F"}'): ("0.31", "544"),
                      ("selection_rate", '{"sex": "M"}'): ("0.42", None),
                      ("tpr", '{"age_band": "40-49", "sex": "F"}'): ("0.7", "77")}
    native = client.get(f"/api/v1/runs/{run_id}", headers=auth).json["metrics"]
    assert {(m["key"], m["group"]["sex"], m.get("n")) for m in native} == {
        ("selection_rate", "F", 544), ("selection_rate", "M", None), ("tpr", "F", 77)}


def test_a_value_and_its_n_logged_together_are_one_grouped_metric(
        tracking: str, client: Any, auth: dict[str, str]) -> None:
    """Logging the companion beside its value (one log_metrics call: one step, one timestamp)
    records what `rate[sex=F;n=544]` records; so does re-logging what was read back."""
    ml = MlflowClient()
    with mlflow.start_run() as run:
        mlflow.log_metrics({"rate[sex=F]": 0.31, "rate[sex=F;n]": 544, "loss": 0.2}, step=3)
        mlflow.log_metric("rate[sex=M;n=380]", 0.40, step=3)
    run_id = run.info.run_id
    assert [(m["key"], m.get("group"), m.get("n")) for m in ledger_metrics(client, auth)] == [
        ("rate", {"sex": "F"}, "544"), ("loss", None, None), ("rate", {"sex": "M"}, "380")]
    # What mlflow.<flavor>.log_model does: read every key's history back, log it again.
    copied = [m for key in ml.get_run(run_id).data.metrics
              for m in ml.get_metric_history(run_id, key)]
    ml.log_batch(run_id, metrics=copied)
    again = ledger_metrics(client, auth)[3:]
    assert sorted((m["key"], m["value"], m.get("n") or "") for m in again) == [
        ("loss", "0.2", ""), ("rate", "0.31", "544"), ("rate", "0.4", "380")]
    assert ml.get_run(run_id).data.metrics == {
        "rate[sex=F]": 0.31, "rate[sex=F;n]": 544, "rate[sex=M]": 0.40, "rate[sex=M;n]": 380,
        "loss": 0.2}


def refused(log: Any) -> str:
    with pytest.raises(MlflowException) as caught:
        log()
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    return str(caught.value.message)


def test_a_companion_key_alone_or_naming_no_group_is_refused(
        tracking: str, client: Any, auth: dict[str, str]) -> None:
    Metric = mlflow.entities.Metric
    with mlflow.start_run() as run:
        ml, run_id = MlflowClient(), run.info.run_id
        assert "logged with its value" in refused(
            lambda: mlflow.log_metric("selection_rate[sex=F;n]", 3))
        assert "logged with its value" in refused(lambda: ml.log_batch(run_id, metrics=[
            Metric("ok", 1, 1, 0), Metric("rate[sex=F]", 0.3, 1, 0),
            Metric("rate[sex=F;n]", 3, 2, 0)]))  # another timestamp: not its value
        for key in ("rate[b=1,a=2;n]", "x[;n]"):
            assert "names no group" in refused(lambda key=key: mlflow.log_metric(key, 3))
        assert "an integer from 0" in refused(
            lambda: mlflow.log_metrics({"rate[sex=F]": 0.3, "rate[sex=F;n]": 3.5}))
        assert "n=4 in its key and n=5" in refused(
            lambda: mlflow.log_metrics({"rate[sex=F;n=4]": 0.3, "rate[sex=F;n]": 5}))
        assert ledger_metrics(client, auth) == []
        mlflow.log_metric("selection_rate[sex=F;n=]", 1)  # malformed: still a plain metric
    assert ml.get_run(run_id).data.metrics == {"selection_rate[sex=F;n=]": 1}
