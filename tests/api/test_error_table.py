"""A domain error is translated once per adapter, from the kernel's one table of statuses."""

from __future__ import annotations

import pytest
from flask import Blueprint, Flask
from flask.testing import FlaskClient

from app.api.http import errors as kernel
from app.api.mlflow import errors as mlflow_errors
from app.ledger.errors import LedgerError
from app.services import access, registry, tracking

MLFLOW = {400: "INVALID_PARAMETER_VALUE", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
          404: "RESOURCE_DOES_NOT_EXIST", 409: "INVALID_PARAMETER_VALUE",
          422: "INVALID_PARAMETER_VALUE"}


@pytest.fixture(scope="module")
def client() -> FlaskClient:
    """Both adapters' translators on one app, with a route in each that raises an error."""
    app = Flask(__name__)
    kernel.register_error_handlers(app)
    raised: dict[str, Exception] = {}
    v1 = Blueprint("v1_probe", __name__, url_prefix="/api/v1")
    mlflow = Blueprint("mlflow_probe", __name__, url_prefix="/api/2.0/mlflow")
    mlflow_errors.register_error_handlers(mlflow)
    mlflow_errors.install(app)

    def fail() -> str:
        raise raised["error"]

    v1.add_url_rule("/fail", "fail", fail)
    mlflow.add_url_rule("/fail", "fail", fail)
    app.register_blueprint(v1)
    app.register_blueprint(mlflow)
    app.config["raised"] = raised
    return app.test_client()


def test_subclasses_come_before_their_bases() -> None:
    """The first match wins, so an entry after its base would never be used."""
    kinds = [kind for kind, _status, _title in kernel.DOMAIN_ERRORS]
    for i, kind in enumerate(kinds):
        shadowing = [base.__name__ for base in kinds[:i] if issubclass(kind, base)]
        assert not shadowing, f"{kind.__name__} is listed after {shadowing}"
    assert kinds[-1] is LedgerError  # every other domain error falls to it


@pytest.mark.parametrize(("error", "status"), [
    (tracking.NotFound("run 'r1' does not exist"), 404),
    (tracking.Conflict("param 'lr' already has a value"), 409),
    (access.SignatureRejected("the signature does not verify"), 401),
    (registry.Forbidden("an approver may not approve their own promotion"), 403),
    (registry.Invalid("unknown stage 'Live'"), 400),
    (tracking.TrackingError("another tracking error"), 422),
    (LedgerError("a ledger error"), 422),
])
def test_each_adapter_answers_the_status_of_the_table(client: FlaskClient, error: Exception,
                                                      status: int) -> None:
    assert kernel.domain_status(error)[0] == status
    client.application.config["raised"]["error"] = error
    v1 = client.get("/api/v1/fail")
    assert (v1.status_code, v1.mimetype) == (status, kernel.PROBLEM_TYPE)
    assert v1.json == {"type": "about:blank", "title": kernel.domain_status(error)[1],
                       "status": status, "detail": str(error), "instance": "/api/v1/fail"}
    mlflow = client.get("/api/2.0/mlflow/fail")
    assert mlflow.status_code == (status if status in (401, 403, 404) else 400)
    assert mlflow.json == {"error_code": MLFLOW[status], "message": str(error)}


def test_the_app_answers_unrouted_paths_in_the_adapter_s_format(client: FlaskClient) -> None:
    mlflow = client.get("/api/2.0/mlflow/no-such-route")
    assert mlflow.status_code == 404
    assert mlflow.json is not None and mlflow.json["error_code"] == "ENDPOINT_NOT_FOUND"
    v1 = client.get("/api/v1/no-such-route")
    assert (v1.status_code, v1.mimetype) == (404, kernel.PROBLEM_TYPE)


def test_an_error_outside_the_table_is_not_a_domain_error() -> None:
    with pytest.raises(TypeError):
        kernel.domain_status(ValueError("not a domain error"))
