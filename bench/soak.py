"""Load and soak under gunicorn (issue 7, "Load"): the maximum throughput of a realistic mix
and how it scales with 1, 2 and 4 workers; then a long run at 70 % of that maximum with 8
keep-alive clients, recording per-route latency percentiles, errors and the RSS of every
process at the start and the end.

Run from the repository root:  .venv/bin/python bench/soak.py  [--minutes 10] [--help]

The mix (per request, weights in MIX): single metrics, 20-metric batches, params, tags, run
reads, searches, metric histories, 64 KiB artifact uploads and new runs, over a pool of runs
each client grows as it goes. Maximum throughput: 8 clients in a closed loop (each sends its
next request when the last one answers) for --max-seconds per worker count. The soak: the same
8 clients, each paced open-loop at its share of 70 % of the 2-worker maximum; a request's
latency is measured from the moment it was scheduled, so a stall also counts against every
request that queued behind it. Memory: RSS and USS of the gunicorn master and each worker and
of every PostgreSQL process, sampled after the warm-up and at the end; a process fails when its
USS (private memory) grew by more than 10 % and more than 1 MiB.
PostgreSQL: the embedded server (or DATABASE_URL's), as in the other benchmarks.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _pg  # noqa: E402
import psutil  # noqa: E402
from tracking_load import Client, HttpError, TreeCpu, percentile, postmaster  # noqa: E402
from tracking_servers import MlauditServer  # noqa: E402

CLIENTS = 8
T0 = 1_700_000_000_000
# route label -> weight (per 100 requests)
MIX: dict[str, int] = {
    "POST /runs/{id}/metrics": 34, "POST /runs/{id}/batch": 12, "POST /runs/{id}/params": 8,
    "PUT /runs/{id}/tags/{key}": 8, "GET /runs/{id}": 14, "GET /runs?filter": 6,
    "GET /runs/{id}/metrics/{key}/history": 8, "PUT /runs/{id}/artifacts/{path}": 5,
    "POST /runs": 5,
}


@dataclass
class Tally:
    """Latencies (seconds) per route and errors, shared by the clients of one run."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, route: str, seconds: float) -> None:
        with self.lock:
            self.latencies[route].append(seconds)

    def error(self, text: str) -> None:
        with self.lock:
            self.errors.append(text)

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.latencies.values())


class Worker:
    """One client: a keep-alive connection, its own runs, and the mix."""

    def __init__(self, index: int, port: int, token: str, experiment: str, seed: int) -> None:
        self.client = Client(port, {"Authorization": f"Bearer {token}"})
        self.index, self.experiment = index, experiment
        self.rng = random.Random(seed * 1000 + index)
        self.routes = [r for r, w in MIX.items() for _ in range(w)]
        self.runs: list[str] = []
        self.step = 0
        self.new_run()

    def new_run(self) -> None:
        run = self.client.call("POST", "/api/v1/runs", {"experiment_id": self.experiment,
                                                        "name": f"soak-{self.index}"})
        self.runs.append(run["id"])

    def one(self) -> str:
        """Send one request of the mix; its route label."""
        route = self.rng.choice(self.routes)
        run = self.rng.choice(self.runs[-20:])
        c, rng = self.client, self.rng
        self.step += 1
        if route == "POST /runs":
            self.new_run()
        elif route == "POST /runs/{id}/metrics":
            c.call("POST", f"/api/v1/runs/{run}/metrics", {"metrics": [
                {"key": "loss", "value": str(rng.random()), "step": self.step,
                 "timestamp": T0 + self.step}]})
        elif route == "POST /runs/{id}/batch":
            c.call("POST", f"/api/v1/runs/{run}/batch", {"metrics": [
                {"key": f"m{j % 5}", "value": str(rng.random()), "step": self.step * 20 + j,
                 "timestamp": T0 + j} for j in range(20)]})
        elif route == "POST /runs/{id}/params":
            c.call("POST", f"/api/v1/runs/{run}/params",
                   {"params": {f"p{self.step}": str(rng.randrange(100))}})
        elif route == "PUT /runs/{id}/tags/{key}":
            c.call("PUT", f"/api/v1/runs/{run}/tags/stage", {"value": f"s{self.step % 3}"})
        elif route == "GET /runs/{id}":
            c.call("GET", f"/api/v1/runs/{run}")
        elif route == "GET /runs?filter":
            c.call("GET", f"/api/v1/runs?experiment_id={self.experiment}&max_results=50"
                          "&filter=metrics.loss%20%3C%200.5")
        elif route == "GET /runs/{id}/metrics/{key}/history":
            c.call("GET", f"/api/v1/runs/{run}/metrics/loss/history?limit=100")
        elif route == "PUT /runs/{id}/artifacts/{path}":
            c.call("PUT", f"/api/v1/runs/{run}/artifacts/a/{self.step}.bin",
                   raw=rng.randbytes(64 * 1024), content_type="application/octet-stream")
        return route


