"""A realistic mix of ledger entries for bench/ledger_1m.py (`--mix realistic`).

Entries the service itself would write, each valid for its kind (app/kinds: every reducer
accepts it) and for the database's references and guards: a run's experiment exists, a
metric's run exists, a version's run and artifacts exist, a stage or alias move cites an
approved promotion, an approval is by someone other than the requester, and so on. WEIGHTS
says how often each action happens per 1,000 entries; an action that writes several entries
(a run's creation with its MLflow tags, an approval with the stage move it allows) writes them
back to back, as one unit of the service would. An action that cannot happen yet (no finished
run to register, no pending promotion to decide) logs a metric instead. Artifact entries name
a DSSE envelope signed with the ledger's key; take_envelopes() hands them over for
app.storage.artifacts.keep_envelope.
"""

from __future__ import annotations

import base64
import hashlib
import random
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from app.ledger import dsse
from app.ledger.checkpoint import Signer
from app.ledger.entry import Draft, format_timestamp
from app.ledger.jcs import canonicalize
from app.tracking import gates

# Per 1,000 entries. metrics.logged ~600, params ~100, tags ~100 (40 of them MLflow's tags at
# run creation), runs ~40 created and ~40 ended, ~30 artifacts, ~20 inputs and environments,
# and the rest: experiments, logged models, the registry, promotions, deployments, access.
WEIGHTS: dict[str, float] = {
    "metrics": 600, "params": 100, "tags": 58, "tag_deleted": 2, "run": 40, "end": 40,
    "artifact": 27, "external_artifact": 2, "inputs": 20, "environment": 20,
    "experiment": 0.3, "experiment_tags": 0.3, "logged_model": 1.2, "logged_model_tags": 0.3,
    "logged_model_params": 0.2, "model": 0.15, "model_tags": 0.2, "policy": 0.15,
    "version": 2.5, "staging": 0.8, "challenger": 0.3, "challenger_deleted": 0.05,
    "promotion": 2.2, "decision": 3.0, "withdraw": 0.15, "deploy": 1.5, "rollback": 0.2,
    "token": 0.3, "token_revoked": 0.1, "grant": 0.5, "grant_revoked": 0.1,
    "client_key": 0.1, "report": 0.2,
}
USERS = ("alice", "bob", "carol", "dave", "erin", "ci")
APPROVERS = ("qa-lead", "risk-officer", "ml-governance", "head-of-data")
MIN_ACTIVE, MAX_ACTIVE = 3, 16  # runs RUNNING at once (a team's concurrent training jobs)
METRIC_KEYS = ("loss", "val_loss", "accuracy", "val_accuracy", "auc", "f1", "precision",
               "recall", "learning_rate", "epoch_seconds")
GROUPS = {"sex": ("F", "M"), "age_band": ("18-29", "30-44", "45-64", "65+"),
          "region": ("NA", "EU", "APAC", "LATAM")}
PARAM_KEYS = ("learning_rate", "batch_size", "epochs", "optimizer", "seed", "max_depth",
              "n_estimators", "dropout", "weight_decay", "model_family")
POLICY = gates.validate_policy({
    "required_params": ["seed"], "required_dataset_contexts": ["training", "evaluation"],
    "fairness": [{"metric": "auc", "attribute": "sex", "min_max_ratio_at_least": "0.8"}],
    "minimums": [{"metric": "auc", "at_least": "0.7"}]})
_PACKAGE_NAMES = (
    "numpy pandas scipy scikit-learn torch torchvision xgboost lightgbm mlflow requests urllib3 "
    "certifi idna charset-normalizer six python-dateutil pytz tzdata packaging pyyaml jinja2 "
    "markupsafe click cloudpickle protobuf grpcio sqlalchemy alembic flask werkzeug gunicorn "
    "pyarrow fsspec s3fs boto3 botocore jmespath s3transfer matplotlib pillow kiwisolver "
    "cycler fonttools pyparsing joblib threadpoolctl networkx sympy mpmath filelock typing-"
    "extensions tqdm psutil").split()


def _hex(rng: random.Random, bits: int = 256) -> str:
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


