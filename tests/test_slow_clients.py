"""Slow clients (issue 16): the Dockerfile's gunicorn alone gives every thread to connections
that send a byte a second, and health probes time out; behind deploy/nginx.conf (Debian's
nginx, started here on a free loopback port) probes and writes go on as usual.

The attack and the servers are bench/slow_clients.py's, which prints the figures recorded in
docs/reliability.md ("Slow clients"). Everything stays on 127.0.0.1 and the attack's sockets are
bounded (bench/slow_clients.MAX_CONNECTIONS).
"""

from __future__ import annotations

import importlib.util
import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.config import Config

REPO = Path(__file__).resolve().parents[1]


def _load_bench() -> Any:
    """bench/slow_clients.py by its path (bench/ on sys.path would shadow `reports`)."""
    spec = importlib.util.spec_from_file_location("slow_clients", REPO / "bench" /
                                                  "slow_clients.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


slow = _load_bench()


@pytest.fixture
def gunicorn(config: Config, admin_token: str, tmp_path: Path) -> Iterator[int]:
    """The Dockerfile's gunicorn command (2 workers x 8 threads, app/gunicorn_conf.py) on the
    test database, on a free loopback port; its port."""
    # Here the 200 attack sockets, in nginx two per connection being proxied: 500 will do, and
    # nginx's worker_connections (1024) are all usable from 2048.
    slow.raise_fd_limit(2048, 500)
    env = slow.server_env(config.database_url or "", config.home, tmp_path / "metrics")
    env.update({"MLAUDIT_CHECKPOINT_INTERVAL": "3600", "MLAUDIT_CHECKPOINT_EVERY": "1000000"})
    with slow.gunicorn(env, tmp_path / "gunicorn.log") as port:
        yield port


@pytest.fixture
def nginx(gunicorn: int, tmp_path: Path) -> Iterator[int]:
    """deploy/nginx.conf as written, in front of that gunicorn; nginx's port."""
    directory = tmp_path / "nginx"
    directory.mkdir()
    with slow.nginx(directory, gunicorn) as port:
        yield port


@pytest.fixture
def run(gunicorn: int, admin_token: str) -> str:
    return slow.new_run(gunicorn, admin_token)


@pytest.mark.parametrize("front", ["gunicorn", "nginx"])
def test_a_hundred_slow_connections(front: str, request: pytest.FixtureRequest,
                                    admin_token: str, run: str) -> None:
    """The issue's attack, bounded: 100 connections at 1 byte/s (slow headers and slow upload
    bodies) for 8 s, enough to hold both workers' 8 threads however the kernel shares the
    connections between them. Bare gunicorn: every probe times out, and answers again once the
    connections close. Behind nginx: every probe answers within the second."""
    port = request.getfixturevalue(front)
    outcome = slow.attack(port, admin_token, run, connections=100, seconds=8, writes=False)
    probes = outcome.probes
    assert len(probes.values) >= 6, probes.values
    if front == "gunicorn":
        assert probes.failed == len(probes.values), probes.values
        deadline = time.monotonic() + 30  # the connections closed: the threads are free
        while slow.probe(port, "/healthz") is None:
            assert time.monotonic() < deadline
    else:
        assert probes.failed == 0, probes.values


@pytest.mark.slow
def test_nginx_holds_two_hundred_slow_clients_for_a_minute(
        nginx: int, admin_token: str, run: str) -> None:
    """The production setup holds 200 connections at 1 byte/s, slow headers and slow bodies
    mixed, for 60 s: /healthz and /readyz, probed every second, answer 200 in under 1 s, and
    metric writes (every 2 s, with a token) all succeed at their usual latency."""
    outcome = slow.attack(nginx, admin_token, run, connections=200, seconds=60)
    slow.report("nginx in front", 200, 1.0, outcome)
    assert outcome.seconds >= 59
    assert outcome.bytes_sent >= 200 * 55  # the attack ran at full strength throughout
    # nginx cut the slow headers at client_header_timeout (10 s); they came back at once
    assert outcome.closed_by_server["eof"] >= 100 and outcome.opened >= 300
    probes, writes, baseline = outcome.probes, outcome.writes, outcome.baseline
    assert len(probes.values) >= 110 and probes.failed == 0, probes.describe()
    assert probes.quantile(1.0) < 1.0, probes.describe()
    assert baseline.failed == 0 and len(writes.values) >= 25 and writes.failed == 0
    assert writes.quantile(1.0) < 1.0, writes.describe()
    assert writes.quantile(0.5) < baseline.quantile(0.5) + 0.1, (writes.describe(),
                                                                 baseline.describe())


def test_nginx_configuration_is_valid(tmp_path: Path) -> None:
    main, _ = slow.nginx_configure(tmp_path, slow.free_port())
    checked = subprocess.run([slow.nginx_binary(), "-t", "-p", str(tmp_path), "-c", str(main),
                              "-e", str(tmp_path / "error.log")],
                             capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr


def test_nginx_passes_request_ids_and_logs_no_query(nginx: int, tmp_path: Path) -> None:
    """The app keeps a valid incoming X-Request-ID; without one, nginx's id reaches the app, so
    nginx's access log (with the client's address) and the app's log share it."""
    kept = _raw(nginx, "GET /healthz?token=secret HTTP/1.1\r\nHost: x\r\n"
                       "X-Request-ID: trace-1\r\nConnection: close\r\n\r\n")
    made = _raw(nginx, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert kept.headers["x-request-id"] == "trace-1"
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    log = (tmp_path / "nginx" / "access.log").read_text()
    assert "request_id=trace-1" in log and f"request_id={made.headers['x-request-id']}" in log
    assert "secret" not in log


def test_nginx_refusals_are_problem_json(nginx: int, admin_token: str, run: str,
                                         tmp_path: Path) -> None:
    """Over client_max_body_size (1 GiB, = MLAUDIT_MAX_UPLOAD_BYTES), a request line over
    8 KiB, and gunicorn gone: application/problem+json, like the service's own refusals."""
    too_large = _raw(nginx, f"PUT /api/v1/runs/{run}/artifacts/big.bin HTTP/1.1\r\nHost: x\r\n"
                            f"Authorization: Bearer {admin_token}\r\n"
                            f"Content-Length: {2**30 + 1}\r\nConnection: close\r\n\r\n")
    assert (too_large.status, too_large.json["status"]) == (413, 413)
    too_long = _raw(nginx, f"GET /api/v1/runs?q={'a' * 9000} HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (too_long.status, too_long.json["status"]) == (414, 414)
    directory = tmp_path / "nowhere"
    directory.mkdir()
    with slow.nginx(directory, slow.free_port()) as port:  # nothing listens upstream
        gone = _raw(port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert (gone.status, gone.json["status"]) == (502, 502)
    for answer in (too_large, too_long, gone):
        assert answer.headers["content-type"] == "application/problem+json"


class _Answer:
    def __init__(self, data: bytes) -> None:
        head, _, self.body = data.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.lower(): v.strip() for k, _, v in
                        (line.partition(":") for line in lines[1:])}

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def _raw(port: int, request: str, half_close: bool = False) -> _Answer:
    """One request sent as written (then, with half_close, nothing more: the client hangs up
    its side); the answer, read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request.encode())
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    if not data:
        raise ConnectionError("closed without an answer")
    return _Answer(data)


def test_nginx_forwards_no_truncated_upload(nginx: int, gunicorn: int, admin_token: str,
                                            run: str) -> None:
    """A client that declares 1000 bytes, sends 10 and hangs up: nginx closes without passing
    anything on, so no artifact is recorded (bare gunicorn hands the app the 10 bytes as the
    whole body, and the app records them as the artifact)."""
    with pytest.raises(ConnectionError, match="without an answer"):
        _raw(nginx, f"PUT /api/v1/runs/{run}/artifacts/cut/model.bin HTTP/1.1\r\n"
                    f"Host: x\r\nAuthorization: Bearer {admin_token}\r\n"
                    "Content-Length: 1000\r\n\r\n0123456789", half_close=True)
    status, listing = slow.call(gunicorn, "GET", f"/api/v1/runs/{run}/artifacts", admin_token)
    assert status == 200 and listing["artifacts"] == []


@pytest.mark.parametrize("route", ["v1", "mlflow"])
def test_the_app_refuses_a_truncated_upload(gunicorn: int, admin_token: str, run: str,
                                            route: str) -> None:
    """Bare gunicorn hands the app the 10 bytes that arrived as if they were the whole body;
    the app holds the body to its Content-Length: 400 in the route's format, nothing stored
    or recorded (before, a 10-byte artifact was recorded with 201)."""
    status, found = slow.call(gunicorn, "GET", f"/api/v1/runs/{run}", admin_token)
    assert status == 200
    experiment = found["experiment_id"]  # type: ignore[index]
    target = (f"/api/v1/runs/{run}/artifacts/cut/model.bin" if route == "v1" else
              f"/api/2.0/mlflow-artifacts/artifacts/{experiment}/{run}/artifacts/cut/model.bin")
    answer = _raw(gunicorn, f"PUT {target} HTTP/1.1\r\nHost: x\r\n"
                            f"Authorization: Bearer {admin_token}\r\n"
                            "Content-Length: 1000\r\n\r\n0123456789", half_close=True)
    assert answer.status == 400, (answer.status, answer.body)
    said = answer.json.get("detail") or answer.json.get("message")
    assert "ended after 10 of the 1000 bytes" in said, answer.json
    if route == "mlflow":
        assert answer.json["error_code"] == "INVALID_PARAMETER_VALUE", answer.json
    status, listing = slow.call(gunicorn, "GET", f"/api/v1/runs/{run}/artifacts", admin_token)
    assert status == 200 and listing["artifacts"] == []  # type: ignore[index]
