"""A loan-approval model built through the real services: three versions, one rejected, one
approved with a policy exception after a refused self-approval, a deployment and a rollback.

`build(client, services, admin_token)` writes it through the HTTP routes (the stock MLflow
client's `runs/create` for the runs, /api/v1 for the rest) and returns what it made; the
report tests, the golden summary and the page pictures all read the same ledger.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from app.services import tokens

MODEL = "loan-approval"
EXPERIMENT = "loan-approval-training"
V1, MLFLOW = "/api/v1", "/api/2.0/mlflow"
PEOPLE = (  # principal, printed name, then its tokens and their roles
    ("dana", "Dana Okafor", (("dana", "writer"), ("dana.approver", "approver"))),
    ("ravi", "Ravi Patel", (("ravi", "writer"),)),
    ("grace", "Grace Lin", (("grace", "approver"),)),
    ("tomas", "Tomás Herrera", (("tomas", "approver"),)),
)
POLICY = {
    "required_params": ["learning_rate", "max_depth"],
    "required_tags": ["git_commit", "pipeline", "owner"],
    "fairness": [{"metric": "selection_rate", "attribute": "sex", "reference": "male",
                  "band": ["0.8", "1.25"], "min_n": 30}],
    "minimums": [{"metric": "auc", "at_least": "0.75"}],
}
# Per version: params, overall metrics, selection rate and TPR by group (value, n).
VERSIONS: dict[int, dict[str, Any]] = {
    1: {"params": {"learning_rate": "0.05", "max_depth": "4"},
        "metrics": {"auc": "0.8083333333333333", "accuracy": "0.774"},
        "sex": {"female": ("0.412", 512), "male": ("0.458", 540)},
        "age_band": {"18-34": ("0.431", 380), "35-54": ("0.447", 466), "55+": ("0.402", 206)}},
    2: {"params": {"learning_rate": "0.1", "max_depth": "6"},
        "metrics": {"auc": "0.8312", "accuracy": "0.781"},
        "sex": {"female": ("0.331", 509), "male": ("0.472", 548)},
        "age_band": {"18-34": ("0.452", 377), "35-54": ("0.418", 470), "55+": ("0.298", 24)}},
    3: {"params": {"learning_rate": "0.07", "max_depth": "5"},
        "metrics": {"auc": "0.8421", "accuracy": "0.789"},
        "sex": {"female": ("0.368", 515), "male": ("0.469", 544)},
        "age_band": {"18-34": ("0.449", 381), "35-54": ("0.431", 468), "55+": ("0.377", 210)}},
}
REFUSED_EXCEPTION = "Age-band gap is within tolerance for the pilot; I vouch for it."
GRANTED_EXCEPTION = ("Selection-rate ratio for female applicants (0.785) is below the 0.80 band; "
                     "accepted for 90 days with monthly monitoring (ticket RISK-214).")
REJECTION = "Selection rate for female applicants is 0.70 of male: outside the 0.80-1.25 band."
ROLLBACK_REASON = "Complaint rate doubled in the first week of v3; restoring v1 pending review."


@dataclass
class Scenario:
    """What `build` made: names, ids, the tokens' secrets, and the refusal's reason."""

    client: Any
    secrets: dict[str, str]
    experiment_id: str = ""
    runs: dict[int, str] = field(default_factory=dict)
    promotions: dict[int, str] = field(default_factory=dict)
    refusal: str = ""
    model: str = MODEL

    def send(self, who: str, method: str, path: str, payload: Any = None) -> Any:
        return self.client.open(path, method=method, data=json.dumps(payload or {}),
                                headers={"Authorization": f"Bearer {self.secrets[who]}"},
                                content_type="application/json")

    def call(self, who: str, method: str, path: str, payload: Any = None) -> Any:
        response = self.send(who, method, path, payload)
        assert response.status_code < 300, (path, response.get_data(as_text=True))
        return response.json


def _people(services: Any, admin_token: str) -> dict[str, str]:
    secrets = {"admin": admin_token}
    for name, printed, held in PEOPLE:
        services.committer.run(lambda w, n=name, p=printed: tokens.create_principal(
            w, n, p, "person", "token:admin"))
        for token, role in held:
            secret, _ = services.committer.run(lambda w, t=token, r=role, n=name: (
                tokens.create_token(w, t, r, "token:admin", principal=n)))
            secrets[token] = str(secret)
    return secrets


def _client_tags(version: int) -> list[dict[str, str]]:
    """What the stock MLflow client sends at runs/create, plus the pipeline's own tags."""
    commit = f"{version}a7c3e9f0b1d2c4e6f8a0b2c4d6e8f0a1b3c5d7e"[:40]
    tags = {"mlflow.user": "dana", "mlflow.source.name": "pipelines/train_loan_model.py",
            "mlflow.source.type": "LOCAL", "mlflow.source.git.commit": commit,
            "mlflow.source.git.branch": "main",
            "mlflow.source.git.repoURL": "https://git.example.com/credit/loan-models.git",
            "mlflow.runName": "ci-gbm-7" if version < 3 else "ci-gbm-8",
            "git_commit": commit, "pipeline": "credit-ci/train#41" + str(version),
            "owner": "credit-risk-analytics"}
    return [{"key": k, "value": v} for k, v in tags.items()]


