"""Model report generation and offline `verify-report` on a realistic model history.

Setup (not timed), through the real app and its HTTP API (Flask test client, in-process):
one model with 2 sensitive attributes; --runs runs, each with params, 8 grouped metric keys x
10 groups (2 attributes x 5 values) plus overall metrics, a dataset and a model artifact;
--versions versions registered from the first runs; per version a Production promotion
requested by one writer token and approved by one of two approver tokens; --deployments
deployments across 2 environments, some of them rollbacks.

Timed:
  1. GET /api/v1/reports/models/<name>.pdf through the test client, end to end (whole-ledger
     verify_database, evidence, checkpoint signing, proofs, bundle, render, issuance); with a
     per-phase breakdown, and verify_database timed alone;
  2. the same request in a fresh child process (imports + create_app + one request), for its
     peak RSS (the child's /proc/self/status VmHWM; os.wait4 and RUSAGE_CHILDREN printed beside
     it, which also count the parent's RSS carried over at vfork + exec);
  3. the real CLI `python -m app.cli verify-report PDF --key keys.json` as a subprocess
     (interpreter start included), and in-process app.services.report_verify.verify_report;
  4. the standalone verifier `mlaudit-verify report PDF --key keys.json` (verifier/) in a venv
     of its own, built with `pip install ./verifier` (not timed) unless --standalone-venv.

Run from the repository root:  .venv/bin/python bench/reports.py  [--help]
Uses DATABASE_URL's server when set (a fresh database in it), else an embedded server.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _pg  # noqa: E402

REPORT_TARGET_S = 1.0
REPORT_RSS_TARGET_MB = 200
VERIFY_REPORT_TARGET_S = 1.0
STANDALONE_TARGET_S = 2.0
LAST_CHILD_CPU = [0.0]
MODEL = "scorecard"
ATTRIBUTES = {"region": ["north", "south", "east", "west", "central"],
              "age_band": ["18-25", "26-35", "36-45", "46-60", "60+"]}
GROUPED_KEYS = ["selection_rate", "tpr", "fpr", "precision", "recall", "accuracy", "auc",
                "calibration_error"]
OVERALL_KEYS = ["auc", "accuracy", "log_loss", "f1"]


def send(client: Any, method: str, path: str, headers: dict[str, str],
         payload: Any = None) -> Any:
    response = client.open(path, method=method, headers=headers,
                           data=None if payload is None else json.dumps(payload),
                           content_type="application/json")
    if response.status_code >= 300:
        raise SystemExit(f"{method} {path} -> {response.status_code}: {response.data[:400]!r}")
    return response


def make_config(url: str, home: Path) -> Any:
    from app.config import load_config

    # Checkpoints only when a report signs one, as in the tests; the service default would also
    # sign every 1,000 entries / 60 s, which does not change the report path.
    return load_config(environ={}, overrides={
        "database_url": url, "home": home, "checkpoint_interval": 3600.0,
        "checkpoint_every": 1_000_000})


def make_tokens(url: str) -> dict[str, dict[str, str]]:
    import psycopg

    from app.services import tokens
    from app.services.ledger import ledger_transaction

    out = {}
    with psycopg.connect(url) as conn:
        for name, role in (("builder", "writer"), ("requester", "writer"),
                           ("risk1", "approver"), ("risk2", "approver"),
                           ("auditor", "auditor"), ("ops", "admin")):
            with ledger_transaction(conn) as writer:
                secret, _ = tokens.create_token(writer, name, role, "bench")
            out[name] = {"Authorization": f"Bearer {secret}"}
    return out


def setup(client: Any, who: dict[str, dict[str, str]], runs: int, versions: int,
          deployments: int) -> dict[str, int]:
    builder, requester = who["builder"], who["requester"]
    experiment = send(client, "POST", "/api/v1/experiments", builder,
                      {"name": "credit-scoring"}).json["id"]
    groups = [{attr: value} for attr, values in ATTRIBUTES.items() for value in values]
    run_ids = []
    for i in range(runs):
        run = send(client, "POST", "/api/v1/runs", builder,
                   {"experiment_id": experiment, "name": f"train-{i:03d}"}).json["id"]
        metrics = [{"key": k, "value": f"0.{(7000 + 37 * i + 11 * j) % 10000:04d}"}
                   for j, k in enumerate(OVERALL_KEYS)]
        for j, key in enumerate(GROUPED_KEYS):
            for g, group in enumerate(groups):
                value = (5000 + 97 * i + 13 * j + 71 * g) % 10000
                metrics.append({"key": key, "value": f"0.{value:04d}", "group": group,
                                "n": 500 + 10 * g})
        send(client, "POST", f"/api/v1/runs/{run}/batch", builder, {
            "params": [{"key": "learning_rate", "value": f"0.0{i % 9 + 1}"},
                       {"key": "max_depth", "value": str(3 + i % 6)},
                       {"key": "n_estimators", "value": str(100 + 10 * i)},
                       {"key": "seed", "value": str(i)}],
            "metrics": metrics})
        group_counts = {attr: {v: 1000 + 10 * k for k, v in enumerate(values)}
                        for attr, values in ATTRIBUTES.items()}
        send(client, "POST", f"/api/v1/runs/{run}/inputs", builder, {"datasets": [
            {"name": "loans", "digest": f"{i:064x}", "context": "training",
             "row_count": 5050, "group_counts": group_counts}]})
        put = client.put(f"/api/v1/runs/{run}/artifacts/model/model.bin", headers=builder,
                         data=f"model weights {i}".encode() * 64)
        if put.status_code != 201:
            raise SystemExit(f"artifact upload -> {put.status_code}: {put.data[:300]!r}")
        run_ids.append(run)
    send(client, "POST", "/api/v1/models", builder, {
        "name": MODEL, "sensitive_attributes": list(ATTRIBUTES), "owner": "risk-team"})
    base = f"/api/v1/models/{MODEL}"
    promotions = {}
    for n in range(versions):
        version = send(client, "POST", f"{base}/versions", builder,
                       {"run_id": run_ids[n * runs // versions], "artifact_path": "model"}
                       ).json["version"]
        promotion = send(client, "POST", f"{base}/versions/{version}/promotions", requester,
                         {"target": "Production", "justification": "passed validation"}
                         ).json["id"]
        send(client, "POST", f"/api/v1/promotions/{promotion}/decisions",
             who["risk1" if n % 2 else "risk2"], {"decision": "approve", "comment": "reviewed"})
        promotions[version] = promotion
    envs = ["prod-eu", "prod-us"]
    for env in envs:
        send(client, "POST", "/api/v1/environments", who["ops"], {"name": env})
    done = rollbacks = 0
    history: dict[str, list[int]] = {e: [] for e in envs}
    version = 0
    while done < deployments:
        version = version % versions + 1
        for env in envs:
            if done >= deployments:
                break
            send(client, "POST", f"{base}/deployments", requester, {
                "version": version, "environment": env, "promotion_id": promotions[version],
                "target": {"endpoint": f"https://scoring.example/{env}"}})
            history[env].append(version)
            done += 1
        # every 4th version, roll one environment back to its previous version
        if version % 4 == 0 and done < deployments:
            env = envs[(version // 4) % 2]
            back = history[env][-2]
            send(client, "POST", f"{base}/rollbacks", requester,
                 {"version": back, "environment": env, "reason": "drift"})
            history[env].append(back)
            done += 1
            rollbacks += 1
    return {"deployments": done, "rollbacks": rollbacks}


def _status_mb(field: str) -> float:
    """A field of /proc/self/status (VmRSS, VmHWM) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child_report(url: str, home: str, out: str) -> int:
    """Child mode: imports + create_app + one model report request; prints JSON."""
    from app import create_app

    app = create_app(make_config(url, Path(home)))
    try:
        client = app.test_client()
        rss1 = _status_mb("VmRSS")  # current RSS after imports + create_app
        headers = {"Authorization": f"Bearer {os.environ['BENCH_AUDITOR_TOKEN']}"}
        t0 = time.perf_counter()
        response = client.get(f"/api/v1/reports/models/{MODEL}.pdf", headers=headers)
        seconds = time.perf_counter() - t0
        if response.status_code != 200:
            print(json.dumps({"error": response.status_code}))
            return 1
        Path(out).write_bytes(response.data)
    finally:
        app.extensions["mlaudit"].close()
    print(json.dumps({"seconds": seconds, "rss_after_app_mb": rss1,
                      "hwm_end_mb": _status_mb("VmHWM")}))
    return 0


