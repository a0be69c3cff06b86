"""exercise(): every write route of a running app, so the ledger holds every entry kind."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.client.http import RequestSigner
from app.ledger import dsse
from app.ledger.checkpoint import VerifierKey
from app.ledger.entry import Draft
from app.services import tokens
from app.services.artifacts import client_statement

V1, MLFLOW = "/api/v1", "/api/2.0/mlflow"
PROXY = "/api/2.0/mlflow-artifacts/artifacts"
TS = 1_700_000_000_000  # a fixed MLflow timestamp (ms)
PEOPLE = {"builder": "writer", "requester": "writer", "risk1": "approver",
          "risk2": "approver", "auditor": "auditor", "contractor": "writer"}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _kv(**pairs: str) -> list[dict[str, str]]:
    """MLflow's [{key, value}] list."""
    return [{"key": k, "value": v} for k, v in pairs.items()]


@dataclass
class Caller:
    """The test client with a secret per person; every call asserts its status."""

    client: Any
    secrets: dict[str, str]
    ids: dict[str, Any] = field(default_factory=dict)

    def send(self, who: str, method: str, path: str, payload: Any = None,
             headers: dict[str, str] | None = None) -> Any:
        return self.client.open(
            path, method=method, data=None if payload is None else json.dumps(payload),
            content_type="application/json",
            headers={"Authorization": f"Bearer {self.secrets[who]}", **(headers or {})})

    def call(self, who: str, method: str, path: str, payload: Any = None, status: int = 200,
             headers: dict[str, str] | None = None) -> Any:
        response = self.send(who, method, path, payload, headers)
        assert response.status_code == status, (method, path, response.status_code,
                                                response.get_data(as_text=True)[:2000])
        return response.get_json(silent=True)

    def upload(self, who: str, path: str, data: bytes, status: int = 201) -> Any:
        response = self.client.put(path, data=data, content_type="application/octet-stream",
                                   headers={"Authorization": f"Bearer {self.secrets[who]}"})
        assert response.status_code == status, (path, response.get_data(as_text=True)[:2000])
        return response.get_json(silent=True)


def _make_token(app: Any, run_cli: Callable[..., Any] | None, name: str, role: str,
                days: int | None = None) -> str:
    """A token through `mlaudit token create`, or the token service when there is no CLI."""
    if run_cli is None:
        expires = None if days is None else datetime.now(UTC) + timedelta(days=days)
        secret, _ = app.extensions["mlaudit"].committer.run(
            lambda w: tokens.create_token(w, name, role, "test:surface", expires))
        return str(secret)
    extra = () if days is None else ("--expires-in-days", str(days))
    done = run_cli("token", "create", "--name", name, "--role", role, *extra)
    assert done.returncode == 0, done.stderr
    return str(done.stdout.split()[-1])


def _legacy_token(writer: Any, name: str, role: str) -> str:
    """A token as made before principals existed (no principal in its entry)."""
    secret = f"{tokens.TOKEN_PREFIX}legacy-{name}"
    writer.append([Draft("token.created", "test:surface", {"token": f"legacy{len(name):04d}"},
                         {"name": name, "role": role,
                          "token_sha256": tokens.token_hash(secret).hex()})])
    return secret


def _people(app: Any, run_cli: Callable[..., Any] | None, admin_token: str) -> dict[str, str]:
    secrets = {"admin": admin_token}
    for name, role in PEOPLE.items():  # the contractor's token lapses (expires_at recorded)
        secrets[name] = _make_token(app, run_cli, name, role,
                                    30 if name == "contractor" else None)
    # A token from before principals, given one on upgrade (token.assigned).
    committer = app.extensions["mlaudit"].committer
    secrets["legacy"] = committer.run(lambda w: _legacy_token(w, "legacy", "auditor"))
    committer.run(tokens.ensure_principals)
    return secrets


