"""Separation of duties holds on every path: /api/v1, the MLflow routes, batches, tags, the CLI.

The rule (app/services/promotions.py): a version reaches a protected stage or alias (by default
Production and @champion), or a protected environment (as declared), only under an approved
promotion, and a promotion is approved only by `quorum` distinct approvers, none of whom
requested it or built the version: registered it, created its run, recorded a file it pins, or
created the MLflow logged model it was registered from. Each attempt below is refused with a
4xx and writes nothing; a refused decision alone is recorded, as its one `decision.refused`
entry (README, "Model risk officers and deployers on the command line").
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from app import cli
from app.services import tokens

V1, MLFLOW = "/api/v1", "/api/2.0/mlflow"
DECIDE = {"decision": "approve", "comment": "independent review"}


@dataclass
class Registry:
    """The client, the tokens and ledger reads every test needs."""

    client: Any
    conn: Any
    secrets: dict[str, str]

    def send(self, who: str, method: str, path: str, payload: Any = None) -> Any:
        return self.client.open(path, method=method,
                                headers={"Authorization": f"Bearer {self.secrets[who]}"},
                                data=json.dumps(payload or {}), content_type="application/json")

    def call(self, who: str, method: str, path: str, payload: Any = None) -> Any:
        response = self.send(who, method, path, payload)
        assert response.status_code < 300, (path, response.get_data(as_text=True))
        return response.json

    def upload(self, who: str, run_id: str, path: str, data: bytes) -> None:
        response = self.client.put(f"{V1}/runs/{run_id}/artifacts/{path}", data=data,
                                   headers={"Authorization": f"Bearer {self.secrets[who]}"})
        assert response.status_code == 201, response.json

    def size(self) -> int:
        return int(self.conn.execute("SELECT size FROM ledger_head").fetchone()[0])

    def kinds_since(self, size: int) -> list[str]:
        rows = self.conn.execute("SELECT kind FROM ledger_entries WHERE seq >= %s ORDER BY seq",
                                 (size,)).fetchall()
        return [kind for (kind,) in rows]

    def stage(self, model: str, version: int = 1) -> str:
        return str(self.call("admin", "GET", f"{V1}/models/{model}/versions/{version}")["stage"])

    def aliases(self, model: str) -> dict[str, int]:
        return dict(self.call("admin", "GET", f"{V1}/models/{model}")["aliases"])

    def status(self, promotion: str) -> str:
        return str(self.call("admin", "GET", f"{V1}/promotions/{promotion}")["status"])

    @contextmanager
    def nothing_written(self) -> Iterator[None]:
        before = self.size()
        yield
        assert self.kinds_since(before) == []

    # Building blocks: a run with a model file, a version of it, a promotion.

    def trained_run(self, who: str = "builder", files_by: str | None = None) -> str:
        experiment = self.call(who, "POST", f"{V1}/experiments",
                               {"name": f"exp-{self.size()}"})["id"]
        run = str(self.call(who, "POST", f"{V1}/runs", {"experiment_id": experiment})["id"])
        self.upload(files_by or who, run, "model/weights.bin", f"weights of {run}".encode())
        return run

    def model(self, name: str, who: str = "builder", run: str | None = None,
              registrant: str | None = None, **options: Any) -> str:
        """A model whose version 1 comes from `run` (a fresh one by `who` if not given)."""
        self.call(who, "POST", f"{V1}/models", {"name": name, **options})
        run = run or self.trained_run(who)
        self.call(registrant or who, "POST", f"{V1}/models/{name}/versions",
                  {"run_id": run, "artifact_path": "model"})
        return run

    def promote(self, model: str, version: int = 1, target: str = "Production",
                who: str = "requester") -> str:
        return str(self.call(who, "POST", f"{V1}/models/{model}/versions/{version}/promotions",
                             {"target": target, "justification": "validated"})["id"])

    def approve(self, promotion: str, who: str = "risk1") -> Any:
        return self.call(who, "POST", f"{V1}/promotions/{promotion}/decisions", DECIDE)


@pytest.fixture
def reg(client: Any, conn: Any, services: Any, admin_token: str) -> Registry:
    def token(name: str, role: str) -> str:
        secret, _ = services.committer.run(
            lambda writer: tokens.create_token(writer, name, role, "test"))
        return str(secret)

    secrets = {"admin": admin_token, "builder": token("builder", "writer"),
               "requester": token("requester", "writer"), "risk1": token("risk1", "approver"),
               "risk2": token("risk2", "approver"), "auditor": token("examiner", "auditor")}
    registry = Registry(client, conn, secrets)
    for name, protected in (("prod", True), ("prod-eu", True), ("production", True),
                            ("dev", False)):  # environments are declared by an admin
        registry.call("admin", "POST", f"{V1}/environments", {"name": name,
                                                              "protected": protected})
    return registry


def refused(response: Any, status: int, code: str | None = None, says: str = "") -> None:
    """A 4xx in the route's own error format: MLflow's error_code, or problem+json."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    if code is not None:
        assert response.json["error_code"] == code, response.json
        message = response.json["message"]
    else:
        assert response.mimetype == "application/problem+json", response.mimetype
        message = response.json["detail"]
    assert says in message, message


