"""Every route × every role × in scope / out of scope. The two tables are the contract: POLICY
names the roles that may call a route, SCOPE how a token scoped to an experiment is held to it
(or why the route holds no experiment's data). A new route must join both."""

from __future__ import annotations

import base64
import itertools
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from app import create_app
from app.config import load_config
from app.services import promotions, tokens
from app.services.tokens import Principal
from app.storage import tokens as token_store

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
    ("GET", "/api/v1/principals"): {"admin", "auditor"},
    ("POST", "/api/v1/tokens/<name>/revoke"): ADMIN,
    ("POST", "/api/v1/grants"): ADMIN,
    ("DELETE", "/api/v1/grants/<token_name>/<experiment_id>"): ADMIN,
    ("GET", "/api/v1/grants"): {"admin", "auditor"},
    ("POST", "/api/v1/client-keys"): ALL,
    ("GET", "/api/v1/client-keys"): ALL,
    ("PUT", "/api/v1/runs/<run_id>/artifacts/<path:path>"): WRITE,
    ("GET", "/api/v1/runs/<run_id>/artifacts/<path:path>"): ALL,
    ("GET", "/api/v1/runs/<run_id>/artifacts"): ALL,
    ("GET", "/api/v1/runs/<run_id>/artifact-revisions"): ALL,
    ("POST", "/api/v1/runs/<run_id>/artifacts/external"): WRITE,
    ("POST", "/api/v1/models"): WRITE,
    ("GET", "/api/v1/models"): ALL,
    ("GET", "/api/v1/models/<name>"): ALL,
    ("POST", "/api/v1/models/<name>/versions"): WRITE,
    ("GET", "/api/v1/models/<name>/versions/<int:version>"): ALL,
    ("POST", "/api/v1/models/<name>/versions/<int:version>/transition"): WRITE,
    ("POST", "/api/v1/models/<name>/versions/<int:version>/pin"): WRITE,
    ("PUT", "/api/v1/models/<name>/policy"): ADMIN,
    ("PUT", "/api/v1/models/<name>/protected-targets"): WRITE,
    ("PUT", "/api/v1/models/<name>/sensitive-attributes"): WRITE,
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
    ("GET", "/api/v1/models/<name>/versions/<int:version>/artifacts"): ALL,
    ("GET", "/api/v1/models/<name>/versions/<int:version>/artifacts/<path:path>"): ALL,
    ("POST", "/api/v1/environments"): ADMIN,
    ("GET", "/api/v1/environments"): ALL,
    ("POST", "/api/v1/models/<name>/versions/<int:version>/demotions"): {"admin", "writer",
                                                                        "approver"},
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


# ---- the scope dimension ----------------------------------------------------------------------
#
# A token holding grants is scoped to those experiments (Principal.may_use): it reaches their
# runs, artifacts and logged models, and nothing of any other experiment. A model version is
# its run's experiment's, and so are its promotions and deployments; a registered model is A's
# when every version's run is (as GET /api/v1/reports/models/<name>.pdf decides). Every route
# is either Unscoped (with the reason it holds no experiment's data) or has one or more cases.
# A case builds the same request on experiment A's real objects (side "A", in scope) and on
# B's (side "B", out of scope). For each role the route's POLICY allows, a writer, auditor or
# approver token scoped to A must succeed on A and be refused on B with the status stated
# here (404 unless said otherwise: B's objects answer as missing ones, so that a scoped token
# cannot learn what exists; in the route's error format; writing nothing), while an unscoped
# token of the same role succeeds on B: so the refusal is the scope check, not a malformed
# request. A role POLICY refuses is refused (403) on both sides, grants or not. The ledger's
# entries are served to a scoped token only when all their subjects lie in its experiments.

Req = tuple[str, str, Any]  # method, path with query, JSON body (None: {}) or raw bytes
SIDES = ("A", "B")
SCOPED_ROLES = ("writer", "auditor", "approver")
WORDS = {"A": "alpha", "B": "bravo"}
MLFLOW = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
MLFLOW_CODES = {400: "INVALID_PARAMETER_VALUE", 403: "PERMISSION_DENIED",
                404: "RESOURCE_DOES_NOT_EXIST"}


class ScopeLeak(AssertionError):
    """A token scoped to experiment A was served B's data or changed it."""


@dataclass(frozen=True)
class Unscoped:
    """The route holds no experiment's data; why, in words."""

    why: str


@dataclass(frozen=True)
class Case:
    """The route on A's objects and on B's; build may make fresh objects (it runs per call)."""

    build: Callable[[World, str], Req]
    refused: int = 404  # what a token scoped to A gets for B's objects: "missing"
    ok: int | None = None  # what it gets for A's (None: any 2xx)
    unscoped: int | None = None  # what an unscoped token gets for B's, if not `ok`
    defect: str | None = None  # a missing scope check: the case is xfail(strict)
    label: str = ""


@dataclass(frozen=True)
class Listed:
    """A list or search: a scoped token sees A's objects and none of B's."""

    build: Callable[[World], Req]
    marker: Callable[[World, str], str]  # a string only that side's objects show
    defect: str | None = None
    label: str = "listed"


@dataclass(frozen=True)
class NewExperiment:
    """Creates an experiment: refused to every scoped token, whichever its grants."""

    build: Callable[[World], Req]
    label: str = "scoped tokens refused"


@dataclass(frozen=True)
class Entries:
    """GET /api/v1/ledger/entries, paged to the end: a scoped token is served A's entries and
    none whose canonical bytes name B's objects (its word or its run)."""

    label: str = "every page"


Rule = Unscoped | Case | Listed | NewExperiment | Entries
PROBE = Unscoped("a probe: no token, no experiment data")
LEDGER = Unscoped("the ledger's keys, checkpoints and consistency proofs: hashes and sizes "
                  "only, served to every token so that anyone can check the log's history")
ACCESS = Unscoped("tokens, grants and client keys: principals, not experiment data")
SERVICE = Unscoped("a description of the service, no experiment data")
NEW_MODEL = Unscoped("creates an empty registered model: no experiment's data until a version "
                     "is registered from a run")
LOOKUP = Unscoped("answers whether a report with a given SHA-256 was issued here; to a scoped "
                  "token, a report on another experiment answers as an unknown digest (200, "
                  "issued false: tests/test_scope_attacks.py)")


def get(path: str) -> Req:
    return ("GET", path, None)


def post(path: str, payload: Any = None) -> Req:
    return ("POST", path, payload)


def run_path(w: World, s: str, tail: str = "") -> str:
    return f"/api/v1/runs/{w.run[s]}{tail}"


def model_path(w: World, s: str, tail: str = "") -> str:
    return f"/api/v1/models/{w.model[s]}{tail}"