def _experiments(c: Caller) -> None:
    """Native create and archive; MLflow create, rename, tag set and delete."""
    credit = c.call("builder", "POST", f"{V1}/experiments", {
        "name": "credit-risk", "description": "retail credit scoring",
        "tags": {"team": "credit-risk"}}, 201)["id"]
    scratch = c.call("builder", "POST", f"{V1}/experiments", {"name": "scratch"}, 201)["id"]
    c.call("builder", "POST", f"{V1}/experiments/{scratch}/archive", {})
    sandbox = c.call("builder", "POST", f"{MLFLOW}/experiments/create", {
        "name": "sandbox", "tags": _kv(owner="ml-platform")})["experiment_id"]
    c.call("builder", "POST", f"{MLFLOW}/experiments/update",
           {"experiment_id": sandbox, "new_name": "sandbox-renamed"})
    c.call("builder", "POST", f"{MLFLOW}/experiments/set-experiment-tag",
           {"experiment_id": sandbox, "key": "purpose", "value": "try-outs"})
    c.call("builder", "POST", f"{MLFLOW}/experiments/delete-experiment-tag",
           {"experiment_id": sandbox, "key": "owner"})
    c.ids["experiments"] = {"credit": credit, "scratch": scratch, "sandbox": sandbox}


def _access(c: Caller) -> None:
    """A grant withdrawn and one kept (so `grants` has a row), the grantee's token revoked,
    and a client key for the builder."""
    credit, sandbox = c.ids["experiments"]["credit"], c.ids["experiments"]["sandbox"]
    for experiment in (credit, sandbox):
        c.call("admin", "POST", f"{V1}/grants", {"token_name": "contractor",
                                                  "experiment_id": experiment})
    c.call("admin", "DELETE", f"{V1}/grants/contractor/{credit}")
    c.call("admin", "POST", f"{V1}/tokens/contractor/revoke", {"reason": "contract ended"})
    private = Ed25519PrivateKey.generate()
    public = base64.b64encode(private.public_key().public_bytes_raw()).decode()
    key_id = c.call("builder", "POST", f"{V1}/client-keys", {"public_key": public})["key_id"]
    c.ids["client_key"] = {"key_id": key_id, "private": private}


def _signed(c: Caller, who: str, path: str, payload: Any) -> Any:
    """A request signed with the registered client key (MLaudit-Signature over the method,
    path, timestamp and body SHA-256; docs/ledger-format.md)."""
    key = c.ids["client_key"]
    header = RequestSigner(key["private"]).header("POST", path, json.dumps(payload).encode())
    return c.call(who, "POST", path, payload, headers={"MLaudit-Signature": header})


def _runs(c: Caller) -> None:
    """A parent run (ends FAILED) and its child, the run the native registry version uses."""
    credit = c.ids["experiments"]["credit"]
    parent = c.call("builder", "POST", f"{V1}/runs", {
        "experiment_id": credit, "name": "sweep"}, 201)["id"]
    run = c.call("builder", "POST", f"{V1}/runs", {
        "experiment_id": credit, "name": "baseline", "parent_run_id": parent,
        "tags": {"team": "credit-risk", "stage": "draft"},
        "source": {"git_commit": "0123abcd", "repository": "https://git.example/credit",
                   "entry_point": "train.py"}}, 201)["id"]
    c.call("builder", "POST", f"{V1}/runs/{parent}/end", {"status": "FAILED"})
    c.ids["runs"] = {"parent": parent, "baseline": run}


def _run_data(c: Caller) -> None:
    """Params, plain and grouped metrics, a batch, a signed write, tags and their history."""
    run = c.ids["runs"]["baseline"]
    c.call("builder", "POST", f"{V1}/runs/{run}/params", {"params": {"lr": "0.1"}})
    c.call("builder", "POST", f"{V1}/runs/{run}/metrics", {"metrics": [
        {"key": "auc", "value": "0.82", "step": 1},
        {"key": "selection_rate", "value": "0.6", "group": {"sex": "M"}, "n": 90}]})
    c.call("builder", "POST", f"{V1}/runs/{run}/batch", {
        "params": [{"key": "max_depth", "value": "6"}], "tags": {"phase": "train"},
        "metrics": [{"key": "loss", "value": 0.31, "step": 1, "timestamp": TS}]})
    c.call("builder", "POST", f"{MLFLOW}/runs/log-metric", {
        "run_id": run, "key": "selection_rate[sex=F;n=80]", "value": 0.55, "timestamp": TS,
        "step": 1})
    c.call("builder", "POST", f"{MLFLOW}/runs/log-metric", {
        "run_id": run, "key": "tpr[age_band=40-49,sex=F]", "value": 0.7, "timestamp": TS})
    _signed(c, "builder", f"{V1}/runs/{run}/params", {"params": {"seed": "42"}})
    c.call("builder", "PUT", f"{V1}/runs/{run}/tags/stage", {"value": "reviewed"})
    c.call("builder", "DELETE", f"{V1}/runs/{run}/tags/stage")
    history = c.call("builder", "GET", f"{V1}/runs/{run}/tags/stage/history")["history"]
    assert [h["value"] for h in history] == ["draft", "reviewed", None], history


