"""Attacks on experiment scope (issue 16, section 2), each first reproduced against the code
that let it through:

- a token scoped to experiment A read B's params, metrics, tags, artifact digests and
  promotion justification through the ledger routes;
- revoking a token's last grant made it unscoped (it then read and wrote everything);
- an out-of-scope object answered 403 where a missing one answered 404 (an existence oracle),
  and /api/v1/reports/lookup described a report on B to a token scoped to A.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest

from app.services import tokens

MLFLOW = "/api/2.0/mlflow"
SECRET = "bravo-secret-0123"  # a string that only B's objects hold


def send(client: Any, secret: str, method: str, path: str, payload: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {secret}"}
    if isinstance(payload, bytes):
        return client.open(path, method=method, headers=headers, data=payload)
    return client.open(path, method=method, headers=headers, data=json.dumps(payload or {}),
                       content_type="application/json")


def ok(response: Any) -> Any:
    assert response.status_code < 300, response.get_data(as_text=True)
    return response.json


def make_token(services: Any, name: str, role: str) -> str:
    return str(services.committer.run(lambda w: tokens.create_token(w, name, role, "test"))[0])


class World:
    """Experiments A and B, each with a run holding a param, metrics, a tag, an artifact, a
    logged model, a registered model with version 1, a pending promotion and a deployment;
    B's hold SECRET everywhere a string can go. Scoped tokens (granted A) and an admin."""

    def __init__(self, client: Any, services: Any, admin: str) -> None:
        self.client, self.services, self.admin = client, services, admin
        self.builder = make_token(services, "builder", "writer")
        self.exp: dict[str, str] = {}
        self.run: dict[str, str] = {}
        self.lm: dict[str, str] = {}
        self.model: dict[str, str] = {}
        self.promotion: dict[str, str] = {}
        self.call(admin, "POST", "/api/v1/environments", {"name": "dev", "protected": False})
        for side in ("A", "B"):
            self._seed(side)
        self.scoped = {role: make_token(services, f"s-{role}", role)
                       for role in ("writer", "auditor", "approver")}
        for role in self.scoped:
            self.grant(f"s-{role}", self.exp["A"])

    def call(self, secret: str, method: str, path: str, payload: Any = None) -> Any:
        return ok(send(self.client, secret, method, path, payload))

    def grant(self, token_name: str, experiment_id: str) -> None:
        self.call(self.admin, "POST", "/api/v1/grants",
                  {"token_name": token_name, "experiment_id": experiment_id})

    def _seed(self, side: str) -> None:
        word = "alpha" if side == "A" else SECRET
        b = self.builder
        exp = self.exp[side] = self.call(b, "POST", "/api/v1/experiments",
                                         {"name": f"{word}-exp"})["id"]
        run = self.run[side] = self.call(b, "POST", "/api/v1/runs", {"experiment_id": exp})["id"]
        self.call(b, "POST", f"/api/v1/runs/{run}/batch", {
            "params": [{"key": "lr", "value": f"{word}-lr"}], "tags": {"team": f"{word}-team"},
            "metrics": [{"key": f"{word}-auc", "value": "0.9"}]})
        self.call(b, "PUT", f"/api/v1/runs/{run}/artifacts/model/file.bin", f"{word}".encode())
        self.lm[side] = self.call(b, "POST", f"{MLFLOW}/logged-models", {
            "experiment_id": exp, "name": f"{word}-lm", "source_run_id": run,
        })["model"]["info"]["model_id"]
        model = self.model[side] = f"{word}-model"
        self.call(b, "POST", "/api/v1/models", {"name": model})
        self.call(b, "POST", f"/api/v1/models/{model}/versions",
                  {"run_id": run, "artifact_path": "model"})
        self.promotion[side] = self.call(
            b, "POST", f"/api/v1/models/{model}/versions/1/promotions",
            {"target": "Production", "justification": f"{word}-justification"})["id"]
        self.call(b, "POST", f"/api/v1/models/{model}/deployments",
                  {"version": 1, "environment": "dev"})