def mlflow_run(w: World, s: str, **extra: Any) -> dict[str, Any]:
    return {"run_id": w.run[s], **extra}


def mlflow_version(w: World, s: str, **extra: Any) -> dict[str, Any]:
    return {"name": w.model[s], "version": "1", **extra}


def run_artifact(w: World, s: str, tail: str) -> str:
    return f"{ARTIFACTS}/{w.exp[s]}/{w.run[s]}/artifacts/{tail}"


def crossed_artifact(w: World, s: str, tail: str) -> str:
    """A's experiment in the path, the side's run: the proxy answers 404 for B's run there,
    to scoped and unscoped tokens alike (the path's experiment must be the run's)."""
    return f"{ARTIFACTS}/{w.exp['A']}/{w.run[s]}/artifacts/{tail}"


def lm_artifact(w: World, s: str, tail: str) -> str:
    return f"{ARTIFACTS}/{w.exp[s]}/models/{w.lm[s]}/artifacts/{tail}"


def version_root(w: World, s: str) -> str:
    """The side's version 1 as get-download-uri names it: its pinned files only."""
    found = w.call("admin", "GET", f"{MLFLOW}/model-versions/get-download-uri?"
                   f"name={w.model[s]}&version=1")
    return str(found["artifact_uri"]).removeprefix("mlflow-artifacts:/")


DATASET = {"name": "train", "digest": "ab" * 32, "context": "training"}
MLFLOW_DATASET = {"tags": [{"key": "mlflow.data.context", "value": "training"}],
                  "dataset": {"name": "train", "digest": "1a2b3c4d", "source_type": "local",
                              "source": "{\"uri\": \"file:///train.csv\"}"}}
ENVIRONMENT = {"python_version": "3.11", "os": "linux", "architecture": "x86_64"}
EXTERNAL = {"path": "ext/data.csv", "uri": "s3://bucket/data.csv", "sha256": "cd" * 32,
            "size": 10}


def experiment_name(w: World, s: str) -> str:
    return f"{WORDS[s]}-exp"