def run_child(argv: list[str], env: dict[str, str]) -> tuple[float, float, bytes, int]:
    """(wall seconds, child's peak RSS MB via wait4, stdout, exit code); the child's CPU
    seconds (user + system, from the same wait4) are left in LAST_CHILD_CPU."""
    t0 = time.perf_counter()
    child = subprocess.Popen(argv, cwd=_pg.REPO, env=env, stdout=subprocess.PIPE)
    assert child.stdout is not None
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - t0
    LAST_CHILD_CPU[0] = usage.ru_utime + usage.ru_stime
    child.returncode = os.waitstatus_to_exitcode(status)
    return seconds, usage.ru_maxrss / 1024, out, child.returncode


class Phases:
    """Wall time of the report's phases, by wrapping module functions (no app change)."""

    def __init__(self) -> None:
        from app.services import report_model, reports

        self.times: dict[str, list[float]] = {}
        self._undo: list[tuple[Any, str, Any]] = []
        for module, name, label in (
                (reports, "_verify", "verify_database"),
                (report_model, "model_evidence", "evidence (model_evidence)"),
                (reports, "_consistency", "consistency proofs"),
                (reports, "make_bundle", "make_bundle"),
                (reports, "render_bundle", "render_bundle (PDF)"),
                (reports, "_signed", "PAdES signature")):
            self._wrap(module, name, label)

    def _wrap(self, module: Any, name: str, label: str) -> None:
        original = getattr(module, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.times.setdefault(label, []).append(time.perf_counter() - t0)

        setattr(module, name, timed)
        self._undo.append((module, name, original))

    def take(self) -> dict[str, float]:
        out = {k: sum(v) for k, v in self.times.items()}
        self.times = {}
        return out

    def close(self) -> None:
        for module, name, original in self._undo:
            setattr(module, name, original)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--versions", type=int, default=20)
    ap.add_argument("--deployments", type=int, default=50, help="including rollbacks")
    ap.add_argument("--repeat", type=int, default=5, help="timed report requests")
    ap.add_argument("--keep", metavar="PDF", help="also save the model report here, to look at")
    ap.add_argument("--verify-runs", type=int, default=3, help="verify-report CLI runs")
    ap.add_argument("--standalone-venv", type=Path, metavar="DIR",
                    help="a venv with mlaudit-verify installed (default: build one)")
    ap.add_argument("--profile", action="store_true",
                    help="also cProfile one report request and print the top functions")
    ap.add_argument("--child-report", nargs=3, metavar=("URL", "HOME", "OUT"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_report:
        return child_report(*args.child_report)

    from app import create_app
    from app.cli import _trusted_keys
    from app.services.report_verify import all_passed, verify_report
    from app.services.verification import verify_database

    with _pg.database("reports") as url, tempfile.TemporaryDirectory(
            prefix="mlaudit-bench-reports-") as tmp:
        home = Path(tmp) / "home"
        app = create_app(make_config(url, home))
        services = app.extensions["mlaudit"]
        client = app.test_client()
        who = make_tokens(url)
        t0 = time.perf_counter()
        made = setup(client, who, args.runs, args.versions, args.deployments)
        with services.pool.connection() as conn:
            entries = conn.execute("SELECT count(*) FROM ledger_entries").fetchone()[0]
        print(f"# setup: {args.runs} runs x ({len(GROUPED_KEYS)} metric keys x "
              f"{sum(len(v) for v in ATTRIBUTES.values())} groups + {len(OVERALL_KEYS)} overall, "
              f"4 params, 1 dataset, 1 artifact), {args.versions} versions each promoted and "
              f"approved, {made['deployments']} deployments ({made['rollbacks']} rollbacks) in "
              f"2 environments; ledger {entries:,} entries; {time.perf_counter() - t0:.1f} s "
              "(not timed)", flush=True)

        auditor = who["auditor"]
        path = f"/api/v1/reports/models/{MODEL}.pdf"
        warm = client.get(path, headers=auditor)  # first request: lazy imports, font loading
        if warm.status_code != 200:
            raise SystemExit(f"report -> {warm.status_code}: {warm.data[:400]!r}")
        phases = Phases()
        samples, breakdown, cpu_s = [], [], []
        with _pg.CpuMeter(url) as cpu:
            for _ in range(args.repeat):
                t0, c0 = time.perf_counter(), time.process_time()
                response = client.get(path, headers=auditor)
                samples.append(time.perf_counter() - t0)
                cpu_s.append(time.process_time() - c0)
                assert response.status_code == 200, response.data[:400]
                breakdown.append(phases.take())
        phases.close()
        pdf = response.data
        from pypdf import PdfReader

        pages = len(PdfReader(io.BytesIO(pdf)).pages)
        print(f"# report PDF {len(pdf) / 1024:.0f} KiB, {pages} pages; timed requests: "
              f"{cpu.summary()}")
        for label in breakdown[0]:
            values = [b.get(label, 0.0) for b in breakdown]
            print(f"info      phase {label:34s} median {1000 * statistics.median(values):7.1f} ms")
        verify_s = []
        with services.pool.connection() as conn:
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                result = verify_database(conn)
                verify_s.append(time.perf_counter() - t0)
                conn.rollback()
        print(f"info      verify_database alone ({result.entries:,} entries, "
              f"{result.checkpoints} checkpoints, ok={result.ok}): median "
              f"{1000 * statistics.median(verify_s):.1f} ms, max {1000 * max(verify_s):.1f} ms")
        med, worst = statistics.median(samples), max(samples)
        print(f"info      report request without verify_database (median): "
              f"{1000 * (med - statistics.median(verify_s)):.0f} ms")
        print(f"info      report request CPU of this process (the server's not included): "
              f"median {1000 * statistics.median(cpu_s):.0f} ms, max {1000 * max(cpu_s):.0f} ms")
        print(f"target    model report request, end to end (median of {args.repeat}): "
              f"{1000 * med:7.0f} ms  (max {1000 * worst:.0f} ms)  target < "
              f"{REPORT_TARGET_S * 1000:.0f} ms  {_pg.verdict(worst < REPORT_TARGET_S)} "
              "(verdict on max)", flush=True)

        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
            client.get(path, headers=auditor)
            profiler.disable()
            stats = pstats.Stats(profiler)
            stats.sort_stats("cumulative").print_stats(30)
            stats.sort_stats("tottime").print_stats(20)

        keys_json = client.get("/api/v1/ledger/keys", headers=auditor).data.decode()
        services.close()  # the child (and verify-report) run without this process's pool

        # 2. peak RSS in a fresh process
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLAUDIT_")}
        env.update({"DATABASE_URL": url, "MLAUDIT_HOME": str(home),
                    "BENCH_AUDITOR_TOKEN": auditor["Authorization"].split()[-1]})
        out_pdf = Path(tmp) / "model.pdf"
        # The child's own VmHWM is the verdict: wait4's ru_maxrss also counts the parent's
        # RSS, which the kernel carries into the child's maxrss at vfork + exec.
        rss_runs, wait4_runs = [], []
        for run in range(3):
            wall, rss, out, code = run_child(
                [sys.executable, str(Path(__file__).resolve().relative_to(_pg.REPO)),
                 "--child-report", url, str(home), str(out_pdf)], env)
            if code != 0:
                raise SystemExit(f"child report exited {code}: {out!r}")
            info = json.loads(out)
            children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            rss_runs.append(info["hwm_end_mb"])
            wait4_runs.append(rss)
            print(f"info      child run {run + 1}: report request {1000 * info['seconds']:.0f} ms, "
                  f"process wall {wall:.2f} s; peak RSS {rss:.1f} MB (wait4), RUSAGE_CHILDREN "
                  f"max {children:.1f} MB, VmHWM {info['hwm_end_mb']:.1f} MB; RSS after imports + "
                  f"create_app, before the request {info['rss_after_app_mb']:.1f} MB", flush=True)
        print(f"target    model report peak RSS, fresh process (largest of 3): "
              f"{max(rss_runs):7.1f} MB (VmHWM; wait4 {max(wait4_runs):.1f} MB)  target < "
              f"{REPORT_RSS_TARGET_MB} MB  {_pg.verdict(max(rss_runs) < REPORT_RSS_TARGET_MB)}",
              flush=True)

        # 3. verify-report
        key_file = Path(tmp) / "keys.json"
        key_file.write_text(keys_json)
        pdf = out_pdf.read_bytes()
        trusted = _trusted_keys([str(key_file)])
        inproc, inproc_cpu = [], []
        for _ in range(args.verify_runs):
            t0, c0 = time.perf_counter(), time.process_time()
            checks = verify_report(pdf, trusted)
            inproc.append(time.perf_counter() - t0)
            inproc_cpu.append(time.process_time() - c0)
        assert all_passed(checks), checks
        if args.keep:
            Path(args.keep).write_bytes(out_pdf.read_bytes())
        cli_runs = []
        for run in range(args.verify_runs):
            wall, rss, out, code = run_child(
                [sys.executable, "-m", "app.cli", "verify-report", str(out_pdf), "--key",
                 str(key_file), "--json"], env)
            verdict = json.loads(out)
            if code != 0 or not verdict["ok"]:
                raise SystemExit(f"verify-report exited {code}: {out!r}")
            cli_runs.append(wall)
            print(f"info      verify-report CLI run {run + 1}: {wall:.2f} s (CPU "
                  f"{LAST_CHILD_CPU[0]:.2f} s), ok={verdict['ok']}, peak RSS {rss:.1f} MB",
                  flush=True)
        print(f"info      verify_report in-process ({len(pdf) / 1024:.0f} KiB PDF): median "
              f"{1000 * statistics.median(inproc):.0f} ms, max {1000 * max(inproc):.0f} ms; CPU "
              f"median {1000 * statistics.median(inproc_cpu):.0f} ms")
        print(f"target    mlaudit verify-report CLI, incl. interpreter start (slowest of "
              f"{args.verify_runs}): {max(cli_runs):.2f} s  target < {VERIFY_REPORT_TARGET_S:.0f} s"
              f"  {_pg.verdict(max(cli_runs) < VERIFY_REPORT_TARGET_S)}", flush=True)
        standalone(out_pdf, key_file, args.verify_runs, args.standalone_venv)
    return 0


def standalone(pdf: Path, key_file: Path, runs: int, venv: Path | None) -> None:
    """4. `mlaudit-verify report` in its own venv: wall time with interpreter start."""
    import _standalone

    if venv is None:
        with tempfile.TemporaryDirectory(prefix="mlaudit-bench-verifier-") as scratch:
            return standalone(pdf, key_file, runs, _standalone.install(Path(scratch)).parent.parent)
    script = venv / "bin" / "mlaudit-verify"
    print(f"# standalone verifier: {script} ({_standalone.installed_mb(script):.1f} MB "
          "installed without pip and setuptools)", flush=True)
    walls = []
    for run in range(runs):
        t0 = time.perf_counter()
        done = subprocess.run([str(script), "report", str(pdf), "--key", str(key_file),
                               "--json"], capture_output=True, text=True,
                              env=_standalone.clean_env(), cwd=pdf.parent)
        walls.append(time.perf_counter() - t0)
        if done.returncode not in (0, 1) or not done.stdout.startswith("{"):
            raise SystemExit(f"mlaudit-verify report exited {done.returncode}: {done.stderr}")
        verdict = json.loads(done.stdout)
        failed = [c["name"] for c in verdict["checks"] if c["ok"] is False]
        unchecked = [c["name"] for c in verdict["checks"] if c["ok"] is None
                     and c["name"] not in ("verification", "forced")]
        if failed:
            raise SystemExit(f"mlaudit-verify report failed {failed}: {done.stdout!r}")
        print(f"info      mlaudit-verify run {run + 1}: {walls[-1]:.2f} s, exit "
              f"{done.returncode}, ok={verdict['ok']}"
              + (f", not checked: {', '.join(unchecked)}" if unchecked else ""), flush=True)
    print(f"target    mlaudit-verify report (standalone), incl. interpreter start (slowest of "
          f"{runs}): {max(walls):.2f} s  target < {STANDALONE_TARGET_S:.0f} s  "
          f"{_pg.verdict(max(walls) < STANDALONE_TARGET_S)}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