def _run_evidence(c: Caller) -> None:
    """Inputs, environment, an uploaded model file and two external artifacts."""
    run = c.ids["runs"]["baseline"]
    c.call("builder", "POST", f"{V1}/runs/{run}/inputs", {"datasets": [
        {"name": "applications-2024", "digest": _sha(b"applications"), "context": "training",
         "source_uri": "s3://data/applications-2024.parquet", "row_count": 170,
         "schema": {"columns": [{"name": "income", "type": "double"}]},
         "group_counts": {"sex": {"F": 80, "M": 90}}},
        {"name": "holdout-2024", "digest": _sha(b"holdout"), "context": "test"}]})
    c.call("builder", "PUT", f"{V1}/runs/{run}/environment", {
        "python_version": "3.12.3", "os": "Linux", "architecture": "x86_64",
        "hardware": {"cpu": "8 cores"}, "container_image_digest": "sha256:" + _sha(b"image"),
        "packages": [{"name": "scikit-learn", "version": "1.5.0"}],
        "lockfile_sha256": _sha(b"uv.lock")})
    c.upload("builder", f"{V1}/runs/{run}/artifacts/model/model.pkl", b"baseline weights")
    data = b"training rows"
    c.call("builder", "POST", f"{V1}/runs/{run}/artifacts/external", {
        "path": "data/train.parquet", "uri": "s3://data/train.parquet", "sha256": _sha(data),
        "size": len(data)}, 201)
    c.call("builder", "POST", f"{V1}/runs/{run}/artifacts/external",
           _client_signed_artifact("exports/model.onnx", b"onnx export",
                                   "s3://exports/model.onnx"), 201)


def _client_signed_artifact(path: str, data: bytes, uri: str) -> dict[str, Any]:
    """An external artifact body the client vouches for (Ed25519 over DSSE PAE)."""
    private = Ed25519PrivateKey.generate()
    key = VerifierKey.from_public_key("ci.example/signer", private.public_key().public_bytes_raw())
    statement = client_statement(path, _sha(data), len(data), uri)
    sig = private.sign(dsse.pae(dsse.PAYLOAD_TYPE, statement))
    return {"path": path, "uri": uri, "sha256": _sha(data), "size": len(data),
            "signature": {"key": key.to_string(), "sig": base64.b64encode(sig).decode()}}


def _run_lifecycle(c: Caller) -> None:
    """End the run, then through MLflow: rename it, reopen it and end it again."""
    run = c.ids["runs"]["baseline"]
    c.call("builder", "POST", f"{V1}/runs/{run}/end", {"status": "FINISHED"})
    c.call("builder", "POST", f"{MLFLOW}/runs/update", {"run_id": run, "run_name": "baseline-v1"})
    c.call("builder", "POST", f"{MLFLOW}/runs/update", {"run_id": run, "status": "RUNNING"})
    c.call("builder", "POST", f"{MLFLOW}/runs/update",
           {"run_id": run, "status": "FINISHED", "end_time": TS + 60_000})


