"""The migrations build exactly the schema of ``service/db/models.py``, forwards and back, on both backends."""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from service import migrate
from service.db.models import Base
from service.db.session import create_db_engine


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'sdd.sqlite'}"
    return request.getfixturevalue("postgres_url")


def _schema_differences(url: str) -> list:
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = create_db_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(database_url: str) -> None:
    assert migrate.current_revision(database_url) is None

    assert migrate.upgrade(database_url) == migrate.head_revision()
    assert _tables(database_url) == set(Base.metadata.tables)
    assert _schema_differences(database_url) == []

    assert migrate.downgrade(database_url) is None
    assert _tables(database_url) == set()

    assert migrate.upgrade(database_url) == migrate.head_revision()
    assert _schema_differences(database_url) == []


def test_upgrade_uses_settings_when_no_url_given(sdd_env) -> None:
    settings = sdd_env()
    assert migrate.upgrade() == migrate.head_revision()
    assert migrate.current_revision(str(settings.database_url)) == migrate.head_revision()
    assert (settings.home / "sdd.sqlite").exists()
