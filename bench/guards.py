"""What the database's guards cost a write: the same units with and without them.

The guards (schema.sql, `*_guard` constraint triggers, checked at commit) refuse a row that
confers authority unless the ledger entry it names says the same. This script appends the
same realistic entries (bench/_mix.py, the entries the service writes) to two fresh databases
on one server, one entry per transaction with its projection rows (LedgerWriter.append, as a
service unit), interleaved entry by entry and alternating which database goes first. In one
database every guard is on; in the other they are disabled (ALTER TABLE ... DISABLE TRIGGER,
as the owner: the service's role cannot). Each unit is timed from BEGIN to the end of COMMIT.
It prints, for every kind whose rows a guard checks, the median time per unit with and without
the guards and the difference; and the same for all other kinds together, which no guard
touches (the noise floor). A checkpoint is signed every 1,000 entries in both, untimed.

Run from the repository root:  .venv/bin/python bench/guards.py  [--entries 30000] [--help]
Uses DATABASE_URL's server when set (fresh databases in it), else an embedded server.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _mix  # noqa: E402
import _pg  # noqa: E402
import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

from app.kinds import KINDS  # noqa: E402
from app.ledger.entry import Draft  # noqa: E402
from app.services import keys  # noqa: E402
from app.services.checkpoints import make_checkpoint  # noqa: E402
from app.services.ledger import ledger_transaction  # noqa: E402
from app.storage.artifacts import keep_envelope  # noqa: E402

ORIGIN = "bench.mlaudit.local/guards"
GUARDS = ("SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
          "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' "
          "AND t.tgname LIKE '%\\_guard' ORDER BY 1")


def guards(conn: psycopg.Connection) -> list[tuple[str, str]]:
    return [(table, trigger) for table, trigger in conn.execute(GUARDS).fetchall()]


def disable(conn: psycopg.Connection, found: list[tuple[str, str]]) -> None:
    with conn.transaction():
        for table, trigger in found:
            conn.execute(sql.SQL("ALTER TABLE {} DISABLE TRIGGER {}").format(
                sql.Identifier(table), sql.Identifier(trigger)))


def unit(conn: psycopg.Connection, draft: Draft,
         envelopes: list[tuple[str, dict[str, object]]]) -> float:
    """One service unit: the envelopes it names, the entry and its rows, commit; seconds."""
    started = time.perf_counter()
    with ledger_transaction(conn) as writer:
        for digest, envelope in envelopes:
            keep_envelope(conn, digest, envelope)
        writer.append([draft])
    return time.perf_counter() - started


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entries", type=int, default=30_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    with (_pg.database("guards_on") as on_url, _pg.database("guards_off") as off_url,
          tempfile.TemporaryDirectory() as keys_dir,
          psycopg.connect(on_url, autocommit=True) as on,
          psycopg.connect(off_url, autocommit=True) as off):
        found = guards(on)
        disable(off, found)
        still = off.execute("SELECT count(*) FROM pg_trigger WHERE tgname LIKE '%\\_guard' "
                            "AND tgenabled <> 'D'").fetchone()
        assert still is not None and still[0] == 0, "a guard is still enabled"
        guarded_tables = {table for table, _ in found}
        guarded_kinds = {k.name for k in KINDS.values() if guarded_tables.intersection(k.tables)}
        print(f"# {len(found)} guards, on the tables: {', '.join(sorted(guarded_tables))}")
        signers = [keys.load_signer(c, ORIGIN, Path(keys_dir) / name)
                   for c, name in ((on, "on"), (off, "off"))]
        mix = _mix.Mix(signers[0], 1, args.seed, 20)
        timed: dict[str, dict[str, list[float]]] = defaultdict(lambda: {"on": [], "off": []})
        done = 0
        meter = _pg.CpuMeter(on_url)
        with meter:
            while done < args.entries:
                drafts = mix.drafts(min(1000, args.entries - done))
                by_digest = dict(mix.take_envelopes())
                for draft in drafts:
                    named = draft.body.get("envelope_sha256")
                    envelopes = [(named, by_digest[named])] if named in by_digest else []
                    order = (("on", on), ("off", off)) if done % 2 else (("off", off), ("on", on))
                    for label, conn in order:
                        timed[draft.kind][label].append(unit(conn, draft, envelopes))
                    done += 1
                for conn, signer in zip((on, off), signers, strict=True):
                    with conn.transaction():
                        make_checkpoint(conn, signer, ORIGIN)
        print(f"# {done:,} entries, one per transaction, in each database; {meter.summary()}")
        print(f"# {'kind':<28} {'units':>7} {'guards on':>12} {'guards off':>12} {'cost':>10}"
              "  (median ms per unit, BEGIN to the end of COMMIT)")
        rest: dict[str, list[float]] = {"on": [], "off": []}
        for kind in sorted(timed):
            if kind not in guarded_kinds:
                rest["on"] += timed[kind]["on"]
                rest["off"] += timed[kind]["off"]
                continue
            report(kind, timed[kind])
        report("every other kind (no guard)", rest)
    return 0


def report(label: str, times: dict[str, list[float]]) -> None:
    with_guards, without = (statistics.median(times[s]) * 1000 for s in ("on", "off"))
    print(f"info      {label:<28} {len(times['on']):>7,} {with_guards:>9.3f} ms "
          f"{without:>9.3f} ms {with_guards - without:>+8.3f} ms")


if __name__ == "__main__":
    sys.exit(main())