def _metrics(figures: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"key": k, "value": v, "timestamp": 1_767_225_600_000}
                                 for k, v in figures["metrics"].items()]
    for attribute in ("sex", "age_band"):
        for group, (value, n) in figures[attribute].items():
            out.append({"key": "selection_rate", "value": value, "group": {attribute: group},
                        "n": n, "timestamp": 1_767_225_600_000})
            tpr = f"{min(0.99, float(value) + 0.35):.3f}"
            out.append({"key": "true_positive_rate", "value": tpr, "group": {attribute: group},
                        "n": n // 2, "timestamp": 1_767_225_600_000})
    return out


def _run(s: Scenario, version: int) -> str:
    figures = VERSIONS[version]
    created = s.call("dana", "POST", f"{MLFLOW}/runs/create", {
        "experiment_id": s.experiment_id, "start_time": 1_767_222_000_000 + version * 86_400_000,
        "tags": _client_tags(version)})
    run = str(created["run"]["info"]["run_id"])
    s.call("dana", "POST", f"{V1}/runs/{run}/params", {"params": figures["params"]})
    s.call("dana", "POST", f"{V1}/runs/{run}/metrics", {"metrics": _metrics(figures)})
    s.call("dana", "POST", f"{V1}/runs/{run}/inputs", {"datasets": [{
        "name": "loan-applications-2025q4", "digest": f"{version:x}" * 64,
        "context": "training", "row_count": 1052 + version}]})
    response = s.client.put(f"{V1}/runs/{run}/artifacts/model/model.pkl",
                            data=f"gbm weights v{version}".encode(),
                            headers={"Authorization": f"Bearer {s.secrets['dana']}"})
    assert response.status_code == 201, response.json
    s.call("dana", "POST", f"{V1}/runs/{run}/end", {"status": "FINISHED"})
    return run


def _decide(s: Scenario, who: str, promotion: str, decision: str, comment: str,
            exception: str | None = None) -> Any:
    payload: dict[str, Any] = {"decision": decision, "comment": comment}
    if exception:
        payload["exception"] = {"justification": exception}
    return s.send(who, "POST", f"{V1}/promotions/{promotion}/decisions", payload)


def _version(s: Scenario, version: int, justification: str) -> str:
    s.runs[version] = _run(s, version)
    s.call("dana", "POST", f"{V1}/models/{MODEL}/versions",
           {"run_id": s.runs[version], "artifact_path": "model"})
    promotion = str(s.call("ravi", "POST", f"{V1}/models/{MODEL}/versions/{version}/promotions",
                           {"target": "Production", "justification": justification,
                            "classification": "material"})["id"])
    s.promotions[version] = promotion
    return promotion


def _deploy(s: Scenario, version: int) -> None:
    s.call("ravi", "POST", f"{V1}/models/{MODEL}/deployments", {
        "version": version, "environment": "production", "promotion_id": s.promotions[version],
        "target": {"endpoint": "https://score.example.com/loan-approval"}})


def build(client: Any, services: Any, admin_token: str) -> Scenario:
    """The whole scenario, in the order it happened; returns what it made."""
    s = Scenario(client, _people(services, admin_token))
    s.call("admin", "POST", f"{V1}/environments", {"name": "production", "protected": True})
    s.experiment_id = str(s.call("dana", "POST", f"{V1}/experiments",
                                 {"name": EXPERIMENT})["id"])
    s.call("dana", "POST", f"{V1}/models", {
        "name": MODEL, "owner": "credit-risk-analytics", "sensitive_attributes": ["sex",
                                                                                 "age_band"],
        "description": "Approves or declines consumer loan applications."})
    s.call("admin", "PUT", f"{V1}/models/{MODEL}/policy", {"policy": POLICY})
    p1 = _version(s, 1, "First production candidate; validated on the 2025 Q4 holdout.")
    assert _decide(s, "grace", p1, "approve", "Independent validation passed.").status_code < 300
    _deploy(s, 1)
    p2 = _version(s, 2, "Deeper trees for higher AUC.")
    assert _decide(s, "tomas", p2, "reject", REJECTION).status_code < 300
    p3 = _version(s, 3, "Retuned learning rate; AUC 0.842.")
    refused = _decide(s, "dana.approver", p3, "approve", "Looks fine to me.", REFUSED_EXCEPTION)
    assert refused.status_code == 403, refused.get_data(as_text=True)
    s.refusal = str(refused.json["detail"])
    approved = _decide(s, "grace", p3, "approve", "Approved under a time-limited exception.",
                       GRANTED_EXCEPTION)
    assert approved.status_code < 300, approved.get_data(as_text=True)
    _deploy(s, 3)
    s.call("ravi", "POST", f"{V1}/models/{MODEL}/rollbacks",
           {"version": 1, "environment": "production", "reason": ROLLBACK_REASON})
    return s