def mlflow_refused(response: Any, says: str = "") -> None:
    refused(response, 403, "PERMISSION_DENIED", says)


# ---- the legitimate path -----------------------------------------------------------------------


def test_an_independent_approval_opens_every_protected_target(reg: Registry) -> None:
    reg.model("credit")
    reg.call("builder", "POST", f"{MLFLOW}/model-versions/create",
             {"name": "credit", "source": f"runs:/{reg.trained_run()}/model"})
    production, champion = reg.promote("credit"), reg.promote("credit", 2, "@champion")
    for promotion in (production, champion):
        assert reg.approve(promotion)["status"] == "approved"
    assert reg.stage("credit") == "Production" and reg.aliases("credit") == {"champion": 2}
    with reg.nothing_written():  # already there: MLflow's calls simply succeed
        assert reg.send("requester", "POST", f"{MLFLOW}/model-versions/transition-stage", {
            "name": "credit", "version": "1", "stage": "Production"}).status_code == 200
        assert reg.send("requester", "POST", f"{MLFLOW}/registered-models/alias", {
            "name": "credit", "version": "2", "alias": "champion"}).status_code == 200
    deployed = reg.call("requester", "POST", f"{V1}/models/credit/deployments",
                        {"version": 1, "environment": "prod-eu", "promotion_id": production})
    assert deployed["deployment"]["promotion_id"] == production


# ---- MLflow routes ------------------------------------------------------------------------------


def test_mlflow_stage_and_alias_routes_need_an_approval(reg: Registry) -> None:
    reg.model("credit")
    created = reg.call("builder", "POST", f"{MLFLOW}/model-versions/create", {
        "name": "credit", "source": f"runs:/{reg.trained_run()}/model"})["model_version"]
    assert created["version"] == "2"
    pending = reg.promote("credit", 2)  # requested, not approved: no way in yet
    attempts = [("POST", "model-versions/transition-stage",
                 {"name": "credit", "version": version, "stage": stage,
                  "archive_existing_versions": archive})
                for version in ("1", "2") for stage in ("Production", "production", "PRODUCTION")
                for archive in (False, True)]
    attempts += [("POST", "registered-models/alias",
                  {"name": "credit", "version": version, "alias": "champion"})
                 for version in ("1", "2")]
    for who in ("builder", "requester", "admin"):
        for method, path, payload in attempts:
            with reg.nothing_written():
                mlflow_refused(reg.send(who, method, f"{MLFLOW}/{path}", payload),
                               "/api/v1/models/credit/versions/")
    assert [reg.stage("credit", v) for v in (1, 2)] == ["None", "None"]
    assert reg.aliases("credit") == {} and reg.status(pending) == "pending"


