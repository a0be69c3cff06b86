"""The running service's parts, built once by create_app and handed to adapters."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from psycopg_pool import ConnectionPool

from app.artifacts.store import BlobStore
from app.config import Config
from app.services.checkpoints import Checkpointer
from app.services.ledger import GroupCommitter
from app.services.selfcheck import SelfVerifier

log = logging.getLogger(__name__)
DRAIN_TIMEOUT = 30.0  # seconds the committer may take to finish the writes already queued


@dataclass
class Services:
    config: Config
    pool: ConnectionPool
    committer: GroupCommitter
    checkpointer: Checkpointer
    blobs: BlobStore
    selfcheck: SelfVerifier | None = None
    _closed: bool = field(default=False, init=False, repr=False)
    _closing: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def close(self) -> None:
        """Stop in order: self-verification (cancelled), then writes (queued ones commit,
        new ones are refused), then the checkpointer (signing what was committed), then the
        pool. Safe to call twice (a gunicorn hook and atexit may both call it)."""
        with self._closing:
            if self._closed:
                return
            self._closed = True
        if self.selfcheck is not None:
            self.selfcheck.stop()
        if not self.committer.close(DRAIN_TIMEOUT):
            log.warning("shutdown: writes were still running after %.0f s", DRAIN_TIMEOUT)
        self.checkpointer.stop()
        self.pool.close()
