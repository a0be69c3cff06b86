"""`mlaudit models`, `deploy` and `rollback` against a live server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from app import cli
from app.services import tokens

ROOT = Path(__file__).resolve().parents[1]
DIGEST = "sha256:" + "ab" * 32
POLICY = {"required_params": ["lr"], "minimums": [{"metric": "auc", "at_least": "0.75"}],
          "fairness": [{"metric": "selection_rate", "attribute": "sex",
                        "min_max_ratio_at_least": "0.8"}]}


@dataclass
class Done:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        assert self.code == 0, self.err
        return json.loads(self.out)


Mlaudit = Callable[..., Done]


@pytest.fixture
def people(services: Any, admin_token: str) -> dict[str, str]:
    def token(name: str, role: str) -> str:
        secret, _ = services.committer.run(
            lambda writer: tokens.create_token(writer, name, role, "test"))
        return str(secret)

    return {"admin": admin_token, "builder": token("builder", "writer"),
            "requester": token("requester", "writer"), "risk1": token("risk1", "approver"),
            "risk2": token("risk2", "approver")}


@pytest.fixture
def mlaudit(server: str, monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture[str]) -> Mlaudit:
    """mlaudit(token, *args): the CLI's main() in this process, with --url and --token."""
    for name in ("MLAUDIT_URL", "MLAUDIT_TOKEN"):
        monkeypatch.delenv(name, raising=False)

    def run(token: str | None, *args: str) -> Done:
        extra = ["--url", server] + (["--token", token] if token else [])
        code = cli.main([*args, *extra])
        out, err = capsys.readouterr()
        return Done(code, out, err)

    return run


def call(client: Any, token: str, method: str, path: str, payload: Any = None) -> Any:
    response = client.open(path, method=method, headers={"Authorization": f"Bearer {token}"},
                           data=None if payload is None else json.dumps(payload),
                           content_type="application/json")
    assert response.status_code < 300, response.json
    return response.json


@pytest.fixture
def model(client: Any, people: dict[str, str]) -> list[str]:
    """'scorecard' (sensitive attribute sex, gated by POLICY): version 1 passes, 2 fails auc."""
    builder = people["builder"]
    experiment = call(client, builder, "POST", "/api/v1/experiments", {"name": "credit"})["id"]
    runs = []
    for auc, female in (("0.81", "0.5"), ("0.70", "0.45")):
        run = call(client, builder, "POST", "/api/v1/runs", {"experiment_id": experiment})["id"]
        call(client, builder, "POST", f"/api/v1/runs/{run}/batch", {
            "params": [{"key": "lr", "value": "0.1"}],
            "metrics": [{"key": "auc", "value": auc},
                        {"key": "selection_rate", "value": "0.6", "group": {"sex": "M"}, "n": 90},
                        {"key": "selection_rate", "value": female, "group": {"sex": "F"},
                         "n": 80}]})
        put = client.put(f"/api/v1/runs/{run}/artifacts/model.bin", data=b"weights " + auc.encode(),
                         headers={"Authorization": f"Bearer {builder}"})
        assert put.status_code == 201, put.json
        runs.append(run)
    call(client, builder, "POST", "/api/v1/models",
         {"name": "scorecard", "sensitive_attributes": ["sex"]})
    for run in runs:
        call(client, builder, "POST", "/api/v1/models/scorecard/versions",
             {"run_id": run, "artifact_path": "model.bin"})
    call(client, people["admin"], "PUT", "/api/v1/models/scorecard/policy", {"policy": POLICY})
    for name, protected in (("prod-eu", True), ("dev", False), ("staging", False)):
        call(client, people["admin"], "POST", "/api/v1/environments",
             {"name": name, "protected": protected})
    return runs


def promote(client: Any, token: str, version: int, model: str = "scorecard",
            target: str = "Production") -> str:
    return str(call(client, token, "POST", f"/api/v1/models/{model}/versions/{version}/promotions",
                    {"target": target, "justification": "passed validation"})["id"])


def kinds(client: Any, token: str, out: str) -> list[str]:
    """The receipt lines' kinds, each checked against the ledger entry at its seq."""
    found = []
    for line in out.splitlines():
        if line.startswith("seq "):
            seq, kind, leaf = line[4:].split("  ")
            entry = call(client, token, "GET", f"/api/v1/ledger/entries/{seq}")
            assert (entry["kind"], entry["leaf_hash"]) == (kind, leaf.removeprefix("leaf "))
            found.append(kind)
    return found


