"""mlaudit: a tamper-evident audit ledger for machine learning. create_app builds the service."""

from __future__ import annotations

import atexit
import logging
import sys
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.config import Config, load_config

if TYPE_CHECKING:
    from flask import Flask

    from app.services.runtime import Services

__version__ = "0.1.0"
MAX_JSON_BODY = 16 * 1024 * 1024
STALE_UPLOAD_SECONDS = 3600.0
log = logging.getLogger("mlaudit")


def build_services(config: Config, *, start_checkpointer: bool = True,
                   wait_for_database: bool = False) -> Services:
    """Database, schema, signing key, first admin token, committer, checkpointer and
    self-verifier; start_checkpointer=False leaves both background threads unstarted.

    wait_for_database (the service): while the database is unreachable or restarting, retry
    for up to config.database_wait seconds instead of failing at once. A gunicorn worker that
    boots while PostgreSQL restarts must wait: a worker that fails to boot stops the master,
    and with it the whole service. The CLI fails at once."""
    # Imported here, not at module level, so the offline CLI paths (verify-report,
    # verify-export) do not pay for psycopg and the services at start-up.
    from app import db
    from app.artifacts.store import LocalBlobStore
    from app.services import environments, keys, report_signing, rules, tokens, tracking, trust
    from app.services.checkpoints import Checkpointer
    from app.services.ledger import GroupCommitter, ledger_transaction
    from app.services.runtime import Services
    from app.services.selfcheck import SelfVerifier

    url = db.database_url(config)
    wait = config.database_wait if wait_for_database else 0.0
    db.retrying(lambda: db.ensure_schema(url, config.protected_environments), wait)
    pool = db.retrying(lambda: db.make_pool(url, config.pool_size), wait)

    def first_use() -> Path | None:
        with pool.connection() as conn:
            keys.load_signer(conn, config.origin, config.keys_path)  # fails fast on a bad key
            with ledger_transaction(conn) as writer:
                tracking.ensure_default_experiment(writer, "system")
                rules.ensure_rules(writer)  # stricter guards, from this entry on
                tokens.ensure_principals(writer)  # tokens from before principals existed
                written = tokens.ensure_admin_token(writer, config.admin_token_path)
                environments.adopt_in_use(writer, config.protected_environments)
            if trust.load(config.trust_path) is None:  # trusted on first use only
                trust.update(config.trust_path, config.origin,
                             [k.to_string() for k in keys.verifier_keys(conn)])
            return written

    try:
        written = db.retrying(first_use, wait)
    except BaseException:
        pool.close()
        raise
    try:
        report_signing.prepare(config)  # made like the first key; a bad pair stops the start
    except BaseException:
        pool.close()
        raise
    if written is not None:
        print(f"mlaudit: first start: the admin token was written to {written} (mode 0600)",
              file=sys.stderr)
    checkpointer = Checkpointer(pool, config.origin, config.keys_path, config.checkpoint_every,
                                config.checkpoint_interval, config.trust_path)
    committer = GroupCommitter(pool, config.group_commit_max, on_commit=checkpointer.notify)
    blobs = LocalBlobStore(config.artifacts_path)
    selfcheck = SelfVerifier(pool, config.self_verify_interval, config.trust_path, config.origin,
                             blobs, config.self_verify_blobs)
    if start_checkpointer:
        try:  # it reads the latest checkpoint: a database step of the boot like first_use
            db.retrying(checkpointer.start, wait)
        except BaseException:
            pool.close()
            raise
        selfcheck.start()
    # Partial uploads left by a process that died mid-stream (an hour old: no live upload is
    # that idle). Stored bytes whose entry never committed: `mlaudit artifacts sweep`.
    removed = blobs.cleanup_tmp(STALE_UPLOAD_SECONDS)
    if removed:
        log.warning("removed %d partial uploads left by an earlier crash", removed)
    return Services(config, pool, committer, checkpointer, blobs, selfcheck)


def _close_at_exit(ref: weakref.ref[Services]) -> None:
    """atexit fallback when no server hook closed the services (e.g. `mlaudit serve`)."""
    services = ref()
    if services is not None:
        services.close()


def create_app(config: Config | Mapping[str, Any] | None = None) -> Flask:
    """The Flask app: config read once here, then passed down explicitly."""
    from flask import Flask  # imported here so the CLI's verify path does not load Flask

    if not isinstance(config, Config):
        config = load_config(overrides=config)
    from app.api.http import telemetry
    from app.observability import configure_logging

    configure_logging(config.log_format, config.log_level, telemetry.log_context)
    app = Flask(__name__, static_folder=None)
    # JSON bodies are capped here; the artifact upload route raises its own request's limit
    # to MLAUDIT_MAX_UPLOAD_BYTES (request.max_content_length) and streams.
    app.config["MAX_CONTENT_LENGTH"] = MAX_JSON_BODY
    services = app.extensions["mlaudit"] = build_services(config, wait_for_database=True)
    atexit.register(_close_at_exit, weakref.ref(services))
    # Request threads wait on one another (group commit hands each batch's results back to
    # waiting threads): hand the GIL over every 1 ms instead of Python's default 5 ms.
    sys.setswitchinterval(0.001)

    from app.api.http import errors, health
    from app.api.http import metrics as metrics_api
    from app.api.http import ratelimit as ratelimit_api
    from app.api.http.jsonio import StrictJSONProvider
    from app.api.v1 import access, artifacts, ledger, openapi, tracking

    app.json = StrictJSONProvider(app)
    app.json.sort_keys = False
    errors.register_error_handlers(app)
    # Request ids, access log and request metrics first, then the rate limit: before routing.
    telemetry.install(app, metrics_api.install(app, services).http)
    ratelimit_api.install(app, config.rate_limit_rule)
    from app.api.http import hygiene

    app.before_request(hygiene.refuse_nul)  # %00 in a path or query: 400 before any route
    app.register_blueprint(health.bp)
    app.register_blueprint(ledger.bp)
    app.register_blueprint(tracking.bp)
    app.register_blueprint(artifacts.bp)
    app.register_blueprint(access.bp)
    from app.api.v1 import promotions as promotions_api
    from app.api.v1 import registry as registry_api

    app.register_blueprint(registry_api.bp)
    app.register_blueprint(promotions_api.bp)
    from app.api.v1 import protection as protection_api
    app.register_blueprint(protection_api.bp)
    from app.api.v1 import reports as reports_api
    app.register_blueprint(reports_api.bp)
    from app.api.mlflow import compat as mlflow_compat
    mlflow_compat.register(app)  # /api/2.0/mlflow: the stock MLflow client's API
    app.register_blueprint(openapi.bp)
    return app
