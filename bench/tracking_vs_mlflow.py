"""mlaudit's tracking API against MLflow's own tracking server, same PostgreSQL, same requests.

Run from the repository root:  .venv/bin/python bench/tracking_vs_mlflow.py  [--help]

Both servers run on 127.0.0.1 at the same time, each on its own fresh database of the same
PostgreSQL server (DATABASE_URL's server when set, else an embedded one in a temp dir):
mlaudit under gunicorn from the project's virtualenv, MLflow with `mlflow server
--backend-store-uri postgresql://... --serve-artifacts` from bench/.venv-mlflow (created with
`python3 -m venv` and `pip install mlflow psycopg2-binary` when missing; mlflow never goes into
the project's virtualenv). Clients are stdlib http.client keep-alive connections, one per thread.

Phases (each interleaved over --rounds, order reversed in alternate rounds; medians reported):
  single   8 clients, each POSTs one metric per request to its own run
  batch    a loop of 1000-metric batches to one run
  artifact 1 MiB uploads, the same bytes to a new path each time (and, for information, bytes
           that differ per upload)
  search   10,000 runs per server, each with metric auc and param model; the median latency of
           filter "metrics.auc > 0.5 and params.model = 'xgb'", max_results=1000
Afterwards `python -m app.cli verify --json` must say the ledger is intact.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _pg  # noqa: E402
import psutil  # noqa: E402
import psycopg  # noqa: E402
import tracking_profile  # noqa: E402
from tracking_load import Client, PhaseResult, TreeCpu, percentile, postmaster, timed_clients  # noqa: E402
from tracking_servers import (  # noqa: E402
    MlauditServer,
    MlflowServer,
    ensure_mlflow_venv,
    mlflow_version,
    psycopg2_url,
)

SINGLE_TARGET = 5.0  # x MLflow's single-metric writes/s
BATCH_TARGET = 5.0  # x MLflow's metrics/s in 1000-metric batches
ARTIFACT_TARGET = 1.0  # x MLflow's MiB/s (no slower)
SEARCH_TARGET = 1.0  # MLflow's median latency / mlaudit's (no slower)
FILTER = "metrics.auc > 0.5 and params.model = 'xgb'"
MODELS = ("xgb", "lgbm", "rf", "logreg")
MIB = 1024 * 1024
T0 = 1_700_000_000_000


class Api:
    """One server's side of the request mix: same payloads, each in that server's REST shape."""

    name = ""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.port, self.headers = port, headers

    def client(self) -> Client:
        return Client(self.port, self.headers)


class MlauditApi(Api):
    name = "mlaudit"

    def __init__(self, port: int, token: str) -> None:
        super().__init__(port, {"Authorization": f"Bearer {token}"})

    def create_experiment(self, c: Client, name: str) -> str:
        return str(c.call("POST", "/api/v1/experiments", {"name": name})["id"])

    def create_run(self, c: Client, experiment: str, name: str, start: int) -> str:
        return str(c.call("POST", "/api/v1/runs", {"experiment_id": experiment, "name": name,
                                                   "start_time": start})["id"])

    def log_metric(self, c: Client, run: str, metric: dict[str, Any]) -> None:
        c.call("POST", f"/api/v1/runs/{run}/metrics", {"metrics": [metric]})

    def log_batch(self, c: Client, run: str, metrics: list[dict[str, Any]],
                  params: list[dict[str, str]] | None = None) -> None:
        payload: dict[str, Any] = {"metrics": metrics}
        if params:
            payload["params"] = params
        c.call("POST", f"/api/v1/runs/{run}/batch", payload)

    def upload(self, c: Client, experiment: str, run: str, path: str, data: bytes) -> None:
        c.call("PUT", f"/api/v1/runs/{run}/artifacts/{quote(path)}", raw=data,
               content_type="application/octet-stream", expect=(201,))

    def search_request(self, experiment: str) -> tuple[str, str, bytes | None]:
        query = urlencode({"experiment_id": experiment, "filter": FILTER, "max_results": 1000})
        return "GET", f"/api/v1/runs?{query}", None

    @staticmethod
    def run_names(response: dict[str, Any]) -> list[str]:
        return [run["name"] for run in response["runs"]]


class MlflowApi(Api):
    name = "MLflow"

    def __init__(self, port: int) -> None:
        super().__init__(port, {})

    def create_experiment(self, c: Client, name: str) -> str:
        return str(c.call("POST", "/api/2.0/mlflow/experiments/create",
                          {"name": name})["experiment_id"])

    def create_run(self, c: Client, experiment: str, name: str, start: int) -> str:
        out = c.call("POST", "/api/2.0/mlflow/runs/create",
                     {"experiment_id": experiment, "run_name": name, "start_time": start})
        return str(out["run"]["info"]["run_id"])

    def log_metric(self, c: Client, run: str, metric: dict[str, Any]) -> None:
        c.call("POST", "/api/2.0/mlflow/runs/log-metric", {"run_id": run, **metric})

    def log_batch(self, c: Client, run: str, metrics: list[dict[str, Any]],
                  params: list[dict[str, str]] | None = None) -> None:
        payload: dict[str, Any] = {"run_id": run, "metrics": metrics}
        if params:
            payload["params"] = params
        c.call("POST", "/api/2.0/mlflow/runs/log-batch", payload)

    def upload(self, c: Client, experiment: str, run: str, path: str, data: bytes) -> None:
        c.call("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{experiment}/{run}/artifacts/"
               f"{quote(path)}", raw=data, content_type="application/octet-stream",
               expect=(200,))

    def search_request(self, experiment: str) -> tuple[str, str, bytes | None]:
        body = json.dumps({"experiment_ids": [experiment], "filter": FILTER,
                           "max_results": 1000}).encode()
        return "POST", "/api/2.0/mlflow/runs/search", body

    @staticmethod
    def run_names(response: dict[str, Any]) -> list[str]:
        return [run["info"]["run_name"] for run in response.get("runs", [])]


# ---- the request mix ------------------------------------------------------------------------


def metric(step: int) -> dict[str, Any]:
    return {"key": "loss", "value": 0.5 + (step % 1000) / 10_000, "step": step,
            "timestamp": T0 + step}


def batch_metrics(base: int) -> list[dict[str, Any]]:
    """1000 metrics: 10 keys x 100 steps, each (key, step) new for the run."""
    return [{"key": f"m{j % 10}", "value": ((base + j) * 7919 % 10007) / 10007,
             "step": base // 10 + j // 10, "timestamp": T0 + base // 10 + j // 10}
            for j in range(1000)]


class Setup:
    """Experiments and runs each phase writes to, per server."""

    def __init__(self, api: Api, threads: int, rounds: int) -> None:
        self.api = api
        c = api.client()
        tag = uuid.uuid4().hex[:8]
        self.experiment = api.create_experiment(c, f"bench-writes-{tag}")
        self.metric_runs = [[api.create_run(c, self.experiment, f"single-{r}-{t}", T0)
                             for t in range(threads)] for r in range(rounds)]
        self.batch_runs = [api.create_run(c, self.experiment, f"batch-{r}", T0)
                           for r in range(rounds)]
        self.artifact_runs = [api.create_run(c, self.experiment, f"artifact-{r}", T0)
                              for r in range(rounds)]
        self.search_experiment = api.create_experiment(c, f"bench-search-{tag}")
        c.close()


def single_phase(api: Api, setup: Setup, rnd: int, clients: int, duration: float,
                 warmup: float, max_ops: int) -> PhaseResult:
    def make_worker(index: int) -> Callable[[int], int]:
        c = api.client()
        run = setup.metric_runs[rnd][index]

        def op(i: int) -> int:
            api.log_metric(c, run, metric(i))
            return 1
        return op

    return timed_clients(clients, duration, warmup, max_ops, make_worker)


def batch_phase(api: Api, setup: Setup, rnd: int, clients: int, duration: float,
                warmup: float, max_ops: int) -> PhaseResult:
    def make_worker(index: int) -> Callable[[int], int]:
        c = api.client()
        run = setup.batch_runs[rnd]

        def op(i: int) -> int:
            api.log_batch(c, run, batch_metrics((i * clients + index) * 1000))
            return 1000
        return op

    return timed_clients(clients, duration, warmup, max_ops, make_worker)


def artifact_phase(api: Api, setup: Setup, rnd: int, clients: int, duration: float,
                   warmup: float, max_ops: int, data: bytes, unique: bool) -> PhaseResult:
    variant = "u" if unique else "s"

    def make_worker(index: int) -> Callable[[int], int]:
        c = api.client()
        run = setup.artifact_runs[rnd]

        def op(i: int) -> int:
            n = i * clients + index
            body = struct.pack(">Q", n) + data[8:] if unique else data
            api.upload(c, setup.experiment, run, f"bench/{variant}/a{n:06d}.bin", body)
            return len(body)
        return op

    return timed_clients(clients, duration, warmup, max_ops, make_worker)


# ---- search ---------------------------------------------------------------------------------


def search_data(count: int, seed: int) -> list[tuple[str, int, float, str]]:
    """(run name, start_time, auc, model) for every run; the same for both servers."""
    rng = random.Random(seed)
    return [(f"search-{i:05d}", T0 + i * 1000, round(rng.random(), 4), rng.choice(MODELS))
            for i in range(count)]


def expected_names(data: list[tuple[str, int, float, str]], limit: int) -> tuple[int, list[str]]:
    hits = [(start, name) for name, start, auc, model in data if auc > 0.5 and model == "xgb"]
    hits.sort(reverse=True)  # start_time DESC, as both servers order by default
    return len(hits), [name for _, name in hits[:limit]]


def populate(api: Api, experiment: str, data: list[tuple[str, int, float, str]], clients: int,
             timeout: float) -> float:
    """Create every run and log its param and metric (setup, not timed as a result)."""
    next_index = iter(range(len(data)))
    lock = threading.Lock()
    errors: list[BaseException] = []
    deadline = time.monotonic() + timeout

    def worker() -> None:
        c = api.client()
        try:
            while time.monotonic() < deadline and not errors:
                with lock:
                    i = next(next_index, None)
                if i is None:
                    return
                name, start, auc, model = data[i]
                run = api.create_run(c, experiment, name, start)
                api.log_batch(c, run, [{"key": "auc", "value": auc, "step": 0,
                                        "timestamp": start}], [{"key": "model", "value": model}])
        except BaseException as exc:
            errors.append(exc)
        finally:
            c.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 60)
    if errors:
        raise errors[0]
    if time.monotonic() >= deadline:
        raise RuntimeError(f"{api.name}: creating {len(data)} runs took over {timeout:.0f} s")
    return time.perf_counter() - t0


def timed_search(api: Api, c: Client, experiment: str) -> tuple[float, int, list[str]]:
    method, path, body = api.search_request(experiment)
    t0 = time.perf_counter()
    status, data = c.request(method, path, body)
    seconds = time.perf_counter() - t0
    if status != 200:
        raise RuntimeError(f"{api.name} search -> {status}: {data[:300]!r}")
    return seconds, len(data), api.run_names(json.loads(data))


# ---- reporting ------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


def verdict_line(label: str, ours: str, theirs: str, ratio: float, target: float) -> str:
    return (f"target    {label:34s} mlaudit {ours:>24s}   MLflow {theirs:>24s}   "
            f"{ratio:6.2f}x  target >= {target:.2f}x  {_pg.verdict(ratio >= target)}")


@contextmanager
def maybe_profile(profiler: tracking_profile.Profiler | None, label: str,
                  seconds: float) -> Iterator[None]:
    if profiler is None:
        yield
        return
    with profiler.record(label, seconds):
        yield


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=8.0, help="seconds measured per phase")
    ap.add_argument("--warmup", type=float, default=1.0, help="seconds run before measuring")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds per phase")
    ap.add_argument("--phases", default="single,batch,artifact,search",
                    help="comma-separated subset of single,batch,artifact,search")
    ap.add_argument("--clients", type=int, default=8, help="single-metric clients")
    ap.add_argument("--batch-clients", type=int, default=1, help="1000-metric batch clients")
    ap.add_argument("--artifact-clients", type=int, default=1, help="1 MiB upload clients")
    ap.add_argument("--no-unique-artifacts", action="store_true",
                    help="skip the informational run with different bytes per upload")
    ap.add_argument("--max-ops", type=int, default=200_000, help="cap on requests per phase")
    ap.add_argument("--search-runs", type=int, default=10_000)
    ap.add_argument("--search-reps", type=int, default=15, help="timed searches per server")
    ap.add_argument("--search-seconds", type=float, default=90.0,
                    help="time cap for the timed searches per server")
    ap.add_argument("--setup-clients", type=int, default=8)
    ap.add_argument("--setup-timeout", type=float, default=420.0,
                    help="seconds allowed to create the search runs, per server")
    ap.add_argument("--workers", type=int, default=2, help="worker processes, both servers")
    ap.add_argument("--threads", type=int, default=8,
                    help="gunicorn threads per worker (mlaudit; MLflow with --mlflow-server "
                    "gunicorn)")
    ap.add_argument("--mlaudit-workers", type=int, help="override --workers for mlaudit")
    ap.add_argument("--mlaudit-threads", type=int, help="override --threads for mlaudit")
    ap.add_argument("--mlflow-workers", type=int, help="override --workers for MLflow")
    ap.add_argument("--mlflow-server", choices=("uvicorn", "gunicorn"), default="uvicorn",
                    help="uvicorn is mlflow server's default; gunicorn runs it like mlaudit")
    ap.add_argument("--profile", metavar="DIR",
                    help="sample mlaudit's gunicorn workers with py-spy during its phases and "
                    "summarise the hot spots (the figures are then disturbed)")
    ap.add_argument("--seed", type=int, default=20261126)
    args = ap.parse_args()
    phases = {p.strip() for p in args.phases.split(",") if p.strip()}
    started = time.perf_counter()

    python = ensure_mlflow_venv()
    import gunicorn

    print(f"# MLflow {mlflow_version(python)} (bench/.venv-mlflow), mlaudit gunicorn "
          f"{gunicorn.__version__}, {platform.python_implementation()} "
          f"{platform.python_version()}", flush=True)

    with ExitStack() as stack:
        url = stack.enter_context(_pg.database("tracking"))
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mlaudit-trk-")))
        mlflow_url = stack.enter_context(_pg.sibling_database(url, "mlflow_tracking"))
        mla = MlauditServer(tmp, url, args.mlaudit_workers or args.workers,
                            args.mlaudit_threads or args.threads)
        mlf = MlflowServer(tmp, python, psycopg2_url(mlflow_url),
                           args.mlflow_workers or args.workers, args.mlflow_server, args.threads)
        try:
            took = mla.start()
            quiet = mla.settle()
            print(f"# mlaudit: {mla.describe()}; ready in {took:.1f} s, idle after "
                  f"{quiet:.1f} s more", flush=True)
            took = mlf.start()
            quiet = mlf.settle()
            print(f"# MLflow:  {mlf.describe()}; ready in {took:.1f} s (schema migrations "
                  f"included), idle after {quiet:.1f} s more", flush=True)
            token = mla.create_token()
            ours, theirs = MlauditApi(mla.port, token), MlflowApi(mlf.port)
            profiler = (tracking_profile.Profiler(Path(args.profile), mla.pid)
                        if args.profile else None)
            run_phases(args, phases, ours, theirs, mla, mlf, url, mlflow_url, profiler)
        finally:
            mla.stop()
            mlf.stop()
        code, out = mla.verify()
        try:
            result = json.loads(out)
            status = (f"OK: {result['entries']:,} entries, {result['checkpoints']:,} checkpoints"
                      if result["ok"] else f"DAMAGED {result['damage']}")
        except (ValueError, KeyError, TypeError):
            status = f"could not run (exit {code}): {out[:300]}"
        print(f"check     python -m app.cli verify --json: {status}")
        if profiler is not None:
            profiler.report()
    print(f"# total {time.perf_counter() - started:.0f} s")
    return 0 if code == 0 else 1


def run_phases(args: argparse.Namespace, phases: set[str], ours: MlauditApi, theirs: MlflowApi,
               mla: MlauditServer, mlf: MlflowServer, url: str, mlflow_url: str,
               profiler: tracking_profile.Profiler | None) -> None:
    trees = {"mlaudit": psutil.Process(mla.pid), "MLflow": psutil.Process(mlf.pid),
             "postgres": postmaster(url)}
    apis: list[Api] = [ours, theirs]
    setups = {api.name: Setup(api, args.clients, args.rounds) for api in apis}
    window = args.duration + args.warmup

    def interleaved(label: str, run: Callable[[Api, Setup, int], PhaseResult],
                    unit: str) -> dict[str, list[PhaseResult]]:
        results: dict[str, list[PhaseResult]] = {api.name: [] for api in apis}
        for rnd in range(args.rounds):
            order = apis if rnd % 2 == 0 else apis[::-1]
            for api in order:
                profiling = profiler if api is ours else None
                with maybe_profile(profiling, f"{label} #{rnd + 1}", window), \
                        TreeCpu(trees) as cpu:
                    res = run(api, setups[api.name], rnd)
                res.extra["cpu"] = cpu.used[api.name] + cpu.used.get("postgres", 0.0)
                results[api.name].append(res)
                lat = res.latencies
                shown = (f"{res.rate:9,.1f} req/s" if unit == "req" else
                         f"{res.unit_rate:9,.0f} metrics/s" if unit == "metrics" else
                         f"{res.unit_rate / MIB:9,.1f} MiB/s")
                print(f"round {rnd + 1}  {label:26s} {api.name:8s} {shown}  (p50 "
                      f"{ms(percentile(lat, .5))}, p95 {ms(percentile(lat, .95))}, "
                      f"{res.ops} requests; {cpu.summary()})", flush=True)
        return results

    def med(results: list[PhaseResult], value: Callable[[PhaseResult], float]) -> float:
        return statistics.median(value(r) for r in results)

    def lat_text(results: list[PhaseResult]) -> str:
        lat = [x for r in results for x in r.latencies]
        return f"p50 {ms(percentile(lat, .5))}, p95 {ms(percentile(lat, .95))}"

    def cpu_text(res: dict[str, list[PhaseResult]], label: str) -> str:
        """Server + PostgreSQL CPU per request over all rounds: a figure that other processes
        competing for the cores disturb much less than the rates."""
        per = {name: sum(r.extra["cpu"] for r in rs) / max(1, sum(r.ops for r in rs))
               for name, rs in res.items()}
        return (f"info      {label}: server + PostgreSQL CPU per request: mlaudit "
                f"{ms(per['mlaudit'])}, MLflow {ms(per['MLflow'])} "
                f"({per['MLflow'] / per['mlaudit']:.2f}x less for mlaudit)")

    verdicts: list[str] = []

    if "single" in phases:
        n = args.clients
        res = interleaved(f"single metric, {n} clients",
                          lambda api, s, r: single_phase(api, s, r, n, args.duration,
                                                         args.warmup, args.max_ops), "req")
        a = med(res["mlaudit"], lambda r: r.rate)
        b = med(res["MLflow"], lambda r: r.rate)
        per_round = ", ".join(f"{x.rate / y.rate:.2f}" for x, y in
                              zip(res["mlaudit"], res["MLflow"], strict=True))
        print(f"info      single metric: mlaudit {lat_text(res['mlaudit'])}; MLflow "
              f"{lat_text(res['MLflow'])}; ratio per round {per_round}")
        print(cpu_text(res, "single metric"))
        verdicts.append(verdict_line(f"single-metric writes, {n} clients", f"{a:,.0f} metrics/s",
                                     f"{b:,.0f} metrics/s", a / b, SINGLE_TARGET))

    if "batch" in phases:
        n = args.batch_clients
        res = interleaved(f"1000-metric batch, {n} client{'s' if n > 1 else ''}",
                          lambda api, s, r: batch_phase(api, s, r, n, args.duration,
                                                        args.warmup, args.max_ops), "metrics")
        a = med(res["mlaudit"], lambda r: r.unit_rate)
        b = med(res["MLflow"], lambda r: r.unit_rate)
        print(f"info      1000-metric batch: mlaudit {lat_text(res['mlaudit'])}; MLflow "
              f"{lat_text(res['MLflow'])}")
        print(cpu_text(res, "1000-metric batch"))
        verdicts.append(verdict_line("batch of 1000 metrics", f"{a:,.0f} metrics/s",
                                     f"{b:,.0f} metrics/s", a / b, BATCH_TARGET))

    if "artifact" in phases:
        n = args.artifact_clients
        data = random.Random(args.seed).randbytes(MIB)
        variants = [False] if args.no_unique_artifacts else [False, True]
        for unique in variants:
            label = "1 MiB upload, " + ("new bytes" if unique else "same bytes")
            res = interleaved(label, lambda api, s, r, u=unique: artifact_phase(
                api, s, r, n, args.duration, args.warmup, args.max_ops, data, u), "bytes")
            a = med(res["mlaudit"], lambda r: r.unit_rate) / MIB
            b = med(res["MLflow"], lambda r: r.unit_rate) / MIB
            print(f"info      {label}: mlaudit {lat_text(res['mlaudit'])}; MLflow "
                  f"{lat_text(res['MLflow'])}")
            print(cpu_text(res, label))
            line = verdict_line(f"1 MiB artifact upload ({'new' if unique else 'same'} bytes)",
                                f"{a:,.1f} MiB/s", f"{b:,.1f} MiB/s", a / b, ARTIFACT_TARGET)
            verdicts.append(line if not unique else "info  " + line[6:])

    if "search" in phases:
        verdicts.append(search_phase(args, apis, setups, trees, url, mlflow_url, profiler))

    print("# summary")
    for line in verdicts:
        print(line)
    sys.stdout.flush()


def search_phase(args: argparse.Namespace, apis: list[Api], setups: dict[str, Setup],
                 trees: dict[str, Any], url: str, mlflow_url: str,
                 profiler: tracking_profile.Profiler | None) -> str:
    data = search_data(args.search_runs, args.seed)
    hits, names = expected_names(data, 1000)
    print(f"# search setup: {len(data):,} runs per server (runs/create + a batch with param "
          f"model and metric auc, {args.setup_clients} clients); {hits:,} match the filter",
          flush=True)
    for api in apis:
        with TreeCpu(trees) as cpu:
            seconds = populate(api, setups[api.name].search_experiment, data,
                               args.setup_clients, args.setup_timeout)
        print(f"setup     {api.name:8s} {len(data):,} runs in {seconds:.1f} s "
              f"({len(data) / seconds:,.0f} runs/s, 2 requests each; {cpu.summary()})",
              flush=True)
    for db in (url, mlflow_url):  # what autovacuum would do after a bulk load, for both
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE)")
    clients = {api.name: api.client() for api in apis}
    for api in apis:  # warm-up, and check both answer the same runs in the same order
        _, size, got = timed_search(api, clients[api.name], setups[api.name].search_experiment)
        in_place = sum(a == b for a, b in zip(got, names, strict=False))
        same = "same 1,000 runs, same order" if got == names else (
            f"MISMATCH: {len(got)} runs, {in_place} in place")
        print(f"check     search {api.name:8s} returns {len(got):,} runs ({size / 1e6:.2f} MB "
              f"JSON): {same}", flush=True)
        timed_search(api, clients[api.name], setups[api.name].search_experiment)
    latencies: dict[str, list[float]] = {api.name: [] for api in apis}
    spent = dict.fromkeys(latencies, 0.0)
    with maybe_profile(profiler, "search", 2 * args.search_seconds), TreeCpu(trees) as cpu:
        for rep in range(args.search_reps):
            for api in (apis if rep % 2 == 0 else apis[::-1]):
                if spent[api.name] > args.search_seconds:
                    continue
                seconds, _, _ = timed_search(api, clients[api.name],
                                             setups[api.name].search_experiment)
                latencies[api.name].append(seconds)
                spent[api.name] += seconds
    for c in clients.values():
        c.close()
    for api in apis:
        lat = latencies[api.name]
        print(f"info      search {api.name:8s} {len(lat)} reps: median {ms(statistics.median(lat))}"
              f", p95 {ms(percentile(lat, .95))}, min {ms(min(lat))}, max {ms(max(lat))}")
    print(f"info      search phase {cpu.summary()}", flush=True)
    a = statistics.median(latencies["mlaudit"])
    b = statistics.median(latencies["MLflow"])
    return verdict_line(f"search {args.search_runs:,} runs, 1000 results", f"median {ms(a)}",
                        f"median {ms(b)}", b / a, SEARCH_TARGET)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except subprocess.CalledProcessError as exc:
        print(f"error: {exc}\n{exc.stdout or ''}{exc.stderr or ''}", file=sys.stderr)
        sys.exit(2)
