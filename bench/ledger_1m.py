"""`mlaudit rebuild` replay, `mlaudit verify` and proof latency on a large ledger (default
1,000,000 entries).

Builds the ledger once with batch append of entries only (LedgerWriter.append(project=False),
--chunk drafts a call), a signed checkpoint every --checkpoint-every entries as the service does
by default, then
  1. times app.services.rebuild.replay of every entry into the empty projection tables: the
     reducers' rows stored with COPY in one transaction, commit (the deferred checks) included,
     as `mlaudit rebuild` does after copying the ledger, in a child `python bench/_pg.py
     replay` (its peak RSS is measured as the verify children's are);
  2. runs VACUUM (ANALYZE) on every table and a CHECKPOINT;
  3. runs the real CLI `python -m app.cli verify --json --no-trust` (the chain and every
     projection; --no-trust: no trust file is read, the keys are the database's) as a
     subprocess with DATABASE_URL set, measuring wall time and the child's peak RSS;
  4. runs the same chain check without the projections, `python bench/_pg.py verify-chain`
     (app.ledger.verify.verify_entries over app.storage.ledger.stream_entries in one snapshot,
     as verify_database does), measured the same way;
  5. times app.services.proofs.inclusion / consistency (DB reads included) over random inputs;
  6. runs the real `python -m app.cli rebuild --from <the ledger's URL>` into an empty sibling
     database (the source verified as it is copied, every row replayed, one transaction),
     measuring wall time and the child's peak RSS.

--mix realistic (the default): bench/_mix.py, the entries the service itself writes, in a
team's proportions. --mix synthetic: _pg.make_drafts, the ~300-byte entries of the earlier
runs in docs/benchmarks.md; they predate the registry's metrics.logged, so steps 1 and 3 are
skipped and step 4 is the figure to compare with those runs.

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
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _mix  # noqa: E402
import _pg  # noqa: E402
import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

from app.kinds import TABLES  # noqa: E402
from app.ledger import merkle  # noqa: E402
from app.ledger.entry import Draft  # noqa: E402
from app.services import keys, proofs  # noqa: E402
from app.services.checkpoints import make_checkpoint  # noqa: E402
from app.services.ledger import ledger_transaction  # noqa: E402
from app.storage import ledger as store  # noqa: E402
from app.storage.artifacts import keep_envelope  # noqa: E402

FULL_RATE_TARGET = 150_000  # entries/s: chain + every projection
FULL_RSS_TARGET_MB = 200
CHAIN_RATE_TARGET = 200_000  # entries/s: the earlier target of the chain-only verify
CHAIN_RSS_TARGET_MB = 150
INCLUSION_TARGET_MS = 5.0
CONSISTENCY_TARGET_MS = 10.0
ORIGIN = "bench.mlaudit.local/ledger"
FULL_VERIFY = ["-m", "app.cli", "verify", "--json", "--no-trust"]
CHAIN_VERIFY = [str(Path(__file__).resolve().parent / "_pg.py"), "verify-chain"]
REPLAY = [str(Path(__file__).resolve().parent / "_pg.py"), "replay"]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _append(conn: psycopg.Connection, drafts: list[Draft], chunk: int,
            envelopes: list[tuple[str, dict[str, object]]]) -> int:
    """One transaction: the drafts' entries (no rows) and the envelopes they name; returns
    the last seq."""
    with ledger_transaction(conn) as writer:
        for i in range(0, len(drafts), chunk):
            receipts = writer.append(drafts[i : i + chunk], project=False)
        for digest, envelope in envelopes:
            keep_envelope(conn, digest, envelope)
    return receipts[-1].seq


def build(url: str, args: argparse.Namespace, key_dir: Path) -> Counter[str]:
    """Append args.entries drafts of args.mix; commit and sign a checkpoint every
    args.checkpoint_every. Returns the count of each kind appended."""
    every = args.checkpoint_every
    per_txn = every if every > 0 else 100_000
    t0 = time.perf_counter()
    done = signed = 0
    drafting = 0.0
    with psycopg.connect(url) as conn:
        signer = keys.load_signer(conn, ORIGIN, key_dir)  # appends the key.activated entry
        conn.commit()
        mix = (_mix.Mix(signer, 1, args.seed, args.env_packages) if args.mix == "realistic"
               else None)
        while done < args.entries:
            count = min(per_txn, args.entries - done)
            started = time.perf_counter()
            drafts = _pg.make_drafts(done, count) if mix is None else mix.drafts(count)
            envelopes = [] if mix is None else mix.take_envelopes()
            drafting += time.perf_counter() - started
            last = _append(conn, drafts, args.chunk, envelopes)
            done += count
            assert last == done, f"the mix counted seq {done}, the ledger is at {last}"
            if every > 0:
                with conn.transaction():
                    make_checkpoint(conn, signer, ORIGIN)
                signed += 1
            if done % 100_000 < per_txn:
                print(f"  built {done:,} entries ({time.perf_counter() - t0:.0f} s)",
                      file=sys.stderr, flush=True)
    seconds = time.perf_counter() - t0
    print(f"info      built {args.entries:,} entries (+1 key.activated) and {signed:,} "
          f"checkpoints in {seconds:.1f} s: {args.entries / seconds:,.0f} entries/s incl. "
          f"commits and signing ({drafting:.1f} s of it making the drafts)")
    return mix.counts if mix is not None else Counter({"metrics.logged (synthetic)": done})


def print_mix(counts: Counter[str]) -> None:
    total = sum(counts.values())
    print(f"# mix: {len(counts)} kinds, per kind: count (per 1,000 entries)")
    ranked = [f"{kind} {n:,} ({1000 * n / total:.1f})" for kind, n in counts.most_common()]
    for i in range(0, len(ranked), 4):
        print("#   " + "; ".join(ranked[i : i + 4]))


def rebuild(url: str) -> None:
    """Time `python bench/_pg.py replay`: every entry's rows stored into the empty
    projections with COPY in one transaction, as `mlaudit rebuild` does (a child process: its
    peak RSS is its own, and this one stays small for the verify children after it)."""
    with _pg.CpuMeter(url) as cpu:
        wall, rss, _, found = run_child(url, REPLAY)
    entries, rows = int(found["entries"]), int(found["rows"])  # type: ignore[call-overload]
    seconds = float(found["replay_seconds"]) + float(found["commit_seconds"])  # type: ignore[arg-type]
    print(f"info      rebuild replay: {entries:,} entries -> {rows:,} rows in {seconds:.1f} s = "
          f"{entries / seconds:,.0f} entries/s (reduce + COPY {found['replay_seconds']:.1f} s, "
          f"commit with the deferred checks {found['commit_seconds']:.1f} s; process "
          f"{wall:.1f} s); child peak RSS {rss:.1f} MB; {cpu.summary()}")
    sys.stdout.flush()


def cli_rebuild(url: str) -> None:
    """Time `mlaudit rebuild --from url` into an empty database on the same server."""
    with _pg.sibling_database(url, "mlaudit_rebuilt") as target, _pg.CpuMeter(url) as cpu:
        env = dict(os.environ, DATABASE_URL=target)
        t0 = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-m", "app.cli", "rebuild", "--from", url],
                                 cwd=_pg.REPO, env=env, stderr=subprocess.PIPE)
        assert child.stderr is not None
        said = child.stderr.read().decode().strip().splitlines()
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - t0
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"mlaudit rebuild failed: {said[-5:]}")
    print(f"info      mlaudit rebuild --from <the ledger>: {seconds:.1f} s wall "
          f"({said[-1] if said else ''}); child peak RSS {usage.ru_maxrss / 1024:.1f} MB; "
          f"{cpu.summary()}")
    sys.stdout.flush()


def vacuum(url: str) -> None:
    t0 = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")  # every table: what autovacuum would do after a load
        conn.execute("CHECKPOINT")
        counts = {t.name: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
            sql.Identifier(t.name))).fetchone()[0] for t in TABLES}
    print(f"info      VACUUM (ANALYZE) of every table + CHECKPOINT: "
          f"{time.perf_counter() - t0:.1f} s")
    rows = [f"{name} {n:,}" for name, n in sorted(counts.items(), key=lambda kv: -kv[1]) if n]
    print(f"# rows: {sum(counts.values()):,} in {len(rows)} tables:")
    for i in range(0, len(rows), 6):
        print("#   " + ", ".join(rows[i : i + 6]))
    sys.stdout.flush()


def run_child(url: str, argv: list[str]) -> tuple[float, float, float, dict[str, object]]:
    """(wall seconds, child peak RSS MB via wait4, RUSAGE_CHILDREN maxrss MB, parsed JSON).

    Linux counts in a child's peak RSS the address space it had before exec, a copy of this
    process's: a child's figure below this process's peak RSS reads as that peak."""
    env = dict(os.environ, DATABASE_URL=url)
    t0 = time.perf_counter()
    child = subprocess.Popen([sys.executable, *argv], cwd=_pg.REPO, env=env,
                             stdout=subprocess.PIPE)
    assert child.stdout is not None
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage
    seconds = time.perf_counter() - t0
    child.returncode = os.waitstatus_to_exitcode(status)
    children_max = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    try:
        found = json.loads(out)
    except ValueError:
        raise SystemExit(f"{' '.join(argv)} exited {child.returncode}: {out!r}") from None
    return seconds, usage.ru_maxrss / 1024, children_max, found


