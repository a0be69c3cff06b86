"""Configuration: defaults, then MLAUDIT_* / DATABASE_URL from the environment, then overrides."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import platformdirs

from app.ledger.errors import LedgerError


class ConfigError(LedgerError):
    """A configuration value is missing or malformed."""


@dataclass(frozen=True)
class Config:
    """Every setting the service reads; README's configuration table mirrors this."""

    database_url: str | None = None
    home: Path = Path(platformdirs.user_data_dir("mlaudit"))
    key_dir: Path | None = None
    origin: str = "mlaudit.local/ledger"
    checkpoint_every: int = 1000
    checkpoint_interval: float = 60.0
    pool_size: int = 10
    group_commit_max: int = 256
    admin_token_file: Path | None = None
    trust_file: Path | None = None
    artifact_dir: Path | None = None
    max_upload_bytes: int = 1024**3
    # Only for environments adopted from history (app/services/environments.py): which of
    # those earlier deployments used count as protected. New ones are declared by an admin.
    protected_environments: tuple[str, ...] = ("prod",)
    log_format: str = "json"
    log_level: str = "INFO"
    self_verify_interval: float = 3600.0
    self_verify_blobs: int = 8
    rate_limit: str = ""
    metrics_multiproc_dir: Path | None = None
    database_wait: float = 20.0
    # PAdES signature on issued reports (docs/report-signatures.md): both or neither; without
    # them a self-signed pair under home/report-signing is made at first start.
    report_signing_key: Path | None = None
    report_signing_cert: Path | None = None
    report_tsa_url: str = ""

    @property
    def rate_limit_rule(self) -> tuple[int, float] | None:
        """(requests, per seconds) from rate_limit, or None when no limit is set."""
        return parse_rate_limit(self.rate_limit)

    @property
    def artifacts_path(self) -> Path:
        return self.artifact_dir or self.home / "artifacts"

    @property
    def keys_path(self) -> Path:
        return self.key_dir or self.home / "keys"

    @property
    def admin_token_path(self) -> Path:
        return self.admin_token_file or self.home / "admin-token"

    @property
    def trust_path(self) -> Path:
        return self.trust_file or self.home / "trust.json"

    @property
    def report_key_path(self) -> Path:
        return self.report_signing_key or self.home / "report-signing" / "key.pem"

    @property
    def report_cert_path(self) -> Path:
        return self.report_signing_cert or self.home / "report-signing" / "cert.pem"

    @property
    def report_signing_supplied(self) -> bool:
        """True when the operator supplies the report-signing key and certificate."""
        return self.report_signing_key is not None


_PERIODS = {"s": 1.0, "second": 1.0, "m": 60.0, "minute": 60.0, "h": 3600.0, "hour": 3600.0}
_RATE = re.compile(r"(\d+)\s*/\s*([a-z]+)")
LOG_FORMATS = ("json", "text")


def parse_rate_limit(text: str) -> tuple[int, float] | None:
    """'100/second' -> (100, 1.0); '' , '0' and 'off' -> None (no limit)."""
    value = text.strip().lower()
    if value in ("", "0", "off", "none"):
        return None
    found = _RATE.fullmatch(value)
    if not found or found[2] not in _PERIODS or int(found[1]) <= 0:
        raise ConfigError(f"MLAUDIT_RATE_LIMIT={text!r} is not N/second, N/minute or N/hour")
    return int(found[1]), _PERIODS[found[2]]


def _prefixes(text: str) -> tuple[str, ...]:
    """Comma-separated environment name prefixes."""
    return tuple(p.strip() for p in text.split(",") if p.strip())