def _mlflow_run(c: Caller) -> None:
    """A challenger run written as the MLflow client writes one (its file via the proxy)."""
    credit = c.ids["experiments"]["credit"]
    run = c.call("builder", "POST", f"{MLFLOW}/runs/create", {
        "experiment_id": credit, "run_name": "challenger", "start_time": TS,
        "tags": _kv(**{"mlflow.source.name": "train.py", "mlflow.source.type": "LOCAL"})}
    )["run"]["info"]["run_id"]
    c.call("builder", "POST", f"{MLFLOW}/runs/log-parameter",
           {"run_id": run, "key": "lr", "value": "0.05"})
    c.call("builder", "POST", f"{MLFLOW}/runs/log-batch", {
        "run_id": run, "params": _kv(max_depth="8"), "tags": _kv(team="credit-risk"),
        "metrics": [{"key": "auc", "value": 0.70, "timestamp": TS, "step": 0}]})
    c.call("builder", "POST", f"{MLFLOW}/runs/set-tag", {"run_id": run, "key": "x", "value": "1"})
    c.call("builder", "POST", f"{MLFLOW}/runs/delete-tag", {"run_id": run, "key": "x"})
    c.call("builder", "POST", f"{MLFLOW}/runs/log-inputs", {"run_id": run, "datasets": [{
        "tags": _kv(**{"mlflow.data.context": "train"}),
        "dataset": {"name": "applications", "digest": "1a2b3c4d", "source_type": "local",
                    "source": json.dumps({"uri": "file:///data/applications.csv"}),
                    "schema": json.dumps({"mlflow_colspec": [{"name": "income"}]}),
                    "profile": json.dumps({"num_rows": 170})}}]})
    c.upload("builder", f"{PROXY}/{credit}/{run}/artifacts/model/model.pkl",
             b"challenger weights", 200)
    c.ids["runs"]["challenger"] = run


def _sandbox(c: Caller) -> None:
    """MLflow soft deletes: an experiment carrying its run, then the run on its own."""
    sandbox = c.ids["experiments"]["sandbox"]
    run = c.call("builder", "POST", f"{MLFLOW}/runs/create", {
        "experiment_id": sandbox, "run_name": "try-out"})["run"]["info"]["run_id"]
    c.call("builder", "POST", f"{MLFLOW}/experiments/delete", {"experiment_id": sandbox})
    c.call("builder", "POST", f"{MLFLOW}/experiments/restore", {"experiment_id": sandbox})
    c.call("builder", "POST", f"{MLFLOW}/runs/delete", {"run_id": run})
    c.call("builder", "POST", f"{MLFLOW}/runs/restore", {"run_id": run})
    c.ids["runs"]["try_out"] = run


def _logged_models(c: Caller) -> None:
    """An MLflow 3 logged model through its whole life, and a second one deleted."""
    credit, run = c.ids["experiments"]["credit"], c.ids["runs"]["challenger"]
    base = f"{MLFLOW}/logged-models"
    model = c.call("builder", "POST", base, {
        "experiment_id": credit, "name": "challenger-model", "source_run_id": run,
        "model_type": "sklearn", "params": _kv(max_depth="8"),
        "tags": _kv(flavor="sklearn")})["model"]["info"]["model_id"]
    c.call("builder", "POST", f"{base}/{model}/params", {"params": _kv(n_estimators="200")})
    c.call("builder", "PATCH", f"{base}/{model}/tags", {"tags": _kv(reviewed="no", scratch="1")})
    c.call("builder", "DELETE", f"{base}/{model}/tags/scratch")
    c.upload("builder", f"{PROXY}/{credit}/models/{model}/artifacts/MLmodel",
             b"flavors: {sklearn: {}}", 200)
    c.call("builder", "PATCH", f"{base}/{model}", {"status": "LOGGED_MODEL_READY"})
    c.call("builder", "POST", f"{MLFLOW}/runs/outputs",
           {"run_id": run, "models": [{"model_id": model, "step": 0}]})
    discarded = c.call("builder", "POST", base, {
        "experiment_id": credit, "name": "discarded"})["model"]["info"]["model_id"]
    c.call("builder", "DELETE", f"{base}/{discarded}")
    c.ids["logged_models"] = {"challenger": model, "discarded": discarded}


