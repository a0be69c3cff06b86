"""Append throughput: PostgreSQL's own autocommit INSERT rate (the baseline), mlaudit's durable
group-committed appends from 16 writer threads, and batch append in one transaction.

The entries are the synthetic ones of the earlier runs (bench/_pg.py make_draft), appended
without projection rows (project=False): this measures the ledger's append path alone, as
those runs did, and the check at the end verifies the chain (tracking_vs_mlflow.py and
ledger_1m.py measure the writes with their rows).

Run from the repository root:  .venv/bin/python bench/append.py  [--duration 10] [--help]
Uses DATABASE_URL's server when set (a fresh database in it), else an embedded server.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _pg  # noqa: E402
import psycopg  # noqa: E402

from app.db import make_pool  # noqa: E402
from app.ledger.entry import Draft  # noqa: E402
from app.services.ledger import GroupCommitter, ledger_transaction  # noqa: E402

BATCH_TARGET = 100_000  # entries/s


def timed_threads(
    threads: int, duration: float, warmup: float,
    make_worker: Callable[[int], Callable[[], None]],
) -> tuple[int, float, list[float]]:
    """Run `threads` workers calling their op in a loop; count ops that finish inside the
    window [start + warmup, start + warmup + duration]. Returns (ops, seconds, latencies)."""
    ops = [0] * threads
    latencies: list[list[float]] = [[] for _ in range(threads)]
    ready = threading.Barrier(threads + 1)
    window: list[float] = []
    errors: list[BaseException] = []

    def body(index: int) -> None:
        try:
            op = make_worker(index)
            ready.wait()
            begin, end = window
            count, lat = 0, latencies[index]
            while True:
                t0 = time.perf_counter()
                if t0 >= end:
                    break
                op()
                t1 = time.perf_counter()
                if begin <= t1 <= end:
                    count += 1
                    lat.append(t1 - t0)
            ops[index] = count
        except BaseException as exc:  # surface worker failures instead of hanging the barrier
            errors.append(exc)
            ready.abort()

    workers = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(threads)]
    for w in workers:
        w.start()
    now = time.perf_counter()
    window.extend([now + warmup, now + warmup + duration])
    try:
        ready.wait()
    except threading.BrokenBarrierError:
        pass
    for w in workers:
        w.join()
    if errors:
        raise errors[0]
    return sum(ops), duration, [x for lat in latencies for x in lat]


def baseline(url: str, threads: int, duration: float, warmup: float) -> tuple[float, list[float]]:
    """Single-row autocommit INSERTs (bigint + 300-byte bytea), one connection per thread."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_baseline")
        conn.execute("CREATE TABLE bench_baseline (id bigint PRIMARY KEY, payload bytea NOT NULL)")
    ids = itertools.count()
    conns: list[psycopg.Connection] = []

    def make_worker(index: int) -> Callable[[], None]:
        conn = psycopg.connect(url, autocommit=True)
        conns.append(conn)
        conn.execute("SET synchronous_commit = on")
        payload = os.urandom(300)
        cur = conn.cursor()

        def op() -> None:
            cur.execute("INSERT INTO bench_baseline (id, payload) VALUES (%s, %s)",
                        (next(ids), payload))
        return op

    try:
        ops, seconds, lat = timed_threads(threads, duration, warmup, make_worker)
    finally:
        for conn in conns:
            conn.close()
    return ops / seconds, lat


def group_commit(url: str, threads: int, duration: float, warmup: float, pool_size: int,
                 max_batch: int) -> tuple[float, list[float], int]:
    """Each thread: committer.run(lambda w: w.append([draft])), one entry per call."""
    commits = [0]

    def on_commit(size: int) -> None:
        commits[0] += 1

    pool = make_pool(url, pool_size)
    try:
        committer = GroupCommitter(pool, max_batch, on_commit=on_commit)

        def make_worker(index: int) -> Callable[[], None]:
            step = itertools.count(index * 10_000_000)
            run = os.urandom(16).hex()

            def op() -> None:
                draft = _pg.make_draft(next(step), run)
                committer.run(lambda w: w.append([draft], project=False))
            return op

        before = commits[0]
        ops, seconds, lat = timed_threads(threads, duration, warmup, make_worker)
        total_commits = commits[0] - before
    finally:
        pool.close()
    return ops / seconds, lat, total_commits


def batch_append(url: str, drafts: list[Draft], chunk: int) -> tuple[float, float]:
    """One ledger_transaction appending prebuilt drafts in chunks; timed from drafts to commit.

    Returns (entries/s, this process's CPU microseconds per entry in the same window)."""
    chunks = [drafts[i : i + chunk] for i in range(0, len(drafts), chunk)]
    with psycopg.connect(url) as conn:
        t0, c0 = time.perf_counter(), time.process_time()
        with ledger_transaction(conn) as writer:
            for part in chunks:
                writer.append(part, project=False)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return len(drafts) / seconds, cpu / len(drafts) * 1e6


def ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def report_concurrent(names: dict[str, str], results: dict[str, list[float]], n: int) -> None:
    med = {k: statistics.median(v) for k, v in results.items()}
    print("# medians over rounds")
    for key in ("base1", "base16", "gc1"):
        unit = "rows/s" if key.startswith("base") else "entries/s"
        print(f"{names[key]} {med[key]:10,.0f} {unit}")
    rate = med["gc16"]
    print(f"{names['gc16']} {rate:10,.0f} entries/s")
    for key, label in (("base1", "1 connection"), ("base16", f"{n} connections")):
        ratios = ", ".join(f"{g / b:.2f}" for g, b in zip(results["gc16"], results[key],
                                                           strict=True))
        # The baseline is the 1-connection autocommit INSERT; 16 connections is
        # recorded for context (PostgreSQL's own concurrency, no chain), not as a target.
        verdict = (f"target >= 1.00x  {_pg.verdict(rate >= med[key])}" if key == "base1"
                   else "(context, not a target)")
        print(f"          vs baseline {label:15s} {med[key]:9,.0f}/s: {rate / med[key]:5.2f}x "
              f"(per round {ratios})  {verdict}")
    sys.stdout.flush()


def report_batch(url: str, args: argparse.Namespace) -> None:
    rates = []
    for run in range(args.batch_runs):
        drafts = _pg.make_drafts(run * args.batch_entries, args.batch_entries)
        with _pg.CpuMeter(url) as cpu:
            r, python_us = batch_append(url, drafts, args.batch_chunk)
        rates.append(r)
        per = f"python {python_us:.1f} us/entry"
        if cpu.others is not None:
            per += f", postgres {cpu.server / args.batch_entries * 1e6:.1f} us/entry"
        print(f"info      batch append run {run + 1}: {args.batch_entries:,} entries in chunks "
              f"of {args.batch_chunk:,}: {r:9,.0f} entries/s ({per}; {cpu.summary()})",
              flush=True)
    bmed = statistics.median(rates)
    print(f"target    batch append (median of {len(rates)})          {bmed:10,.0f} entries/s"
          f"   target >= {BATCH_TARGET:,}  {_pg.verdict(bmed >= BATCH_TARGET)}")
    sys.stdout.flush()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=6.0, help="seconds measured per phase")
    ap.add_argument("--warmup", type=float, default=1.0, help="seconds run before measuring")
    ap.add_argument("--rounds", type=int, default=3,
                    help="interleaved rounds of the four concurrent phases (medians reported)")
    ap.add_argument("--threads", type=int, default=16, help="concurrent writers / clients")
    ap.add_argument("--pool-size", type=int, default=10, help="mlaudit pool (Config default 10)")
    ap.add_argument("--max-batch", type=int, default=256, help="group commit max (default 256)")
    ap.add_argument("--batch-entries", type=int, default=100_000)
    ap.add_argument("--batch-chunk", type=int, default=10_000, help="drafts per writer.append")
    ap.add_argument("--batch-runs", type=int, default=3)
    ap.add_argument("--only", choices=("concurrent", "batch"),
                    help="run only the concurrent phases, or only batch append (and the check)")
    args = ap.parse_args()
    n = args.threads

    with _pg.database("append") as url:
        if args.only != "batch":
            print(f"# {args.rounds} rounds; each phase {args.duration:g} s measured after "
                  f"{args.warmup:g} s warm-up")
        names = {"base1": "baseline  PostgreSQL INSERT, 1 connection      ",
                 "base16": f"baseline  PostgreSQL INSERT, {n} connections    ",
                 "gc1": "info      mlaudit group commit, 1 writer      ",
                 "gc16": f"target    mlaudit group commit, {n} writers    "}
        results: dict[str, list[float]] = {k: [] for k in names}
        for rnd in range(args.rounds if args.only != "batch" else 0):
            order = ["base1", "base16", "gc1", "gc16"]
            if rnd % 2:
                order.reverse()  # interleave so slow drift of the disk or the load cancels
            for phase in order:
                with _pg.CpuMeter(url) as cpu:
                    extra = ""
                    if phase.startswith("base"):
                        rate, lat = baseline(url, 1 if phase == "base1" else n, args.duration,
                                             args.warmup)
                    else:
                        rate, lat, commits = group_commit(
                            url, 1 if phase == "gc1" else n, args.duration, args.warmup,
                            args.pool_size, args.max_batch)
                        extra = f", {rate * args.duration / max(commits, 1):.1f}/commit"
                results[phase].append(rate)
                unit = "rows/s   " if phase.startswith("base") else "entries/s"
                print(f"round {rnd + 1}  {names[phase][10:].strip():36s} {rate:9,.0f} {unit}"
                      f" (p50 {ms(lat, .5):.2f} ms, p99 {ms(lat, .99):.2f} ms{extra}; "
                      f"{cpu.summary()})", flush=True)
        if args.only != "batch":
            report_concurrent(names, results, n)
        if args.only != "concurrent":
            report_batch(url, args)

        t0 = time.perf_counter()
        result = _pg.verify_chain(url)
        seconds = time.perf_counter() - t0
        status = "OK" if result["ok"] else f"DAMAGED {result['damage']}"
        print(f"check     verify (chain, tree, checkpoints, head): {status}: "
              f"{result['entries']:,} entries in {seconds:.1f} s")
        return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
