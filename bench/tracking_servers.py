"""The servers of bench/tracking_vs_mlflow.py and bench/mlflow_client_vs_mlflow.py: mlaudit
under gunicorn, MLflow's own tracking server from a separate virtualenv (bench/.venv-mlflow,
created on first use), and FastTrackML's `fml` binary (bench/.venv-fasttrackml, likewise).

Each server runs in its own process group on 127.0.0.1, so stopping it ends every worker.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, urlencode

from psycopg.conninfo import conninfo_to_dict

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
MLFLOW_VENV = BENCH / ".venv-mlflow"
MLFLOW_PACKAGES = ("mlflow==3.17.2", "psycopg2-binary")  # the version the figures compare with
FASTTRACKML_VENV = BENCH / ".venv-fasttrackml"
# Only the wheel's Go binary is used: its Python dependencies (mlflow<3) would clash with
# nothing here, but they are not needed, so --no-deps keeps the install small.
FASTTRACKML_PACKAGE = "fasttrackml==0.6.0"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def psycopg2_url(url: str) -> str:
    """The same database as a SQLAlchemy URL for psycopg2 (a unix socket goes in ?host=).

    The driver is named: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3."""
    params = conninfo_to_dict(url)
    user = quote(str(params.pop("user", "postgres")), safe="")
    password = params.pop("password", None)
    auth = user + (":" + quote(str(password), safe="") if password else "")
    dbname = quote(str(params.pop("dbname", "postgres")), safe="")
    query = {k: str(v) for k, v in params.items() if v not in (None, "")}
    return f"postgresql+psycopg2://{auth}@/{dbname}" + (f"?{urlencode(query)}" if query else "")


def pgx_url(url: str) -> str:
    """The same database as a postgres:// URL for Go's pgx (FastTrackML): a unix socket goes
    in ?host=, TLS off unless the conninfo asks for it."""
    params = conninfo_to_dict(url)
    user = quote(str(params.pop("user", "postgres")), safe="")
    password = params.pop("password", None)
    auth = user + (":" + quote(str(password), safe="") if password else "")
    dbname = quote(str(params.pop("dbname", "postgres")), safe="")
    query = {k: str(v) for k, v in params.items() if v not in (None, "")}
    query.setdefault("sslmode", "disable")
    return f"postgres://{auth}@/{dbname}?{urlencode(query)}"


def ensure_fasttrackml(quiet: bool = False) -> Path:
    """The `fml` binary of bench/.venv-fasttrackml (pip install --no-deps fasttrackml)."""
    fml = FASTTRACKML_VENV / "bin" / "fml"
    if fml.exists():
        return fml
    print(f"# creating {FASTTRACKML_VENV.relative_to(REPO)} (python3 -m venv; pip install "
          f"--no-deps {FASTTRACKML_PACKAGE})", flush=True)
    subprocess.run(["python3", "-m", "venv", str(FASTTRACKML_VENV)], check=True)
    pip = [str(FASTTRACKML_VENV / "bin" / "python"), "-m", "pip", "install",
           "--disable-pip-version-check", "--no-deps"]
    subprocess.run(pip + (["-q"] if quiet else []) + [FASTTRACKML_PACKAGE], check=True,
                   timeout=1800)
    return fml


def fasttrackml_version(fml: Path) -> str:
    out = subprocess.run([str(fml), "--version"], capture_output=True, text=True, check=True)
    return out.stdout.strip().rpartition(" ")[2]


def ensure_mlflow_venv(quiet: bool = False) -> Path:
    """bench/.venv-mlflow with mlflow and psycopg2-binary; never the project's venv."""
    python = MLFLOW_VENV / "bin" / "python"
    check = [str(python), "-c", "import mlflow, psycopg2, uvicorn; print(mlflow.__version__)"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    print(f"# creating {MLFLOW_VENV.relative_to(REPO)} (python3 -m venv; pip install "
          f"{' '.join(MLFLOW_PACKAGES)}); this takes a few minutes", flush=True)
    subprocess.run(["python3", "-m", "venv", str(MLFLOW_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
    subprocess.run(pip + (["-q"] if quiet else []) + list(MLFLOW_PACKAGES), check=True,
                   timeout=1800)
    subprocess.run(check, check=True, capture_output=True)
    return python


def mlflow_version(python: Path) -> str:
    out = subprocess.run([str(python), "-c", "import mlflow; print(mlflow.__version__)"],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


class Server:
    """A server process group on 127.0.0.1 with its output in a log file."""

    name = "server"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / f"{self.name}.log"

    def _start(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=out,
                                         stdin=subprocess.DEVNULL, start_new_session=True)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_ready(self, path: str, timeout: float) -> float:
        """Poll GET path until 200; seconds taken. Raises if the process dies or time runs out."""
        start = time.perf_counter()
        deadline = start + timeout
        while time.perf_counter() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n"
                                   f"{self.tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", path)
                status = conn.getresponse().status
                conn.close()
                if status == 200:
                    return time.perf_counter() - start
            except OSError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s:\n{self.tail()}")

    def settle(self, timeout: float = 120.0, idle: float = 0.05) -> float:
        """Wait until the whole process tree uses under `idle` of one core over a second
        (workers and helper processes may still be importing after the first answer)."""
        import psutil

        start = time.perf_counter()
        root = psutil.Process(self.pid)

        def used() -> float:
            total = 0.0
            for proc in [root, *root.children(recursive=True)]:
                try:
                    t = proc.cpu_times()
                    total += t.user + t.system
                except psutil.Error:
                    pass
            return total

        while time.perf_counter() - start < timeout:
            before = used()
            time.sleep(1.0)
            if used() - before < idle:
                break
        return time.perf_counter() - start

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        """SIGTERM the whole process group, SIGKILL after 15 s."""
        proc = self.proc
        if proc is None:
            return
        for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait)
                # the leader is gone; make sure no worker of the group lingers
                deadline = time.monotonic() + wait
                while time.monotonic() < deadline:
                    os.killpg(proc.pid, 0)
                    time.sleep(0.1)
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
        self.proc = None


class MlauditServer(Server):
    """gunicorn 'app:create_app()' from the project's virtualenv, as in the Dockerfile."""

    name = "mlaudit"

    def __init__(self, workdir: Path, database_url: str, workers: int, threads: int) -> None:
        super().__init__(workdir)
        self.workers, self.threads = workers, threads
        self.home = workdir / "mlaudit-home"
        self.home.mkdir()
        self.env = {**os.environ, "DATABASE_URL": database_url, "MLAUDIT_HOME": str(self.home),
                    "PYTHONUNBUFFERED": "1"}
        self.gunicorn = Path(sys.executable).parent / "gunicorn"
        # gunicorn's advice for containers: the workers' heartbeat file in RAM, not on disk
        tmp_dir = ["--worker-tmp-dir", "/dev/shm"] if Path("/dev/shm").is_dir() else []
        self.argv = [str(self.gunicorn), "--bind", f"127.0.0.1:{self.port}",
                     "--workers", str(workers), "--threads", str(threads), *tmp_dir,
                     "app:create_app()"]

    def describe(self) -> str:
        tmp_dir = " --worker-tmp-dir /dev/shm," if "/dev/shm" in self.argv else ""
        return (f"gunicorn {self.workers} workers x {self.threads} threads (gthread),{tmp_dir} "
                f"no access log, MLAUDIT_POOL_SIZE default (10 per worker)")

    def start(self, timeout: float = 120.0) -> float:
        self._start(self.argv, self.env, REPO)
        return self.wait_ready("/readyz", timeout)

    def create_token(self, name: str = "bench-writer", role: str = "writer") -> str:
        out = subprocess.run([sys.executable, "-m", "app.cli", "token", "create", "--name", name,
                              "--role", role], cwd=REPO, env=self.env, capture_output=True,
                             text=True, timeout=120, check=True)
        return out.stdout.strip().splitlines()[-1]

    def verify(self) -> tuple[int, str]:
        out = subprocess.run([sys.executable, "-m", "app.cli", "verify", "--json"], cwd=REPO,
                             env=self.env, capture_output=True, text=True, timeout=600)
        return out.returncode, out.stdout.strip() or out.stderr.strip()


class MlflowServer(Server):
    """`mlflow server` on the same PostgreSQL, artifacts proxied (--serve-artifacts)."""

    name = "mlflow"

    def __init__(self, workdir: Path, python: Path, backend_uri: str, workers: int,
                 server: str, threads: int) -> None:
        super().__init__(workdir)
        self.workers, self.server, self.threads = workers, server, threads
        self.artifacts = workdir / "mlflow-artifacts"
        self.artifacts.mkdir()
        mlflow = python.parent / "mlflow"
        self.argv = [str(mlflow), "server", "--host", "127.0.0.1", "--port", str(self.port),
                     "--backend-store-uri", backend_uri,
                     "--artifacts-destination", str(self.artifacts), "--serve-artifacts",
                     "--workers", str(workers)]
        if server == "gunicorn":  # the same server and concurrency as mlaudit's
            self.argv += ["--gunicorn-opts", f"--threads {threads}"]
        else:  # MLflow's default: uvicorn, Flask mounted through a WSGI middleware
            self.argv += ["--uvicorn-opts", "--no-access-log"]
        self.env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
                    "PYTHONUNBUFFERED": "1"}
        for variable in ("DATABASE_URL", "VIRTUAL_ENV", "PYTHONPATH"):
            self.env.pop(variable, None)
        self.env["PATH"] = f"{python.parent}{os.pathsep}{self.env.get('PATH', '')}"

    def describe(self) -> str:
        if self.server == "gunicorn":
            return (f"mlflow server --workers {self.workers} --gunicorn-opts "
                    f"'--threads {self.threads}' (gunicorn gthread, no access log)")
        return (f"mlflow server --workers {self.workers} (its default uvicorn, Flask app behind "
                f"a WSGI middleware thread pool), --uvicorn-opts --no-access-log")

    def start(self, timeout: float = 300.0) -> float:
        self._start(self.argv, self.env, self.workdir)
        return self.wait_ready("/health", timeout)


class FasttrackmlServer(Server):
    """`fml server` (FastTrackML, Go) on the same PostgreSQL. It has no artifact proxy: runs
    get a file:// artifact URI under --default-artifact-root, which the client writes itself."""

    name = "fasttrackml"

    def __init__(self, workdir: Path, fml: Path, database_uri: str) -> None:
        super().__init__(workdir)
        self.artifacts = workdir / "fasttrackml-artifacts"
        self.artifacts.mkdir()
        self.argv = [str(fml), "server", "--listen-address", f"127.0.0.1:{self.port}",
                     "--database-uri", database_uri,
                     "--default-artifact-root", str(self.artifacts), "--log-level", "warn"]
        self.env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}

    def describe(self) -> str:
        return ("fml server --database-uri postgres://... (its defaults: --database-pool-max 20,"
                " Go's HTTP server), --log-level warn")

    def start(self, timeout: float = 120.0) -> float:
        self._start(self.argv, self.env, self.workdir)
        return self.wait_ready("/health", timeout)

    def proxies_artifacts(self) -> bool:
        """Whether an upload to MLflow's artifact proxy route is served (not 404/405)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("PUT", "/api/2.0/mlflow-artifacts/artifacts/0/probe/artifacts/p.bin",
                         body=b"x", headers={"Content-Type": "application/octet-stream"})
            return conn.getresponse().status < 400
        finally:
            conn.close()
