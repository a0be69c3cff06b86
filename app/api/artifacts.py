"""/api/v1 artifact routes (being written)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("artifacts", __name__, url_prefix="/api/v1")