def one_line_error(done: Done, code: int = 2) -> str:
    assert done.code == code, (done.out, done.err)
    assert "Traceback" not in done.err
    # the test's server runs in this process: its JSON access lines share stderr
    lines = [line for line in done.err.splitlines()
             if line.strip() and not line.startswith('{"ts": ')]
    assert len(lines) == 1 and lines[0].startswith("mlaudit: error: "), done.err
    return lines[0]


def test_pending_lists_the_promotion(client: Any, people: Any, model: Any,
                                     mlaudit: Mlaudit) -> None:
    promotion = promote(client, people["requester"], 1)
    done = mlaudit(people["risk1"], "models", "pending")
    assert done.code == 0, done.err
    header, row = done.out.splitlines()
    assert header.split() == ["ID", "MODEL", "VERSION", "TARGET", "REQUESTED", "BY", "GATES"]
    assert row.split() == [promotion, "scorecard", "1", "stage:Production", "token:requester",
                           "passed", "(3)"]
    assert header.index("GATES") == row.index("passed")  # aligned columns
    listed = mlaudit(people["risk1"], "models", "pending", "--model", "scorecard", "--json")
    [only] = listed.json()["promotions"]
    assert (only["id"], only["status"], only["gates"]["passed"]) == (promotion, "pending", True)
    other = mlaudit(people["risk1"], "models", "pending", "--model", "other")
    assert other.out.strip() == "no pending promotions"


def test_show_has_gates_decisions_and_group_figures(client: Any, people: Any, model: Any,
                                                    mlaudit: Mlaudit) -> None:
    promotion = promote(client, people["requester"], 2)
    refused = mlaudit(people["risk1"], "models", "approve", promotion, "--comment", "ok")
    assert "policy gates fail" in one_line_error(refused, 1)
    done = mlaudit(people["risk2"], "models", "show", promotion)
    assert done.code == 0, done.err
    lines = done.out.splitlines()
    assert f"promotion       {promotion}" in lines and "status          pending" in lines
    gates = {tuple(line.split()[:2]) for line in lines if line.split()[:1] in (["pass"], ["FAIL"])}
    assert gates == {("pass", "required_param:lr"), ("FAIL", "minimum:auc"),
                     ("FAIL", "fairness:selection_rate/sex/min_max_ratio")}
    assert any("auc: 0.70 is below the minimum 0.75" in line for line in lines)
    assert any("token:risk1" in line and "refused" in line for line in lines)
    assert f"per-group figures (run {model[1]}):" in lines
    assert any(line.strip().startswith("selection_rate by sex: reference M") for line in lines)
    assert any(line.split() == ["F", "0.45", "80", "0.75", "-0.15", "ratio_out_of_band"]
               for line in lines)
    shown = mlaudit(people["risk2"], "models", "show", promotion, "--json").json()
    assert shown["promotion"]["id"] == promotion and shown["run_id"] == model[1]
    assert [r["passed"] for r in shown["promotion"]["gates"]["results"]].count(False) == 2
    assert [d["outcome"] for d in shown["promotion"]["decisions"]] == ["refused"]
    [summary] = shown["group_figures"]
    assert (summary["key"], summary["attribute"], summary["reference"]) == (
        "selection_rate", "sex", "M")
    assert {g["group"]: g["ratio"] for g in summary["groups"]} == {"F": "0.75", "M": "1"}


def test_approve_deploy_and_ask_what_is_deployed(client: Any, people: Any, model: Any,
                                                 mlaudit: Mlaudit) -> None:
    promotion = promote(client, people["requester"], 1)
    done = mlaudit(people["risk1"], "models", "approve", promotion, "--comment", "reviewed")
    assert done.out.splitlines()[0] == f"promotion {promotion}: approved"
    assert kinds(client, people["admin"], done.out) == ["decision.approved",
                                                        "model_version.stage_set"]
    deployed = mlaudit(people["requester"], "deploy", "scorecard", "--version", "1",
                       "--environment", "prod-eu", "--promotion", promotion,
                       "--endpoint", "https://scoring.example/v1", "--image-digest", DIGEST)
    assert deployed.code == 0, deployed.err
    assert "scorecard version 1 in prod-eu" in deployed.out.splitlines()[0]
    assert f"endpoint=https://scoring.example/v1, image_digest={DIGEST}" in deployed.out
    assert kinds(client, people["admin"], deployed.out) == ["deployment.recorded"]
    live = mlaudit(people["risk2"], "models", "deployed", "scorecard", "--environment", "prod-eu")
    assert live.out.startswith("scorecard version 1 was live in prod-eu at ")
    assert f"approved by promotion {promotion} (approved; 1 decision(s))" in live.out
    answer = mlaudit(people["risk2"], "models", "deployed", "scorecard", "--environment",
                     "prod-eu", "--json").json()
    assert (answer["version"], answer["promotion"]["id"]) == (1, promotion)


