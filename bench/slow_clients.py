"""Slow clients (issue 16): the Dockerfile's gunicorn, bare and behind deploy/nginx.conf, while
many loopback connections send a byte a second; health probes and real writes meanwhile.

Run from the repository root:  .venv/bin/python bench/slow_clients.py  [--help]

The attack: --connections sockets, half stopping inside their headers (a GET whose header never
ends) and half sending complete headers of a 1 MB artifact upload and then its body; each
socket sends one byte every 1/--rate seconds, and a socket the server closes is opened again, so
that --connections stay open for --seconds. Meanwhile /healthz and /readyz are probed every
second on fresh connections (1 s timeout), and a metric is written with a token every 2 s on a
fresh connection (10 s timeout); before the attack, 10 such writes back to back. The default
--fronts: behind nginx without an attack (the same probes and writes, for comparison), then
bare gunicorn attacked, then behind nginx attacked; one gunicorn serves all three.
PostgreSQL: the embedded server (or DATABASE_URL's), as in the other benchmarks. nginx: Debian's
(apt-get install nginx), started here on a free loopback port with a configuration written to a
temporary directory around deploy/nginx.conf. tests/test_slow_clients.py uses the same pieces.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import resource
import selectors
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE, NGINX_SITE = REPO / "Dockerfile", REPO / "deploy" / "nginx.conf"
MAX_CONNECTIONS = 1000  # the attack's sockets stay bounded whatever is asked
T0 = 1_700_000_000_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raise_fd_limit(wanted: int, required: int) -> int:
    """Raise this process's soft limit on open files (children inherit it) towards `wanted`,
    up to the hard limit; fail below `required`. The limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        soft = wanted if hard == resource.RLIM_INFINITY else min(hard, wanted)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    if soft != resource.RLIM_INFINITY and soft < required:
        raise RuntimeError(f"open files limit {soft} < {required}: ulimit -n {wanted}")
    return wanted if soft == resource.RLIM_INFINITY else soft


# --- the servers ---------------------------------------------------------------------------

def production_gunicorn_argv(port: int) -> list[str]:
    """The Dockerfile's gunicorn command with its defaults (${VAR:-default}), bound to
    127.0.0.1:port and run by this Python."""
    line = next(x for x in DOCKERFILE.read_text().splitlines() if x.startswith("CMD "))
    shell = json.loads(line[len("CMD "):])[-1]
    command = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", shell.split("exec ", 1)[1])
    argv = shlex.split(command)
    assert argv[0] == "gunicorn" and "--bind" in argv, argv
    argv[argv.index("--bind") + 1] = f"127.0.0.1:{port}"
    return [sys.executable, "-m", "gunicorn", *argv[1:]]