@pytest.fixture
def world(client: Any, services: Any, admin_token: str) -> World:
    return World(client, services, admin_token)


def all_entries(client: Any, secret: str, limit: int = 7) -> list[dict[str, Any]]:
    """Every entry the token is served, following `next` to the end."""
    found: list[dict[str, Any]] = []
    after = -1
    while True:
        page = ok(send(client, secret, "GET",
                       f"/api/v1/ledger/entries?after={after}&limit={limit}"))
        found += page["entries"]
        if page["next"] is None:
            return found
        assert page["next"] > after
        after = page["next"]


def text_of(entry: dict[str, Any]) -> str:
    return base64.b64decode(entry["canonical"]).decode()


# ---- 1. the ledger routes ---------------------------------------------------------------------


def test_scoped_ledger_listing_shows_nothing_of_another_experiment(world: World) -> None:
    everything = all_entries(world.client, world.admin)
    secret_seqs = {e["seq"] for e in everything if SECRET in text_of(e)}
    assert len(secret_seqs) >= 8  # B's experiment, run, params, metrics, ..., promotion
    for role, secret in world.scoped.items():
        served = all_entries(world.client, secret)
        leaked = [e["seq"] for e in served if SECRET in text_of(e)]
        assert not leaked, f"a {role} token scoped to A was served B's entries {leaked}"
        kinds = {e["kind"] for e in served}
        # A's own history is there: the subjects all in A
        assert {"experiment.created", "run.created", "params.logged", "metrics.logged",
                "tags.set", "artifact.recorded", "logged_model.created", "model.created",
                "model_version.created", "promotion.requested",
                "deployment.recorded"} <= kinds, kinds
        assert not kinds & {"token.created", "grant.created", "key.activated"}, kinds
        assert [e["seq"] for e in served] == sorted(e["seq"] for e in served)
        # small pages (some all hidden) skip nothing: the same entries as one large page
        assert served == all_entries(world.client, secret, limit=1000)
        assert {e["seq"] for e in served} | secret_seqs <= {e["seq"] for e in everything}


def missing_like(client: Any, secret: str, path: str, key: str, absent: str,
                 absent_path: str | None = None) -> None:
    """The response for `path` (an object out of scope) equals, byte for byte once `key` is
    swapped for `absent`, the response for the same route on a missing object."""
    hidden = send(client, secret, "GET", path)
    head, _, tail = path.rpartition(key)  # the last one: "/api/2.0" holds experiment "2"
    missing = send(client, secret, "GET", absent_path or f"{head}{absent}{tail}")
    assert hidden.status_code == missing.status_code == 404, (
        path, hidden.status_code, hidden.get_data(as_text=True),
        missing.status_code, missing.get_data(as_text=True))
    assert hidden.mimetype == missing.mimetype, path
    assert shape(hidden, key, absent) == shape(missing), path


def shape(response: Any, key: str = "", absent: str = "") -> Any:
    """The body, with `key` swapped for `absent` in its strings and the request id dropped
    (it differs on every request, and says nothing of the object)."""
    body = response.get_json(silent=True)
    if not isinstance(body, dict):
        return response.get_data(as_text=True).replace(key, absent) if key else \
            response.get_data(as_text=True)
    body.pop("request_id", None)
    return {k: v.replace(key, absent) if key and isinstance(v, str) else v
            for k, v in body.items()}


def test_an_out_of_scope_entry_answers_like_a_missing_one(world: World) -> None:
    everything = all_entries(world.client, world.admin)
    secret_seq = next(e["seq"] for e in everything if SECRET in text_of(e))
    size = everything[-1]["seq"] + 1
    for secret in world.scoped.values():
        missing_like(world.client, secret, f"/api/v1/ledger/entries/{secret_seq}",
                     str(secret_seq), str(size + 50))


