"""Protected environments cannot be dodged, demotions carry a reason, and the registry follows
deployments (issue 16, section 4).

The attacks: unapproved versions deployed to `eu-prod`, `us_prod`, `prd` and `live` (only
names starting with `prod` were protected); a version moved out of Production with no reason;
after a rollback in a protected environment the stock MLflow client's
`get_latest_versions(stages=["Production"])` named the version rolled back from.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
import test_separation_of_duties as sod

from app.ledger.entry import Draft
from app.services import tokens

V1 = "/api/v1"
DECIDE = {"decision": "approve", "comment": "independent review"}


class Registry(sod.Registry):
    """The separation-of-duties tests' client, tokens and ledger reads, with models of several
    versions and approvals in one call."""

    def model(self, name: str, versions: int = 1) -> None:  # type: ignore[override]
        """A model with `versions` versions, each from its own run with a model file."""
        self.call("builder", "POST", f"{V1}/models", {"name": name})
        for number in range(versions):
            experiment = self.call("builder", "POST", f"{V1}/experiments",
                                   {"name": f"{name}-{number}"})["id"]
            run = self.call("builder", "POST", f"{V1}/runs", {"experiment_id": experiment})["id"]
            response = self.client.put(
                f"{V1}/runs/{run}/artifacts/model/weights.bin", data=f"w {run}".encode(),
                headers={"Authorization": f"Bearer {self.secrets['builder']}"})
            assert response.status_code == 201, response.json
            self.call("builder", "POST", f"{V1}/models/{name}/versions",
                      {"run_id": run, "artifact_path": "model"})

    def approve(self, model: str, version: int,  # type: ignore[override]
                target: str = "Production") -> str:
        promotion = str(self.call("requester", "POST",
                                  f"{V1}/models/{model}/versions/{version}/promotions",
                                  {"target": target, "justification": "validated"})["id"])
        self.call("risk1", "POST", f"{V1}/promotions/{promotion}/decisions", DECIDE)
        return promotion


@pytest.fixture
def reg(client: Any, conn: Any, services: Any, admin_token: str) -> Registry:
    def token(name: str, role: str) -> str:
        secret, _ = services.committer.run(
            lambda writer: tokens.create_token(writer, name, role, "test"))
        return str(secret)

    return Registry(client, conn, {"admin": admin_token, "builder": token("builder", "writer"),
                                   "requester": token("requester", "writer"),
                                   "risk1": token("risk1", "approver"),
                                   "auditor": token("examiner", "auditor")})


def refused(response: Any, status: int, says: str = "") -> str:
    text = response.get_data(as_text=True)
    assert response.status_code == status, (response.status_code, text)
    assert says in text, text
    return text


# ---- environments are declared, and protection is the declaration's, not the name's ----------


PROD_LIKE = ("eu-prod", "us_prod", "prd", "live")


def test_prod_like_environments_take_no_unapproved_version(reg: Registry) -> None:
    """Today: 201 for each of these; none starts with `prod`. Now an undeclared environment
    is refused with how to declare it, and a declared protected one needs an approval."""
    reg.model("credit", versions=2)
    deploy = f"{V1}/models/credit/deployments"
    for environment in PROD_LIKE:
        before = reg.size()
        says = refused(reg.send("requester", "POST", deploy,
                                {"version": 1, "environment": environment}), 409,
                       says=f"environment '{environment}' is not declared")
        assert "POST /api/v1/environments" in says
        assert f"mlaudit environments declare {environment} --protected" in says
        assert reg.kinds_since(before) == []
    for environment in PROD_LIKE:
        done = reg.call("admin", "POST", f"{V1}/environments", {"name": environment})
        assert done["environment"]["protected"] is True  # protected unless said otherwise
        assert done["receipt"]["kind"] == "environment.declared"
    approval = reg.approve("credit", 2)
    for environment in PROD_LIKE:
        for who in ("requester", "builder", "admin"):
            before = reg.size()
            refused(reg.send(who, "POST", deploy, {"version": 1, "environment": environment}),
                    409, says=f"{environment} is protected")
            assert reg.kinds_since(before) == []
        reg.call("requester", "POST", deploy, {"version": 2, "environment": environment,
                                               "promotion_id": approval})
    # An unprotected one takes any version; a name differing only in case is not a new one.
    reg.call("admin", "POST", f"{V1}/environments", {"name": "dev", "protected": False})
    reg.call("requester", "POST", deploy, {"version": 1, "environment": "dev"})
    refused(reg.send("admin", "POST", f"{V1}/environments", {"name": "LIVE",
                                                             "protected": False}), 409,
            says="differs from it only in letter case")
    refused(reg.send("requester", "POST", deploy, {"version": 1, "environment": "LIVE"}), 409,
            says="is not declared")


def test_only_an_admin_declares_and_protection_changes_are_entries(reg: Registry) -> None:
    for who in ("requester", "risk1"):
        refused(reg.send(who, "POST", f"{V1}/environments", {"name": "prd"}), 403)
    first = reg.send("admin", "POST", f"{V1}/environments", {"name": "prd"})
    assert first.status_code == 201
    again = reg.send("admin", "POST", f"{V1}/environments", {"name": "prd"})
    assert again.status_code == 200 and again.json["unchanged"] is True
    before = reg.size()
    reg.call("admin", "POST", f"{V1}/environments",
             {"name": "prd", "protected": False, "reason": "retired; kept for history"})
    assert reg.kinds_since(before) == ["environment.protection_set"]
    listed = reg.call("auditor", "GET", f"{V1}/environments")["environments"]
    assert [(e["name"], e["protected"]) for e in listed] == [("prd", False)]


def test_the_database_refuses_a_deployment_its_environment_does_not_allow(
        reg: Registry, services: Any) -> None:
    """A holder of the service's role writes a deployment entry and its row itself: refused at
    commit for an undeclared environment, and for a protected one without an approval."""
    import psycopg

    from app.ledger.entry import Draft

    reg.model("credit")
    body = {"version": "1", "environment": "live", "target": {}, "promotion": None,
            "reason": None, "rollback_of": None}
    forged = Draft("deployment.recorded", "token:mallory", {"deployment": "d1",
                                                             "model": "credit"}, body)
    with pytest.raises(psycopg.errors.CheckViolation, match="declared environment"):
        services.committer.run(lambda w: w.append([forged]))
    reg.call("admin", "POST", f"{V1}/environments", {"name": "live"})
    with pytest.raises(psycopg.errors.CheckViolation,
                       match="approved promotion for a protected environment"):
        services.committer.run(lambda w: w.append([forged]))
    # Nor is the environment's protection dropped by a row no entry of its kind backs.
    def unprotect(w: Any) -> None:
        [receipt] = w.append([Draft("test.appended", "token:mallory", {}, {})])
        w.conn.execute("INSERT INTO environment_revisions SELECT name, false, adopted, "
                       "declared_by, declared_seq, %s FROM environments WHERE name = 'live'",
                       (receipt.seq,))
    with pytest.raises(psycopg.errors.CheckViolation, match="environment_revisions row names"):
        services.committer.run(unprotect)
    # Its protection is the environment's as of the deployment: unprotected later, accepted.
    reg.call("admin", "POST", f"{V1}/environments", {"name": "live", "protected": False})
    services.committer.run(lambda w: w.append([forged]))
    # Nor can a demotion entry put a version into a protected stage, or leave without reason.
    for stage, reason, says in (("Production", "why", "an unprotected stage"),
                                ("Archived", " ", "a reason")):
        draft = Draft("model_version.demoted", "token:mallory",
                      {"model": "credit", "version": "1"},
                      {"stage": stage, "previous": "None", "reason": reason,
                       "promotion": None, "deployment": None})
        with pytest.raises(psycopg.errors.CheckViolation, match=says):
            services.committer.run(lambda w, d=draft: w.append([d]))


# ---- demotions need a reason ----------------------------------------------------------------


def test_leaving_production_needs_a_reason(reg: Registry) -> None:
    """Today: v1 leaves Production through the v1 transition route, no reason asked."""
    reg.model("credit")
    reg.approve("credit", 1)
    before = reg.size()
    refused(reg.send("requester", "POST", f"{V1}/models/credit/versions/1/transition",
                     {"target": "Archived"}), 400, says="/demotions")
    # MLflow's transition-stage and delete-alias have no reason field: refused, pointing here.
    mlflow = "/api/2.0/mlflow"
    for stage in ("Archived", "Staging", "None"):
        said = refused(reg.send("requester", "POST", f"{mlflow}/model-versions/transition-stage",
                                {"name": "credit", "version": "1", "stage": stage}), 400,
                       says="INVALID_PARAMETER_VALUE")
        assert "mlaudit models demote credit 1 --from Production --reason" in said
    reg.approve("credit", 1, "@champion")
    said = refused(reg.send("requester", "DELETE", f"{mlflow}/registered-models/alias",
                            {"name": "credit", "alias": "champion"}), 403,
                   says="PERMISSION_DENIED")
    assert "/api/v1/models/credit/versions/1/demotions" in said
    assert reg.kinds_since(before)[-1] == "model_alias.set"  # the approval's; nothing else
    demotions = f"{V1}/models/credit/versions/1/demotions"
    for payload, status, says in (({"from": "Production", "reason": "  "}, 400, "needs a reason"),
                                  ({"from": "Production"}, 400, "reason"),
                                  ({"from": "Staging", "reason": "r"}, 400, "not protected"),
                                  ({"from": "Production", "to": "Production", "reason": "r"},
                                   400, "an unprotected stage")):
        before = reg.size()
        refused(reg.send("requester", "POST", demotions, payload), status, says=says)
        assert reg.kinds_since(before) == []
    # With a reason: recorded, and in the model report.
    before = reg.size()
    reg.call("risk1", "POST", demotions, {"from": "Production", "reason": "bias drift in Q3"})
    reg.call("requester", "POST", demotions, {"from": "@champion", "reason": "bias drift in Q3"})
    assert reg.kinds_since(before) == ["model_version.demoted", "model_alias.removed"]
    model = reg.call("admin", "GET", f"{V1}/models/credit")
    assert model["versions"][0]["stage"] == "Archived" and model["aliases"] == {}
    text = report_text(reg, "credit")
    assert "Demotions" in text and text.count("bias drift in Q3") == 2, text


def report_text(reg: Registry, model: str) -> str:
    import io
    import re

    from pypdf import PdfReader

    response = reg.client.get(f"{V1}/reports/models/{model}.pdf",
                              headers={"Authorization": f"Bearer {reg.secrets['auditor']}"})
    assert response.status_code == 200, response.data[:300]
    return re.sub(r"\s+", " ", " ".join(p.extract_text() or ""
                                        for p in PdfReader(io.BytesIO(response.data)).pages))


def test_a_version_live_in_a_protected_environment_is_not_demoted(reg: Registry) -> None:
    reg.model("credit")
    approval = reg.approve("credit", 1)
    reg.call("admin", "POST", f"{V1}/environments", {"name": "live"})
    reg.call("requester", "POST", f"{V1}/models/credit/deployments",
             {"version": 1, "environment": "live", "promotion_id": approval})
    before = reg.size()
    refused(reg.send("risk1", "POST", f"{V1}/models/credit/versions/1/demotions",
                     {"from": "Production", "reason": "r"}), 409,
            says="is live in the protected environment live")
    assert reg.kinds_since(before) == []


# ---- the registry follows deployments -------------------------------------------------------


def _point_mlflow(monkeypatch: pytest.MonkeyPatch, server: str, secret: str) -> Any:
    import mlflow as mlflow
    for name, value in {"MLFLOW_TRACKING_URI": server, "MLFLOW_TRACKING_TOKEN": secret,
                        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
                        "MLFLOW_DISABLE_TELEMETRY": "true"}.items():
        monkeypatch.setenv(name, value)
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    return mlflow.MlflowClient(tracking_uri=server, registry_uri=server)


def test_after_a_rollback_production_is_what_is_live(reg: Registry, server: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Today: v1 and v2 both stay in Production after prod is rolled back to v1, and
    get_latest_versions(stages=["Production"]) answers v2."""
    reg.model("credit", versions=2)
    reg.call("admin", "POST", f"{V1}/environments", {"name": "prod"})
    first, second = reg.approve("credit", 1), reg.approve("credit", 2)
    deploy = f"{V1}/models/credit/deployments"
    reg.call("requester", "POST", deploy, {"version": 1, "environment": "prod",
                                           "promotion_id": first})
    reg.call("requester", "POST", deploy, {"version": 2, "environment": "prod",
                                           "promotion_id": second})
    reg.call("requester", "POST", f"{V1}/models/credit/rollbacks",
             {"version": 1, "environment": "prod", "reason": "v2 mis-scores thin files"})
    client = _point_mlflow(monkeypatch, server, reg.secrets["admin"])
    live = client.get_latest_versions("credit", stages=["Production"])
    assert [v.version for v in live] == ["1"]
    assert client.get_model_version("credit", "2").current_stage != "Production"
    deployed = reg.call("admin", "GET", f"{V1}/models/credit/deployed?environment=prod")
    assert deployed["version"] == 1
    # The report says the same, and why version 2 left Production.
    text = report_text(reg, "credit")
    assert "rolled back in prod to version 1: v2 mis-scores thin files" in text, text
    assert "Environment: prod (protected" in text
    # A rollback in an unprotected environment leaves the registry alone.
    reg.call("admin", "POST", f"{V1}/environments", {"name": "dev", "protected": False})
    for version in (2, 1):
        reg.call("requester", "POST", deploy, {"version": version, "environment": "dev"})
    before = reg.size()
    reg.call("requester", "POST", f"{V1}/models/credit/rollbacks",
             {"version": 2, "environment": "dev", "reason": "compare"})
    assert reg.kinds_since(before) == ["deployment.rolled_back"]
    # The approval version 2 left is spent: its builder cannot put it back in Production
    # through MLflow (found by running the README's example), nor through /api/v1.
    back = reg.send("builder", "POST", "/api/2.0/mlflow/model-versions/transition-stage",
                    {"name": "credit", "version": "2", "stage": "production",
                     "archive_existing_versions": False})
    assert back.status_code == 403, back.get_data(as_text=True)
    assert "left stage Production at entry" in back.json["message"]
    again = reg.send("requester", "POST", f"{V1}/models/credit/versions/2/transition",
                     {"target": "Production"})
    assert again.status_code == 409 and "is protected" in again.json["detail"], again.json
    assert [v.version for v in client.get_latest_versions("credit", stages=["Production"])] \
        == ["1"]


