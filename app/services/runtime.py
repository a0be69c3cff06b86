"""The running service's parts, built once by create_app and handed to adapters."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg_pool import ConnectionPool

from app.artifacts.store import BlobStore
from app.config import Config
from app.services.checkpoints import Checkpointer
from app.services.ledger import GroupCommitter


@dataclass
class Services:
    config: Config
    pool: ConnectionPool
    committer: GroupCommitter
    checkpointer: Checkpointer
    blobs: BlobStore

    def close(self) -> None:
        self.checkpointer.stop()
        self.pool.close()
