"""py-spy sampling of mlaudit's gunicorn workers for bench/tracking_vs_mlflow.py --profile DIR,
and a summary of the samples: what blocked threads wait for, and where running ones spend it.

Also usable on its own:  .venv/bin/python bench/tracking_profile.py DIR/single-*.txt
"""

from __future__ import annotations

import argparse
import math
import re
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
_GROUPS = (  # (label, substring of the frame's file); first match wins
    ("psycopg / pool", "psycopg"),
    ("marshmallow", "marshmallow"),
    ("flask / werkzeug", "flask"),
    ("flask / werkzeug", "werkzeug"),
    ("gunicorn", "gunicorn"),
    ("json", "/json/"),
    ("cryptography", "cryptography"),
    ("rfc8785", "rfc8785"),
)


class Profiler:
    """Records each gunicorn worker of master_pid with py-spy (raw collapsed stacks)."""

    def __init__(self, outdir: Path, master_pid: int, rate: int = 100) -> None:
        self.outdir = outdir
        self.outdir.mkdir(parents=True, exist_ok=True)
        self.master = psutil.Process(master_pid)
        self.rate = rate
        self.pyspy = Path(sys.executable).parent / "py-spy"
        self.files: dict[str, list[Path]] = {}

    @contextmanager
    def record(self, label: str, seconds: float) -> Iterator[None]:
        procs = []
        slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
        for worker in self.master.children():
            out = self.outdir / f"{slug}-{worker.pid}.txt"
            self.files.setdefault(label.split(" #")[0], []).append(out)
            procs.append(subprocess.Popen(
                [str(self.pyspy), "record", "--pid", str(worker.pid), "--rate", str(self.rate),
                 "--duration", str(math.ceil(seconds) + 1), "--format", "raw", "--output",
                 str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        try:
            yield
        finally:
            for proc in procs:  # py-spy writes what it has on SIGINT
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)
            for proc in procs:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    def report(self, top: int = 14) -> None:
        for phase, files in self.files.items():
            print(f"# profile: {phase} (py-spy, {self.rate} Hz, mlaudit's gunicorn workers, "
                  f"every thread)")
            print(summarize((f for f in files if f.exists()), top), end="")


def _short(path: str) -> str:
    """py-spy already shortens paths on sys.path ('app/api/http/auth.py', 'flask/app.py')."""
    for marker in ("site-packages/", "/lib/python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


Frame = tuple[str, str, str]  # function, file, line


def _parse(files: Iterable[Path]) -> Iterator[tuple[list[Frame], int]]:
    for file in files:
        for line in file.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            frames = []
            for raw in stack.split(";"):
                m = _FRAME.match(raw)
                if m:
                    frames.append((m["func"], _short(m["file"]), m["line"] or ""))
            if frames:
                yield frames, int(count)


_BLOCKING = {("threading.py", "Condition.wait"), ("threading.py", "Event.wait"),
             ("threading.py", "Semaphore.acquire"), ("threading.py", "Thread.join"),
             ("concurrent/futures/thread.py", "_worker"), ("queue.py", "Queue.get"),
             ("selectors.py", "EpollSelector.select"), ("selectors.py", "PollSelector.select")}


def classify(frames: list[Frame]) -> str | None:
    """What a blocked thread waits for, or None when the sample is running code.

    py-spy's idle detection does not work on this kernel, so every thread is sampled; a
    thread is taken as blocked when its leaf frame is a known blocking call."""
    func, file, _ = frames[-1]
    names = {f for f, _, _ in frames}
    if func == "Connection.wait" and file.startswith("psycopg/"):
        return "waiting for PostgreSQL (round trips, commit flush)"
    if (file, func) in _BLOCKING or (file == "time.py" and func == "sleep"):
        if "GroupCommitter.run" in names:
            return "waiting for group commit (another thread leads the batch)"
        if any(n.endswith("getconn") for n in names):
            return "waiting for a pool connection"
        if "_worker" in names and "_WorkItem.run" not in names or any(
                n in names for n in ("ConnectionPool.worker", "Scheduler.run", "Checkpointer._loop",
                                     "ThreadWorker.wait_for_and_dispatch_events")):
            return "idle threads (no request; pool, scheduler, checkpointer)"
        return "other blocking waits"
    return None


_STAGES = (  # (stage, function on the stack); the first one found, from the top, names it
    ("authentication (token lookup)", "authenticate"),
    ("request validation (marshmallow)", "load"),
    ("artifact bytes to disk (write, hash, fsync)", "LocalBlobStore.put_stream"),
    ("group commit, leading: run lookup, entries, rows, commit", "GroupCommitter._run_batch"),
    ("waiting for group commit", "GroupCommitter.run"),
    ("response (JSON)", "jsonify"),
)


def stage(frames: list[Frame]) -> str:
    names = [f for f, _, _ in frames]
    for label, func in _STAGES:
        if func in names:
            return label
    return "HTTP and framework (gunicorn, werkzeug, flask)"


def summarize(files: Iterable[Path], top: int = 14) -> str:
    return summarize_samples(_parse(files), top)


def summarize_routes(files: Iterable[Path], routes: dict[str, str], top: int = 10) -> str:
    """summarize() per route: the samples whose stack holds the route's view function (an
    MLflow view in app/api/mlflow/), with their share of all samples serving a request."""
    samples = list(_parse(files))
    serving = sum(n for frames, n in samples
                  if any(f == "ThreadWorker.handle_request" for f, _, _ in frames))
    out = []
    for label, view in routes.items():
        subset = [(frames, n) for frames, n in samples
                  if any(f == view and p.startswith("app/api/mlflow/") for f, p, _ in frames)]
        count = sum(n for _, n in subset)
        if count:
            out.append(f"## {label} (view {view}): {count:,} samples, "
                       f"{count / max(serving, 1):.0%} of those serving a request\n")
            out.append(summarize_samples(subset, top))
    return "".join(out)


def summarize_samples(samples: Iterable[tuple[list[Frame], int]], top: int = 14) -> str:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    groups: Counter[str] = Counter()
    waits: Counter[str] = Counter()
    app_lines: Counter[str] = Counter()
    total = busy = 0
    stages: Counter[str] = Counter()
    serving = 0
    for frames, count in samples:
        total += count
        wait = classify(frames)
        if any(f == "ThreadWorker.handle_request" for f, _, _ in frames):
            serving += count
            label = stage(frames)
            if wait is not None and not label.startswith("waiting"):
                label += " [blocked: PostgreSQL]" if wait.startswith("waiting for Post") else \
                    " [blocked]"
            stages[label] += count
        if wait is not None:
            waits[wait] += count
            continue
        busy += count
        func, file, line = frames[-1]
        own[f"{func} ({file})"] += count
        group = "app (mlaudit)" if file.startswith("app/") else next(
            (label for label, key in _GROUPS if key in file), "stdlib / other")
        groups[group] += count
        for name in {f"{f} ({p})" for f, p, _ in frames if p.startswith("app/")}:
            inclusive[name] += count
        # the deepest mlaudit line on the stack: where mlaudit's code spends it
        for f, p, n in reversed(frames):
            if p.startswith("app/"):
                app_lines[f"{p}:{n} {f}"] += count
                break
    if not busy:
        return "  no samples\n"
    lines = [f"  {total:,} thread samples, of which blocked: " + ", ".join(
        f"{w} {n / total:.0%}" for w, n in waits.most_common())]
    if serving:
        lines.append(f"  {serving:,} samples of threads serving a request (their wall time), "
                     "by stage:")
        lines += [f"    {n / serving:6.1%}  {name}" for name, n in stages.most_common()]
    lines.append(f"  {busy:,} running samples; own time by package: " + ", ".join(
        f"{g} {n / busy:.0%}" for g, n in groups.most_common()))
    lines.append("  own time (leaf frame), share of running samples:")
    lines += [f"    {n / busy:6.1%}  {name}" for name, n in own.most_common(top)]
    lines.append("  inclusive time of mlaudit functions, share of running samples:")
    lines += [f"    {n / busy:6.1%}  {name}" for name, n in inclusive.most_common(top)]
    lines.append("  deepest mlaudit line on the stack, share of running samples:")
    lines += [f"    {n / busy:6.1%}  {name}" for name, n in app_lines.most_common(top)]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("files", nargs="+", type=Path, help="py-spy --format raw outputs")
    ap.add_argument("--top", type=int, default=20)
    args = ap.parse_args()
    print(summarize(args.files, args.top), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