@contextmanager
def gunicorn(env: dict[str, str], log: Path) -> Iterator[int]:
    """The production gunicorn on a free loopback port, ready; stopped afterwards."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(production_gunicorn_argv(port), cwd=REPO, env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: get(port, "/readyz", 2.0)[0] == 200, process, log, 120.0)
        yield port
    finally:
        stop(process, signal.SIGTERM, 45.0)


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None)
    if found is None:
        raise RuntimeError("nginx is not installed: apt-get install -y nginx (.ci/run does)")
    return found


def nginx_site(listen: int, upstream: int, access_log: Path) -> str:
    """deploy/nginx.conf as written, with its listen port, upstream and access log moved."""
    text = NGINX_SITE.read_text()
    for old, new in (("listen 80;", f"listen 127.0.0.1:{listen};"),
                     ("server mlaudit:8000;", f"server 127.0.0.1:{upstream};"),
                     ("access_log /var/log/nginx/access.log ", f"access_log {access_log} ")):
        assert text.count(old) == 1, f"deploy/nginx.conf must hold {old!r} once"
        text = text.replace(old, new)
    return text


def nginx_main(directory: Path, site: Path) -> str:
    """The main configuration around the site: nginx's files in `directory`, in the
    foreground, worker_connections as in the nginx image."""
    user = "user root;\n" if os.geteuid() == 0 else ""  # temp files under a private directory
    temp = "\n".join(f"    {name}_temp_path {directory / name};"
                     for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (f"daemon off;\n{user}worker_processes auto;\npid {directory / 'nginx.pid'};\n"
            f"error_log {directory / 'error.log'} warn;\n"
            "events { worker_connections 1024; }\n"
            f"http {{\n{temp}\n    default_type application/octet-stream;\n"
            f"    include {site};\n}}\n")


def nginx_configure(directory: Path, upstream: int) -> tuple[Path, int]:
    """Write the configuration into `directory`: (main file, listen port)."""
    listen = free_port()
    site, main = directory / "mlaudit.conf", directory / "nginx.conf"
    site.write_text(nginx_site(listen, upstream, directory / "access.log"))
    main.write_text(nginx_main(directory, site))
    return main, listen


@contextmanager
def nginx(directory: Path, upstream: int) -> Iterator[int]:
    """nginx (not a daemon) in front of 127.0.0.1:upstream on a free loopback port; stopped
    afterwards. The port."""
    main, listen = nginx_configure(directory, upstream)
    log = directory / "nginx.out"
    with log.open("wb") as out:
        process = subprocess.Popen([nginx_binary(), "-p", str(directory), "-c", str(main),
                                    "-e", str(directory / "error.log")],
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: socket.create_connection(("127.0.0.1", listen), 2).close() is None,
                   process, directory / "error.log", 30.0)
        yield listen
    finally:
        stop(process, signal.SIGQUIT, 15.0)


def wait_until(ready: object, process: subprocess.Popen[bytes], log: Path,
               limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode}: {read_tail(log)}")
        with suppress(OSError):
            if ready():  # type: ignore[operator]
                return
        time.sleep(0.2)
    raise RuntimeError(f"not ready after {limit:.0f} s: {read_tail(log)}")


def read_tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:] if path.exists() else "(no log)"


def stop(process: subprocess.Popen[bytes], sig: int, grace: float) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(30)


# --- clients -------------------------------------------------------------------------------

def get(port: int, path: str, timeout: float) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def call(port: int, method: str, path: str, token: str, body: object | None = None,
         timeout: float = 10.0) -> tuple[int, object]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    try:
        conn.request(method, path, None if body is None else json.dumps(body), headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data.startswith(b"{") else data
    finally:
        conn.close()


def new_run(port: int, token: str) -> str:
    """A fresh experiment and run to write into; the run's id."""
    status, made = call(port, "POST", "/api/v1/experiments", token,
                        {"name": f"slow-{time.time_ns()}"})
    assert status == 201, (status, made)
    status, run = call(port, "POST", "/api/v1/runs", token,
                       {"experiment_id": made["id"]})  # type: ignore[index]
    assert status == 201, (status, run)
    return str(run["id"])  # type: ignore[index]


def write(port: int, token: str, run: str, step: int, timeout: float = 10.0) -> float | None:
    """One metric written; its latency in seconds, or None when it failed or timed out."""
    began = time.perf_counter()
    try:
        status, _ = call(port, "POST", f"/api/v1/runs/{run}/metrics", token, {"metrics": [
            {"key": "loss", "value": str(step / 1000), "step": step, "timestamp": T0 + step}]},
            timeout)
    except OSError:
        return None
    return time.perf_counter() - began if status in (200, 201) else None


def probe(port: int, path: str, timeout: float = 1.0) -> float | None:
    """A health probe on a fresh connection: its latency in seconds, None when it did not
    answer 200 within `timeout`."""
    began = time.perf_counter()
    try:
        status, _ = get(port, path, timeout)
    except OSError:  # socket.timeout included
        return None
    return time.perf_counter() - began if status == 200 else None


# --- the attack ----------------------------------------------------------------------------

