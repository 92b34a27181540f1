"""The service's ``sdd`` commands: ``migrate``, ``token``, ``api``, ``worker`` and ``up``.

They join the library's click group (``sdd_core.cli.cli``), so ``sdd`` stays the one entry point.
``sdd up`` is the embedded all-in-one: migrate, then run the API and one worker as child processes.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from types import FrameType

import click
import pydantic

from sdd_client.cli import register as register_client_commands
from sdd_core.cli import cli
from service import migrate as migrations
from service import tokens
from service.db.session import session_scope
from service.settings import Settings, get_settings

CHILD_STOP_TIMEOUT_S = 30.0


def _settings() -> Settings:
    """The settings, with the local folders created; configuration errors become CLI errors."""
    try:
        settings = get_settings()
    except pydantic.ValidationError as exc:
        raise click.ClickException(f"invalid SDD_* configuration:\n{exc}") from exc
    settings.ensure_dirs()
    return settings


def _require_migrated(settings: Settings) -> None:
    url = str(settings.database_url)
    if migrations.current_revision(url) != migrations.head_revision():
        raise click.ClickException("the database is not migrated to the latest schema; run `sdd migrate` first")


# ------------------------------------------------------------------ database


@cli.command("migrate")
def migrate_command() -> None:
    """Create or upgrade the database schema to the latest revision."""
    settings = _settings()
    revision = migrations.upgrade(str(settings.database_url))
    click.echo(f"database {migrations.safe_url(str(settings.database_url))} at revision {revision}")


@cli.group("token")
def token_group() -> None:
    """Issue, list and revoke API bearer tokens."""


@token_group.command("create")
@click.option("--tenant", required=True, help="Tenant name (created if new).")
def token_create(tenant: str) -> None:
    """Create a token; the token itself is printed once, as the last line."""
    settings = _settings()
    _require_migrated(settings)
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
    settings = _settings()
    _require_migrated(settings)
    with session_scope(settings) as session:
        rows = tokens.list_tokens(session, tenant)
        lines = [
            f"{token.id}  {token.prefix}…  {owner.name}  {token.created_at:%Y-%m-%d %H:%M}  "
            + ("revoked" if token.revoked_at else "active")
            for token, owner in rows
        ]
    if not lines:
        click.echo("no tokens", err=True)
    for line in lines:
        click.echo(line)


@token_group.command("revoke")
@click.argument("token_id")
def token_revoke(token_id: str) -> None:
    """Revoke a token by its id (``tok_…``)."""
    settings = _settings()
    _require_migrated(settings)
    with session_scope(settings) as session:
        revoked = tokens.revoke_token(session, token_id)
    if not revoked:
        raise click.ClickException(f"no active token with id {token_id}")
    click.echo(f"revoked {token_id}")


# ------------------------------------------------------------------ processes


@cli.command("api")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--log-level", default="info", show_default=True)
def api_command(host: str, port: int, log_level: str) -> None:
    """Serve the HTTP API with uvicorn."""
    import uvicorn  # imported here: the token commands should not pay for the web stack

    _settings()
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, log_level=log_level)


@cli.command("worker")
@click.option("--concurrency", type=int, default=None, help="Training processes (default: SDD_WORKER_CONCURRENCY).")
@click.option("--queues", default=None, help="Comma-separated queues (default: SDD_QUEUE_NAME).")
@click.option("--loglevel", default="info", show_default=True)
@click.option("--pool", type=click.Choice(["prefork", "solo", "threads"]), default="prefork", show_default=True)
def worker_command(concurrency: int | None, queues: str | None, loglevel: str, pool: str) -> None:
    """Run a Celery worker that trains queued jobs."""
    settings = _settings()
    # Imported here: the worker module loads Celery and the training stack, which other commands do not need.
    from worker.celery_app import celery_app

    celery_app.worker_main([
        "worker",
        f"--loglevel={loglevel}",
        f"--concurrency={concurrency or settings.worker_concurrency}",
        f"--queues={queues or settings.queue_name}",
        f"--pool={pool}",
    ])


@cli.command("up")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--concurrency", type=int, default=None, help="Worker training processes.")
@click.option("--pool", type=click.Choice(["prefork", "solo", "threads"]), default="prefork", show_default=True)
def up_command(host: str, port: int, concurrency: int | None, pool: str) -> None:
    """Migrate, then run the API and a worker together until Ctrl-C."""
    settings = _settings()
    revision = migrations.upgrade(str(settings.database_url))
    click.echo(f"database at revision {revision}; starting API on http://{host}:{port} and a worker", err=True)
    worker_args = ["worker", "--pool", pool]
    if concurrency is not None:
        worker_args += ["--concurrency", str(concurrency)]
    children = {
        "api": _spawn(["api", "--host", host, "--port", str(port)]),
        "worker": _spawn(worker_args),
    }
    sys.exit(_supervise(children))


def _spawn(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "service.cli", *args])


def _supervise(children: dict[str, subprocess.Popen[bytes]]) -> int:
    """Wait until a signal (exit 0) or until a child dies (stop the rest, exit non-zero)."""
    stop_signal: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop_signal.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop_signal:
            for name, child in children.items():
                code = child.poll()
                if code is not None:
                    click.echo(f"sdd up: {name} exited with code {code}; stopping the rest", err=True)
                    _stop_all(children)
                    return code if code > 0 else 1  # a child killed by a signal has a negative code
            time.sleep(0.2)
        click.echo(f"sdd up: got {signal.Signals(stop_signal[0]).name}; stopping API and worker", err=True)
        _stop_all(children)
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop_all(children: dict[str, subprocess.Popen[bytes]]) -> None:
    """SIGTERM every live child, wait for them together, SIGKILL the ones that linger."""
    for child in children.values():
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + CHILD_STOP_TIMEOUT_S
    for name, child in children.items():
        try:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            click.echo(f"sdd up: {name} did not stop in {CHILD_STOP_TIMEOUT_S:.0f} s; killing it", err=True)
            child.kill()
            child.wait()


register_client_commands(cli)  # sdd login | jobs | datasets | catalog, sdd models upload|list


def main() -> None:
    cli(prog_name="sdd")


if __name__ == "__main__":
    main()