SCOPE: dict[tuple[str, str], Rule | tuple[Rule, ...]] = {
    ("GET", "/healthz"): PROBE,
    ("GET", "/readyz"): PROBE,
    ("GET", "/health"): PROBE,
    ("GET", "/api/v1/ledger/keys"): LEDGER,
    ("GET", "/api/v1/ledger/checkpoints/latest"): LEDGER,
    ("GET", "/api/v1/ledger/checkpoints/<int:tree_size>"): LEDGER,
    ("GET", "/api/v1/ledger/entries"): Entries(),
    ("GET", "/api/v1/ledger/entries/<int:seq>"): (
        Case(lambda w, s: get(f"/api/v1/ledger/entries/{w.entry(s, 'promotion.requested')}"),
             label="promotion.requested"),
        Case(lambda w, s: get(f"/api/v1/ledger/entries/{w.entry(s, 'params.logged')}"),
             label="params.logged"),
        Case(lambda w, s: get(f"/api/v1/ledger/entries/{w.entry(s, 'artifact.recorded')}"),
             label="artifact.recorded")),
    ("GET", "/api/v1/ledger/consistency"): LEDGER,
    ("GET", "/api/v1/tokens"): ACCESS,
    ("GET", "/api/v1/principals"): ACCESS,
    ("POST", "/api/v1/tokens/<name>/revoke"): ACCESS,
    ("POST", "/api/v1/grants"): ACCESS,
    ("DELETE", "/api/v1/grants/<token_name>/<experiment_id>"): ACCESS,
    ("GET", "/api/v1/grants"): ACCESS,
    ("POST", "/api/v1/client-keys"): ACCESS,
    ("GET", "/api/v1/client-keys"): ACCESS,
    ("GET", "/api/v1/openapi.json"): SERVICE,
    ("GET", "/metrics"): SERVICE,
    ("GET", "/version"): SERVICE,
    ("GET", "/api/3.0/mlflow/server-info"): SERVICE,
    ("GET", "/api/v1/reports/lookup"): LOOKUP,
    ("POST", "/api/v1/models"): NEW_MODEL,
    ("POST", f"{MLFLOW}/registered-models/create"): NEW_MODEL,
    # /api/v1 tracking
    ("POST", "/api/v1/experiments"): NewExperiment(
        lambda w: post("/api/v1/experiments", {"name": w.unique("exp")})),
    ("GET", "/api/v1/experiments"): Listed(lambda w: get("/api/v1/experiments"),
                                           experiment_name),
    ("GET", "/api/v1/experiments/<experiment_id>"): Case(
        lambda w, s: get(f"/api/v1/experiments/{w.exp[s]}")),
    ("GET", "/api/v1/experiments/by-name/<path:name>"): Case(
        lambda w, s: get(f"/api/v1/experiments/by-name/{experiment_name(w, s)}")),
    ("POST", "/api/v1/experiments/<experiment_id>/archive"): Case(
        lambda w, s: post(f"/api/v1/experiments/{w.fresh_experiment(s)}/archive")),
    ("POST", "/api/v1/runs"): Case(lambda w, s: post("/api/v1/runs", {"experiment_id": w.exp[s]})),
    ("GET", "/api/v1/runs"): (
        Listed(lambda w: get("/api/v1/runs"), lambda w, s: w.run[s]),
        Case(lambda w, s: get(f"/api/v1/runs?experiment_id={w.exp[s]}"), label="experiment_id")),
    ("GET", "/api/v1/runs/<run_id>"): Case(lambda w, s: get(run_path(w, s))),
    ("POST", "/api/v1/runs/<run_id>/end"): Case(
        lambda w, s: post(f"/api/v1/runs/{w.fresh_run(s)}/end", {"status": "FINISHED"})),
    ("POST", "/api/v1/runs/<run_id>/params"): Case(
        lambda w, s: post(run_path(w, s, "/params"), {"params": {"lr": "0.1"}})),
    ("POST", "/api/v1/runs/<run_id>/metrics"): Case(
        lambda w, s: post(run_path(w, s, "/metrics"),
                          {"metrics": [{"key": "auc", "value": "0.9"}]})),
    ("POST", "/api/v1/runs/<run_id>/batch"): Case(
        lambda w, s: post(run_path(w, s, "/batch"), {"tags": {"team": "risk"}})),
    ("PUT", "/api/v1/runs/<run_id>/tags/<path:key>"): Case(
        lambda w, s: ("PUT", run_path(w, s, "/tags/team"), {"value": "risk"})),
    ("DELETE", "/api/v1/runs/<run_id>/tags/<path:key>"): Case(
        lambda w, s: ("DELETE", f"/api/v1/runs/{w.run_tagged(s)}/tags/tmp", None)),
    ("GET", "/api/v1/runs/<run_id>/tags/<path:key>/history"): Case(
        lambda w, s: get(run_path(w, s, "/tags/team/history"))),
    ("GET", "/api/v1/runs/<run_id>/metrics/<path:key>/history"): Case(
        lambda w, s: get(run_path(w, s, "/metrics/auc/history"))),
    ("GET", "/api/v1/runs/<run_id>/metrics/<path:key>/groups"): Case(
        lambda w, s: get(run_path(w, s, "/metrics/selection_rate/groups?attribute=sex"))),
    ("POST", "/api/v1/runs/<run_id>/inputs"): Case(
        lambda w, s: post(run_path(w, s, "/inputs"), {"datasets": [DATASET]})),
    ("PUT", "/api/v1/runs/<run_id>/environment"): Case(
        lambda w, s: ("PUT", run_path(w, s, "/environment"), ENVIRONMENT)),
    ("GET", "/api/v1/runs/<run_id>/manifest"): Case(lambda w, s: get(run_path(w, s, "/manifest"))),
    ("PUT", "/api/v1/runs/<run_id>/artifacts/<path:path>"): Case(
        lambda w, s: ("PUT", run_path(w, s, "/artifacts/extra.txt"), b"the same bytes")),
    ("GET", "/api/v1/runs/<run_id>/artifacts/<path:path>"): Case(
        lambda w, s: get(run_path(w, s, "/artifacts/model/file.bin"))),
    ("GET", "/api/v1/runs/<run_id>/artifacts"): Case(
        lambda w, s: get(run_path(w, s, "/artifacts"))),
    ("GET", "/api/v1/runs/<run_id>/artifact-revisions"): Case(
        lambda w, s: get(run_path(w, s, "/artifact-revisions?path=model/file.bin"))),
    ("POST", "/api/v1/runs/<run_id>/artifacts/external"): Case(
        lambda w, s: post(run_path(w, s, "/artifacts/external"), EXTERNAL)),
    # /api/v1 registry: a model is A's when every version's run is (as its PDF report has it)
    ("GET", "/api/v1/models"): Listed(lambda w: get("/api/v1/models"), lambda w, s: w.model[s]),
    ("GET", "/api/v1/models/<name>"): Case(lambda w, s: get(model_path(w, s))),
    ("POST", "/api/v1/models/<name>/versions"): Case(
        lambda w, s: post(f"/api/v1/models/{w.fresh_model()}/versions",
                          {"run_id": w.run[s], "artifact_path": "model"})),
    ("GET", "/api/v1/models/<name>/versions/<int:version>"): Case(
        lambda w, s: get(model_path(w, s, "/versions/1"))),
    ("POST", "/api/v1/models/<name>/versions/<int:version>/transition"): Case(
        lambda w, s: post(f"/api/v1/models/{w.fresh_version(s)}/versions/1/transition",
                          {"target": "Staging"})),
    # issue 19: an unpinned version is in no experiment, so no scoped token reaches it
    ("POST", "/api/v1/models/<name>/versions/<int:version>/pin"): Case(
        lambda w, s: post(f"/api/v1/models/{w.fresh_unpinned()}/versions/1/pin",
                          {"run_id": w.run[s], "artifact_path": "model"}),
        ok=404, unscoped=200, label="unpinned: in no experiment"),
    ("PUT", "/api/v1/models/<name>/policy"): Case(  # admin only: no scoped role may call it
        lambda w, s: ("PUT", model_path(w, s, "/policy"), {"policy": {"required_params": []}})),
    # issue 16: a writer may add protected names and sensitive attributes (never remove)
    ("PUT", "/api/v1/models/<name>/protected-targets"): Case(
        lambda w, s: ("PUT", model_path(w, s, "/protected-targets"), {"protected_targets": [
            "Production", "@champion", "@production", "@prod", "@live", "@gold"]})),
    ("PUT", "/api/v1/models/<name>/sensitive-attributes"): Case(
        lambda w, s: ("PUT", model_path(w, s, "/sensitive-attributes"),
                      {"sensitive_attributes": ["sex"]})),
    ("POST", "/api/v1/models/<name>/versions/<int:version>/promotions"): Case(
        lambda w, s: post(f"/api/v1/models/{w.fresh_version(s)}/versions/1/promotions",
                          {"target": "Production", "justification": "validated"})),
    ("GET", "/api/v1/promotions"): Listed(lambda w: get("/api/v1/promotions"),
                                          lambda w, s: w.promotion[s]),
    ("GET", "/api/v1/promotions/<promotion_id>"): Case(
        lambda w, s: get(f"/api/v1/promotions/{w.promotion[s]}")),
    ("POST", "/api/v1/promotions/<promotion_id>/decisions"): Case(
        lambda w, s: post(f"/api/v1/promotions/{w.fresh_promotion(s)}/decisions",
                          {"decision": "approve", "comment": "independent review"})),
    ("POST", "/api/v1/promotions/<promotion_id>/withdraw"): Case(
        lambda w, s: post(f"/api/v1/promotions/{w.fresh_promotion(s, by=w.acting)}/withdraw")),
    ("POST", "/api/v1/models/<name>/deployments"): Case(
        lambda w, s: post(model_path(w, s, "/deployments"), {"version": 1, "environment": "dev"})),
    ("POST", "/api/v1/models/<name>/rollbacks"): Case(
        lambda w, s: post(f"/api/v1/models/{w.fresh_deployed(s)}/rollbacks",
                          {"version": 1, "environment": "dev", "reason": "drift"})),
    ("GET", "/api/v1/models/<name>/deployments"): Case(
        lambda w, s: get(model_path(w, s, "/deployments"))),
    ("GET", "/api/v1/models/<name>/deployed"): Case(
        lambda w, s: get(model_path(w, s, "/deployed?environment=dev"))),
    ("GET", "/api/v1/models/<name>/versions/<int:version>/lineage"): Case(
        lambda w, s: get(model_path(w, s, "/versions/1/lineage"))),
    ("GET", "/api/v1/models/<name>/versions/<int:version>/artifacts"): Case(
        lambda w, s: get(model_path(w, s, "/versions/1/artifacts"))),
    ("GET", "/api/v1/models/<name>/versions/<int:version>/artifacts/<path:path>"): Case(
        lambda w, s: get(model_path(w, s, "/versions/1/artifacts/model/file.bin"))),
    ("POST", "/api/v1/environments"): Unscoped(
        "declares a deployment environment: no experiment's data"),
    ("GET", "/api/v1/environments"): Unscoped("the declared environments: no experiment's data"),
    ("POST", "/api/v1/models/<name>/versions/<int:version>/demotions"): Case(
        lambda w, s: post(f"/api/v1/models/{w.fresh_in_production(s)}/versions/1/demotions",
                          {"from": "Production", "reason": "superseded"}), ok=201),
    # reports (admin and auditor)
    ("GET", "/api/v1/reports/runs/<run_id>.pdf"): Case(
        lambda w, s: get(f"/api/v1/reports/runs/{w.run[s]}.pdf")),
    ("GET", "/api/v1/reports/experiments/<experiment_id>.pdf"): Case(
        lambda w, s: get(f"/api/v1/reports/experiments/{w.exp[s]}.pdf")),
    ("GET", "/api/v1/reports/models/<name>.pdf"): Case(
        lambda w, s: get(f"/api/v1/reports/models/{w.model[s]}.pdf")),
    # MLflow tracking
    ("GET", f"{MLFLOW}/experiments/get"): Case(
        lambda w, s: get(f"{MLFLOW}/experiments/get?experiment_id={w.exp[s]}")),
    ("GET", f"{MLFLOW}/experiments/get-by-name"): Case(
        lambda w, s: get(f"{MLFLOW}/experiments/get-by-name?experiment_name="
                         f"{experiment_name(w, s)}")),
    ("POST", f"{MLFLOW}/experiments/create"): NewExperiment(
        lambda w: post(f"{MLFLOW}/experiments/create", {"name": w.unique("exp")})),
    ("GET", f"{MLFLOW}/experiments/search"): Listed(
        lambda w: get(f"{MLFLOW}/experiments/search"), experiment_name),
    ("POST", f"{MLFLOW}/experiments/search"): Listed(
        lambda w: post(f"{MLFLOW}/experiments/search", {}), experiment_name),
    ("POST", f"{MLFLOW}/runs/create"): Case(
        lambda w, s: post(f"{MLFLOW}/runs/create", {"experiment_id": w.exp[s]})),
    ("GET", f"{MLFLOW}/runs/get"): Case(lambda w, s: get(f"{MLFLOW}/runs/get?run_id={w.run[s]}")),
    ("POST", f"{MLFLOW}/runs/update"): Case(
        lambda w, s: post(f"{MLFLOW}/runs/update", {"run_id": w.fresh_run(s),
                                                    "status": "FINISHED"})),
    ("POST", f"{MLFLOW}/runs/log-parameter"): Case(
        lambda w, s: post(f"{MLFLOW}/runs/log-parameter", mlflow_run(w, s, key="lr",
                                                                     value="0.1"))),
    ("POST", f"{MLFLOW}/runs/log-metric"): Case(
        lambda w, s: post(f"{MLFLOW}/runs/log-metric", mlflow_run(w, s, key="auc", value=0.9,
                                                                  timestamp=1, step=0))),
    ("POST", f"{MLFLOW}/runs/set-tag"): Case(
        lambda w, s: post(f"{MLFLOW}/runs/set-tag", mlflow_run(w, s, key="team", value="risk"))),
    ("POST", f"{MLFLOW}/runs/delete-tag"): Case(
        lambda w, s: post(f"{MLFLOW}/runs/delete-tag", {"run_id": w.run_tagged(s), "key": "tmp"})),
    ("POST", f"{MLFLOW}/runs/log-batch"): Case(
        lambda w, s: post(f"{MLFLOW}/runs/log-batch",
                          mlflow_run(w, s, tags=[{"key": "team", "value": "risk"}]))),
    ("POST", f"{MLFLOW}/runs/search"): (
        Listed(lambda w: post(f"{MLFLOW}/runs/search", {}), lambda w, s: w.run[s]),
        Case(lambda w, s: post(f"{MLFLOW}/runs/search", {"experiment_ids": [w.exp[s]]}),
             label="experiment_ids")),
    ("GET", f"{MLFLOW}/metrics/get-history"): Case(
        lambda w, s: get(f"{MLFLOW}/metrics/get-history?run_id={w.run[s]}&metric_key=auc")),
    ("POST", f"{MLFLOW}/runs/delete"): Case(
        lambda w, s: post(f"{MLFLOW}/runs/delete", {"run_id": w.fresh_run(s)})),
    ("POST", f"{MLFLOW}/runs/restore"): Case(
        lambda w, s: post(f"{MLFLOW}/runs/restore", {"run_id": w.fresh_run(s, deleted=True)})),
    ("POST", f"{MLFLOW}/runs/log-inputs"): Case(
        lambda w, s: post(f"{MLFLOW}/runs/log-inputs", mlflow_run(w, s,
                                                                  datasets=[MLFLOW_DATASET]))),
    ("POST", f"{MLFLOW}/experiments/delete"): Case(
        lambda w, s: post(f"{MLFLOW}/experiments/delete",
                          {"experiment_id": w.fresh_experiment(s)})),
    ("POST", f"{MLFLOW}/experiments/restore"): Case(
        lambda w, s: post(f"{MLFLOW}/experiments/restore",
                          {"experiment_id": w.fresh_experiment(s, deleted=True)})),
    ("POST", f"{MLFLOW}/experiments/update"): Case(
        lambda w, s: post(f"{MLFLOW}/experiments/update", {
            "experiment_id": w.fresh_experiment(s), "new_name": w.unique("renamed")})),
    ("POST", f"{MLFLOW}/experiments/set-experiment-tag"): Case(
        lambda w, s: post(f"{MLFLOW}/experiments/set-experiment-tag",
                          {"experiment_id": w.exp[s], "key": "k", "value": "v"})),
    ("POST", f"{MLFLOW}/experiments/delete-experiment-tag"): Case(
        lambda w, s: post(f"{MLFLOW}/experiments/delete-experiment-tag",
                          {"experiment_id": w.experiment_tagged(s), "key": "tmp"})),
    # the mlflow-artifacts proxy: run folders and logged models' folders
    ("PUT", f"{ARTIFACTS}/<path:path>"): (
        Case(lambda w, s: ("PUT", run_artifact(w, s, "extra.txt"), b"the same bytes")),
        Case(lambda w, s: ("PUT", lm_artifact(w, s, "extra.bin"), b"the same bytes"),
             label="logged model"),
        Case(lambda w, s: ("PUT", crossed_artifact(w, s, "extra.txt"), b"the same bytes"),
             refused=404, unscoped=404, label="A's experiment, the side's run"),
        Case(lambda w, s: ("PUT", f"{ARTIFACTS}/{version_root(w, s)}/x.bin", b"bytes"),
             ok=400, unscoped=400, label="version root (sealed)")),
    ("GET", f"{ARTIFACTS}/<path:path>"): (
        Case(lambda w, s: get(run_artifact(w, s, "model/file.bin"))),
        Case(lambda w, s: get(lm_artifact(w, s, "model.bin")), label="logged model"),
        Case(lambda w, s: get(crossed_artifact(w, s, "model/file.bin")), refused=404,
             unscoped=404, label="A's experiment, the side's run"),
        Case(lambda w, s: get(f"{ARTIFACTS}/{version_root(w, s)}/file.bin"),
             label="version root")),
    ("GET", ARTIFACTS): (
        Case(lambda w, s: get(f"{ARTIFACTS}?path={w.exp[s]}/{w.run[s]}/artifacts")),
        Case(lambda w, s: get(f"{ARTIFACTS}?path={w.exp[s]}/models/{w.lm[s]}/artifacts"),
             label="logged model"),
        Case(lambda w, s: get(f"{ARTIFACTS}?path={version_root(w, s)}"),
             label="version root")),
    ("DELETE", f"{ARTIFACTS}/<path:path>"): Case(  # refused to everyone, reveals nothing
        lambda w, s: ("DELETE", run_artifact(w, s, "model/file.bin"), None), ok=400,
        refused=400),
    # MLflow registry
    ("GET", f"{MLFLOW}/registered-models/get"): Case(
        lambda w, s: get(f"{MLFLOW}/registered-models/get?name={w.model[s]}")),
    ("PATCH", f"{MLFLOW}/registered-models/update"): Case(
        lambda w, s: ("PATCH", f"{MLFLOW}/registered-models/update",
                      {"name": w.model[s], "description": "d"})),
    ("POST", f"{MLFLOW}/registered-models/set-tag"): Case(
        lambda w, s: post(f"{MLFLOW}/registered-models/set-tag",
                          {"name": w.model[s], "key": "k", "value": "v"})),
    ("DELETE", f"{MLFLOW}/registered-models/delete-tag"): Case(
        lambda w, s: ("DELETE", f"{MLFLOW}/registered-models/delete-tag",
                      {"name": w.model_tagged(s), "key": "tmp"})),
    ("POST", f"{MLFLOW}/registered-models/rename"): Case(  # refused to all; B's only by scope
        lambda w, s: post(f"{MLFLOW}/registered-models/rename",
                          {"name": w.model[s], "new_name": "renamed"}), ok=400),
    ("DELETE", f"{MLFLOW}/registered-models/delete"): Case(
        lambda w, s: ("DELETE", f"{MLFLOW}/registered-models/delete", {"name": w.model[s]}),
        ok=400),
    ("GET", f"{MLFLOW}/registered-models/search"): Listed(
        lambda w: get(f"{MLFLOW}/registered-models/search?max_results=1000"),
        lambda w, s: w.model[s]),
    ("GET", f"{MLFLOW}/registered-models/get-latest-versions"): Case(
        lambda w, s: get(f"{MLFLOW}/registered-models/get-latest-versions?name={w.model[s]}")),
    ("POST", f"{MLFLOW}/registered-models/get-latest-versions"): Case(
        lambda w, s: post(f"{MLFLOW}/registered-models/get-latest-versions",
                          {"name": w.model[s]})),
    ("POST", f"{MLFLOW}/registered-models/alias"): Case(
        lambda w, s: post(f"{MLFLOW}/registered-models/alias",
                          mlflow_version(w, s, alias="challenger"))),
    ("GET", f"{MLFLOW}/registered-models/alias"): Case(
        lambda w, s: get(f"{MLFLOW}/registered-models/alias?name={w.model[s]}&alias=challenger")),
    ("DELETE", f"{MLFLOW}/registered-models/alias"): Case(
        lambda w, s: ("DELETE", f"{MLFLOW}/registered-models/alias",
                      {"name": w.aliased(s), "alias": "tmp"})),
    ("POST", f"{MLFLOW}/model-versions/create"): (
        Case(lambda w, s: post(f"{MLFLOW}/model-versions/create", {
            "name": w.fresh_model(), "source": f"runs:/{w.run[s]}/model", "run_id": w.run[s]}),
            label="runs:/ source"),
        Case(lambda w, s: post(f"{MLFLOW}/model-versions/create", {
            "name": w.fresh_model(), "source": f"mlflow-artifacts:/{w.exp[s]}/{w.run[s]}/"
            "artifacts/model"}), label="mlflow-artifacts:/ source"),
        Case(lambda w, s: post(f"{MLFLOW}/model-versions/create", {
            "name": w.fresh_model(), "source": f"models:/{w.lm[s]}", "model_id": w.lm[s]}),
            label="models:/ source")),
    ("GET", f"{MLFLOW}/model-versions/get"): Case(
        lambda w, s: get(f"{MLFLOW}/model-versions/get?name={w.model[s]}&version=1")),
    ("PATCH", f"{MLFLOW}/model-versions/update"): Case(
        lambda w, s: ("PATCH", f"{MLFLOW}/model-versions/update",
                      mlflow_version(w, s, description="d"))),
    ("POST", f"{MLFLOW}/model-versions/set-tag"): Case(
        lambda w, s: post(f"{MLFLOW}/model-versions/set-tag",
                          mlflow_version(w, s, key="k", value="v"))),
    ("DELETE", f"{MLFLOW}/model-versions/delete-tag"): Case(
        lambda w, s: ("DELETE", f"{MLFLOW}/model-versions/delete-tag",
                      {"name": w.version_tagged(s), "version": "1", "key": "tmp"})),
    ("DELETE", f"{MLFLOW}/model-versions/delete"): Case(
        lambda w, s: ("DELETE", f"{MLFLOW}/model-versions/delete", mlflow_version(w, s)),
        ok=400),
    ("POST", f"{MLFLOW}/model-versions/transition-stage"): Case(
        lambda w, s: post(f"{MLFLOW}/model-versions/transition-stage", {
            "name": w.fresh_version(s), "version": "1", "stage": "Staging"})),
    ("GET", f"{MLFLOW}/model-versions/get-download-uri"): Case(
        lambda w, s: get(f"{MLFLOW}/model-versions/get-download-uri?name={w.model[s]}&version=1")),
    ("GET", f"{MLFLOW}/model-versions/search"): Listed(
        lambda w: get(f"{MLFLOW}/model-versions/search"), lambda w, s: w.model[s]),
    # MLflow 3 logged models
    ("POST", f"{MLFLOW}/logged-models"): Case(
        lambda w, s: post(f"{MLFLOW}/logged-models", {"experiment_id": w.exp[s], "name": "lm"})),
    ("GET", f"{MLFLOW}/logged-models/<model_id>"): Case(
        lambda w, s: get(f"{MLFLOW}/logged-models/{w.lm[s]}")),
    ("PATCH", f"{MLFLOW}/logged-models/<model_id>"): Case(
        lambda w, s: ("PATCH", f"{MLFLOW}/logged-models/{w.fresh_logged_model(s)}",
                      {"status": "LOGGED_MODEL_READY"})),
    ("DELETE", f"{MLFLOW}/logged-models/<model_id>"): Case(
        lambda w, s: ("DELETE", f"{MLFLOW}/logged-models/{w.fresh_logged_model(s)}", None)),
    ("PATCH", f"{MLFLOW}/logged-models/<model_id>/tags"): Case(
        lambda w, s: ("PATCH", f"{MLFLOW}/logged-models/{w.lm[s]}/tags",
                      {"tags": [{"key": "k", "value": "v"}]})),
    ("DELETE", f"{MLFLOW}/logged-models/<model_id>/tags/<path:key>"): Case(
        lambda w, s: ("DELETE", f"{MLFLOW}/logged-models/{w.logged_model_tagged(s)}/tags/tmp",
                      None)),
    ("POST", f"{MLFLOW}/logged-models/<model_id>/params"): Case(
        lambda w, s: post(f"{MLFLOW}/logged-models/{w.lm[s]}/params",
                          {"params": [{"key": "p", "value": "1"}]})),
    ("POST", f"{MLFLOW}/logged-models/search"): Case(
        lambda w, s: post(f"{MLFLOW}/logged-models/search", {"experiment_ids": [w.exp[s]]})),
    ("POST", f"{MLFLOW}/runs/outputs"): (
        Case(lambda w, s: post(f"{MLFLOW}/runs/outputs", mlflow_run(
            w, s, models=[{"model_id": w.lm[s], "step": 0}]))),
        Case(lambda w, s: post(f"{MLFLOW}/runs/outputs", mlflow_run(
            w, "A", models=[{"model_id": w.lm[s], "step": 0}])),
            label="A's run, the side's model")),
}