def test_revoking_the_last_grant_leaves_a_token_reaching_nothing(world: World) -> None:
    world.call(world.admin, "DELETE", f"/api/v1/grants/s-writer/{world.exp['A']}")
    writer, run_b = world.scoped["writer"], world.run["B"]
    refused = send(world.client, writer, "POST", f"/api/v1/runs/{run_b}/params",
                   {"params": {"stolen": "1"}})
    assert refused.status_code == 404, refused.get_data(as_text=True)
    assert send(world.client, writer, "GET", f"/api/v1/runs/{run_b}").status_code == 404
    assert send(world.client, writer, "POST", "/api/v1/experiments",
                {"name": "mine-now"}).status_code == 403
    assert ok(send(world.client, writer, "GET", "/api/v1/experiments"))["experiments"] == []
    assert ok(send(world.client, writer, "GET", "/api/v1/runs"))["runs"] == []
    assert ok(send(world.client, writer, "GET", "/api/v1/models"))["models"] == []
    assert ok(send(world.client, writer, "POST", f"{MLFLOW}/experiments/search",
                   {}))["experiments"] == []
    assert ok(send(world.client, writer, "POST", f"{MLFLOW}/runs/search", {})).get("runs",
                                                                                  []) == []
    assert all_entries(world.client, writer) == []
    # and the grant can be given back: the token is scoped to A again
    world.grant("s-writer", world.exp["A"])
    assert send(world.client, writer, "GET", f"/api/v1/runs/{world.run['A']}").status_code == 200
    assert send(world.client, writer, "GET", f"/api/v1/runs/{run_b}").status_code == 404


def test_a_never_scoped_token_still_reaches_everything(world: World) -> None:
    free = make_token(world.services, "free", "auditor")
    assert send(world.client, free, "GET", f"/api/v1/runs/{world.run['B']}").status_code == 200
    assert any(SECRET in text_of(e) for e in all_entries(world.client, free))


# ---- 3. no existence oracle -------------------------------------------------------------------


def test_out_of_scope_objects_answer_like_missing_ones(world: World) -> None:
    """Every lookup of one of B's objects by a token scoped to A: the missing-object answer."""
    w, exp, run = world, world.exp["B"], world.run["B"]
    model, promotion, lm = world.model["B"], world.promotion["B"], world.lm["B"]
    ghost_run, ghost_lm = "f" * 32, "m-" + "f" * 32
    cases = [  # path on B's object, the key in it, what to swap it for
        (f"/api/v1/experiments/{exp}", exp, "99999"),
        (f"/api/v1/experiments/by-name/{SECRET}-exp", f"{SECRET}-exp", "ghost-exp"),
        (f"/api/v1/runs/{run}", run, ghost_run),
        (f"/api/v1/runs/{run}/manifest", run, ghost_run),
        (f"/api/v1/runs/{run}/artifacts", run, ghost_run),
        (f"/api/v1/runs/{run}/artifacts/model/file.bin", run, ghost_run),
        (f"/api/v1/runs/{run}/metrics/lr/history", run, ghost_run),
        (f"/api/v1/models/{model}", model, "ghost-model"),
        (f"/api/v1/models/{model}/versions/1", model, "ghost-model"),
        (f"/api/v1/models/{model}/deployments", model, "ghost-model"),
        (f"/api/v1/promotions/{promotion}", promotion, "0" * 32),
        (f"{MLFLOW}/experiments/get?experiment_id={exp}", exp, "99999"),
        (f"{MLFLOW}/experiments/get-by-name?experiment_name={SECRET}-exp", f"{SECRET}-exp",
         "ghost-exp"),
        (f"{MLFLOW}/runs/get?run_id={run}", run, ghost_run),
        (f"{MLFLOW}/metrics/get-history?run_id={run}&metric_key=x", run, ghost_run),
        (f"{MLFLOW}/registered-models/get?name={model}", model, "ghost-model"),
        (f"{MLFLOW}/registered-models/get-latest-versions?name={model}", model, "ghost-model"),
        (f"{MLFLOW}/model-versions/get?name={model}&version=1", model, "ghost-model"),
        (f"{MLFLOW}/model-versions/get-download-uri?name={model}&version=1", model,
         "ghost-model"),
        (f"{MLFLOW}/registered-models/alias?name={model}&alias=x", model, "ghost-model"),
        (f"{MLFLOW}/logged-models/{lm}", lm, ghost_lm),
    ]
    for path, key, absent in cases:
        missing_like(w.client, w.scoped["writer"], path, key, absent)
    auditor = w.scoped["auditor"]
    for path, key, absent in [(f"/api/v1/reports/runs/{run}.pdf", run, ghost_run),
                              (f"/api/v1/reports/experiments/{exp}.pdf", exp, "99999"),
                              (f"/api/v1/reports/models/{model}.pdf", model, "ghost-model")]:
        missing_like(w.client, auditor, path, key, absent)


