"""Access to the app's Services from inside a request (adapters only)."""

from __future__ import annotations

from flask import current_app

from app.services.runtime import Services


def services() -> Services:
    found: Services = current_app.extensions["mlaudit"]
    return found
