"""Names shared by the fixtures and the tests that make databases of their own."""

from __future__ import annotations

from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo

TEMPLATE = "mlaudit_test_template"


def with_dbname(url: str, name: str) -> str:
    params = conninfo_to_dict(url)
    params["dbname"] = name
    return make_conninfo(**params)


APP_ROLE = "mlaudit_app_test"  # docs/app-role.sql's role, as the test server knows it
ROLE_SQL = Path(__file__).resolve().parent.parent / "docs" / "app-role.sql"


def role_script(role: str, dbname: str) -> str:
    """docs/app-role.sql as written, for a role and a database of these names."""
    return ROLE_SQL.read_text().replace("mlaudit_app", role).replace(
        "DATABASE mlaudit", f'DATABASE "{dbname}"')


def as_app(url: str, role: str = APP_ROLE) -> str:
    """url, connecting as the least-privilege role of docs/app-role.sql instead."""
    params = conninfo_to_dict(url)
    params.update(user=role, password="change-me")
    return make_conninfo(**params)
