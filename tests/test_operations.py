"""Operations: /metrics, request ids and JSON logs, self-verification, shutdown, rate limits."""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from app import create_app
from app.api.http import metrics as metrics_api
from app.api.http import ratelimit as ratelimit_api
from app.api.http import telemetry
from app.api.http.ratelimit import TokenBuckets, credential_key
from app.config import Config, ConfigError, load_config, parse_rate_limit
from app.db import SCHEMA_VERSION, DatabaseError
from app.ledger.entry import Draft
from app.observability import HANDLER_NAME, JsonFormatter, StderrHandler, TextFormatter, emit
from app.observability import _ContextFilter as ContextFilter
from app.observability import _sole_handler as sole_handler
from app.services.ledger import CommitterClosed

REPO = Path(__file__).resolve().parents[1]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def wait_for(condition: Callable[[], bool], limit: float = 60.0) -> bool:
    """Poll until condition holds; the limit only stops a hung test, nothing is timed."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def samples(text: str) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def sample(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def scrape(client: Any, auth: dict[str, str]) -> Samples:
    response = client.get("/metrics", headers=auth)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    return samples(response.get_data(as_text=True))


def log_lines(err: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


@pytest.fixture
def make_app(config: Config) -> Iterator[Callable[..., Any]]:
    """create_app with some settings changed; closed afterwards."""
    made: list[Any] = []

    def make(**changes: Any) -> Any:
        application = create_app(dataclasses.replace(config, **changes))
        made.append(application)
        return application

    yield make
    for application in made:
        application.extensions["mlaudit"].close()


@pytest.fixture
def token(run_cli: Any) -> Callable[[str, str], str]:
    def create(name: str, role: str) -> str:
        done = run_cli("token", "create", "--name", name, "--role", role)
        assert done.returncode == 0, done.stderr
        return str(done.stdout.split()[-1])

    return create


# Configuration.

def test_new_settings_come_from_the_environment() -> None:
    config = load_config(environ={
        "MLAUDIT_LOG_FORMAT": "TEXT", "MLAUDIT_LOG_LEVEL": "warning",
        "MLAUDIT_SELF_VERIFY_INTERVAL": "0", "MLAUDIT_RATE_LIMIT": "600/minute",
        "PROMETHEUS_MULTIPROC_DIR": "metrics"})
    assert (config.log_format, config.log_level) == ("text", "WARNING")
    assert config.self_verify_interval == 0 and config.rate_limit_rule == (600, 60.0)
    assert config.metrics_multiproc_dir == Path("metrics")
    defaults = load_config(environ={})
    assert (defaults.log_format, defaults.log_level) == ("json", "INFO")
    assert defaults.self_verify_interval == 3600.0 and defaults.rate_limit_rule is None


@pytest.mark.parametrize("text, rule", [("100/second", (100, 1.0)), ("5 / m", (5, 60.0)),
                                        ("7/hour", (7, 3600.0)), ("", None), ("off", None),
                                        ("0", None)])
def test_rate_limit_syntax(text: str, rule: tuple[int, float] | None) -> None:
    assert parse_rate_limit(text) == rule


@pytest.mark.parametrize("variable, value", [
    ("MLAUDIT_RATE_LIMIT", "100/day"), ("MLAUDIT_RATE_LIMIT", "0/second"),
    ("MLAUDIT_RATE_LIMIT", "fast"), ("MLAUDIT_LOG_FORMAT", "xml"),
    ("MLAUDIT_LOG_LEVEL", "LOUD"), ("MLAUDIT_SELF_VERIFY_INTERVAL", "-1"),
    ("MLAUDIT_SELF_VERIFY_INTERVAL", "nan")])
def test_bad_settings_are_refused(variable: str, value: str) -> None:
    with pytest.raises(ConfigError):
        load_config(environ={variable: value})


# Request ids and structured logs.

def test_request_id_is_kept_when_valid_and_made_otherwise(client: Any,
                                                          auth: dict[str, str]) -> None:
    kept = client.get("/healthz", headers={"X-Request-ID": "trace-1.2:3_x"})
    assert kept.headers["X-Request-ID"] == "trace-1.2:3_x"
    for bad in ("a b", "x" * 65, "-leading-dash", "semi;colon", "é", "a/b"):
        made = client.get("/healthz", headers={"X-Request-ID": bad}).headers["X-Request-ID"]
        assert made != bad and len(made) == 32 and int(made, 16) >= 0
    first, second = (client.get("/healthz").headers["X-Request-ID"] for _ in range(2))
    assert first != second
    problem = client.get("/api/v1/experiments/nope", headers={**auth, "X-Request-ID": "r-404"})
    assert problem.status_code == 404 and problem.mimetype == "application/problem+json"
    assert problem.json["request_id"] == "r-404" == problem.headers["X-Request-ID"]


def test_one_json_line_per_request_without_secrets(client: Any, auth: dict[str, str],
                                                   admin_token: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    created = client.post("/api/v1/experiments", headers={**auth, "X-Request-ID": "log-1"},
                          json={"name": "secret-project-name", "description": "hush"})
    assert created.status_code == 201
    client.get("/api/v1/experiments/nope%0Aforged", headers={"X-Request-ID": "log-2"})
    err = capsys.readouterr().err
    lines = log_lines(err)
    access = [line for line in lines if line["logger"] == "mlaudit.access"]
    assert [line["request_id"] for line in access] == ["log-1", "log-2"]
    first = access[0]
    assert first == {**first, "level": "INFO", "method": "POST", "route": "/api/v1/experiments",
                     "path": "/api/v1/experiments", "status": 201, "token": "admin",
                     "role": "admin", "remote_addr": "127.0.0.1"}
    assert isinstance(first["duration_ms"], float) and first["ts"].endswith("Z")
    second = access[1]
    assert second["status"] == 401 and "token" not in second
    assert second["route"] == "/api/v1/experiments/<experiment_id>"
    assert second["path"] == "/api/v1/experiments/nope\\x0aforged"
    assert len(err.splitlines()) == len(lines)  # every line is JSON: none was split
    for secret in (admin_token, "secret-project-name", "hush", "Bearer", "Authorization"):
        assert secret not in err


def test_text_format_and_level(make_app: Any, capsys: pytest.CaptureFixture[str]) -> None:
    text = make_app(log_format="text").test_client()
    capsys.readouterr()
    text.get("/healthz", headers={"X-Request-ID": "plain-1"})
    line = capsys.readouterr().err.strip()
    assert " INFO mlaudit.access GET /healthz 200 " in line and "request_id=plain-1" in line
    quiet = make_app(log_level="WARNING").test_client()
    capsys.readouterr()
    quiet.get("/healthz")
    assert capsys.readouterr().err == ""


def test_json_formatter_keeps_extras_and_exceptions() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("t").makeRecord("t", logging.ERROR, __file__, 1, "x %s",
                                                   ("y",), sys.exc_info(),
                                                   extra={"seq": 5, "request_id": "r"})
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "x y" and line["seq"] == 5 and line["request_id"] == "r"
    assert "ValueError: boom" in line["exc"] and line["level"] == "ERROR"


@pytest.mark.parametrize("formatter", [JsonFormatter(), TextFormatter()],
                         ids=["json", "text"])
def test_direct_lines_equal_record_lines(formatter: logging.Formatter,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """emit() writes directly when mlaudit's handler is the only one (the service's case;
    pytest adds its own capture handler to the root logger, so the app tests above see the
    ordinary path). Both must write the same line, context fields included."""
    logger = logging.Logger("mlaudit.access")  # outside the hierarchy: no pytest handler
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = StderrHandler()
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(formatter)
    handler.addFilter(ContextFilter(lambda: {"request_id": "ctx", "tenant": "t1"}))
    logger.addHandler(handler)
    fields = {"method": "GET", "status": 200, "request_id": "given", "token": None}
    capsys.readouterr()
    assert sole_handler(logger, logging.INFO) is handler
    emit(logger, logging.INFO, "GET /x 200", fields)
    direct = capsys.readouterr().err
    logger.addHandler(logging.NullHandler())  # a second handler: the ordinary path
    assert sole_handler(logger, logging.INFO) is None
    emit(logger, logging.INFO, "GET /x 200", fields)
    ordinary = capsys.readouterr().err
    emit(logger, logging.DEBUG, "not enabled", fields)
    assert capsys.readouterr().err == ""
    strip = (lambda text: text.split(" ", 1)[1]) if isinstance(formatter, TextFormatter) \
        else (lambda text: {k: v for k, v in json.loads(text).items() if k != "ts"})
    assert direct.count("\n") == ordinary.count("\n") == 1
    assert strip(direct) == strip(ordinary)
    assert "given" in direct and "t1" in direct and "ctx" not in direct and "None" not in direct


# /metrics.

def test_metrics_need_a_token(client: Any) -> None:
    response = client.get("/metrics")
    assert response.status_code == 401 and response.mimetype == "application/problem+json"


def test_metrics_count_requests_by_rule_method_and_status_class(
        client: Any, auth: dict[str, str], services: Any, append: Any) -> None:
    for name in ("a", "b", "c"):
        client.get(f"/api/v1/experiments/{name}", headers=auth)
    client.get("/no/such/path")
    client.open("/healthz", method="BREW")
    client.head("/healthz")
    append(5)
    services.checkpointer.sign_now()
    found = scrape(client, auth)
    assert sample(found, "mlaudit_http_requests_total", method="GET",
                  route="/api/v1/experiments/<experiment_id>", status="4xx") == 3
    assert not [key for key in found if ("route", "/api/v1/experiments/a") in key[1]]
    assert sample(found, "mlaudit_http_requests_total", method="GET", route="unmatched",
                  status="4xx") == 1
    assert sample(found, "mlaudit_http_requests_total", method="other", route="unmatched",
                  status="4xx") == 1  # 405: no rule matched this method
    assert sample(found, "mlaudit_http_requests_total", method="HEAD", route="/healthz",
                  status="2xx") == 1
    assert sample(found, "mlaudit_http_request_duration_seconds_count", method="GET",
                  route="/api/v1/experiments/<experiment_id>", status="4xx") == 3
    assert sample(found, "mlaudit_database_up") == 1
    assert sample(found, "mlaudit_ledger_entries") == 10  # 5 from start-up, 5 appended
    assert sample(found, "mlaudit_checkpoint_tree_size") == 10
    age = sample(found, "mlaudit_checkpoint_age_seconds")
    assert age is not None and 0 <= age < 3600
    assert sample(found, "mlaudit_self_verify_interval_seconds") == 3600
    assert sample(found, "mlaudit_self_verify_ok") is None  # no run yet: no result to show
    assert sample(found, "mlaudit_self_verify_errors_total") == 0


def test_metrics_answer_when_the_database_does_not(app: Any) -> None:
    app.extensions["mlaudit"].pool.close()
    registry = app.extensions[metrics_api.EXTENSION].scrape_registry()
    found = samples(generate_latest(registry).decode())
    assert sample(found, "mlaudit_database_up") == 0
    assert sample(found, "mlaudit_ledger_entries") is None
    assert sample(found, "mlaudit_self_verify_interval_seconds") == 3600


# Self-verification.

def test_self_verification_passes_then_reports_tampering(
        client: Any, auth: dict[str, str], services: Any, append: Any, bypass: Any) -> None:
    append(20)
    services.checkpointer.sign_now()
    assert client.get("/readyz").json == {"status": "ready", "schema_version": SCHEMA_VERSION}
    result = services.selfcheck.run_once()
    assert result.ok and result.entries == 25 and result.checkpoints == 1  # 5 from start-up
    ready = client.get("/readyz")
    assert ready.status_code == 200
    verification = ready.json["verification"]
    assert verification == {**verification, "ok": True, "entries": 25, "checkpoints": 1,
                            "damage": None}
    assert verification["finished_at"].endswith("Z")
    found = scrape(client, auth)
    assert sample(found, "mlaudit_self_verify_ok") == 1
    assert sample(found, "mlaudit_self_verify_entries") == 25

    with bypass as conn:
        conn.execute("UPDATE ledger_entries SET canonical = "
                     "set_byte(canonical, 20, get_byte(canonical, 20) # 1) WHERE seq = 13")
    damaged = services.selfcheck.run_once()
    assert not damaged.ok and (damaged.damage.kind, damaged.damage.seq) == ("modified", 13)
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.mimetype == "application/problem+json"
    assert "damaged at seq 13: modified" in ready.json["detail"]
    damage = ready.json["verification"]["damage"]
    assert (damage["kind"], damage["seq"]) == ("modified", 13) and "leaf hash" in damage["detail"]
    assert ready.json["verification"]["ok"] is False
    found = scrape(client, auth)
    assert sample(found, "mlaudit_self_verify_ok") == 0
    last_run = sample(found, "mlaudit_self_verify_last_run_timestamp_seconds")
    assert last_run == pytest.approx(damaged.finished_at.timestamp())


def test_self_verification_thread_runs_on_its_interval_and_stops(make_app: Any) -> None:
    services = make_app(self_verify_interval=0.05).extensions["mlaudit"]
    assert wait_for(lambda: services.selfcheck.last is not None)
    assert services.selfcheck.last.ok
    thread = services.selfcheck._thread
    services.selfcheck.stop()
    assert not thread.is_alive()
    off = make_app(self_verify_interval=0).extensions["mlaudit"]
    assert off.selfcheck._thread is None


def test_self_verification_errors_are_counted(services: Any) -> None:
    services.pool.close()
    with pytest.raises(DatabaseError, match="could not run"):
        services.selfcheck.run_once()
    assert services.selfcheck.errors == 1 and services.selfcheck.last is None


# Shutdown.

def test_close_commits_queued_writes_then_refuses_new_ones(client: Any, auth: dict[str, str],
                                                           services: Any,
                                                           conn: psycopg.Connection) -> None:
    entered, release = threading.Event(), threading.Event()
    receipts: list[Any] = []

    def slow(writer: Any) -> Any:
        entered.set()
        release.wait(30)
        return writer.append([Draft("test.appended", "token:test", {"item": "slow"})])

    worker = threading.Thread(target=lambda: receipts.extend(services.committer.run(slow)))
    worker.start()
    assert entered.wait(30)
    assert services.committer.close(timeout=0) is False  # a write is still in its transaction
    with pytest.raises(CommitterClosed):
        services.committer.run(lambda writer: None)
    refused = client.post("/api/v1/experiments", headers=auth, json={"name": "late"})
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
    assert refused.mimetype == "application/problem+json"
    release.set()
    worker.join(30)
    assert services.committer.close(timeout=30) is True
    (receipt,) = receipts
    row = conn.execute("SELECT kind FROM ledger_entries WHERE seq = %s", (receipt.seq,))
    assert row.fetchone() == ("test.appended",)


def test_close_signs_a_last_checkpoint_and_is_idempotent(services: Any, append: Any,
                                                         conn: psycopg.Connection) -> None:
    receipts = append(3)
    assert conn.execute("SELECT count(*) FROM checkpoints").fetchone() == (0,)
    services.close()
    services.close()
    latest = conn.execute("SELECT max(tree_size) FROM checkpoints").fetchone()
    assert latest == (receipts[-1].seq + 1,)
    assert services.pool.closed


# Rate limit.

def test_rate_limit_is_per_token_with_retry_after(make_app: Any, admin_token: str,
                                                  token: Callable[[str, str], str]) -> None:
    other = token("reader", "auditor")
    client = make_app(rate_limit="2/hour").test_client()  # no refill while the test runs
    bearer = {"Authorization": f"Bearer {admin_token}"}
    assert client.get("/api/v1/experiments", headers=bearer).status_code == 200
    assert client.get("/api/2.0/mlflow/experiments/search?max_results=1",
                      headers=bearer).status_code == 200
    limited = client.get("/api/v1/experiments", headers={**bearer, "X-Request-ID": "rl-1"})
    assert limited.status_code == 429 and limited.mimetype == "application/problem+json"
    assert limited.json["title"] == "Too Many Requests" and limited.json["request_id"] == "rl-1"
    assert 1 <= int(limited.headers["Retry-After"]) <= 1800  # one request per 30 minutes
    basic = base64.b64encode(f"admin:{admin_token}".encode()).decode()
    mlflow = client.get("/api/2.0/mlflow/experiments/search?max_results=1",
                        headers={"Authorization": f"Basic {basic}"})  # the same token
    assert mlflow.status_code == 429
    assert mlflow.json["error_code"] == "REQUEST_LIMIT_EXCEEDED" and set(mlflow.json) == {
        "error_code", "message"}
    assert 1 <= int(mlflow.headers["Retry-After"]) <= 1800
    assert client.get("/api/v1/experiments",
                      headers={"Authorization": f"Bearer {other}"}).status_code == 200
    assert all(client.get("/healthz").status_code == 200 for _ in range(5))  # no token


def test_rate_limit_off_registers_nothing(app: Any) -> None:
    hooks = app.before_request_funcs[None]
    assert hooks[0].__module__ == telemetry.__name__  # request ids and timing come first
    assert not [hook for hook in hooks if hook.__module__ == ratelimit_api.__name__]


def test_token_buckets_refill_at_the_rate() -> None:
    now = [100.0]
    buckets = TokenBuckets(3, 60.0, clock=lambda: now[0])
    key = credential_key("Bearer s3cret")
    assert [buckets.take(key) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take(key) == pytest.approx(20.0)  # one request per 20 s
    now[0] += 10
    assert buckets.take(key) == pytest.approx(10.0)
    now[0] += 10
    assert buckets.take(key) == 0.0
    assert buckets.take(credential_key("Bearer other")) == 0.0
    assert credential_key("Basic " + base64.b64encode(b"n:s3cret").decode()) == key


def test_token_buckets_stay_bounded() -> None:
    now = [0.0]
    buckets = TokenBuckets(1, 1.0, clock=lambda: now[0], max_keys=100)
    for i in range(1000):
        buckets.take(str(i).encode())
        now[0] += 0.0001
    assert len(buckets._buckets) <= 100


# A live gunicorn server: graceful drain on SIGTERM.

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_status(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    return data


@pytest.fixture
def gunicorn(config: Config, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int,
                                                              Path, Path]]:
    port, log, metrics = free_port(), tmp_path / "gunicorn.log", tmp_path / "metrics"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLAUDIT_", "PROMETHEUS_")) and k != "DATABASE_URL"}
    env.update({"DATABASE_URL": config.database_url or "", "MLAUDIT_HOME": str(config.home),
                "MLAUDIT_CHECKPOINT_INTERVAL": "3600", "MLAUDIT_CHECKPOINT_EVERY": "1000000",
                "PROMETHEUS_MULTIPROC_DIR": str(metrics)})
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:app.gunicorn_conf",
             "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4",
             "--graceful-timeout", "30", "app:create_app()"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield process, port, log, metrics
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)


def test_gunicorn_drains_in_flight_request_on_sigterm(
        gunicorn: Any, client: Any, auth: dict[str, str], admin_token: str,
        conn: psycopg.Connection, run_cli: Any) -> None:
    process, port, log, metrics_dir = gunicorn
    base = f"http://127.0.0.1:{port}"
    experiment = client.post("/api/v1/experiments", headers=auth, json={"name": "drain"}).json
    run_id = client.post("/api/v1/runs", headers=auth,
                         json={"experiment_id": experiment["id"]}).json["id"]
    ready = [0]

    def up() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            if http_status(f"{base}/healthz")[0] == 200:
                ready[0] += 1
                return True
        except OSError:
            pass
        return False

    assert wait_for(up, 90), log.read_text()
    for _ in range(6):
        assert http_status(f"{base}/healthz")[0] == 200
    status, text = http_status(f"{base}/metrics", admin_token)
    assert status == 200
    found = samples(text.decode())
    # Whichever worker answered, the counts are every worker's (PROMETHEUS_MULTIPROC_DIR).
    assert sample(found, "mlaudit_http_requests_total", method="GET", route="/healthz",
                  status="2xx") == ready[0] + 6
    assert list(metrics_dir.glob("counter_*.db"))

    body = os.urandom(256 * 1024)
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall((f"PUT /api/v1/runs/{run_id}/artifacts/drain/model.bin HTTP/1.1\r\n"
                      f"Host: 127.0.0.1\r\nAuthorization: Bearer {admin_token}\r\n"
                      "Content-Type: application/octet-stream\r\n"
                      f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n"
                      "X-Request-ID: drain-1\r\nConnection: close\r\n\r\n").encode())
        # gunicorn answers 100 Continue just before it calls the app: the request is in flight.
        assert read_until(sock, b"\r\n\r\n").startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(body[: len(body) // 2])
        process.send_signal(signal.SIGTERM)
        # The rest of the body goes only once shutdown is under way: a worker has exited.
        assert wait_for(lambda: "Worker exiting" in log.read_text()), log.read_text()
        sock.sendall(body[len(body) // 2:])
        response = _read_all(sock)
    head, _, payload = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 201"), response[:500]
    receipt = json.loads(payload)["receipt"]
    assert process.wait(60) == 0, log.read_text()

    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    entry = conn.execute("SELECT kind FROM ledger_entries WHERE seq = %s", (receipt["seq"],))
    assert entry.fetchone() == ("artifact.recorded",)
    size = conn.execute("SELECT size FROM ledger_head").fetchone()[0]
    checkpoint = conn.execute("SELECT max(tree_size) FROM checkpoints").fetchone()[0]
    assert checkpoint == size  # the draining worker signed what it committed before exiting
    output = log.read_text()
    assert output.count("closed its services") == 2, output
    access = [line for line in log_lines(output) if line.get("request_id") == "drain-1"]
    assert [(line["status"], line["route"]) for line in access] == [
        (201, "/api/v1/runs/<run_id>/artifacts/<path:path>")]
    verified = run_cli("verify", "--json")
    assert verified.returncode == 0 and json.loads(verified.stdout)["ok"] is True


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data
