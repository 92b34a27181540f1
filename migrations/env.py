"""Alembic environment: the schema is ``service.db.models.Base.metadata``.

The database URL is, in order: ``config.attributes["url"]`` (set by ``service.migrate``), the ini
file's ``sqlalchemy.url``, else the service settings (``SDD_DATABASE_URL`` or SQLite under
``SDD_HOME``). SQLite migrations use batch mode (table copy-and-move) and run with foreign keys
off, because dropping a table during a batch copy would otherwise cascade deletes into its children.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import make_url

from service.db.models import Base
from service.db.session import create_db_engine
from service.settings import get_settings

config = context.config
target_metadata = Base.metadata

if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    return str(url or get_settings().database_url)


def run_migrations_offline(url: str, is_sqlite: bool) -> None:
    """Emit SQL to stdout (``alembic upgrade head --sql``) instead of running it."""
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=is_sqlite,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online(url: str, is_sqlite: bool) -> None:
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            if is_sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
                connection.commit()
            context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=is_sqlite)
            with context.begin_transaction():
                context.run_migrations()
            if is_sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()
    finally:
        engine.dispose()


_url = database_url()
_is_sqlite = make_url(_url).get_backend_name() == "sqlite"
if context.is_offline_mode():
    run_migrations_offline(_url, _is_sqlite)
else:
    run_migrations_online(_url, _is_sqlite)
