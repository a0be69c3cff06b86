"""The stock `mlflow` client against mlaudit, FastTrackML and MLflow's own server, on the same
PostgreSQL (issue 6's speed targets, and issue 19's: the fastest MLflow-compatible server).

Run from the repository root:  .venv/bin/python bench/mlflow_client_vs_mlflow.py  [--help]

The three servers run on 127.0.0.1 at the same time (bench/tracking_servers.py), each on its
own fresh database of one PostgreSQL server: mlaudit under gunicorn; FastTrackML 0.6.0's `fml
server -d postgres://...` (its Go binary, from `pip install --no-deps fasttrackml` into
bench/.venv-fasttrackml, created on first use: not a dependency of the project, whose
mlflow-skinny 3 its wheel's `mlflow<3` requirement would clash with); MLflow as `mlflow server
--backend-store-uri postgresql://... --serve-artifacts` from bench/.venv-mlflow. The client is
the project's mlflow-skinny, the same code for every server; MLFLOW_TRACKING_TOKEN carries
mlaudit's writer token (the others ignore it).

Two workloads (--workloads), each round, each server: --clients threads each take one new run
through the phases, with a barrier between phases (a phase's wall time is its slowest client's):
  client   `MlflowClient`: params_tags = 20 log_param + 5 set_tag calls; log_metric = 100
           log_metric calls; batch = one log_batch of 1000 metrics (10 keys x 100 steps);
           artifact = log_artifact of a 1 MiB file (new bytes per run); search = search_runs
           (filter on a param and a metric, over the experiment); history =
           get_metric_history of the 100-value metric
  fluent   the same inside `mlflow.start_run()`: params_tags = 10 log_params (2 each) + 10
           set_tags (1 each) + 5 set_tag; 100 mlflow.log_metric; batch = one mlflow.log_metrics
           of 1000 keys; mlflow.log_artifact; mlflow.search_runs(output_format="list": pandas
           would add the same client cost for every server); history as above (no fluent call)
FastTrackML has no artifact proxy (its runs get file:// URIs the client writes to itself), so
its artifact phase is skipped and printed "n/a" (the script probes the proxy route first).
Rounds rotate which server goes first; the tables report, per phase, the median over rounds of
calls/s (metrics/s, MiB/s) or, for search and history, of the median latency, and the ratios
mlaudit/FastTrackML and mlaudit/MLflow (for latencies, theirs/ours) against issue 19's targets.

--profile DIR records mlaudit's gunicorn workers with py-spy while mlaudit serves each workload
and prints, per route, where the server's time goes (bench/tracking_profile.py).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack, nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _pg  # noqa: E402
import psutil  # noqa: E402
import tracking_profile  # noqa: E402
from _client_workloads import LATENCIES, MIB, PHASES, PhaseTimes, Target, workload  # noqa: E402
from tracking_load import TreeCpu, postmaster  # noqa: E402
from tracking_servers import (  # noqa: E402
    FasttrackmlServer,
    MlauditServer,
    MlflowServer,
    Server,
    ensure_fasttrackml,
    ensure_mlflow_venv,
    fasttrackml_version,
    mlflow_version,
    pgx_url,
    psycopg2_url,
)

UNIT = {"params_tags": "calls/s", "log_metric": "calls/s", "batch": "metrics/s",
        "artifact": "MiB/s", "search": "latency", "history": "latency"}
TARGET_FASTTRACKML = 1.25  # every phase (issue 19)
TARGET_MLFLOW = {"log_metric": 2.5, "batch": 5.0}
SERVERS = ("mlaudit", "FastTrackML", "MLflow")
# the MLflow route that serves each phase, for the per-route profile of mlaudit
ROUTES = {"log-parameter": "log_parameter", "set-tag": "set_tag", "log-metric": "log_metric",
          "log-batch": "log_batch", "runs/search": "search_runs",
          "metrics/get-history": "metric_history", "artifact upload": "upload",
          "runs/create": "create_run", "runs/update": "update_run"}


def start_servers(stack: ExitStack, args: argparse.Namespace, tmp: Path, url: str
                  ) -> dict[str, tuple[Server, bool]]:
    """name -> (server, whether it proxies artifacts), each started and settled."""
    servers: dict[str, tuple[Server, bool]] = {}
    if "mlaudit" in args.servers:
        mla = MlauditServer(tmp, url, args.workers, args.threads)
        servers["mlaudit"] = (mla, True)
    if "FastTrackML" in args.servers:
        fml = ensure_fasttrackml()
        ftml_url = stack.enter_context(_pg.sibling_database(url, "fasttrackml_client"))
        servers["FastTrackML"] = (FasttrackmlServer(tmp, fml, pgx_url(ftml_url)), False)
    if "MLflow" in args.servers:
        python = ensure_mlflow_venv()
        mlflow_url = stack.enter_context(_pg.sibling_database(url, "mlflow_client"))
        servers["MLflow"] = (MlflowServer(tmp, python, psycopg2_url(mlflow_url), args.workers,
                                          args.mlflow_server, args.threads), True)
    for name, (server, _) in servers.items():
        stack.callback(server.stop)
        took = server.start()
        server.settle()
        print(f"# {name}: {server.describe()}; ready in {took:.1f} s", flush=True)  # type: ignore[attr-defined]
    if "FastTrackML" in servers:
        server, _ = servers["FastTrackML"]
        proxied = server.proxies_artifacts()  # type: ignore[attr-defined]
        servers["FastTrackML"] = (server, proxied)
        print(f"# FastTrackML artifact proxy (PUT /api/2.0/mlflow-artifacts/...): "
              f"{'served' if proxied else 'not served: its artifact phase is n/a'}", flush=True)
    return servers


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5, help="rotated rounds (new runs each)")
    ap.add_argument("--clients", type=int, default=8, help="concurrent client threads")
    ap.add_argument("--workers", type=int, default=2, help="worker processes (mlaudit, MLflow)")
    ap.add_argument("--threads", type=int, default=8, help="gunicorn threads (mlaudit)")
    ap.add_argument("--mlflow-server", choices=("uvicorn", "gunicorn"), default="uvicorn")
    ap.add_argument("--workloads", default="client,fluent", help="client,fluent or one")
    ap.add_argument("--servers", default=",".join(SERVERS),
                    help="which of mlaudit,FastTrackML,MLflow (default all)")
    ap.add_argument("--profile", metavar="DIR", help="py-spy mlaudit's workers into DIR")
    ap.add_argument("--seed", type=int, default=6)
    args = ap.parse_args()
    args.servers = [s for s in SERVERS if s.lower() in args.servers.lower().split(",")]
    kinds = [k for k in ("client", "fluent") if k in args.workloads.split(",")]
    for name, value in {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_DISABLE_TELEMETRY":
                        "true", "DO_NOT_TRACK": "true", "MLFLOW_HTTP_REQUEST_TIMEOUT": "300",
                        "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}.items():
        os.environ[name] = value
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_ID", "MLFLOW_RUN_ID"):
        os.environ.pop(name, None)
    import mlflow

    versions = []
    if "FastTrackML" in args.servers:
        versions.append(f"FastTrackML {fasttrackml_version(ensure_fasttrackml())}")
    if "MLflow" in args.servers:
        versions.append(f"MLflow {mlflow_version(ensure_mlflow_venv())}")
    print(f"# client: mlflow-skinny {mlflow.__version__}; servers: mlaudit (gunicorn), "
          f"{', '.join(versions)}; {platform.python_implementation()} "
          f"{platform.python_version()}; workloads {', '.join(kinds)}", flush=True)
    started = time.perf_counter()
    code = 0
    with ExitStack() as stack:
        url = stack.enter_context(_pg.database("client"))
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mlaudit-cli-")))
        servers = start_servers(stack, args, tmp, url)
        if "mlaudit" in servers:
            os.environ["MLFLOW_TRACKING_TOKEN"] = servers["mlaudit"][0].create_token()  # type: ignore[attr-defined]
        profiler = (tracking_profile.Profiler(Path(args.profile), servers["mlaudit"][0].pid)
                    if args.profile and "mlaudit" in servers else None)
        results = run_rounds(args, kinds, servers, url, tmp, profiler)
        for kind in kinds:
            report(kind, results[kind], args, {n: p for n, (_, p) in servers.items()})
        if profiler is not None:
            report_profile(profiler)
        if "mlaudit" in servers:
            code, out = servers["mlaudit"][0].verify()  # type: ignore[attr-defined]
            print(f"check     python -m app.cli verify --json: exit {code}: {out[:200]}")
    print(f"# total {time.perf_counter() - started:.0f} s")
    return 0 if code == 0 else 1


def run_rounds(args: argparse.Namespace, kinds: list[str], servers: dict[str, tuple[Server, bool]],
               url: str, tmp: Path, profiler: tracking_profile.Profiler | None
               ) -> dict[str, dict[str, list[PhaseTimes]]]:
    from mlflow.tracking import MlflowClient

    targets = {}
    for name, (server, proxied) in servers.items():
        uri = f"http://127.0.0.1:{server.port}"
        experiment = MlflowClient(uri).create_experiment(f"client-bench-{uuid.uuid4().hex[:8]}")
        targets[name] = Target(name, uri, experiment, proxied)
    rng = random.Random(args.seed)
    trees = {name: psutil.Process(server.pid) for name, (server, _) in servers.items()}
    trees["postgres"] = postmaster(url)  # type: ignore[assignment]
    results = {k: {name: [] for name in servers} for k in kinds}  # type: ignore[var-annotated]
    order = list(servers)
    for rnd in range(args.rounds):
        turn = order[rnd % len(order):] + order[:rnd % len(order)]
        for kind in kinds:
            for name in turn:
                payloads = []
                for i in range(args.clients):  # different bytes for every upload
                    path = tmp / f"payload-{name}-{kind}-{rnd}-{i}.bin"
                    path.write_bytes(rng.randbytes(MIB))
                    payloads.append(path)
                recording = (profiler.record(kind, 900) if profiler is not None
                             and name == "mlaudit" else nullcontext())
                with recording, TreeCpu(trees) as cpu:
                    times = workload(kind, targets[name], args.clients, payloads, rnd)
                for path in payloads:
                    path.unlink()
                results[kind][name].append(times)
                shown = ", ".join(f"{n} {times.rates[n][1] / times.rates[n][0]:,.0f}/s"
                                  for n in ("log_metric", "batch"))
                print(f"round {rnd + 1}  {kind:6s} {name:11s} {shown}; {cpu.summary()}",
                      flush=True)
    return results


def value(times: PhaseTimes, name: str) -> float | None:
    if name in LATENCIES:
        return statistics.median(times.latencies[name])
    if name not in times.rates:
        return None
    seconds, units = times.rates[name]
    return units / seconds / (MIB if name == "artifact" else 1)


def report(kind: str, results: dict[str, list[PhaseTimes]], args: argparse.Namespace,
           proxied: dict[str, bool]) -> None:
    names = list(results)
    print(f"# summary, {kind} workload: {args.clients} clients, median of {args.rounds} rounds")
    print(f"{'phase':12s} {'unit':10s} " + " ".join(f"{n:>12s}" for n in names)
          + "  vs FastTrackML (>= 1.25x)   vs MLflow")
    for phase in PHASES:
        figures: dict[str, float | None] = {}
        for name in names:
            values = [v for t in results[name] if (v := value(t, phase)) is not None]
            figures[name] = statistics.median(values) if values else None
        latency = phase in LATENCIES
        shown = [("n/a" if v is None else f"{v * 1000:,.1f} ms" if latency else f"{v:,.1f}")
                 for v in figures.values()]
        line = f"{phase:12s} {UNIT[phase]:10s} " + " ".join(f"{v:>12s}" for v in shown)
        for other, target in (("FastTrackML", TARGET_FASTTRACKML),
                              ("MLflow", TARGET_MLFLOW.get(phase))):
            ours, theirs = figures.get("mlaudit"), figures.get(other)
            if other not in figures:
                continue
            if ours is None or theirs is None:
                why = ("no artifact proxy" if phase == "artifact" and not proxied[other]
                       else "")
                line += f"  {'n/a':>7s} {why:18s}"
                continue
            ratio = theirs / ours if latency else ours / theirs
            verdict = "" if target is None else f">= {target:g}x {_pg.verdict(ratio >= target)}"
            line += f"  {ratio:6.2f}x {verdict:18s}"
        print(line.rstrip())


def report_profile(profiler: tracking_profile.Profiler) -> None:
    for kind, files in profiler.files.items():
        present = [f for f in files if f.exists()]
        print(f"# profile, {kind} workload: py-spy {profiler.rate} Hz on mlaudit's gunicorn "
              f"workers, samples split by the MLflow route on the stack")
        print(tracking_profile.summarize_routes(present, ROUTES), end="")


if __name__ == "__main__":
    sys.exit(main())