def _native_model(c: Caller) -> None:
    """'scorecard': two approvers needed, a fairness policy, version 1 from the baseline run."""
    c.call("builder", "POST", f"{V1}/models", {
        "name": "scorecard", "description": "retail scorecard", "owner": "risk-team",
        "tags": {"domain": "credit"}, "sensitive_attributes": ["sex"], "quorum": 2}, 201)
    c.call("admin", "PUT", f"{V1}/models/scorecard/policy", {"policy": {
        "required_params": ["lr"], "required_dataset_contexts": ["training"],
        "minimums": [{"metric": "auc", "at_least": "0.75"}],
        "fairness": [{"metric": "selection_rate", "attribute": "sex",
                      "min_max_ratio_at_least": "0.8"}]}})
    made = c.call("builder", "POST", f"{V1}/models/scorecard/versions",
                  {"run_id": c.ids["runs"]["baseline"], "artifact_path": "model"}, 201)
    assert made["version"] == 1, made


def _mlflow_model(c: Caller) -> None:
    """'scorer' through MLflow: metadata, a version from runs:/ and one from models:/m-..."""
    run, logged = c.ids["runs"]["challenger"], c.ids["logged_models"]["challenger"]
    c.call("builder", "POST", f"{MLFLOW}/registered-models/create", {
        "name": "scorer", "description": "challenger", "tags": _kv(domain="credit")})
    c.call("builder", "PATCH", f"{MLFLOW}/registered-models/update",
           {"name": "scorer", "description": "challenger scorer"})
    c.call("builder", "POST", f"{MLFLOW}/registered-models/set-tag",
           {"name": "scorer", "key": "tier", "value": "2"})
    c.call("builder", "DELETE", f"{MLFLOW}/registered-models/delete-tag",
           {"name": "scorer", "key": "domain"})
    c.call("admin", "PUT", f"{V1}/models/scorer/policy",
           {"policy": {"minimums": [{"metric": "auc", "at_least": "0.75"}]}})
    # Issue 16: an MLflow-registered model's attributes and protected names, set afterwards.
    c.call("builder", "PUT", f"{V1}/models/scorer/sensitive-attributes",
           {"sensitive_attributes": ["sex"]})
    c.call("builder", "PUT", f"{V1}/models/scorer/protected-targets", {"protected_targets": [
        "Production", "@champion", "@production", "@prod", "@live", "@gold"]})
    first = c.call("builder", "POST", f"{MLFLOW}/model-versions/create", {
        "name": "scorer", "source": f"runs:/{run}/model", "run_id": run,
        "tags": _kv(validated="pending"), "description": "from the challenger run"})
    second = c.call("builder", "POST", f"{MLFLOW}/model-versions/create", {
        "name": "scorer", "source": f"models:/{logged}", "model_id": logged})
    assert (first["model_version"]["version"], second["model_version"]["version"]) == ("1", "2")


def _mlflow_version_metadata(c: Caller) -> None:
    """'scorer' v1's tags and description, an unprotected alias set and deleted, and a
    native move to the unprotected Staging stage."""
    mv = {"name": "scorer", "version": "1"}
    c.call("builder", "POST", f"{MLFLOW}/model-versions/set-tag", {**mv, "key": "ok",
                                                                    "value": "yes"})
    c.call("builder", "DELETE", f"{MLFLOW}/model-versions/delete-tag", {**mv, "key": "validated"})
    c.call("builder", "PATCH", f"{MLFLOW}/model-versions/update",
           {**mv, "description": "challenger, reviewed"})
    c.call("builder", "POST", f"{MLFLOW}/registered-models/alias",
           {"name": "scorer", "alias": "candidate", "version": "2"})
    c.call("builder", "DELETE", f"{MLFLOW}/registered-models/alias",
           {"name": "scorer", "alias": "candidate"})
    c.call("builder", "POST", f"{V1}/models/scorer/versions/1/transition", {"target": "Staging"})


def _unpinned_version(c: Caller) -> None:
    """'lake' v1, registered through MLflow from s3:// (unpinned, issue 19), then pinned to
    the baseline run's external export, registered there with its digest."""
    c.call("builder", "POST", f"{MLFLOW}/registered-models/create", {"name": "lake"})
    made = c.call("builder", "POST", f"{MLFLOW}/model-versions/create",
                  {"name": "lake", "source": "s3://exports/model"})
    assert made["model_version"]["version"] == "1"
    c.call("builder", "POST", f"{V1}/models/lake/versions/1/pin",
           {"run_id": c.ids["runs"]["baseline"], "artifact_path": "exports"})