def _images(rng: random.Random, packages: int) -> list[list[dict[str, str]]]:
    """A few training images' package lists (mlaudit record sends every installed one)."""
    known = len(_PACKAGE_NAMES)
    names = [_PACKAGE_NAMES[i % known] + (f"-ext{i // known}" if i >= known else "")
             for i in range(packages)]
    return [[{"name": n, "version": f"{rng.randint(0, 3)}.{rng.randint(0, 30)}."
              f"{rng.randint(0, 12)}"} for n in sorted(names)] for _ in range(4)]


@dataclass
class Run:
    id: str
    experiment: str
    actor: str
    params: int = 0
    step: int = 0
    environment: bool = False
    tags: set[str] = field(default_factory=set)
    artifacts: list[dict[str, str]] = field(default_factory=list)
    datasets: list[dict[str, str]] = field(default_factory=list)

    def subject(self) -> dict[str, str]:
        return {"run": self.id, "experiment": self.experiment}

    def model_artifacts(self) -> list[dict[str, str]]:
        return [a for a in self.artifacts if a["path"].startswith("model/")]


@dataclass
class Version:
    number: int
    digest: str
    stage: str = "None"


@dataclass
class Model:
    name: str
    quorum: int
    versions: list[Version] = field(default_factory=list)
    runs: set[str] = field(default_factory=set)  # registered from these runs already
    policy: tuple[int, str] | None = None  # (seq, set_by) of its policy.set
    aliases: dict[str, int] = field(default_factory=dict)
    approved: dict[int, str] = field(default_factory=dict)  # version -> approved promotion


@dataclass
class Promotion:
    id: str
    model: Model
    version: Version
    target: str
    requester: str
    gates: dict[str, Any]
    approvers: set[str] = field(default_factory=set)

    def subject(self) -> dict[str, str]:
        return {"promotion": self.id, "model": self.model.name,
                "version": str(self.version.number)}


