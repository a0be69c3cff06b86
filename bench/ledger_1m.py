"""`mlaudit verify` and proof latency on a large ledger (default 1,000,000 entries).

Builds the ledger once with batch append (a signed checkpoint every --checkpoint-every
entries, as the service does by default), then
  1. runs the real CLI `python -m app.cli verify --json` as a subprocess with DATABASE_URL set,
     measuring wall time and the child's peak RSS;
  2. times app.services.proofs.inclusion / consistency (DB reads included) over random inputs.

Run from the repository root:  .venv/bin/python bench/ledger_1m.py  [--entries 1000000] [--help]
Uses DATABASE_URL's server when set (a fresh database in it), else an embedded server.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _pg  # noqa: E402
import psycopg  # noqa: E402

from app.ledger import merkle  # noqa: E402
from app.services import keys, proofs  # noqa: E402
from app.services.checkpoints import make_checkpoint  # noqa: E402
from app.services.ledger import ledger_transaction  # noqa: E402
from app.storage import ledger as store  # noqa: E402

VERIFY_RATE_TARGET = 200_000  # entries/s
VERIFY_RSS_TARGET_MB = 150
INCLUSION_TARGET_MS = 5.0
CONSISTENCY_TARGET_MS = 10.0
ORIGIN = "bench.mlaudit.local/ledger"


def build(url: str, entries: int, chunk: int, checkpoint_every: int, key_dir: Path) -> None:
    """Batch-append `entries` drafts; commit and sign a checkpoint every checkpoint_every."""
    per_txn = checkpoint_every if checkpoint_every > 0 else 100_000
    t0 = time.perf_counter()
    done = 0
    signed = 0
    with psycopg.connect(url) as conn:
        signer = keys.load_signer(conn, ORIGIN, key_dir)  # appends the key.activated entry
        conn.commit()
        while done < entries:
            count = min(per_txn, entries - done)
            drafts = _pg.make_drafts(done, count)
            with ledger_transaction(conn) as writer:
                for i in range(0, count, chunk):
                    writer.append(drafts[i : i + chunk])
            done += count
            if checkpoint_every > 0:
                with conn.transaction():
                    make_checkpoint(conn, signer, ORIGIN)
                signed += 1
            if done % 100_000 < per_txn:
                print(f"  built {done:,} entries ({time.perf_counter() - t0:.0f} s)",
                      file=sys.stderr, flush=True)
    seconds = time.perf_counter() - t0
    print(f"info      built {entries:,} entries (+1 key.activated) and {signed:,} checkpoints "
          f"in {seconds:.1f} s: {entries / seconds:,.0f} entries/s incl. commits and signing")
    t0 = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) ledger_entries")  # what autovacuum would do after a load
        conn.execute("CHECKPOINT")
    print(f"info      VACUUM ANALYZE + CHECKPOINT: {time.perf_counter() - t0:.1f} s")
    sys.stdout.flush()


def run_verify_cli(url: str) -> tuple[float, float, float, dict[str, object]]:
    """(wall seconds, child peak RSS MB via wait4, RUSAGE_CHILDREN maxrss MB, parsed JSON)."""
    env = dict(os.environ, DATABASE_URL=url)
    t0 = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "app.cli", "verify", "--json"],
                             cwd=_pg.REPO, env=env, stdout=subprocess.PIPE)
    assert child.stdout is not None
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage
    seconds = time.perf_counter() - t0
    child.returncode = os.waitstatus_to_exitcode(status)
    children_max = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    if child.returncode != 0:
        raise SystemExit(f"mlaudit verify exited {child.returncode}: {out!r}")
    return seconds, usage.ru_maxrss / 1024, children_max, json.loads(out)


def time_calls(fn, inputs) -> list[float]:  # type: ignore[no-untyped-def]
    samples = []
    for args in inputs:
        t0 = time.perf_counter()
        fn(*args)
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def report_latency(name: str, samples: list[float], target_ms: float, what: str) -> None:
    p = _pg.percentiles(samples)
    print(f"target    {name} ({len(samples):,} {what}): median {p['median']:.2f} ms, "
          f"p95 {p['p95']:.2f} ms, p99 {p['p99']:.2f} ms, max {p['max']:.2f} ms"
          f"   target < {target_ms:g} ms (p99)  {_pg.verdict(p['p99'] < target_ms)}")


def bench_proofs(url: str, samples: int, seed: int) -> None:
    rng = random.Random(seed)
    with psycopg.connect(url, autocommit=True) as conn:
        head = store.read_head(conn)
        assert head is not None
        size = head.size
        root = merkle.CompactRange.from_bytes(size, bytes(head.frontier)).root()
        seqs = [(conn, rng.randrange(size), size) for _ in range(samples)]
        pairs = []
        for _ in range(samples):
            a, b = sorted(rng.sample(range(1, size + 1), 2))
            pairs.append((conn, a, b))
        time_calls(proofs.inclusion, seqs[:50])  # warm-up: connection, plans, caches
        time_calls(proofs.consistency, pairs[:50])
        with _pg.CpuMeter(url) as cpu:
            inclusion_ms = time_calls(proofs.inclusion, seqs)
            consistency_ms = time_calls(proofs.consistency, pairs)
        # correctness of a sample (not timed)
        for _, seq, n in seqs[:20]:
            proof = proofs.inclusion(conn, seq, n)
            leaf = bytes(store.get_entry(conn, seq).leaf_hash)  # type: ignore[union-attr]
            merkle.verify_inclusion(seq, n, leaf, proof.hashes, root)
        for _, a, b in pairs[:20]:
            c = proofs.consistency(conn, a, b)
            merkle.verify_consistency(a, b, c.first_root, c.second_root, c.hashes)
    print(f"# proofs against tree size {size:,}; sample of 20 of each verified OK; {cpu.summary()}")
    report_latency("inclusion proof  ", inclusion_ms, INCLUSION_TARGET_MS, "random seqs")
    report_latency("consistency proof", consistency_ms, CONSISTENCY_TARGET_MS, "random size pairs")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--chunk", type=int, default=10_000, help="drafts per writer.append")
    ap.add_argument("--checkpoint-every", type=int, default=1000,
                    help="commit + signed checkpoint every N entries (0: none)")
    ap.add_argument("--verify-runs", type=int, default=3)
    ap.add_argument("--proof-samples", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    with _pg.database("ledger") as url, tempfile.TemporaryDirectory(prefix="mlaudit-keys-") as kd:
        build(url, args.entries, args.chunk, args.checkpoint_every, Path(kd))

        worst_rate, worst_rss = float("inf"), 0.0
        for run in range(args.verify_runs):
            with _pg.CpuMeter(url) as cpu:
                seconds, rss, children_rss, result = run_verify_cli(url)
            entries = int(result["entries"])  # type: ignore[arg-type]
            rate = entries / seconds
            worst_rate, worst_rss = min(worst_rate, rate), max(worst_rss, rss)
            print(f"info      verify run {run + 1}: ok={result['ok']} entries={entries:,} "
                  f"checkpoints={result['checkpoints']:,} in {seconds:.2f} s = {rate:,.0f} "
                  f"entries/s; child peak RSS {rss:.1f} MB (wait4), "
                  f"RUSAGE_CHILDREN max {children_rss:.1f} MB; {cpu.summary()}")
            if not result["ok"]:
                print(f"          damage: {result['damage']}")
        ok = worst_rate >= VERIFY_RATE_TARGET
        print(f"target    mlaudit verify rate (slowest run):  {worst_rate:10,.0f} entries/s"
              f"   target >= {VERIFY_RATE_TARGET:,}  {_pg.verdict(ok)}")
        print(f"target    mlaudit verify peak RSS (largest):  {worst_rss:10.1f} MB"
              f"        target < {VERIFY_RSS_TARGET_MB} MB  "
              f"{_pg.verdict(worst_rss < VERIFY_RSS_TARGET_MB)}")
        sys.stdout.flush()

        bench_proofs(url, args.proof_samples, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
