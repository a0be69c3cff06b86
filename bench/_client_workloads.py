"""bench/mlflow_client_vs_mlflow.py's workloads: `MlflowClient`, and the fluent API."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

MIB = 1024 * 1024
T0 = 1_700_000_000_000
PHASES = ("params_tags", "log_metric", "batch", "artifact", "search", "history")
LATENCIES = ("search", "history")
# units each client moves in a rate phase: params_tags and log_metric count calls
UNITS = {"params_tags": 25, "log_metric": 100, "batch": 1000, "artifact": MIB}


@dataclass
class PhaseTimes:
    """One server's round: per rate phase (wall seconds, units); per latency phase, samples."""

    rates: dict[str, tuple[float, float]] = field(default_factory=dict)
    latencies: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class Target:
    """A server as a workload sees it."""

    name: str
    uri: str
    experiment: str
    artifacts: bool  # whether uploads go through the server (an artifact proxy)


def client_steps(target: Target, index: int, rnd: int, payload: Path
                 ) -> Callable[[Callable[..., None]], None]:
    """One client's run through the phases with an MlflowClient."""
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    c = MlflowClient(tracking_uri=target.uri)

    def steps(phase: Callable[..., None]) -> None:
        rid = c.create_run(target.experiment, start_time=T0, run_name=f"r{rnd}-{index}").info.run_id

        def params_tags() -> None:
            for i in range(20):
                c.log_param(rid, f"p{i}", f"v{i % 4}")
            for i in range(5):
                c.set_tag(rid, f"t{i}", f"x{i}")

        phase("params_tags", params_tags)
        phase("log_metric", lambda: [c.log_metric(rid, "loss", 1.0 / (i + 1), T0 + i, i)
                                     for i in range(100)])
        metrics = [Metric(f"m{j % 10}", (j * 7919 % 10007) / 10007, T0 + j, j // 10)
                   for j in range(1000)]
        phase("batch", lambda: c.log_batch(rid, metrics=metrics))
        phase("artifact", lambda: c.log_artifact(rid, str(payload)), skip=not target.artifacts)
        phase("search", lambda: c.search_runs(
            [target.experiment], "params.p1 = 'v1' and metrics.loss < 0.5", max_results=100))
        phase("history", lambda: c.get_metric_history(rid, "loss"))
        phase("end", lambda: c.set_terminated(rid))

    return steps


def fluent_steps(target: Target, index: int, rnd: int, payload: Path
                 ) -> Callable[[Callable[..., None]], None]:
    """One client's run through the phases with the fluent API (the tracking URI is the
    process's: the caller sets it before the round). The history has no fluent call."""
    import mlflow
    from mlflow.tracking import MlflowClient

    def steps(phase: Callable[..., None]) -> None:
        with mlflow.start_run(experiment_id=target.experiment, run_name=f"f{rnd}-{index}") as run:
            rid = run.info.run_id

            def params_tags() -> None:
                for i in range(10):  # 20 calls, each a log-batch request
                    mlflow.log_params({f"p{i}a": f"v{i % 4}", f"p{i}b": f"w{i % 4}"})
                    mlflow.set_tags({f"t{i}": f"x{i}"})
                for i in range(5):
                    mlflow.set_tag(f"s{i}", f"y{i}")

            phase("params_tags", params_tags)
            phase("log_metric", lambda: [mlflow.log_metric("loss", 1.0 / (i + 1), step=i,
                                                           timestamp=T0 + i)
                                         for i in range(100)])
            values = {f"m{j}": (j * 7919 % 10007) / 10007 for j in range(1000)}
            phase("batch", lambda: mlflow.log_metrics(values, step=0, timestamp=T0))
            phase("artifact", lambda: mlflow.log_artifact(str(payload)), skip=not target.artifacts)
            phase("search", lambda: mlflow.search_runs(
                [target.experiment], "params.p1a = 'v1' and metrics.loss < 0.5",
                max_results=100, output_format="list"))
            client = MlflowClient(tracking_uri=target.uri)
            phase("history", lambda: client.get_metric_history(rid, "loss"))
            phase("end", lambda: None)

    return steps


STEPS = {"client": client_steps, "fluent": fluent_steps}


def workload(kind: str, target: Target, clients: int, payloads: list[Path], rnd: int
             ) -> PhaseTimes:
    """--clients threads, one new run each, phase by phase with a barrier in between (a
    phase's wall time is its slowest client's)."""
    import mlflow

    mlflow.set_tracking_uri(target.uri)
    barrier = threading.Barrier(clients)
    starts: dict[str, float] = {}
    ends: dict[str, list[float]] = {p: [] for p in PHASES}
    lat: dict[str, list[float]] = {p: [] for p in LATENCIES}
    errors: list[BaseException] = []
    lock = threading.Lock()

    def phase(name: str, fn: Callable[[], object], skip: bool = False) -> None:
        barrier.wait()
        if skip:
            return
        with lock:
            starts.setdefault(name, time.perf_counter())
        t0 = time.perf_counter()
        fn()
        t1 = time.perf_counter()
        with lock:
            if name in ends:
                ends[name].append(t1)
            if name in lat:
                lat[name].append(t1 - t0)

    def body(index: int) -> None:
        try:
            STEPS[kind](target, index, rnd, payloads[index])(phase)
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=900)
    if errors:
        raise RuntimeError(f"{target.name} ({kind}): {errors[0]!r}") from errors[0]
    out = PhaseTimes(latencies=lat)
    for name, per_client in UNITS.items():
        if ends[name]:
            out.rates[name] = (max(ends[name]) - starts[name], per_client * clients)
    return out