def test_out_of_scope_writes_answer_like_missing_objects(world: World) -> None:
    w, run = world, world.run["B"]
    writer, ghost = w.scoped["writer"], "f" * 32
    for method, path, payload in [
            ("POST", "/api/v1/runs/{run}/params", {"params": {"x": "1"}}),
            ("POST", f"{MLFLOW}/runs/log-parameter", {"run_id": "{run}", "key": "x",
                                                      "value": "1"}),
            ("POST", f"{MLFLOW}/runs/set-tag", {"run_id": "{run}", "key": "x", "value": "1"})]:
        def build(run_id: str, p: Any = payload, u: str = path) -> tuple[str, Any]:
            return u.replace("{run}", run_id), json.loads(json.dumps(p).replace("{run}", run_id))
        hidden = send(w.client, writer, method, *build(run))
        missing = send(w.client, writer, method, *build(ghost))
        assert hidden.status_code == missing.status_code == 404, (path, hidden.json, missing.json)
        assert shape(hidden, run, ghost) == shape(missing), path


def test_report_lookup_reveals_nothing_out_of_scope(world: World) -> None:
    w = world
    pdf = send(w.client, w.admin, "GET", f"/api/v1/reports/runs/{w.run['B']}.pdf")
    assert pdf.status_code == 200
    digest = hashlib.sha256(pdf.data).hexdigest()
    known = ok(send(w.client, w.admin, "GET", f"/api/v1/reports/lookup?sha256={digest}"))
    assert known["issued"] is True
    unknown = "0" * 64
    scoped = w.scoped["auditor"]
    hidden = send(w.client, scoped, "GET", f"/api/v1/reports/lookup?sha256={digest}")
    missing = send(w.client, scoped, "GET", f"/api/v1/reports/lookup?sha256={unknown}")
    assert hidden.status_code == missing.status_code == 200
    assert hidden.get_data(as_text=True).replace(digest, unknown) == \
        missing.get_data(as_text=True)
    mine = send(w.client, w.admin, "GET", f"/api/v1/reports/runs/{w.run['A']}.pdf")
    digest_a = hashlib.sha256(mine.data).hexdigest()
    assert ok(send(w.client, scoped, "GET", f"/api/v1/reports/lookup?sha256={digest_a}"))[
        "issued"] is True


def test_a_scoped_auditor_lists_only_the_grants_on_its_experiments(world: World) -> None:
    make_token(world.services, "contractor", "writer")
    world.grant("contractor", world.exp["B"])
    everyone = ok(send(world.client, world.admin, "GET", "/api/v1/grants"))["grants"]
    assert world.exp["B"] in {g["experiment_id"] for g in everyone}
    mine = ok(send(world.client, world.scoped["auditor"], "GET", "/api/v1/grants"))["grants"]
    assert mine and {g["experiment_id"] for g in mine} == {world.exp["A"]}
