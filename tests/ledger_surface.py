"""A database that went through the whole write surface (tests/surface.py), made once and
copied per test: for the coverage, rebuild and attack tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from databases import TEMPLATE, with_dbname
from psycopg import sql
from surface import exercise

from app import create_app
from app.config import Config, load_config


def new_database(server: str, template: str = TEMPLATE) -> str:
    name = f"mlaudit_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template)))
    return with_dbname(server, name)


def drop_database(server: str, url: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


def config_for(url: str, home: Path) -> Config:
    return load_config(environ={}, overrides={
        "database_url": url, "home": home, "checkpoint_interval": 3600.0,
        "checkpoint_every": 1_000_000})


@contextmanager
def surface_database(server: str, home: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(URL, the ids exercise() returned) of a database that went through every write
    route, with a checkpoint signed over it; dropped afterwards."""
    url = new_database(server)
    config = config_for(url, home)
    app = create_app(config)
    try:
        admin = config.admin_token_path.read_text().strip()
        ids = exercise(app, app.test_client(), admin)
        app.extensions["mlaudit"].checkpointer.sign_now()
    finally:
        app.extensions["mlaudit"].close()
    try:
        yield url, ids
    finally:
        drop_database(server, url)
