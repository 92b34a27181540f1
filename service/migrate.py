"""Run the Alembic migrations in ``migrations/`` from Python (``sdd migrate``, tests, benchmarks).

The migrations are the only source of the schema: the service never calls ``create_all``.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url

import service
from service.db.session import create_db_engine
from service.settings import get_settings

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(service.__file__).resolve().parent.parent / "migrations"
VERSION_TABLE = "alembic_version"


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config for the repo's migrations; ``url`` overrides the settings' database URL."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if url is not None:
        config.attributes["url"] = url
    return config


def _resolve(url: str | None) -> str:
    return url if url is not None else str(get_settings().database_url)


def head_revision() -> str | None:
    """The newest revision in ``migrations/versions``."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@lru_cache(maxsize=1)
def _scripts() -> tuple[str | None, frozenset[str]]:
    """The newest revision and every revision in ``migrations/versions``, read once per process."""
    scripts = ScriptDirectory.from_config(alembic_config())
    return scripts.get_current_head(), frozenset(script.revision for script in scripts.walk_revisions())


def missing_migrations(connection: Connection) -> str | None:
    """Why the database behind ``connection`` lacks this code's schema (``"no schema"``, ``"at revision
    X, not Y"``), or None when it has it. A revision this code does not know is newer (another node
    already upgraded): none missing. Plain SQL (Alembic's context logs two lines each time): the
    readiness probe asks this often."""
    current = None
    if inspect(connection).has_table(VERSION_TABLE):
        current = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    head, known = _scripts()
    if current == head or (current is not None and current not in known):
        return None
    return "no schema" if current is None else f"at revision {current}, not {head}"


def current_revision(url: str | None = None) -> str | None:
    """The revision the database is at (None for an empty database)."""
    engine = create_db_engine(_resolve(url))
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def upgrade(url: str | None = None, revision: str = "head") -> str | None:
    """Migrate forward to ``revision``; returns the revision now current."""
    url = _resolve(url)
    command.upgrade(alembic_config(url), revision)
    now = current_revision(url)
    log.info("database %s at revision %s", safe_url(url), now)
    return now


def downgrade(url: str | None = None, revision: str = "base") -> str | None:
    """Migrate back to ``revision`` (``base`` drops every table); returns the revision now current."""
    url = _resolve(url)
    command.downgrade(alembic_config(url), revision)
    now = current_revision(url)
    log.info("database %s at revision %s", safe_url(url), now)
    return now


def safe_url(url: str) -> str:
    """The URL with any password masked, fit for a log line."""
    return make_url(url).render_as_string(hide_password=True)
