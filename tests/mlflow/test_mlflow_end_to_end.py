"""End to end: an unmodified MLflow training script against a live mlaudit server.

scikit-learn logistic regression on a small synthetic credit dataset. The script logs params,
overall and per-group metrics (the `metric[attr=value;n=N]` key convention), its dataset with
`log_input`, and the model with `log_model(..., registered_model_name=...)`. Setting the
protected `champion` alias without approval fails; after an approver approves the promotion
through our API, the same MLflow call succeeds and `load_model("models:/name@champion")`
predicts. The ledger then verifies, and the model report shows the run.
"""

from __future__ import annotations

import io
import re
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
import sklearn  # noqa: F401,E402  (the end-to-end flow logs a scikit-learn model)
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402
from pypdf import PdfReader  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from app.services.verification import verify_database  # noqa: E402

MODEL = "credit-scorecard"


@pytest.fixture
def people(admin_token: str, make_token: Any) -> dict[str, str]:
    return {"admin": admin_token, "builder": make_token("ci-pipeline", "writer"),
            "risk": make_token("risk-officer", "approver"),
            "auditor": make_token("examiner", "auditor")}


@pytest.fixture
def tracking(server: str, people: dict[str, str], point_mlflow: Any) -> str:
    point_mlflow(server, people["builder"])
    return server


def synthetic_loans(seed: int = 7, rows: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], size=rows, p=[0.45, 0.55])
    income = rng.normal(55, 15, rows) + np.where(sex == "M", 4.0, 0.0)
    debt = rng.uniform(0.0, 0.6, rows)
    score = 0.08 * (income - 55) - 4.0 * (debt - 0.3) + rng.normal(0, 0.7, rows)
    return pd.DataFrame({"income": income, "debt_ratio": debt, "sex": sex,
                         "repaid": (score > 0).astype(int)})


def train(data: pd.DataFrame) -> dict[str, Any]:
    """The training script, written as a team would write it for stock MLflow."""
    features = data[["income", "debt_ratio"]].to_numpy()
    target = data["repaid"].to_numpy()
    params = {"C": 0.5, "max_iter": 200, "solver": "lbfgs", "random_state": 0}
    mlflow.set_experiment("credit-risk")
    with mlflow.start_run(run_name="logreg-baseline") as run:
        mlflow.log_params(params)
        mlflow.set_tags({"team": "credit-risk", "purpose": "fair-lending"})
        mlflow.log_input(mlflow.data.from_pandas(data, name="loans-2026q3",
                                                 targets="repaid"), context="training")
        model = LogisticRegression(**params).fit(features, target)
        predicted = model.predict(features)
        mlflow.log_metric("accuracy", float((predicted == target).mean()))
        for sex in ("F", "M"):
            mask = data["sex"].to_numpy() == sex
            rate = float(predicted[mask].mean())
            mlflow.log_metric(f"selection_rate[sex={sex};n={int(mask.sum())}]", rate)
        mlflow.sklearn.log_model(model, name="model", registered_model_name=MODEL,
                                 serialization_format="cloudpickle",
                                 pip_requirements=["scikit-learn"])
    return {"run_id": run.info.run_id, "features": features, "model": model}


def test_a_training_script_is_audited_end_to_end(
        tracking: str, client: Any, people: dict[str, str], services: Any,
        run_cli: Any) -> None:
    trained = train(synthetic_loans())
    run_id = trained["run_id"]
    mlflow_client = MlflowClient()
    [version] = mlflow_client.search_model_versions(f"name = '{MODEL}'")
    assert version.run_id == run_id and version.status == "READY"

    # The run and its per-group metrics are in our API, as if posted natively.
    builder = {"Authorization": f"Bearer {people['builder']}"}
    groups = client.get(f"/api/v1/runs/{run_id}/metrics/selection_rate/groups?attribute=sex",
                        headers=builder)
    assert groups.status_code == 200, groups.json
    assert {g["group"] for g in groups.json["groups"]} == {"F", "M"}
    assert all(g["n"] > 100 for g in groups.json["groups"])
    run = client.get(f"/api/v1/runs/{run_id}", headers=builder).json
    assert run["params"]["C"] == "0.5"
    assert [d["name"] for d in run["inputs"]] == ["loans-2026q3"]

    # The protected alias needs an approved promotion.
    with pytest.raises(MlflowException) as refused:
        mlflow_client.set_registered_model_alias(MODEL, "champion", version.version)
    assert refused.value.error_code == "PERMISSION_DENIED"
    assert "promotion" in refused.value.message
    requested = client.post(f"/api/v1/models/{MODEL}/versions/{version.version}/promotions",
                            headers=builder, json={"target": "@champion",
                                                   "justification": "fair-lending review done"})
    assert requested.status_code == 201, requested.json
    approver = {"Authorization": f"Bearer {people['risk']}"}
    decided = client.post(f"/api/v1/promotions/{requested.json['id']}/decisions",
                          headers=approver, json={"decision": "approve", "comment": "reviewed"})
    assert decided.status_code == 200 and decided.json["status"] == "approved", decided.json
    mlflow_client.set_registered_model_alias(MODEL, "champion", version.version)
    assert mlflow_client.get_model_version_by_alias(MODEL, "champion").version == version.version

    loaded = mlflow.sklearn.load_model(f"models:/{MODEL}@champion")
    features = trained["features"][:5]
    assert list(loaded.predict(features)) == list(trained["model"].predict(features))

    with services.pool.connection() as conn:
        assert verify_database(conn).ok
    verified = run_cli("verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    auditor = {"Authorization": f"Bearer {people['auditor']}"}
    report = client.get(f"/api/v1/reports/models/{MODEL}.pdf", headers=auditor)
    assert report.status_code == 200, report.data[:500]
    text = re.sub(r"\s+", "", " ".join(page.extract_text() or "" for page in
                                       PdfReader(io.BytesIO(report.data)).pages))
    assert run_id in text and "selection_rate" in text and "risk-officer" in text
