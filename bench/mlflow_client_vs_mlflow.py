"""The stock `mlflow` client against mlaudit, and against MLflow's own server, on the same
PostgreSQL (issue 6's speed targets).

Run from the repository root:  .venv/bin/python bench/mlflow_client_vs_mlflow.py  [--help]

Both servers run on 127.0.0.1 at the same time (bench/tracking_servers.py): mlaudit under
gunicorn, MLflow as `mlflow server --backend-store-uri postgresql://... --serve-artifacts` from
bench/.venv-mlflow, each on its own fresh database of one PostgreSQL server. The client is the
project's mlflow-skinny (`MlflowClient`), the same code for both servers; MLFLOW_TRACKING_TOKEN
carries mlaudit's writer token (MLflow's server ignores it).

Each round, --clients threads each take one new run through the workload, phase by phase (a
barrier between phases, so a phase's wall time is that of its slowest client):
  params     20 log_param calls               tags       5 set_tag calls
  log_metric 100 log_metric calls             batch      one log_batch of 1000 metrics
  artifact   one log_artifact of a 1 MiB file (different bytes per run)
  search     search_runs over the experiment, filter on a param and a metric
  history    get_metric_history of the 100-value metric
Rounds alternate which server goes first; the table reports, per phase, the median over rounds
of calls/s (metrics/s, MiB/s) or, for search and history, of the median latency.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _pg  # noqa: E402
import psutil  # noqa: E402
from tracking_load import TreeCpu, postmaster  # noqa: E402
from tracking_servers import (  # noqa: E402
    MlauditServer,
    MlflowServer,
    ensure_mlflow_venv,
    mlflow_version,
    psycopg2_url,
)

MIB = 1024 * 1024
T0 = 1_700_000_000_000
# phase -> (unit, target ratio; for rates mlaudit/MLflow, for latencies MLflow/mlaudit)
PHASES: dict[str, tuple[str, float | None]] = {
    "params": ("calls/s", None), "tags": ("calls/s", None), "log_metric": ("calls/s", 5.0),
    "batch": ("metrics/s", 5.0), "artifact": ("MiB/s", 1.0), "search": ("latency", 1.0),
    "history": ("latency", 1.0),
}


@dataclass
class PhaseTimes:
    """One server's round: per phase, (wall seconds, units) or the latencies."""

    rates: dict[str, tuple[float, float]] = field(default_factory=dict)
    latencies: dict[str, list[float]] = field(default_factory=dict)


class Side:
    """One server and its MlflowClient."""

    def __init__(self, name: str, uri: str, pid: int) -> None:
        from mlflow.tracking import MlflowClient

        self.name, self.uri, self.pid = name, uri, pid
        self.client = MlflowClient(tracking_uri=uri)
        self.experiment = self.client.create_experiment(f"client-bench-{uuid.uuid4().hex[:8]}")