class World:
    """Experiments A and B, each with a run (params, metrics, groups, tags, a dataset,
    artifacts), a logged model with a file, a registered model whose version 1 comes from the
    run, an alias, a pending promotion and a deployment; tokens scoped to A and unscoped ones.
    Objects a request changes for good are made fresh per request (`fresh_*`)."""

    def __init__(self, client: Any, services: Any) -> None:
        self.client, self.services, self.acting = client, services, ""
        self.serial = itertools.count(1)
        self.secrets = {"admin": services.config.admin_token_path.read_text().strip()}
        for name, role in (("builder", "writer"), *((f"{p}-{r}", r) for p in "su"
                                                    for r in SCOPED_ROLES)):
            self.secrets[name] = services.committer.run(
                lambda w, n=name, r=role: tokens.create_token(w, n, r, "test"))[0]
        self.exp: dict[str, str] = {}
        self.run: dict[str, str] = {}
        self.lm: dict[str, str] = {}
        self.model: dict[str, str] = {}
        self.promotion: dict[str, str] = {}
        self.call("admin", "POST", "/api/v1/environments", {"name": "dev", "protected": False})
        for side in SIDES:
            self._seed(side)
        for role in SCOPED_ROLES:
            self.call("admin", "POST", "/api/v1/grants",
                      {"token_name": f"s-{role}", "experiment_id": self.exp["A"]})

    def call(self, who: str, method: str, path: str, payload: Any = None) -> Any:
        response = send(self, who, (method, path, payload))
        assert response.status_code < 300, (method, path, response.get_data(as_text=True))
        return response.json

    def unique(self, prefix: str) -> str:
        return f"{prefix}-{next(self.serial)}"

    def _seed(self, side: str) -> None:
        word, b = WORDS[side], "builder"
        exp = self.exp[side] = self.call(b, "POST", "/api/v1/experiments",
                                         {"name": f"{word}-exp"})["id"]
        run = self.run[side] = self.fresh_run(side)
        self.call(b, "POST", f"/api/v1/runs/{run}/batch", {
            "params": [{"key": "lr", "value": "0.1"}], "tags": {"team": "risk"},
            "metrics": [{"key": "auc", "value": "0.9"},
                        *({"key": "selection_rate", "value": v, "group": {"sex": g}, "n": 50}
                          for g, v in (("F", "0.5"), ("M", "0.6")))]})
        self.call(b, "POST", f"/api/v1/runs/{run}/inputs", {"datasets": [DATASET]})
        for path in ("model/file.bin", "alt/file.bin"):
            self.call(b, "PUT", f"/api/v1/runs/{run}/artifacts/{path}",
                      f"{word} {path}".encode())
        self.lm[side] = self.fresh_logged_model(side)
        self.call(b, "PUT", f"{ARTIFACTS}/{exp}/models/{self.lm[side]}/artifacts/model.bin",
                  f"{word} logged model".encode())
        model = self.model[side] = f"{word}-model"
        self.call(b, "POST", "/api/v1/models", {"name": model})
        self.call(b, "POST", f"/api/v1/models/{model}/versions",
                  {"run_id": run, "artifact_path": "model"})
        self.call(b, "POST", f"{MLFLOW}/registered-models/alias",
                  {"name": model, "version": "1", "alias": "challenger"})
        self.promotion[side] = self.call(
            b, "POST", f"/api/v1/models/{model}/versions/1/promotions",
            {"target": "Production", "justification": "validated"})["id"]
        self.call(b, "POST", f"/api/v1/models/{model}/deployments",
                  {"version": 1, "environment": "dev"})

    # Fresh objects, made by the builder (never one of the tokens under test).

    def fresh_experiment(self, side: str, deleted: bool = False) -> str:
        found = str(self.call("builder", "POST", "/api/v1/experiments",
                              {"name": self.unique(f"{WORDS[side]}-fresh")})["id"])
        if side == "A":
            for role in SCOPED_ROLES:
                self.call("admin", "POST", "/api/v1/grants",
                          {"token_name": f"s-{role}", "experiment_id": found})
        if deleted:
            self.call("builder", "POST", f"{MLFLOW}/experiments/delete", {"experiment_id": found})
        return found

    def fresh_run(self, side: str, deleted: bool = False) -> str:
        found = str(self.call("builder", "POST", "/api/v1/runs",
                              {"experiment_id": self.exp[side]})["id"])
        if deleted:
            self.call("builder", "POST", f"{MLFLOW}/runs/delete", {"run_id": found})
        return found

    def fresh_logged_model(self, side: str) -> str:
        return str(self.call("builder", "POST", f"{MLFLOW}/logged-models", {
            "experiment_id": self.exp[side], "name": f"{WORDS[side]}-lm",
            "source_run_id": self.run[side]})["model"]["info"]["model_id"])

    def fresh_model(self) -> str:
        name = self.unique("fresh-model")
        self.call("builder", "POST", "/api/v1/models", {"name": name})
        return name

    def fresh_version(self, side: str, path: str = "model", model: str | None = None) -> str:
        model = model or self.fresh_model()
        self.call("builder", "POST", f"/api/v1/models/{model}/versions",
                  {"run_id": self.run[side], "artifact_path": path})
        return model

    def fresh_unpinned(self) -> str:
        """A fresh model whose version 1 comes from a source we do not hold."""
        model = self.fresh_model()
        self.call("builder", "POST", f"/api/v1/models/{model}/versions",
                  {"source": "s3://lake/model"})
        return model

    def fresh_promotion(self, side: str, by: str = "builder") -> str:
        """A pending promotion of a fresh version to Production, requested by `by` (through
        the service, so that a scoped token can be the requester of one of B's)."""
        model = self.fresh_version(side)
        with self.services.pool.connection() as conn:
            token = token_store.find_by_name(conn, by)
        assert token is not None
        principal = Principal(token.id, token.name, token.role)
        promotion, _ = self.services.committer.run(lambda w: promotions.request_promotion(
            w, principal, model, 1, "Production", "validated", None))
        return str(promotion.id)

    def fresh_in_production(self, side: str) -> str:
        """A fresh model whose version 1 the admin approved into Production."""
        model = self.fresh_version(side)
        promotion = self.call("builder", "POST", f"/api/v1/models/{model}/versions/1/promotions",
                              {"target": "Production", "justification": "validated"})["id"]
        self.call("admin", "POST", f"/api/v1/promotions/{promotion}/decisions",
                  {"decision": "approve", "comment": "ok"})
        return model

    def fresh_deployed(self, side: str) -> str:
        """Versions 1 and 2, both approved by the admin, deployed to dev in turn."""
        model = self.fresh_version(side)
        self.fresh_version(side, "alt", model)
        for version in (1, 2):
            promotion = self.call("builder", "POST",
                                  f"/api/v1/models/{model}/versions/{version}/promotions",
                                  {"target": "Production", "justification": "validated"})["id"]
            self.call("admin", "POST", f"/api/v1/promotions/{promotion}/decisions",
                      {"decision": "approve", "comment": "ok"})
            self.call("builder", "POST", f"/api/v1/models/{model}/deployments",
                      {"version": version, "environment": "dev"})
        return model

    # Objects holding a "tmp" tag or alias, for the routes that delete one.

    def run_tagged(self, side: str) -> str:
        self.call("builder", "PUT", f"/api/v1/runs/{self.run[side]}/tags/tmp", {"value": "x"})
        return self.run[side]

    def experiment_tagged(self, side: str) -> str:
        self.call("builder", "POST", f"{MLFLOW}/experiments/set-experiment-tag",
                  {"experiment_id": self.exp[side], "key": "tmp", "value": "x"})
        return self.exp[side]

    def model_tagged(self, side: str) -> str:
        self.call("builder", "POST", f"{MLFLOW}/registered-models/set-tag",
                  {"name": self.model[side], "key": "tmp", "value": "x"})
        return self.model[side]

    def version_tagged(self, side: str) -> str:
        self.call("builder", "POST", f"{MLFLOW}/model-versions/set-tag",
                  {"name": self.model[side], "version": "1", "key": "tmp", "value": "x"})
        return self.model[side]

    def aliased(self, side: str) -> str:
        self.call("builder", "POST", f"{MLFLOW}/registered-models/alias",
                  {"name": self.model[side], "version": "1", "alias": "tmp"})
        return self.model[side]

    def logged_model_tagged(self, side: str) -> str:
        self.call("builder", "PATCH", f"{MLFLOW}/logged-models/{self.lm[side]}/tags",
                  {"tags": [{"key": "tmp", "value": "x"}]})
        return self.lm[side]

    def entry(self, side: str, kind: str) -> int:
        """The seq of the side's first entry of this kind (on its seeded run or model)."""
        keys = {self.run[side], self.model[side], self.promotion[side]}
        after = -1
        while True:
            page = self.call("admin", "GET", f"/api/v1/ledger/entries?after={after}&limit=1000")
            for item in page["entries"]:
                if item["kind"] == kind:
                    subject = json.loads(base64.b64decode(item["canonical"]))["subject"]
                    if keys & set(subject.values()):
                        return int(item["seq"])
            assert page["next"] is not None, (side, kind)
            after = page["next"]

    def ledger_size(self) -> int:
        with self.services.pool.connection() as conn:
            row = conn.execute("SELECT size FROM ledger_head").fetchone()
        return int(row[0])


