"""Load generation for bench/tracking_vs_mlflow.py: keep-alive stdlib HTTP clients, a timed
multi-client loop, and a CPU split by process tree (benchmark, each server, PostgreSQL, others).
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psutil
import psycopg


class HttpError(RuntimeError):
    pass


class Client:
    """One keep-alive HTTPConnection to 127.0.0.1, reused for every request of one thread."""

    def __init__(self, port: int, headers: Mapping[str, str] | None = None,
                 timeout: float = 120.0) -> None:
        self.port, self.timeout = port, timeout
        self.headers = dict(headers or {})
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.reconnects = 0

    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str | None = "application/json") -> tuple[int, bytes]:
        headers = dict(self.headers)
        if body is not None and content_type:
            headers["Content-Type"] = content_type
        for attempt in (0, 1):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                if response.will_close:
                    self.conn.close()
                return response.status, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # the server closed an idle keep-alive connection: reconnect once
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                       timeout=self.timeout)
                self.reconnects += 1
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def call(self, method: str, path: str, payload: Any = None, *, raw: bytes | None = None,
             content_type: str | None = "application/json", expect: tuple[int, ...] = (200, 201),
             ) -> Any:
        body = raw if raw is not None else (None if payload is None else
                                            json.dumps(payload).encode())
        status, data = self.request(method, path, body, content_type)
        if status not in expect:
            raise HttpError(f"{method} {path} -> {status}: {data[:500]!r}")
        if not data:
            return None
        try:
            return json.loads(data)
        except ValueError:
            return None

    def close(self) -> None:
        self.conn.close()


@dataclass
class PhaseResult:
    ops: int
    seconds: float
    latencies: list[float]
    units: int = 0  # metrics or bytes done inside the window, when ops carry several
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.ops / self.seconds

    @property
    def unit_rate(self) -> float:
        return self.units / self.seconds


def timed_clients(clients: int, duration: float, warmup: float, max_ops: int,
                  make_worker: Callable[[int], Callable[[int], int]]) -> PhaseResult:
    """Run `clients` threads, each calling op(i) (returning units done) in a loop; count what
    finishes inside [start + warmup, start + warmup + duration]. Each thread stops at the end
    of the window or after max_ops // clients operations, whichever comes first."""
    ops = [0] * clients
    units = [0] * clients
    latencies: list[list[float]] = [[] for _ in range(clients)]
    ready = threading.Barrier(clients + 1)
    go = threading.Event()
    window: list[float] = []
    errors: list[BaseException] = []
    per_client = max(1, max_ops // clients)

    def body(index: int) -> None:
        try:
            op = make_worker(index)
            ready.wait()
            go.wait()
            begin, end = window
            lat = latencies[index]
            for i in range(per_client):
                t0 = time.perf_counter()
                if t0 >= end:
                    break
                done = op(i)
                t1 = time.perf_counter()
                if begin <= t0 and t1 <= end:
                    ops[index] += 1
                    units[index] += done
                    lat.append(t1 - t0)
        except BaseException as exc:  # surface worker failures instead of hanging
            errors.append(exc)
            ready.abort()
            go.set()

    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    try:
        ready.wait(timeout=120)  # every client has connected and built its op
    except threading.BrokenBarrierError:
        pass
    now = time.perf_counter()
    window.extend([now + warmup, now + warmup + duration])
    go.set()
    for t in threads:
        t.join(timeout=duration + warmup + 600)
    if errors:
        raise errors[0]
    if any(t.is_alive() for t in threads):
        raise RuntimeError("a client thread did not finish in time")
    measured = min(duration, max(time.perf_counter() - window[0], 1e-9))
    return PhaseResult(sum(ops), measured, [x for lat in latencies for x in lat], sum(units))


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (values in seconds -> same unit)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.999999) - 1))
    return ordered[rank]


def postmaster(url: str) -> psutil.Process | None:
    """The local PostgreSQL server process, or None when it is remote or not visible."""
    try:
        with psycopg.connect(url) as conn:  # ask while the backend still exists
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
            assert row is not None
            parent = psutil.Process(row[0]).parent()
        if parent is not None and "postgres" in parent.name():
            return parent
    except Exception:
        return None
    return None


def _tree_seconds(root: psutil.Process | None) -> float:
    if root is None:
        return 0.0
    try:
        t = root.cpu_times()
        total = t.user + t.system + t.children_user + t.children_system
        for child in root.children(recursive=True):
            try:
                c = child.cpu_times()
                total += c.user + c.system
            except psutil.Error:
                pass
        return total
    except psutil.Error:
        return 0.0


class TreeCpu:
    """CPU seconds during a block, split into named process trees plus 'other processes'.

    'bench' is this process (the HTTP clients); the servers are given as root pids; the rest of
    the machine's busy time (from /proc/stat) is 'other processes', i.e. work that competed with
    the run for the same cores."""

    def __init__(self, trees: Mapping[str, psutil.Process | None]) -> None:
        self.trees = dict(trees)

    @staticmethod
    def _busy() -> float:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:]]
        return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")

    def _sample(self) -> dict[str, float]:
        out = {"wall": time.perf_counter(), "busy": self._busy(),
               "bench": sum(os.times()[:2])}
        for name, proc in self.trees.items():
            out[name] = _tree_seconds(proc)
        return out

    def __enter__(self) -> TreeCpu:
        self._start = self._sample()
        return self

    def __exit__(self, *exc: object) -> None:
        end = self._sample()
        self.used = {k: end[k] - self._start[k] for k in end}
        self.wall = self.used.pop("wall")
        busy = self.used.pop("busy")
        self.used["other processes"] = max(0.0, busy - sum(self.used.values()))

    def summary(self) -> str:
        cores = os.cpu_count() or 1
        parts = ", ".join(f"{name} {sec / self.wall:.0%}" for name, sec in self.used.items())
        return f"cpu: {parts} (of {cores} cores = {cores * 100}%)"

    def share(self, name: str) -> float:
        return self.used.get(name, 0.0) / self.wall