# ---- history written before environments were declared ---------------------------------------


def test_deployments_recorded_before_environments_were_declared_still_verify_and_rebuild(
        reg: Registry, services: Any, conn: Any, config: Any, pg_server: str) -> None:
    """A database the old code wrote: deployments to environments nobody declared (its guard
    knew no environments). It verifies as it is; a rebuild replays it and adopts those
    environments after it; the next start adopts them in place, the old prefix rule deciding
    protection. Nothing recorded is refused or rewritten."""
    import uuid

    import psycopg
    from databases import with_dbname
    from ledger_surface import drop_database
    from psycopg import sql

    from app import create_app
    from app.db import ensure_schema
    from app.ledger.entry import Draft
    from app.services import rebuild
    from app.services.verification import verify_database

    reg.model("credit", versions=2)
    approval = reg.approve("credit", 1)
    legacy = (("production", approval), ("eu-prod", None), ("staging", None))
    drafts = [Draft("deployment.recorded", "token:requester",
                    {"deployment": f"legacy-{env}", "model": "credit"},
                    {"version": "1", "environment": env, "target": {}, "promotion": promotion,
                     "reason": None, "rollback_of": None}) for env, promotion in legacy]
    conn.execute("ALTER TABLE deployments DISABLE TRIGGER deployments_guard")
    services.committer.run(lambda w: w.append(drafts))
    conn.execute("ALTER TABLE deployments ENABLE ALWAYS TRIGGER deployments_guard")
    assert verify_database(conn).damage is None
    size = reg.size()

    name = f"mlaudit_legacy_{uuid.uuid4().hex[:12]}"
    target_url = with_dbname(pg_server, name)
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        ensure_schema(target_url, ("prod",))
        with psycopg.connect(conn.info.dsn) as source_conn, psycopg.connect(target_url) as target:
            with source_conn.transaction():
                rebuild.rebuild(target, rebuild.database_source(source_conn, None))
        with psycopg.connect(target_url, autocommit=True) as target:
            assert verify_database(target).damage is None
            kinds = [k for (k,) in target.execute(
                "SELECT kind FROM ledger_entries WHERE seq >= %s ORDER BY seq", (size,))]
            assert kinds == ["environment.adopted"] * 3
    finally:
        drop_database(pg_server, target_url)

    restarted = create_app(config)  # the next start adopts them in the database itself
    restarted.extensions["mlaudit"].close()
    assert reg.kinds_since(size) == ["environment.adopted"] * 3
    listed = {e["name"]: (e["protected"], e["adopted"])
              for e in reg.call("admin", "GET", f"{V1}/environments")["environments"]}
    assert listed == {"eu-prod": (False, True), "production": (True, True),
                      "staging": (False, True)}
    assert verify_database(conn).damage is None
    deploy = f"{V1}/models/credit/deployments"
    reg.call("requester", "POST", deploy, {"version": 2, "environment": "eu-prod"})
    refused(reg.send("requester", "POST", deploy, {"version": 2, "environment": "production"}),
            409, says="production is protected")
    reg.call("admin", "POST", f"{V1}/environments",
             {"name": "eu-prod", "reason": "serves EU customers"})
    refused(reg.send("requester", "POST", deploy, {"version": 2, "environment": "eu-prod"}),
            409, says="eu-prod is protected")