def bench_verify(url: str, name: str, argv: list[str], runs: int, rate_target: float,
                 rss_target: float) -> float:
    """Run a verify child `runs` times; print each run and the targets; the slowest rate."""
    worst_rate, worst_rss = float("inf"), 0.0
    for run in range(runs):
        with _pg.CpuMeter(url) as cpu:
            seconds, rss, children_rss, result = run_child(url, argv)
        entries = int(result["entries"])  # type: ignore[call-overload]
        rate = entries / seconds
        worst_rate, worst_rss = min(worst_rate, rate), max(worst_rss, rss)
        print(f"info      {name} run {run + 1}: ok={result['ok']} entries={entries:,} "
              f"checkpoints={result['checkpoints']:,} in {seconds:.2f} s = {rate:,.0f} "
              f"entries/s; child peak RSS {rss:.1f} MB (wait4; this process: "
              f"{_peak_rss_mb():.0f} MB), RUSAGE_CHILDREN max {children_rss:.1f} MB; "
              f"{cpu.summary()}")
        if not result["ok"]:
            print(f"          damage: {result['damage']}")
    print(f"target    {name} rate (slowest run): {worst_rate:10,.0f} entries/s"
          f"   target >= {rate_target:,}  {_pg.verdict(worst_rate >= rate_target)}")
    print(f"target    {name} peak RSS (largest): {worst_rss:10.1f} MB"
          f"        target < {rss_target} MB  {_pg.verdict(worst_rss < rss_target)}")
    sys.stdout.flush()
    return worst_rate


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
    ap.add_argument("--mix", choices=("realistic", "synthetic"), default="realistic",
                    help="the entries appended (see above)")
    ap.add_argument("--env-packages", type=int, default=150,
                    help="packages in each environment.recorded (realistic mix)")
    ap.add_argument("--chunk", type=int, default=10_000, help="drafts per writer.append")
    ap.add_argument("--checkpoint-every", type=int, default=1000,
                    help="commit + signed checkpoint every N entries (0: none)")
    ap.add_argument("--verify-runs", type=int, default=3)
    ap.add_argument("--proof-samples", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-cli-rebuild", dest="cli_rebuild", action="store_false",
                    help="skip step 6 (the real `mlaudit rebuild` into a second database)")
    args = ap.parse_args()

    with _pg.database("ledger") as url, tempfile.TemporaryDirectory(prefix="mlaudit-keys-") as kd:
        counts = build(url, args, Path(kd))
        realistic = args.mix == "realistic"
        if realistic:
            print_mix(counts)
            rebuild(url)
        vacuum(url)
        full = (bench_verify(url, "mlaudit verify (chain + projections)", FULL_VERIFY,
                             args.verify_runs, FULL_RATE_TARGET, FULL_RSS_TARGET_MB)
                if realistic else None)
        chain = bench_verify(url, "verify, chain only", CHAIN_VERIFY, args.verify_runs,
                             CHAIN_RATE_TARGET, CHAIN_RSS_TARGET_MB)
        if full is not None:
            print(f"info      full / chain-only (slowest runs): {chain / full:.2f}x the time, "
                  f"{full / chain:.0%} of the rate")
        sys.stdout.flush()
        if args.proof_samples > 0:
            bench_proofs(url, args.proof_samples, args.seed)
        if realistic and args.cli_rebuild:
            cli_rebuild(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