def test_refusals_exit_1_with_the_reason_and_are_recorded(client: Any, people: Any, model: Any,
                                                          mlaudit: Mlaudit) -> None:
    own = promote(client, people["admin"], 1)
    line = one_line_error(mlaudit(people["admin"], "models", "approve", own, "--comment", "ok"), 1)
    assert line == ("mlaudit: error: decision refused: token:admin requested this promotion; "
                    "an independent approver must decide")
    call(client, people["admin"], "POST", "/api/v1/models", {"name": "twokeys", "quorum": 2})
    call(client, people["builder"], "POST", "/api/v1/models/twokeys/versions",
         {"run_id": model[0], "artifact_path": "model.bin"})
    promotion = promote(client, people["requester"], 1, "twokeys", "@champion")
    first = mlaudit(people["risk1"], "models", "approve", promotion, "--comment", "ok")
    assert first.out.splitlines()[0] == f"promotion {promotion}: pending"
    again = mlaudit(people["risk1"], "models", "approve", promotion, "--comment", "ok")
    assert "already approved this promotion" in one_line_error(again, 1)
    writer = mlaudit(people["builder"], "models", "reject", promotion, "--comment", "no")
    assert one_line_error(writer, 1).endswith("role 'writer' may not do this")
    recorded = call(client, people["admin"], "GET", f"/api/v1/promotions/{promotion}")
    assert [d["outcome"] for d in recorded["decisions"]] == ["approve", "refused"]


def test_reject(client: Any, people: Any, model: Any, mlaudit: Mlaudit) -> None:
    promotion = promote(client, people["requester"], 1)
    done = mlaudit(people["risk2"], "models", "reject", promotion, "--comment", "not yet",
                   "--json").json()
    assert (done["promotion_id"], done["status"]) == (promotion, "rejected")
    [receipt] = done["receipts"]
    entry = call(client, people["admin"], "GET", f"/api/v1/ledger/entries/{receipt['seq']}")
    assert entry["kind"] == receipt["kind"] == "decision.rejected"
    assert mlaudit(people["risk2"], "models", "pending").out.strip() == "no pending promotions"


def test_rollback_to_an_earlier_approved_version(client: Any, people: Any, model: Any,
                                                 mlaudit: Mlaudit) -> None:
    for version in (1, 2):
        promotion = promote(client, people["requester"], version)
        approved = mlaudit(people["risk1"], "models", "approve", promotion, "--comment", "ok",
                           "--exception", "challenger, monitored weekly")
        assert approved.out.startswith(f"promotion {promotion}: approved"), approved.err
        deployed = mlaudit(people["requester"], "deploy", "scorecard", "--version",
                           str(version), "--environment", "prod-eu")
        assert deployed.code == 0, deployed.err
    done = mlaudit(people["requester"], "rollback", "scorecard", "--version", "1",
                   "--environment", "prod-eu", "--reason", "drift in v2")
    assert done.code == 0, done.err
    assert "reason       drift in v2" in done.out
    # prod-eu is protected: version 2, rolled back from, leaves Production with the reason.
    assert kinds(client, people["admin"], done.out) == ["deployment.rolled_back",
                                                        "model_version.demoted"]
    answer = mlaudit(people["risk1"], "models", "deployed", "scorecard", "--environment",
                     "prod-eu", "--json").json()
    assert answer["version"] == 1 and answer["deployment"]["rollback_of"] is not None


def test_errors_are_one_line(client: Any, people: Any, model: Any, mlaudit: Mlaudit) -> None:
    writer, approver = people["requester"], people["risk1"]
    deploy = ("deploy", "scorecard", "--version", "1", "--environment")
    cases = [
        (approver, ("models", "show", "nope"), "HTTP 404 Not Found: promotion 'nope' does not"),
        (writer, (*deploy, "prod-eu"), "HTTP 409 Conflict: prod-eu is protected"),
        (writer, (*deploy, "dev", "--image-digest", "latest"), "--image-digest must be sha256:"),
        (writer, ("rollback", "scorecard", "--version", "1", "--environment", "dev",
                  "--reason", "r"), "nothing is deployed to dev"),
        (approver, ("models", "deployed", "scorecard", "--environment", "dev", "--at", "noon"),
         "--at 'noon' is neither a date (YYYY-MM-DD) nor an RFC 3339 instant"),
        (approver, ("models", "deployed", "scorecard", "--environment", "dev", "--at",
                    "2026-03-01T12:00:00"), "instant with its offset"),
        (None, ("models", "pending"), "MLAUDIT_TOKEN is not set (or pass --token)"),
        ("wrong", ("models", "pending"), "HTTP 401 Unauthorized: the token is not valid"),
    ]
    for token, args, expected in cases:
        assert expected in one_line_error(mlaudit(token, *args)), args