def _promote(c: Caller, who: str, model: str, version: int, target: str,
             classification: str | None = None) -> str:
    body: dict[str, Any] = {"target": target, "justification": "validated on holdout"}
    if classification is not None:
        body["classification"] = classification
    return str(c.call(who, "POST", f"{V1}/models/{model}/versions/{version}/promotions",
                      body, 201)["id"])


def _decide(c: Caller, who: str, promotion: str, decision: str = "approve",
            status: int = 200, **extra: Any) -> Any:
    return c.call(who, "POST", f"{V1}/promotions/{promotion}/decisions",
                  {"decision": decision, "comment": "independent review", **extra}, status)


def _quorum_promotions(c: Caller) -> dict[str, str]:
    """'scorecard' to Production and @champion: a refused self-approval, then two approvers;
    the MLflow calls that reach those protected targets then find them reached."""
    production = _promote(c, "admin", "scorecard", 1, "Production", "material")
    refused = _decide(c, "admin", production, status=403)
    assert refused["receipts"], refused  # refused, and recorded as decision.refused
    assert _decide(c, "risk1", production)["status"] == "pending"
    assert _decide(c, "risk2", production)["status"] == "approved"
    champion = _promote(c, "requester", "scorecard", 1, "@champion", "non-material")
    assert _decide(c, "risk1", champion)["status"] == "pending"
    assert _decide(c, "risk2", champion)["status"] == "approved"
    mv = {"name": "scorecard", "version": "1"}
    staged = c.call("builder", "POST", f"{MLFLOW}/model-versions/transition-stage",
                    {**mv, "stage": "Production", "archive_existing_versions": False})
    assert staged["model_version"]["current_stage"] == "Production", staged
    c.call("builder", "POST", f"{MLFLOW}/registered-models/alias", {**mv, "alias": "champion"})
    return {"scorecard_production": production, "scorecard_champion": champion}


def _closed_promotions(c: Caller) -> dict[str, str]:
    """'scorer': rejected, withdrawn, invalidated, and approved under a gate exception."""
    rejected = _promote(c, "requester", "scorer", 1, "Production")
    assert _decide(c, "risk1", rejected, "reject")["status"] == "rejected"
    withdrawn = _promote(c, "requester", "scorer", 1, "@champion")
    c.call("requester", "POST", f"{V1}/promotions/{withdrawn}/withdraw", {})
    invalidated = _promote(c, "requester", "scorer", 2, "Production")
    c.call("builder", "POST", f"{MLFLOW}/model-versions/transition-stage",
           {"name": "scorer", "version": "2", "stage": "Staging"})
    found = c.call("admin", "GET", f"{V1}/promotions/{invalidated}")
    assert found["status"] == "invalidated", found
    approved = _promote(c, "requester", "scorer", 1, "Production")
    decided = _decide(c, "risk2", approved,
                      exception={"justification": "challenger, monitored weekly"})
    assert decided["status"] == "approved", decided
    return {"scorer_rejected": rejected, "scorer_withdrawn": withdrawn,
            "scorer_invalidated": invalidated, "scorer_approved": approved}


def _deployments(c: Caller) -> None:
    """'scorer' v1 to prod (under its approval) and staging; v2 to staging; rolled back."""
    base = f"{V1}/models/scorer"
    _environments(c)
    prod = c.call("requester", "POST", f"{base}/deployments", {
        "version": 1, "environment": "prod", "promotion_id": c.ids["promotions"]["scorer_approved"],
        "target": {"endpoint": "https://scoring.example/v1",
                   "image_digest": "sha256:" + _sha(b"serving")}}, 201)
    c.call("requester", "POST", f"{base}/deployments", {"version": 1, "environment": "staging"},
           201)
    c.call("requester", "POST", f"{base}/deployments", {"version": 2, "environment": "staging"},
           201)
    rolled = c.call("requester", "POST", f"{base}/rollbacks", {
        "version": 1, "environment": "staging", "reason": "latency regression in v2"}, 201)
    assert rolled["deployment"]["rollback_of"] is not None, rolled
    c.ids["deployments"] = {"prod": prod["deployment"]["id"],
                            "rollback": rolled["deployment"]["id"]}
    _protected_rollback(c)