def test_an_approval_covers_its_version_and_target_only(reg: Registry) -> None:
    reg.model("credit")
    reg.call("builder", "POST", f"{V1}/models/credit/versions",
             {"run_id": reg.trained_run(), "artifact_path": "model"})
    reg.approve(reg.promote("credit", 1, "@champion"))
    reg.approve(reg.promote("credit", 1, "Production"))
    with reg.nothing_written():
        mlflow_refused(reg.send("requester", "POST", f"{MLFLOW}/model-versions/transition-stage",
                                {"name": "credit", "version": "2", "stage": "Production",
                                 "archive_existing_versions": True}), "is for version 1")
        mlflow_refused(reg.send("requester", "POST", f"{MLFLOW}/registered-models/alias",
                                {"name": "credit", "version": "2", "alias": "champion"}),
                       "is for version 1")
        mlflow_refused(reg.send("admin", "DELETE", f"{MLFLOW}/registered-models/alias",
                                {"name": "credit", "alias": "champion"}),
                       "leaves a version only with a reason")
    # archive_existing_versions archived nobody: version 1 is still the one in Production
    assert [reg.stage("credit", v) for v in (1, 2)] == ["Production", "None"]
    # Another spelling of the alias is the same protected name (issue 16), and refused.
    with reg.nothing_written():
        mlflow_refused(reg.send("requester", "POST", f"{MLFLOW}/registered-models/alias",
                                {"name": "credit", "version": "2", "alias": "Champion"}),
                       "use @champion")
    got = reg.call("requester", "GET",
                   f"{MLFLOW}/registered-models/alias?name=credit&alias=champion")
    assert got["model_version"]["version"] == "1"


def test_tags_and_batches_are_never_approvals(reg: Registry) -> None:
    run = reg.model("credit")
    promotion = reg.promote("credit")
    forged = [{"key": key, "value": value} for key, value in (
        ("mlaudit.approved", "true"), ("approval", promotion), ("approved_by", "token:risk1"),
        ("mlflow.approval.status", "APPROVED"), ("promotion", promotion))]
    reg.call("requester", "POST", f"{MLFLOW}/runs/log-batch", {"run_id": run, "tags": forged})
    reg.call("requester", "POST", f"{V1}/runs/{run}/batch",
             {"tags": {t["key"]: t["value"] for t in forged}})
    for tag in forged:
        reg.call("requester", "POST", f"{MLFLOW}/model-versions/set-tag",
                 {"name": "credit", "version": "1", **tag})
        reg.call("requester", "POST", f"{MLFLOW}/registered-models/set-tag",
                 {"name": "credit", **tag})
    with reg.nothing_written():
        mlflow_refused(reg.send("requester", "POST", f"{MLFLOW}/model-versions/transition-stage",
                                {"name": "credit", "version": "1", "stage": "Production"}))
        mlflow_refused(reg.send("requester", "POST", f"{MLFLOW}/registered-models/alias",
                                {"name": "credit", "version": "1", "alias": "champion"}))
        refused(reg.send("requester", "POST", f"{V1}/models/credit/deployments",
                         {"version": 1, "environment": "prod-eu"}), 409, says="protected")
    assert reg.status(promotion) == "pending" and reg.stage("credit") == "None"


# ---- /api/v1 transition, deployments and rollbacks ---------------------------------------------


