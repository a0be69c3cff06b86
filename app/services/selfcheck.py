"""Periodic self-verification: `mlaudit verify`'s check, run by each service process, plus a
random sample of stored artifact blobs re-hashed against their entries' digests (each round
reads MLAUDIT_SELF_VERIFY_BLOBS of them; `mlaudit verify --artifacts` reads them all)."""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg_pool import ConnectionPool

from app.artifacts.store import BlobStore
from app.db import DatabaseError
from app.ledger.verify import Damage
from app.services import blob_check, trust
from app.services.verification import verify_held

log = logging.getLogger(__name__)
FIRST_RUN_JITTER = 0.1  # the first run waits up to 10 % longer, so workers spread out


@dataclass(frozen=True)
class SelfCheckResult:
    """One completed verification of the stored ledger and a sample of its blobs; ok when
    both are intact."""

    ok: bool
    entries: int
    checkpoints: int
    finished_at: datetime
    duration: float  # seconds
    damage: Damage | None
    blobs: blob_check.BlobCheck | None = None  # None when no blob was sampled


class SelfVerifier:
    """Verifies the whole ledger every `interval` seconds in a daemon thread (0: never).

    Each run holds one pool connection (and opens one sibling connection for the projection
    check) in a REPEATABLE READ snapshot; requests go on meanwhile. run_once() runs a
    verification now, in the caller's thread; tests and the thread both use it.
    """

    def __init__(self, pool: ConnectionPool, interval: float, trust_path: Path | None = None,
                 origin: str = "", blobs: BlobStore | None = None, sample: int = 0) -> None:
        """trust_path: the trust file each run holds the database to (keys pinned, its kept
        checkpoint extended), when it exists; blobs and sample: how many stored artifacts
        each run re-hashes, picked at random."""
        self._pool, self._interval = pool, interval
        self._blobs, self._sample = blobs, sample
        self._trust_path, self._origin = trust_path, origin
        self._last: SelfCheckResult | None = None
        self._errors = 0
        self._lock = threading.Lock()  # one run at a time; guards _running
        self._running: psycopg.Connection | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def interval(self) -> float:
        return self._interval

    @property
    def last(self) -> SelfCheckResult | None:
        """The latest completed verification, or None before the first."""
        return self._last

    @property
    def errors(self) -> int:
        """Runs that could not finish (database unreachable, query cancelled, ...)."""
        return self._errors

    def run_once(self) -> SelfCheckResult:
        """Verify now and record the result; raises DatabaseError if the run cannot finish."""
        with self._lock:
            started = time.monotonic()
            try:
                held_to = None if self._trust_path is None else trust.load(self._trust_path)
                with self._pool.connection() as conn:
                    self._running = conn
                    try:
                        held = verify_held(conn, self._origin, held_to)
                        picked = blob_check.pick(conn, 0 if self._blobs is None else self._sample)
                    finally:
                        self._running = None
                # the blobs are read with the connection back in the pool
                sampled = (blob_check.check(self._blobs, picked)
                           if self._blobs is not None and picked else None)
            except psycopg.Error as exc:  # the pool's own errors (closed, timed out)
                self._errors += 1
                raise DatabaseError(f"self-verification could not run: {exc}") from exc
            except Exception:
                self._errors += 1
                raise
            result = held.result
            intact = held.damage is None and (sampled is None or sampled.ok)
            found = SelfCheckResult(intact, result.entries, result.checkpoints,
                                    datetime.now(UTC), time.monotonic() - started, held.damage,
                                    sampled)
            self._last = found
        _report(found)
        return found

    def start(self) -> None:
        """Start the thread; the first run comes one interval (plus jitter) after start."""
        if self._interval <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="mlaudit-self-verify",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread, cancelling a verification in progress (its query is cancelled)."""
        self._stop.set()
        running = self._running
        if running is not None:
            try:
                running.cancel_safe(timeout=timeout)
            except Exception:  # the connection may be closing already
                log.debug("cancelling the self-verification failed", exc_info=True)
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        wait = self._interval * (1 + FIRST_RUN_JITTER * random.random())
        while not self._stop.wait(wait):
            wait = self._interval
            try:
                self.run_once()
            except Exception as exc:  # keep the thread alive; the next interval retries
                if self._stop.is_set():
                    return
                log.error("%s", exc, exc_info=not isinstance(exc, DatabaseError))


def _report(result: SelfCheckResult) -> None:
    fields = {"entries": result.entries, "checkpoints": result.checkpoints,
              "duration_ms": round(result.duration * 1000, 1)}
    if result.blobs is not None:
        fields["blobs_checked"] = result.blobs.entries
        broken = result.blobs.damage
        if broken is not None:
            log.error("self-verification found a damaged artifact: %s", broken.detail,
                      extra={**fields, "damage": "artifact", "seq": broken.artifact.seq})
    if result.damage is None:
        if result.ok:
            log.info("self-verification passed", extra=fields)
        return
    damage = result.damage
    log.error("self-verification found damage: %s", damage.detail,
              extra={**fields, "damage": damage.kind, "seq": damage.seq,
                     "checkpoint": damage.checkpoint})
