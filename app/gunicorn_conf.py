"""gunicorn settings and hooks: `gunicorn -c python:app.gunicorn_conf 'app:create_app()'`.

On SIGTERM gunicorn's master closes the listening sockets and each worker stops accepting,
finishes its in-flight requests (up to graceful_timeout), and exits; worker_exit then closes
that worker's services: queued writes commit, the checkpointer signs what was committed, the
self-verification is cancelled, and the pool closes. With PROMETHEUS_MULTIPROC_DIR set the
master empties that directory at start and tells prometheus-client when a worker dies.
Command-line flags (--workers, --threads, --bind, ...) override what is set here.
In production gunicorn sits behind nginx (deploy/nginx.conf, deploy/compose.yaml): its
threads read requests themselves, so clients that send a byte a second would hold them all.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

graceful_timeout = 30  # seconds a worker has to finish in-flight requests after SIGTERM
accesslog = None  # the app writes one structured line per request itself
# The largest request line gunicorn allows short of "unlimited" (its default is 4094 bytes):
# a GET /api/v1/runs filter travels in the query string. Longer lines are refused with 400.
limit_request_line = 8190
# gunicorn 27's control socket (under $HOME, i.e. the data volume in the image) is not used.
# Older gunicorn releases ignore names they do not know.
control_socket_disable = True

log = logging.getLogger("mlaudit.gunicorn")


def _multiproc_dir() -> Path | None:
    found = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
    return Path(found) if found else None


def on_starting(server: Any) -> None:
    """Master, before any worker: start the shared metrics directory empty (stale files
    from an earlier run would be summed into this one's counters)."""
    directory = _multiproc_dir()
    if directory is None:
        return
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


def child_exit(server: Any, worker: Any) -> None:
    """Master, after a worker exited: its live gauges no longer count."""
    if _multiproc_dir() is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def worker_exit(server: Any, worker: Any) -> None:
    """Worker, after its last request: drain writes, sign, close the pool."""
    app = getattr(worker, "wsgi", None)
    services = getattr(app, "extensions", {}).get("mlaudit")
    if services is None:  # the app never loaded (e.g. the database was unreachable)
        return
    services.close()
    server.log.info("mlaudit: worker %s closed its services", worker.pid)