def send(w: World, who: str, req: Req) -> Any:
    method, path, payload = req
    headers = {"Authorization": f"Bearer {w.secrets[who]}"}
    if isinstance(payload, bytes):
        return w.client.open(path, method=method, headers=headers, data=payload)
    return w.client.open(path, method=method, headers=headers, data=json.dumps(payload or {}),
                         content_type="application/json")


# ---- the tests --------------------------------------------------------------------------------


def routes(app: Any) -> list[tuple[str, str]]:
    return sorted((method, rule.rule) for rule in app.url_map.iter_rules()
                  for method in rule.methods - {"HEAD", "OPTIONS"})


def concrete(rule: str) -> str:
    rule = re.sub(r"<path:[a-z_]+>", "a/b", rule)
    return re.sub(r"<(?:int:)?[a-z_]+>", "1", rule)


def test_every_route_has_a_policy_and_a_scope(app: Any) -> None:
    found = routes(app)
    missing = [route for route in found if route not in POLICY]
    assert not missing, f"routes without an entry in POLICY: {missing}"
    unclassified = [route for route in found if route not in SCOPE]
    assert not unclassified, f"routes without an entry in SCOPE: {unclassified}"
    stale = sorted(set(POLICY) - set(found)) + sorted(set(SCOPE) - set(found))
    assert not stale, f"entries for routes the app does not have: {stale}"