class SlowClients:
    """`n` loopback connections each sending one byte every 1/rate seconds: even ones stop
    inside their headers, odd ones (when `upload` is given: (run id, token)) send the headers
    of a 1 MB artifact upload at once and then drip its body. A connection the server closes
    or answers is opened again, so that n stay open until stop()."""

    def __init__(self, port: int, n: int, upload: tuple[str, str] | None = None,
                 rate: float = 1.0) -> None:
        assert 0 <= n <= MAX_CONNECTIONS and rate > 0
        self.port, self.n, self.upload, self.rate = port, n, upload, rate
        self.selector = selectors.DefaultSelector()
        # slot -> (socket, what it sends, how much of that it has sent)
        self.sockets: dict[int, tuple[socket.socket, bytes, int]] = {}
        self.opened = 0
        self.closed_by_server = Counter[str]()  # "eof" / "reset" / the status line answered
        self.bytes_sent = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slow-clients", daemon=True)

    def _prefix(self, slot: int) -> tuple[bytes, int]:
        """What a slot sends, and how much of it goes at once (the rest one byte at a time)."""
        if self.upload is None or slot % 2 == 0:
            return (b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 4000), 0
        run, token = self.upload
        head = (f"PUT /api/v1/runs/{run}/artifacts/slow/{slot}-{self.opened}.bin HTTP/1.1\r\n"
                f"Host: localhost\r\nAuthorization: Bearer {token}\r\n"
                "Content-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n")
        return head.encode() + b"x" * 4000, len(head)

    def _open(self, slot: int) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        sock.setblocking(False)
        prefix, burst = self._prefix(slot)
        if burst:
            sock.setblocking(True)
            sock.sendall(prefix[:burst])
            sock.setblocking(False)
        self.opened += 1
        self.sockets[slot] = (sock, prefix, burst)
        self.selector.register(sock, selectors.EVENT_READ, slot)

    def _close(self, slot: int) -> None:
        sock = self.sockets.pop(slot)[0]
        self.selector.unregister(sock)
        sock.close()

    def _reopen(self, slot: int, why: str) -> None:
        self.closed_by_server[why] += 1
        self._close(slot)
        if not self._done.is_set():
            self._open(slot)

    def start(self, ramp: float = 1.0) -> SlowClients:
        """Open the connections over `ramp` seconds (as they come, each gunicorn worker
        accepts its share), then drip."""
        for slot in range(self.n):
            self._open(slot)
            time.sleep(ramp / self.n)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._done.wait(1.0 / self.rate):
            for key, _ in self.selector.select(timeout=0):
                slot = key.data
                try:
                    answer = self.sockets[slot][0].recv(200)
                except OSError:
                    answer = b""
                self._reopen(slot, answer.split(b"\r\n", 1)[0].decode(errors="replace")
                             if answer else "eof")
            for slot in list(self.sockets):
                sock, prefix, sent = self.sockets[slot]
                try:
                    sock.send(prefix[sent:sent + 1] or b"x")
                except OSError:
                    self._reopen(slot, "reset")
                    continue
                self.bytes_sent += 1
                self.sockets[slot] = (sock, prefix, min(sent + 1, len(prefix)))

    def stop(self) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join(10)
        for slot in list(self.sockets):
            self._close(slot)
        self.selector.close()


@dataclass
class Series:
    """Latencies in seconds of one kind of request; None = no 200/201 within its timeout."""

    values: list[float | None] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(v is None for v in self.values)

    def quantile(self, q: float) -> float:
        """Nearest rank, a failure counting as infinitely slow."""
        ordered = sorted(float("inf") if v is None else v for v in self.values)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.999999) - 1))]

    def describe(self) -> str:
        def ms(x: float) -> str:
            return "failed" if x == float("inf") else f"{x * 1e3:.1f} ms"
        return (f"{len(self.values) - self.failed}/{len(self.values)} ok, p50 "
                f"{ms(self.quantile(.5))}, p99 {ms(self.quantile(.99))}, max "
                f"{ms(self.quantile(1.0))}")


@dataclass
class Outcome:
    probes: Series = field(default_factory=Series)
    writes: Series = field(default_factory=Series)
    baseline: Series = field(default_factory=Series)
    opened: int = 0
    closed_by_server: Counter[str] = field(default_factory=Counter)
    bytes_sent: int = 0
    seconds: float = 0.0


def repeat(every: float, until: threading.Event, action: object) -> threading.Thread:
    """A thread calling action() every `every` seconds (or back to back when slower)."""
    def body() -> None:
        next_at = time.monotonic()
        while not until.is_set():
            action()  # type: ignore[operator]
            next_at += every
            until.wait(max(0.0, next_at - time.monotonic()))
    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread


def attack(port: int, token: str, run: str, *, connections: int, seconds: float,
           rate: float = 1.0, slow_bodies: bool = True, writes: bool = True,
           probe_timeout: float = 1.0, write_timeout: float = 10.0) -> Outcome:
    """The attack on 127.0.0.1:port for `seconds`, probes every second and (with `writes`)
    a metric every 2 s; 10 writes first, as the baseline."""
    outcome, step = Outcome(), [0]

    def one_write() -> None:
        step[0] += 1
        outcome.writes.values.append(write(port, token, run, step[0], write_timeout))

    def probes() -> None:
        for path in ("/healthz", "/readyz"):
            outcome.probes.values.append(probe(port, path, probe_timeout))

    if writes:
        for _ in range(10):
            step[0] += 1
            outcome.baseline.values.append(write(port, token, run, step[0], write_timeout))
    clients = SlowClients(port, connections, (run, token) if slow_bodies else None, rate)
    if connections:  # 0: the same probes and writes without an attack, for comparison
        clients.start()
    try:
        time.sleep(min(2.0, seconds))  # every connection has sent its first bytes
        done, began = threading.Event(), time.monotonic()
        threads = [repeat(1.0, done, probes)] + ([repeat(2.0, done, one_write)] if writes else [])
        done.wait(seconds)
        done.set()
        for thread in threads:
            thread.join(write_timeout + 5)
        outcome.seconds = time.monotonic() - began
    finally:
        clients.stop()
    outcome.opened, outcome.bytes_sent = clients.opened, clients.bytes_sent
    outcome.closed_by_server = clients.closed_by_server
    return outcome


def report(label: str, connections: int, rate: float, outcome: Outcome) -> None:
    print(f"{label}: {connections} slow connections at {rate:g} byte/s each for "
          f"{outcome.seconds:.0f} s ({outcome.bytes_sent} bytes sent, {outcome.opened} "
          f"connections opened; closed by the server: "
          f"{dict(outcome.closed_by_server) or 'none'})", flush=True)
    print(f"  health probes (/healthz and /readyz, 1 s timeout): {outcome.probes.describe()}")
    print(f"  writes before, back to back: {outcome.baseline.describe()}")
    print(f"  writes meanwhile, every 2 s: {outcome.writes.describe()}", flush=True)


# --- the benchmark -------------------------------------------------------------------------

def server_env(database_url: str, home: Path, metrics: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLAUDIT_", "PROMETHEUS_")) and k != "DATABASE_URL"}
    env.update({"DATABASE_URL": database_url, "MLAUDIT_HOME": str(home),
                "PROMETHEUS_MULTIPROC_DIR": str(metrics), "PYTHONUNBUFFERED": "1"})
    return env


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connections", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--rate", type=float, default=1.0, help="bytes per second per connection")
    ap.add_argument("--fronts", default="nginx:quiet,gunicorn,nginx",
                    help="setups in order; nginx:quiet = behind nginx with no attack")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO / "bench"))
    import _pg

    limit = raise_fd_limit(4 * args.connections + 1024, 2 * args.connections + 100)
    print(f"# gunicorn as in the Dockerfile: {' '.join(production_gunicorn_argv(0)[3:])}; "
          f"nginx {nginx_version()} with deploy/nginx.conf; open files limit {limit}", flush=True)
    with ExitStack() as stack:
        url = stack.enter_context(_pg.database("slow"))
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mlaudit-slow-")))
        env = server_env(url, tmp / "home", tmp / "metrics")
        port = stack.enter_context(gunicorn(env, tmp / "gunicorn.log"))
        token = (tmp / "home" / "admin-token").read_text().strip()
        front_port = 0
        for front in args.fronts.split(","):
            if front.startswith("nginx") and not front_port:
                (tmp / "nginx").mkdir()
                front_port = stack.enter_context(nginx(tmp / "nginx", port))
            target = front_port if front.startswith("nginx") else port
            run = new_run(target, token)
            connections = 0 if front.endswith(":quiet") else args.connections
            outcome = attack(target, token, run, connections=connections,
                             seconds=args.seconds, rate=args.rate)
            report({"gunicorn": "bare gunicorn", "nginx": "nginx in front"}.get(
                front, "nginx in front, no attack"), connections, args.rate, outcome)
            time.sleep(3)  # the server settles: queued requests of the attack are answered
    return 0


def nginx_version() -> str:
    out = subprocess.run([nginx_binary(), "-v"], capture_output=True, text=True, timeout=30)
    return (out.stderr or out.stdout).strip().split("/")[-1]


if __name__ == "__main__":
    sys.exit(main())