# ---- the command line -----------------------------------------------------------------------


def test_environments_and_demotions_on_the_command_line(
        reg: Registry, server: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from app import cli

    for name in ("MLAUDIT_URL", "MLAUDIT_TOKEN"):
        monkeypatch.delenv(name, raising=False)

    def mlaudit(who: str, *args: str) -> tuple[int, str, str]:
        code = cli.main([*args, "--url", server, "--token", reg.secrets[who]])
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = mlaudit("admin", "environments", "list")
    assert (code, out.strip()) == (0, "no environments are declared: mlaudit environments "
                                      "declare NAME --protected")
    code, out, _ = mlaudit("admin", "environments", "declare", "eu-prod")
    assert code == 0 and out.splitlines()[0] == "environment eu-prod: protected"
    assert "environment.declared" in out
    code, out, _ = mlaudit("admin", "environments", "declare", "eu-prod", "--protected")
    assert out.strip() == "environment eu-prod is already declared protected; nothing written"
    code, out, _ = mlaudit("admin", "environments", "declare", "sandbox", "--unprotected")
    assert out.splitlines()[0] == "environment sandbox: unprotected"
    code, out, err = mlaudit("requester", "environments", "declare", "prd")
    assert code != 0 and "403" in err
    code, out, _ = mlaudit("risk1", "environments", "list")
    assert [line.split()[:2] for line in out.splitlines()] == [
        ["NAME", "PROTECTED"], ["eu-prod", "yes"], ["sandbox", "no"]]
    code, out, err = mlaudit("requester", "deploy", "nothing", "--version", "1",
                             "--environment", "us_prod")
    assert code != 0
    reg.model("credit")
    code, out, err = mlaudit("requester", "deploy", "credit", "--version", "1",
                             "--environment", "us_prod")
    assert code != 0 and "mlaudit environments declare us_prod --protected" in err, err
    reg.approve("credit", 1)
    code, out, err = mlaudit("risk1", "models", "demote", "credit", "1", "--from", "Production",
                             "--reason", "superseded")
    assert code == 0, err
    assert out.splitlines()[0] == "credit version 1 left Production"
    assert "model_version.demoted" in out


def test_the_database_refuses_a_spent_approval(reg: Registry, services: Any) -> None:
    """After a rollback took version 2 out of Production, an entry putting it back that cites
    its old approval is refused at commit (the service refuses first; this is the role
    writing past it). The rollback's own restoring entry, citing its deployment, passes."""
    reg.model("credit", versions=2)
    reg.call("admin", "POST", f"{V1}/environments", {"name": "prod"})
    first, second = reg.approve("credit", 1), reg.approve("credit", 2)
    deploy = f"{V1}/models/credit/deployments"
    for version, promotion in ((1, first), (2, second)):
        reg.call("requester", "POST", deploy, {"version": version, "environment": "prod",
                                               "promotion_id": promotion})
    reg.call("requester", "POST", f"{V1}/models/credit/rollbacks",
             {"version": 1, "environment": "prod", "reason": "drift"})
    with pytest.raises(psycopg.errors.CheckViolation, match="an approved promotion"):
        services.committer.run(lambda w: w.append([Draft(
            "model_version.stage_set", "token:builder", {"model": "credit", "version": "2"},
            {"stage": "Production", "previous": "Archived", "promotion": second})]))
    assert reg.call("admin", "GET", f"{V1}/models/credit/versions/2")["stage"] != "Production"
