"""GET /metrics: Prometheus metrics for requests, the ledger, checkpoints and self-verification.

Request counts and latencies are kept per process. Under gunicorn with several workers set
PROMETHEUS_MULTIPROC_DIR (the image does): every worker then writes them to files there and
a scrape, whichever worker answers it, sums all workers. Without it each worker reports only
its own requests. Ledger size and checkpoint age are read from the database at scrape time;
the self-verification figures are those of the worker that answers the scrape (each worker
verifies on its own schedule).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from app.api.http.auth import require
from app.api.http.docs import operation
from app.services.runtime import Services
from app.storage import ledger as store

bp = Blueprint("metrics", __name__)
EXTENSION = "mlaudit.metrics"
UNMATCHED = "unmatched"  # the route label of requests that matched no route (404, 405)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
SCRAPE_DB_TIMEOUT = 5.0  # seconds to wait for a pooled connection at scrape time
_LABELS = ("method", "route", "status")


class HttpMetrics:
    """Requests by method, route (the URL rule, never the raw path) and status class."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter("mlaudit_http_requests", "HTTP requests answered", _LABELS,
                                registry=registry)
        self.latency = Histogram("mlaudit_http_request_duration_seconds",
                                 "Time to produce the response (streamed bodies excluded)",
                                 _LABELS, buckets=BUCKETS, registry=registry)
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method if method in METHODS else "other", route, f"{status // 100}xx")
        children = self._children.get(key)
        if children is None:  # labels() takes a lock: look each series up once
            children = self._children[key] = (self.requests.labels(*key),
                                              self.latency.labels(*key))
        children[0].inc()
        children[1].observe(seconds)


class LedgerCollector(Collector):
    """Gauges read at scrape time: the database, and this process's self-verification."""

    def __init__(self, services: Services) -> None:
        self._services = services

    def collect(self) -> Iterator[Metric]:
        yield from self._ledger()
        yield from self._self_verification()

    def _ledger(self) -> Iterator[Metric]:
        try:
            with self._services.pool.connection(timeout=SCRAPE_DB_TIMEOUT) as conn:
                stats = store.ledger_stats(conn)
        except Exception:  # a scrape must answer; database_up says what happened
            stats = None
        yield _gauge("mlaudit_database_up", "1 if the ledger's head was readable at scrape time",
                     0 if stats is None else 1)
        if stats is None:
            return
        yield _gauge("mlaudit_ledger_entries", "Entries in the ledger (the head's tree size)",
                     stats.size)
        if stats.checkpoint_size is None or stats.checkpoint_signed_at is None:
            return
        yield _gauge("mlaudit_checkpoint_tree_size", "Tree size of the latest checkpoint",
                     stats.checkpoint_size)
        age = (datetime.now(UTC) - stats.checkpoint_signed_at).total_seconds()
        yield _gauge("mlaudit_checkpoint_age_seconds",
                     "Seconds since the latest checkpoint was signed", max(age, 0.0))

    def _self_verification(self) -> Iterator[Metric]:
        check = self._services.selfcheck
        if check is None:
            return
        yield _gauge("mlaudit_self_verify_interval_seconds",
                     "MLAUDIT_SELF_VERIFY_INTERVAL (0: self-verification is off)", check.interval)
        errors = CounterMetricFamily("mlaudit_self_verify_errors",
                                     "Self-verification runs that could not finish")
        errors.add_metric([], check.errors)
        yield errors
        last = check.last
        if last is None:  # not run yet: no result to report
            return
        yield _gauge("mlaudit_self_verify_ok",
                     "1 if the last self-verification found the ledger intact, 0 if damaged",
                     1 if last.ok else 0)
        yield _gauge("mlaudit_self_verify_last_run_timestamp_seconds",
                     "When the last self-verification finished (Unix time)",
                     last.finished_at.timestamp())
        yield _gauge("mlaudit_self_verify_entries", "Entries the last self-verification read",
                     last.entries)
        yield _gauge("mlaudit_self_verify_duration_seconds",
                     "How long the last self-verification took", last.duration)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


class Metrics:
    """The app's registry, its request metrics, and how a scrape is assembled."""

    def __init__(self, services: Services, multiproc_dir: Path | None) -> None:
        self.registry = CollectorRegistry()
        self._multiproc_dir = multiproc_dir
        if multiproc_dir is not None:
            multiproc_dir.mkdir(parents=True, exist_ok=True)
        else:
            ProcessCollector(registry=self.registry)
        self.http = HttpMetrics(self.registry)
        self._ledger = LedgerCollector(services)
        self.registry.register(self._ledger)

    def scrape_registry(self) -> CollectorRegistry:
        if self._multiproc_dir is None:
            return self.registry
        registry = CollectorRegistry()  # every worker's files, plus this worker's gauges
        MultiProcessCollector(registry, path=str(self._multiproc_dir))  # type: ignore[no-untyped-call]
        registry.register(self._ledger)
        return registry


def install(app: Flask, services: Services) -> Metrics:
    metrics = Metrics(services, services.config.metrics_multiproc_dir)
    app.extensions[EXTENSION] = metrics
    app.register_blueprint(bp)
    return metrics


@bp.get("/metrics")
@operation(
    "Prometheus metrics: requests by route, ledger size, checkpoint age, "
    "self-verification", {200: {"description": "the Prometheus text format (OpenMetrics "
                                               "when the Accept header asks for it)",
                                "content": {"text/plain": {"schema": {"type": "string"}},
                                            "application/openmetrics-text": {
                                                "schema": {"type": "string"}}}}},
    description="Use a bearer token in Prometheus' scrape config (authorization).")
@require("admin", "auditor")
def scrape() -> Response:
    """Prometheus text format (OpenMetrics when the scraper asks for it)."""
    metrics: Metrics = current_app.extensions[EXTENSION]
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(encode(metrics.scrape_registry()), content_type=content_type)
