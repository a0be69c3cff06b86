"""Liveness and readiness probes (no auth)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from app.api.context import services
from app.api.errors import problem
from app.db import SCHEMA_VERSION, schema_version

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> Response:
    try:
        with services().pool.connection(timeout=5) as conn:
            version = schema_version(conn)
    except Exception:  # any failure to reach the database means not ready
        return problem(503, "Service Unavailable", "the database is not reachable")
    if version != SCHEMA_VERSION:
        return problem(503, "Service Unavailable",
                       f"schema version is {version}, this build needs {SCHEMA_VERSION}")
    return jsonify(status="ready", schema_version=version)