def workload(side: Side, clients: int, payloads: list[Path], rnd: int) -> PhaseTimes:
    """--clients threads, one new run each, phase by phase with a barrier in between."""
    from mlflow.entities import Metric

    c = side.client
    barrier = threading.Barrier(clients)
    starts: dict[str, float] = {}
    ends: dict[str, list[float]] = {p: [] for p in PHASES}
    lat: dict[str, list[float]] = {"search": [], "history": []}
    errors: list[BaseException] = []
    lock = threading.Lock()

    def phase(name: str, fn: Callable[[], None], latency: bool = False) -> None:
        barrier.wait()
        with lock:
            starts.setdefault(name, time.perf_counter())
        t0 = time.perf_counter()
        fn()
        t1 = time.perf_counter()
        with lock:
            ends[name].append(t1)
            if latency:
                lat[name].append(t1 - t0)

    def body(index: int) -> None:
        try:
            run = c.create_run(side.experiment, start_time=T0, run_name=f"r{rnd}-{index}").info
            rid = run.run_id
            phase("params", lambda: [c.log_param(rid, f"p{i}", f"v{i % 4}") for i in range(20)])
            phase("tags", lambda: [c.set_tag(rid, f"t{i}", f"x{i}") for i in range(5)])
            phase("log_metric", lambda: [c.log_metric(rid, "loss", 1.0 / (i + 1), T0 + i, i)
                                         for i in range(100)])
            metrics = [Metric(f"m{j % 10}", (j * 7919 % 10007) / 10007, T0 + j, j // 10)
                       for j in range(1000)]
            phase("batch", lambda: c.log_batch(rid, metrics=metrics))
            phase("artifact", lambda: c.log_artifact(rid, str(payloads[index])))
            phase("search", lambda: c.search_runs(
                [side.experiment], "params.p1 = 'v1' and metrics.loss < 0.5", max_results=100),
                latency=True)
            phase("history", lambda: c.get_metric_history(rid, "loss"), latency=True)
            barrier.wait()
            c.set_terminated(rid)
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=900)
    if errors:
        raise RuntimeError(f"{side.name}: {errors[0]!r}") from errors[0]
    units = {"params": 20, "tags": 5, "log_metric": 100, "batch": 1000, "artifact": MIB}
    out = PhaseTimes()
    for name, per_client in units.items():
        out.rates[name] = (max(ends[name]) - starts[name], per_client * clients)
    out.latencies = lat
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (a new run each)")
    ap.add_argument("--clients", type=int, default=8, help="concurrent client threads")
    ap.add_argument("--workers", type=int, default=2, help="worker processes, both servers")
    ap.add_argument("--threads", type=int, default=8, help="gunicorn threads (mlaudit)")
    ap.add_argument("--mlflow-server", choices=("uvicorn", "gunicorn"), default="uvicorn")
    ap.add_argument("--seed", type=int, default=6)
    args = ap.parse_args()
    for name, value in {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_DISABLE_TELEMETRY":
                        "true", "DO_NOT_TRACK": "true", "MLFLOW_HTTP_REQUEST_TIMEOUT": "300",
                        "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}.items():
        os.environ[name] = value
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_ID", "MLFLOW_RUN_ID"):
        os.environ.pop(name, None)
    import mlflow

    python = ensure_mlflow_venv()
    print(f"# client: mlflow-skinny {mlflow.__version__} in .venv; servers: MLflow "
          f"{mlflow_version(python)} (bench/.venv-mlflow) and mlaudit under gunicorn; "
          f"{platform.python_implementation()} {platform.python_version()}", flush=True)
    started = time.perf_counter()
    with ExitStack() as stack:
        url = stack.enter_context(_pg.database("client"))
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mlaudit-cli-")))
        mlflow_url = stack.enter_context(_pg.sibling_database(url, "mlflow_client"))
        mla = MlauditServer(tmp, url, args.workers, args.threads)
        mlf = MlflowServer(tmp, python, psycopg2_url(mlflow_url),
                           args.workers, args.mlflow_server, args.threads)
        stack.callback(mla.stop)
        stack.callback(mlf.stop)
        took = mla.start()
        mla.settle()
        print(f"# mlaudit: {mla.describe()}; ready in {took:.1f} s", flush=True)
        took = mlf.start()
        mlf.settle()
        print(f"# MLflow:  {mlf.describe()}; ready in {took:.1f} s", flush=True)
        os.environ["MLFLOW_TRACKING_TOKEN"] = mla.create_token()
        sides = [Side("mlaudit", f"http://127.0.0.1:{mla.port}", mla.pid),
                 Side("MLflow", f"http://127.0.0.1:{mlf.port}", mlf.pid)]
        rng = random.Random(args.seed)
        trees = {s.name: psutil.Process(s.pid) for s in sides}
        trees["postgres"] = postmaster(url)  # type: ignore[assignment]
        results: dict[str, list[PhaseTimes]] = {s.name: [] for s in sides}
        for rnd in range(args.rounds):
            for side in (sides if rnd % 2 == 0 else sides[::-1]):
                payloads = []
                for i in range(args.clients):  # different bytes for every upload
                    path = tmp / f"payload-{side.name}-{rnd}-{i}.bin"
                    path.write_bytes(rng.randbytes(MIB))
                    payloads.append(path)
                with TreeCpu(trees) as cpu:
                    times = workload(side, args.clients, payloads, rnd)
                results[side.name].append(times)
                shown = ", ".join(f"{n} {times.rates[n][1] / times.rates[n][0]:,.0f}/s"
                                  for n in ("log_metric", "batch"))
                print(f"round {rnd + 1}  {side.name:8s} {shown}; {cpu.summary()}", flush=True)
        report(results, args)
        code, out = mla.verify()
        print(f"check     python -m app.cli verify --json: exit {code}: {out[:200]}")
    print(f"# total {time.perf_counter() - started:.0f} s")
    return 0 if code == 0 else 1


def report(results: dict[str, list[PhaseTimes]], args: argparse.Namespace) -> None:
    def value(times: PhaseTimes, name: str) -> float:
        if name in ("search", "history"):
            return statistics.median(times.latencies[name])
        seconds, units = times.rates[name]
        return units / seconds / (MIB if name == "artifact" else 1)

    print(f"# summary: {args.clients} clients, median of {args.rounds} rounds")
    print(f"{'phase':12s} {'unit':10s} {'mlaudit':>12s} {'MLflow':>12s} {'ratio':>8s}  target")
    for name, (unit, target) in PHASES.items():
        ours = statistics.median(value(t, name) for t in results["mlaudit"])
        theirs = statistics.median(value(t, name) for t in results["MLflow"])
        latency = unit == "latency"
        ratio = theirs / ours if latency else ours / theirs
        shown = (lambda v: f"{v * 1000:,.1f} ms") if latency else (lambda v: f"{v:,.1f}")
        verdict = "" if target is None else (f">= {target:.0f}x  {_pg.verdict(ratio >= target)}")
        print(f"{name:12s} {unit:10s} {shown(ours):>12s} {shown(theirs):>12s} {ratio:7.2f}x  "
              f"{verdict}")


if __name__ == "__main__":
    sys.exit(main())
