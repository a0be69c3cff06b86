"""`mlaudit serve` with no DATABASE_URL: a live server on 127.0.0.1 over the embedded database."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str, token: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


class Server:
    def __init__(self, home: Path) -> None:
        self.home, self.port = home, free_port()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("MLAUDIT_") and k != "DATABASE_URL"}
        env["MLAUDIT_HOME"] = str(home)
        # SIGINT as at a terminal: a suite started in the background by a script (`cmd &`
        # without job control) inherits SIGINT ignored, and Python then never raises
        # KeyboardInterrupt, so stop() below would wait in vain.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port)], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self.base = f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 90  # only stops a hung test; nothing is timed
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.process.stdout.read()  # type: ignore[union-attr]
            try:
                if get(f"{self.base}/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError("server did not come up")

    def stop(self) -> str:
        self.process.send_signal(signal.SIGINT)
        output, _ = self.process.communicate(timeout=30)
        return output


def postmaster_pid(home: Path) -> int:
    return int((home / "postgres" / "postmaster.pid").read_text().splitlines()[0])


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    os.chmod(tmp_path, 0o755)
    path = tmp_path / "home"
    yield path
    pid_file = path / "postgres" / "postmaster.pid"
    if pid_file.exists():  # the embedded server outlives the app by design: stop it here
        os.kill(postmaster_pid(path), signal.SIGINT)


@pytest.fixture
def serve(home: Path) -> Iterator[Callable[[], Server]]:
    """serve() starts `mlaudit serve` on home; a server a failed test left running is killed
    (before home's teardown stops the embedded database)."""
    started: list[Server] = []

    def start() -> Server:
        started.append(Server(home))
        return started[-1]

    yield start
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
            server.process.communicate(timeout=30)


def test_serve_starts_embedded_postgres_and_reuses_it(home: Path,
                                                      serve: Callable[[], Server]) -> None:
    first = serve()
    first.wait_ready()
    assert get(f"{first.base}/readyz")[0] == 200
    assert get(f"{first.base}/api/v1/ledger/keys")[0] == 200
    assert get(f"{first.base}/api/v1/ledger/entries")[0] == 401
    token = (home / "admin-token").read_text().strip()
    status, body = get(f"{first.base}/api/v1/ledger/entries?limit=10", token)
    assert status == 200
    # First start: the key, MLflow's Default experiment, the rule adopted, the admin's
    # principal and token.
    assert [(e["seq"], e["kind"], e["actor"]) for e in body["entries"]] == [
        (0, "key.activated", "system"), (1, "experiment.created", "system"),
        (2, "rules.adopted", "system"), (3, "principal.created", "system"),
        (4, "token.created", "system")]
    server_pid = postmaster_pid(home)
    output = first.stop()
    assert "admin token was written to" in output

    second = serve()
    second.wait_ready()
    assert postmaster_pid(home) == server_pid  # the same embedded server, reused
    status, body = get(f"{second.base}/api/v1/ledger/entries?limit=10", token)
    # No second key, Default experiment or admin token.
    assert status == 200 and len(body["entries"]) == 5
    assert "admin token was written" not in second.stop()
