"""Every route × every role: the policy table below is the contract; a new route must join it."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

ALL = {"admin", "writer", "approver", "auditor"}
WRITE = {"admin", "writer"}
ADMIN = {"admin"}
PUBLIC: set[str] = set()

# (method, rule) -> the roles that may call it; PUBLIC routes need no token at all.
POLICY: dict[tuple[str, str], set[str]] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/api/v1/ledger/keys"): PUBLIC,
    ("GET", "/api/v1/ledger/checkpoints/latest"): ALL,
    ("GET", "/api/v1/ledger/checkpoints/<int:tree_size>"): ALL,
    ("GET", "/api/v1/ledger/entries"): ALL,
    ("GET", "/api/v1/ledger/entries/<int:seq>"): ALL,
    ("GET", "/api/v1/ledger/consistency"): ALL,
    ("POST", "/api/v1/experiments"): WRITE,
    ("GET", "/api/v1/experiments"): ALL,
    ("GET", "/api/v1/experiments/<experiment_id>"): ALL,
    ("GET", "/api/v1/experiments/by-name/<path:name>"): ALL,
    ("POST", "/api/v1/experiments/<experiment_id>/archive"): WRITE,
    ("POST", "/api/v1/runs"): WRITE,
    ("GET", "/api/v1/runs"): ALL,
    ("GET", "/api/v1/runs/<run_id>"): ALL,
    ("POST", "/api/v1/runs/<run_id>/end"): WRITE,
    ("POST", "/api/v1/runs/<run_id>/params"): WRITE,
    ("POST", "/api/v1/runs/<run_id>/metrics"): WRITE,
    ("POST", "/api/v1/runs/<run_id>/batch"): WRITE,
    ("PUT", "/api/v1/runs/<run_id>/tags/<path:key>"): WRITE,
    ("DELETE", "/api/v1/runs/<run_id>/tags/<path:key>"): WRITE,
    ("GET", "/api/v1/runs/<run_id>/tags/<path:key>/history"): ALL,
    ("GET", "/api/v1/runs/<run_id>/metrics/<path:key>/history"): ALL,
    ("GET", "/api/v1/runs/<run_id>/metrics/<path:key>/groups"): ALL,
    ("POST", "/api/v1/runs/<run_id>/inputs"): WRITE,
    ("PUT", "/api/v1/runs/<run_id>/environment"): WRITE,
    ("GET", "/api/v1/runs/<run_id>/manifest"): ALL,
    ("GET", "/api/v1/tokens"): {"admin", "auditor"},
    ("POST", "/api/v1/tokens/<name>/revoke"): ADMIN,
    ("POST", "/api/v1/grants"): ADMIN,
    ("DELETE", "/api/v1/grants/<token_name>/<experiment_id>"): ADMIN,
    ("GET", "/api/v1/grants"): {"admin", "auditor"},
    ("POST", "/api/v1/client-keys"): ALL,
    ("GET", "/api/v1/client-keys"): ALL,
    ("PUT", "/api/v1/runs/<run_id>/artifacts/<path:path>"): WRITE,
    ("GET", "/api/v1/runs/<run_id>/artifacts/<path:path>"): ALL,
    ("GET", "/api/v1/runs/<run_id>/artifacts"): ALL,
    ("POST", "/api/v1/runs/<run_id>/artifacts/external"): WRITE,
    ("POST", "/api/v1/models"): WRITE,
    ("GET", "/api/v1/models"): ALL,
    ("GET", "/api/v1/models/<name>"): ALL,
    ("POST", "/api/v1/models/<name>/versions"): WRITE,
    ("GET", "/api/v1/models/<name>/versions/<int:version>"): ALL,
    ("POST", "/api/v1/models/<name>/versions/<int:version>/transition"): WRITE,
    ("PUT", "/api/v1/models/<name>/policy"): ADMIN,
    ("POST", "/api/v1/models/<name>/versions/<int:version>/promotions"): WRITE,
    ("GET", "/api/v1/promotions"): ALL,
    ("GET", "/api/v1/promotions/<promotion_id>"): ALL,
    ("POST", "/api/v1/promotions/<promotion_id>/decisions"): {"approver", "admin"},
    ("POST", "/api/v1/promotions/<promotion_id>/withdraw"): WRITE,
    ("POST", "/api/v1/models/<name>/deployments"): WRITE,
    ("POST", "/api/v1/models/<name>/rollbacks"): WRITE,
    ("GET", "/api/v1/models/<name>/deployments"): ALL,
    ("GET", "/api/v1/models/<name>/deployed"): ALL,
    ("GET", "/api/v1/models/<name>/versions/<int:version>/lineage"): ALL,
    ("GET", "/api/v1/openapi.json"): ALL,
    ("GET", "/metrics"): {"admin", "auditor"},
    ("GET", "/api/v1/reports/runs/<run_id>.pdf"): {"admin", "auditor"},
    ("GET", "/api/v1/reports/experiments/<experiment_id>.pdf"): {"admin", "auditor"},
    ("GET", "/api/v1/reports/models/<name>.pdf"): {"admin", "auditor"},
    ("GET", "/api/v1/reports/lookup"): {"admin", "auditor"},
    ("GET", "/api/2.0/mlflow/experiments/get"): ALL,
    ("GET", "/api/2.0/mlflow/experiments/get-by-name"): ALL,
    ("POST", "/api/2.0/mlflow/experiments/create"): WRITE,
    ("GET", "/api/2.0/mlflow/experiments/search"): ALL,
    ("POST", "/api/2.0/mlflow/experiments/search"): ALL,
    ("POST", "/api/2.0/mlflow/runs/create"): WRITE,
    ("GET", "/api/2.0/mlflow/runs/get"): ALL,
    ("POST", "/api/2.0/mlflow/runs/update"): WRITE,
    ("POST", "/api/2.0/mlflow/runs/log-parameter"): WRITE,
    ("POST", "/api/2.0/mlflow/runs/log-metric"): WRITE,
    ("POST", "/api/2.0/mlflow/runs/set-tag"): WRITE,
    ("POST", "/api/2.0/mlflow/runs/delete-tag"): WRITE,
    ("POST", "/api/2.0/mlflow/runs/log-batch"): WRITE,
    ("POST", "/api/2.0/mlflow/runs/search"): ALL,
    ("GET", "/api/2.0/mlflow/metrics/get-history"): ALL,
    ("POST", "/api/2.0/mlflow/runs/delete"): WRITE,
    ("POST", "/api/2.0/mlflow/runs/restore"): WRITE,
    ("POST", "/api/2.0/mlflow/runs/log-inputs"): WRITE,
    ("POST", "/api/2.0/mlflow/experiments/delete"): WRITE,
    ("POST", "/api/2.0/mlflow/experiments/restore"): WRITE,
    ("POST", "/api/2.0/mlflow/experiments/update"): WRITE,
    ("POST", "/api/2.0/mlflow/experiments/set-experiment-tag"): WRITE,
    ("POST", "/api/2.0/mlflow/experiments/delete-experiment-tag"): WRITE,
    ("PUT", "/api/2.0/mlflow-artifacts/artifacts/<path:path>"): WRITE,
    ("GET", "/api/2.0/mlflow-artifacts/artifacts/<path:path>"): ALL,
    ("GET", "/api/2.0/mlflow-artifacts/artifacts"): ALL,
    ("DELETE", "/api/2.0/mlflow-artifacts/artifacts/<path:path>"): WRITE,
    ("GET", "/api/3.0/mlflow/server-info"): ALL,
    ("GET", "/health"): PUBLIC,
    ("GET", "/version"): ALL,
    ("POST", "/api/2.0/mlflow/registered-models/create"): WRITE,
    ("GET", "/api/2.0/mlflow/registered-models/get"): ALL,
    ("PATCH", "/api/2.0/mlflow/registered-models/update"): WRITE,
    ("POST", "/api/2.0/mlflow/registered-models/set-tag"): WRITE,
    ("DELETE", "/api/2.0/mlflow/registered-models/delete-tag"): WRITE,
    ("POST", "/api/2.0/mlflow/registered-models/rename"): WRITE,
    ("DELETE", "/api/2.0/mlflow/registered-models/delete"): WRITE,
    ("GET", "/api/2.0/mlflow/registered-models/search"): ALL,
    ("GET", "/api/2.0/mlflow/registered-models/get-latest-versions"): ALL,
    ("POST", "/api/2.0/mlflow/registered-models/get-latest-versions"): ALL,
    ("POST", "/api/2.0/mlflow/registered-models/alias"): WRITE,
    ("GET", "/api/2.0/mlflow/registered-models/alias"): ALL,
    ("DELETE", "/api/2.0/mlflow/registered-models/alias"): WRITE,
    ("POST", "/api/2.0/mlflow/model-versions/create"): WRITE,
    ("GET", "/api/2.0/mlflow/model-versions/get"): ALL,
    ("PATCH", "/api/2.0/mlflow/model-versions/update"): WRITE,
    ("POST", "/api/2.0/mlflow/model-versions/set-tag"): WRITE,
    ("DELETE", "/api/2.0/mlflow/model-versions/delete-tag"): WRITE,
    ("DELETE", "/api/2.0/mlflow/model-versions/delete"): WRITE,
    ("POST", "/api/2.0/mlflow/model-versions/transition-stage"): WRITE,
    ("GET", "/api/2.0/mlflow/model-versions/get-download-uri"): ALL,
    ("GET", "/api/2.0/mlflow/model-versions/search"): ALL,
    ("POST", "/api/2.0/mlflow/logged-models"): WRITE,
    ("GET", "/api/2.0/mlflow/logged-models/<model_id>"): ALL,
    ("PATCH", "/api/2.0/mlflow/logged-models/<model_id>"): WRITE,
    ("DELETE", "/api/2.0/mlflow/logged-models/<model_id>"): WRITE,
    ("PATCH", "/api/2.0/mlflow/logged-models/<model_id>/tags"): WRITE,
    ("DELETE", "/api/2.0/mlflow/logged-models/<model_id>/tags/<path:key>"): WRITE,
    ("POST", "/api/2.0/mlflow/logged-models/<model_id>/params"): WRITE,
    ("POST", "/api/2.0/mlflow/logged-models/search"): ALL,
    ("POST", "/api/2.0/mlflow/runs/outputs"): WRITE,
}


def routes(app: Any) -> list[tuple[str, str]]:
    return sorted((method, rule.rule) for rule in app.url_map.iter_rules()
                  for method in rule.methods - {"HEAD", "OPTIONS"})


def concrete(rule: str) -> str:
    rule = re.sub(r"<path:[a-z_]+>", "a/b", rule)
    return re.sub(r"<(?:int:)?[a-z_]+>", "1", rule)


def test_every_route_has_a_policy(app: Any) -> None:
    missing = [route for route in routes(app) if route not in POLICY]
    assert not missing, f"routes without an entry in POLICY: {missing}"


@pytest.fixture
def tokens(run_cli: Any, admin_token: str) -> dict[str, str]:
    found = {"admin": admin_token}
    for role in ("writer", "approver", "auditor"):
        found[role] = run_cli("token", "create", "--name", f"m-{role}", "--role",
                              role).stdout.split()[-1]
    return found


def test_roles_are_enforced_on_every_route(app: Any, client: Any,
                                           tokens: dict[str, str]) -> None:
    for method, rule in routes(app):
        allowed = POLICY[(method, rule)]
        if allowed is PUBLIC:
            continue
        for role, secret in tokens.items():
            response = client.open(concrete(rule), method=method, data=json.dumps({}),
                                   content_type="application/json",
                                   headers={"Authorization": f"Bearer {secret}"})
            denied = response.status_code == 403
            assert denied == (role not in allowed), (method, rule, role, response.status_code)
            assert response.status_code not in (401, 500), (method, rule, role)