class Mix:
    """Drafts of a realistic mix, in the order the service would append them.

    first_seq: the seq the first draft will get (the entries already in the ledger come
    before it); the generator counts from it for the entries that name another by seq."""

    def __init__(self, signer: Signer, first_seq: int, seed: int = 1,
                 env_packages: int = 150) -> None:
        self.rng = random.Random(seed)
        self.seq = first_seq
        self.counts: Counter[str] = Counter()
        self._signer = signer
        self._images = _images(self.rng, env_packages)
        self._clock = 1_750_000_000_000  # ms: body timestamps move on with every action
        self._queue: deque[Draft] = deque()
        self._envelopes: list[tuple[str, dict[str, Any]]] = []
        self._experiments: list[str] = []
        self._active: dict[str, Run] = {}
        self._finished: deque[Run] = deque(maxlen=400)  # ended with a model/ artifact
        self._models: dict[str, Model] = {}
        self._pending: dict[str, Promotion] = {}
        self._logged: list[tuple[str, Run]] = []
        self._tokens: dict[str, tuple[str, str]] = {}  # name -> (id, role), not revoked
        self._grants: set[tuple[str, str]] = set()  # (token name, experiment)
        self._keyed: set[str] = set()  # token names with a client key
        self._deployed: dict[tuple[str, str], list[tuple[str, int]]] = {}
        self._names = 0
        actions = {name: getattr(self, f"_{name}") for name in WEIGHTS}
        self._actions: list[Callable[[], list[Draft]]] = list(actions.values())
        self._weights = list(WEIGHTS.values())
        self._queue.extend(self._bootstrap())

    def drafts(self, count: int) -> list[Draft]:
        out: list[Draft] = []
        while len(out) < count:
            while not self._queue:
                self._clock += self.rng.randint(20, 3000)
                action = self.rng.choices(self._actions, self._weights)[0]
                self._queue.extend(action() or self._metrics())
            draft = self._queue.popleft()
            out.append(draft)
            self.counts[draft.kind] += 1
            self.seq += 1
        return out

    def take_envelopes(self) -> list[tuple[str, dict[str, Any]]]:
        """(sha256, envelope) of every artifact entry drafted since the last call."""
        taken, self._envelopes = self._envelopes, []
        return taken

    # -- helpers -----------------------------------------------------------------------------

    def _name(self, prefix: str) -> str:
        self._names += 1
        return f"{prefix}-{self._names}"

    def _user(self) -> str:
        return f"token:{self.rng.choice(USERS)}"

    def _pick(self) -> Run:
        return self.rng.choice(list(self._active.values()))

    def _value(self) -> str:
        return "NaN" if self.rng.random() < 0.0005 else repr(self.rng.random())

    def _bootstrap(self) -> list[Draft]:
        """What a new deployment writes first: MLflow's Default experiment, tokens for the
        team and its approvers, the declared environments, a first experiment and a first
        registered model."""
        drafts = [Draft("experiment.created", "system", {"experiment": "0"},
                        {"name": "Default", "description": "MLflow's default experiment",
                         "tags": {}})]
        self._experiments.append("0")
        for name in USERS + APPROVERS:
            drafts.append(self._token_draft(name, "approver" if name in APPROVERS else
                                            "writer"))
        drafts += [Draft("environment.declared", "token:admin", {"environment": name},
                         {"protected": name != "staging"})
                   for name in ("prod-eu", "prod-us", "staging")]
        drafts += self._experiment() + self._model()
        for _ in range(MIN_ACTIVE):
            drafts += self._run()
        return drafts

    # -- experiments and runs ----------------------------------------------------------------

    def _experiment(self) -> list[Draft]:
        experiment = str(len(self._experiments))
        self._experiments.append(experiment)
        return [Draft("experiment.created", self._user(), {"experiment": experiment}, {
            "name": self._name("churn-model"), "description": "Customer churn, weekly retrain",
            "tags": {"team": "risk-ml", "cost_center": "4711"}})]

    def _experiment_tags(self) -> list[Draft]:
        experiment = self.rng.choice(self._experiments)
        return [Draft("experiment.tags_set", self._user(), {"experiment": experiment},
                      {"tags": {"status": self.rng.choice(["active", "review", "frozen"])}})]

    def _run(self) -> list[Draft]:
        if len(self._active) >= MAX_ACTIVE:
            return self._end()
        actor, name = self._user(), self._name("run")
        experiment = self.rng.choice(self._experiments[-8:])  # recent experiments are busy
        parents = [r for r in self._active.values() if r.experiment == experiment]
        parent = self.rng.choice(parents).id if parents and self.rng.random() < 0.1 else None
        run = Run(_hex(self.rng, 128), experiment, actor)
        self._active[run.id] = run
        subject = run.subject()
        body = {"name": name, "source": {
            "git_commit": _hex(self.rng, 160), "repository": "https://git.example.com/ml/churn",
            "pipeline_id": str(self.rng.randint(1, 10**6)), "entry_point": "train.py",
            "pipeline_url": "https://ci.example.com/ml/churn/pipelines"},
            "start_time": str(self._clock), "parent_run": parent}
        tags = {"mlflow.user": actor[6:], "mlflow.source.name": "train.py",
                "mlflow.source.type": "JOB", "mlflow.runName": name}
        run.tags.update(tags)
        return [Draft("run.created", actor, subject, body),
                Draft("tags.set", actor, subject, {"tags": tags})]

    def _end(self) -> list[Draft]:
        if len(self._active) <= MIN_ACTIVE:
            return self._run()
        run = self._active.pop(self._pick().id)
        status = self.rng.choices(["FINISHED", "FAILED", "KILLED"], [90, 8, 2])[0]
        if status == "FINISHED" and run.model_artifacts():
            self._finished.append(run)
        return [Draft("run.ended", run.actor, run.subject(), {
            "status": status, "end_time": str(self._clock),
            "manifest_sha256": hashlib.sha256(run.id.encode()).hexdigest()})]

    def _metrics(self) -> list[Draft]:
        run, roll = self._pick(), self.rng.random()
        run.step += 1
        if roll < 0.05:  # autolog / log_batch: many metrics in one request
            metrics = [self._metric(key, run.step + i // len(METRIC_KEYS))
                       for i, key in zip(range(self.rng.randint(10, 100)),
                                         METRIC_KEYS * 10, strict=False)]
        elif roll < 0.20:  # a fairness metric per group, with each group's n
            attribute = self.rng.choice(list(GROUPS))
            key = self.rng.choice(["auc", "tpr", "selection_rate"])
            metrics = [{**self._metric(key, run.step), "group": {attribute: group},
                        "n": str(self.rng.randint(50, 50_000))} for group in GROUPS[attribute]]
        else:  # MLflow's fluent log_metric: one metric per request
            metrics = [self._metric(self.rng.choice(METRIC_KEYS), run.step)]
        return [Draft("metrics.logged", run.actor, run.subject(), {"metrics": metrics})]

    def _metric(self, key: str, step: int) -> dict[str, str]:
        return {"key": key, "value": self._value(), "step": str(step),
                "timestamp": str(self._clock)}

    def _params(self) -> list[Draft]:
        run = self._pick()
        count = 1 if self.rng.random() < 0.7 else self.rng.randint(5, 30)
        params = {}
        for _ in range(count):
            key = (PARAM_KEYS[run.params] if run.params < len(PARAM_KEYS)
                   else f"param_{run.params}")
            params[key] = str(self.rng.choice([0.001, 0.01, 32, 64, 100, "adam", "gbdt", 42]))
            run.params += 1
        return [Draft("params.logged", run.actor, run.subject(), {"params": params})]

    def _tags(self) -> list[Draft]:
        run = self._pick()
        tags = {self.rng.choice(["team", "stage", "dataset_version", "owner", "note"]):
                self.rng.choice(["risk-ml", "candidate", "v42", "alice", "retrain after drift"])
                for _ in range(self.rng.randint(1, 3))}
        run.tags.update(tags)
        return [Draft("tags.set", run.actor, run.subject(), {"tags": tags})]

    def _tag_deleted(self) -> list[Draft]:
        run = self._pick()
        keys = sorted(k for k in run.tags if not k.startswith("mlflow."))
        if not keys:
            return []
        key = self.rng.choice(keys)
        run.tags.discard(key)
        return [Draft("tag.deleted", run.actor, run.subject(), {"key": key})]

    def _without(self, has: Callable[[Run], object]) -> Run | None:
        """An active run that lacks something recorded once per run (datasets, environment)."""
        found = [r for r in self._active.values() if not has(r)]
        return self.rng.choice(found) if found else None

    def _inputs(self) -> list[Draft]:
        run = self._without(lambda r: r.datasets)
        if run is None:
            return []
        for context in ("training", "evaluation"):
            run.datasets.append({"name": f"churn-{context}", "digest": _hex(self.rng),
                                 "context": context})
        datasets = [{**d, "source_uri": f"s3://ml-data/churn/{d['context']}/v42.parquet",
                     "schema": {"columns": ["tenure", "plan", "spend", "churned"]},
                     "row_count": "184023", "group_counts": {"sex": {"F": "91012",
                                                                    "M": "93011"}}}
                    for d in run.datasets]
        if self.rng.random() < 0.3:  # logged by an MLflow client: its own fields kept
            datasets[0]["mlflow"] = {"digest": _hex(self.rng, 32), "source_type": "s3",
                                     "source": '{"uri": "s3://ml-data/churn/training"}',
                                     "tags": {"mlflow.data.context": "training"}}
        return [Draft("inputs.logged", run.actor, run.subject(), {"datasets": datasets})]

    def _environment(self) -> list[Draft]:
        run = self._without(lambda r: r.environment)
        if run is None:
            return []
        run.environment = True
        return [Draft("environment.recorded", run.actor, run.subject(), {"environment": {
            "python_version": "3.11.9", "os": "Linux-6.1.0-x86_64-with-glibc2.36",
            "architecture": "x86_64", "hardware": {"cpu_count": "16", "memory_bytes":
                                                   "68719476736", "processor": "x86_64"},
            "container_image_digest": f"sha256:{_hex(self.rng)}",
            "packages": self.rng.choice(self._images), "lockfile_sha256": _hex(self.rng)}})]

    # -- artifacts and logged models ---------------------------------------------------------

    def _artifact(self, run: Run | None = None, path: str | None = None,
                  uri: str | None = None) -> list[Draft]:
        run = run or self._pick()
        if path is None:
            model = not run.model_artifacts() and self.rng.random() < 0.6
            path = (f"model/{self.rng.choice(['model.pkl', 'MLmodel'])}" if model
                    else f"plots/figure-{len(run.artifacts)}.png")
        sha256, size = _hex(self.rng), self.rng.randint(1_000, 50_000_000)
        predicate = dsse.artifact_predicate(run_id=run.id, size=size, actor=run.actor,
                                            recorded_at=format_timestamp(datetime.now(UTC)),
                                            uri=uri)
        envelope = dsse.sign_envelope(dsse.statement(path, sha256, predicate), self._signer)
        digest = hashlib.sha256(canonicalize(envelope)).hexdigest()
        self._envelopes.append((digest, envelope))
        run.artifacts.append({"path": path, "sha256": sha256, "size": str(size)})
        body = {**run.artifacts[-1], "envelope_sha256": digest}
        if uri is not None:
            body["uri"] = uri
        kind = "artifact.recorded" if uri is None else "artifact.registered"
        return [Draft(kind, run.actor, run.subject(), body)]

    def _external_artifact(self) -> list[Draft]:
        run = self._pick()
        path = f"external/shard-{len(run.artifacts)}.parquet"
        return self._artifact(run, path, f"s3://ml-artifacts/{run.id}/{path}")

    def _logged_model(self) -> list[Draft]:
        """MLflow 3's log_model: the model, its files, READY, and the run's output link."""
        run = self._pick()
        model_id = f"m-{_hex(self.rng, 128)}"
        subject = {"logged_model": model_id, "experiment": run.experiment, "run": run.id}
        self._logged.append((model_id, run))
        drafts = [Draft("logged_model.created", run.actor, subject, {
            "name": "model", "source_run": run.id, "model_type": None,
            "status": "LOGGED_MODEL_PENDING", "params": {"flavor": "sklearn"},
            "tags": {"mlflow.user": run.actor[6:], "mlflow.source.name": "train.py"}})]
        for name in ("MLmodel", "model.pkl"):
            drafts += self._artifact(run, f"models/{model_id}/artifacts/{name}")
        return drafts + [
            Draft("logged_model.status_set", run.actor, subject,
                  {"status": "LOGGED_MODEL_READY", "previous": "LOGGED_MODEL_PENDING"}),
            Draft("run.outputs_logged", run.actor, run.subject(),
                  {"models": [{"model_id": model_id, "step": str(run.step)}]})]

    def _logged_model_change(self, kind: str, body: dict[str, Any]) -> list[Draft]:
        if not self._logged:
            return []
        model_id, run = self.rng.choice(self._logged[-200:])
        subject = {"logged_model": model_id, "experiment": run.experiment, "run": run.id}
        return [Draft(kind, run.actor, subject, body)]

    def _logged_model_tags(self) -> list[Draft]:
        return self._logged_model_change("logged_model.tags_set",
                                         {"tags": {"validation": "passed"}})

    def _logged_model_params(self) -> list[Draft]:
        return self._logged_model_change("logged_model.params_logged",
                                         {"params": {self._name("threshold"): "0.5"}})

    # -- the model registry, promotions and deployments --------------------------------------

    def _some_model(self, with_versions: bool = True) -> Model | None:
        found = [m for m in list(self._models.values())[-30:] if m.versions or not with_versions]
        return self.rng.choice(found) if found else None

    def _model(self) -> list[Draft]:
        model = Model(self._name("churn-classifier"), 2 if self.rng.random() < 0.3 else 1)
        self._models[model.name] = model
        return [Draft("model.created", self._user(), {"model": model.name}, {
            "description": "Predicts churn within 90 days", "owner": "risk-ml",
            "tags": {"domain": "churn"}, "sensitive_attributes": ["age_band", "sex"],
            "protected_targets": ["alias:champion", "stage:Production"],
            "quorum": model.quorum})]

    def _model_tags(self) -> list[Draft]:
        model = self._some_model(with_versions=False)
        assert model is not None  # the bootstrap made one
        return [Draft("model.tags_set", self._user(), {"model": model.name},
                      {"tags": {"reviewed": self.rng.choice(["yes", "no"])}})]

    def _policy(self) -> list[Draft]:
        model = self._some_model(with_versions=False)
        assert model is not None
        model.policy = (self.seq, "token:ml-governance")
        return [Draft("policy.set", model.policy[1], {"model": model.name}, {"policy": POLICY})]

    def _version(self) -> list[Draft]:
        """A version pinned to a finished run's model/ artifacts and datasets."""
        model = self._some_model(with_versions=False)
        assert model is not None
        runs = [r for r in self._finished if r.id not in model.runs]
        if not runs:
            return []
        run = self.rng.choice(runs)
        model.runs.add(run.id)
        evidence = {"run": run.id, "artifact_path": "model", "artifacts": run.model_artifacts(),
                    "datasets": run.datasets}
        digest = hashlib.sha256(canonicalize({"model": model.name, **evidence})).hexdigest()
        version = Version(len(model.versions) + 1, digest)
        model.versions.append(version)
        subject = {"model": model.name, "version": str(version.number)}
        drafts = [Draft("model_version.created", run.actor, {**subject, "run": run.id},
                        {"evidence": evidence, "version_digest": digest})]
        if self.rng.random() < 0.6:  # registered by an MLflow client
            drafts.append(Draft("model_version.source_set", run.actor, subject,
                                {"source": f"runs:/{run.id}/model", "logged_model": None}))
        if self.rng.random() < 0.3:
            drafts.append(Draft("model_version.tags_set", run.actor, subject,
                                {"tags": {"candidate": "true"}}))
        return drafts

    def _move(self, model: Model, version: Version, stage: str, promotion: str | None,
              actor: str) -> list[Draft]:
        """A stage change; one by other means than a promotion invalidates the version's
        pending promotions (app.services.registry.move)."""
        subject = {"model": model.name, "version": str(version.number)}
        drafts = [Draft("model_version.stage_set", actor, subject,
                        {"stage": stage, "previous": version.stage, "promotion": promotion})]
        version.stage = stage
        if promotion is None:
            drafts += self._invalidate(model, version, actor)
        return drafts

    def _invalidate(self, model: Model, version: Version, actor: str) -> list[Draft]:
        drafts = []
        for promotion in [p for p in self._pending.values() if p.version is version]:
            del self._pending[promotion.id]
            drafts.append(Draft("promotion.invalidated", actor,
                                {"promotion": promotion.id, "model": model.name},
                                {"reason": "the version changed stage by other means"}))
        return drafts

    def _staging(self) -> list[Draft]:
        model = self._some_model()
        if model is None or model.versions[-1].stage != "None":
            return []
        return self._move(model, model.versions[-1], "Staging", None, self._user())

    def _challenger(self) -> list[Draft]:
        model = self._some_model()
        if model is None or model.aliases.get("challenger") == model.versions[-1].number:
            return []
        number, previous = model.versions[-1].number, model.aliases.get("challenger")
        model.aliases["challenger"] = number
        return [Draft("model_alias.set", self._user(), {"model": model.name,
                                                        "version": str(number)},
                      {"alias": "challenger", "previous": previous, "promotion": None})]

    def _challenger_deleted(self) -> list[Draft]:
        model = self._some_model()
        if model is None or "challenger" not in model.aliases:
            return []
        number = model.aliases.pop("challenger")
        return [Draft("model_alias.deleted", self._user(),
                      {"model": model.name, "version": str(number)}, {"alias": "challenger"})]

    def _gates(self, model: Model) -> dict[str, Any]:
        """The evaluation a promotion and its decisions carry (registry.evaluate_gates)."""
        if model.policy is None:
            return {"policy_seq": None, "passed": True, "results": []}
        seq, set_by = model.policy
        return {"policy_seq": seq, "policy_set_by": set_by, "passed": True, "results": [
            {"gate": "minimum:auc", "passed": True, "figures": {"value": "0.83",
                                                               "threshold": "0.7"},
             "detail": "auc 0.83 is at least 0.7, so the gate passes"},
            {"gate": "fairness:auc/sex/min_max_ratio", "passed": True,
             "figures": {"ratio": "0.94", "threshold": "0.8", "min_n": "9101"},
             "detail": "auc by sex: min/max ratio 0.94 is at least 0.8, so the gate passes"}]}

    def _promotion(self) -> list[Draft]:
        model = self._some_model()
        if model is None:
            return []
        version = self.rng.choice(model.versions[-3:])
        target = ("stage:Production" if version.stage != "Production"
                  and self.rng.random() < 0.7 else "alias:champion")
        if (target == "alias:champion" and model.aliases.get("champion") == version.number
                or any(p.version is version for p in self._pending.values())):
            return []
        promotion = Promotion(_hex(self.rng, 128), model, version, target, self._user(),
                              self._gates(model))
        self._pending[promotion.id] = promotion
        return [Draft("promotion.requested", promotion.requester, promotion.subject(), {
            "target": target, "justification": "beats the current model on AUC; fairness checked",
            "classification": self.rng.choice([None, "minor", "major"]),
            "version_digest": version.digest, "gates": promotion.gates})]

    def _decided(self, promotion: Promotion, kind: str, actor: str, outcome: str,
                 role: str = "approver", reason: str | None = None) -> Draft:
        decision = "reject" if outcome == "reject" else "approve"
        return Draft(kind, actor, promotion.subject(), {
            "decision": decision, "outcome": outcome, "comment": "reviewed the evidence bundle",
            "role": role, "approver": actor, "version_digest": promotion.version.digest,
            "exception": None, "gates": promotion.gates, "reason": reason})

    def _decision(self) -> list[Draft]:
        if not self._pending:
            return []
        promotion = self.rng.choice(list(self._pending.values()))
        roll = self.rng.random()
        if roll < 0.05:  # the requester tries to approve it: refused, and recorded
            return [self._decided(promotion, "decision.refused", promotion.requester,
                                  "refused", "writer", f"{promotion.requester} requested this "
                                  "promotion; an independent approver must decide")]
        approver = self.rng.choice([a for a in (f"token:{n}" for n in APPROVERS)
                                    if a not in promotion.approvers])
        if roll < 0.15:
            del self._pending[promotion.id]
            return [self._decided(promotion, "decision.rejected", approver, "reject")]
        return self._approve(promotion, approver)

    def _approve(self, promotion: Promotion, approver: str) -> list[Draft]:
        """An approval; the one that makes the quorum moves the stage or alias, citing it."""
        drafts = [self._decided(promotion, "decision.approved", approver, "approve")]
        promotion.approvers.add(approver)
        model, version = promotion.model, promotion.version
        if len(promotion.approvers) < model.quorum:
            return drafts
        del self._pending[promotion.id]
        model.approved[version.number] = promotion.id
        if promotion.target == "alias:champion":
            previous = model.aliases.get("champion")
            model.aliases["champion"] = version.number
            return drafts + [Draft("model_alias.set", approver, {
                "model": model.name, "version": str(version.number)},
                {"alias": "champion", "previous": previous, "promotion": promotion.id})]
        before = [v for v in model.versions if v.stage == "Production"]
        drafts += self._move(model, version, "Production", promotion.id, approver)
        for other in before:  # MLflow's archive_existing_versions
            drafts += self._move(model, other, "Archived", None, approver)
        return drafts

    def _withdraw(self) -> list[Draft]:
        if not self._pending:
            return []
        promotion = self._pending.pop(self.rng.choice(list(self._pending)))
        return [Draft("promotion.withdrawn", promotion.requester,
                      {"promotion": promotion.id, "model": promotion.model.name}, {})]

    def _deployment(self, kind: str, model: Model, number: int, environment: str,
                    rollback_of: str | None = None, reason: str | None = None) -> list[Draft]:
        deployment = _hex(self.rng, 128)
        self._deployed.setdefault((model.name, environment), []).append((deployment, number))
        return [Draft(kind, "token:ci", {"deployment": deployment, "model": model.name}, {
            "version": str(number), "environment": environment, "target": {
                "endpoint": f"https://{environment}.models.example.com/{model.name}",
                "image_digest": f"sha256:{_hex(self.rng)}"},
            "promotion": model.approved.get(number), "reason": reason,
            "rollback_of": rollback_of})]

    def _deploy(self) -> list[Draft]:
        """Production environments take approved versions only; staging takes the latest."""
        model = self._some_model()
        if model is None:
            return []
        environment = self.rng.choice(["prod-eu", "prod-us", "staging"])
        if environment == "staging":
            return self._deployment("deployment.recorded", model, model.versions[-1].number,
                                    environment)
        if not model.approved:
            return []
        number = next(reversed(model.approved))
        return self._deployment("deployment.recorded", model, number, environment)

    def _rollback(self) -> list[Draft]:
        """Back to the version deployed before, in an environment that has had two."""
        found = [(k, h) for k, h in self._deployed.items() if len({v for _, v in h}) > 1]
        if not found:
            return []
        (name, environment), history = self.rng.choice(found)
        last, current = history[-1]
        number = next(v for _, v in reversed(history) if v != current)
        return self._deployment("deployment.rolled_back", self._models[name], number,
                                environment, last, "error rate rose after the release")

    # -- access: tokens, grants, client keys, reports ----------------------------------------

    def _token_draft(self, name: str, role: str) -> Draft:
        token_id = _hex(self.rng, 64)
        self._tokens[name] = (token_id, role)
        body = {"name": name, "role": role, "token_sha256": _hex(self.rng)}
        if self.rng.random() < 0.3:
            body["expires_at"] = format_timestamp(datetime.now(UTC) + timedelta(days=90))
        return Draft("token.created", "cli:ops", {"token": token_id}, body)

    def _runners(self) -> list[str]:
        return [n for n in self._tokens if n.startswith("ci-runner-")]

    def _token(self) -> list[Draft]:
        role = self.rng.choice(["writer", "writer", "auditor", "approver"])
        return [self._token_draft(self._name("ci-runner"), role)]

    def _token_revoked(self) -> list[Draft]:
        names = self._runners()
        if not names:
            return []
        name = self.rng.choice(names)
        token_id, _ = self._tokens.pop(name)
        self._grants = {g for g in self._grants if g[0] != name}
        body = {"name": name, "reason": "rotated"} if self.rng.random() < 0.5 else {"name": name}
        return [Draft("token.revoked", "cli:ops", {"token": token_id}, body)]

    def _grant(self) -> list[Draft]:
        names = self._runners()
        if not names:
            return []
        name, experiment = self.rng.choice(names), self.rng.choice(self._experiments)
        if (name, experiment) in self._grants:
            return []
        self._grants.add((name, experiment))
        return [Draft("grant.created", "cli:ops", {"token": self._tokens[name][0],
                                                   "experiment": experiment},
                      {"token_name": name})]

    def _grant_revoked(self) -> list[Draft]:
        if not self._grants:
            return []
        name, experiment = self.rng.choice(sorted(self._grants))
        self._grants.discard((name, experiment))
        return [Draft("grant.revoked", "cli:ops", {"token": self._tokens[name][0],
                                                   "experiment": experiment},
                      {"token_name": name})]

    def _client_key(self) -> list[Draft]:
        names = [n for n in self._tokens if n not in self._keyed]
        if not names:
            return []
        name = self.rng.choice(names)
        self._keyed.add(name)
        public = self.rng.randbytes(32)
        return [Draft("client_key.registered", f"token:{name}",
                      {"token": self._tokens[name][0],
                       "key": hashlib.sha256(public).hexdigest()[:16]},
                      {"public_key": base64.b64encode(public).decode("ascii")})]

    def _report(self) -> list[Draft]:
        model = self._some_model()
        if model is None:
            return []
        return [Draft("report.issued", "token:risk-officer", {"report": _hex(self.rng, 128)}, {
            "kind": "model", "subject": model.name, "bundle_sha256": _hex(self.rng),
            "pdf_sha256": _hex(self.rng), "tree_size": str(self.seq - self.seq % 1000),
            "root_hash": base64.b64encode(self.rng.randbytes(32)).decode("ascii"),
            "issued_to": "auditor@example.com", "forced": False})]
