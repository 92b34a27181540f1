"""``sdd migrate`` and ``sdd token create|list|revoke``: the database and API tokens, from a shell.

``load_settings`` and ``require_migrated`` are shared with ``sdd_cli.process_commands``: both turn
a configuration problem into a one-line CLI error instead of a traceback.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import click
from rich.console import Console

from sdd_client.table_fit import Col, FittedTable, id_col, name_col

if TYPE_CHECKING:
    from service.settings import Settings

# The service's stack (SQLAlchemy, Alembic) is imported inside the commands: the client's
# commands, registered next to these, start without it.


def load_settings() -> Settings:
    """The settings, with the local folders created; configuration errors become CLI errors."""
    import pydantic

    from service.settings import get_settings

    try:
        settings = get_settings()
    except pydantic.ValidationError as exc:
        raise click.ClickException(f"invalid SDD_* configuration:\n{exc}") from exc
    settings.ensure_dirs()
    return settings


def require_migrated(settings: Settings) -> None:
    """A CLI error unless the database is at the newest revision, saying why: an ``sdd up`` of this
    home still migrating it, or nobody having migrated it. Alembic's own INFO lines (its plugins,
    "Context impl ...") are kept out of the command's output."""
    logging.getLogger("alembic").setLevel(logging.WARNING)  # before the import: its plugins log then
    from sdd_cli.up_process import running_pid
    from service import migrate as migrations

    url = settings.database_url
    if migrations.current_revision(url) == migrations.head_revision():
        return
    starting = running_pid(settings.home)
    if starting is not None:
        raise click.ClickException(
            f"the database is not migrated yet: sdd up (pid {starting}) is starting and migrates it first; "
            "retry in a few seconds (`sdd up --detach` returns once it is ready)"
        )
    raise click.ClickException(
        "the database is not migrated to the latest schema; run `sdd migrate` first (`sdd up` migrates it too)"
    )


@click.command("migrate")
def migrate_command() -> None:
    """Create or upgrade the database schema to the latest revision."""
    from service import migrate as migrations

    settings = load_settings()
    revision = migrations.upgrade(settings.database_url)
    click.echo(f"database {migrations.safe_url(settings.database_url)} at revision {revision}")


@click.group("token")
def token_group() -> None:
    """Issue, list and revoke API bearer tokens."""


@token_group.command("create")
@click.option("--tenant", required=True, help="Tenant name (created if new).")
def token_create(tenant: str) -> None:
    """Create a token; the token itself is printed once, as the last line."""
    from service import tokens
    from service.db.session import session_scope

    settings = load_settings()
    require_migrated(settings)
    try:
        with session_scope(settings) as session:
            token, row = tokens.create_token(session, tenant)
            token_id, prefix = row.id, row.prefix
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"created token {token_id} ({prefix}…) for tenant {tenant!r}; it is shown only once:", err=True)
    click.echo(token)


@token_group.command("list")
@click.option("--tenant", default=None, help="Only this tenant's tokens.")
def token_list(tenant: str | None) -> None:
    """List tokens (id, prefix, tenant, created, status); never the tokens themselves."""
    from service import tokens
    from service.db.session import session_scope

    settings = load_settings()
    require_migrated(settings)
    table = FittedTable((id_col("tok_"), Col("prefix"), name_col("tenant"), Col("created", 2), Col("status")))
    with session_scope(settings) as session:
        for token, owner in tokens.list_tokens(session, tenant):
            status = "revoked" if token.revoked_at else "active"
            table.add_row(token.id, f"{token.prefix}…", owner.name, f"{token.created_at:%Y-%m-%d %H:%M}", status)
    if not table.rows:
        click.echo("no tokens", err=True)
        return
    Console(highlight=False).print(table)


@token_group.command("revoke")
@click.argument("token_id")
def token_revoke(token_id: str) -> None:
    """Revoke a token by its id (``tok_…``)."""
    from service import tokens
    from service.db.session import session_scope

    settings = load_settings()
    require_migrated(settings)
    with session_scope(settings) as session:
        revoked = tokens.revoke_token(session, token_id)
    if not revoked:
        raise click.ClickException(f"no active token with id {token_id}")
    click.echo(f"revoked {token_id}")


def register(group: click.Group) -> None:
    """Attach ``migrate`` and ``token`` to the ``sdd`` group."""
    group.add_command(migrate_command)
    group.add_command(token_group)