def drive(workers: list[Worker], seconds: float, tally: Tally, rate: float | None) -> float:
    """Run every worker for `seconds`: closed loop when rate is None, else each worker paced
    open-loop at rate / len(workers) requests per second. Returns the wall time."""
    stop_at = time.perf_counter() + seconds
    per_worker = None if rate is None else rate / len(workers)

    def body(worker: Worker) -> None:
        next_at = time.perf_counter() + worker.rng.random() * (1 / per_worker if per_worker
                                                                 else 0)
        while True:
            if per_worker is not None:
                now = time.perf_counter()
                if next_at > now:
                    time.sleep(next_at - now)
                start = next_at  # latency counts from the scheduled moment
                next_at += worker.rng.expovariate(per_worker)
            else:
                start = time.perf_counter()
            if start >= stop_at:
                return
            try:
                route = worker.one()
            except (HttpError, OSError) as exc:
                tally.error(repr(exc)[:300])
                continue
            tally.add(route, time.perf_counter() - start)

    threads = [threading.Thread(target=body, args=(w,), daemon=True) for w in workers]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - began


def memory(pids: dict[str, psutil.Process]) -> dict[str, tuple[float, float]]:
    """(RSS, USS) in MiB per named process. USS is the memory only that process holds: a
    PostgreSQL backend's RSS also counts the pages of shared_buffers it has touched, which
    grows as it reads more of the database without any memory being allocated."""
    out = {}
    for name, proc in pids.items():
        try:
            info = proc.memory_full_info()
            out[name] = (info.rss / 2**20, info.uss / 2**20)
        except psutil.Error:
            out[name] = (float("nan"), float("nan"))
    return out


def processes(server: MlauditServer, url: str) -> dict[str, psutil.Process]:
    master = psutil.Process(server.pid)
    found = {"gunicorn master": master}
    for i, child in enumerate(sorted(master.children(), key=lambda p: p.pid)):
        found[f"worker {i + 1} (pid {child.pid})"] = child
    pm = postmaster(url)
    if pm is not None:
        found["postgres postmaster"] = pm
        for child in sorted(pm.children(), key=lambda p: p.pid):
            try:
                label = " ".join(child.cmdline()[:1]).replace("postgres: ", "")[:40]
            except psutil.Error:
                label = "postgres"
            found[f"postgres {child.pid} {label}"] = child
    return found


def start(stack: ExitStack, url: str, workers: int,
          tmp: Path) -> tuple[MlauditServer, str, str, str]:
    """A server with `workers` workers on a fresh database of the same PostgreSQL server, with
    its own experiment and writer token; also that database's URL."""
    label = f"w{workers}_{uuid.uuid4().hex[:6]}"
    url = stack.enter_context(_pg.sibling_database(url, f"soak_{label}"))
    home = tmp / label
    home.mkdir()
    server = MlauditServer(home, url, workers, 8)
    stack.callback(server.stop)
    took = server.start()
    server.settle()
    token = server.create_token(f"soak-{uuid.uuid4().hex[:6]}")
    admin = Client(server.port, {"Authorization": f"Bearer {token}"})
    experiment = admin.call("POST", "/api/v1/experiments",
                            {"name": f"soak-{uuid.uuid4().hex[:8]}"})["id"]
    admin.close()
    print(f"# mlaudit: {server.describe()}; ready in {took:.1f} s", flush=True)
    return server, token, experiment, url


