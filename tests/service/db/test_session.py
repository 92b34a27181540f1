"""Engines and sessions: SQLite pragmas, per-URL caching, commit/rollback, readiness check."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from service import migrate
from service.db.models import Tenant
from service.db.session import check_database, create_db_engine, get_engine, get_sessionmaker, session_scope


def test_sqlite_engine_sets_pragmas_and_creates_folder(tmp_path) -> None:
    path = tmp_path / "nested" / "folder" / "sdd.sqlite"
    engine = create_db_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        check_database(engine)
        assert path.exists()
    finally:
        engine.dispose()


def test_engine_and_sessionmaker_are_cached_per_url(sdd_env) -> None:
    settings = sdd_env()
    assert get_engine(settings) is get_engine()
    assert get_sessionmaker(settings) is get_sessionmaker()
    other = sdd_env(home=settings.home.parent / "other")
    assert get_engine(other) is not get_engine(settings)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_session_scope_commits_or_rolls_back(backend, sdd_env, request) -> None:
    settings = sdd_env(database_url=request.getfixturevalue("postgres_url")) if backend == "postgresql" else sdd_env()
    migrate.upgrade(str(settings.database_url))
    check_database(get_engine())

    with session_scope() as session:
        session.add(Tenant(name="kept"))
    with pytest.raises(RuntimeError):
        with session_scope() as session:
            session.add(Tenant(name="dropped"))
            session.flush()
            raise RuntimeError("boom")

    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Tenant)) == 1
        tenant = session.scalar(select(Tenant))
    assert tenant.name == "kept"  # still readable after commit and close (expire_on_commit=False)
