"""Two checkouts of mlaudit side by side: one client alternates every call between them.

A change's cost on one write is often smaller than what a shared machine does to a run a few
minutes long; running the old and the new code one after the other then measures the machine.
This script starts both checkouts' servers at once (gunicorn 'app:create_app()', 2 workers x 8
threads, from this virtualenv, each checkout's own `app/` as its working directory, each with
its own fresh database on one PostgreSQL server) and sends every call to one and then the
other, alternating which goes first, so both see the same machine. Each round uses a new run
on each server and makes, through MLflow's REST routes: 5 `log-parameter`, 1 `set-tag`, 5
`log-metric`, one 1000-metric `log-batch`, one 1 MiB upload through the mlflow-artifacts proxy,
one `get-history` and one `runs/search`. It prints each call's median latency on both servers
and their ratio.

Run from the repository root:
    .venv/bin/python bench/side_by_side.py --old ../mlaudit-old [--new .] [--rounds 150]
where ../mlaudit-old is, for example, `git worktree add ../mlaudit-old <commit>`.
Uses DATABASE_URL's server when set (fresh databases in it), else an embedded server.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _pg  # noqa: E402
from tracking_servers import free_port  # noqa: E402

BIN = Path(sys.executable).parent
MLFLOW = "/api/2.0/mlflow"


class Checkout:
    """One checkout's server and a writer token for it."""

    def __init__(self, label: str, tree: Path, url: str, work: Path) -> None:
        self.label, self.port = label, free_port()
        home = work / label
        home.mkdir()
        self.env = {**os.environ, "DATABASE_URL": url, "MLAUDIT_HOME": str(home),
                    "PYTHONUNBUFFERED": "1"}
        self.log = (work / f"{label}.log").open("wb")
        self.proc = subprocess.Popen(
            [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{self.port}", "--workers", "2",
             "--threads", "8", "app:create_app()"], cwd=tree, env=self.env, stdout=self.log,
            stderr=subprocess.STDOUT, start_new_session=True)
        self._ready()
        out = subprocess.run([sys.executable, "-m", "app.cli", "token", "create", "--name",
                              "bench-writer", "--role", "writer"], cwd=tree, env=self.env,
                             capture_output=True, text=True, check=True, timeout=120)
        self.token = out.stdout.strip().splitlines()[-1]

    def _ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the {self.label} server exited; see {self.log.name}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=1)
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"the {self.label} server did not get ready")

    def call(self, method: str, path: str, body: Any = None,
             raw: bytes | None = None) -> tuple[float, Any]:
        """(seconds, decoded JSON reply) of one call."""
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data,
                                         method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        if body is not None:
            request.add_header("Content-Type", "application/json")
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=60) as reply:
            out = reply.read()
        seconds = time.perf_counter() - started
        return seconds, json.loads(out) if out else None

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(30)
        except ProcessLookupError:
            pass
        self.log.close()


def round_calls(server: Checkout, experiment: str, run: str, blob: bytes,
                record: Any) -> None:
    """One round's calls on one server; record(name, seconds) for each."""
    now = 1_700_000_000_000
    for k in range(5):
        record("log-parameter", server.call("POST", f"{MLFLOW}/runs/log-parameter",
                                            {"run_id": run, "key": f"p{k}", "value": str(k)})[0])
    record("set-tag", server.call("POST", f"{MLFLOW}/runs/set-tag",
                                  {"run_id": run, "key": "team", "value": "risk"})[0])
    for k in range(5):
        record("log-metric", server.call("POST", f"{MLFLOW}/runs/log-metric", {
            "run_id": run, "key": "loss", "value": 0.5 + k, "timestamp": now + k, "step": k})[0])
    record("log-batch (1000)", server.call("POST", f"{MLFLOW}/runs/log-batch", {
        "run_id": run, "metrics": [{"key": f"m{j % 10}", "value": j / 1000, "timestamp": now,
                                    "step": j // 10} for j in range(1000)]})[0])
    record("upload 1 MiB", server.call(
        "PUT", f"/api/2.0/mlflow-artifacts/artifacts/{experiment}/{run}/artifacts/model.bin",
        raw=blob)[0])
    record("get-history", server.call(
        "GET", f"{MLFLOW}/metrics/get-history?run_id={run}&metric_key=loss")[0])
    record("runs/search", server.call("POST", f"{MLFLOW}/runs/search", {
        "experiment_ids": [experiment], "filter": "params.p1 = '1'", "max_results": 100})[0])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--old", type=Path, required=True, help="the other checkout's root")
    ap.add_argument("--new", type=Path, default=Path(__file__).resolve().parent.parent,
                    help="this checkout's root (default)")
    ap.add_argument("--rounds", type=int, default=150)
    args = ap.parse_args()
    trees = {"new": args.new.resolve(), "old": args.old.resolve()}
    for label, tree in trees.items():
        if not (tree / "app" / "__init__.py").is_file():
            ap.error(f"--{label} {tree} is not an mlaudit checkout")

    with ExitStack() as stack:
        admin, where = stack.enter_context(_pg._server())
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mlaudit-side-")))
        servers = []
        for label, tree in trees.items():
            url = stack.enter_context(_pg._created(admin, f"mlaudit_side_{label}"))
            server = Checkout(label, tree, url, work)
            stack.callback(server.stop)
            servers.append(server)
        print(f"# PostgreSQL: {where}; new = {trees['new']}, old = {trees['old']}")
        runs: dict[str, tuple[str, list[str]]] = {}
        for server in servers:
            _, made = server.call("POST", f"{MLFLOW}/experiments/create", {"name": "side"})
            experiment = made["experiment_id"]
            runs[server.label] = (experiment, [
                server.call("POST", f"{MLFLOW}/runs/create", {
                    "experiment_id": experiment, "start_time": 1_700_000_000_000 + i,
                })[1]["run"]["info"]["run_id"] for i in range(args.rounds)])
        blob = os.urandom(1 << 20)
        times: dict[str, dict[str, list[float]]] = {s.label: {} for s in servers}
        with _pg.CpuMeter(admin) as cpu:
            for i in range(args.rounds):
                for server in (servers if i % 2 else servers[::-1]):
                    experiment, made_runs = runs[server.label]
                    mine = times[server.label]
                    round_calls(server, experiment, made_runs[i], blob,
                                lambda name, s, mine=mine: mine.setdefault(name, []).append(s))
        print(f"# {args.rounds} rounds, each call alternating between the servers; "
              f"{cpu.summary()} (the two servers are among the other processes)")
        print(f"# {'call':<18} {'new':>10} {'old':>10} {'new/old':>8}  (median latency)")
        for name, new_times in times["new"].items():
            new, old = (statistics.median(t) * 1000 for t in (new_times, times["old"][name]))
            print(f"info      {name:<18} {new:7.2f} ms {old:7.2f} ms {new / old:8.3f}  "
                  f"(n = {len(new_times)} each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
