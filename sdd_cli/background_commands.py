"""``sdd up --detach``, ``sdd logs`` and ``sdd down``: the embedded service in the background.

``start_detached`` runs ``sdd up`` in a session of its own, its output appended to
``$SDD_HOME/logs/sdd-up.log``, and returns once it is ready: the API answers ``/readyz`` (it starts
only after the database is migrated, and the probe checks the database and the broker) and a
worker has recorded itself alive (``worker_nodes``) since the start. When ``sdd up`` exits first,
or is not ready in time, the error says what it was waiting for, where the log is, and shows the
log's last lines. ``sdd down`` sends SIGTERM to that process group and waits: ``sdd up`` stops its
API and worker, whose running job checkpoints at its next batch and goes back to the queue.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NoReturn

import click

from sdd_cli.service_commands import load_settings
from sdd_cli.supervisor import describe_exit
from sdd_cli.up_process import last_lines, log_path, pid_path, running_pid, send_stop, wait_gone

if TYPE_CHECKING:
    from service.settings import Settings

READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0  # sdd up gives its children 30 s, then kills them
LOG_TAIL_LINES = 20
POLL_S = 0.5
PROBE_TIMEOUT_S = 2.0


def require_free_port(host: str, port: int) -> None:
    """A CLI error naming the address when something already listens on ``host:port``."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as exc:
        raise click.ClickException(f"cannot serve on {host}:{port}: {exc.strerror}; check --host") from exc
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no conflict
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise click.ClickException(
                f"cannot serve on {host}:{port}: {exc.strerror}; another program listens there "
                "(pick another --port, or `sdd down` if it is an sdd up of another SDD_HOME)"
            ) from exc


def local_url(host: str, port: int) -> str:
    """The URL this machine reaches the API at (``0.0.0.0``/``::`` listen everywhere, loopback included)."""
    reachable = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://[{reachable}]:{port}" if ":" in reachable else f"http://{reachable}:{port}"


def start_detached(settings: Settings, command: list[str], url: str, timeout_s: float) -> None:
    """Run ``command`` (a foreground ``sdd up``) in the background and wait until it is ready."""
    log = log_path(settings.home)
    log.parent.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)  # as the worker records itself (UTC; SQLite keeps no zone)
    with log.open("ab") as handle:
        header = f"==== {started.astimezone():%Y-%m-%d %H:%M:%S %z} sdd {' '.join(command[3:])} ===="
        handle.write(f"{header}\n".encode())
        handle.flush()
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # no terminal: Ctrl-C there does not reach it; `sdd down` signals its group
            env={**os.environ, "PYTHONUNBUFFERED": "1"},  # lines reach the log as they are written
        )
    _wait_until_ready(process, settings, url, started - timedelta(seconds=1), timeout_s)
    click.echo(
        f"sdd up is ready at {url} (pid {process.pid}); log: {log} (`sdd logs -f` follows it); `sdd down` stops it",
        err=True,
    )