def test_v1_transition_and_deployments_need_an_approval(reg: Registry) -> None:
    reg.model("credit")
    reg.call("builder", "POST", f"{V1}/models/credit/versions",
             {"run_id": reg.trained_run(), "artifact_path": "model"})
    pending = reg.promote("credit", 1)
    rejected = reg.promote("credit", 1, "@champion")
    reg.call("risk1", "POST", f"{V1}/promotions/{rejected}/decisions",
             {"decision": "reject", "comment": "not yet"})
    approved_v2 = reg.promote("credit", 2)
    reg.approve(approved_v2)
    deploy = f"{V1}/models/credit/deployments"
    attempts = [(f"{V1}/models/credit/versions/1/transition", {"target": target}, "protected")
                for target in ("Production", "production", "@champion")]
    attempts += [(deploy, {"version": 1, "environment": env}, "protected")
                 for env in ("prod", "prod-eu", "production")]
    attempts += [(deploy, {"version": 1, "environment": "dev", "promotion_id": promotion},
                  "is not an approved promotion of version 1")
                 for promotion in (pending, rejected, approved_v2)]
    for who in ("requester", "builder", "admin"):
        for path, payload, says in attempts:
            with reg.nothing_written():
                refused(reg.send(who, "POST", path, payload), 409, says=says)
    # A rollback restores only a version that holds an approval.
    reg.call("requester", "POST", deploy, {"version": 1, "environment": "dev"})
    reg.call("requester", "POST", deploy, {"version": 2, "environment": "dev"})
    reg.call("requester", "POST", deploy, {"version": 2, "environment": "prod-eu"})
    for environment, says in (("dev", "holds no approved promotion"),
                              ("prod-eu", "was never deployed to prod-eu")):
        with reg.nothing_written():
            refused(reg.send("requester", "POST", f"{V1}/models/credit/rollbacks", {
                "version": 1, "environment": environment, "reason": "r"}), 409, says=says)
    assert reg.stage("credit") == "None" and reg.status(pending) == "pending"


# ---- who may decide -----------------------------------------------------------------------------


def assert_decision_refused(reg: Registry, who: str, promotion: str, says: str) -> None:
    """403 with the reason; the ledger gains exactly the decision.refused entry; no move."""
    before = reg.size()
    refused(reg.send(who, "POST", f"{V1}/promotions/{promotion}/decisions", DECIDE), 403,
            says=says)
    assert reg.kinds_since(before) == ["decision.refused"]
    assert reg.status(promotion) == "pending"


def test_no_one_approves_what_they_requested_or_built(reg: Registry) -> None:
    # Writers request and build but never decide (test_roles_that_may_not_decide_...); the
    # admin is the one role that does all three, so each conflict is tried as the admin.
    reg.model("credit")
    by_admin = reg.promote("credit", target="@champion", who="admin")
    assert_decision_refused(reg, "admin", by_admin, "admin requested this promotion")
    # the admin created the run (someone else registered the version), then registered one
    reg.model("admin-run", run=reg.trained_run("admin"), registrant="builder")
    assert_decision_refused(reg, "admin", reg.promote("admin-run"),
                            "admin created the version's source run")
    reg.model("admin-version", registrant="admin")
    assert_decision_refused(reg, "admin", reg.promote("admin-version"),
                            "admin registered this model version")
    # the admin registered it through MLflow's model-versions/create
    reg.call("builder", "POST", f"{V1}/models", {"name": "via-mlflow"})
    reg.call("admin", "POST", f"{MLFLOW}/model-versions/create",
             {"name": "via-mlflow", "source": f"runs:/{reg.trained_run()}/model"})
    assert_decision_refused(reg, "admin", reg.promote("via-mlflow"),
                            "admin registered this model version")
    assert [reg.stage(m) for m in ("credit", "admin-run", "admin-version", "via-mlflow")] == \
        ["None"] * 4 and reg.aliases("credit") == {}
    assert reg.approve(by_admin)["status"] == "approved"  # risk1 is independent


