"""`mlaudit record`: a whole run from one file, against a live server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.client import record
from app.client.http import dumps
from app.services import tokens

ROOT = Path(__file__).resolve().parents[1]

RUN_YAML = """\
name: nightly-train
source: {git_commit: a1b2c3d4e5f6, repository: https://git.example.com/ml/churn}
params: {lr: 0.001, epochs: 3, optimizer: adam}
tags: {team: risk}
metrics:
  - {key: accuracy, value: 0.91, step: 1}
  - {key: recall, value: 0.75, group: {sex: F}, n: 120}
  - {key: recall, value: 0.7, group: {sex: M}, n: 130}
datasets:
  - {name: churn-train, path: data/train.csv, context: training, row_count: 3}
artifacts:
  - {path: model.bin}
  - {path: plots, name: figures}
lockfile: requirements.txt
"""


@pytest.fixture
def token(services: Any) -> str:
    secret, _ = services.committer.run(
        lambda writer: tokens.create_token(writer, "ci", "writer", "test"))
    return str(secret)


def run_record(cwd: Path, *args: str, url: str | None = None,
               token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLAUDIT_")}
    env.pop("DATABASE_URL", None)
    env.update({"MLAUDIT_HOME": str(cwd / "cli-home"), "PYTHONPATH": str(ROOT)})
    env.update({k: v for k, v in (("MLAUDIT_URL", url), ("MLAUDIT_TOKEN", token)) if v})
    return subprocess.run([sys.executable, "-m", "app.cli", "record", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("mlaudit: error: "), done.stderr
    return lines[0]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def workspace(root: Path) -> Path:
    (root / "data").mkdir()
    (root / "data" / "train.csv").write_text("age,sex,churn\n41,F,0\n37,M,1\n29,F,0\n")
    (root / "model.bin").write_bytes(os.urandom(300_000))
    (root / "plots" / "roc").mkdir(parents=True)
    (root / "plots" / "loss.txt").write_text("0.9 0.5 0.3\n")
    (root / "plots" / "roc" / "points.txt").write_text("0,0 1,1\n")
    (root / "requirements.txt").write_text("flask==3.1.0\n")
    (root / "run.yaml").write_text(RUN_YAML)
    return root


def api(client: Any, token: str, path: str) -> Any:
    response = client.get(path, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.json
    return response.json


def test_yaml_run_is_recorded_whole(server: str, token: str, client: Any, tmp_path: Path) -> None:
    root = workspace(tmp_path)
    done = run_record(root, "run.yaml", "--experiment", "churn", url=server, token=token)
    assert done.returncode == 0, done.stderr
    *receipts, run_id = done.stdout.splitlines()
    kinds = [line.split("  ")[1] for line in receipts]
    assert kinds == ["experiment.created", "run.created", "environment.recorded",
                     "params.logged", "metrics.logged", "tags.set", "inputs.logged",
                     "artifact.recorded", "artifact.recorded", "artifact.recorded", "run.ended"]
    assert all(line.startswith("seq ") and "  leaf " in line for line in receipts)
    run = api(client, token, f"/api/v1/runs/{run_id}")
    assert run["status"] == "FINISHED" and run["name"] == "nightly-train"
    assert run["source"]["git_commit"] == "a1b2c3d4e5f6" and run["tags"] == {"team": "risk"}
    assert run["params"] == {"lr": "0.001", "epochs": "3", "optimizer": "adam"}
    assert {(m["key"], m["value"], json.dumps(m.get("group")), m.get("n"))
            for m in run["metrics"]} == {("accuracy", "0.91", "null", None),
                                         ("recall", "0.75", '{"sex": "F"}', 120),
                                         ("recall", "0.7", '{"sex": "M"}', 130)}
    [dataset] = run["inputs"]
    assert dataset["digest"] == sha256(root / "data" / "train.csv") and dataset["row_count"] == 3
    environment = run["environment"]
    assert environment["python_version"] == platform.python_version()
    assert environment["architecture"] == platform.machine()
    assert environment["lockfile_sha256"] == sha256(root / "requirements.txt")
    assert "flask" in {p["name"].lower() for p in environment["packages"]}
    assert int(environment["hardware"]["cpu_count"]) >= 1
    listed = api(client, token, f"/api/v1/runs/{run_id}/artifacts")["artifacts"]
    assert {a["path"]: a["sha256"] for a in listed} == {
        "model.bin": sha256(root / "model.bin"),
        "figures/loss.txt": sha256(root / "plots" / "loss.txt"),
        "figures/roc/points.txt": sha256(root / "plots" / "roc" / "points.txt")}


def test_json_file_keeps_decimal_text_and_json_output(server: str, token: str, client: Any,
                                                      tmp_path: Path) -> None:
    created = client.post("/api/v1/experiments", json={"name": "exact"},
                          headers={"Authorization": f"Bearer {token}"}).json
    (tmp_path / "w.bin").write_bytes(b"weights")
    (tmp_path / "run.json").write_text(json.dumps({
        "status": "KILLED", "artifacts": [{"path": "w.bin", "name": "model/w.bin"}],
        "metrics": [{"key": "auc", "value": "@"}]}).replace('"@"', "0.81234567890123456789"))
    done = run_record(tmp_path, "run.json", "--experiment", "exact", "--json", url=server,
                      token=token)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["experiment_id"] == created["id"]  # found by name, not created again
    assert out["artifacts"] == [{"path": "model/w.bin", "size": 7,
                                 "sha256": hashlib.sha256(b"weights").hexdigest()}]
    for receipt in out["receipts"]:
        entry = api(client, token, f"/api/v1/ledger/entries/{receipt['seq']}")
        assert (entry["kind"], entry["leaf_hash"]) == (receipt["kind"], receipt["leaf_hash"])
    run = api(client, token, f"/api/v1/runs/{out['run_id']}")
    assert run["status"] == "KILLED"
    assert run["metrics"][0]["value"] == "0.81234567890123456789"


def test_yaml_floats_keep_their_text_too(tmp_path: Path) -> None:
    (tmp_path / "run.yml").write_text("metrics: [{key: auc, value: 0.81234567890123456789}]\n")
    plan = record.plan(tmp_path / "run.yml", None)
    assert plan.metrics[0]["value"] == Decimal("0.81234567890123456789")
    assert dumps(plan.metrics) == '[{"key":"auc","value":0.81234567890123456789,"step":0}]'


def test_a_failed_step_ends_the_run_failed(server: str, token: str, client: Any, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any) -> Any:
        raise record.ApiProblem(500, "HTTP 500 Internal Server Error: disk full")

    monkeypatch.setattr(record.Client, "upload", refuse)
    workspace(tmp_path)
    with pytest.raises(record.RecordError, match=r"^upload model\.bin: HTTP 500 .*disk full; "
                       r"run (\w+) was ended as FAILED$") as caught:
        record.record_file(tmp_path / "run.yaml", "churn", server, token)
    run_id = str(caught.value).rsplit(" run ", 1)[1].split()[0]
    assert api(client, token, f"/api/v1/runs/{run_id}")["status"] == "FAILED"


def test_server_refusal_is_one_line_naming_the_step(server: str, token: str,
                                                    tmp_path: Path) -> None:
    (tmp_path / "run.yaml").write_text("parent_run_id: nope\n")
    line = one_line_error(run_record(tmp_path, "run.yaml", "--experiment", "e", url=server,
                                     token=token))
    assert "create run: HTTP 404 Not Found: parent run 'nope' does not exist" in line


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(("content", "token", "expected"), [
    ("params: {a: 1}\n", None, "MLAUDIT_TOKEN is not set"),
    ("params: {a: 1}\n", "t", "cannot reach http://127.0.0.1:"),
    ("metrics:\n  - {key: a, value: 1}\n  - {key: b, value: abc}\n", "t",
     "run.yaml: metrics[1].value: 'abc' is not a number"),
    ("metrics: [{key: a, value: 1}\n", "t", "run.yaml: not valid YAML: line 2 column 1"),
    ("parameters: {a: 1}\n", "t", "run.yaml: parameters: unknown field"),
    ("artifacts: [{path: missing.bin}]\n", "t",
     "run.yaml: artifacts[0].path: no such file or directory: missing.bin"),
    ("datasets: [{name: d, digest: abc, context: training}]\n", "t",
     "run.yaml: datasets[0].digest: must be 64 lowercase hex digits"),
])
def test_errors_are_one_line_and_come_before_any_request(
        tmp_path: Path, content: str, token: str | None, expected: str) -> None:
    """Nothing listens on the URL: any error but 'cannot reach' was found before sending."""
    (tmp_path / "run.yaml").write_text(content)
    done = run_record(tmp_path, "run.yaml", "--experiment", "e",
                      url=f"http://127.0.0.1:{free_port()}", token=token)
    assert expected in one_line_error(done)


def test_unreadable_file_is_one_line(tmp_path: Path) -> None:
    done = run_record(tmp_path, "absent.json", "--experiment", "e", url="http://127.0.0.1:9",
                      token="t")
    assert "cannot read absent.json" in one_line_error(done)