def _environments(c: Caller) -> None:
    """prod declared protected, staging unprotected; canary unprotected, then protected."""
    for name, protected in (("prod", True), ("staging", False), ("canary", False)):
        c.call("admin", "POST", f"{V1}/environments", {"name": name, "protected": protected},
               201)
    c.call("admin", "POST", f"{V1}/environments", {"name": "canary", "protected": True,
                                                   "reason": "serves real traffic now"}, 201)


def _protected_rollback(c: Caller) -> None:
    """'scorer' v2 approved for @champion and deployed to prod, prod rolled back to v1 (v2
    loses @champion, with the reason); 'scorecard' v1 demoted out of Production."""
    champion = _promote(c, "requester", "scorer", 2, "@champion")
    _decide(c, "risk1", champion, exception={"justification": "challenger, monitored weekly"})
    c.call("requester", "POST", f"{V1}/models/scorer/deployments", {
        "version": 2, "environment": "prod", "promotion_id": champion}, 201)
    rolled = c.call("requester", "POST", f"{V1}/models/scorer/rollbacks", {
        "version": 1, "environment": "prod", "reason": "v2 mis-scores thin files"}, 201)
    assert [r["kind"] for r in rolled["registry"]] == ["model_alias.removed"], rolled
    c.call("risk1", "POST", f"{V1}/models/scorecard/versions/1/demotions", {
        "from": "Production", "reason": "superseded by the 2026 scorecard"}, 201)


def adopt_legacy_environment(app: Any) -> None:
    """The entry the upgrade writes for an environment deployments used before environments
    were declared (no route writes it): here for one no deployment used."""
    from app.ledger.entry import Draft

    draft = Draft("environment.adopted", "system", {"environment": "legacy"},
                  {"protected": False, "rule": "protected when the name starts with 'prod'"})
    app.extensions["mlaudit"].committer.run(lambda w: w.append([draft]))


def _reports(c: Caller) -> None:
    """A run, an experiment and a model report, issued to the auditor."""
    issued = {}
    for what, path in (("run", f"runs/{c.ids['runs']['baseline']}"),
                       ("experiment", f"experiments/{c.ids['experiments']['credit']}"),
                       ("model", "models/scorecard")):
        response = c.send("auditor", "GET", f"{V1}/reports/{path}.pdf")
        assert response.status_code == 200, (path, response.get_data(as_text=True)[:2000])
        assert response.mimetype == "application/pdf"
        issued[what] = response.headers["X-Report-Id"]
    c.ids["reports"] = issued


def exercise(app: Any, client: Any, admin_token: str,
             run_cli: Callable[..., Any] | None = None) -> dict[str, Any]:
    """Write every entry kind (docs/entry-kinds.md) through the native and MLflow HTTP APIs,
    as the people in PEOPLE plus the admin; call it once per database (names are fixed).

    Returns what it made: tokens (name -> secret, admin included; 'contractor' is revoked),
    experiments, runs, logged_models (name -> id), models (name -> version numbers),
    promotions (name -> id), deployments (id), reports (report ids) and client_key (its id).
    run_cli, the conftest fixture, creates the tokens with `mlaudit token create`; without
    it they are made through the token service."""
    c = Caller(client, _people(app, run_cli, admin_token))
    for step in (_experiments, _access, _runs, _run_data, _run_evidence, _run_lifecycle,
                 _mlflow_run, _sandbox, _logged_models, _native_model, _mlflow_model,
                 _mlflow_version_metadata, _unpinned_version):
        step(c)
    c.ids["promotions"] = {**_quorum_promotions(c), **_closed_promotions(c)}
    _deployments(c)
    adopt_legacy_environment(app)
    _reports(c)
    key = c.ids.pop("client_key")
    return {**c.ids, "tokens": dict(c.secrets), "models": {"scorecard": [1], "scorer": [1, 2],
                                                          "lake": [1]},
            "client_key": key["key_id"]}