def test_entry_point_reads_the_environment(client: Any, people: Any, model: Any, server: str,
                                           tmp_path: Path) -> None:
    promotion = promote(client, people["requester"], 1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLAUDIT_")}
    env.pop("DATABASE_URL", None)
    env.update({"MLAUDIT_HOME": str(tmp_path / "cli-home"), "PYTHONPATH": str(ROOT),
                "MLAUDIT_URL": server, "MLAUDIT_TOKEN": people["risk1"]})

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "app.cli", *args], env=env,
                              capture_output=True, text=True, timeout=60)

    listed = run("models", "pending", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [p["id"] for p in json.loads(listed.stdout)["promotions"]] == [promotion]
    missing = run("models", "approve", "nope", "--comment", "ok")
    assert one_line_error(Done(missing.returncode, missing.stdout, missing.stderr)) == (
        "mlaudit: error: HTTP 404 Not Found: promotion 'nope' does not exist")


# -- request-promotion, withdraw, deployments list, and "nothing was live" (issue 16) ---------

def test_request_promotion_then_withdraw_it(client: Any, people: Any, model: Any,
                                            mlaudit: Mlaudit) -> None:
    requester = people["requester"]
    done = mlaudit(requester, "models", "request-promotion", "scorecard", "1", "--target",
                   "Production", "--justification", "passed validation", "--classification",
                   "material")
    assert done.code == 0, done.err
    first, gates, *_ = done.out.splitlines()
    promotion = first.split()[1].rstrip(":")
    assert first == f"promotion {promotion}: pending, scorecard version 1 to stage:Production"
    assert gates.split() == ["gates", "passed", "(3)"]
    assert kinds(client, people["admin"], done.out) == ["promotion.requested"]
    stored = call(client, people["admin"], "GET", f"/api/v1/promotions/{promotion}")
    assert (stored["requested_by"], stored["justification"], stored["classification"]) == (
        "token:requester", "passed validation", "material")
    assert promotion in mlaudit(people["risk1"], "models", "pending").out

    other = mlaudit(people["builder"], "models", "withdraw", promotion)
    assert one_line_error(other).endswith("only the requester or an admin may withdraw a "
                                          "promotion")
    approver = mlaudit(people["risk1"], "models", "withdraw", promotion)
    assert one_line_error(approver).endswith("role 'approver' may not do this")
    withdrawn = mlaudit(requester, "models", "withdraw", promotion)
    assert withdrawn.out.splitlines()[0] == f"promotion {promotion}: withdrawn", withdrawn.err
    assert kinds(client, people["admin"], withdrawn.out) == ["promotion.withdrawn"]
    assert call(client, people["admin"], "GET", f"/api/v1/promotions/{promotion}")[
        "status"] == "withdrawn"
    assert mlaudit(people["risk1"], "models", "pending").out.strip() == "no pending promotions"
    again = mlaudit(requester, "models", "withdraw", promotion)
    assert one_line_error(again).endswith(f"promotion {promotion!r} is already withdrawn")


def test_request_promotion_json_and_refusals(client: Any, people: Any, model: Any,
                                             mlaudit: Mlaudit) -> None:
    requester = people["requester"]
    answer = mlaudit(requester, "models", "request-promotion", "scorecard", "2", "--target",
                     "@champion", "--justification", "challenger", "--json").json()
    assert (answer["promotion"]["target"], answer["promotion"]["gates"]["passed"]) == (
        "alias:champion", False)
    assert answer["receipt"]["kind"] == "promotion.requested"
    cases = [(("scorecard", "1", "--target", "Staging"), "HTTP 400 Bad Request: Staging is not "
              "protected for 'scorecard': move it directly"),
             (("scorecard", "9", "--target", "Production"), "HTTP 404 Not Found"),
             (("nope", "1", "--target", "Production"), "HTTP 404 Not Found")]
    for args, expected in cases:
        done = mlaudit(requester, "models", "request-promotion", *args, "--justification", "j")
        assert expected in one_line_error(done), args
    refused = mlaudit(people["risk1"], "models", "request-promotion", "scorecard", "1",
                      "--target", "Production", "--justification", "j")
    assert one_line_error(refused).endswith("role 'approver' may not do this")


def approve_and_deploy(client: Any, people: Any, version: int, environment: str) -> str:
    promotion = promote(client, people["requester"], version)
    call(client, people["risk1"], "POST", f"/api/v1/promotions/{promotion}/decisions",
         {"decision": "approve", "comment": "ok", "exception": {"justification": "monitored"}})
    call(client, people["requester"], "POST", "/api/v1/models/scorecard/deployments",
         {"version": version, "environment": environment})
    return promotion


def test_deployments_list_shows_deployments_and_rollbacks(client: Any, people: Any, model: Any,
                                                          mlaudit: Mlaudit) -> None:
    empty = mlaudit(people["risk1"], "deployments", "list", "scorecard")
    assert (empty.code, empty.out.strip()) == (0, "no deployments of scorecard")
    first = approve_and_deploy(client, people, 1, "prod-eu")
    second = approve_and_deploy(client, people, 2, "prod-eu")
    call(client, people["requester"], "POST", "/api/v1/models/scorecard/deployments",
         {"version": 2, "environment": "staging"})
    call(client, people["requester"], "POST", "/api/v1/models/scorecard/rollbacks",
         {"version": 1, "environment": "prod-eu", "reason": "drift in v2"})
    done = mlaudit(people["risk2"], "deployments", "list", "scorecard")
    assert done.code == 0, done.err
    header, *rows = done.out.splitlines()
    assert header.split() == ["SEQ", "WHEN", "ENVIRONMENT", "VERSION", "ACTION", "BY",
                              "PROMOTION", "REASON"]
    assert [row.split()[2:] for row in rows] == [
        ["prod-eu", "1", "deploy", "token:requester", first, "-"],
        ["prod-eu", "2", "deploy", "token:requester", second, "-"],
        ["staging", "2", "deploy", "token:requester", second, "-"],
        ["prod-eu", "1", "rollback", "from", "2", "token:requester", first, "drift", "in", "v2"]]
    assert header.index("PROMOTION") == rows[0].index(first)  # aligned columns
    seqs = [int(row.split()[0]) for row in rows]
    for row, seq in zip(rows, seqs, strict=True):
        entry = call(client, people["admin"], "GET", f"/api/v1/ledger/entries/{seq}")
        assert entry["kind"] == ("deployment.rolled_back" if "rollback" in row
                                 else "deployment.recorded")
    staging = mlaudit(people["risk2"], "deployments", "list", "scorecard", "--environment",
                      "staging", "--json").json()
    assert [(d["version"], d["environment"]) for d in staging["deployments"]] == [(2, "staging")]
    none = mlaudit(people["risk2"], "deployments", "list", "scorecard", "--environment", "dev")
    assert none.out.strip() == "no deployments of scorecard in dev"
    missing = mlaudit(people["risk2"], "deployments", "list", "nope")
    assert one_line_error(missing) == ("mlaudit: error: HTTP 404 Not Found: model 'nope' does "
                                       "not exist")


def test_nothing_live_is_an_answer_and_at_takes_a_date(client: Any, people: Any, model: Any,
                                                        mlaudit: Mlaudit) -> None:
    asked = ("models", "deployed", "scorecard", "--environment", "prod-eu")
    nothing = mlaudit(people["risk1"], *asked)
    assert nothing.code == 0, nothing.err
    [line] = nothing.out.splitlines()
    assert line.startswith("no version of scorecard was live in prod-eu at ")
    assert mlaudit(people["risk1"], *asked, "--json").json()["version"] is None
    approve_and_deploy(client, people, 1, "prod-eu")
    [deployment] = call(client, people["admin"], "GET",
                        "/api/v1/models/scorecard/deployments")["deployments"]
    day = date.fromisoformat(deployment["deployed_at"][:10])
    that_day = mlaudit(people["risk1"], *asked, "--at", day.isoformat())
    assert that_day.out.splitlines()[0] == (  # the end of that day, UTC
        f"scorecard version 1 was live in prod-eu at {day.isoformat()}T23:59:59.999999+00:00")
    day_before = mlaudit(people["risk1"], *asked, "--at", (day - timedelta(days=1)).isoformat())
    assert day_before.code == 0 and day_before.out.strip() == (
        f"no version of scorecard was live in prod-eu at "
        f"{day - timedelta(days=1)}T23:59:59.999999+00:00")
    exact = mlaudit(people["risk1"], *asked, "--at", deployment["deployed_at"], "--json").json()
    assert (exact["version"], exact["deployment"]["id"]) == (1, deployment["id"])
    missing = mlaudit(people["risk1"], "models", "deployed", "nope", "--environment", "prod-eu")
    assert one_line_error(missing) == ("mlaudit: error: HTTP 404 Not Found: model 'nope' does "
                                       "not exist")