@pytest.fixture
def tokens_by_role(run_cli: Any, admin_token: str) -> dict[str, str]:
    found = {"admin": admin_token}
    for role in ("writer", "approver", "auditor"):
        found[role] = run_cli("token", "create", "--name", f"m-{role}", "--role",
                              role).stdout.split()[-1]
    return found


def test_roles_are_enforced_on_every_route(app: Any, client: Any,
                                           tokens_by_role: dict[str, str]) -> None:
    for method, rule in routes(app):
        allowed = POLICY[(method, rule)]
        if allowed is PUBLIC:
            continue
        for role, secret in tokens_by_role.items():
            response = client.open(concrete(rule), method=method, data=json.dumps({}),
                                   content_type="application/json",
                                   headers={"Authorization": f"Bearer {secret}"})
            denied = response.status_code == 403
            assert denied == (role not in allowed), (method, rule, role, response.status_code)
            assert response.status_code not in (401, 500), (method, rule, role)


@pytest.fixture(scope="module")
def world(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One seeded app for every scope case (a case that changes an object makes its own)."""
    name = f"mlaudit_scope_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE mlaudit_test_template").format(
            sql.Identifier(name)))
    url = make_conninfo(pg_server, dbname=name)
    application = create_app(load_config(environ={}, overrides={
        "database_url": url, "home": tmp_path_factory.mktemp("scope") / "home",
        "checkpoint_interval": 3600.0, "checkpoint_every": 1_000_000}))
    try:
        yield World(application.test_client(), application.extensions["mlaudit"])
    finally:
        application.extensions["mlaudit"].close()
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def scope_cases() -> list[Any]:
    found = []
    for (method, rule), entry in SCOPE.items():
        for case in entry if isinstance(entry, tuple) else (entry,):
            if isinstance(case, Unscoped):
                continue
            defect = getattr(case, "defect", None)
            marks = [pytest.mark.xfail(raises=ScopeLeak, strict=True, reason=defect)] \
                if defect else []
            label = f" [{case.label}]" if case.label else ""
            found.append(pytest.param(method, rule, case, marks=marks,
                                      id=f"{method} {rule}{label}"))
    return found


def reaches(w: World, method: str, rule: str, req: Req) -> None:
    """The built request is one for this route (a typo in a case cannot pass unseen)."""
    assert req[0] == method
    adapter = w.client.application.url_map.bind("localhost")
    matched, _ = adapter.match(req[1].partition("?")[0], method=method, return_rule=True)
    assert matched.rule == rule, (req, matched.rule)


def succeeded(response: Any, ok: int | None) -> bool:
    return response.status_code == ok if ok is not None else 200 <= response.status_code < 300


def refusal(w: World, req: Req, response: Any, status: int) -> None:
    """The refusal's status and format: MLflow's on MLflow routes, problem+json on ours."""
    assert response.status_code == status, (req, response.status_code, response.data[:300])
    path = req[1]
    if path.startswith(("/api/2.0/", "/api/3.0/")):
        assert response.json["error_code"] == MLFLOW_CODES[status], (req, response.json)
    else:
        assert response.mimetype == "application/problem+json", (req, response.mimetype)


def act(w: World, who: str, build: Callable[[World], Req]) -> tuple[Req, Any, int]:
    """Build the request for `who`, send it; the ledger's size before it."""
    w.acting = who
    req = build(w)
    before = w.ledger_size()
    return req, send(w, who, req), before


def check_case(w: World, method: str, rule: str, case: Case, role: str) -> None:
    req, mine, _ = act(w, f"s-{role}", lambda w: case.build(w, "A"))
    reaches(w, method, rule, req)
    assert succeeded(mine, case.ok), ("in scope", role, req, mine.status_code, mine.data[:300])
    req, theirs, before = act(w, f"s-{role}", lambda w: case.build(w, "B"))
    if theirs.status_code != case.refused and succeeded(theirs, case.ok):
        raise ScopeLeak(f"a {role} token scoped to A got {theirs.status_code} for B: {req}")
    refusal(w, req, theirs, case.refused)
    assert w.ledger_size() == before, ("a refusal wrote to the ledger", role, req)
    req, control, _ = act(w, f"u-{role}", lambda w: case.build(w, "B"))
    expected = case.ok if case.unscoped is None else case.unscoped
    assert succeeded(control, expected), ("unscoped", role, req, control.status_code,
                                          control.data[:300])


def check_listed(w: World, listed: Listed, role: str) -> None:
    for who, sees_b in ((f"s-{role}", False), (f"u-{role}", True)):
        response = send(w, who, listed.build(w))
        assert response.status_code == 200, (who, response.data[:300])
        text = response.get_data(as_text=True)
        assert listed.marker(w, "A") in text, (who, "does not list A's object")
        if not sees_b and listed.marker(w, "B") in text:
            raise ScopeLeak(f"a {role} token scoped to A lists B's {listed.marker(w, 'B')}")
        assert not sees_b or listed.marker(w, "B") in text, (who, "does not list B's object")


def served_entries(w: World, who: str) -> list[str]:
    """The canonical text of every entry `who` is served, following `next` to the end."""
    found, after = [], -1
    while True:
        response = send(w, who, get(f"/api/v1/ledger/entries?after={after}&limit=50"))
        assert response.status_code == 200, (who, response.data[:300])
        found += [base64.b64decode(e["canonical"]).decode() for e in response.json["entries"]]
        if response.json["next"] is None:
            return found
        after = response.json["next"]


def check_entries(w: World, role: str) -> None:
    markers = {s: (WORDS[s], w.run[s]) for s in SIDES}
    for who, sees_b in ((f"s-{role}", False), (f"u-{role}", True)):
        served = served_entries(w, who)
        for side in SIDES:
            naming = [text for text in served if any(m in text for m in markers[side])]
            if side == "A":
                assert naming, (who, "is served none of A's entries")
            elif not sees_b and naming:
                raise ScopeLeak(f"a {role} token scoped to A was served B's entries: "
                                f"{[t[:120] for t in naming[:3]]}")
            else:
                assert not sees_b or naming, (who, "is served none of B's entries")


def check_new_experiment(w: World, case: NewExperiment, role: str) -> None:
    req, scoped, before = act(w, f"s-{role}", case.build)
    refusal(w, req, scoped, 403)
    assert w.ledger_size() == before
    assert succeeded(send(w, f"u-{role}", case.build(w)), None)


@pytest.mark.parametrize(("method", "rule", "case"), scope_cases())
def test_scoped_tokens_reach_only_their_experiments(
        world: World, method: str, rule: str,
        case: Case | Listed | NewExperiment | Entries) -> None:
    allowed = POLICY[(method, rule)]
    for role in SCOPED_ROLES:
        if role not in allowed:  # the role check comes first, whatever the grants
            build = case.build if not isinstance(case, Case) else (
                lambda w, c=case: c.build(w, "B"))
            req, response, before = act(world, f"s-{role}", build)
            refusal(world, req, response, 403)
            assert world.ledger_size() == before
        elif isinstance(case, Case):
            check_case(world, method, rule, case, role)
        elif isinstance(case, Listed):
            check_listed(world, case, role)
        elif isinstance(case, Entries):
            check_entries(world, role)
        else:
            check_new_experiment(world, case, role)