def table(tally: Tally, seconds: float) -> None:
    print(f"{'route':40s} {'count':>8s} {'rate/s':>8s} {'p50 ms':>8s} {'p95 ms':>8s} "
          f"{'p99 ms':>8s}")
    everything: list[float] = []
    for route in MIX:
        values = tally.latencies.get(route, [])
        everything += values
        if values:
            print(f"{route:40s} {len(values):8d} {len(values) / seconds:8.1f} "
                  f"{percentile(values, .5) * 1e3:8.1f} {percentile(values, .95) * 1e3:8.1f} "
                  f"{percentile(values, .99) * 1e3:8.1f}")
    print(f"{'all':40s} {len(everything):8d} {len(everything) / seconds:8.1f} "
          f"{percentile(everything, .5) * 1e3:8.1f} {percentile(everything, .95) * 1e3:8.1f} "
          f"{percentile(everything, .99) * 1e3:8.1f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0, help="soak duration")
    ap.add_argument("--max-seconds", type=float, default=40.0,
                    help="closed-loop run per worker count")
    ap.add_argument("--scale", default="1,2,4", help="worker counts for the scaling table")
    ap.add_argument("--workers", type=int, default=2, help="workers for the soak")
    ap.add_argument("--load", type=float, default=0.7, help="soak rate as a share of the max")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    print(f"# {platform.python_implementation()} {platform.python_version()}; {CLIENTS} "
          f"keep-alive clients; mix {json.dumps(MIX)}", flush=True)
    began = time.perf_counter()
    maxima: dict[int, float] = {}
    with ExitStack() as outer:
        url = outer.enter_context(_pg.database("soak"))
        tmp = Path(outer.enter_context(tempfile.TemporaryDirectory(prefix="mlaudit-soak-")))
        for count in [int(x) for x in args.scale.split(",")]:
            with ExitStack() as stack:
                server, token, experiment, db = start(stack, url, count, tmp)
                workers = [Worker(i, server.port, token, experiment, args.seed)
                           for i in range(CLIENTS)]
                drive(workers, 5.0, Tally(), None)  # warm-up
                tally = Tally()
                trees = {"mlaudit": psutil.Process(server.pid), "postgres": postmaster(db)}
                with TreeCpu(trees) as cpu:
                    seconds = drive(workers, args.max_seconds, tally, None)
                maxima[count] = tally.count / seconds
                print(f"max throughput, {count} worker(s): {maxima[count]:,.0f} requests/s, "
                      f"{len(tally.errors)} errors; {cpu.summary()}", flush=True)
                if count == args.workers:
                    table(tally, seconds)
        print("# scaling: " + ", ".join(f"{w} worker(s) {r:,.0f}/s" for w, r in maxima.items()))
        if args.workers not in maxima:
            raise SystemExit(f"--workers {args.workers} must be one of --scale")
        rate = args.load * maxima[args.workers]
        with ExitStack() as stack:
            server, token, experiment, db = start(stack, url, args.workers, tmp)
            workers = [Worker(i, server.port, token, experiment, args.seed + 1)
                       for i in range(CLIENTS)]
            drive(workers, 30.0, Tally(), rate)  # warm-up at the soak rate
            procs = processes(server, db)
            before = memory(procs)
            tally, samples = Tally(), []
            total = args.minutes * 60
            trees = {"mlaudit": psutil.Process(server.pid), "postgres": postmaster(db)}
            done = 0.0
            with TreeCpu(trees) as cpu:
                while done < total:
                    chunk = min(60.0, total - done)
                    minute = Tally()
                    done += drive(workers, chunk, minute, rate)
                    for route, values in minute.latencies.items():
                        tally.latencies[route] += values
                    tally.errors += minute.errors
                    now = memory(procs)
                    samples.append(sum(v[1] for v in now.values() if v[1] == v[1]))
                    every = [x for v in minute.latencies.values() for x in v]
                    workers_uss = ", ".join(f"{now[n][1]:.1f}" for n in procs
                                            if n.startswith("worker"))
                    backends = [now[n][1] for n in procs if " postgres " in n]
                    backends_uss = sum(v for v in backends if v == v)
                    print(f"  soak {done / 60:5.1f} min: {len(every):,} requests, "
                          f"{len(minute.errors)} errors, p50/p95/p99 "
                          f"{percentile(every, .5) * 1e3:.0f}/{percentile(every, .95) * 1e3:.0f}/"
                          f"{percentile(every, .99) * 1e3:.0f} ms, max "
                          f"{max(every, default=0) * 1e3:.0f} ms; USS total "
                          f"{samples[-1]:,.0f} MiB, workers {workers_uss} MiB, "
                          f"{len(backends)} PostgreSQL backends {backends_uss:.1f} MiB",
                          flush=True)
            after = memory(procs)
            print(f"# soak: {args.minutes:g} min at {rate:,.0f} requests/s "
                  f"({args.load:.0%} of the {args.workers}-worker maximum), {CLIENTS} clients; "
                  f"{cpu.summary()}")
            table(tally, done)
            print(f"errors: {len(tally.errors)}" + (f" (first: {tally.errors[0]})"
                                                   if tally.errors else ""))
            print(f"{'process':44s} {'RSS start':>10s} {'RSS end':>9s} {'growth':>7s} "
                  f"{'USS start':>10s} {'USS end':>9s} {'growth':>7s}")
            over_share: list[str] = []  # grew by more than 10 %
            grew: list[str] = []  # ... and by more than 1 MiB
            for name in procs:
                (rb, ub), (ra, ua) = before[name], after[name]
                gr, gu = (ra - rb) / rb, (ua - ub) / ub
                if gu > 0.10:
                    over_share.append(f"{name.split(' (')[0]} +{ua - ub:.2f} MiB")
                    if ua - ub > 1.0:
                        grew.append(name)
                print(f"{name[:44]:44s} {rb:9.1f}M {ra:8.1f}M {gr:7.1%} {ub:9.1f}M {ua:8.1f}M "
                      f"{gu:7.1%}")
            # totals over the processes alive at both ends (a backend may have exited)
            alive = [n for n in procs if all(x == x for x in (*before[n], *after[n]))]
            rb, ra = (sum(m[n][0] for n in alive) for m in (before, after))
            ub, ua = (sum(m[n][1] for n in alive) for m in (before, after))
            print(f"{'total':44s} {rb:9.1f}M {ra:8.1f}M {(ra - rb) / rb:7.1%} {ub:9.1f}M "
                  f"{ua:8.1f}M {(ua - ub) / ub:7.1%}")
            trend = ", ".join(f"{v:.0f}" for v in samples)
            print(f"  (USS total at the end of each minute, MiB: {trend})")
            # The criterion is memory growth, so a process fails when its private memory grew
            # by more than 10 % *and* by more than 1 MiB: PostgreSQL's auxiliary processes and
            # backends hold 0.3-3.5 MiB each, where 0.1-0.3 MiB of caches filling (in the first
            # minutes, then flat; see the per-minute backend total) is already 10 %.
            print("info: every process under 10 % USS growth: "
                  + ("yes" if not over_share else "no: " + "; ".join(over_share)))
            verdict = not tally.errors and not grew
            print(f"check: 0 errors, and no process's USS grew by more than 10 % and 1 MiB: "
                  f"{_pg.verdict(verdict)}" + (f" ({', '.join(grew)})" if grew else ""))
            code, out = server.verify()
            print(f"check     python -m app.cli verify --json: exit {code}: {out[:200]}")
    print(f"# total {time.perf_counter() - began:.0f} s")
    return 0 if verdict and code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