def test_no_one_approves_a_model_whose_files_they_recorded(reg: Registry) -> None:
    """The admin (the one role that both writes and decides) uploads the weights into the
    builder's run, or logs the MLflow model they come from; the builder registers it."""
    reg.model("weights", run=reg.trained_run("builder", files_by="admin"))
    assert_decision_refused(reg, "admin", reg.promote("weights"),
                            "admin recorded model/weights.bin, a file this version pins")
    run = reg.trained_run()
    experiment = reg.call("builder", "GET", f"{V1}/runs/{run}")["experiment_id"]
    logged = reg.call("admin", "POST", f"{MLFLOW}/logged-models", {
        "experiment_id": experiment, "name": "lm", "source_run_id": run})["model"]["info"]
    put = reg.client.put(f"/api/2.0/mlflow-artifacts/artifacts/{experiment}/models/"
                         f"{logged['model_id']}/artifacts/model.pkl", data=b"pickled",
                         headers={"Authorization": f"Bearer {reg.secrets['builder']}"})
    assert put.status_code == 200, put.json
    reg.call("builder", "POST", f"{V1}/models", {"name": "logged"})
    reg.call("builder", "POST", f"{MLFLOW}/model-versions/create", {
        "name": "logged", "source": f"models:/{logged['model_id']}",
        "model_id": logged["model_id"]})
    assert_decision_refused(reg, "admin", reg.promote("logged"),
                            "admin created the logged model this version was registered from")
    # an independent approver still can
    assert reg.approve(reg.promote("weights", target="@champion"), "risk2")["status"] == \
        "approved"


def test_a_quorum_needs_distinct_independent_approvers(reg: Registry) -> None:
    reg.model("twokeys", quorum=2)
    promotion = reg.promote("twokeys")
    assert reg.approve(promotion, "risk1")["status"] == "pending"
    assert_decision_refused(reg, "risk1", promotion, "already approved this promotion")
    with reg.nothing_written():  # one approval of two opens nothing
        mlflow_refused(reg.send("requester", "POST", f"{MLFLOW}/model-versions/transition-stage",
                                {"name": "twokeys", "version": "1", "stage": "Production"}))
        refused(reg.send("requester", "POST", f"{V1}/models/twokeys/deployments",
                         {"version": 1, "environment": "prod"}), 409, says="protected")
    assert reg.approve(promotion, "risk2")["status"] == "approved"
    assert reg.stage("twokeys") == "Production"
    with reg.nothing_written():
        refused(reg.send("risk2", "POST", f"{V1}/promotions/{promotion}/decisions", DECIDE),
                409, says="already approved")


def test_roles_that_may_not_decide_write_nothing(reg: Registry) -> None:
    reg.model("credit")
    promotion = reg.promote("credit")
    for who, role in (("requester", "writer"), ("builder", "writer"), ("auditor", "auditor")):
        with reg.nothing_written():
            refused(reg.send(who, "POST", f"{V1}/promotions/{promotion}/decisions", DECIDE),
                    403, says=f"role {role!r} may not do this")
    assert reg.status(promotion) == "pending"


# ---- revoked tokens and names -------------------------------------------------------------------


def test_a_revoked_approver_cannot_decide_nor_come_back_under_its_name(
        reg: Registry, run_cli: Any) -> None:
    reg.model("credit")
    promotion = reg.promote("credit")
    assert run_cli("token", "revoke", "risk1").returncode == 0
    with reg.nothing_written():
        refused(reg.send("risk1", "POST", f"{V1}/promotions/{promotion}/decisions", DECIDE),
                401)
        again = run_cli("token", "create", "--name", "risk1", "--role", "approver")
        assert again.returncode != 0 and "already exists" in again.stderr
        taken = run_cli("token", "create", "--name", "requester", "--role", "approver")
        assert taken.returncode != 0 and "already exists" in taken.stderr
    # MLflow's basic credentials must name the token they carry
    basic = base64.b64encode(f"risk2:{reg.secrets['requester']}".encode()).decode()
    with reg.nothing_written():
        response = reg.client.post(f"{MLFLOW}/model-versions/transition-stage",
                                   headers={"Authorization": f"Basic {basic}"},
                                   json={"name": "credit", "version": "1", "stage": "Staging"})
        refused(response, 401, "UNAUTHENTICATED")
    assert reg.status(promotion) == "pending"


# ---- the registry CLI ---------------------------------------------------------------------------


Mlaudit = Callable[..., tuple[int, str, str]]


