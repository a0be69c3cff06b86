"""Names shared by the fixtures and the tests that make databases of their own."""

from __future__ import annotations

from psycopg.conninfo import conninfo_to_dict, make_conninfo

TEMPLATE = "mlaudit_test_template"


def with_dbname(url: str, name: str) -> str:
    params = conninfo_to_dict(url)
    params["dbname"] = name
    return make_conninfo(**params)


APP_ROLE = "mlaudit_app_test"  # docs/app-role.sql's role, as the test server knows it


def as_app(url: str) -> str:
    """url, connecting as the least-privilege role of docs/app-role.sql instead."""
    params = conninfo_to_dict(url)
    params.update(user=APP_ROLE, password="change-me")
    return make_conninfo(**params)