# (environment variable, field, parser)
_ENVIRONMENT: tuple[tuple[str, str, Any], ...] = (
    ("DATABASE_URL", "database_url", str),
    ("MLAUDIT_HOME", "home", Path),
    ("MLAUDIT_KEY_DIR", "key_dir", Path),
    ("MLAUDIT_LOG_ORIGIN", "origin", str),
    ("MLAUDIT_CHECKPOINT_EVERY", "checkpoint_every", int),
    ("MLAUDIT_CHECKPOINT_INTERVAL", "checkpoint_interval", float),
    ("MLAUDIT_POOL_SIZE", "pool_size", int),
    ("MLAUDIT_GROUP_COMMIT_MAX", "group_commit_max", int),
    ("MLAUDIT_ADMIN_TOKEN_FILE", "admin_token_file", Path),
    ("MLAUDIT_TRUST_FILE", "trust_file", Path),
    ("MLAUDIT_ARTIFACT_DIR", "artifact_dir", Path),
    ("MLAUDIT_MAX_UPLOAD_BYTES", "max_upload_bytes", int),
    ("MLAUDIT_PROTECTED_ENVIRONMENTS", "protected_environments", _prefixes),
    ("MLAUDIT_LOG_FORMAT", "log_format", str.lower),
    ("MLAUDIT_LOG_LEVEL", "log_level", str.upper),
    ("MLAUDIT_SELF_VERIFY_INTERVAL", "self_verify_interval", float),
    ("MLAUDIT_SELF_VERIFY_BLOBS", "self_verify_blobs", int),
    ("MLAUDIT_RATE_LIMIT", "rate_limit", str),
    ("MLAUDIT_DATABASE_WAIT", "database_wait", float),
    ("MLAUDIT_REPORT_SIGNING_KEY", "report_signing_key", Path),
    ("MLAUDIT_REPORT_SIGNING_CERT", "report_signing_cert", Path),
    ("MLAUDIT_REPORT_TSA_URL", "report_tsa_url", str),
    # prometheus-client reads this variable itself; the app reads it to scrape every worker
    ("PROMETHEUS_MULTIPROC_DIR", "metrics_multiproc_dir", Path),
)

_POSITIVE = ("checkpoint_every", "checkpoint_interval", "pool_size", "group_commit_max",
             "max_upload_bytes")


def load_config(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Config:
    """Build the Config: defaults <- environment <- explicit overrides, then validate."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for variable, name, parse in _ENVIRONMENT:
        raw = env.get(variable, "").strip()
        if raw:
            try:
                values[name] = parse(raw)
            except ValueError as exc:
                raise ConfigError(f"{variable}={raw!r} is not a valid {parse.__name__}") from exc
    known = {f.name for f in fields(Config)}
    for name, value in (overrides or {}).items():
        if name not in known:
            raise ConfigError(f"unknown setting {name!r}")
        paths = ("home", "key_dir", "artifact_dir", "admin_token_file", "trust_file",
                 "metrics_multiproc_dir", "report_signing_key", "report_signing_cert")
        values[name] = Path(value) if name in paths and value else value
    config = replace(Config(), **values)
    _validate(config)
    return config


def _validate(config: Config) -> None:
    for name in _POSITIVE:
        if getattr(config, name) <= 0:
            raise ConfigError(f"{name} must be positive")
    if not config.origin or any(c.isspace() or c == "+" for c in config.origin):
        raise ConfigError("MLAUDIT_LOG_ORIGIN must be non-empty, without spaces or '+'")
    if config.log_format not in LOG_FORMATS:
        raise ConfigError(f"MLAUDIT_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}")
    if not isinstance(logging.getLevelName(config.log_level), int):
        raise ConfigError(f"MLAUDIT_LOG_LEVEL {config.log_level!r} is not a logging level")
    if not config.self_verify_interval >= 0:  # also refuses NaN
        raise ConfigError("self_verify_interval must be 0 (off) or positive")
    if config.self_verify_blobs < 0:
        raise ConfigError("self_verify_blobs must be 0 (none) or positive")
    if not config.database_wait >= 0:
        raise ConfigError("database_wait must be 0 (do not wait) or positive")
    parse_rate_limit(config.rate_limit)
    if (config.report_signing_key is None) != (config.report_signing_cert is None):
        raise ConfigError("set both MLAUDIT_REPORT_SIGNING_KEY and MLAUDIT_REPORT_SIGNING_CERT, "
                          "or neither")
    if config.report_tsa_url and not config.report_tsa_url.startswith(("http://", "https://")):
        raise ConfigError("MLAUDIT_REPORT_TSA_URL must be an http:// or https:// URL")
    if config.home.exists() and not config.home.is_dir():
        raise ConfigError(f"MLAUDIT_HOME {config.home} exists and is not a directory")