@pytest.fixture
def mlaudit(server: str, monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture[str]) -> Mlaudit:
    """mlaudit(token secret, *args): the CLI's main() against the live server."""
    for name in ("MLAUDIT_URL", "MLAUDIT_TOKEN"):
        monkeypatch.delenv(name, raising=False)

    def run(token: str, *args: str) -> tuple[int, str, str]:
        code = cli.main([*args, "--url", server, "--token", token])
        out, err = capsys.readouterr()
        return code, out, "\n".join(line for line in err.splitlines()
                                    if not line.startswith('{"ts": '))

    return run


def test_the_registry_cli_offers_no_way_around(reg: Registry, mlaudit: Mlaudit) -> None:
    reg.model("credit")
    reg.call("builder", "POST", f"{V1}/models/credit/versions",
             {"run_id": reg.trained_run(), "artifact_path": "model"})
    promotion, admins = reg.promote("credit"), reg.promote("credit", 2, who="admin")
    s = reg.secrets
    for who, args, code, says in (
            ("requester", ("models", "approve", promotion, "--comment", "mine"), 1,
             "decision refused: role 'writer' may not do this"),
            ("builder", ("models", "reject", promotion, "--comment", "mine"), 1,
             "decision refused: role 'writer' may not do this"),
            ("admin", ("models", "approve", admins, "--comment", "mine", "--exception",
                       "urgent"), 1, "decision refused: token:admin requested this promotion"),
            ("requester", ("deploy", "credit", "--version", "1", "--environment", "prod-eu"),
             2, "HTTP 409 Conflict: prod-eu is protected"),
            ("requester", ("deploy", "credit", "--version", "2", "--environment", "prod-eu",
                           "--promotion", promotion), 2, "is not an approved promotion"),
            ("requester", ("rollback", "credit", "--version", "1", "--environment", "prod-eu",
                           "--reason", "r"), 2, "nothing is deployed to prod-eu")):
        before = reg.size()
        done = mlaudit(s[who], *args)
        assert done[0] == code and says in done[2], (args, done)
        refusals = ["decision.refused"] if who == "admin" else []
        assert reg.kinds_since(before) == refusals, args
    assert reg.status(promotion) == reg.status(admins) == "pending"
    assert mlaudit(s["risk1"], "models", "approve", promotion, "--comment", "ok")[0] == 0
    assert mlaudit(s["requester"], "deploy", "credit", "--version", "1", "--environment",
                   "prod-eu", "--promotion", promotion)[0] == 0
    assert reg.stage("credit") == "Production"


def test_only_an_admin_creates_a_model_that_needs_no_approval(
        client: Any, run_cli: Any, auth: dict[str, str]) -> None:
    """A builder cannot choose, at creation, to leave Production or @champion unprotected."""
    secret = run_cli("token", "create", "--name", "maker", "--role", "writer").stdout.split()[-1]
    writer = {"Authorization": f"Bearer {secret}"}
    for targets in ([], ["Staging"], ["Production"], ["@champion"]):
        refused = client.post("/api/v1/models", headers=writer,
                              json={"name": "open", "protected_targets": targets})
        assert refused.status_code == 403, (targets, refused.json)
        assert "only an admin" in refused.json["detail"]
    stricter = client.post("/api/v1/models", headers=writer, json={
        "name": "strict", "protected_targets": ["Production", "@champion", "@production",
                                                "@prod", "@live", "Staging"]})
    assert stricter.status_code == 201, stricter.json
    assert client.post("/api/v1/models", headers=auth, json={
        "name": "sandbox", "protected_targets": []}).status_code == 201


def test_the_old_prefix_rule_decides_only_adopted_environments() -> None:
    """Environments are declared objects now; the old rule (MLAUDIT_PROTECTED_ENVIRONMENTS,
    prefixes in any letter case) decides only how the upgrade adopts the environments
    earlier deployments used (tests/test_environment_attacks.py)."""
    from app.services.environments import legacy_protected

    for name in ("prod", "PROD-eu", "Production"):
        assert legacy_protected(name, ("prod",)), name
    assert not legacy_protected("dev", ("prod",)) and not legacy_protected("preprod", ("prod",))