def _wait_until_ready(
    process: subprocess.Popen[bytes], settings: Settings, url: str, since: datetime, timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    api_ready = False
    while True:
        code = process.poll()
        if code is not None:
            _not_ready(f"sdd up exited with {describe_exit(code)} before it was ready", settings)
        api_ready = api_ready or _answers_ready(url)
        if api_ready and _worker_seen_since(settings, since):
            return
        if time.monotonic() >= deadline:
            waiting = "a worker to record itself alive" if api_ready else f"the API to answer {url}/readyz"
            _not_ready(
                f"sdd up (pid {process.pid}) is not ready after {timeout_s:g} s (still waiting for {waiting}); "
                "it is left running: `sdd logs -f` follows it, `sdd down` stops it",
                settings,
            )
        time.sleep(POLL_S)


def _answers_ready(url: str) -> bool:
    import httpx

    logging.getLogger("httpx").setLevel(logging.WARNING)  # no line per probe
    try:
        return httpx.get(f"{url}/readyz", timeout=PROBE_TIMEOUT_S).status_code == 200
    except httpx.HTTPError:
        return False


def _worker_seen_since(settings: Settings, since: datetime) -> bool:
    """Whether a worker recorded itself alive after ``since`` (it does once it consumes, see ``worker.tasks``)."""
    from sqlalchemy import exists, select
    from sqlalchemy.exc import SQLAlchemyError

    from service.db.models import WorkerNode
    from service.db.session import session_scope

    try:
        with session_scope(settings) as session:
            return bool(session.scalar(select(exists().where(WorkerNode.seen_at >= since))))
    except SQLAlchemyError:
        return False


def _not_ready(message: str, settings: Settings) -> NoReturn:
    log = log_path(settings.home)
    tail = "\n".join(f"  {line}" for line in last_lines(log, LOG_TAIL_LINES))
    raise click.ClickException(f"{message}.\nIts log is {log}; the last lines:\n{tail}")


@click.command("logs")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until sdd up stops (or Ctrl-C).")
@click.option("-n", "--lines", type=click.IntRange(min=0), default=None, help="Start with the last N lines only.")
def logs_command(follow: bool, lines: int | None) -> None:
    """Print what `sdd up --detach` logged ($SDD_HOME/logs/sdd-up.log)."""
    settings = load_settings()
    path = log_path(settings.home)
    if not path.is_file():
        raise click.ClickException(
            f"no log at {path}: `sdd up --detach` writes one (a foreground sdd up writes to its terminal)"
        )
    with path.open("rb") as handle:
        if lines is not None:
            for line in last_lines(path, lines) if lines else []:
                click.echo(line)
            handle.seek(0, os.SEEK_END)
        _print_new(handle)
        if follow:
            _follow(handle, path, settings.home)


def _print_new(handle: BinaryIO) -> None:
    data = handle.read()
    if data:
        click.echo(data.decode(errors="replace"), nl=False)


def _follow(handle: BinaryIO, path: Path, home: Path) -> None:
    """Print lines as they are appended while this home's sdd up runs (from the top again if the
    file is truncated)."""
    pid = running_pid(home)
    if pid is None:
        click.echo("(no sdd up is running for this SDD_HOME: nothing more will come)", err=True)
        return
    try:
        while True:
            time.sleep(POLL_S)
            if path.stat().st_size < handle.tell():
                handle.seek(0)
            _print_new(handle)
            if running_pid(home) != pid:
                _print_new(handle)
                click.echo(f"(sdd up, pid {pid}, has stopped)", err=True)
                return
    except KeyboardInterrupt:
        return


@click.command("down")
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=STOP_TIMEOUT_S,
    show_default=True,
    help="Seconds to wait for it to stop before killing it.",
)
def down_command(timeout: float) -> None:
    """Stop this SDD_HOME's sdd up (its worker checkpoints a running job, which goes back to the queue)."""
    settings = load_settings()
    pid = running_pid(settings.home)
    if pid is None:
        pid_path(settings.home).unlink(missing_ok=True)  # stale: its process is gone
        click.echo(f"no sdd up is running for SDD_HOME={settings.home}", err=True)
        return
    began = time.monotonic()
    send_stop(pid, signal.SIGTERM)
    if wait_gone(pid, timeout):
        click.echo(f"stopped sdd up (pid {pid}) in {time.monotonic() - began:.1f} s", err=True)
        for line in last_lines(log_path(settings.home), 5):
            if "did not stop cleanly" in line:
                click.echo(line, err=True)
        return
    send_stop(pid, signal.SIGKILL)
    wait_gone(pid, 5.0)
    pid_path(settings.home).unlink(missing_ok=True)
    raise click.ClickException(
        f"sdd up (pid {pid}) was still running {timeout:g} s after SIGTERM; killed it "
        f"(its log: {log_path(settings.home)})"
    )
