"""``sdd health worker``: the worker image's health check (Dockerfile ``HEALTHCHECK``, compose).

A worker's main process records itself alive in ``worker_nodes`` (name ``<host>:<pid>``) when it
starts and at every reaper pass (``worker.reaper.say_alive``). This host's workers are healthy
while one of them was seen within the window the service itself uses to call a worker alive
(``Settings.worker_alive_seconds``: three reaper passes): its main process is running its threads
and reaches the database. Exit status 0 when healthy, 1 (with the reason on stderr) when not.
"""

from __future__ import annotations

import socket
from datetime import timedelta
from typing import NoReturn

import click

from sdd_cli.service_commands import load_settings


@click.group("health")
def health_group() -> None:
    """Health checks for container orchestrators: exit status 0 when healthy, 1 when not."""


@health_group.command("worker")
@click.option(
    "--within",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds since the last record (default: the service's own window, three reaper passes).",
)
def worker_health(within: float | None) -> None:
    """Whether a worker of this host recorded itself alive recently (in worker_nodes)."""
    from sqlalchemy import func, select
    from sqlalchemy.exc import SQLAlchemyError

    from service.db.models import WorkerNode, utcnow
    from service.db.session import session_scope

    settings = load_settings()
    window = within if within is not None else settings.worker_alive_seconds
    host = socket.gethostname()
    since = utcnow() - timedelta(seconds=window)
    query = select(func.count()).where(
        WorkerNode.name.startswith(f"{host}:", autoescape=True), WorkerNode.seen_at >= since
    )
    try:
        with session_scope(settings) as session:
            seen = session.scalar(query)
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc  # the driver's own message, without SQLAlchemy's SQL dump
        _unhealthy(f"the database did not answer ({type(cause).__name__}: {str(cause).splitlines()[0]})")
    if not seen:
        _unhealthy(f"no worker on {host} recorded itself alive in the last {window:g} s")
    click.echo(f"healthy: {seen} worker(s) on {host} seen in the last {window:g} s")


def _unhealthy(reason: str) -> NoReturn:
    click.echo(f"unhealthy: {reason}", err=True)
    raise SystemExit(1)


def register(group: click.Group) -> None:
    """Attach ``health`` to the ``sdd`` group."""
    group.add_command(health_group)
